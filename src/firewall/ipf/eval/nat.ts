/**
 * NAT: map / bimap / map-block / rdr / rewrite rules and the session table
 * (ip_nat.c). Inbound packets are translated before filtering (rdr, and the
 * reverse of map sessions); outbound packets after filtering (map, and the
 * reverse of rdr sessions).
 *
 * A session remembers the packet as first seen ("original") and as translated;
 * later packets of the same flow, in either direction, are rewritten from it
 * without looking at the rules again.
 */
import type { NatProtocol, NatRule } from "../ast.js";
import {
  compileAddressMatch,
  compileCidr,
  cidrContains,
  parseAddress,
  type AddressContext,
  type AddressTest,
  type CompiledCidr,
} from "./address.js";
import {
  formatAddr,
  IPPROTO_TCP,
  IPPROTO_UDP,
  type Family,
  type InnerPacket,
  type Packet,
} from "./packet.js";
import { portMatches, describePort } from "./address.js";

interface Tuple {
  src: bigint;
  sport: number;
  dst: bigint;
  dport: number;
}

export interface NatSession {
  rule: CompiledNatRule;
  kind: "MAP" | "RDR" | "BIMAP" | "RWR-MAP" | "RWR-RDR";
  family: Family;
  proto: number;
  /** The direction of the packet that created the session. */
  dir: "in" | "out";
  original: Tuple;
  translated: Tuple;
}

export interface HostmapEntry {
  /** The rule that made the mapping (sticky rdr entries send the same client back through it). */
  rule: CompiledNatRule | undefined;
  /** rdr entries: ipftest prints their new address with its bytes reversed (a byte-order slip in ipnat's dump). */
  rdr: boolean;
  src: bigint;
  dst: bigint;
  newSrc: bigint;
  newDst: bigint;
  family: Family;
  uses: number;
}

export interface CompiledNatRule {
  ast: NatRule;
  number: number;
  family: Family;
  /** Interface a packet must use: map/bimap/rewrite-out on output, rdr/rewrite-in on input. */
  ifname: string;
  src: { test: AddressTest; negated: boolean; port: ((p: number) => boolean) | null };
  dst: { test: AddressTest; negated: boolean; port: ((p: number) => boolean) | null };
  protoOk: (proto: number) => boolean;
  /** Whether ports are rewritten for this protocol (portmap protocol, rdr protocol). */
  portsFor: (proto: number) => boolean;
  /** Most specific first: the mask length of the matched address. */
  bits: number;
  nextAddress: bigint;
  nextPort: number;
  nextTarget: number;
  /** Set for one lookup when a sticky client returns. */
  stickyTo: bigint | undefined;
  /** rewrite: the stepping cursors (srcAddr, srcPort, dstAddr, dstPort) and whose turn it is to move. */
  rewriteCursors: Map<string, bigint>;
  rewriteTurn: number;
  hits: number;
}

function natProtoOk(np: NatProtocol | null): (proto: number) => boolean {
  if (np === null || np.kind === "ip") return () => true;
  if (np.kind === "tcpudp") return (p) => p === IPPROTO_TCP || p === IPPROTO_UDP;
  return (p) => p === np.number;
}

function ruleIfname(r: NatRule): string {
  if (r.interfaces.length === 0) return "*";
  if (r.kind === "rdr" || r.direction === "in") return r.interfaces[0]?.name ?? "*";
  return (r.interfaces[1] ?? r.interfaces[0])?.name ?? "*";
}

export function compileNatRule(ast: NatRule, number: number, ctx: AddressContext): CompiledNatRule {
  const family: Family = ast.family === "inet6" ? 6 : 4;
  let src: CompiledNatRule["src"];
  let dst: CompiledNatRule["dst"];
  const anyTest = compileAddressMatch({ kind: "any" }, ctx);
  if (ast.match.kind === "simple") {
    const test = compileAddressMatch(ast.match.address, ctx);
    // `port 0` in a simple rdr means any port (ipnat stores no port test).
    const range =
      ast.match.ports && !(ast.match.ports.low === 0 && ast.match.ports.high === 0) ? ast.match.ports : null;
    const port = range ? (p: number): boolean => p >= range.low && p <= range.high : null;
    if (ast.kind === "rdr") {
      src = { test: anyTest, negated: false, port: null };
      dst = { test, negated: false, port };
    } else {
      src = { test, negated: false, port: null };
      dst = { test: anyTest, negated: false, port: null };
    }
  } else {
    const m = ast.match;
    const fp = m.from.port;
    const tp = m.to.port;
    src = {
      test: compileAddressMatch(m.from.address, ctx),
      negated: m.negated !== m.from.negated,
      port: fp ? (p) => portMatches(fp, p) : null,
    };
    dst = {
      test: compileAddressMatch(m.to.address, ctx),
      negated: m.toNegated !== m.to.negated,
      port: tp ? (p) => portMatches(tp, p) : null,
    };
  }
  const matchProto = ast.matchProto ?? ast.proto ?? ast.portmap?.proto ?? null;
  const protoOk = natProtoOk(matchProto);
  const portProto = ast.portmap
    ? natProtoOk(ast.portmap.proto)
    : ast.proto && ast.proto.kind !== "ip"
      ? natProtoOk(ast.proto)
      : () => false;
  const portsFor = (p: number): boolean => (p === IPPROTO_TCP || p === IPPROTO_UDP) && portProto(p);
  const bits = ast.kind === "rdr" ? dst.test.bits : src.test.bits;
  return {
    ast,
    number,
    family,
    ifname: ruleIfname(ast),
    src,
    dst,
    protoOk,
    portsFor,
    bits,
    nextAddress: -1n,
    nextPort: ast.portmap?.low ?? 0,
    nextTarget: 0,
    stickyTo: undefined,
    rewriteCursors: new Map(),
    rewriteTurn: 0,
    hits: 0,
  };
}

const hasPorts = (p: Packet): boolean =>
  (p.proto === IPPROTO_TCP || p.proto === IPPROTO_UDP) && p.fragOff === 0;

/** Why a NAT rule does not apply to this packet, or undefined when it does. */
export function whyNatNoMatch(r: CompiledNatRule, p: Packet, explain = true): string | undefined {
  const a = r.ast;
  // Without a trace the cheapest test that usually fails goes first: most rdr rules differ by port.
  if (!explain && r.dst.port && hasPorts(p) && !r.dst.port(p.dport ?? 0)) return "no match";
  const inbound = a.kind === "rdr" || a.direction === "in";
  const ruleDir = inbound ? "in" : "out";
  if (a.kind === "bimap") {
    // bimap translates both ways; the inbound half is handled through the reverse lookup below.
  }
  if (p.dir !== ruleDir) return `${a.kind} applies to ${ruleDir}bound packets`;
  if (r.ifname !== "*" && r.ifname !== p.ifname) return `interface is ${p.ifname}, rule is on ${r.ifname}`;
  if (r.family !== p.family) return `address family is IPv${p.family}`;
  if (!r.protoOk(p.proto)) return `protocol ${p.proto} not covered`;
  if (r.src.test.test(p.family, p.src) === r.src.negated)
    return `source is not ${r.src.negated ? "!" : ""}${r.src.test.describe}`;
  if (r.dst.test.test(p.family, p.dst) === r.dst.negated)
    return `destination is not ${r.dst.negated ? "!" : ""}${r.dst.test.describe}`;
  if (r.src.port && (!hasPorts(p) || !r.src.port(p.sport ?? 0)))
    return `source port ${p.sport ?? "-"} not matched`;
  if (r.dst.port) {
    if (!hasPorts(p)) return "rule matches a port and the packet has none";
    if (!r.dst.port(p.dport ?? 0)) {
      const m = a.match;
      const want =
        m.kind === "simple" && m.ports
          ? `port ${m.ports.low}${m.ports.high !== m.ports.low ? `-${m.ports.high}` : ""}`
          : m.kind === "fromto" && m.to.port
            ? describePort(m.to.port)
            : "port";
      return `destination port ${p.dport ?? "-"} is not ${want}`;
    }
  }
  return undefined;
}

export interface NatStep {
  rule: CompiledNatRule;
  matched: boolean;
  why: string | undefined;
}

export interface NatResult {
  /** The session used or created, if the packet was translated. */
  session: NatSession | undefined;
  created: boolean;
  before: Tuple;
  after: Tuple;
  /** A rule matched but could not translate (no address or port left): ipftest prints 15/16. */
  rejected: boolean;
}

export class NatTable {
  readonly rules: CompiledNatRule[];
  /** Newest first, as the -D dump lists them. */
  readonly sessions: NatSession[] = [];
  readonly hostmap: HostmapEntry[] = [];
  private readonly hostmapIndex = new Map<string, HostmapEntry>();

  private readonly inboundRules: CompiledNatRule[];
  private readonly outboundRules: CompiledNatRule[];
  /** Sessions by the tuple a packet must carry to use them, for both directions. */
  private readonly byTuple = new Map<string, { session: NatSession; forward: boolean }>();
  /** How many sessions produce each translated flow, so "is this flow taken?" needs no scan. */
  private readonly translatedFlows = new Map<string, number>();

  constructor(
    rules: readonly NatRule[],
    private readonly ctx: AddressContext,
  ) {
    this.rules = rules.map((r, i) => compileNatRule(r, i + 1, ctx));
    this.inboundRules = this.ordered(true);
    this.outboundRules = this.ordered(false);
  }

  /** Rules in the order the kernel tries them: most specific mask first, then file order. */
  private ordered(inbound: boolean): CompiledNatRule[] {
    return this.rules
      .filter(
        (r) =>
          (r.ast.kind === "rdr" || r.ast.direction === "in") === inbound ||
          (r.ast.kind === "bimap" && inbound),
      )
      .sort((a, b) => b.bits - a.bits || a.number - b.number);
  }

  private static key(dir: string, family: Family, proto: number, t: Tuple, ports: boolean): string {
    return ports
      ? `${dir}|${family}|${proto}|${t.src}|${t.sport}|${t.dst}|${t.dport}`
      : `${dir}|${family}|${proto}|${t.src}|${t.dst}`;
  }

  private index(s: NatSession): void {
    const ports = s.proto === IPPROTO_TCP || s.proto === IPPROTO_UDP;
    const back: Tuple = {
      src: s.translated.dst,
      sport: s.translated.dport,
      dst: s.translated.src,
      dport: s.translated.sport,
    };
    const fk = NatTable.key(s.dir, s.family, s.proto, s.original, ports);
    const bk = NatTable.key(s.dir === "in" ? "out" : "in", s.family, s.proto, back, ports);
    // The newest session wins, as the kernel's hash chains put new entries first.
    this.byTuple.set(fk, { session: s, forward: true });
    this.byTuple.set(bk, { session: s, forward: false });
    const tk = NatTable.flowKey(s.family, s.proto, s.translated, ports);
    this.translatedFlows.set(tk, (this.translatedFlows.get(tk) ?? 0) + 1);
  }

  /**
   * map entries belong to the rule that made them: ipf_nat_newmap asks
   * ipf_nat_hostmap with its rule, which only matches entries whose
   * hm_ipnat is that rule, so two map rules for one host keep their own
   * addresses. The sticky rdr lookup asks for any rule.
   */
  private static hostmapKey(
    rdr: boolean,
    family: Family,
    src: bigint,
    dst: bigint,
    rule: CompiledNatRule | undefined,
  ): string {
    return `${rdr ? "r" : `m${rule?.number ?? 0}`}|${family}|${src}|${dst}`;
  }

  /** The first entry for this pair, as a scan of the newest-first table would find it. */
  private findHostmap(
    rdr: boolean,
    family: Family,
    src: bigint,
    dst: bigint,
    rule?: CompiledNatRule,
  ): HostmapEntry | undefined {
    return this.hostmapIndex.get(NatTable.hostmapKey(rdr, family, src, dst, rule));
  }

  private addHostmap(h: HostmapEntry): void {
    this.hostmap.unshift(h);
    this.hostmapIndex.set(NatTable.hostmapKey(h.rdr, h.family, h.src, h.dst, h.rule), h);
  }

  private static flowKey(family: Family, proto: number, t: Tuple, ports: boolean): string {
    return ports
      ? `${family}|${proto}|${t.src}|${t.dst}|${t.sport}|${t.dport}`
      : `${family}|${proto}|${t.src}|${t.dst}`;
  }

  private tupleOf(p: Packet): Tuple {
    return { src: p.src, sport: p.sport ?? 0, dst: p.dst, dport: p.dport ?? 0 };
  }

  private sessionFor(p: Packet): { session: NatSession; forward: boolean } | undefined {
    return this.byTuple.get(NatTable.key(p.dir, p.family, p.proto, this.tupleOf(p), hasPorts(p)));
  }

  private apply(p: Packet, t: Tuple): void {
    p.src = t.src;
    p.dst = t.dst;
    if (hasPorts(p)) {
      p.sport = t.sport;
      p.dport = t.dport;
    }
  }

  /**
   * Translate a packet in place (inbound before filtering, outbound after).
   * `steps` collects each rule looked at, for traces.
   */
  translate(p: Packet, steps?: NatStep[]): NatResult | undefined {
    const before = this.tupleOf(p);
    const found = this.sessionFor(p);
    if (found) {
      const s = found.session;
      const out: Tuple = found.forward
        ? s.translated
        : { src: s.original.dst, sport: s.original.dport, dst: s.original.src, dport: s.original.sport };
      this.apply(p, out);
      return { session: s, created: false, before, after: this.tupleOf(p), rejected: false };
    }
    if (p.inner) {
      const quoted = this.translateQuoted(p);
      if (quoted) return quoted;
    }
    // A later fragment carries no ports: only the NAT fragment cache could map it, and no session exists.
    if (p.fragOff !== 0) return undefined;
    const inbound = p.dir === "in";
    const sticky = inbound ? this.stickyRule(p, before) : undefined;
    if (sticky && sticky.ast.target.kind === "list") {
      // IPFilter 5.1.2 refuses a returning sticky client of an rdr rule with a
      // target list (expected/n14: the hostmap keeps the address byte-swapped
      // and the new session cannot be set up); single-target rules reuse it.
      sticky.stickyTo = undefined;
      steps?.push({ rule: sticky, matched: true, why: undefined });
      return { session: undefined, created: false, before, after: before, rejected: true };
    }
    for (const r of sticky ? [sticky] : inbound ? this.inboundRules : this.outboundRules) {
      let why = whyNatNoMatch(r, p, steps !== undefined);
      if (why !== undefined && r.ast.kind === "bimap" && inbound) why = this.bimapInbound(r, p);
      steps?.push({ rule: r, matched: why === undefined, why });
      if (why !== undefined) continue;
      const hostmapBefore = this.hostmap.length;
      const touched = this.findHostmap(false, p.family, before.src, before.dst, r);
      const usesBefore = touched?.uses ?? 0;
      const translated = this.newTuple(r, p, before);
      if (!translated) {
        // A refused packet leaves no trace in the hostmap table.
        if (this.hostmap.length > hostmapBefore) {
          const dropped = this.hostmap.shift();
          if (dropped)
            this.hostmapIndex.delete(
              NatTable.hostmapKey(dropped.rdr, dropped.family, dropped.src, dropped.dst, dropped.rule),
            );
        } else if (touched) touched.uses = usesBefore;
        return { session: undefined, created: false, before, after: before, rejected: true };
      }
      r.hits++;
      if (r.ast.kind === "rdr" && r.ast.options.sticky && r !== sticky) {
        this.addHostmap({
          rule: r,
          rdr: true,
          src: before.src,
          dst: before.dst,
          newSrc: translated.dst,
          newDst: 0n,
          family: p.family,
          uses: 1,
        });
      }
      if (r.ast.options.roundRobin && r !== sticky && r.nextTarget % this.targetCount(r) === 0)
        this.rotate(r, inbound);
      const kind =
        r.ast.kind === "rdr"
          ? "RDR"
          : r.ast.kind === "bimap"
            ? "BIMAP"
            : r.ast.kind === "rewrite"
              ? p.dir === "in"
                ? "RWR-RDR"
                : "RWR-MAP"
              : "MAP";
      const s: NatSession = {
        rule: r,
        kind,
        family: p.family,
        proto: p.proto,
        dir: p.dir,
        original: before,
        translated,
      };
      this.sessions.unshift(s);
      this.index(s);
      this.apply(p, translated);
      return { session: s, created: true, before, after: this.tupleOf(p), rejected: false };
    }
    return undefined;
  }

  /** A sticky rdr rule that already sent this client to a target. */
  private stickyRule(p: Packet, t: Tuple): CompiledNatRule | undefined {
    const h = this.findHostmap(true, p.family, t.src, t.dst);
    if (!h?.rule || whyNatNoMatch(h.rule, p) !== undefined) return undefined;
    h.rule.stickyTo = h.newSrc;
    return h.rule;
  }

  private targetCount(r: CompiledNatRule): number {
    return r.ast.target.kind === "list" ? Math.max(1, r.ast.target.addresses.length) : 1;
  }

  /** round-robin: a rule that has used each of its targets once goes behind the other rules of its rank. */
  private rotate(r: CompiledNatRule, inbound: boolean): void {
    const list = inbound ? this.inboundRules : this.outboundRules;
    const i = list.indexOf(r);
    if (i < 0) return;
    list.splice(i, 1);
    let at = i;
    while (at < list.length && (list[at] as CompiledNatRule).bits === r.bits) at++;
    list.splice(at, 0, r);
  }

  /**
   * An ICMP error about a packet NAT translated: the quoted packet is the
   * translated one, so it and the error's own destination are put back as the
   * host behind the NAT sent them (ip_nat.c ipf_nat_icmperror).
   */
  private translateQuoted(p: Packet): NatResult | undefined {
    const q = p.inner;
    if (!q) return undefined;
    const ports = (q.proto === IPPROTO_TCP || q.proto === IPPROTO_UDP) && q.sport !== undefined;
    const s = this.sessions.find(
      (x) =>
        x.family === p.family &&
        x.proto === q.proto &&
        x.translated.src === q.src &&
        x.translated.dst === q.dst &&
        (!ports || (x.translated.sport === q.sport && x.translated.dport === q.dport)),
    );
    // The error travels against the flow it quotes, through the rule's interface.
    if (!s || p.dir === s.dir || (s.rule.ifname !== "*" && s.rule.ifname !== p.ifname))
      return this.translateQuotedReply(p, q, ports);
    const before = this.tupleOf(p);
    // ipf_nat_in/ipf_nat_out rewrite the error's own header as they would any
    // packet of the session: inbound its destination, outbound its source,
    // whichever router sent it. The other address changes only when it is
    // the quoted peer itself.
    if (p.dir === "in" || p.dst === q.src) p.dst = s.original.src;
    if (p.dir === "out" || p.src === q.dst) p.src = s.original.dst;
    q.src = s.original.src;
    q.dst = s.original.dst;
    if (ports) {
      q.sport = s.original.sport;
      q.dport = s.original.dport;
    }
    return { session: s, created: false, before, after: this.tupleOf(p), rejected: false };
  }

  /**
   * An ICMP error travelling the session's own way about a reply: the quoted
   * reply is as NAT delivered it (original addresses), so it is put back as
   * it was on the wire (translated addresses), and the error's own header
   * gets the session's translated address the way ipf_nat_out (source) or
   * ipf_nat_in (destination) rewrites any packet of the session.
   */
  private translateQuotedReply(p: Packet, q: InnerPacket, ports: boolean): NatResult | undefined {
    const s = this.sessions.find(
      (x) =>
        x.family === p.family &&
        x.proto === q.proto &&
        x.dir === p.dir &&
        (x.rule.ifname === "*" || x.rule.ifname === p.ifname) &&
        x.original.dst === q.src &&
        x.original.src === q.dst &&
        (!ports || (x.original.dport === q.sport && x.original.sport === q.dport)),
    );
    if (!s) return undefined;
    const before = this.tupleOf(p);
    if (p.dir === "out" || p.src === q.dst) p.src = s.translated.src;
    if (p.dir === "in" || p.dst === q.src) p.dst = s.translated.dst;
    q.src = s.translated.dst;
    q.dst = s.translated.src;
    if (ports) {
      q.sport = s.translated.dport;
      q.dport = s.translated.sport;
    }
    return { session: s, created: false, before, after: this.tupleOf(p), rejected: false };
  }

  private bimapInbound(r: CompiledNatRule, p: Packet): string | undefined {
    if (r.ifname !== "*" && r.ifname !== p.ifname) return `interface is ${p.ifname}, rule is on ${r.ifname}`;
    const target = r.ast.target;
    if (target.kind !== "cidr") return "bimap target is not an address";
    const c = compileCidr(target.address);
    return cidrContains(c, p.family, p.dst) ? undefined : "destination is not the bimap address";
  }

  private interfaceAddress(name: string): bigint | undefined {
    return this.ctx.interfaces.get(name);
  }

  private newTuple(r: CompiledNatRule, p: Packet, t: Tuple): Tuple | undefined {
    const a = r.ast;
    const ports = hasPorts(p) && r.portsFor(p.proto);
    if (a.kind === "rdr" || (a.kind === "bimap" && p.dir === "in")) {
      let addr: bigint | undefined;
      if (a.kind === "bimap") {
        if (a.match.kind !== "simple" || a.match.address.kind !== "cidr") return undefined;
        const inside = compileCidr(a.match.address);
        const outside = a.target.kind === "cidr" ? compileCidr(a.target.address) : undefined;
        if (!outside) return undefined;
        addr = inside.addr | (p.dst & ~inside.mask & (p.family === 4 ? 0xffffffffn : (1n << 128n) - 1n));
        return { ...t, dst: addr };
      }
      addr = this.pickTarget(r, p);
      if (addr === undefined) return undefined;
      let dport = t.dport;
      if (ports && a.targetPort && a.targetPort.low !== 0) {
        if (a.targetPort.fixed) dport = a.targetPort.low;
        else {
          const base =
            a.match.kind === "simple" && a.match.ports
              ? a.match.ports.low
              : a.match.kind === "fromto" && a.match.to.port?.kind === "compare"
                ? a.match.to.port.port
                : a.match.kind === "fromto" && a.match.to.port?.kind === "range"
                  ? a.match.to.port.low // in_odport: the first port of `to … port A:B`
                  : t.dport;
          dport = a.targetPort.low + (t.dport - base);
        }
      }
      const redirected = { ...t, dst: addr, dport: ports ? dport : t.dport };
      // Two clients may not end up as the same flow inside; a target port range offers the next port.
      const tp = a.targetPort;
      if (ports && tp && !tp.fixed && tp.high > tp.low) {
        const span = tp.high - tp.low + 1;
        for (let i = 0; i < span; i++) {
          const candidate = { ...redirected, dport: tp.low + ((dport - tp.low + i) % span) };
          if (!this.tupleInUse(p, candidate)) return candidate;
        }
        return undefined;
      }
      return this.tupleInUse(p, redirected) ? undefined : redirected;
    }
    if (a.kind === "rewrite" && a.rewrite) return this.rewriteTuple(r, p, t, ports);
    // map, bimap outbound, map-block
    const newSrc = this.allocateSource(r, p, t, ports && a.portmap !== null);
    if (newSrc === undefined) return undefined;
    if (!(ports && a.portmap)) return { ...t, src: newSrc };
    const low = a.portmap.auto ? 1024 : (a.portmap.low ?? 1024);
    const high = a.portmap.auto ? 65535 : (a.portmap.high ?? 65535);
    // Ports are handed out in turn; one whose flow to this peer is taken is skipped, and when all are taken the packet is refused.
    for (let tries = 0; tries <= high - low; tries++) {
      if (r.nextPort < low || r.nextPort > high) r.nextPort = low;
      const candidate = { ...t, src: newSrc, sport: r.nextPort };
      r.nextPort = r.nextPort >= high ? low : r.nextPort + 1;
      if (!this.tupleInUse(p, candidate)) return candidate;
    }
    return undefined;
  }

  /**
   * rewrite: source and destination, address and port, each either kept
   * (`0/0`, no port), fixed, a pool to step through, or a destination list.
   * The stepping dimensions keep their cursors; when the current combination
   * is already in use, one dimension moves on, taking turns (src address,
   * src port, dst address, dst port), which is the order ipftest shows.
   */
  private rewriteTuple(r: CompiledNatRule, p: Packet, t: Tuple, ports: boolean): Tuple | undefined {
    const rw = r.ast.rewrite;
    if (!rw) return undefined;
    const dims: {
      get: () => bigint | number;
      advance: () => void;
      apply: (x: Tuple, v: bigint | number) => void;
    }[] = [];
    let base: Tuple = { ...t };
    const addressDim = (side: "src" | "dst"): void => {
      const target = rw[side].address;
      if (target.kind === "pool") {
        const list = this.ctx.dstlists?.get(`${target.pool.table}/${target.pool.name}`);
        const chosen = list?.select(p.family, t.src, t.dst);
        if (chosen) base = { ...base, [side]: chosen.addr };
        return;
      }
      let low: bigint;
      let high: bigint;
      if (target.kind === "cidr") {
        const c = compileCidr(target.address);
        if (target.address.prefix === 0) return;
        const host = ~c.mask & this.allOnes(c);
        if (host === 0n) {
          base = { ...base, [side]: c.addr };
          return;
        }
        low = c.addr + 1n;
        high = c.addr + host - 1n;
      } else if (target.kind === "range") {
        low = parseAddress(target.family, target.low);
        high = parseAddress(target.family, target.high);
      } else return;
      const cursor = r.rewriteCursors;
      const key = `${side}Addr`;
      if ((cursor.get(key) ?? -1n) < low || (cursor.get(key) ?? -1n) > high) cursor.set(key, low);
      dims.push({
        get: () => cursor.get(key) as bigint,
        advance: () => {
          const v = cursor.get(key) as bigint;
          cursor.set(key, v >= high ? low : v + 1n);
        },
        apply: (x, v) => (side === "src" ? (x.src = v as bigint) : (x.dst = v as bigint)),
      });
    };
    const portDim = (side: "src" | "dst"): void => {
      const range = rw[side].ports;
      if (!range || !ports) return;
      if (range.fixed || range.low === range.high) {
        base = side === "src" ? { ...base, sport: range.low } : { ...base, dport: range.low };
        return;
      }
      const cursor = r.rewriteCursors;
      const key = `${side}Port`;
      const low = BigInt(range.low);
      const high = BigInt(range.high);
      if ((cursor.get(key) ?? -1n) < low || (cursor.get(key) ?? -1n) > high) cursor.set(key, low);
      dims.push({
        get: () => cursor.get(key) as bigint,
        advance: () => {
          const v = cursor.get(key) as bigint;
          cursor.set(key, v >= high ? low : v + 1n);
        },
        apply: (x, v) => (side === "src" ? (x.sport = Number(v)) : (x.dport = Number(v))),
      });
    };
    addressDim("src");
    portDim("src");
    addressDim("dst");
    portDim("dst");
    const build = (): Tuple => {
      const x = { ...base };
      for (const d of dims) d.apply(x, d.get());
      return x;
    };
    let candidate = build();
    if (dims.length === 0) return this.rewriteInUse(p, candidate) ? undefined : candidate;
    let tries = 0;
    while (this.rewriteInUse(p, candidate)) {
      if (++tries > 65536) return undefined;
      const d = dims[r.rewriteTurn % dims.length];
      r.rewriteTurn++;
      d?.advance();
      candidate = build();
    }
    return candidate;
  }

  /** rewrite's own clash test: the same translated addresses, and the same ports when both flows have them. */
  private rewriteInUse(p: Packet, t: Tuple): boolean {
    const ports = hasPorts(p);
    return this.sessions.some((s) => {
      if (s.family !== p.family || s.translated.src !== t.src || s.translated.dst !== t.dst) return false;
      const sPorts = s.proto === IPPROTO_TCP || s.proto === IPPROTO_UDP;
      return !(ports && sPorts) || (s.translated.sport === t.sport && s.translated.dport === t.dport);
    });
  }

  /** Whether a session already produces this translated flow. */
  private tupleInUse(p: Packet, t: Tuple): boolean {
    return (this.translatedFlows.get(NatTable.flowKey(p.family, p.proto, t, hasPorts(p))) ?? 0) > 0;
  }

  private pickTarget(r: CompiledNatRule, p: Packet): bigint | undefined {
    if (r.stickyTo !== undefined) {
      const chosen = r.stickyTo;
      r.stickyTo = undefined;
      return chosen;
    }
    const target = r.ast.target;
    const fam = r.ast.family;
    switch (target.kind) {
      case "cidr":
        r.nextTarget++;
        if (target.address.address === "0.0.0.0" && target.address.prefix === 32)
          return this.interfaceAddress(p.ifname);
        return parseAddress(fam, target.address.address);
      case "list": {
        const list = target.addresses;
        if (list.length === 0) return undefined;
        const chosen = list[r.nextTarget % list.length];
        r.nextTarget++;
        return chosen ? parseAddress(chosen.family, chosen.address) : undefined;
      }
      case "interface":
        return this.interfaceAddress(target.address.name);
      case "range":
        return parseAddress(target.family, target.low);
      default:
        return undefined;
    }
  }

  private inUse(p: Packet, addr: bigint, t: Tuple): boolean {
    return this.tupleInUse(p, { ...t, src: addr });
  }

  private allocateSource(
    r: CompiledNatRule,
    p: Packet,
    t: Tuple,
    portTranslated: boolean,
  ): bigint | undefined {
    const target = r.ast.target;
    const existing = this.findHostmap(false, p.family, t.src, t.dst, r);
    const reuse = (addr: bigint): bigint => {
      if (existing && existing.newSrc === addr) existing.uses++;
      else
        this.addHostmap({
          rule: r,
          rdr: false,
          src: t.src,
          dst: t.dst,
          newSrc: addr,
          newDst: 0n,
          family: p.family,
          uses: 1,
        });
      return addr;
    };
    // `0/32` means the interface's address now; the hostmap keeps the rule's 0 (as ipnat -l shows it).
    const toInterface =
      target.kind === "cidr" &&
      (target.address.prefix === 32 || target.address.prefix === 128) &&
      /^[0.:]+$/.test(target.address.address);
    if (existing) {
      existing.uses++;
      return toInterface ? this.interfaceAddress(p.ifname) : existing.newSrc;
    }
    if (target.kind === "cidr") {
      const c = compileCidr(target.address);
      // ipf_nat_newmap: `-> 0/0` keeps the packet's own source address.
      if (target.address.prefix === 0 && /^[0.:]+$/.test(target.address.address)) return reuse(t.src);
      if (target.address.prefix === 32 || target.address.prefix === 128) {
        if (target.address.address === "0.0.0.0" || target.address.address === "::") {
          const own = this.interfaceAddress(p.ifname);
          if (own === undefined || (!portTranslated && this.inUse(p, own, t))) return undefined;
          reuse(0n);
          return own;
        }
        // One address and no port change: a second flow to the same peer would be indistinguishable.
        if (!portTranslated && this.inUse(p, c.addr, t)) return undefined;
        return reuse(c.addr);
      }
      if (r.ast.kind === "bimap") {
        const inside =
          r.ast.match.kind === "simple" && r.ast.match.address.kind === "cidr"
            ? compileCidr(r.ast.match.address)
            : undefined;
        return reuse(c.addr | (t.src & ~(inside?.mask ?? 0n) & ~c.mask & this.allOnes(c)));
      }
      const host = ~c.mask & this.allOnes(c);
      return reuse(this.allocate(r, p, t, c.addr + 1n, c.addr + host - 1n));
    }
    if (target.kind === "range") {
      return reuse(
        this.allocate(
          r,
          p,
          t,
          parseAddress(target.family, target.low),
          parseAddress(target.family, target.high),
        ),
      );
    }
    if (target.kind === "interface") {
      const own = this.interfaceAddress(target.address.name);
      return own === undefined ? undefined : reuse(own);
    }
    return undefined;
  }

  private allOnes(c: CompiledCidr): bigint {
    return c.family === 4 ? 0xffffffffn : (1n << 128n) - 1n;
  }

  /**
   * The next address of a pool (network or range) for a new mapping. The
   * rule's cursor stays put while the address is free for this destination;
   * when an existing session already uses (address, destination) the cursor
   * moves on, and moves once more after the retry succeeds — the order
   * ip_nat.c's ipf_nat_newmap hands addresses out in.
   */
  private allocate(r: CompiledNatRule, p: Packet, t: Tuple, low: bigint, high: bigint): bigint {
    if (r.nextAddress < low || r.nextAddress > high) r.nextAddress = low;
    const inUse = (addr: bigint): boolean => this.inUse(p, addr, t);
    const size = high - low + 1n;
    let clashes = 0n;
    while (inUse(r.nextAddress) && clashes < size) {
      r.nextAddress = r.nextAddress >= high ? low : r.nextAddress + 1n;
      clashes++;
    }
    const chosen = r.nextAddress;
    if (clashes > 0n) r.nextAddress = chosen >= high ? low : chosen + 1n;
    return chosen;
  }

  /** The -D dump's session and hostmap sections. */
  dumpSessions(): string[] {
    const lines: string[] = [];
    for (const s of this.sessions) {
      const ports = s.proto === IPPROTO_TCP || s.proto === IPPROTO_UDP;
      if (s.kind === "RWR-MAP" || s.kind === "RWR-RDR") {
        const a = (x: bigint): string => (s.family === 4 ? formatAddr(4, x).padEnd(15) : formatAddr(6, x));
        const pt = (n: number): string => (ports ? ` ${String(n).padEnd(5)}` : "");
        const side = (t: Tuple): string => `${a(t.src)}${pt(t.sport)} ${a(t.dst)}${pt(t.dport)}`;
        lines.push(`${s.kind} ${side(s.original)}<- -> ${side(s.translated)}`);
        continue;
      }
      // IPv4 addresses are padded to 15 columns, IPv6 ones printed as they are; ports always take 5.
      const f = (a: bigint): string => (s.family === 4 ? formatAddr(4, a).padEnd(15) : formatAddr(6, a));
      const port = (n: number): string => (ports ? `${String(n).padEnd(5)} ` : "");
      let inside: [bigint, number];
      let outside: [bigint, number];
      let peer: [bigint, number];
      if (s.kind === "RDR") {
        inside = [s.translated.dst, s.translated.dport];
        outside = [s.original.dst, s.original.dport];
        peer = [s.original.src, s.original.sport];
      } else {
        inside = [s.original.src, s.original.sport];
        outside = [s.translated.src, s.translated.sport];
        peer = [s.original.dst, s.original.dport];
      }
      lines.push(
        `${s.kind} ${f(inside[0])} ${port(inside[1])}<- -> ${f(outside[0])} ${port(outside[1])}[${formatAddr(s.family, peer[0])}${ports ? ` ${peer[1]}` : ""}]`,
      );
    }
    return lines;
  }

  dumpHostmap(): string[] {
    const show = (h: HostmapEntry, a: bigint): string =>
      h.family === 6 && a === 0n ? "any" : formatAddr(h.family, a);
    const swapped = (a: bigint): bigint =>
      ((a & 0xffn) << 24n) | ((a & 0xff00n) << 8n) | ((a >> 8n) & 0xff00n) | ((a >> 24n) & 0xffn);
    return this.hostmap.map(
      (h) =>
        `${show(h, h.src)},${show(h, h.dst)} -> ${show(h, h.rdr && h.family === 4 ? swapped(h.newSrc) : h.newSrc)},${show(h, h.newDst)} (use = ${h.uses})`,
    );
  }
}
