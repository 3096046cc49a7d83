/**
 * One packet's path through an ipf + ipnat rule set, as data: which NAT rule
 * translated it (before/after), every filter rule considered with why it did or
 * did not match, the rule that decided (first `quick` match or last match), and
 * the state entry created. `qjail fw trace` prints this; it is pure so tests
 * and other commands can use it directly.
 *
 * Partners: {@link IpfEngine} (engine.ts) does the evaluation with tracing on;
 * {@link parseFriendlyPacket} and parseTextPacket (packet.ts) build the packet.
 */
import type { FilterRule, NatRule, SourceSpan } from "../ast.js";
import { IpfEngine } from "./engine.js";
import type { NatResult } from "./nat.js";
import {
  formatAddr,
  formatPacketLine,
  IPPROTO_ICMP,
  IPPROTO_TCP,
  IPPROTO_UDP,
  parseV4,
  TH,
  type Packet,
  PacketSyntaxError,
  withKeys,
} from "./packet.js";

export interface TraceRuleRef {
  file: string;
  line: number;
  text: string;
}

export interface TraceEndpoint {
  address: string;
  port: number | null;
}

export interface TraceNat {
  stage: "inbound, before filtering" | "outbound, after filtering";
  considered: { rule: TraceRuleRef; matched: boolean; why: string | null }[];
  applied: { rule: TraceRuleRef; session: "new" | "existing" } | null;
  before: { src: TraceEndpoint; dst: TraceEndpoint };
  after: { src: TraceEndpoint; dst: TraceEndpoint };
  rejected: boolean;
}

export interface PacketTraceReport {
  packet: string;
  direction: "in" | "out";
  interface: string;
  nat: TraceNat[];
  filter: {
    considered: {
      rule: TraceRuleRef;
      matched: boolean;
      why: string | null;
      quick: boolean;
      groupDepth: number;
    }[];
    matchedState: string | null;
    decidedBy: (TraceRuleRef & { how: "quick" | "last match" | "state" }) | null;
  };
  verdict: string;
  stateCreated: string | null;
  stateRefused: string | null;
  result: string;
}

export interface TraceInput {
  ipf: { file: string; text: string; rules: readonly FilterRule[] };
  nat: { file: string; text: string; rules: readonly NatRule[] };
  interfaces: ReadonlyMap<string, bigint>;
}

function ruleRef(file: string, text: string, span: SourceSpan): TraceRuleRef {
  return {
    file,
    line: span.line,
    text: text
      .slice(span.offset, span.offset + span.length)
      .replace(/\s*\\?\n\s*/g, " ")
      .trim(),
  };
}

function endpointsOf(
  p: Packet,
  t: { src: bigint; sport: number; dst: bigint; dport: number },
): { src: TraceEndpoint; dst: TraceEndpoint } {
  const ports = p.proto === IPPROTO_TCP || p.proto === IPPROTO_UDP;
  return {
    src: { address: formatAddr(p.family, t.src), port: ports ? t.sport : null },
    dst: { address: formatAddr(p.family, t.dst), port: ports ? t.dport : null },
  };
}

const PROTO_NAMES: Readonly<Record<string, string>> = {
  "1": "icmp",
  "6": "tcp",
  "17": "udp",
  "58": "ipv6-icmp",
};

/** `tcp 1.1.1.1,40000 > 2.2.2.2,80 S`: printpacket's line without the header fields a trace does not need. */
function describePacket(p: Packet): string {
  return formatPacketLine(p)
    .replace(/^[<>] \S+ ip #\d+ \d+\(\d+\) /, "")
    .replace(/^(\d+) /, (_, n: string) => `${PROTO_NAMES[n] ?? `proto ${n}`} `);
}

/** Evaluate one packet with tracing on and describe what happened. */
export function tracePacket(input: TraceInput, packet: Packet): PacketTraceReport {
  const engine = new IpfEngine(input.ipf.rules, input.nat.rules, {
    interfaces: input.interfaces,
    trace: true,
  });
  const described = describePacket(packet);
  const p = { ...packet };
  const outcome = engine.process(p);
  const t = outcome.trace;
  if (!t) throw new Error("engine did not record a trace");
  const natRef = (r: NatRule): TraceRuleRef => ruleRef(input.nat.file, input.nat.text, r.span);
  const filterRef = (r: FilterRule): TraceRuleRef => ruleRef(input.ipf.file, input.ipf.text, r.span);
  const natStage = (
    stage: TraceNat["stage"],
    steps: typeof t.natIn,
    res: NatResult | undefined,
  ): TraceNat | undefined => {
    if (steps.length === 0 && !res) return undefined;
    const before = res?.before;
    return {
      stage,
      considered: steps.map((s) => ({ rule: natRef(s.rule.ast), matched: s.matched, why: s.why ?? null })),
      applied: res?.session
        ? { rule: natRef(res.session.rule.ast), session: res.created ? "new" : "existing" }
        : null,
      before: endpointsOf(p, before ?? { src: p.src, sport: p.sport ?? 0, dst: p.dst, dport: p.dport ?? 0 }),
      after: endpointsOf(
        p,
        res?.after ?? before ?? { src: p.src, sport: p.sport ?? 0, dst: p.dst, dport: p.dport ?? 0 },
      ),
      rejected: res?.rejected ?? false,
    };
  };
  const nat: TraceNat[] = [];
  const natIn = natStage("inbound, before filtering", t.natIn, outcome.natIn);
  if (natIn) nat.push(natIn);
  const natOut = natStage("outbound, after filtering", t.natOut, outcome.natOut);
  if (natOut) nat.push(natOut);
  let decidedBy: PacketTraceReport["filter"]["decidedBy"] = null;
  const rule = outcome.decidedBy;
  if (rule) {
    const how = t.stateMatched ? "state" : rule.ast.quick ? "quick" : "last match";
    decidedBy = { ...filterRef(rule.ast), how };
  }
  const verdict = outcome.natRejected ? "block (NAT could not translate)" : outcome.verdict;
  const passes = outcome.verdict === "pass" || (outcome.verdict === "nomatch" && !outcome.natRejected);
  return {
    packet: described,
    direction: packet.dir,
    interface: packet.ifname,
    nat,
    filter: {
      considered: t.rules.map((s) => ({
        rule: filterRef(s.rule.ast),
        matched: s.matched,
        why: s.why ?? null,
        quick: s.rule.ast.quick,
        groupDepth: s.depth,
      })),
      matchedState: t.stateMatched ? engine.state.describe(t.stateMatched.entry) : null,
      decidedBy,
    },
    verdict,
    stateCreated: t.stateCreated ? engine.state.describe(t.stateCreated) : null,
    stateRefused: t.stateRefused ?? null,
    result: outcome.routed
      ? `passed and sent out ${outcome.routed.ifname} by the rule's route: ${describePacket(outcome.routed)}`
      : passes
        ? `${outcome.verdict === "nomatch" ? "no rule matched; IPFilter's default (pass) applies" : "passed"}: ${describePacket(p)}`
        : "dropped",
  };
}

const endpointText = (e: TraceEndpoint): string => (e.port === null ? e.address : `${e.address},${e.port}`);

/** The human-readable form `qjail fw trace` prints. */
export function formatTrace(r: PacketTraceReport): string {
  const lines: string[] = [`packet: ${r.direction} on ${r.interface} ${r.packet}`];
  for (const n of r.nat) {
    lines.push(`NAT (${n.stage}):`);
    for (const c of n.considered) {
      lines.push(`  ${c.rule.file}:${c.rule.line}  ${c.rule.text}`);
      lines.push(`      ${c.matched ? "matches" : `no match: ${c.why ?? ""}`}`);
    }
    if (n.applied) {
      lines.push(
        `  translated by ${n.applied.rule.file}:${n.applied.rule.line} (${n.applied.session} session): ${endpointText(n.before.src)} > ${endpointText(n.before.dst)}  =>  ${endpointText(n.after.src)} > ${endpointText(n.after.dst)}`,
      );
    } else if (n.rejected) lines.push("  a rule matched but NAT could not translate the packet");
    else lines.push("  no translation");
  }
  lines.push("filter rules:");
  if (r.filter.matchedState)
    lines.push(`  matched state entry ${r.filter.matchedState}; rules were not consulted`);
  if (r.filter.considered.length === 0 && !r.filter.matchedState)
    lines.push("  (no rules for this direction)");
  for (const c of r.filter.considered) {
    const indent = "  ".repeat(c.groupDepth + 1);
    lines.push(`${indent}${c.rule.file}:${c.rule.line}  ${c.rule.text}`);
    lines.push(
      `${indent}    ${c.matched ? (c.quick ? "matches (quick: stops here)" : "matches (a later match would override)") : `no match: ${c.why ?? ""}`}`,
    );
  }
  if (r.filter.decidedBy)
    lines.push(
      `decided by ${r.filter.decidedBy.file}:${r.filter.decidedBy.line} (${r.filter.decidedBy.how}): ${r.verdict}`,
    );
  else lines.push(`no filter rule matched: ${r.verdict}`);
  if (r.stateCreated) lines.push(`state entry created: ${r.stateCreated}`);
  if (r.stateRefused) lines.push(`no state entry: ${r.stateRefused}`);
  lines.push(`result: ${r.result}`);
  return lines.join("\n") + "\n";
}

const PROTOS: Readonly<Record<string, number>> = { tcp: IPPROTO_TCP, udp: IPPROTO_UDP, icmp: IPPROTO_ICMP };

export interface FriendlyPacketOptions {
  /** Interface name → IPv4 address, for `:PORT` (the interface's own address). */
  interfaces: ReadonlyMap<string, bigint>;
  dstIp?: string;
  flags?: string;
}

/**
 * The friendly packet form: `tcp 203.0.113.9:40000 -> :6188 on em0 [in|out]`
 * (`to` may stand for `->`, which a command line can only pass after `--`).
 * `:PORT` alone means the interface's own address (from --dst-ip or --if-addr).
 * Throws PacketSyntaxError with a message that names the offending word.
 */
export function parseFriendlyPacket(words: readonly string[], opts: FriendlyPacketOptions): Packet {
  const [protoWord, srcWord, arrow, dstWord, ...rest] = words;
  const proto = PROTOS[protoWord ?? ""];
  if (proto === undefined)
    throw new PacketSyntaxError(`protocol must be tcp, udp or icmp, got ${JSON.stringify(protoWord ?? "")}`);
  if (arrow !== "->" && arrow !== "to")
    throw new PacketSyntaxError(
      `expected "->" or "to" between source and destination, got ${JSON.stringify(arrow ?? "")}`,
    );
  let ifname: string | undefined;
  let dir: "in" | "out" = "in";
  for (let i = 0; i < rest.length; i++) {
    const w = rest[i];
    if (w === "on") {
      ifname = rest[++i];
      if (ifname === undefined || !/^[A-Za-z][A-Za-z0-9_.]{0,14}$/.test(ifname))
        throw new PacketSyntaxError(`bad interface name ${JSON.stringify(ifname ?? "")}`);
    } else if (w === "in" || w === "out") dir = w;
    else throw new PacketSyntaxError(`unexpected word ${JSON.stringify(w)}`);
  }
  if (ifname === undefined) throw new PacketSyntaxError('the packet needs "on IFACE"');
  const ports = proto !== IPPROTO_ICMP;
  const endpoint = (w: string | undefined, role: string): [string, number | undefined] => {
    if (w === undefined) throw new PacketSyntaxError(`missing ${role}`);
    const m = /^([^:]*)(?::(\d{1,5}))?$/.exec(w);
    if (!m) throw new PacketSyntaxError(`bad ${role} ${JSON.stringify(w)}: use ADDRESS:PORT`);
    let addr = m[1] ?? "";
    const port = m[2] === undefined ? undefined : Number(m[2]);
    if (port !== undefined && port > 65535)
      throw new PacketSyntaxError(`port ${port} out of range in ${JSON.stringify(w)}`);
    if (ports && port === undefined)
      throw new PacketSyntaxError(`${role} ${JSON.stringify(w)} needs a port (ADDRESS:PORT)`);
    if (addr === "") {
      const own =
        role === "destination" && opts.dstIp !== undefined
          ? parseV4(opts.dstIp)
          : opts.interfaces.get(ifname as string);
      if (own === undefined) {
        throw new PacketSyntaxError(
          `${JSON.stringify(w)} means ${ifname}'s own address, which is not known; give --if-addr ${ifname}=ADDRESS or --dst-ip`,
        );
      }
      addr = formatAddr(4, own);
    }
    if (parseV4(addr) === undefined)
      throw new PacketSyntaxError(`bad IPv4 address ${JSON.stringify(addr)} in ${JSON.stringify(w)}`);
    return [addr, port];
  };
  const [src, sport] = endpoint(srcWord, "source");
  const [dst, dport] = endpoint(dstWord, "destination");
  const flags = opts.flags ?? (proto === IPPROTO_TCP ? "S" : "");
  if (flags !== "" && !/^[FSRPAUEC]+$/.test(flags))
    throw new PacketSyntaxError(`TCP flags must be letters of FSRPAUEC, got ${JSON.stringify(flags)}`);
  let tcpFlags = 0;
  for (const c of flags) tcpFlags |= TH[c as keyof typeof TH];
  const family = 4 as const;
  return withKeys({
    family,
    dir,
    ifname,
    proto,
    src: parseV4(src) as bigint,
    dst: parseV4(dst) as bigint,
    sport: ports ? sport : undefined,
    dport: ports ? dport : undefined,
    tcpFlags: proto === IPPROTO_TCP ? tcpFlags : 0,
    seq: 0,
    ack: 0,
    icmpType: proto === IPPROTO_ICMP ? 8 : undefined,
    icmpCode: proto === IPPROTO_ICMP ? 0 : undefined,
    icmpId: 0,
    id: 0,
    len: proto === IPPROTO_TCP ? 40 : proto === IPPROTO_UDP ? 28 : 48,
    hlen: 20,
    ttl: 63,
    optBits: 0,
    secBits: 0,
    fragOff: 0,
    moreFrags: false,
    raw: undefined,
    ifAddress: undefined,
    bad: false,
    short: false,
    flaggedBad: false,
    v6Headers: [],
    inner: undefined,
    srcKeyOf: -1n,
    srcKey: -0.5,
    dstKeyOf: -1n,
    dstKey: -0.5,
  });
}
