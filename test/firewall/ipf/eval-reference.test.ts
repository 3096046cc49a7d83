/**
 * The evaluator against a reference: the engine, state table and NAT table as
 * they were on main at 18a9f8b (test/firewall/ipf/reference/, one object per
 * state entry and per NAT session, kept unchanged as the oracle) against
 * today's (entries and sessions as rows of typed arrays, refilled outcome and
 * NAT result objects). Both get the same packets; every packet must come to
 * the same verdict, deciding rule, NAT refusal and rewritten packet, and the
 * state table, NAT sessions, hostmap and hit counters must be the same after
 * the stream — on IPFilter's regression rules and packets
 * (../shared/corpus/ipfilter, read at run time) and on a randomized stream
 * (fixed seeds) of flows through the bench's many-jail rules with state, NAT,
 * closing TCP flows, ICMP errors and a state table that fills up.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { regressionCases, skipWithoutCorpus } from "./regression-cases.js";
import { parseIpf, parseIpnat } from "../../../src/firewall/ipf/index.js";
import { IpfEngine } from "../../../src/firewall/ipf/eval/engine.js";
import {
  clonePacket,
  copyPacketInto,
  formatPacketLine,
  parseTextPacket,
  parseV4,
  readHexPackets,
  withKeys,
  type Packet,
} from "../../../src/firewall/ipf/eval/packet.js";
import type { FilterRule, NatRule } from "../../../src/firewall/ipf/ast.js";
import { IpfEngine as ReferenceEngine } from "./reference/engine.js";
import { generateRules } from "../../../bench/ipf-eval.bench.js";

const skip = skipWithoutCorpus;

interface Outcome {
  verdict: string;
  decidedBy: { number: number } | undefined;
  natRejected: boolean;
  packet: Packet;
  routed: Packet | undefined;
}

const key = (o: Outcome): string =>
  [
    o.verdict,
    o.decidedBy?.number ?? "-",
    o.natRejected,
    formatPacketLine(o.packet),
    o.packet.inner
      ? JSON.stringify(o.packet.inner, (_, v: unknown) => (typeof v === "bigint" ? `${v}` : v))
      : "-",
    o.routed ? formatPacketLine(o.routed) : "-",
  ].join(" | ");

interface Tables {
  filters: { rules: readonly { hits: number }[] };
  nat: {
    rules: readonly { hits: number }[];
    dumpSessions(): string[];
    dumpHostmap(): string[];
    sessions: readonly { rule: { number: number }; kind: string; dir: string }[];
  };
  state: {
    entries: readonly {
      family: number;
      proto: number;
      src: bigint;
      dst: bigint;
      sport: number;
      dport: number;
      pkts: readonly number[];
      bytes: readonly number[];
      ifnames: readonly string[];
      tcpState: readonly number[];
      closing: boolean;
      sawReply: boolean;
      verdict: string;
      dir: string;
      icmpType: number;
      icmpId: number;
      replyOptBits: number | undefined;
      routeIf: string | undefined;
      rule: { number: number };
    }[];
  };
}

/** Everything the tables hold, as text two engines can be compared by. */
function tables(e: Tables): string {
  return JSON.stringify(
    {
      filterHits: e.filters.rules.map((r) => r.hits),
      natHits: e.nat.rules.map((r) => r.hits),
      sessions: e.nat.dumpSessions(),
      sessionRules: e.nat.sessions.map((s) => `${s.rule.number} ${s.kind} ${s.dir}`),
      hostmap: e.nat.dumpHostmap(),
      state: e.state.entries.map((s) => [
        s.family,
        s.proto,
        s.src,
        s.dst,
        s.sport,
        s.dport,
        s.pkts,
        s.bytes,
        s.ifnames,
        s.tcpState,
        s.closing,
        s.sawReply,
        s.verdict,
        s.dir,
        s.icmpType,
        s.icmpId,
        s.replyOptBits ?? "-",
        s.routeIf ?? "-",
        s.rule.number,
      ]),
    },
    (_, v: unknown) => (typeof v === "bigint" ? `${v}` : v),
  );
}

type Options = ConstructorParameters<typeof IpfEngine>[2];

/**
 * Feed the packets to both engines (each its own copy; today's engine through
 * one reused packet object, as the bench does); the first difference, or
 * undefined. `next` may make the stream depend on what happened (replies to
 * translated flows); it sees the reference's outcome.
 */
function compare(
  ipf: readonly FilterRule[],
  nat: readonly NatRule[],
  packets: Iterable<Packet>,
  opts: Options = {},
  onOutcome?: (o: Outcome) => void,
): string | undefined {
  const fast = new IpfEngine(ipf, nat, opts);
  const ref = new ReferenceEngine(ipf, nat, opts);
  const work = parseTextPacket("in on x0 tcp 1.1.1.1,1 2.2.2.2,2") as Packet;
  let i = 0;
  for (const p of packets) {
    i++;
    const a = key(fast.process(copyPacketInto(work, p)));
    fast.endOfPacket();
    const refOutcome = ref.process(clonePacket(p));
    ref.endOfPacket();
    const b = key(refOutcome);
    if (a !== b) return `packet ${i} (${formatPacketLine(p)}):\n  new:       ${a}\n  reference: ${b}`;
    onOutcome?.(refOutcome);
    if (i % 500 === 0) {
      const [ta, tb] = [tables(fast as unknown as Tables), tables(ref as unknown as Tables)];
      if (ta !== tb) return `tables differ after packet ${i}:\n  new:       ${ta}\n  reference: ${tb}`;
    }
  }
  const [ta, tb] = [tables(fast as unknown as Tables), tables(ref as unknown as Tables)];
  return ta === tb ? undefined : `tables differ at the end:\n  new:       ${ta}\n  reference: ${tb}`;
}

test("evaluator = reference evaluator on IPFilter's regression rules and packets", { skip }, () => {
  let compared = 0;
  for (const { name, packets, filter, nat } of regressionCases()) {
    const interfaces = new Map<string, bigint>();
    for (const p of packets) if (p.ifAddress !== undefined) interfaces.set(p.ifname, p.ifAddress);
    const diff = compare(filter ?? [], nat ?? [], packets, { interfaces });
    assert.equal(diff, undefined, `${name}: ${diff}`);
    // A full state table: refusals, and the same entries kept.
    const small = compare(filter ?? [], nat ?? [], packets, {
      interfaces,
      tunables: new Map([["state_max", 2]]),
    });
    assert.equal(small, undefined, `${name} (state_max 2): ${small}`);
    compared++;
  }
  assert.ok(compared >= 50, `only ${compared} corpus cases compared`);
});

/** mulberry32: a small seeded generator, so a failure can be replayed. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const PUBLIC = "198.51.100.1";

/** The bench's rules plus ICMP and a second interface, so more of the tables' paths are taken. */
function ruleSet(): { ipf: FilterRule[]; nat: NatRule[]; jails: number } {
  const g = generateRules(100);
  const ipf = parseIpf(
    [
      "pass in quick on em0 proto icmp from any to any icmp-type echo keep state",
      "pass out quick on em0 proto icmp from any to any icmp-type echo keep state",
      "pass in quick on em1 proto tcp from any to any flags S keep state",
      "pass in quick on em1 proto udp from any to any keep state",
      g.ipf,
    ].join("\n"),
  );
  const nat = parseIpnat(
    [
      g.ipnat,
      "map em1 10.0.0.0/16 -> 192.0.2.200/32",
      "rdr em1 0/0 port 8000:8010 -> 10.0.0.9 port 8000 tcp",
    ].join("\n"),
  );
  const errors = [...ipf.diagnostics, ...nat.diagnostics].filter((d) => d.severity === "error");
  assert.deepEqual(errors, []);
  return { ipf: ipf.rules, nat: nat.rules, jails: g.jails };
}

function jailAddress(i: number): string {
  return `10.0.${Math.floor(i / 250)}.${(i % 250) + 2}`;
}

/**
 * A randomized stream: new connections (to rdr'd public ports, straight to
 * jails, to closed ports), their replies and later segments (ACK, FIN, RST:
 * closing entries are flushed and their rows reused), outbound udp and its
 * replies to the mapped address, ICMP echo, and ICMP errors quoting earlier
 * packets as they were on the wire.
 */
function* stream(seed: number, count: number, jails: number, seen: Packet[]): Generator<Packet> {
  const rnd = random(seed);
  const pick = <T>(a: readonly T[]): T => a[Math.floor(rnd() * a.length)] as T;
  const client = (): string => `203.0.113.${1 + Math.floor(rnd() * 40)}`;
  const port = (): number => 30000 + Math.floor(rnd() * 50);
  const line = (text: string): Packet => parseTextPacket(text) as Packet;
  const ifs = ["em0", "em0", "em0", "em1"];
  for (let n = 0; n < count; n++) {
    const jail = Math.floor(rnd() * jails);
    const ifname = pick(ifs);
    const r = rnd();
    let p: Packet;
    if (r < 0.2) {
      const dport = rnd() < 0.8 ? 20000 + jail : 8000 + Math.floor(rnd() * 12);
      p = line(`in on ${ifname} tcp ${client()},${port()} ${PUBLIC},${dport} S`);
    } else if (r < 0.3) {
      p = line(`in on ${ifname} tcp ${client()},${port()} ${jailAddress(jail)},80 S`);
    } else if (r < 0.55 && seen.length > 0) {
      // A later segment of a flow seen after NAT, either way, sometimes closing it.
      const q = pick(seen);
      const flags = pick(["A", "A", "PA", "SA", "FA", "R", "A"]);
      const back = rnd() < 0.6;
      const from = back ? q.dst : q.src;
      const to = back ? q.src : q.dst;
      const fromPort = back ? q.dport : q.sport;
      const toPort = back ? q.sport : q.dport;
      const dir = (q.dir === "in") === back ? "out" : "in";
      const proto = q.proto === 17 ? "udp" : "tcp";
      const fmt = (a: bigint): string => [24n, 16n, 8n, 0n].map((s) => String((a >> s) & 255n)).join(".");
      p = line(
        `${dir} on ${q.ifname} ${proto} ${fmt(from)},${fromPort ?? 0} ${fmt(to)},${toPort ?? 0}${proto === "tcp" ? ` ${flags}` : ""}`,
      );
      p.ack = Math.floor(rnd() * 4) === 0 ? Math.floor(rnd() * 2 ** 32) : 1;
    } else if (r < 0.7) {
      p = line(`out on ${ifname} udp ${jailAddress(jail)},${port()} 192.0.2.${1 + Math.floor(rnd() * 5)},53`);
    } else if (r < 0.78) {
      p = line(`in on ${ifname} udp ${client()},${port()} ${jailAddress(jail)},53`);
    } else if (r < 0.85) {
      p =
        rnd() < 0.5
          ? line(`in on em0 icmp ${client()} ${jailAddress(jail)} echo`)
          : line(`out on em0 icmp ${jailAddress(jail)} ${client()} ${rnd() < 0.5 ? "echorep" : "echo"}`);
    } else if (r < 0.93 && seen.length > 0) {
      // An ICMP error about an earlier packet (as it was on the wire), sent back to its source.
      const q = pick(seen);
      p = line(`${q.dir === "in" ? "out" : "in"} on ${q.ifname} icmp 192.0.2.99 1.1.1.1 unreach,3`);
      p.dst = q.src;
      p.inner = { proto: q.proto, src: q.src, dst: q.dst, sport: q.sport, dport: q.dport };
      withKeys(p);
    } else {
      p = line(`in on ${ifname} tcp ${client()},${port()} ${PUBLIC},${10000 + Math.floor(rnd() * 100)} S`);
    }
    yield p;
  }
}

test("evaluator = reference evaluator on randomized flows with state and NAT", () => {
  const { ipf, nat, jails } = ruleSet();
  const interfaces = new Map([
    ["em0", parseV4(PUBLIC) as bigint],
    ["em1", parseV4("192.0.2.250") as bigint],
  ]);
  for (const [seed, stateMax] of [
    [1, undefined],
    [2, undefined],
    [3, 300],
    [4, 40],
  ] as const) {
    const seen: Packet[] = [];
    const diff = compare(
      ipf,
      nat,
      stream(seed, 6000, jails, seen),
      { interfaces, ...(stateMax ? { tunables: new Map([["state_max", stateMax]]) } : {}) },
      (o) => {
        // Remember passed tcp/udp packets as they left NAT, for later segments and ICMP errors.
        if (
          (o.verdict === "pass" || o.verdict === "nomatch") &&
          (o.packet.proto === 6 || o.packet.proto === 17)
        )
          seen.push(clonePacket(o.packet));
        if (seen.length > 400) seen.splice(0, 100);
      },
    );
    assert.equal(diff, undefined, `seed ${seed}${stateMax ? `, state_max ${stateMax}` : ""}: ${diff}`);
  }
});

test("copyPacketInto copies every field clonePacket does", () => {
  const sources = [
    parseTextPacket("in on em0 tcp 1.2.3.4,1000 5.6.7.8,80 SA") as Packet,
    ...readHexPackets(
      "[out,le0=192.168.1.188]\n4500 0054 0000 4000 4001 0000 c0a8 0101 c0a8 0102\n0800 0000 4242 0001\n",
    ),
  ];
  const withInner = parseTextPacket("in on em0 icmp 1.1.1.1 2.2.2.2 unreach,3") as Packet;
  withInner.inner = { proto: 6, src: 2n, dst: 3n, sport: 4, dport: 5 };
  sources.push(withInner);
  for (const src of sources) {
    const target = clonePacket(src);
    // Every field poisoned: one the copy forgets stays a symbol.
    for (const k of Object.keys(target)) (target as unknown as Record<string, unknown>)[k] = Symbol(k);
    const copy = copyPacketInto(target, src);
    assert.deepEqual(copy, clonePacket(src));
    if (src.inner) assert.notEqual(copy.inner, src.inner, "the quoted packet is copied, not shared");
  }
});
