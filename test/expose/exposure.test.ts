import { test } from "node:test";
import assert from "node:assert/strict";
import {
  parsePortMapping,
  parseExposureFile,
  formatExposureFile,
  parseFromList,
  parsePublicSide,
  checkNewExposure,
  resolveExposures,
  type Exposure,
} from "../../src/core/exposure.js";
import { defaultHostConfig } from "../../src/core/hostconfig.js";
import { UsageError } from "../../src/core/errors.js";

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof UsageError) return `${e.code} ${e.message}`;
    throw e;
  }
  return "no error";
}

test("port mappings: single ports, equal ranges; every malformed form has its code and shows the value", () => {
  assert.deepEqual(parsePortMapping("6188:80"), {
    public: { low: 6188, high: 6188 },
    jailPort: { low: 80, high: 80 },
  });
  assert.deepEqual(parsePortMapping("8000-8010:9000-9010"), {
    public: { low: 8000, high: 8010 },
    jailPort: { low: 9000, high: 9010 },
  });
  assert.equal(
    code(() => parsePortMapping("8000-8010:9000")),
    'QJ3014 port ranges in "8000-8010:9000" differ in length (11 public, 1 jail ports)',
  );
  assert.equal(
    code(() => parsePortMapping("8000-:80")),
    'QJ3011 malformed port mapping "8000-:80": "8000-" is not PORT or PORT-PORT',
  );
  assert.equal(
    code(() => parsePortMapping("1:2:3")),
    'QJ3011 malformed port mapping "1:2:3": expected PUBLIC:JAILPORT',
  );
  assert.equal(
    code(() => parsePortMapping("65536:80")),
    'QJ3012 port 65536 in "65536:80" is out of range',
  );
  assert.equal(
    code(() => parsePortMapping("-5:80")),
    'QJ3011 malformed port mapping "-5:80": "-5" is not PORT or PORT-PORT',
  );
  assert.equal(
    code(() => parsePortMapping("+5:80")),
    'QJ3011 malformed port mapping "+5:80": "+5" is not a port number',
  );
  assert.equal(
    code(() => parsePortMapping("9-8:8-9")),
    'QJ3013 port range "9-8" in "9-8:8-9" runs backwards',
  );
});

test("--from and --on are validated and canonicalised", () => {
  assert.deepEqual(parseFromList(["198.51.100.7/24", "2001:DB8::1/32,192.0.2.1"]), [
    "198.51.100.0/24",
    "2001:db8::/32",
    "192.0.2.1/32",
  ]);
  assert.match(
    code(() => parseFromList(["10.1/8"])),
    /^QJ3015 invalid --from "10\.1\/8"/,
  );
  assert.deepEqual(parsePublicSide("192.0.2.5"), { kind: "address", address: "192.0.2.5", family: 4 });
  assert.deepEqual(parsePublicSide("em1"), { kind: "interface", name: "em1" });
  assert.match(
    code(() => parsePublicSide("0.0.0.0")),
    /^QJ3016/,
  );
});

test("exposure files read back and write out byte for byte; bad lines are problems, not exceptions", () => {
  const text = [
    'proto="tcp" public="6122" jail_port="22" from="198.51.100.0/24" on="" comment="admins"',
    'proto="udp" public="27000-27010" jail_port="27000-27010" from="" on="192.0.2.5" comment=""',
    "",
  ].join("\n");
  const { exposures, problems } = parseExposureFile("game", text);
  assert.deepEqual(problems, []);
  assert.equal(formatExposureFile(exposures), text);
  const bad = parseExposureFile(
    "x",
    'proto="tcp" public="1" jail_port="2"\nproto="tcp" public="1" jail_port="2" extra="y"\nproto="tcp" public="0" jail_port="2"\n',
  );
  assert.deepEqual(
    bad.problems.map((p) => p.line),
    [2, 3],
  );
  assert.equal(bad.exposures.length, 1);
});

const host = { ...defaultHostConfig("freebsd", {}), hostServices: [{ port: 22, proto: "tcp" as const }] };
const jails = [
  { name: "www", ip4: ["10.0.0.3"], ip6: ["fd00::3"] },
  { name: "v6only", ip4: [], ip6: ["fd00::9"] },
];
const ex = (e: Partial<Exposure>): Exposure => ({
  jail: "www",
  proto: "tcp",
  public: { low: 6188, high: 6188 },
  jailPort: { low: 80, high: 80 },
  from: [],
  on: undefined,
  comment: "",
  ...e,
});

test("conflicts: overlapping ranges of the same protocol on the same public side", () => {
  const existing = [ex({ public: { low: 8000, high: 8010 }, jailPort: { low: 8000, high: 8010 } })];
  assert.match(
    code(() =>
      checkNewExposure(ex({ public: { low: 8010, high: 8010 } }), { jails, exposures: existing, host }),
    ),
    /^QJ3022/,
  );
  assert.equal(
    code(() =>
      checkNewExposure(ex({ proto: "udp", public: { low: 8005, high: 8005 } }), {
        jails,
        exposures: existing,
        host,
      }),
    ),
    "no error",
  );
  assert.equal(
    code(() =>
      checkNewExposure(ex({ public: { low: 8011, high: 8011 } }), { jails, exposures: existing, host }),
    ),
    "no error",
  );
  assert.equal(
    code(() =>
      checkNewExposure(ex({ public: { low: 8005, high: 8005 }, on: { kind: "interface", name: "em1" } }), {
        jails,
        exposures: existing,
        host,
      }),
    ),
    "no error",
  );
  assert.match(
    code(() =>
      checkNewExposure(ex({ public: { low: 8005, high: 8005 }, on: { kind: "interface", name: "em0" } }), {
        jails,
        exposures: existing,
        host,
      }),
    ),
    /^QJ3022/,
  );
  assert.match(
    code(() =>
      checkNewExposure(ex({ public: { low: 20, high: 30 }, jailPort: { low: 20, high: 30 } }), {
        jails,
        exposures: [],
        host,
      }),
    ),
    /^QJ3023 public port 22\/tcp/,
  );
});

test("resolution: one entry per family the jail has; --on and --from narrow it; missing jails are dropped with a reason", () => {
  const { resolved, dropped } = resolveExposures(
    [
      ex({}),
      ex({ jail: "v6only" }),
      ex({ public: { low: 1, high: 1 }, on: { kind: "address", address: "192.0.2.5", family: 4 } }),
      ex({ public: { low: 2, high: 2 }, from: ["2001:db8::/32"] }),
      ex({ jail: "gone" }),
    ],
    jails,
  );
  assert.deepEqual(
    resolved.map((r) => `${r.jail}:${r.public.low}:${r.family}:${r.target}`),
    [
      "www:1:4:10.0.0.3",
      "www:2:6:fd00::3",
      "v6only:6188:6:fd00::9",
      "www:6188:4:10.0.0.3",
      "www:6188:6:fd00::3",
    ],
  );
  assert.deepEqual(
    dropped.map((d) => d.reason),
    ['jail "gone" does not exist'],
  );
});
