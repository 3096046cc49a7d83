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
  parseAddress,
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
  flagTests: readonly { name: string; wanted: boolean }[];
  /** `with [not] v6hdr X,Y`: extension header next-header numbers and whether each must be present. */
  v6HeaderTests: readonly { proto: number; wanted: boolean }[];
  hits: number;
  /** The group this rule heads, resolved after loading. */
  headList: CompiledFilterRule[] | undefined;
  /** `keep state`, `keep frags`, `to …` given (read per packet: kept here rather than looked up in the AST). */
  keepState: boolean;
  keepFrags: boolean;
  routes: boolean;
  /**
   * The rule's number in the last state table that made an entry for it
   * (state.ts StateTable.ruleId checks it is that table's; -1 = none yet), so
   * a new entry finds its rule number without a map lookup.
   */
  stateId: number;
}

/** The empty test lists most rules have, shared (never changed). */
const NO_FLAG_TESTS: readonly { name: string; wanted: boolean }[] = [];
const NO_V6_HEADER_TESTS: readonly { proto: number; wanted: boolean }[] = [];

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
    flagTests: flagTests.length > 0 ? flagTests : NO_FLAG_TESTS,
    v6HeaderTests: v6HeaderTests.length > 0 ? v6HeaderTests : NO_V6_HEADER_TESTS,
    hits: 0,
    headList: undefined,
    keepState: ast.keepState !== null && ast.keepState !== undefined,
    keepFrags: ast.keepFrags !== null && ast.keepFrags !== undefined,
    routes: ast.routeTo !== null && ast.routeTo !== undefined,
    stateId: -1,
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
  // Signed int32, as the packet's address keys are (parseAddress keeps what it parsed).
  const mask = Number(parseAddress("inet", m.mask)) | 0;
  const addr = Number(parseAddress("inet", m.address)) | 0;
  return { net: addr & mask, mask, any: m.prefix === 0 && addr === 0 };
}

/** Port tests as numbers (RuleTest.sOp/dOp): none, the six compares, then the three ranges. */
const P_NONE = 0;
const P_EQ = 1;
const P_NE = 2;
const P_LT = 3;
const P_GT = 4;
const P_LE = 5;
const P_GE = 6;
/** `low:high`, inclusive. */
const P_IN = 7;
/** `low >< high`, exclusive. */
const P_BETWEEN = 8;
/** `low <> high`: outside. */
const P_OUTSIDE = 9;

function portOp(m: PortMatch | null): [op: number, low: number, high: number] {
  if (m === null) return [P_NONE, 0, 0];
  if (m.kind === "compare") {
    const op = { "=": P_EQ, "!=": P_NE, "<": P_LT, ">": P_GT, "<=": P_LE, ">=": P_GE }[m.op];
    return [op, m.port, m.port];
  }
  return [m.op === ":" ? P_IN : m.op === "><" ? P_BETWEEN : P_OUTSIDE, m.low, m.high];
}

function portOk(op: number, low: number, high: number, x: number): boolean {
  switch (op) {
    case P_EQ:
      return x === low;
    case P_NE:
      return x !== low;
    case P_LT:
      return x < low;
    case P_GT:
      return x > low;
    case P_LE:
      return x <= low;
    case P_GE:
      return x >= low;
    case P_IN:
      return x >= low && x <= high;
    case P_BETWEEN:
      return x > low && x < high;
    default:
      return x < low || x > high;
  }
}

/**
 * One rule's tests as plain numbers (the per-packet form of {@link whyNoMatch},
 * without the reasons): every rule of a list has one of these, of one shape,
 * and {@link testMatches} reads them in one loop with no call per rule and
 * no closure. IPv4 networks are 32-bit numbers compared with the packet's
 * address keys. A rule with a test this form does not cover (tos, IP
 * options, `with …`, pools, IPv6 networks…) is `generic`: whyNoMatch decides.
 */
class RuleTest {
  /** whyNoMatch decides (the rule is passed to {@link testMatches} alongside). */
  generic = false;
  /** Interface name, or null for any. */
  ifname: string | null = null;
  /** 4 or 6, 0 for any. */
  family = 0;
  /** Protocol number, -1 for any, -2 for tcp/udp. */
  proto = -1;
  /** -1 for any. */
  ttl = -1;
  /** A side names an IPv4 network: IPv6 packets only match where that side is negated. */
  needV4 = false;
  sAny = true;
  sNeg = false;
  sNet = 0;
  sMask = 0;
  dAny = true;
  dNeg = false;
  dNet = 0;
  dMask = 0;
  /** Port tests (P_*), with their bounds. */
  sOp = P_NONE;
  sLow = 0;
  sHigh = 0;
  dOp = P_NONE;
  dLow = 0;
  dHigh = 0;
  hasFlags = false;
  flagMask = 0;
  flagSet = 0;
  hasIcmp = false;
  icmpType = 0;
  /** -1 for any code. */
  icmpCode = -1;

  constructor(rule: CompiledFilterRule) {
    const a = rule.ast;
    const src = v4Test(a.from.address);
    const dst = v4Test(a.to.address);
    if (
      a.tos !== null ||
      rule.optMask !== 0 ||
      rule.secMask !== 0 ||
      rule.flagTests.length > 0 ||
      rule.v6HeaderTests.length > 0 ||
      src === null ||
      dst === null
    ) {
      this.generic = true;
      return;
    }
    this.ifname = a.on.length > 0 && a.on[0]?.name !== "*" ? (a.on[0]?.name ?? null) : null;
    this.family = rule.family ?? 0;
    this.proto = rule.proto === null ? -1 : rule.proto === "tcpudp" ? -2 : rule.proto;
    this.ttl = a.ttl ?? -1;
    // A plain IPv4 network only matches IPv4 packets; `any` matches both.
    this.needV4 = !src.any || !dst.any;
    this.sAny = src.any;
    this.sNeg = a.from.negated;
    this.sNet = src.net;
    this.sMask = src.mask;
    this.dAny = dst.any;
    this.dNeg = a.to.negated;
    this.dNet = dst.net;
    this.dMask = dst.mask;
    [this.sOp, this.sLow, this.sHigh] = portOp(a.from.port);
    [this.dOp, this.dLow, this.dHigh] = portOp(a.to.port);
    if (a.flags) {
      this.hasFlags = true;
      this.flagMask = a.flags.mask;
      this.flagSet = a.flags.set;
    }
    if (a.icmp) {
      this.hasIcmp = true;
      this.icmpType = a.icmp.type;
      this.icmpCode = a.icmp.code ?? -1;
    }
  }
}

/**
 * Rule tests by the rule's AST: a RuleTest is made from the AST alone (the
 * compiled rule's family, protocol and option masks are read off it), so
 * engines built again on the same parsed rules share them rather than make
 * ~100 objects per engine for the collector.
 */
const ruleTests = new WeakMap<FilterRule, RuleTest>();

function ruleTestFor(r: CompiledFilterRule): RuleTest {
  let t = ruleTests.get(r.ast);
  if (t === undefined) ruleTests.set(r.ast, (t = new RuleTest(r)));
  return t;
}

/**
 * Whether the rule matches: {@link whyNoMatch}'s tests in the same order, on
 * numbers. `s`/`d` are the packet's IPv4 source/destination as signed 32-bit
 * ints (hash.ts srcKey/dstKey; unused for IPv6 packets).
 */
function testMatches(t: RuleTest, r: CompiledFilterRule, p: Packet, s: number, d: number): boolean {
  if (t.generic) return whyNoMatch(r, p, false) === undefined;
  if (t.ifname !== null && p.ifname !== t.ifname) return false;
  if (t.family !== 0 && t.family !== p.family) return false;
  const proto = t.proto;
  if (proto !== -1) {
    if (proto === -2) {
      if (p.proto !== IPPROTO_TCP && p.proto !== IPPROTO_UDP) return false;
    } else if (proto !== p.proto) return false;
  }
  if (t.ttl !== -1 && t.ttl !== p.ttl) return false;
  if (t.needV4 && p.family !== 4) {
    // An IPv4 network never contains an IPv6 address: only a negated one lets it through.
    if (!t.sAny && !t.sNeg) return false;
    if (!t.dAny && !t.dNeg) return false;
  } else {
    if (t.sAny ? t.sNeg : ((s & t.sMask) === t.sNet) === t.sNeg) return false;
    if (t.dAny ? t.dNeg : ((d & t.dMask) === t.dNet) === t.dNeg) return false;
  }
  if (t.sOp !== P_NONE || t.dOp !== P_NONE) {
    const ports = (p.proto === IPPROTO_TCP || p.proto === IPPROTO_UDP) && p.fragOff === 0;
    if (t.sOp !== P_NONE && (!ports || !portOk(t.sOp, t.sLow, t.sHigh, p.sport ?? 0))) return false;
    if (t.dOp !== P_NONE && (!ports || !portOk(t.dOp, t.dLow, t.dHigh, p.dport ?? 0))) return false;
  }
  if (t.hasFlags) {
    if (p.proto !== IPPROTO_TCP) return false;
    if ((p.tcpFlags & t.flagMask) !== t.flagSet) return false;
  }
  if (t.hasIcmp) {
    if (p.proto !== IPPROTO_ICMP && p.proto !== IPPROTO_ICMPV6) return false;
    if (p.icmpType !== t.icmpType) return false;
    if (t.icmpCode !== -1 && p.icmpCode !== t.icmpCode) return false;
  }
  return true;
}

/** Up to this many wild rules are merged into each destination host's list (see FastRuleList). */
const MAX_PREMERGED_WILD = 32;

/** Two ascending lists of rule positions as one. */
function mergeSorted(a: readonly number[], b: readonly number[]): number[] {
  const out: number[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (j >= b.length || (i < a.length && (a[i] as number) < (b[j] as number))) out.push(a[i++] as number);
    else out.push(b[j++] as number);
  }
  return out;
}

/** A single IPv4 host (a /32, not negated) the rule requires on one side, as a number, or undefined. */
function hostKey(m: FilterRule["from"]): number | undefined {
  if (m.negated || m.address.kind !== "cidr" || m.address.family !== "inet" || m.address.prefix !== 32)
    return undefined;
  return Number(parseAddress("inet", m.address.address));
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
  private readonly tests: RuleTest[];
  /** What each rule decides when it matches (shared, never changed). */
  private readonly decisions: Decision[];
  /** Per rule: what a match does (K_* below), and how many rules a `skip` jumps. */
  private readonly kinds: Uint8Array;
  private readonly skips: Int32Array;
  private readonly wild: Int32Array;
  /** Rules filed under one destination host; merged with the wild rules when {@link dstMerged}. */
  private readonly byDst: IntTable<Int32Array>;
  private readonly dstMerged: boolean;
  private readonly bySrc: IntTable<Int32Array>;
  /** Set by {@link scan}: whether a rule of this list matched. */
  matched = false;

  constructor(readonly rules: readonly CompiledFilterRule[]) {
    this.tests = rules.map(ruleTestFor);
    this.decisions = rules.map((r) => ({ verdict: verdictOf(r), quick: r.ast.quick, rule: r }));
    this.kinds = new Uint8Array(rules.length);
    this.skips = new Int32Array(rules.length);
    for (let i = 0; i < rules.length; i++) {
      const act = (rules[i] as CompiledFilterRule).ast.action;
      const kind = act.kind;
      this.kinds[i] =
        kind === "skip"
          ? K_SKIP
          : kind === "call"
            ? K_CALL
            : kind === "log" || kind === "decapsulate"
              ? K_KEEP
              : K_DECIDE;
      if (act.kind === "skip") this.skips[i] = act.count;
    }
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
    // With few wild rules, each destination host's list is kept merged with them (in list order),
    // so a packet with no source-host rules walks one list instead of merging two.
    const premerge = wild.length <= MAX_PREMERGED_WILD;
    this.dstMerged = premerge;
    this.byDst = new IntTable(
      [...dst].map(([k, v]) => [k, Int32Array.from(premerge ? mergeSorted(wild, v) : v)]),
    );
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
    // The host indexes hold IPv4 hosts only.
    const v4 = p.family === 4;
    let W = this.wild;
    let D = v4 ? (this.byDst.get(d) ?? EMPTY) : EMPTY;
    if (this.dstMerged && D.length > 0) {
      // D already holds the wild rules.
      W = D;
      D = EMPTY;
    }
    const S = v4 ? (this.bySrc.get(s) ?? EMPTY) : EMPTY;
    // One list to walk (the usual case), or up to three to merge in list order.
    const single = D.length === 0 && S.length === 0;
    let iw = 0;
    let id = 0;
    let is = 0;
    let from = 0;
    for (;;) {
      let i: number;
      if (single) {
        if (iw >= W.length) break;
        i = W[iw++] as number;
      } else {
        const a = iw < W.length ? (W[iw] as number) : END;
        const b = id < D.length ? (D[id] as number) : END;
        const c = is < S.length ? (S[is] as number) : END;
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
      }
      if (i < from) continue;
      const r = this.rules[i] as CompiledFilterRule;
      if (!testMatches(this.tests[i] as RuleTest, r, p, s, d)) continue;
      const kind = this.kinds[i] as number;
      if (kind === K_SKIP) {
        from = i + (this.skips[i] as number) + 1;
        continue;
      }
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
