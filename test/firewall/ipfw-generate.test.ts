import { test } from "node:test";
import assert from "node:assert/strict";
import {
  formatIpfw,
  generateIpfw,
  ipfwLoadSequence,
  ipfwExposureNumber,
} from "../../src/firewall/ipfw/generate.js";
import { parseIpfw } from "../../src/firewall/ipfw/parse.js";
import {
  exposure,
  howtoHost,
  model,
  HOWTO_EXPOSURES,
  MORE_EXPOSURES,
  MORE_JAILS,
  HOWTO_JAILS,
} from "./model-fixture.js";

const howto = model(howtoHost("freebsd", "rl0", { firewall: "ipfw" }), HOWTO_EXPOSURES);

test("the howto's set-up as ipfw in-kernel NAT: one instance line with every redirect, allow rules for the jail ports", () => {
  assert.equal(
    formatIpfw(generateIpfw(howto)),
    [
      "ipfw -q nat 80 config if rl0 same_ports unreg_only reset redirect_port tcp 10.0.0.2:22 6122 redirect_port tcp 10.0.0.3:80 6188",
      "ipfw -q add 1000 nat 80 ip4 from any to any in recv rl0",
      "ipfw -q add 1001 allow tcp from any to 10.0.0.2 22 in recv rl0",
      "ipfw -q add 1002 allow tcp from any to 10.0.0.3 80 in recv rl0",
      "ipfw -q add 1099 nat 80 ip4 from 10.0.0.0/24 to any out xmit rl0",
      "",
    ].join("\n"),
  );
});

test("generated commands parse back with zero diagnostics", () => {
  const more = model(
    howtoHost("freebsd", "rl0", { firewall: "ipfw", jailSubnet6: "fd00:6a61:696c::/64" }),
    MORE_EXPOSURES,
    MORE_JAILS,
  );
  for (const m of [howto, more]) {
    const r = generateIpfw(m);
    const back = parseIpfw(formatIpfw(r));
    assert.deepEqual(back.diagnostics, []);
    assert.deepEqual(back.rules?.natConfig, r.natConfig);
    assert.deepEqual(back.rules?.rules, r.rules);
  }
  assert.match(
    parseIpfw("ipfw -q add 1 allow tcp from any to 10.0.0.2 22; rm -rf /\n").diagnostics[0]!.message,
    /not a rule qjail writes/,
  );
});

test("ranges, --on address, --from with a closing deny under the exposure's one number; IPv6 reported as unsupported", () => {
  const more = model(
    howtoHost("freebsd", "rl0", { firewall: "ipfw", jailSubnet6: "fd00:6a61:696c::/64" }),
    MORE_EXPOSURES,
    MORE_JAILS,
  );
  const r = generateIpfw(more);
  const text = formatIpfw(r);
  assert.match(text, / redirect_port tcp 10\.0\.0\.4:9000-9002 8000-8002 /);
  assert.match(text, / redirect_port udp 10\.0\.0\.5:53 192\.0\.2\.5:53 /);
  assert.match(
    text,
    /^ipfw -q add 1003 allow tcp from 198\.51\.100\.0\/24 to 10\.0\.0\.2 22 in recv rl0\nipfw -q add 1003 allow tcp from 203\.0\.113\.7\/32 to 10\.0\.0\.2 22 in recv rl0\nipfw -q add 1003 deny tcp from any to 10\.0\.0\.2 22 in recv rl0$/m,
  );
  // www has both families: the IPv6 half is what ipfw cannot forward, and the message says so.
  assert.deepEqual(r.unsupported, [
    {
      exposure: "tcp 6188 -> www:80 (IPv6)",
      reason: "ipfw nat (libalias) translates IPv4 only; its IPv4 half is forwarded",
    },
  ]);
  assert.match(text, / redirect_port tcp 10\.0\.0\.3:80 6188 /);
});

test("the load builds the block in the staging set and swaps it in", () => {
  const seq = ipfwLoadSequence(generateIpfw(howto)).map((a) => a.join(" "));
  assert.deepEqual(seq, [
    "-q set disable 21",
    "-q delete set 21",
    "-q add 1000 set 21 nat 80 ip4 from any to any in recv rl0",
    "-q add 1001 set 21 allow tcp from any to 10.0.0.2 22 in recv rl0",
    "-q add 1002 set 21 allow tcp from any to 10.0.0.3 80 in recv rl0",
    "-q add 1099 set 21 nat 80 ip4 from 10.0.0.0/24 to any out xmit rl0",
    "-q nat 80 config if rl0 same_ports unreg_only reset redirect_port tcp 10.0.0.2:22 6122 redirect_port tcp 10.0.0.3:80 6188",
    "-q set swap 20 21",
    "-q set enable 20",
    "-q delete set 21",
  ]);
});

test("past 98 exposures the rules share numbers, in order, and never leave the block (no refusal at ~90)", () => {
  assert.equal(ipfwExposureNumber(1000, 0, 2), 1001);
  assert.equal(ipfwExposureNumber(1000, 97, 98), 1098);
  const many = Array.from({ length: 300 }, (_, i) =>
    exposure("ssh", "tcp", [10000 + i, 10000 + i], [22, 22], { from: ["192.0.2.0/24"] }),
  );
  const r = generateIpfw(model(howtoHost("freebsd", "rl0"), many, HOWTO_JAILS));
  const nums = r.rules.map((x) => Number(x[0]));
  assert.equal(nums[0], 1000);
  assert.equal(nums[nums.length - 1], 1099);
  const block = nums.slice(1, -1);
  assert.ok(block.every((n) => n >= 1001 && n <= 1098));
  assert.deepEqual(
    block,
    [...block].sort((a, b) => a - b),
  );
  assert.equal(new Set(block).size, 98, "every number of the block is used");
  // an exposure's allow and its closing deny stay together, allow first
  assert.equal(r.rules[1]?.[1], "allow");
  assert.equal(r.rules[2]?.[1], "deny");
  assert.equal(r.rules[1]?.[0], r.rules[2]?.[0]);
  assert.deepEqual(parseIpfw(formatIpfw(r)).diagnostics, []);
});
