import { test } from "node:test";
import assert from "node:assert/strict";
import { generateIpf, generateIpnat } from "../../src/firewall/ipf/generate.js";
import { parseIpf, parseIpnat } from "../../src/firewall/ipf/index.js";
import { tracePacket, parseFriendlyPacket } from "../../src/firewall/ipf/eval/trace.js";
import { parseV4 } from "../../src/firewall/ipf/eval/packet.js";
import { applyEdits, sectionEdits } from "../../src/firewall/managed-section.js";
import {
  exposure,
  howtoHost,
  model,
  HOWTO_EXPOSURES,
  MORE_EXPOSURES,
  MORE_JAILS,
  HOWTO_JAILS,
} from "./model-fixture.js";

/** Every generated file must be accepted by the project's IPFilter parser with zero diagnostics. */
function assertParses(ipnat: string, ipf: string): void {
  const n = parseIpnat(ipnat);
  const f = parseIpf(ipf);
  assert.deepEqual(n.diagnostics, [], ipnat);
  assert.deepEqual(f.diagnostics, [], ipf);
}

const howto = model(howtoHost("freebsd", "rl0"), HOWTO_EXPOSURES);

test("the howto's set-up: map with portmap, rdr 6122/6188, pass rules for the translated packets", () => {
  assert.equal(
    generateIpnat(howto),
    [
      "# outbound: jails leave with rl0's current address (0/32 follows a dynamic address)",
      "map rl0 10.0.0.0/24 -> 0/32 portmap tcp/udp auto",
      "map rl0 10.0.0.0/24 -> 0/32",
      "# ssh: tcp 6122 -> 10.0.0.2 port 22",
      "rdr rl0 0/0 port 6122 -> 10.0.0.2/32 port 22 tcp",
      "# www: tcp 6188 -> 10.0.0.3 port 80",
      "rdr rl0 0/0 port 6188 -> 10.0.0.3/32 port 80 tcp",
      "",
    ].join("\n"),
  );
  assert.equal(
    generateIpf(howto),
    [
      "# ssh: tcp 6122 -> 10.0.0.2 port 22",
      "pass in quick on rl0 inet proto tcp from any to 10.0.0.2/32 port = 22 flags S/FSRPAU keep state",
      "# www: tcp 6188 -> 10.0.0.3 port 80",
      "pass in quick on rl0 inet proto tcp from any to 10.0.0.3/32 port = 80 flags S/FSRPAU keep state",
      "",
    ].join("\n"),
  );
  assertParses(generateIpnat(howto), generateIpf(howto));
});

test("the pass rules name the jail address and port, never the public port (rdr runs first)", () => {
  const f = parseIpf(generateIpf(howto));
  assert.equal(f.rules.length, 2);
  const rules = generateIpf(howto)
    .split("\n")
    .filter((l) => l.startsWith("pass"));
  assert.equal(rules.length, 2);
  for (const r of rules) assert.doesNotMatch(r, /6122|6188/);
});

const more = model(
  howtoHost("freebsd", "rl0", { jailSubnet6: "fd00:6a61:696c::/64" }),
  MORE_EXPOSURES,
  MORE_JAILS,
);

test("ranges shift from the first jail port; filters use the inclusive A:B form", () => {
  const nat = generateIpnat(more);
  assert.match(nat, /^rdr rl0 0\/0 port 8000-8002 -> 10\.0\.0\.4\/32 port 9000 tcp$/m);
  assert.match(
    generateIpf(more),
    /^pass in quick on rl0 inet proto tcp from any to 10\.0\.0\.4\/32 port 9000:9002 flags S\/FSRPAU keep state$/m,
  );
  assert.match(
    generateIpf(more),
    /^pass in quick on rl0 inet proto udp from any to 10\.0\.0\.4\/32 port 27000:27010 keep state$/m,
  );
});

test("--from: one rdr and one pass rule per source network", () => {
  assert.match(
    generateIpnat(more),
    /^rdr rl0 from 198\.51\.100\.0\/24 to 0\/0 port = 6122 -> 10\.0\.0\.2\/32 port 22 tcp\nrdr rl0 from 203\.0\.113\.7\/32 to 0\/0 port = 6122 -> 10\.0\.0\.2\/32 port 22 tcp$/m,
  );
  assert.match(
    generateIpf(more),
    /^pass in quick on rl0 inet proto tcp from 198\.51\.100\.0\/24 to 10\.0\.0\.2\/32 port = 22 flags S\/FSRPAU keep state$/m,
  );
});

test("two host addresses with --on: the rdr matches that address only", () => {
  assert.match(generateIpnat(more), /^rdr rl0 192\.0\.2\.5\/32 port 53 -> 10\.0\.0\.5\/32 port 53 udp$/m);
  assert.match(generateIpnat(more), /^rdr rl0 192\.0\.2\.6\/32 port 443 -> 10\.0\.0\.3\/32 port 443 tcp$/m);
});

test('IPv6: `inet6` before the address (ipnat reads `rdr em0 ::0/0` as a syntax error at ":")', () => {
  assert.match(generateIpnat(more), /^map rl0 inet6 fd00:6a61:696c::\/64 -> ::\/128 portmap tcp\/udp auto$/m);
  assert.match(generateIpnat(more), /^rdr rl0 inet6 any port 6188 -> fd00:6a61:696c::3\/128 port 80 tcp$/m);
  assert.doesNotMatch(generateIpnat(more), /^rdr \S+ ::/m);
  assert.match(
    generateIpf(more),
    /^pass in quick on rl0 inet6 proto tcp from any to fd00:6a61:696c::3\/128 port = 80 flags S\/FSRPAU keep state$/m,
  );
});

test("every variant parses with the IPFilter parser, zero diagnostics", () => {
  assertParses(generateIpnat(more), generateIpf(more));
  const rangeFrom = model(
    howtoHost("freebsd", "em0"),
    [
      exposure("ssh", "tcp", [7000, 7005], [7000, 7005], { from: ["192.0.2.0/24"] }),
      exposure("www", "udp", [5000, 5000], [5000, 5000], { on: { kind: "interface", name: "em1" } }),
    ],
    HOWTO_JAILS,
  );
  assert.match(
    generateIpnat(rangeFrom),
    /^rdr em0 from 192\.0\.2\.0\/24 to 0\/0 port 7000:7005 -> 10\.0\.0\.2\/32 port 7000 tcp$/m,
  );
  assert.match(generateIpnat(rangeFrom), /^rdr em1 0\/0 port 5000 -> 10\.0\.0\.3\/32 port 5000 udp$/m);
  assertParses(generateIpnat(rangeFrom), generateIpf(rangeFrom));
  const nat = parseIpnat(generateIpnat(more));
  assert.equal(nat.rules.filter((r) => r.kind === "rdr").length, 8);
});

test("no exposures and no subnet: empty sections", () => {
  const empty = model(howtoHost("freebsd", "rl0", { jailSubnet4: undefined }), []);
  assert.equal(generateIpnat(empty), "");
  assert.equal(generateIpf(empty), "");
});

// The generated files, run through the project's IPFilter evaluator (the
// engine behind `qjail fw trace`) inside the howto's host rules: proof that
// the rdr and pass rules work together, not only that they parse.

const HOST_IPF =
  "block in log on rl0 all\npass out quick on rl0 proto tcp from any to any flags S keep state\npass in quick on rl0 proto tcp from any to any port = 22 flags S keep state\n";

function trace(m: Parameters<typeof generateIpf>[0], packet: string): ReturnType<typeof tracePacket> {
  const ipfText = applyEdits(HOST_IPF, sectionEdits(HOST_IPF, generateIpf(m)));
  const natText = generateIpnat(m);
  const interfaces = new Map([["rl0", parseV4("203.0.113.1") as bigint]]);
  return tracePacket(
    {
      ipf: { file: "/etc/ipf.rules", text: ipfText, rules: parseIpf(ipfText).rules },
      nat: { file: "/etc/ipnat.rules", text: natText, rules: parseIpnat(natText).rules },
      interfaces,
    },
    parseFriendlyPacket(packet.split(" "), { interfaces }),
  );
}

test("evaluated: a client's SYN to :6188 is redirected to www:80 and passed by qjail's rule; :6189 is blocked", () => {
  const r = trace(howto, "tcp 198.51.100.7:40000 -> :6188 on rl0");
  assert.equal(r.nat[0]?.after.dst.address, "10.0.0.3");
  assert.equal(r.nat[0]?.after.dst.port, 80);
  assert.equal(r.verdict, "pass");
  assert.match(r.filter.decidedBy?.text ?? "", /to 10\.0\.0\.3\/32 port = 80/);
  assert.equal(trace(howto, "tcp 198.51.100.7:40000 -> :6189 on rl0").verdict, "block");
});

test("evaluated: --from lets the listed network in and leaves others to the host's block rule", () => {
  const m = model(howtoHost("freebsd", "rl0"), [
    exposure("ssh", "tcp", [6122, 6122], [22, 22], { from: ["198.51.100.0/24"] }),
  ]);
  const allowed = trace(m, "tcp 198.51.100.7:40000 -> :6122 on rl0");
  assert.equal(allowed.nat[0]?.after.dst.address, "10.0.0.2");
  assert.equal(allowed.verdict, "pass");
  const other = trace(m, "tcp 192.0.2.44:40000 -> :6122 on rl0");
  assert.equal(other.verdict, "block");
});
