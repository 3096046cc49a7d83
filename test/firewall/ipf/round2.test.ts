import { test } from "node:test";
import assert from "node:assert/strict";
import { parseIpf, parseIpnat, printIpfRule } from "../../../src/firewall/ipf/index.js";
import {
  icmpErrorPortDelta,
  ipfFixInCksum,
  parseTextPacket,
  readHexPackets,
} from "../../../src/firewall/ipf/eval/packet.js";
import { runIpftest } from "../../../src/firewall/ipf/eval/ipftest.js";

const printers = { printFilterRule: () => "R", printNatRule: () => "N" };

function v6Verdicts(rule: string, hex: string): string[] {
  const parsed = parseIpf(rule, { family: "inet6" });
  assert.deepEqual(
    parsed.diagnostics.filter((d) => d.severity === "error"),
    [],
  );
  return runIpftest(readHexPackets(hex), { filterRules: parsed.rules, language: printers })
    .trimEnd()
    .split("\n");
}

const V6_SRC = "ef00 0000 0000 0000 0000 0000 0001 0013\nff02 0000 0000 0000 0000 0001 ff01 000b\n";
const TCP = "0401 0019 0000 0000 0000 0000 5002 2000 9ea3 0000\n";
/** TCP behind a routing header, then plain TCP. */
const ROUTED_THEN_PLAIN =
  `[out,de0]\n6000 0000 002c 2bff\n${V6_SRC}0602 0000 0000 0000\n` +
  `ff02 0000 0000 0000 0000 0001 ff01 000b\n${TCP}\n` +
  `[out,de0]\n6000 0000 0014 06ff\n${V6_SRC}${TCP}\n`;

test("icmp-type after proto ipv6-icmp takes ICMPv6 names when rules start as IPv6 (ipftest -6)", () => {
  const without = parseIpf("pass in proto ipv6-icmp all icmp-type echo");
  assert.equal(without.diagnostics[0]?.code, "QJ4011");
  const r = parseIpf("pass in proto ipv6-icmp all icmp-type echo", { family: "inet6" });
  assert.deepEqual(r.diagnostics, []);
  // ICMPv6 echo request is type 128, not ICMP's 8.
  assert.equal(r.rules[0]?.icmp?.type, 128);
  assert.equal(r.rules[0]?.family, "inet6");
});

test("with v6hdr routing parses, prints, needs an IPv6 rule, and matches the header on the wire", () => {
  const r = parseIpf("pass out family inet6 all with v6hdr routing,dstopts");
  assert.deepEqual(r.diagnostics, []);
  assert.match(printIpfRule(r.rules[0]!), / with v6hdr routing,dstopts$/);

  assert.ok(parseIpf("pass out all with v6hdr routing").diagnostics.length > 0);
  assert.ok(parseIpf("pass out family inet6 all with v6hdr bogus").diagnostics.length > 0);
  assert.deepEqual(v6Verdicts("pass out family inet6 all with v6hdr routing", ROUTED_THEN_PLAIN), [
    "pass",
    "nomatch",
  ]);
  // The protocol test sees TCP behind the routing header.
  assert.deepEqual(v6Verdicts("block out proto tcp all with v6hdr routing", ROUTED_THEN_PLAIN), [
    "block",
    "nomatch",
  ]);
});

test("IPv6 fragment headers: the upper protocol shows through, a short non-last fragment is 'with bad'", () => {
  const head = "[out,gif0]\n";
  const addrs = "ef00 1001 2002 0001 0000 0000 0000 0070\n2001 1002 3333 0001 0000 0000 0000 0001\n";
  const zeros = "0000 0000 0000 0000 0000 0000 0000 0000\n";
  // Payload 32 (first, M=1), then 30 bytes with M=1: not a multiple of 8.
  const hex =
    `${head}6000 0000 0020 2c01\n${addrs}1100 0001 0000 0001\n8083 829a 0020 f4c1\n${zeros}\n` +
    `${head}6000 0000 001e 2c01\n${addrs}1100 0001 0000 0001\n0000 0000 0000 0000 0000 0000 0000\n\n` +
    `${head}6000 0000 0020 2c01\n${addrs}1100 0008 0000 0001\n${zeros}\n`;
  assert.deepEqual(v6Verdicts("pass out proto udp all", hex), ["pass", "pass", "pass"]);
  assert.deepEqual(v6Verdicts("block out all with bad", hex), ["nomatch", "block", "nomatch"]);
  assert.deepEqual(v6Verdicts("block out all with frag-body", hex), ["nomatch", "nomatch", "block"]);
});

test("ICMP error over a quoted TCP header without its checksum: ipf_nat_icmperror's CALC_SUMD borrow", () => {
  // Port 0x9c40 back to 0x5000: CALC_SUMD(old, new) leaves new one lower, so the delta is 0x4c41, not 0x4c40.
  assert.equal(icmpErrorPortDelta(0x9c40, 0x5000, 80, 80), 0x4c41);
  // Going up there is no borrow and the delta is the plain difference, folded.
  assert.equal(icmpErrorPortDelta(0x5000, 0x9c40, 80, 80), 0xb3bf);
  assert.equal(icmpErrorPortDelta(80, 80, 80, 80), 0);
  // ipf_fix_incksum takes n away: 0x606b less 0x4c41 in one's complement.
  assert.equal(ipfFixInCksum(0x606b, 0x4c41), 0xacac);
  assert.equal(ipfFixInCksum(0x606b, 0), 0x606b);
});

test("an ICMP error about an rdr session leaves with the rdr address as its source, whoever sent it", () => {
  const nat = parseIpnat("rdr df0 2.2.2.2/32 -> 6.6.6.6");
  assert.deepEqual(nat.diagnostics, []);
  const udpIn =
    "4500 0028 4706 4000 0111 26b4 0404 0404 0202 0202\nafc9 829e 0014 6b10 0402 0000 3be5 468d 000a cfc3\n";
  // A router (3.3.3.3) reports time exceeded for the redirected packet, quoting 4.4.4.4 -> 6.6.6.6.
  const errorOut =
    "4500 0038 809a 0000 ff01 2d1d 0303 0303 0404 0404\n0b00 0125 0000 0000\n" +
    "4500 0028 4706 4000 0111 1eac 0404 0404 0606 0606\nafc9 829e 0014 c15e\n";
  const out = runIpftest(readHexPackets(`[in,df0]\n${udpIn}\n[out,df0]\n${errorOut}\n`), {
    natRules: nat.rules,
    language: printers,
    hexOutput: true,
  });
  const second = out.split("\n\n")[1] ?? "";
  const words = second.trim().split(" ");
  // Outer source 3.3.3.3 becomes 2.2.2.2; the quoted destination 6.6.6.6 becomes 2.2.2.2.
  assert.deepEqual(words.slice(6, 8), ["0202", "0202"]);
  assert.deepEqual(words.slice(22, 24), ["0202", "0202"]);
  // The outer IP header checksum still verifies.
  let sum = 0;
  for (const w of words.slice(0, 10)) sum += parseInt(w, 16);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >> 16);
  assert.equal(sum, 0xffff);
});

test("update_ipid=1 renumbers every IPv4 packet passed out, translated or not, and nothing else", () => {
  const filters = parseIpf("block out quick proto udp all");
  const nat = parseIpnat("map zz0 9.9.9.9/32 -> 8.8.8.8/32");
  const packets = [
    "out on df0 tcp 1.1.1.1,1 2.2.2.2,2",
    "in on df0 tcp 2.2.2.2,2 1.1.1.1,1",
    "out on df0 udp 1.1.1.1,1 2.2.2.2,2",
    "out on df0 tcp 1.1.1.1,3 2.2.2.2,2",
  ].map((l) => parseTextPacket(l)!);
  const out = runIpftest(packets, {
    filterRules: filters.rules,
    natRules: nat.rules,
    language: printers,
    tunables: new Map([["update_ipid", 1]]),
  });
  assert.deepEqual(
    out
      .trimEnd()
      .split("\n")
      .map((l) => /ip #(\d+)/.exec(l)?.[1] ?? l),
    ["0", "0", "0", "1"],
  );
});

/** An IPv4 header (20 bytes, checksum filled in) followed by `payload`, as hex words. */
function ipv4(proto: number, src: number[], dst: number[], payload: number[], id = 0): number[] {
  const len = 20 + payload.length;
  const h = [0x45, 0, len >> 8, len & 255, id >> 8, id & 255, 0x40, 0, 64, proto, 0, 0, ...src, ...dst];
  let sum = 0;
  for (let i = 0; i < 20; i += 2) sum += (h[i]! << 8) | h[i + 1]!;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >> 16);
  h[10] = (~sum >> 8) & 255;
  h[11] = ~sum & 255;
  return [...h, ...payload];
}
const hexOf = (bytes: number[]): string =>
  bytes.map((b, i) => b.toString(16).padStart(2, "0") + (i % 2 ? " " : "")).join("");

test("an outbound ICMP error about a reply a map session delivered goes out with the quoted reply as it was on the wire", () => {
  const nat = parseIpnat("map xl0 10.0.0.0/8 -> 1.1.1.1/32 portmap tcp/udp 40000:60000 sequential");
  const inside = [10, 1, 2, 1];
  const peer = [192, 168, 1, 51];
  const router = [192, 168, 100, 1];
  // UDP 10.1.2.1:1526 -> peer:53 goes out first and gets 1.1.1.1:40000.
  const udp = [0x05, 0xf6, 0x00, 0x35, 0x00, 0x08, 0x00, 0x00];
  const first = ipv4(17, inside, peer, udp);
  // A router inside reports the reply (peer:53 -> 10.1.2.1:1526, as NAT delivered it) back to the peer.
  const quoted = ipv4(17, peer, inside, [0x00, 0x35, 0x05, 0xf6, 0x00, 0x08, 0x00, 0x00]);
  const icmpBody = [3, 3, 0, 0, 0, 0, 0, 0, ...quoted];
  let sum = 0;
  for (let i = 0; i < icmpBody.length; i += 2) sum += (icmpBody[i]! << 8) | (icmpBody[i + 1] ?? 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >> 16);
  icmpBody[2] = (~sum >> 8) & 255;
  icmpBody[3] = ~sum & 255;
  const error = ipv4(1, router, peer, icmpBody);
  const out = runIpftest(readHexPackets(`[out,xl0]\n${hexOf(first)}\n\n[out,xl0]\n${hexOf(error)}\n`), {
    natRules: nat.rules,
    language: printers,
    hexOutput: true,
  });
  const words = (out.split("\n\n")[1] ?? "").trim().split(" ");
  assert.deepEqual(words.slice(6, 8), ["0101", "0101"], "outer source is the map address");
  assert.deepEqual(words.slice(8, 10), ["c0a8", "0133"], "outer destination stays the peer");
  assert.deepEqual(words.slice(22, 24), ["0101", "0101"], "quoted destination is the map address");
  assert.equal(words[25], "9c40", "quoted destination port is the mapped port 40000");
  // Every checksum still verifies: outer IP, ICMP over the rest, quoted IP.
  const bytes = words.flatMap((w) => [parseInt(w.slice(0, 2), 16), parseInt(w.slice(2, 4), 16)]);
  const verify = (from: number, to: number): number => {
    let s = 0;
    for (let i = from; i < to; i += 2) s += (bytes[i]! << 8) | bytes[i + 1]!;
    while (s > 0xffff) s = (s & 0xffff) + (s >> 16);
    return s;
  };
  assert.equal(verify(0, 20), 0xffff);
  assert.equal(verify(28, 48), 0xffff);
  assert.equal(verify(20, bytes.length), 0xffff);
});

test("each map rule keeps its own hostmap: one host through two rules gets each rule's address", () => {
  const nat = parseIpnat(
    [
      "map df0 from 2.2.2.2/32 port 2000 >< 2500 to any -> 6.6.6.7/32 portmap udp 20000:25000 sequential",
      "map df0 from 2.2.2.2/32 to any -> 6.6.6.6/32",
    ].join("\n"),
  );
  const packets = ["out on df0 udp 2.2.2.2,40000 4.4.4.4,53", "out on df0 udp 2.2.2.2,2048 4.4.4.4,53"].map(
    (l) => parseTextPacket(l)!,
  );
  const lines = runIpftest(packets, { natRules: nat.rules, language: printers }).trimEnd().split("\n");
  assert.match(lines[0] ?? "", / 6\.6\.6\.6,40000 > 4\.4\.4\.4,53$/);
  assert.match(lines[1] ?? "", / 6\.6\.6\.7,20000 > 4\.4\.4\.4,53$/);
});

test("map to 0/0 keeps the packet's own source address (ipf_nat_newmap)", () => {
  const nat = parseIpnat("map pcn1 0/0 -> 0/0");
  const lines = runIpftest([parseTextPacket("out on pcn1 tcp 192.168.113.1,1511 192.168.113.3,1723 S")!], {
    natRules: nat.rules,
    language: printers,
  })
    .trimEnd()
    .split("\n");
  assert.match(lines[0] ?? "", / 192\.168\.113\.1,1511 > 192\.168\.113\.3,1723 S$/);
});

test("state: a reply whose ACK strays more than MAXACKWINDOW from what was sent is not part of the session", () => {
  const rules = parseIpf(
    "pass out quick on ppp0 proto tcp all flags S keep state\nblock return-rst in quick proto tcp all",
  ).rules;
  const verdicts = (ack: number): string[] =>
    runIpftest(
      [
        parseTextPacket("out on ppp0 tcp 1.1.1.1,54076 2.2.2.2,25 S seq=1000")!,
        parseTextPacket(`in on ppp0 tcp 2.2.2.2,25 1.1.1.1,54076 SA seq=5000 ack=${ack}`)!,
      ],
      { filterRules: rules, language: printers },
    )
      .trimEnd()
      .split("\n");
  // The SYN takes one sequence number: 1001 is the exact acknowledgement.
  assert.deepEqual(verdicts(1001), ["pass", "pass"]);
  assert.deepEqual(verdicts(1001 + 66000), ["pass", "pass"]);
  assert.deepEqual(verdicts(1001 + 66001), ["pass", "block return-rst"]);
  assert.deepEqual(verdicts(1001 + 999999), ["pass", "block return-rst"]);
});
