import { test } from "node:test";
import assert from "node:assert/strict";
import { IpfEngine } from "../../../src/firewall/ipf/eval/engine.js";
import { formatPacketLine, parseTextPacket, readHexPackets, formatV6, parseV6 } from "../../../src/firewall/ipf/eval/packet.js";
import { runIpftest } from "../../../src/firewall/ipf/eval/ipftest.js";
import { loadPools } from "../../../src/firewall/ipf/eval/pools.js";
import type { FilterRule, NatRule } from "../../../src/firewall/ipf/ast.js";
import { cidr, eq, filter, keepState, nat, natTcp, on, tcp, to } from "./eval-helpers.js";

const printers = { printFilterRule: () => "R", printNatRule: () => "N" };

/** Verdict per input line, as ipftest -b prints them. */
function verdicts(rules: FilterRule[], packets: string[], natRules?: NatRule[]): string[] {
  const out = runIpftest(
    packets.map((l) => parseTextPacket(l)!),
    { filterRules: rules, ...(natRules ? { natRules } : {}), language: printers },
  );
  return out.trimEnd().split("\n");
}

test("the last matching rule decides, a quick rule stops at once", () => {
  const rules = [filter({ action: { kind: "block", return: null } }), filter({ action: { kind: "pass" }, from: to("1.1.1.0/24"), all: false })];
  assert.deepEqual(verdicts(rules, ["in 1.1.1.1 2.2.2.2", "in 9.9.9.9 2.2.2.2", "out 1.1.1.1 2.2.2.2"]), ["pass", "block", "nomatch"]);
  const quick = [filter({ action: { kind: "block", return: null }, quick: true }), rules[1]!];
  assert.deepEqual(verdicts(quick, ["in 1.1.1.1 2.2.2.2"]), ["block"]);
});

test("a head rule's group decides when one of its rules matches, the head otherwise", () => {
  const rules = [
    filter({ action: { kind: "block", return: null }, quick: true, on: on("hme0"), head: "10" }),
    filter({ action: { kind: "pass" }, quick: true, proto: tcp, to: to(null, eq(22)), all: false, group: "10" }),
  ];
  assert.deepEqual(verdicts(rules, ["in on hme0 tcp 1.1.1.1,5 2.2.2.2,22 S", "in on hme0 tcp 1.1.1.1,5 2.2.2.2,23 S", "in on hme1 tcp 1.1.1.1,5 2.2.2.2,22 S"]), [
    "pass",
    "block",
    "nomatch",
  ]);
});

test("keep state lets the reply through in either direction and learns its interface", () => {
  const rules = [filter({ proto: tcp, to: to(null, eq(23)), all: false, flags: { set: 2, mask: 0x12 }, keepState })];
  assert.deepEqual(
    verdicts(rules, [
      "in on e0 tcp 1.1.1.1,1 2.1.2.2,23 S",
      "in on e1 tcp 2.1.2.2,23 1.1.1.1,1 SA",
      "in on e0 tcp 1.1.1.1,1 2.1.2.2,23 A",
      "in on e2 tcp 2.1.2.2,23 1.1.1.1,1 A",
      "in on e0 tcp 1.1.1.1,1 2.1.2.2,23 FA",
      "in on e0 tcp 1.1.1.1,1 2.1.2.2,23 A",
    ]),
    ["pass", "pass", "pass", "nomatch", "pass", "nomatch"],
  );
});

test("state_max caps the state table; the packet that finds it full is reported unmatched", () => {
  const rules = [filter({ quick: true, proto: tcp, flags: { set: 2, mask: 0x3f }, keepState })];
  const engine = new IpfEngine(rules, [], { tunables: new Map([["state_max", 2]]) });
  const got = ["1", "2", "3"].map((port) => engine.process(parseTextPacket(`in tcp 127.0.0.1,${port} 127.0.0.1,21 S`)!).verdict);
  assert.deepEqual(got, ["pass", "pass", "nomatch"]);
});

test("rdr rewrites before filtering and the reply is rewritten back on the way out", () => {
  const natRules = [
    nat({
      kind: "rdr",
      match: { kind: "simple", address: { kind: "any" }, ports: { low: 6188, high: 6188 } },
      target: { kind: "cidr", address: cidr("10.0.0.3/32") },
      targetPort: { low: 80, high: 80, fixed: false },
      proto: natTcp,
    }),
  ];
  const rules = [
    filter({ action: { kind: "block", return: null } }),
    filter({ quick: true, on: on("em0"), proto: tcp, to: to("10.0.0.3/32", eq(80)), all: false, keepState }),
    filter({ direction: "out", quick: true }),
  ];
  const engine = new IpfEngine(rules, natRules);
  const p = parseTextPacket("in on em0 tcp 203.0.113.9,40000 198.51.100.1,6188 S")!;
  const r = engine.process(p);
  assert.equal(r.verdict, "pass");
  assert.equal(r.decidedBy?.number, 2);
  assert.equal(formatPacketLine(p), "< em0 ip #0 40(20) 6 203.0.113.9,40000 > 10.0.0.3,80 S");
  const reply = parseTextPacket("out on em0 tcp 10.0.0.3,80 203.0.113.9,40000 SA")!;
  engine.process(reply);
  assert.equal(formatPacketLine(reply), "> em0 ip #0 40(20) 6 198.51.100.1,6188 > 203.0.113.9,40000 SA");
  const other = parseTextPacket("in on em0 tcp 203.0.113.9,40001 198.51.100.1,6122 S")!;
  assert.equal(engine.process(other).verdict, "block");
});

test("map with portmap gives sequential ports and dumps sessions in ipftest's columns", () => {
  const natRules = [
    nat({
      interfaces: on("zx0"),
      match: { kind: "simple", address: cidr("10.1.1.1/32"), ports: null },
      target: { kind: "cidr", address: cidr("10.2.2.2/32") },
      portmap: { proto: natTcp, auto: false, low: 10000, high: 20000, sequential: true },
    }),
  ];
  const out = runIpftest(
    ["out on zx0 tcp 10.1.1.1,1025 10.1.1.1,1025", "out on zx0 tcp 10.1.1.1,1025 10.1.1.2,1025", "out on zx0 10.1.1.1 10.1.2.1"].map((l) => parseTextPacket(l)!),
    { natRules, dump: true, language: printers },
  );
  const lines = out.split("\n");
  assert.deepEqual(lines.slice(0, 3), [
    "> zx0 ip #0 40(20) 6 10.2.2.2,10000 > 10.1.1.1,1025",
    "> zx0 ip #0 40(20) 6 10.2.2.2,10001 > 10.1.1.2,1025",
    "> zx0 ip #0 20(20) 0 10.1.1.1 > 10.1.2.1",
  ]);
  assert.ok(lines.includes("MAP 10.1.1.1        1025  <- -> 10.2.2.2        10001 [10.1.1.2 1025]"), out);
  assert.ok(lines.includes("10.1.1.1,10.1.1.1 -> 10.2.2.2,0.0.0.0 (use = 1)"), out);
});

test("text packets: ICMP is 48 bytes, IP options grow the header, services resolve", () => {
  assert.equal(formatPacketLine(parseTextPacket("in on e0 icmp 1.1.1.1 2.2.2.2 echo")!), "< e0 ip #0 48(20) 1 1.1.1.1 > 2.2.2.2");
  const withOpts = parseTextPacket("in 1.1.1.1 2.1.1.1 opt lsrr")!;
  assert.equal(withOpts.hlen, 28);
  assert.equal(parseTextPacket("in tcp 1.1.1.1,1 2.2.2.2,ftp")!.dport, 21);
  assert.equal(parseTextPacket("# only a comment"), undefined);
  assert.throws(() => parseTextPacket("in tcp 1.1.1.1 2.2.2.2"), /address,port/);
});

test("hex packets: header, interface and a bad IP checksum", () => {
  const good = "[out,df0]\n4500 0028 0000 0000 ff06 afc4 0404 0404\n0202 0202 5000 0050 0000 0001 0000 0000\n5002 1000 0000 0000\n";
  const [p] = readHexPackets(good);
  assert.equal(p?.dir, "out");
  assert.equal(p?.ifname, "df0");
  assert.equal(p?.dport, 80);
  assert.equal(p?.bad, false);
  const [bad] = readHexPackets(good.replace("afc4", "afc5"));
  assert.equal(bad?.bad, true);
});

test("IPv6 text form round-trips", () => {
  assert.equal(formatV6(parseV6("10:1:1::2")!), "10:1:1::2");
  assert.equal(formatV6(parseV6("::")!), "::");
});

test("tree pools: longest prefix wins and a negated entry excludes", () => {
  const pools = loadPools("table role = ipf type = tree number = 100\n\t{ 1.1.1.1/32; !2.2.0.0/16; 2.2.2.0/24; };\n");
  const t = pools.tables.get("pool/100")!;
  assert.equal(t.lookup(4, 0x01010101n), true);
  assert.equal(t.lookup(4, 0x02020001n), false);
  assert.equal(t.lookup(4, 0x02020201n), true);
  assert.equal(t.lookup(4, 0x03030303n), undefined);
  assert.deepEqual(pools.poolDump, ["table role=ipf type=tree number=100", "\t{ 1.1.1.1/32; ! 2.2.0.0/16; 2.2.2.0/24; };"]);
});
