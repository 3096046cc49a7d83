/**
 * ipf filter rule evaluation with IPFilter's semantics (fil.c ipf_scanlist):
 * the last matching rule decides unless a matching rule is `quick`; a rule with
 * `head G` runs group G's rules and takes their result if one matched; `skip N`
 * jumps over N rules; `log` rules never change the decision; `count` rules live
 * in the separate accounting lists.
 *
 * Rules are compiled once from the AST (src/firewall/ipf/ast.ts) so the per
 * packet work is integer compares. Every test can say why it failed, which is
 * what `qjail fw trace` prints.
 */
import type { FilterRule } from "../ast.js";
import {
  compileAddressMatch,
  describePort,
  portMatches,
  type AddressContext,
  type AddressTest,
} from "./address.js";
import {
  IP_OPTIONS,
  IPPROTO_ICMP,
  IPPROTO_ICMPV6,
  IPPROTO_TCP,
  IPPROTO_UDP,
  SEC_CLASSES,
  type Family,
  type Packet,
} from "./packet.js";
import type { PortMatch } from "../ast.js";
import { IPV6_HEADERS } from "../impl/tables.js";
import { IntTable } from "./hashslots.js";

/** What ipftest prints for a filter decision (ip_fil.c/ipftest.c result codes). */
export type Verdict =
  | "pass"
  | "block"
  | "nomatch"
  | "bad-packet"
  | "block return-rst"
  | "block return-icmp"
  | "block return-icmp-as-dest"
  | "auth"
  | "preauth"
  | "account";

interface CompiledEndpoint {
  negated: boolean;
  address: AddressTest;
  port: PortMatch | null;
}

/** One filter rule ready for matching, with its hit counter (printed by the -D dump). */
export interface CompiledFilterRule {
  ast: FilterRule;
  /** 1-based position in the rule file(s) as loaded. */
  number: number;
  dir: "in" | "out";
  family: Family | null;
  proto: number | "tcpudp" | null;
  from: CompiledEndpoint;
  to: CompiledEndpoint;
  optMask: number;
  optBits: number;
  secMask: number;
  secBits: number;
  /** with/without ipopts, frag, short…: [name, wanted] pairs. */
  flagTests: { name: string; wanted: boolean }[];
  /** `with [not] v6hdr X,Y`: extension header next-header numbers and whether each must be present. */
  v6HeaderTests: { proto: number; wanted: boolean }[];
  hits: number;
  /** The group this rule heads, resolved after loading. */
  headList: CompiledFilterRule[] | undefined;
  /** `keep state`, `keep frags`, `to …` given (read per packet: kept here rather than looked up in the AST). */
  keepState: boolean;
  keepFrags: boolean;
  routes: boolean;
}

export function compileFilterRule(ast: FilterRule, number: number, ctx: AddressContext): CompiledFilterRule {
  let family: Family | null = ast.family === "inet" ? 4 : ast.family === "inet6" ? 6 : null;
  const proto = ast.proto === null ? null : ast.proto.kind === "tcpudp" ? "tcpudp" : ast.proto.number;
  let optMask = 0;
  let optBits = 0;
  let secMask = 0;
  let secBits = 0;
  const flagTests: { name: string; wanted: boolean }[] = [];
  const v6HeaderTests: { proto: number; wanted: boolean }[] = [];
  for (const w of ast.with) {
    if (w.name === "v6hdr") {
      for (const o of w.options) {
        const h = IPV6_HEADERS.find((x) => x.name === o);
        if (h) v6HeaderTests.push({ proto: h.proto, wanted: !w.negated });
      }
    } else if (w.name === "opt") {
      for (const o of w.options) {
        if (o === "sec-class") continue;
        const bit = IP_OPTIONS[o]?.bit ?? 0;
        optMask |= bit;
        if (!w.negated) optBits |= bit;
      }
      for (const c of w.secClasses) {
        const bit = SEC_CLASSES[c]?.bit ?? 0;
        secMask |= bit;
        if (!w.negated) secBits |= bit;
      }
    } else {
      flagTests.push({ name: w.name, wanted: !w.negated });
    }
  }
  if (family === null && ast.familyImplied) family = null;
  return {
    ast,
    number,
    dir: ast.direction,
    family,
    proto,
    from: {
      negated: ast.from.negated,
      address: compileAddressMatch(ast.from.address, ctx),
      port: ast.from.port,
    },
    to: { negated: ast.to.negated, address: compileAddressMatch(ast.to.address, ctx), port: ast.to.port },
    optMask,
    optBits,
    secMask,
    secBits,
    flagTests,
    v6HeaderTests,
    hits: 0,
    headList: undefined,
    keepState: ast.keepState !== null && ast.keepState !== undefined,
    keepFrags: ast.keepFrags !== null && ast.keepFrags !== undefined,
    routes: ast.routeTo !== null && ast.routeTo !== undefined,
  };
}

function packetFlag(p: Packet, name: string): boolean {
  switch (name) {
    case "ipopts":
      return p.optBits !== 0;
    case "frag":
    case "frags":
      return p.fragOff !== 0 || p.moreFrags;
    case "frag-body":
      return p.fragOff !== 0;
    case "short":
      return p.short;
    case "bad":
      return p.flaggedBad;
    default:
      return false;
  }
}

const hasPorts = (p: Packet): boolean =>
  (p.proto === IPPROTO_TCP || p.proto === IPPROTO_UDP) && p.fragOff === 0;

/** What {@link whyNoMatch} returns for a failed test when no explanation was asked for. */
const NO_MATCH = "no match";

/**
 * Why the rule does not match this packet, or undefined when it matches.
 * Without `explain` every failure is the constant NO_MATCH, so the per-packet
 * path builds no strings; traces ask for the reason.
 */
export function whyNoMatch(r: CompiledFilterRule, p: Packet, explain = true): string | undefined {
  const a = r.ast;
  const no = (reason: () => string): string => (explain ? reason() : NO_MATCH);
  if (r.dir !== p.dir) return no(() => `rule is for ${r.dir}bound packets`);
  if (a.on.length > 0 && a.on[0]?.name !== p.ifname && !(a.on[0]?.name === "*"))
    return no(() => `interface is ${p.ifname}, rule wants ${a.on[0]?.name}`);
  if (r.family !== null && r.family !== p.family) return no(() => `address family is IPv${p.family}`);
  if (r.proto !== null) {
    if (r.proto === "tcpudp") {
      if (p.proto !== IPPROTO_TCP && p.proto !== IPPROTO_UDP)
        return no(() => `protocol ${p.proto} is not tcp/udp`);
    } else if (r.proto !== p.proto) return no(() => `protocol ${p.proto} is not ${r.proto}`);
  }
  if (a.tos !== null) return no(() => "packet TOS differs");
  if (a.ttl !== null && a.ttl !== p.ttl) return no(() => `TTL ${p.ttl} is not ${a.ttl}`);
  if (r.from.address.test(p.family, p.src) === r.from.negated)
    return no(() => `source is not ${r.from.negated ? "!" : ""}${r.from.address.describe}`);
  if (r.to.address.test(p.family, p.dst) === r.to.negated)
    return no(() => `destination is not ${r.to.negated ? "!" : ""}${r.to.address.describe}`);
  const fromPort = r.from.port;
  if (fromPort && (!hasPorts(p) || !portMatches(fromPort, p.sport ?? 0)))
    return no(() => `source port ${p.sport ?? "-"} fails ${describePort(fromPort)}`);
  const toPort = r.to.port;
  if (toPort && (!hasPorts(p) || !portMatches(toPort, p.dport ?? 0)))
    return no(() => `destination port ${p.dport ?? "-"} fails ${describePort(toPort)}`);
  if ((p.optBits & r.optMask) !== r.optBits) return no(() => "IP options differ");
  if ((p.secBits & r.secMask) !== r.secBits) return no(() => "IP security class differs");
  for (const t of r.flagTests)
    if (packetFlag(p, t.name) !== t.wanted)
      return no(() => `${t.wanted ? "needs" : "must not have"} ${t.name}`);
  for (const t of r.v6HeaderTests)
    if (p.v6Headers.includes(t.proto) !== t.wanted)
      return no(() => `${t.wanted ? "needs" : "must not have"} IPv6 extension header ${t.proto}`);
  if (a.flags) {
    if (p.proto !== IPPROTO_TCP) return no(() => "flags test needs TCP");
    if ((p.tcpFlags & a.flags.mask) !== a.flags.set) return no(() => "TCP flags differ");
  }
  const icmp = a.icmp;
  if (icmp) {
    if (p.proto !== IPPROTO_ICMP && p.proto !== IPPROTO_ICMPV6) return no(() => "icmp-type needs ICMP");
    if (p.icmpType !== icmp.type) return no(() => `ICMP type ${p.icmpType ?? "-"} is not ${icmp.type}`);
    if (icmp.code !== null && p.icmpCode !== icmp.code)
      return no(() => `ICMP code ${p.icmpCode ?? "-"} is not ${icmp.code}`);
  }
  return undefined;
}

/** The decision a matching rule gives (FR_* flags reduced to what the evaluator needs). */
export interface Decision {
  verdict: Verdict;
  quick: boolean;
  rule: CompiledFilterRule | undefined;
}

export interface RuleStep {
  rule: CompiledFilterRule;
  matched: boolean;
  why: string | undefined;
  /** Depth in head/group nesting, 0 for the main list. */
  depth: number;
}

export function verdictOf(r: CompiledFilterRule): Verdict {
  const act = r.ast.action;
  switch (act.kind) {
    case "pass":
      return "pass";
    case "block":
      return act.return === null ? "block" : (`block ${act.return.kind}` as Verdict);
    case "auth":
      return "auth";
    case "preauth":
      return "preauth";
    case "count":
      return "account";
    default:
      return "nomatch";
  }
}

/**
 * `call now srcgrpmap/N` / `dstgrpmap/N`: the group an ippool group-map sends
 * this packet to, found by its source or destination address.
 */
export interface GroupCalls {
  groupFor(func: string, p: Packet): string | undefined;
  groups: ReadonlyMap<string, CompiledFilterRule[]>;
}

/**
 * Walk one rule list (the main list or a group) the way ipf_scanlist does.
 * `current` is the decision so far; the result is the new decision and
 * whether any rule in this list matched.
 */
export function scanList(
  list: readonly CompiledFilterRule[],
  p: Packet,
  current: Decision,
  steps: RuleStep[] | undefined,
  depth = 0,
  calls?: GroupCalls,
): { decision: Decision; matched: boolean } {
  let decision = current;
  let matched = false;
  let skip = 0;
  for (const r of list) {
    if (skip > 0) {
      skip--;
      continue;
    }
    const why = whyNoMatch(r, p, steps !== undefined);
    steps?.push({ rule: r, matched: why === undefined, why, depth });
    if (why !== undefined) continue;
    const act = r.ast.action;
    if (act.kind === "skip") {
      skip = act.count;
      continue;
    }
    r.hits++;
    if (act.kind === "call") {
      const group = act.now ? calls?.groupFor(act.func, p) : undefined;
      const list = group !== undefined ? calls?.groups.get(`${p.dir}:${group}`) : undefined;
      if (list) {
        const sub = scanList(list, p, decision, steps, depth + 1, calls);
        if (sub.matched) {
          decision = sub.decision;
          matched = true;
          // ipftest counts the rule a group-map call lands on twice: once in the
          // group scan, once more when the call's result is taken (expected/p3).
          if (sub.decision.rule) sub.decision.rule.hits++;
        }
      }
      if (decision.quick) break;
      continue;
    }
    matched = true;
    if (act.kind !== "log" && act.kind !== "decapsulate") {
      decision = { verdict: verdictOf(r), quick: r.ast.quick, rule: r };
    }
    if (r.headList) {
      const sub = scanList(r.headList, p, decision, steps, depth + 1, calls);
      if (sub.matched) decision = sub.decision;
    }
    if (decision.quick) break;
  }
  return { decision, matched };
}

/** Rule lists per direction: the top level, the groups, and the accounting rules. */
export interface FilterSet {
  rules: CompiledFilterRule[];
  main: { in: CompiledFilterRule[]; out: CompiledFilterRule[] };
  accounting: { in: CompiledFilterRule[]; out: CompiledFilterRule[] };
  groups: Map<string, CompiledFilterRule[]>;
}

/**
 * The order ipf keeps rules in: each list (direction, group, accounting) is
 * sorted by the leading "collect" number (`100 pass in …`, none = 0), and
 * within one collect number `@N` inserts the rule at position N instead of
 * appending it (fil.c frrequest).
 */
export function loadOrder(asts: readonly FilterRule[]): { ast: FilterRule; number: number }[] {
  const lists = new Map<string, { ast: FilterRule; number: number }[]>();
  asts.forEach((ast, i) => {
    const key = `${ast.direction}|${ast.action.kind === "count" ? "acct" : (ast.group ?? "")}|${ast.collect ?? 0}`;
    let list = lists.get(key);
    if (!list) lists.set(key, (list = []));
    const entry = { ast, number: i + 1 };
    if (ast.insertAt !== null) list.splice(Math.min(ast.insertAt, list.length), 0, entry);
    else list.push(entry);
  });
  return [...lists.entries()]
    .sort(([a], [b]) => {
      const [da, ga, ca] = a.split("|");
      const [db, gb, cb] = b.split("|");
      return (
        (da ?? "").localeCompare(db ?? "") || (ga ?? "").localeCompare(gb ?? "") || Number(ca) - Number(cb)
      );
    })
    .flatMap(([, list]) => list);
}

export function buildFilterSet(asts: readonly FilterRule[], ctx: AddressContext): FilterSet {
  const set: FilterSet = {
    rules: [],
    main: { in: [], out: [] },
    accounting: { in: [], out: [] },
    groups: new Map(),
  };
  const needsOrdering = asts.some((a) => a.collect !== null || a.insertAt !== null);
  const ordered = needsOrdering ? loadOrder(asts) : asts.map((ast, i) => ({ ast, number: i + 1 }));
  for (const { ast, number } of ordered) {
    const r = compileFilterRule(ast, number, ctx);
    set.rules.push(r);
    const group = ast.group;
    if (ast.action.kind === "count") {
      set.accounting[r.dir].push(r);
    } else if (group !== null && group !== "0") {
      const key = `${r.dir}:${group}`;
      let g = set.groups.get(key);
      if (!g) set.groups.set(key, (g = []));
      g.push(r);
    } else {
      set.main[r.dir].push(r);
    }
  }
  for (const r of set.rules) {
    if (r.ast.head !== null) {
      const key = `${r.dir}:${r.ast.head}`;
      let g = set.groups.get(key);
      if (!g) set.groups.set(key, (g = []));
      r.headList = g;
    }
  }
  return set;
}

// ---------------------------------------------------------------------------
// The compiled fast path: per list, an index and a predicate per rule
// ---------------------------------------------------------------------------

/**
 * A compiled rule test over the packet and its IPv4 source/destination as
 * signed 32-bit ints (hash.ts srcKey/dstKey: never a boxed number; unused for
 * IPv6 packets).
 */
type Predicate = (p: Packet, s: number, d: number) => boolean;

const EMPTY = new Int32Array(0);
/** What a matching rule does in {@link FastRuleList.scan}: decide, jump (`skip`), call a group, or only match (`log`, `decapsulate`). */
const K_DECIDE = 0;
const K_SKIP = 1;
const K_CALL = 2;
const K_KEEP = 3;
const END = 0x7fffffff;

/** An IPv4 address test as numbers, or null when the address is not a plain IPv4 network or any. */
function v4Test(m: FilterRule["from"]["address"]): { net: number; mask: number; any: boolean } | null {
  if (m.kind === "any") return { net: 0, mask: 0, any: true };
  if (m.kind !== "cidr" || m.family !== "inet") return null;
  const toNum = (t: string): number => t.split(".").reduce((acc, o) => acc * 256 + Number(o), 0);
  // Signed int32, as the packet's address keys are.
  const mask = toNum(m.mask) | 0;
  return { net: toNum(m.address) & mask, mask, any: m.prefix === 0 && toNum(m.address) === 0 };
}

function portTest(m: PortMatch | null): ((port: number) => boolean) | null {
  if (m === null) return null;
  if (m.kind === "compare") {
    const v = m.port;
    switch (m.op) {
      case "=":
        return (x) => x === v;
      case "!=":
        return (x) => x !== v;
      case "<":
        return (x) => x < v;
      case ">":
        return (x) => x > v;
      case "<=":
        return (x) => x <= v;
      case ">=":
        return (x) => x >= v;
    }
  }
  const { low, high } = m;
  if (m.op === ":") return (x) => x >= low && x <= high;
  if (m.op === "><") return (x) => x > low && x < high;
  return (x) => x < low || x > high;
}

/**
 * The same test as {@link whyNoMatch} (without the reasons), specialised for
 * the rule: only the checks it needs, IPv4 addresses as 32-bit numbers. Rules
 * with tests the specialised form does not cover use whyNoMatch itself.
 */
function compilePredicate(r: CompiledFilterRule): Predicate {
  const a = r.ast;
  const generic: Predicate = (p) => whyNoMatch(r, p, false) === undefined;
  if (
    a.tos !== null ||
    r.optMask !== 0 ||
    r.secMask !== 0 ||
    r.flagTests.length > 0 ||
    r.v6HeaderTests.length > 0
  )
    return generic;
  const src = v4Test(a.from.address);
  const dst = v4Test(a.to.address);
  if (src === null || dst === null) return generic;
  const ifname = a.on.length > 0 && a.on[0]?.name !== "*" ? (a.on[0]?.name ?? null) : null;
  const family = r.family;
  // A plain IPv4 network only matches IPv4 packets; `any` matches both.
  const needV4 = !src.any || !dst.any;
  const proto = r.proto;
  const ttl = a.ttl;
  const sNeg = a.from.negated;
  const dNeg = a.to.negated;
  const sport = portTest(a.from.port);
  const dport = portTest(a.to.port);
  const flags = a.flags;
  const icmp = a.icmp;
  return (p, s, d) => {
    if (ifname !== null && p.ifname !== ifname) return false;
    if (family !== null && family !== p.family) return false;
    if (proto !== null) {
      if (proto === "tcpudp") {
        if (p.proto !== IPPROTO_TCP && p.proto !== IPPROTO_UDP) return false;
      } else if (proto !== p.proto) return false;
    }
    if (ttl !== null && ttl !== p.ttl) return false;
    if (needV4 && p.family !== 4) {
      // An IPv4 network never contains an IPv6 address: only a negated one lets it through.
      if (!src.any && !sNeg) return false;
      if (!dst.any && !dNeg) return false;
    } else {
      if (src.any ? sNeg : ((s & src.mask) === src.net) === sNeg) return false;
      if (dst.any ? dNeg : ((d & dst.mask) === dst.net) === dNeg) return false;
    }
    if (sport !== null || dport !== null) {
      const ports = (p.proto === IPPROTO_TCP || p.proto === IPPROTO_UDP) && p.fragOff === 0;
      if (sport !== null && (!ports || !sport(p.sport ?? 0))) return false;
      if (dport !== null && (!ports || !dport(p.dport ?? 0))) return false;
    }
    if (flags !== null) {
      if (p.proto !== IPPROTO_TCP) return false;
      if ((p.tcpFlags & flags.mask) !== flags.set) return false;
    }
    if (icmp !== null) {
      if (p.proto !== IPPROTO_ICMP && p.proto !== IPPROTO_ICMPV6) return false;
      if (p.icmpType !== icmp.type) return false;
      if (icmp.code !== null && p.icmpCode !== icmp.code) return false;
    }
    return true;
  };
}

/** A single IPv4 host (a /32, not negated) the rule requires on one side, as a number, or undefined. */
function hostKey(m: FilterRule["from"]): number | undefined {
  if (m.negated || m.address.kind !== "cidr" || m.address.family !== "inet" || m.address.prefix !== 32)
    return undefined;
  return m.address.address.split(".").reduce((acc, o) => acc * 256 + Number(o), 0);
}

/**
 * One rule list (a direction's main list, a group, accounting) compiled for
 * the per-packet path: a predicate per rule, and an index so a packet looks
 * only at rules that can match it — rules that require one destination host
 * are filed under it, rules that require one source host under that, the
 * rest are looked at for every packet. Candidates are visited in list order,
 * so quick, skip, head and call behave as in {@link scanList}.
 */
export class FastRuleList {
  readonly preds: Predicate[];
  /** What each rule decides when it matches (shared, never changed). */
  private readonly decisions: Decision[];
  /** Per rule: what a match does (K_* below), and how many rules a `skip` jumps. */
  private readonly kinds: Uint8Array;
  private readonly skips: Int32Array;
  private readonly wild: Int32Array;
  private readonly byDst: IntTable<Int32Array>;
  private readonly bySrc: IntTable<Int32Array>;
  /** Set by {@link scan}: whether a rule of this list matched. */
  matched = false;

  constructor(readonly rules: readonly CompiledFilterRule[]) {
    this.preds = rules.map(compilePredicate);
    this.decisions = rules.map((r) => ({ verdict: verdictOf(r), quick: r.ast.quick, rule: r }));
    this.kinds = Uint8Array.from(rules, (r) => {
      const kind = r.ast.action.kind;
      return kind === "skip"
        ? K_SKIP
        : kind === "call"
          ? K_CALL
          : kind === "log" || kind === "decapsulate"
            ? K_KEEP
            : K_DECIDE;
    });
    this.skips = Int32Array.from(rules, (r) => (r.ast.action.kind === "skip" ? r.ast.action.count : 0));
    const wild: number[] = [];
    const dst = new Map<number, number[]>();
    const src = new Map<number, number[]>();
    rules.forEach((r, i) => {
      const dk = r.family === 6 ? undefined : hostKey(r.ast.to);
      const sk = dk === undefined && r.family !== 6 ? hostKey(r.ast.from) : undefined;
      if (r.ast.expression || r.ast.action.kind === "skip") wild.push(i);
      else if (dk !== undefined) (dst.get(dk) ?? dst.set(dk, []).get(dk)!).push(i);
      else if (sk !== undefined) (src.get(sk) ?? src.set(sk, []).get(sk)!).push(i);
      else wild.push(i);
    });
    this.wild = Int32Array.from(wild);
    this.byDst = new IntTable([...dst].map(([k, v]) => [k, Int32Array.from(v)]));
    this.bySrc = new IntTable([...src].map(([k, v]) => [k, Int32Array.from(v)]));
  }

  /** ipf_scanlist over the candidates; the result is the new decision, `matched` tells whether any rule matched. */
  scan(
    p: Packet,
    s: number,
    d: number,
    current: Decision,
    fast: FastFilterSet,
    calls?: GroupCalls,
  ): Decision {
    let decision = current;
    let matched = false;
    const W = this.wild;
    // The host indexes hold IPv4 hosts only.
    const v4 = p.family === 4;
    const D = v4 ? (this.byDst.get(d) ?? EMPTY) : EMPTY;
    const S = v4 ? (this.bySrc.get(s) ?? EMPTY) : EMPTY;
    let iw = 0;
    let id = 0;
    let is = 0;
    let from = 0;
    for (;;) {
      const a = iw < W.length ? (W[iw] as number) : END;
      const b = id < D.length ? (D[id] as number) : END;
      const c = is < S.length ? (S[is] as number) : END;
      let i: number;
      if (a <= b && a <= c) {
        i = a;
        iw++;
      } else if (b <= c) {
        i = b;
        id++;
      } else {
        i = c;
        is++;
      }
      if (i === END) break;
      if (i < from) continue;
      if (!(this.preds[i] as Predicate)(p, s, d)) continue;
      const kind = this.kinds[i] as number;
      if (kind === K_SKIP) {
        from = i + (this.skips[i] as number) + 1;
        continue;
      }
      const r = this.rules[i] as CompiledFilterRule;
      r.hits++;
      if (kind === K_CALL) {
        const act = r.ast.action as Extract<FilterRule["action"], { kind: "call" }>;
        const group = act.now ? calls?.groupFor(act.func, p) : undefined;
        const list = group !== undefined ? fast.group(`${p.dir}:${group}`) : undefined;
        if (list) {
          const sub = list.scan(p, s, d, decision, fast, calls);
          if (list.matched) {
            decision = sub;
            matched = true;
            if (sub.rule) sub.rule.hits++;
          }
        }
        if (decision.quick) break;
        continue;
      }
      matched = true;
      if (kind === K_DECIDE) decision = this.decisions[i] as Decision;
      if (r.headList) {
        const list = fast.group(`${r.dir}:${r.ast.head}`);
        if (list) {
          const sub = list.scan(p, s, d, decision, fast, calls);
          if (list.matched) decision = sub;
        }
      }
      if (decision.quick) break;
    }
    this.matched = matched;
    return decision;
  }
}

/** The fast lists of a {@link FilterSet}, built once. */
export class FastFilterSet {
  readonly main: { in: FastRuleList; out: FastRuleList };
  readonly accounting: { in: FastRuleList; out: FastRuleList };
  private readonly groups = new Map<string, FastRuleList>();
  constructor(set: FilterSet) {
    this.main = { in: new FastRuleList(set.main.in), out: new FastRuleList(set.main.out) };
    this.accounting = { in: new FastRuleList(set.accounting.in), out: new FastRuleList(set.accounting.out) };
    for (const [k, v] of set.groups) this.groups.set(k, new FastRuleList(v));
  }
  group(key: string): FastRuleList | undefined {
    return this.groups.get(key);
  }
}
