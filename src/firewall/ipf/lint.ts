/**
 * Semantic checks over an ipf.conf and an ipnat.conf read together: the
 * mistakes that load without complaint but leave a forwarded service broken
 * or a rule dead. Pure functions over the trees from `./index.ts`
 * ({@link parseIpf}/{@link parseIpnat} with `recover: true`, so a rule ipf
 * rejects for a missing `on` is still checked for what it meant).
 *
 * IPFilter order that the checks rely on: an inbound packet is translated by
 * `rdr` before the filter sees it, so inbound filter rules must match the
 * jail's address and port, not the public ones; ipnat uses the first matching
 * rule; ipf uses the last matching rule unless a `quick` rule matched first.
 */
import type {
  AddressMatch,
  CidrAddress,
  FilterRule,
  NatProtocol,
  NatRule,
  PortMatch,
  Protocol,
} from "./ast.js";
import { cidrValue } from "./impl/address.js";

/** Stable codes of semantic findings (QJ41xx). */
export enum IpfLintCode {
  /** An inbound pass/block rule names a public port that an rdr rewrites before filtering. */
  FilterOnForwardedPort = "QJ4101",
  /** An rdr rule without the address to forward to. */
  RdrWithoutTarget = "QJ4102",
  /** Two rdr rules forward the same public port; the later one never gets traffic. */
  PortForwardedTwice = "QJ4103",
  /** Traffic an rdr forwards is blocked by the filter after translation. */
  ForwardedPortBlocked = "QJ4104",
  /** A rule that an earlier `quick` rule always decides first. */
  ShadowedRule = "QJ4105",
  /** A host service listens on a port that an rdr takes away. */
  HostServiceForwarded = "QJ4106",
}

export interface LintFinding {
  code: IpfLintCode;
  severity: "error" | "warning";
  message: string;
  /** One line saying what to change. */
  fix: string;
  /** Which file the finding is about and the line/column there. */
  file: "ipf" | "ipnat";
  line: number;
  column: number;
  /** Other rules involved, e.g. the rdr that shadows a pass rule. */
  related: { file: "ipf" | "ipnat"; line: number }[];
}

export interface LintInput {
  ipf?: readonly FilterRule[];
  ipnat?: readonly NatRule[];
  /** Ports of services the host itself offers (`--host-ports 22,80`). */
  hostPorts?: readonly number[];
}

type Interval = [number, number];

/** The ports a comparison admits, as closed intervals within 0–65535. */
export function portIntervals(p: PortMatch | null): Interval[] {
  if (p === null) return [[0, 65535]];
  const clip = (list: Interval[]) => list.filter(([a, b]) => a <= b);
  if (p.kind === "compare") {
    const v = p.port;
    switch (p.op) {
      case "=":
        return [[v, v]];
      case "!=":
        return clip([
          [0, v - 1],
          [v + 1, 65535],
        ]);
      case "<":
        return clip([[0, v - 1]]);
      case ">":
        return clip([[v + 1, 65535]]);
      case "<=":
        return [[0, v]];
      case ">=":
        return [[v, 65535]];
    }
  }
  if (p.op === ":") return clip([[p.low, p.high]]);
  if (p.op === "><") return clip([[p.low + 1, p.high - 1]]);
  return clip([
    [0, p.low - 1],
    [p.high + 1, 65535],
  ]);
}

const admits = (list: Interval[], port: number) => list.some(([a, b]) => port >= a && port <= b);
const covers = (outer: Interval[], inner: Interval[]) =>
  inner.every(([a, b]) => outer.some(([c, d]) => c <= a && b <= d));

// Lint compares every rule with every forward; parse each address once.
const cidrCache = new WeakMap<CidrAddress, { address: bigint; mask: bigint }>();
function cidrValueCached(c: CidrAddress): { address: bigint; mask: bigint } {
  let v = cidrCache.get(c);
  if (v === undefined) {
    v = cidrValue(c);
    cidrCache.set(c, v);
  }
  return v;
}

function addressContains(outer: AddressMatch, inner: AddressMatch): boolean {
  if (outer.kind === "any") return true;
  if (outer.kind !== "cidr") return JSON.stringify(outer) === JSON.stringify(inner);
  if (inner.kind === "any") return outer.prefix === 0;
  if (inner.kind !== "cidr" || inner.family !== outer.family) return false;
  const o = cidrValueCached(outer);
  const i = cidrValueCached(inner);
  return (o.mask & i.mask) === o.mask && (i.address & o.mask) === o.address;
}

/** Protocol numbers a filter rule admits (null = all). */
function filterProtos(p: Protocol | null): number[] | null {
  if (p === null) return null;
  return p.kind === "tcpudp" ? [6, 17] : [p.number];
}

function natProtos(p: NatProtocol | null): number[] | null {
  if (p === null || p.kind === "ip") return null;
  return p.kind === "tcpudp" ? [6, 17] : [p.number];
}

const protosOverlap = (a: number[] | null, b: number[] | null) =>
  a === null || b === null || a.some((x) => b.includes(x));

interface Forward {
  rule: NatRule;
  iface: string[];
  publicAddress: AddressMatch;
  publicPorts: Interval[];
  protos: number[] | null;
  /** A few public ports to try (every port of a small range, the ends of a large one). */
  samples: number[];
  /** Destination port after translation for public port p. */
  translate: (p: number) => number;
  targets: AddressMatch[];
}

function forwards(nat: readonly NatRule[]): Forward[] {
  const out: Forward[] = [];
  for (const r of nat) {
    if (r.kind !== "rdr") continue;
    let publicAddress: AddressMatch;
    let publicPorts: Interval[];
    let low = 0;
    if (r.match.kind === "simple") {
      publicAddress = r.match.address;
      publicPorts = r.match.ports ? [[r.match.ports.low, r.match.ports.high]] : [[0, 65535]];
      low = r.match.ports?.low ?? 0;
    } else {
      publicAddress = r.match.to.address;
      publicPorts = portIntervals(r.match.to.port);
      low = publicPorts[0]?.[0] ?? 0;
    }
    const tp = r.targetPort;
    const translate = (p: number) => (tp === null ? p : tp.fixed ? tp.low : tp.low + (p - low));
    const targets: AddressMatch[] =
      r.target.kind === "cidr"
        ? [r.target.address]
        : r.target.kind === "list"
          ? r.target.addresses
          : r.target.kind === "none"
            ? []
            : [{ kind: "any" }];
    out.push({
      samples: samplePorts(publicPorts),
      rule: r,
      iface: r.interfaces.map((i) => i.name),
      publicAddress,
      publicPorts,
      protos: natProtos(r.proto),
      translate,
      targets,
    });
  }
  return out;
}

function onInterface(rule: FilterRule, iface: string[]): boolean {
  return rule.on.length === 0 || rule.on.some((i) => iface.includes(i.name));
}

const samplePorts = (list: Interval[]) =>
  list.flatMap(([a, b]) => (b - a > 64 ? [a, b] : Array.from({ length: b - a + 1 }, (_, i) => a + i)));

/** Run every check; findings are sorted by file and line and never repeat. */
export function lintRules(input: LintInput): LintFinding[] {
  const ipf = input.ipf ?? [];
  const nat = input.ipnat ?? [];
  const fwd = forwards(nat);
  const findings: LintFinding[] = [];
  const seen = new Set<string>();
  const add = (f: LintFinding) => {
    const key = `${f.code}:${f.file}:${f.line}:${f.related.map((r) => r.line).join(",")}`;
    if (!seen.has(key)) {
      seen.add(key);
      findings.push(f);
    }
  };

  for (const f of fwd) {
    if (f.rule.target.kind === "none") {
      add({
        code: IpfLintCode.RdrWithoutTarget,
        severity: "error",
        message: `rdr on ${f.iface.join(",")} has no address to forward to`,
        fix: `give the jail's address after "->", e.g. "-> 10.0.0.2 port ${f.rule.targetPort?.low ?? 80}"`,
        file: "ipnat",
        line: f.rule.span.line,
        column: f.rule.span.column,
        related: [],
      });
    }
  }

  // (a) inbound filter rules on public ports the rdr rewrites first.
  for (const r of ipf) {
    if (r.direction !== "in" || (r.action.kind !== "pass" && r.action.kind !== "block")) continue;
    const dst = portIntervals(r.to.port);
    if (r.to.port === null) continue;
    for (const f of fwd) {
      if (!onInterface(r, f.iface) || !protosOverlap(filterProtos(r.proto), f.protos)) continue;
      const hits = f.samples.filter((p) => admits(dst, p) && !admits(dst, f.translate(p)));
      if (hits.length === 0) continue;
      const p = hits[0] as number;
      add({
        code: IpfLintCode.FilterOnForwardedPort,
        severity: r.action.kind === "pass" ? "error" : "warning",
        message: `"${r.action.kind} in" on port ${p} never sees forwarded traffic: the rdr on line ${f.rule.span.line} rewrites port ${p} to ${f.translate(p)} before filtering`,
        fix: `match the translated destination instead: "to ${describeTargets(f)} port = ${f.translate(p)}"`,
        file: "ipf",
        line: r.to.span?.line ?? r.span.line,
        column: r.to.span?.column ?? r.span.column,
        related: [{ file: "ipnat", line: f.rule.span.line }],
      });
    }
  }

  // (c) an rdr that never gets traffic: ipnat tries rdr rules by netmask, the
  // most specific first (/32 … /0), and in file order within one netmask
  // (ipnat(5) RULE ORDERING); a rule is dead when one tried before it takes
  // every packet it would match. Each dead rule is reported once, naming the
  // first rule that takes its traffic.
  for (const b of fwd) {
    const shadow = fwd.find((a) => a !== b && rdrTriedBefore(a, b) && rdrCovers(a, b));
    if (!shadow) continue;
    add({
      code: IpfLintCode.PortForwardedTwice,
      severity: "error",
      message: `this rdr never gets traffic: the rdr on line ${shadow.rule.span.line} matches every packet it matches (${describePublic(b)}) and ipnat tries it first (${rdrOrderReason(shadow, b)})`,
      fix: "forward each public port once: delete one rule or give it another public port or address",
      file: "ipnat",
      line: b.rule.span.line,
      column: b.rule.span.column,
      related: [{ file: "ipnat", line: shadow.rule.span.line }],
    });
  }

  // (d) forwarded traffic that the filter blocks after translation.
  if (ipf.length > 0) {
    for (const f of fwd) {
      for (const target of f.targets) {
        const port = f.translate(f.samples[0] ?? 0);
        const proto = f.protos?.[0] ?? null;
        const verdict = filterVerdict(ipf, f.iface, proto, target, port);
        if (verdict?.action !== "block") continue;
        add({
          code: IpfLintCode.ForwardedPortBlocked,
          severity: "error",
          message: `traffic forwarded by this rdr reaches the filter as ${describeAddress(target)} port ${port} and is blocked by the rule on line ${verdict.line}`,
          fix: `add before it: "pass in quick on ${f.iface[0] ?? "IF"} proto ${proto === 17 ? "udp" : "tcp"} from any to ${describeAddress(target)} port = ${port} flags S keep state"`,
          file: "ipnat",
          line: f.rule.span.line,
          column: f.rule.span.column,
          related: [{ file: "ipf", line: verdict.line }],
        });
      }
    }
  }

  // (e) rules an earlier quick rule always decides first.
  const quickRules = ipf.map((r, i) => (r.quick ? i : -1)).filter((i) => i >= 0);
  for (let j = 0; j < ipf.length; j++) {
    const later = ipf[j] as FilterRule;
    for (const i of quickRules) {
      if (i >= j) break;
      const first = ipf[i] as FilterRule;
      if (first.span.line === later.span.line) continue;
      if (!decidesFirst(first, later)) continue;
      add({
        code: IpfLintCode.ShadowedRule,
        severity: "warning",
        message: `this rule is never reached: the "quick" rule on line ${first.span.line} matches every packet it matches and decides first`,
        fix: `move it above line ${first.span.line}, narrow the earlier rule, or delete it`,
        file: "ipf",
        line: later.span.line,
        column: later.span.column,
        related: [{ file: "ipf", line: first.span.line }],
      });
      break;
    }
  }

  // (f) host services on forwarded public ports.
  for (const hp of input.hostPorts ?? []) {
    for (const f of fwd) {
      if (!admits(f.publicPorts, hp)) continue;
      add({
        code: IpfLintCode.HostServiceForwarded,
        severity: "error",
        message: `the host's own service on port ${hp} is unreachable on ${f.iface.join(",")}: this rdr forwards port ${hp} to a jail`,
        fix: `forward a different public port (e.g. ${60000 + (hp % 1000)}) to the jail's port ${f.translate(hp)}, as qjail-howto does with 6122 → 22`,
        file: "ipnat",
        line: f.rule.span.line,
        column: f.rule.span.column,
        related: [],
      });
    }
  }

  return findings.sort((x, y) =>
    x.file === y.file ? x.line - y.line || x.code.localeCompare(y.code) : x.file === "ipf" ? -1 : 1,
  );
}

function describeAddress(a: AddressMatch): string {
  if (a.kind === "cidr")
    return a.prefix === 32 || a.prefix === 128 ? a.address : `${a.address}/${a.prefix ?? a.mask}`;
  return "any";
}

function describeTargets(f: Forward): string {
  const t = f.targets[0];
  return t && t.kind === "cidr" ? describeAddress(t) : "JAIL_ADDRESS";
}

/**
 * ipf's verdict for a new inbound connection to `target:port` from an
 * unknown source: last matching rule wins, `quick` stops. Rules that depend on
 * what we cannot know (source address or port, packet options) are skipped.
 */
function filterVerdict(
  rules: readonly FilterRule[],
  iface: string[],
  proto: number | null,
  target: AddressMatch,
  port: number,
): { action: string; line: number } | null {
  let verdict: { action: string; line: number } | null = null;
  for (const r of rules) {
    if (r.direction !== "in" || (r.action.kind !== "pass" && r.action.kind !== "block")) continue;
    if (!onInterface(r, iface)) continue;
    if (r.group !== null || r.with.length > 0 || r.tos !== null || r.ttl !== null || r.expression) continue;
    const protos = filterProtos(r.proto);
    if (protos !== null && (proto === null || !protos.includes(proto))) continue;
    if (r.from.negated || r.from.address.kind !== "any" || r.from.port !== null) continue;
    if (r.flags && (r.flags.set & ~0x02) !== 0) continue;
    const addrMatch = addressContains(r.to.address, target);
    if (r.to.negated ? addrMatch : !addrMatch) continue;
    if (!admits(portIntervals(r.to.port), port)) continue;
    verdict = { action: r.action.kind, line: r.span.line };
    if (r.quick) break;
  }
  return verdict;
}

/** True when `first` (quick) matches every packet `later` matches. */
function decidesFirst(first: FilterRule, later: FilterRule): boolean {
  if (first.direction !== later.direction || first.group !== later.group || first.head !== null) return false;
  if (first.action.kind !== "pass" && first.action.kind !== "block") return false;
  if (
    first.on.length > 0 &&
    (later.on.length === 0 || !later.on.every((i) => first.on.some((o) => o.name === i.name)))
  )
    return false;
  const fp = filterProtos(first.proto);
  const lp = filterProtos(later.proto);
  if (fp !== null && (lp === null || !lp.every((p) => fp.includes(p)))) return false;
  if (first.expression || later.expression) return false;
  if (first.with.length > 0 || first.tos !== null || first.ttl !== null) return false;
  if (first.icmp && (first.icmp.type !== later.icmp?.type || first.icmp.code !== later.icmp.code))
    return false;
  if (first.flags && (first.flags.set !== later.flags?.set || first.flags.mask !== later.flags.mask))
    return false;
  if (first.family !== null && first.family !== later.family) return false;
  for (const side of ["from", "to"] as const) {
    const a = first[side];
    const b = later[side];
    if (a.negated || b.negated) {
      if (JSON.stringify(a) !== JSON.stringify(b)) return false;
      continue;
    }
    if (!addressContains(a.address, b.address)) return false;
    if (a.port !== null && !covers(portIntervals(a.port), portIntervals(b.port))) return false;
  }
  return true;
}

/** The netmask length ipnat files an rdr under (its public address), or -1 when it has none (pool, interface). */
function rdrPrefix(f: Forward): number {
  const a = f.publicAddress;
  if (a.kind === "any") return 0;
  if (a.kind === "cidr") return a.prefix ?? -1;
  return -1;
}

/** ipnat tries `a` before `b`: a longer netmask first, then file order. */
function rdrTriedBefore(a: Forward, b: Forward): boolean {
  const pa = rdrPrefix(a);
  const pb = rdrPrefix(b);
  if (pa < 0 || pb < 0) return false;
  if (pa !== pb) return pa > pb;
  return a.rule.span.offset < b.rule.span.offset;
}

function rdrOrderReason(a: Forward, b: Forward): string {
  const pa = rdrPrefix(a);
  return pa === rdrPrefix(b)
    ? `same netmask /${pa}, earlier in the file`
    : `its netmask /${pa} is more specific`;
}

/** Every packet `b` matches, `a` matches too. */
function rdrCovers(a: Forward, b: Forward): boolean {
  if (a.rule.options.roundRobin && b.rule.options.roundRobin) return false;
  if (a.rule.no) return false;
  if (!b.iface.every((x) => a.iface.includes(x))) return false;
  if (a.protos !== null && (b.protos === null || !b.protos.every((p) => a.protos!.includes(p)))) return false;
  if (!covers(a.publicPorts, b.publicPorts)) return false;
  if (!addressContains(a.publicAddress, b.publicAddress)) return false;
  const src = (f: Forward) => (f.rule.match.kind === "fromto" ? f.rule.match.from : null);
  const sa = src(a);
  const sb = src(b);
  if (sa !== null) {
    if (a.rule.match.kind === "fromto" && a.rule.match.negated) return false;
    if (sb === null) return sa.address.kind === "any" && sa.port === null;
    if (b.rule.match.kind === "fromto" && b.rule.match.negated) return false;
    if (!addressContains(sa.address, sb.address)) return false;
    if (sa.port !== null && !covers(portIntervals(sa.port), portIntervals(sb.port))) return false;
  }
  return true;
}

function describePublic(f: Forward): string {
  const ports = f.publicPorts.map(([x, y]) => (x === y ? `${x}` : `${x}-${y}`)).join(",");
  return `${describeAddress(f.publicAddress)} port ${ports} on ${f.iface.join(",")}`;
}
