import { test } from "node:test";
import assert from "node:assert/strict";
import { UsageError } from "../../src/core/errors.js";
import {
  formatAddressList,
  parseAddressList,
  parseImageSize,
  parseInteger,
  parsePackageList,
  validateFlavorName,
  validateInterfaceName,
  validateJailName,
  validateZoneName,
} from "../../src/core/validate.js";

function refusal(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    assert.ok(e instanceof UsageError, String(e));
    assert.ok(e.hint && e.hint.length > 5, "every refusal says what to do");
    return `${e.code} ${e.message}`;
  }
  return "accepted";
}

test("jail names: qjail's rules plus ours", () => {
  for (const ok of ["www", "web-1", "a_b", "x".repeat(50), "j1"]) assert.equal(validateJailName(ok), ok);
  const cases: [string, RegExp][] = [
    ["", /QJ1010 .*"": it is empty/],
    ["a/b", /QJ1010 .*path separator/],
    [".hidden", /QJ1010 .*starts with a dot/],
    ["-x", /QJ1010 .*starts with a dash/],
    ["x".repeat(51), /QJ1010 .*longer than 50/],
    ["a\nb", /QJ1010 .*control character/],
    ["web.1", /QJ1011 .*"web.1"/],
    ["12345", /QJ1012 .*all digits/],
    ["sharedfs", /QJ1013/],
    ["template", /QJ1013/],
  ];
  for (const [name, re] of cases)
    assert.match(
      refusal(() => validateJailName(name)),
      re,
      JSON.stringify(name),
    );
  assert.match(
    refusal(() => validateJailName("thirteenchars", { vnet: true })),
    /QJ1014/,
  );
});

test("zones, interfaces, flavors", () => {
  assert.equal(validateZoneName("lab"), "lab");
  assert.match(
    refusal(() => validateZoneName("99")),
    /QJ1015 .*all digits/,
  );
  assert.match(
    refusal(() => validateZoneName("a.b")),
    /QJ1015 .*"a.b"/,
  );
  assert.equal(validateInterfaceName("em0"), "em0");
  assert.equal(validateInterfaceName("vtnet0.100"), "vtnet0.100");
  assert.match(
    refusal(() => validateInterfaceName("0em")),
    /QJ1016 .*"0em"/,
  );
  assert.match(
    refusal(() => validateInterfaceName("a".repeat(16))),
    /QJ1016/,
  );
  assert.match(
    refusal(() => validateInterfaceName("em0;reboot")),
    /QJ1016/,
  );
  assert.equal(validateFlavorName("ssh-default"), "ssh-default");
  assert.match(
    refusal(() => validateFlavorName("../etc")),
    /QJ1017/,
  );
});

test("address lists: ip and nic|ip, no netmask, no duplicates", () => {
  assert.deepEqual(parseAddressList("10.0.0.5,lo1|10.0.0.6", 4), [
    { family: 4, nic: undefined, address: "10.0.0.5" },
    { family: 4, nic: "lo1", address: "10.0.0.6" },
  ]);
  assert.equal(formatAddressList(parseAddressList("lo1|fd00::5", 6)), "lo1|fd00::5");
  const cases: [string, 4 | 6, RegExp][] = [
    ["10.0.0.5/24", 4, /QJ1024 .*"10.0.0.5\/24"/],
    ["10.0.0.256", 4, /QJ1025 .*"10.0.0.256"/],
    ["10.0.0", 4, /QJ1025/],
    ["010.0.0.1", 4, /QJ1025/],
    ["10.0.0.5, 10.0.0.6", 4, /QJ1021/],
    ["10.0.0.5,,10.0.0.6", 4, /QJ1022/],
    ["|10.0.0.5", 4, /QJ1023/],
    ["10.0.0.5,10.0.0.5", 4, /QJ1027/],
    ["0.0.0.0", 4, /QJ1026/],
    ["fd00::5", 4, /QJ1025/],
    ["10.0.0.5", 6, /QJ1025/],
    ["fd00::g", 6, /QJ1025/],
    ["fd00::5,fd00:0::5", 6, /QJ1027/],
    ["", 4, /QJ1020/],
  ];
  for (const [text, fam, re] of cases)
    assert.match(
      refusal(() => parseAddressList(text, fam)),
      re,
      text,
    );
});

test("sizes, numbers, package names", () => {
  assert.equal(parseImageSize("500m"), 500);
  assert.equal(parseImageSize("2G"), 2048);
  assert.match(
    refusal(() => parseImageSize("5m")),
    /QJ1031/,
  );
  assert.match(
    refusal(() => parseImageSize("10k")),
    /QJ1030 .*"10k"/,
  );
  assert.equal(parseInteger("-1", "securelevel", -1, 3), -1);
  assert.match(
    refusal(() => parseInteger("-2", "securelevel", -1, 3)),
    /out of range/,
  );
  assert.match(
    refusal(() => parseInteger("1e3", "fib", 0, 9)),
    /not a whole number/,
  );
  assert.match(
    refusal(() => parseInteger("-1", "fib", 0, 9)),
    /not a whole number/,
  );
  assert.deepEqual(parsePackageList("nginx,py311-certbot, curl"), ["nginx", "py311-certbot", "curl"]);
  assert.match(
    refusal(() => parsePackageList("nginx;rm")),
    /QJ1033/,
  );
});
