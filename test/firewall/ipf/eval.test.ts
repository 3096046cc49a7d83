import { test } from "node:test";
import assert from "node:assert/strict";
import { IpfEngine } from "../../../src/firewall/ipf/eval/engine.js";
import {
  formatPacketLine,
  parseTextPacket,
  readHexPackets,
  formatV6,
  parseV6,
} from "../../../src/firewall/ipf/eval/packet.js";
import { runIpftest } from "../../../src/firewall/ipf/eval/ipftest.js";
import { loadOrder } from "../../../src/firewall/ipf/eval/filter.js";
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
  const rules = [
    filter({ action: { kind: "block", return: null } }),
    filter({ action: { kind: "pass" }, from: to("1.1.1.0/24"), all: false }),
  ];
  assert.deepEqual(verdicts(rules, ["in 1.1.1.1 2.2.2.2", "in 9.9.9.9 2.2.2.2", "out 1.1.1.1 2.2.2.2"]), [
    "pass",
    "block",
    "nomatch",
  ]);
  const quick = [filter({ action: { kind: "block", return: null }, quick: true }), rules[1]!];
  assert.deepEqual(verdicts(quick, ["in 1.1.1.1 2.2.2.2"]), ["block"]);
});

test("a head rule's group decides when one of its rules matches, the head otherwise", () => {
  const rules = [
    filter({ action: { kind: "block", return: null }, quick: true, on: on("hme0"), head: "10" }),
    filter({
      action: { kind: "pass" },
      quick: true,
      proto: tcp,
      to: to(null, eq(22)),
      all: false,
      group: "10",
    }),
  ];
  assert.deepEqual(
    verdicts(rules, [
      "in on hme0 tcp 1.1.1.1,5 2.2.2.2,22 S",
      "in on hme0 tcp 1.1.1.1,5 2.2.2.2,23 S",
      "in on hme1 tcp 1.1.1.1,5 2.2.2.2,22 S",
    ]),
    ["pass", "block", "nomatch"],
  );
});

test("keep state lets the reply through in either direction and learns its interface", () => {
  const rules = [
    filter({ proto: tcp, to: to(null, eq(23)), all: false, flags: { set: 2, mask: 0x12 }, keepState }),
  ];
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
  const got = ["1", "2", "3"].map(
    (port) => engine.process(parseTextPacket(`in tcp 127.0.0.1,${port} 127.0.0.1,21 S`)!).verdict,
  );
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
    [
      "out on zx0 tcp 10.1.1.1,1025 10.1.1.1,1025",
      "out on zx0 tcp 10.1.1.1,1025 10.1.1.2,1025",
      "out on zx0 10.1.1.1 10.1.2.1",
    ].map((l) => parseTextPacket(l)!),
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
  assert.equal(
    formatPacketLine(parseTextPacket("in on e0 icmp 1.1.1.1 2.2.2.2 echo")!),
    "< e0 ip #0 48(20) 1 1.1.1.1 > 2.2.2.2",
  );
  const withOpts = parseTextPacket("in 1.1.1.1 2.1.1.1 opt lsrr")!;
  assert.equal(withOpts.hlen, 28);
  assert.equal(parseTextPacket("in tcp 1.1.1.1,1 2.2.2.2,ftp")!.dport, 21);
  assert.equal(parseTextPacket("# only a comment"), undefined);
  assert.throws(() => parseTextPacket("in tcp 1.1.1.1 2.2.2.2"), /address,port/);
});

test("hex packets: header, interface and a bad IP checksum", () => {
  const good =
    "[out,df0]\n4500 0028 0000 0000 ff06 afc4 0404 0404\n0202 0202 5000 0050 0000 0001 0000 0000\n5002 1000 0000 0000\n";
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
  const pools = loadPools(
    "table role = ipf type = tree number = 100\n\t{ 1.1.1.1/32; !2.2.0.0/16; 2.2.2.0/24; };\n",
  );
  const t = pools.tables.get("pool/100")!;
  assert.equal(t.lookup(4, 0x01010101n), true);
  assert.equal(t.lookup(4, 0x02020001n), false);
  assert.equal(t.lookup(4, 0x02020201n), true);
  assert.equal(t.lookup(4, 0x03030303n), undefined);
  assert.deepEqual(pools.poolDump, [
    "table role=ipf type=tree number=100",
    "\t{ 1.1.1.1/32; ! 2.2.0.0/16; 2.2.2.0/24; };",
  ]);
});

/** Build hex input for one IPv4 packet, filling in a correct header checksum. */
function hexPacket(header: string, dir: "in" | "out", ifname: string, payload = ""): string {
  const bytes = Buffer.from((header + payload).replace(/\s+/g, ""), "hex");
  bytes.writeUInt16BE(0, 10);
  let sum = 0;
  for (let i = 0; i < 20; i += 2) sum += bytes.readUInt16BE(i);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  bytes.writeUInt16BE(~sum & 0xffff, 10);
  return `[${dir},${ifname}]\n${bytes.toString("hex").replace(/(.{4})/g, "$1 ")}\n\n`;
}

function onesComplementOk(bytes: Uint8Array, from: number, to: number, pseudo = 0): boolean {
  let sum = pseudo;
  for (let i = from; i < to; i += 2) sum += ((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum === 0xffff;
}

test("an ICMP error about a mapped flow gets the inside addresses back and passes by state", () => {
  const natRules = [
    nat({
      interfaces: on("df0"),
      match: { kind: "simple", address: cidr("2.2.2.2/32"), ports: null },
      target: { kind: "cidr", address: cidr("6.6.6.6/32") },
    }),
  ];
  const rules = [
    filter({ action: { kind: "block", return: null } }),
    filter({ direction: "out", proto: tcp, keepState }),
  ];
  const engine = new IpfEngine(rules, natRules);
  // out: tcp 2.2.2.2,20480 -> 4.4.4.4,80
  const [syn] = readHexPackets(
    hexPacket(
      "4500 0028 0001 0000 4006 0000 0202 0202 0404 0404",
      "out",
      "df0",
      "5000 0050 0000 0001 0000 0000 5002 2000 0000 0000",
    ),
  );
  assert.equal(engine.process(syn!).verdict, "pass");
  assert.equal(formatPacketLine(syn!), "> df0 ip #1 40(20) 6 6.6.6.6,20480 > 4.4.4.4,80 S");
  // in: port unreachable from 3.3.3.3 to 6.6.6.6 quoting the translated packet
  const [err] = readHexPackets(
    hexPacket(
      "4500 0038 0002 0000 4001 0000 0303 0303 0606 0606",
      "in",
      "df0",
      "0303 0000 0000 0000 4500 0028 0001 0000 4006 0000 0606 0606 0404 0404 5000 0050",
    ),
  );
  assert.ok(err?.inner, "the quoted packet is decoded");
  const r = engine.process(err!);
  assert.equal(r.verdict, "pass");
  assert.equal(formatPacketLine(err!), "< df0 ip #2 56(20) 1 3.3.3.3 > 2.2.2.2");
  assert.equal(err!.inner?.src, 0x02020202n);
  assert.equal(err!.inner?.sport, 20480);
});

test("-x prints the translated bytes with checksums that still add up", () => {
  const natRules = [
    nat({
      interfaces: on("e0"),
      match: { kind: "simple", address: cidr("10.0.0.0/24"), ports: null },
      target: { kind: "cidr", address: cidr("192.0.2.1/32") },
      portmap: { proto: { kind: "tcpudp" }, auto: false, low: 5000, high: 5010, sequential: false },
    }),
  ];
  // udp 10.0.0.5,1234 -> 8.8.8.8,53 with a correct UDP checksum computed below
  const header = "4500 0020 0000 0000 4011 0000 0a00 0005 0808 0808";
  const udp = Buffer.from("04d20035000c0000abcd", "hex");
  let sum = 0x0a00 + 0x0005 + 0x0808 + 0x0808 + 17 + 12;
  for (let i = 0; i < udp.length; i += 2) sum += udp.readUInt16BE(i);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  udp.writeUInt16BE(~sum & 0xffff, 6);
  const input = hexPacket(header, "out", "e0", udp.toString("hex").padEnd(24, "0").slice(0, 24));
  const out = runIpftest(readHexPackets(input), { natRules, hexOutput: true, language: printers });
  const words = out.split("\n")[0]!.trim().split(" ");
  const bytes = Uint8Array.from(Buffer.from(words.join(""), "hex"));
  assert.equal(words.slice(6, 10).join(" "), "c000 0201 0808 0808");
  assert.equal(words[10], (5000).toString(16).padStart(4, "0"));
  assert.ok(onesComplementOk(bytes, 0, 20), "IP header checksum");
  assert.ok(
    onesComplementOk(bytes, 20, 32, 0xc000 + 0x0201 + 0x0808 + 0x0808 + 17 + 12),
    "UDP checksum with the new pseudo-header",
  );
});

test("rules are kept in ipf's load order: by collect number, @N inserting within one number", () => {
  const rule = (line: number, collect: number | null, insertAt: number | null) =>
    filter({ line, collect, insertAt });
  const order = loadOrder([
    rule(1, 100, null),
    rule(2, null, null),
    rule(3, null, null),
    rule(4, null, 1),
    rule(5, 100, 0),
    rule(6, null, 0),
  ]).map((x) => x.ast.span.line);
  assert.deepEqual(order, [6, 2, 4, 3, 5, 1]);
});
