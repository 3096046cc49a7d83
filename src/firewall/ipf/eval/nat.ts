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
import type { AddressMatch, NatProtocol, NatRule, PortMatch } from "../ast.js";
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
import { dstKey, foldAddr, mix, setAddresses, srcKey } from "./hash.js";
import { IntSlots } from "./hashslots.js";

interface Tuple {
  src: bigint;
  sport: number;
  dst: bigint;
  dport: number;
}

/** Every tuple is made here, so they all share one shape. */
const tuple = (src: bigint, sport: number, dst: bigint, dport: number): Tuple => ({ src, sport, dst, dport });

type SessionKind = "MAP" | "RDR" | "BIMAP" | "RWR-MAP" | "RWR-RDR";
const KINDS: readonly SessionKind[] = ["MAP", "RDR", "BIMAP", "RWR-MAP", "RWR-RDR"];

/**
 * The session table's layout: one row of S_STRIDE int32 words per session
 * handle (sessions are never removed, so handles are creation order), all in
 * one buffer. A lookup reads the row's meta, ports and keys, a new session
 * writes one row: one or two cache lines, where one array per field (as
 * until 2026-12-06, i13g) touched a line per field — seventeen per new
 * session, ten per hit — and made ~164 kB of reference arrays per engine
 * (cachegrind on the bench: 3-4 fewer L1 and 1-2 fewer LL data misses per
 * packet with rows). References stay out of the row: the rule is its index in
 * NatTable.rules, and IPv4 addresses are their folded keys, which are the
 * addresses themselves (packet.ts foldAddr); only IPv6 sessions keep
 * bigints, in an array made with the first one.
 */
const S_STRIDE = 8;
/** family | proto << 8 | dir << 16 | kind << 24; dir: 0 = in, 1 = out, that of the packet that created the session; kind: index into KINDS. */
const S_META = 0;
/** Index into NatTable.rules (the rule's number - 1). */
const S_RULE = 1;
/** sport << 16 | dport of the tuple as first seen (O) and as translated (T); 0 for flows without ports. */
const S_OPORTS = 2;
const S_TPORTS = 3;
/** The four addresses folded (hash.ts foldAddr): what the hash is built from, and compared before any bigint. */
const S_OSRCK = 4;
const S_ODSTK = 5;
const S_TSRCK = 6;
const S_TDSTK = 7;
/** IPv6 sessions' addresses, four per handle in this order (SessionRows.addr6). */
const A_OSRC = 0;
const A_ODST = 1;
const A_TSRC = 2;
const A_TDST = 3;

/** The 32-bit word of two ports. */
const portPair = (a: number, b: number): number => (a << 16) | b;

class SessionRows {
  readonly rows: Int32Array;
  /** IPv6 sessions' addresses (A_* per handle; IPv4 ones are their keys); made with the first IPv6 session. */
  addr6: bigint[] | undefined = undefined;

  constructor(readonly size: number) {
    this.rows = new Int32Array(size * S_STRIDE);
    // Write to every 4 kB page now, so the kernel faults the fresh mapping in while the engine
    // is built rather than one page at a time among the first packets (as state.ts's table does).
    for (let i = 0; i < this.rows.length; i += 1024) this.rows[i] = 0;
  }

  /** The IPv6 address array, made on first use. */
  v6(): bigint[] {
    return (this.addr6 ??= new Array<bigint>(this.size * 4).fill(0n));
  }

  grown(size: number): SessionRows {
    const c = new SessionRows(size);
    c.rows.set(this.rows);
    if (this.addr6) {
      const a = c.v6();
      for (let i = 0; i < this.addr6.length; i++) a[i] = this.addr6[i] as bigint;
    }
    return c;
  }

  /** One of the session's addresses: `key` an S_*K word, `a6` the matching A_* slot. */
  addr(h: number, key: number, a6: number): bigint {
    const at = h * S_STRIDE;
    const rows = this.rows;
    return ((rows[at + S_META] as number) & 0xff) === 4
      ? BigInt((rows[at + key] as number) >>> 0)
      : ((this.addr6 as bigint[])[h * 4 + a6] as bigint);
  }
}

/**
 * One NAT session as dumps, traces and tests see it: a view onto the
 * session table's row by the session's handle.
 */
export class NatSession {
  constructor(
    private readonly c: SessionRows,
    private readonly rules: readonly CompiledNatRule[],
    /** The session's handle (row); sessions are numbered in creation order. */
    readonly handle: number,
  ) {}
  private word(i: number): number {
    return this.c.rows[this.handle * S_STRIDE + i] as number;
  }
  get rule(): CompiledNatRule {
    return this.rules[this.word(S_RULE)] as CompiledNatRule;
  }
  get kind(): SessionKind {
    return KINDS[this.word(S_META) >>> 24] as SessionKind;
  }
  get family(): Family {
    return (this.word(S_META) & 0xff) as Family;
  }
  get proto(): number {
    return (this.word(S_META) >>> 8) & 0xff;
  }
  /** The direction of the packet that created the session. */
  get dir(): "in" | "out" {
    return ((this.word(S_META) >>> 16) & 0xff) === 0 ? "in" : "out";
  }
  /** The tuple as first seen. */
  get original(): Tuple {
    const c = this.c;
    const h = this.handle;
    const ports = this.word(S_OPORTS);
    return tuple(c.addr(h, S_OSRCK, A_OSRC), ports >>> 16, c.addr(h, S_ODSTK, A_ODST), ports & 0xffff);
  }
  /** The tuple as translated. */
  get translated(): Tuple {
    const c = this.c;
    const h = this.handle;
    const ports = this.word(S_TPORTS);
    return tuple(c.addr(h, S_TSRCK, A_TSRC), ports >>> 16, c.addr(h, S_TDSTK, A_TDST), ports & 0xffff);
  }
}

/** The hostmap's row layout (NatTable.hostmapRows). */
const HM_STRIDE = 8;
const HM_SRCK = 0;
const HM_DSTK = 1;
const HM_OWNER = 2;
const HM_FAMILY = 3;
const HM_USES = 4;

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
  /** src and dst folded (hash.ts foldAddr): what the entry is filed under. */
  srcK: number;
  dstK: number;
}

export interface CompiledNatRule extends FastNatTests {
  ast: NatRule;
  number: number;
  family: Family;
  /** Interface a packet must use: map/bimap/rewrite-out on output, rdr/rewrite-in on input. */
  ifname: string;
  /** The direction of the packets the rule translates (rdr and `rewrite in`: in). */
  dir: "in" | "out";
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
  /** `rdr`, and `sticky` / `round-robin` among its options, read once. */
  isRdr: boolean;
  sticky: boolean;
  roundRobin: boolean;
  /** A map target of `0/32` (`0/128`): the interface's own address at the time (ipf_nat_newmap). */
  toInterface: boolean;
  /**
   * What a new session needs from the rule's AST, read once (the AST's
   * objects are scattered on the heap: each one read per new session was a
   * cache miss). Session kind (index into KINDS; rewrite rules depend on the
   * direction, so -1), bimap/rewrite flags, rdr's target port (tportLow 0 =
   * the port is kept; tportBase -1 = the packet's own port is the base), a
   * `-> 0.0.0.0/32` single target (the interface's address), portmap range.
   */
  kindIndex: number;
  isBimap: boolean;
  hasTport: boolean;
  tportLow: number;
  tportHigh: number;
  tportFixed: boolean;
  tportBase: number;
  targetIsCidr: boolean;
  targetIfZero: boolean;
  hasPortmap: boolean;
  portmapLow: number;
  portmapHigh: number;
  /** A single-address target (`-> 10.0.0.2`) as a number, once parsed. */
  cidrTarget: bigint | undefined;
  /** {@link cidrTarget}'s hash key (foldAddr), with it. */
  cidrTargetKey: number;
}

/**
 * The same tests as a rule's src/dst/protoOk/portsFor, as plain numbers on
 * the rule itself for the per-packet path ({@link natRuleMatches},
 * {@link NatTable.newTuple}): a closure per rule makes every call site see as
 * many functions as there are rules, which V8 cannot inline, and a separate
 * object would be one more cache line per rule looked at. Protocol tests: {@link PROTO_ANY} any,
 * {@link PROTO_TCPUDP} tcp or udp, {@link PROTO_NONE} none, else that
 * protocol number. Address tests: {@link ADDR_ALL} every address (`any`),
 * 4 or 6 every address of that family (`0/0`), {@link ADDR_TEST} ask the
 * compiled test. Port tests: low..high, or {@link PORT_TEST} (ask the
 * closure) with low = high = -1 when there is no port test at all.
 */
interface FastNatTests {
  protoCode: number;
  portProtoCode: number;
  srcCode: number;
  dstCode: number;
  srcPortLow: number;
  srcPortHigh: number;
  dstPortLow: number;
  dstPortHigh: number;
}
const PROTO_ANY = -1;
const PROTO_TCPUDP = -2;
const PROTO_NONE = -3;
const ADDR_ALL = 0;
const ADDR_TEST = -1;
const PORT_TEST = -2;

function fastProto(np: NatProtocol | null): number {
  if (np === null || np.kind === "ip") return PROTO_ANY;
  if (np.kind === "tcpudp") return PROTO_TCPUDP;
  return np.number;
}

function protoIn(code: number, proto: number): boolean {
  if (code === PROTO_ANY) return true;
  if (code === PROTO_TCPUDP) return proto === IPPROTO_TCP || proto === IPPROTO_UDP;
  return code === proto;
}

/** An address match as ADDR_ALL / 4 / 6 when it needs no test at run time, else ADDR_TEST. */
function fastAddress(m: AddressMatch, negated: boolean): number {
  if (negated) return ADDR_TEST;
  if (m.kind === "any") return ADDR_ALL;
  // compileAddressMatch: a `0/0` network holds every address of its family.
  if (m.kind === "cidr") {
    const c = compileCidr(m);
    if (c.mask === 0n && c.addr === 0n) return c.family;
  }
  return ADDR_TEST;
}

/** A port match as [low, high] when it is `=` or `:`, [PORT_TEST, PORT_TEST] for the others. */
function fastPorts(m: PortMatch): [number, number] {
  if (m.kind === "compare" && m.op === "=") return [m.port, m.port];
  if (m.kind === "range" && m.op === ":") return [m.low, m.high];
  return [PORT_TEST, PORT_TEST];
}

function natProtoOk(np: NatProtocol | null): (proto: number) => boolean {
  const code = fastProto(np);
  return (p) => protoIn(code, p);
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
  const fast: FastNatTests = {
    protoCode: PROTO_ANY,
    portProtoCode: PROTO_NONE,
    srcCode: ADDR_ALL,
    dstCode: ADDR_ALL,
    srcPortLow: -1,
    srcPortHigh: -1,
    dstPortLow: -1,
    dstPortHigh: -1,
  };
  if (ast.match.kind === "simple") {
    const test = compileAddressMatch(ast.match.address, ctx);
    // `port 0` in a simple rdr means any port (ipnat stores no port test).
    const range =
      ast.match.ports && !(ast.match.ports.low === 0 && ast.match.ports.high === 0) ? ast.match.ports : null;
    const port = range ? (p: number): boolean => p >= range.low && p <= range.high : null;
    if (ast.kind === "rdr") {
      src = { test: anyTest, negated: false, port: null };
      dst = { test, negated: false, port };
      fast.dstCode = fastAddress(ast.match.address, false);
      if (range) [fast.dstPortLow, fast.dstPortHigh] = [range.low, range.high];
    } else {
      src = { test, negated: false, port: null };
      dst = { test: anyTest, negated: false, port: null };
      fast.srcCode = fastAddress(ast.match.address, false);
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
    fast.srcCode = fastAddress(m.from.address, src.negated);
    fast.dstCode = fastAddress(m.to.address, dst.negated);
    if (fp) [fast.srcPortLow, fast.srcPortHigh] = fastPorts(fp);
    if (tp) [fast.dstPortLow, fast.dstPortHigh] = fastPorts(tp);
  }
  const matchProto = ast.matchProto ?? ast.proto ?? ast.portmap?.proto ?? null;
  fast.protoCode = fastProto(matchProto);
  const protoOk = natProtoOk(matchProto);
  fast.portProtoCode = ast.portmap
    ? fastProto(ast.portmap.proto)
    : ast.proto && ast.proto.kind !== "ip"
      ? fastProto(ast.proto)
      : PROTO_NONE;
  const portProto = fast.portProtoCode;
  const portsFor = (p: number): boolean =>
    (p === IPPROTO_TCP || p === IPPROTO_UDP) && portProto !== PROTO_NONE && protoIn(portProto, p);
  const bits = ast.kind === "rdr" ? dst.test.bits : src.test.bits;
  const target = ast.target;
  const tp = ast.targetPort;
  const m = ast.match;
  // rdr `port A-B -> … port C`: the new port is C + (port - A) (in_odport: the first port of `to … port A:B`).
  const tportBase =
    m.kind === "simple" && m.ports
      ? m.ports.low
      : m.kind === "fromto" && m.to.port?.kind === "compare"
        ? m.to.port.port
        : m.kind === "fromto" && m.to.port?.kind === "range"
          ? m.to.port.low
          : -1;
  const pm = ast.portmap;
  // The fields natRuleMatches reads come first: they share the object's first cache line.
  return {
    dstPortLow: fast.dstPortLow,
    dstPortHigh: fast.dstPortHigh,
    dir: ast.kind === "rdr" || ast.direction === "in" ? "in" : "out",
    ifname: ruleIfname(ast),
    family,
    protoCode: fast.protoCode,
    srcCode: fast.srcCode,
    dstCode: fast.dstCode,
    srcPortLow: fast.srcPortLow,
    srcPortHigh: fast.srcPortHigh,
    portProtoCode: fast.portProtoCode,
    ast,
    number,
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
    isRdr: ast.kind === "rdr",
    sticky: ast.options.sticky === true,
    roundRobin: ast.options.roundRobin === true,
    cidrTarget: undefined,
    cidrTargetKey: 0,
    kindIndex: ast.kind === "rdr" ? 1 : ast.kind === "bimap" ? 2 : ast.kind === "rewrite" ? -1 : 0,
    isBimap: ast.kind === "bimap",
    hasTport: tp !== null,
    tportLow: tp?.low ?? 0,
    tportHigh: tp?.high ?? 0,
    tportFixed: tp?.fixed === true,
    tportBase,
    targetIsCidr: target.kind === "cidr",
    targetIfZero:
      target.kind === "cidr" && target.address.address === "0.0.0.0" && target.address.prefix === 32,
    hasPortmap: pm !== null,
    portmapLow: pm === null ? 0 : pm.auto ? 1024 : (pm.low ?? 1024),
    portmapHigh: pm === null ? 0 : pm.auto ? 65535 : (pm.high ?? 65535),
    toInterface:
      target.kind === "cidr" &&
      (target.address.prefix === 32 || target.address.prefix === 128) &&
      isZeroAddress(target.address.address),
  };
}

const hasPorts = (p: Packet): boolean =>
  (p.proto === IPPROTO_TCP || p.proto === IPPROTO_UDP) && p.fragOff === 0;

/** Why a NAT rule does not apply to this packet, or undefined when it does. */
export function whyNatNoMatch(r: CompiledNatRule, p: Packet, explain = true): string | undefined {
  if (!explain) return natRuleMatches(r, p) ? undefined : "no match";
  const a = r.ast;
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

/**
 * {@link whyNatNoMatch} without the reasons: the same tests, no strings, and
 * the common ones (protocol, `any`/`0/0`, `port =`, `port A:B`) read from the
 * rule's numbers rather than called (the per-packet path).
 */
export function natRuleMatches(r: CompiledNatRule, p: Packet): boolean {
  const ports = hasPorts(p);
  // The cheapest test that usually fails goes first: most rdr rules differ by port.
  const dLow = r.dstPortLow;
  if (dLow !== -1) {
    if (!ports) return false;
    const dport = p.dport ?? 0;
    if (
      dLow === PORT_TEST
        ? !(r.dst.port as (n: number) => boolean)(dport)
        : dport < dLow || dport > r.dstPortHigh
    )
      return false;
  }
  if (p.dir !== r.dir) return false;
  if (r.ifname !== "*" && r.ifname !== p.ifname) return false;
  const family = p.family;
  if (r.family !== family) return false;
  if (!protoIn(r.protoCode, p.proto)) return false;
  const src = r.srcCode;
  if (
    src === ADDR_TEST ? r.src.test.test(family, p.src) === r.src.negated : src !== ADDR_ALL && src !== family
  )
    return false;
  const dst = r.dstCode;
  if (
    dst === ADDR_TEST ? r.dst.test.test(family, p.dst) === r.dst.negated : dst !== ADDR_ALL && dst !== family
  )
    return false;
  const sLow = r.srcPortLow;
  if (sLow !== -1) {
    if (!ports) return false;
    const sport = p.sport ?? 0;
    if (
      sLow === PORT_TEST
        ? !(r.src.port as (n: number) => boolean)(sport)
        : sport < sLow || sport > r.srcPortHigh
    )
      return false;
  }
  return true;
}

export interface NatStep {
  rule: CompiledNatRule;
  matched: boolean;
  why: string | undefined;
}

export interface NatResult {
  /** The session used or created, if the packet was translated. */
  readonly session: NatSession | undefined;
  readonly created: boolean;
  readonly before: Tuple;
  readonly after: Tuple;
  /** A rule matched but could not translate (no address or port left): ipftest prints 15/16. */
  readonly rejected: boolean;
}

/**
 * What {@link NatTable.translate} returns: one object per direction, refilled
 * by each call (no allocation per packet), valid until the next packet of that
 * direction. `before` and `after` are refilled too: copy them to keep them.
 */
class Result implements NatResult {
  /** The session's handle, -1 for none. */
  handle = -1;
  created = false;
  rejected = false;
  readonly before: Tuple = tuple(-1n, 0, -1n, 0);
  readonly after: Tuple = tuple(-1n, 0, -1n, 0);
  constructor(private readonly table: NatTable) {}
  get session(): NatSession | undefined {
    return this.handle < 0 ? undefined : this.table.session(this.handle);
  }
  /** Set the session handle (-1 for none) and the flags; the caller has filled `before` and `after`. */
  fill(handle: number, created: boolean, rejected: boolean): this {
    this.handle = handle;
    this.created = created;
    this.rejected = rejected;
    return this;
  }
}

function setTuple(t: Tuple, src: bigint, sport: number, dst: bigint, dport: number): void {
  t.src = src;
  t.sport = sport;
  t.dst = dst;
  t.dport = dport;
}

function copyTuple(to: Tuple, from: Tuple): void {
  setTuple(to, from.src, from.sport, from.dst, from.dport);
}

export class NatTable {
  readonly rules: CompiledNatRule[];
  /** The sessions' rows; handle = creation order (the -D dump lists them newest first: {@link sessions}). */
  private sc = new SessionRows(4096);
  private sessionCount = 0;
  private readonly resultIn = new Result(this);
  private readonly resultOut = new Result(this);
  /**
   * The hostmap table, oldest first (dumped newest first); a handle is a
   * position. What a lookup compares, and the use count, are in
   * {@link hostmapRows} ({@link HM_STRIDE} ints per entry: src key, dst key,
   * owner — the rule's number, -1 for an rdr entry —, family, uses), so a
   * map packet finding its entry reads one slot and one row and no object;
   * the objects keep the addresses and the rule.
   */
  private readonly hostmapList: Omit<HostmapEntry, "uses">[] = [];
  private hostmapRows = new Int32Array(64 * HM_STRIDE);
  private readonly hostmapIndex = new IntSlots(64);

  private readonly inboundRules: CompiledNatRule[];
  private readonly outboundRules: CompiledNatRule[];
  /** Candidate rules by destination port, for rule sets without round-robin (whose order moves). */
  private readonly inboundIndex: RuleIndex | undefined;
  private readonly outboundIndex: RuleIndex | undefined;
  /**
   * Sessions by the tuple a packet must carry to use them, for both
   * directions (hash → entries, newest last). The reply entry (the
   * translated tuple reversed) also answers "is this translated flow
   * taken?" ({@link flowInUse}): the direction is not part of the hash, so
   * that question is one probe, and the probe's slot is the one the new
   * session's reply entry then goes into (one cache miss per new session,
   * not two; there used to be a second table of translated flows).
   */
  private readonly byTuple = new IntSlots(8192);
  /** Whether any sticky rdr entry exists (otherwise the sticky lookup is skipped). */
  private stickyEntries = 0;

  /** Sessions, newest first, as the -D dump lists them. */
  get sessions(): readonly NatSession[] {
    const out: NatSession[] = [];
    for (let h = this.sessionCount - 1; h >= 0; h--) out.push(this.session(h));
    return out;
  }

  /** A view of the session with this handle. */
  session(h: number): NatSession {
    return new NatSession(this.sc, this.rules, h);
  }
  /** The hostmap table, newest first. */
  get hostmap(): readonly HostmapEntry[] {
    return this.hostmapList
      .map((h, i) => ({ ...h, uses: this.hostmapRows[i * HM_STRIDE + HM_USES] as number }))
      .reverse();
  }

  constructor(
    rules: readonly NatRule[],
    private readonly ctx: AddressContext,
  ) {
    this.rules = rules.map((r, i) => compileNatRule(r, i + 1, ctx));
    this.inboundRules = this.ordered(true);
    this.outboundRules = this.ordered(false);
    const rotates = this.rules.some((r) => r.ast.options.roundRobin);
    this.inboundIndex = rotates ? undefined : new RuleIndex(this.inboundRules);
    this.outboundIndex = rotates ? undefined : new RuleIndex(this.outboundRules);
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

  /**
   * File a session under the tuple its forward packets carry (as first seen,
   * in its direction) and the one its replies carry (the translated tuple
   * reversed, the other direction); the newest session wins, as the kernel's
   * hash chains put new entries first.
   */
  private index(h: number): void {
    const rows = this.sc.rows;
    const at = h * S_STRIDE;
    const meta = rows[at + S_META] as number;
    const family = (meta & 0xff) as Family;
    const proto = (meta >>> 8) & 0xff;
    const ports = proto === IPPROTO_TCP || proto === IPPROTO_UDP;
    const oPorts = ports ? (rows[at + S_OPORTS] as number) : 0;
    // The reply entry: the translated tuple reversed, so its ports swapped.
    const t = rows[at + S_TPORTS] as number;
    const tPorts = ports ? portPair(t & 0xffff, t >>> 16) : 0;
    this.byTuple.add(
      tupleHash(family, proto, rows[at + S_OSRCK] as number, rows[at + S_ODSTK] as number, oPorts),
      h,
    );
    this.byTuple.add(
      tupleHash(family, proto, rows[at + S_TDSTK] as number, rows[at + S_TSRCK] as number, tPorts),
      h,
    );
  }

  /**
   * The handle of the entry for the packet's own source and destination, or
   * -1 (`rule`: map entries belong to their rule; the sticky rdr lookup asks
   * for rdr entries of any rule). Newest first, as a scan of the
   * newest-first table would find it.
   */
  private findHostmap(rdr: boolean, p: Packet, rule?: CompiledNatRule): number {
    const family = p.family;
    const ks = srcKey(p);
    const kd = dstKey(p);
    const owner = rdr ? -1 : (rule?.number ?? 0);
    const n = this.hostmapIndex.collect(hostmapHash(owner, family, ks, kd));
    const rows = this.hostmapRows;
    for (let i = 0; i < n; i++) {
      const h = this.hostmapIndex.found(i);
      const at = h * HM_STRIDE;
      if (
        rows[at + HM_SRCK] === ks &&
        rows[at + HM_DSTK] === kd &&
        rows[at + HM_OWNER] === owner &&
        rows[at + HM_FAMILY] === family
      ) {
        // IPv4: equal keys are equal addresses (see sessionFor).
        if (family === 4) return h;
        const e = this.hostmapList[h] as Omit<HostmapEntry, "uses">;
        if (e.src === p.src && e.dst === p.dst) return h;
      }
    }
    return -1;
  }

  private hostmapUses(h: number): number {
    return this.hostmapRows[h * HM_STRIDE + HM_USES] as number;
  }

  private setHostmapUses(h: number, uses: number): void {
    this.hostmapRows[h * HM_STRIDE + HM_USES] = uses;
  }

  /**
   * map entries belong to the rule that made them: ipf_nat_newmap asks
   * ipf_nat_hostmap with its rule, which only matches entries whose
   * hm_ipnat is that rule, so two map rules for one host keep their own
   * addresses. The sticky rdr lookup asks for any rule.
   */
  private addHostmap(e: Omit<HostmapEntry, "uses">): void {
    if (e.rdr) this.stickyEntries++;
    const h = this.hostmapList.length;
    this.hostmapList.push(e);
    if ((h + 1) * HM_STRIDE > this.hostmapRows.length) {
      const bigger = new Int32Array(this.hostmapRows.length * 2);
      bigger.set(this.hostmapRows);
      this.hostmapRows = bigger;
    }
    const owner = e.rdr ? -1 : (e.rule?.number ?? 0);
    const at = h * HM_STRIDE;
    const rows = this.hostmapRows;
    rows[at + HM_SRCK] = e.srcK;
    rows[at + HM_DSTK] = e.dstK;
    rows[at + HM_OWNER] = owner;
    rows[at + HM_FAMILY] = e.family;
    rows[at + HM_USES] = 1;
    this.hostmapIndex.add(hostmapHash(owner, e.family, e.srcK, e.dstK), h);
  }

  /** Take back the newest hostmap entry (a refused packet leaves no trace). */
  private dropNewestHostmap(): void {
    const h = this.hostmapList.length - 1;
    const e = this.hostmapList.pop();
    if (!e) return;
    if (e.rdr) this.stickyEntries--;
    const at = h * HM_STRIDE;
    const rows = this.hostmapRows;
    this.hostmapIndex.remove(hostmapHash(rows[at + HM_OWNER] as number, e.family, e.srcK, e.dstK), h);
  }

  /** Set by {@link sessionFor}: whether the packet travels the session's own way. */
  private forward = false;

  private sessionFor(p: Packet): number {
    const ports = hasPorts(p);
    const sport = p.sport ?? 0;
    const dport = p.dport ?? 0;
    const inbound = p.dir === "in";
    const ks = srcKey(p);
    const kd = dstKey(p);
    const pk = ports ? portPair(sport, dport) : 0;
    const n = this.byTuple.collect(tupleHash(p.family, p.proto, ks, kd, pk));
    const rows = this.sc.rows;
    // The row's family and protocol, and its dir as a forward packet of the session would carry it.
    const famProto = p.family | (p.proto << 8);
    const fwdMeta = famProto | ((inbound ? 0 : 1) << 16);
    // A reply carries the translated ports swapped.
    const pkRev = ports ? portPair(dport, sport) : 0;
    // An IPv4 address is its own key (foldAddr), so equal keys are equal addresses: the
    // bigints are compared for IPv6 only.
    const v4 = p.family === 4;
    for (let i = 0; i < n; i++) {
      const s = this.byTuple.found(i);
      const at = s * S_STRIDE;
      const meta = (rows[at + S_META] as number) & 0xffffff;
      if ((meta & 0xffff) !== famProto) continue;
      if ((p.proto === IPPROTO_TCP || p.proto === IPPROTO_UDP) !== ports) continue;
      if (meta === fwdMeta) {
        if (
          rows[at + S_OSRCK] === ks &&
          rows[at + S_ODSTK] === kd &&
          (!ports || rows[at + S_OPORTS] === pk) &&
          (v4 || this.sameAddrs6(s, A_OSRC, p.src, A_ODST, p.dst))
        ) {
          this.forward = true;
          return s;
        }
      } else if (
        rows[at + S_TDSTK] === ks &&
        rows[at + S_TSRCK] === kd &&
        (!ports || rows[at + S_TPORTS] === pkRev) &&
        (v4 || this.sameAddrs6(s, A_TDST, p.src, A_TSRC, p.dst))
      ) {
        this.forward = false;
        return s;
      }
    }
    return -1;
  }

  /** An IPv6 session's addresses in slots `a` and `b` (A_*) are these. */
  private sameAddrs6(h: number, a: number, src: bigint, b: number, dst: bigint): boolean {
    const a6 = this.sc.addr6 as bigint[];
    return a6[h * 4 + a] === src && a6[h * 4 + b] === dst;
  }

  /**
   * One of a session's addresses as a bigint: `w` its key word (S_*K), `a`
   * its IPv6 slot (A_*). An IPv4 key is the address; when it is one of the
   * packet's own, the packet's bigint serves (a session rewrites one side of
   * a flow, so the other side is the packet's), and only a new address is made.
   */
  private addrAt(h: number, w: number, a: number, p: Packet): bigint {
    const c = this.sc;
    const at = h * S_STRIDE;
    if (((c.rows[at + S_META] as number) & 0xff) !== 4) return (c.addr6 as bigint[])[h * 4 + a] as bigint;
    const k = c.rows[at + w] as number;
    if (k === srcKey(p)) return p.src;
    if (k === dstKey(p)) return p.dst;
    // The other side is most often the host's public address (map's source, the address
    // rdr's clients asked for): the last address made serves again.
    if (k !== this.madeKey) {
      this.madeKey = k;
      this.madeAddr = BigInt(k >>> 0);
    }
    return this.madeAddr;
  }

  /** The last IPv4 address {@link addrAt} made from its key (0 is 0.0.0.0's key). */
  private madeKey = 0;
  private madeAddr = 0n;

  /**
   * Translate a packet in place (inbound before filtering, outbound after).
   * `steps` collects each rule looked at, for traces.
   */
  translate(p: Packet, steps?: NatStep[]): NatResult | undefined {
    const res = p.dir === "in" ? this.resultIn : this.resultOut;
    const h = this.sessionFor(p);
    if (h >= 0) {
      const ports = hasPorts(p);
      const rows = this.sc.rows;
      const at = h * S_STRIDE;
      if (this.forward) {
        // sessionFor matched the packet's tuple against the session's original one field by field:
        // those addresses are the packet's (the ports are the row's, as for flows without ports).
        const oPorts = rows[at + S_OPORTS] as number;
        setTuple(res.before, p.src, oPorts >>> 16, p.dst, oPorts & 0xffff);
        const tSrc = this.addrAt(h, S_TSRCK, A_TSRC, p);
        const tDst = this.addrAt(h, S_TDSTK, A_TDST, p);
        const tPorts = rows[at + S_TPORTS] as number;
        const tSport = tPorts >>> 16;
        const tDport = tPorts & 0xffff;
        setAddresses(p, tSrc, rows[at + S_TSRCK] as number, tDst, rows[at + S_TDSTK] as number);
        if (ports) {
          p.sport = tSport;
          p.dport = tDport;
        }
        setTuple(res.after, tSrc, tSport, tDst, tDport);
        return res.fill(h, false, false);
      }
      setTuple(res.before, p.src, p.sport ?? 0, p.dst, p.dport ?? 0);
      const oSrc = this.addrAt(h, S_OSRCK, A_OSRC, p);
      const oDst = this.addrAt(h, S_ODSTK, A_ODST, p);
      setAddresses(p, oDst, rows[at + S_ODSTK] as number, oSrc, rows[at + S_OSRCK] as number);
      if (ports) {
        const oPorts = rows[at + S_OPORTS] as number;
        p.sport = oPorts & 0xffff;
        p.dport = oPorts >>> 16;
      }
      setTuple(res.after, p.src, p.sport ?? 0, p.dst, p.dport ?? 0);
      return res.fill(h, false, false);
    }
    if (p.inner) {
      const quoted = this.translateQuoted(p, res);
      if (quoted) return quoted;
    }
    // A later fragment carries no ports: only the NAT fragment cache could map it, and no session exists.
    if (p.fragOff !== 0) return undefined;
    const inbound = p.dir === "in";
    const sticky = inbound && this.stickyEntries > 0 ? this.stickyRule(p) : undefined;
    if (sticky && sticky.ast.target.kind === "list") {
      // IPFilter 5.1.2 refuses a returning sticky client of an rdr rule with a
      // target list (expected/n14: the hostmap keeps the address byte-swapped
      // and the new session cannot be set up); single-target rules reuse it.
      sticky.stickyTo = undefined;
      steps?.push({ rule: sticky, matched: true, why: undefined });
      return this.refused(res, p);
    }
    const index = inbound ? this.inboundIndex : this.outboundIndex;
    const candidates = sticky
      ? [sticky]
      : steps === undefined && index !== undefined
        ? index.candidates(p)
        : inbound
          ? this.inboundRules
          : this.outboundRules;
    for (let i = 0; i < candidates.length; i++) {
      const r = candidates[i] as CompiledNatRule;
      if (steps === undefined) {
        if (!natRuleMatches(r, p) && !(r.isBimap && inbound && this.bimapInbound(r, p) === undefined))
          continue;
      } else {
        let why = whyNatNoMatch(r, p);
        if (why !== undefined && r.isBimap && inbound) why = this.bimapInbound(r, p);
        steps.push({ rule: r, matched: why === undefined, why });
        if (why !== undefined) continue;
      }
      // The packet's tuple goes straight into the result (refilled per packet: no tuple is allocated).
      const before = res.before;
      setTuple(before, p.src, p.sport ?? 0, p.dst, p.dport ?? 0);
      const hostmapBefore = this.hostmapList.length;
      // Only map-type rules use the hostmap table (rdr ones add a sticky entry after success).
      const touched = r.isRdr ? -1 : this.findHostmap(false, p, r);
      const usesBefore = touched >= 0 ? this.hostmapUses(touched) : 0;
      const translated = this.newTuple(r, p, before, res.after, touched);
      if (!translated) {
        // A refused packet leaves no trace in the hostmap table.
        if (this.hostmapList.length > hostmapBefore) this.dropNewestHostmap();
        else if (touched >= 0) this.setHostmapUses(touched, usesBefore);
        copyTuple(res.after, before);
        return res.fill(-1, false, true);
      }
      r.hits++;
      if (r.isRdr && r.sticky && r !== sticky) {
        this.addHostmap({
          rule: r,
          rdr: true,
          src: before.src,
          dst: before.dst,
          newSrc: translated.dst,
          newDst: 0n,
          family: p.family,
          srcK: srcKey(p),
          dstK: dstKey(p),
        });
      }
      if (r.roundRobin && r !== sticky && r.nextTarget % this.targetCount(r) === 0) this.rotate(r, inbound);
      // KINDS: MAP, RDR, BIMAP, RWR-MAP, RWR-RDR.
      const kindIndex = r.kindIndex >= 0 ? r.kindIndex : p.dir === "in" ? 4 : 3;
      if (this.sessionCount === this.sc.size) this.sc = this.sc.grown(this.sc.size * 2);
      const h = this.sessionCount++;
      const c = this.sc;
      const at = h * S_STRIDE;
      const rows = c.rows;
      const tSrcK = translated.src === before.src ? srcKey(p) : this.fold(p.family, translated.src);
      const tDstK = translated.dst === before.dst ? dstKey(p) : this.fold(p.family, translated.dst);
      rows[at + S_META] = p.family | (p.proto << 8) | ((inbound ? 0 : 1) << 16) | (kindIndex << 24);
      rows[at + S_RULE] = r.number - 1;
      rows[at + S_OPORTS] = portPair(before.sport, before.dport);
      rows[at + S_TPORTS] = portPair(translated.sport, translated.dport);
      rows[at + S_OSRCK] = srcKey(p);
      rows[at + S_ODSTK] = dstKey(p);
      rows[at + S_TSRCK] = tSrcK;
      rows[at + S_TDSTK] = tDstK;
      if (p.family === 6) {
        const a6 = c.v6();
        a6[h * 4 + A_OSRC] = before.src;
        a6[h * 4 + A_ODST] = before.dst;
        a6[h * 4 + A_TSRC] = translated.src;
        a6[h * 4 + A_TDST] = translated.dst;
      }
      this.index(h);
      setAddresses(p, translated.src, tSrcK, translated.dst, tDstK);
      if (hasPorts(p)) {
        p.sport = translated.sport;
        p.dport = translated.dport;
      }
      // newTuple built the tuple in res.after, except rewrite's (a rare rule), which comes in its own object.
      if (translated !== res.after) copyTuple(res.after, translated);
      return res.fill(h, true, false);
    }
    return undefined;
  }

  /** The last address folded here and its key: a new session's address is looked at twice, and map's is the same every time. */
  private foldedAddr = -1n;
  private foldedFamily = 0;
  private foldedKey = 0;

  /** foldAddr, remembering the last one. */
  private fold(family: Family, a: bigint): number {
    if (a === this.foldedAddr && family === this.foldedFamily) return this.foldedKey;
    const k = foldAddr(family, a);
    this.foldedAddr = a;
    this.foldedFamily = family;
    this.foldedKey = k;
    return k;
  }

  /** A refused packet: nothing translated. */
  private refused(res: Result, p: Packet): Result {
    setTuple(res.before, p.src, p.sport ?? 0, p.dst, p.dport ?? 0);
    copyTuple(res.after, res.before);
    return res.fill(-1, false, true);
  }

  /** A sticky rdr rule that already sent this client to a target. */
  private stickyRule(p: Packet): CompiledNatRule | undefined {
    const found = this.findHostmap(true, p);
    const h = found < 0 ? undefined : this.hostmapList[found];
    if (!h?.rule || !natRuleMatches(h.rule, p)) return undefined;
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
  private translateQuoted(p: Packet, res: Result): NatResult | undefined {
    const q = p.inner;
    if (!q) return undefined;
    const ports = (q.proto === IPPROTO_TCP || q.proto === IPPROTO_UDP) && q.sport !== undefined;
    const rows = this.sc.rows;
    const famProto = p.family | (q.proto << 8);
    const qs = this.fold(p.family, q.src);
    const qd = this.fold(p.family, q.dst);
    let h = this.sessionCount - 1;
    for (; h >= 0; h--)
      if (
        ((rows[h * S_STRIDE + S_META] as number) & 0xffff) === famProto &&
        this.addrIs(h, S_TSRCK, A_TSRC, q.src, qs) &&
        this.addrIs(h, S_TDSTK, A_TDST, q.dst, qd) &&
        (!ports || this.portsAre(h, S_TPORTS, q.sport, q.dport))
      )
        break;
    const ifname = h >= 0 ? this.ruleOf(h).ifname : "*";
    // The error travels against the flow it quotes, through the rule's interface.
    if (h < 0 || (p.dir === "in" ? 0 : 1) === this.dirOf(h) || (ifname !== "*" && ifname !== p.ifname))
      return this.translateQuotedReply(p, q, ports, res);
    setTuple(res.before, p.src, p.sport ?? 0, p.dst, p.dport ?? 0);
    // ipf_nat_in/ipf_nat_out rewrite the error's own header as they would any
    // packet of the session: inbound its destination, outbound its source,
    // whichever router sent it. The other address changes only when it is
    // the quoted peer itself.
    const oSrc = this.sc.addr(h, S_OSRCK, A_OSRC);
    const oDst = this.sc.addr(h, S_ODSTK, A_ODST);
    if (p.dir === "in" || p.dst === q.src) p.dst = oSrc;
    if (p.dir === "out" || p.src === q.dst) p.src = oDst;
    q.src = oSrc;
    q.dst = oDst;
    if (ports) {
      const oPorts = rows[h * S_STRIDE + S_OPORTS] as number;
      q.sport = oPorts >>> 16;
      q.dport = oPorts & 0xffff;
    }
    setTuple(res.after, p.src, p.sport ?? 0, p.dst, p.dport ?? 0);
    return res.fill(h, false, false);
  }

  /**
   * An ICMP error travelling the session's own way about a reply: the quoted
   * reply is as NAT delivered it (original addresses), so it is put back as
   * it was on the wire (translated addresses), and the error's own header
   * gets the session's translated address the way ipf_nat_out (source) or
   * ipf_nat_in (destination) rewrites any packet of the session.
   */
  private translateQuotedReply(
    p: Packet,
    q: InnerPacket,
    ports: boolean,
    res: Result,
  ): NatResult | undefined {
    const rows = this.sc.rows;
    // family | proto << 8 | dir << 16, as S_META keeps them.
    const meta = p.family | (q.proto << 8) | ((p.dir === "in" ? 0 : 1) << 16);
    const qs = this.fold(p.family, q.src);
    const qd = this.fold(p.family, q.dst);
    let h = this.sessionCount - 1;
    for (; h >= 0; h--) {
      const ifname = this.ruleOf(h).ifname;
      if (
        ((rows[h * S_STRIDE + S_META] as number) & 0xffffff) === meta &&
        (ifname === "*" || ifname === p.ifname) &&
        this.addrIs(h, S_ODSTK, A_ODST, q.src, qs) &&
        this.addrIs(h, S_OSRCK, A_OSRC, q.dst, qd) &&
        (!ports || this.portsAre(h, S_OPORTS, q.dport, q.sport))
      )
        break;
    }
    if (h < 0) return undefined;
    setTuple(res.before, p.src, p.sport ?? 0, p.dst, p.dport ?? 0);
    const tSrc = this.sc.addr(h, S_TSRCK, A_TSRC);
    const tDst = this.sc.addr(h, S_TDSTK, A_TDST);
    if (p.dir === "out" || p.src === q.dst) p.src = tSrc;
    if (p.dir === "in" || p.dst === q.src) p.dst = tDst;
    q.src = tDst;
    q.dst = tSrc;
    if (ports) {
      const tPorts = rows[h * S_STRIDE + S_TPORTS] as number;
      q.sport = tPorts & 0xffff;
      q.dport = tPorts >>> 16;
    }
    setTuple(res.after, p.src, p.sport ?? 0, p.dst, p.dport ?? 0);
    return res.fill(h, false, false);
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

  /**
   * The tuple a new session translates the packet's tuple `t` to, built in
   * `out` (rewrite rules give a tuple of their own), or undefined when the
   * rule cannot translate it. `hostmap`: the map rule's hostmap entry for
   * the packet's pair, as {@link findHostmap} found it.
   */
  private newTuple(r: CompiledNatRule, p: Packet, t: Tuple, out: Tuple, hostmap: number): Tuple | undefined {
    const portProto = r.portProtoCode;
    const ports = hasPorts(p) && portProto !== PROTO_NONE && protoIn(portProto, p.proto);
    if (r.isRdr || (r.isBimap && p.dir === "in")) {
      let addr: bigint | undefined;
      if (r.isBimap) {
        const a = r.ast;
        if (a.match.kind !== "simple" || a.match.address.kind !== "cidr") return undefined;
        const inside = compileCidr(a.match.address);
        const outside = a.target.kind === "cidr" ? compileCidr(a.target.address) : undefined;
        if (!outside) return undefined;
        addr = inside.addr | (p.dst & ~inside.mask & (p.family === 4 ? 0xffffffffn : (1n << 128n) - 1n));
        setTuple(out, t.src, t.sport, addr, t.dport);
        return out;
      }
      addr = this.pickTarget(r, p);
      if (addr === undefined) return undefined;
      let dport = t.dport;
      const tpLow = r.tportLow;
      if (ports && r.hasTport && tpLow !== 0) {
        if (r.tportFixed) dport = tpLow;
        else dport = tpLow + (t.dport - (r.tportBase === -1 ? t.dport : r.tportBase));
      }
      // Two clients may not end up as the same flow inside; a target port range offers the next port.
      const tpHigh = r.tportHigh;
      if (ports && r.hasTport && !r.tportFixed && tpHigh > tpLow) {
        const span = tpHigh - tpLow + 1;
        for (let i = 0; i < span; i++) {
          const port = tpLow + ((dport - tpLow + i) % span);
          if (!this.flowInUse(p, t.src, t.sport, addr, port)) {
            setTuple(out, t.src, t.sport, addr, port);
            return out;
          }
        }
        return undefined;
      }
      const redirectedPort = ports ? dport : t.dport;
      if (this.flowInUse(p, t.src, t.sport, addr, redirectedPort)) return undefined;
      setTuple(out, t.src, t.sport, addr, redirectedPort);
      return out;
    }
    if (r.kindIndex === -1 && r.ast.rewrite) return this.rewriteTuple(r, p, t, ports);
    // map, bimap outbound, map-block
    const newSrc = this.allocateSource(r, p, t, ports && r.hasPortmap, hostmap);
    if (newSrc === undefined) return undefined;
    if (!(ports && r.hasPortmap)) {
      setTuple(out, newSrc, t.sport, t.dst, t.dport);
      return out;
    }
    const low = r.portmapLow;
    const high = r.portmapHigh;
    // Ports are handed out in turn; one whose flow to this peer is taken is skipped, and when all are taken the packet is refused.
    for (let tries = 0; tries <= high - low; tries++) {
      if (r.nextPort < low || r.nextPort > high) r.nextPort = low;
      const port = r.nextPort;
      r.nextPort = r.nextPort >= high ? low : r.nextPort + 1;
      if (!this.flowInUse(p, newSrc, port, t.dst, t.dport)) {
        setTuple(out, newSrc, port, t.dst, t.dport);
        return out;
      }
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
    let base: Tuple = tuple(t.src, t.sport, t.dst, t.dport);
    const addressDim = (side: "src" | "dst"): void => {
      const target = rw[side].address;
      if (target.kind === "pool") {
        const list = this.ctx.dstlists?.get(`${target.pool.table}/${target.pool.name}`);
        const chosen = list?.select(p.family, t.src, t.dst);
        if (chosen)
          base =
            side === "src"
              ? tuple(chosen.addr, base.sport, base.dst, base.dport)
              : tuple(base.src, base.sport, chosen.addr, base.dport);
        return;
      }
      let low: bigint;
      let high: bigint;
      if (target.kind === "cidr") {
        const c = compileCidr(target.address);
        if (target.address.prefix === 0) return;
        const host = ~c.mask & this.allOnes(c);
        if (host === 0n) {
          base =
            side === "src"
              ? tuple(c.addr, base.sport, base.dst, base.dport)
              : tuple(base.src, base.sport, c.addr, base.dport);
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
        base =
          side === "src"
            ? tuple(base.src, range.low, base.dst, base.dport)
            : tuple(base.src, base.sport, base.dst, range.low);
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
      const x = tuple(base.src, base.sport, base.dst, base.dport);
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
    const rows = this.sc.rows;
    const ks = this.fold(p.family, t.src);
    const kd = this.fold(p.family, t.dst);
    for (let h = 0; h < this.sessionCount; h++) {
      const meta = rows[h * S_STRIDE + S_META] as number;
      if ((meta & 0xff) !== p.family) continue;
      if (!this.addrIs(h, S_TSRCK, A_TSRC, t.src, ks) || !this.addrIs(h, S_TDSTK, A_TDST, t.dst, kd))
        continue;
      const proto = (meta >>> 8) & 0xff;
      const sPorts = proto === IPPROTO_TCP || proto === IPPROTO_UDP;
      if (!(ports && sPorts) || this.portsAre(h, S_TPORTS, t.sport, t.dport)) return true;
    }
    return false;
  }

  /** Whether the session's address with key word `w` (IPv6 slot `a`) is `addr`, whose key is `key`. */
  private addrIs(h: number, w: number, a: number, addr: bigint, key: number): boolean {
    const rows = this.sc.rows;
    const at = h * S_STRIDE;
    if (rows[at + w] !== key) return false;
    // IPv4: equal keys are equal addresses (see sessionFor).
    return ((rows[at + S_META] as number) & 0xff) === 4 || (this.sc.addr6 as bigint[])[h * 4 + a] === addr;
  }

  /** Whether the session's port word `w` (S_OPORTS, S_TPORTS) holds these two ports. */
  private portsAre(h: number, w: number, sport: number | undefined, dport: number | undefined): boolean {
    const pp = this.sc.rows[h * S_STRIDE + w] as number;
    return pp >>> 16 === sport && (pp & 0xffff) === dport;
  }

  private ruleOf(h: number): CompiledNatRule {
    return this.rules[this.sc.rows[h * S_STRIDE + S_RULE] as number] as CompiledNatRule;
  }

  /** 0 = in, 1 = out: the direction of the packet that created the session. */
  private dirOf(h: number): number {
    return ((this.sc.rows[h * S_STRIDE + S_META] as number) >>> 16) & 0xff;
  }

  private flowInUse(p: Packet, src: bigint, sport: number, dst: bigint, dport: number): boolean {
    const ports = hasPorts(p);
    const ks = src === p.src ? srcKey(p) : this.fold(p.family, src);
    const kd = dst === p.dst ? dstKey(p) : this.fold(p.family, dst);
    // Where a session producing this flow keeps its reply entry (index(): the translated tuple reversed).
    const n = this.byTuple.collect(tupleHash(p.family, p.proto, kd, ks, ports ? portPair(dport, sport) : 0));
    const rows = this.sc.rows;
    const famProto = p.family | (p.proto << 8);
    const pk = portPair(sport, dport);
    for (let i = 0; i < n; i++) {
      const s = this.byTuple.found(i);
      const at = s * S_STRIDE;
      if (
        ((rows[at + S_META] as number) & 0xffff) === famProto &&
        (p.proto === IPPROTO_TCP || p.proto === IPPROTO_UDP) === ports &&
        rows[at + S_TSRCK] === ks &&
        rows[at + S_TDSTK] === kd &&
        (!ports || rows[at + S_TPORTS] === pk) &&
        // IPv4: equal keys are equal addresses (see sessionFor).
        (p.family === 4 || this.sameAddrs6(s, A_TSRC, src, A_TDST, dst))
      )
        return true;
    }
    return false;
  }

  private pickTarget(r: CompiledNatRule, p: Packet): bigint | undefined {
    if (r.stickyTo !== undefined) {
      const chosen = r.stickyTo;
      r.stickyTo = undefined;
      return chosen;
    }
    if (r.targetIsCidr) {
      r.nextTarget++;
      if (r.targetIfZero) return this.interfaceAddress(p.ifname);
      if (r.cidrTarget !== undefined) {
        // The in-use test that follows folds the target: give it the key (every rdr rule has its own target).
        this.foldedAddr = r.cidrTarget;
        this.foldedFamily = r.family;
        this.foldedKey = r.cidrTargetKey;
        return r.cidrTarget;
      }
    }
    const target = r.ast.target;
    const fam = r.ast.family;
    switch (target.kind) {
      case "cidr": {
        // First use (nextTarget is counted above): parse the address once and keep it, with its key, on the rule.
        const addr = parseAddress(fam, target.address.address);
        r.cidrTargetKey = foldAddr(r.family, addr);
        r.cidrTarget = addr;
        this.foldedAddr = addr;
        this.foldedFamily = r.family;
        this.foldedKey = r.cidrTargetKey;
        return addr;
      }
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
    return this.flowInUse(p, addr, t.sport, t.dst, t.dport);
  }

  private allocateSource(
    r: CompiledNatRule,
    p: Packet,
    t: Tuple,
    portTranslated: boolean,
    existing: number,
  ): bigint | undefined {
    const target = r.ast.target;
    // t is the packet's own tuple (newTuple is given it before anything is rewritten);
    // `existing` is this rule's hostmap entry for the packet's pair (translate looked it up).
    if (existing >= 0) {
      this.setHostmapUses(existing, this.hostmapUses(existing) + 1);
      // `0/32` means the interface's address now; the hostmap keeps the rule's 0 (as ipnat -l shows it).
      return r.toInterface
        ? this.interfaceAddress(p.ifname)
        : (this.hostmapList[existing] as Omit<HostmapEntry, "uses">).newSrc;
    }
    if (target.kind === "cidr") {
      const c = compileCidr(target.address);
      // ipf_nat_newmap: `-> 0/0` keeps the packet's own source address.
      if (target.address.prefix === 0 && isZeroAddress(target.address.address))
        return this.newMapHostmap(r, p, t.src);
      if (target.address.prefix === 32 || target.address.prefix === 128) {
        if (target.address.address === "0.0.0.0" || target.address.address === "::") {
          const own = this.interfaceAddress(p.ifname);
          if (own === undefined || (!portTranslated && this.inUse(p, own, t))) return undefined;
          this.newMapHostmap(r, p, 0n);
          return own;
        }
        // One address and no port change: a second flow to the same peer would be indistinguishable.
        if (!portTranslated && this.inUse(p, c.addr, t)) return undefined;
        return this.newMapHostmap(r, p, c.addr);
      }
      if (r.ast.kind === "bimap") {
        const inside =
          r.ast.match.kind === "simple" && r.ast.match.address.kind === "cidr"
            ? compileCidr(r.ast.match.address)
            : undefined;
        return this.newMapHostmap(r, p, c.addr | (t.src & ~(inside?.mask ?? 0n) & ~c.mask & this.allOnes(c)));
      }
      const host = ~c.mask & this.allOnes(c);
      return this.newMapHostmap(r, p, this.allocate(r, p, t, c.addr + 1n, c.addr + host - 1n));
    }
    if (target.kind === "range") {
      return this.newMapHostmap(
        r,
        p,
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
      return own === undefined ? undefined : this.newMapHostmap(r, p, own);
    }
    return undefined;
  }

  /** A new address for the packet's pair, remembered in the hostmap (there is no entry yet). */
  private newMapHostmap(r: CompiledNatRule, p: Packet, addr: bigint): bigint {
    this.addHostmap({
      rule: r,
      rdr: false,
      src: p.src,
      dst: p.dst,
      newSrc: addr,
      newDst: 0n,
      family: p.family,
      srcK: srcKey(p),
      dstK: dstKey(p),
    });
    return addr;
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
    for (let i = this.sessionCount - 1; i >= 0; i--) {
      const s = this.session(i);
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
      (h: HostmapEntry) =>
        `${show(h, h.src)},${show(h, h.dst)} -> ${show(h, h.rdr && h.family === 4 ? swapped(h.newSrc) : h.newSrc)},${show(h, h.newDst)} (use = ${h.uses})`,
    );
  }
}

const zeroAddresses = new Map<string, boolean>();
/** Whether an address is written as all zeros (`0`, `0.0.0.0`, `::`), remembered per text. */
function isZeroAddress(text: string): boolean {
  let z = zeroAddresses.get(text);
  if (z === undefined) zeroAddresses.set(text, (z = /^[0.:]+$/.test(text)));
  return z;
}

/**
 * Addresses as their hash keys (foldAddr); `ports` is (sport << 16) | dport,
 * or 0 for flows without ports. No direction: entries of both directions
 * share the table and the lookups compare it (see {@link NatTable.byTuple}).
 */
function tupleHash(family: Family, proto: number, src: number, dst: number, ports: number): number {
  let h = mix(family, proto);
  h = mix(h, src);
  h = mix(h, dst);
  return mix(h, ports);
}

/** `owner`: the map rule's number, -1 for rdr entries (see NatTable.hostmapList). */
function hostmapHash(owner: number, family: Family, srcK: number, dstK: number): number {
  let h = mix(owner, family);
  h = mix(h, srcK);
  return mix(h, dstK);
}

/**
 * NAT rules in the order the kernel tries them, filed by the destination
 * port they require (one port, or a range of at most 64), so a packet looks
 * only at rules that can match it; rules without such a port are looked at
 * for every packet. Only for rule sets whose order does not change (no
 * round-robin), as the index keeps positions.
 */
class RuleIndex {
  private readonly wild: number[] = [];
  /**
   * Destination port → 1 + its position in {@link lists}, 0 = only the
   * portless rules: 256 pages of 256 ports, a page only where some port of it
   * is filed. (One array for all 65,536 ports was 256 kB per index per
   * engine, fresh memory whose pages the first packets to each port range
   * faulted in — on this VM a page fault costs several microseconds.)
   */
  private readonly pages: (Int32Array | undefined)[] = new Array<Int32Array | undefined>(256).fill(undefined);
  private readonly lists: CompiledNatRule[][] = [];
  private readonly listKeys = new Map<string, number>();
  private readonly portless: CompiledNatRule[];

  constructor(private readonly rules: readonly CompiledNatRule[]) {
    const byPort = new Map<number, number[]>();
    rules.forEach((r, i) => {
      const range = requiredPorts(r);
      if (range === undefined) this.wild.push(i);
      else
        for (let port = range[0]; port <= range[1]; port++)
          (byPort.get(port) ?? byPort.set(port, []).get(port)!).push(i);
    });
    for (const [port, list] of byPort) {
      const merged = [...list, ...this.wild].sort((a, b) => a - b);
      // Ports with the same candidates share one list (a range files one rule under many ports).
      const key = merged.join(",");
      let at = this.listKeys.get(key);
      if (at === undefined) {
        this.lists.push(ruleList(merged, rules));
        at = this.lists.length;
        this.listKeys.set(key, at);
      }
      if (port >= 0 && port < 65536) {
        const page = (this.pages[port >> 8] ??= new Int32Array(256));
        page[port & 0xff] = at;
      }
    }
    this.portless = ruleList(this.wild, rules);
  }

  candidates(p: Packet): readonly CompiledNatRule[] {
    if (!hasPorts(p)) return this.portless;
    const port = (p.dport ?? 0) & 0xffff;
    const page = this.pages[port >> 8];
    const at = page === undefined ? 0 : (page[port & 0xff] as number);
    return at === 0 ? this.portless : (this.lists[at - 1] as CompiledNatRule[]);
  }
}

/**
 * The rules at these positions, as a list built element by element: every
 * candidate list then has the same elements kind whichever code built it
 * (`Array.prototype.map` in optimised code makes holey arrays, and a list of
 * another kind met by optimised {@link NatTable.translate} deoptimises it —
 * the bench saw that about 20 engines in).
 */
function ruleList(positions: readonly number[], rules: readonly CompiledNatRule[]): CompiledNatRule[] {
  const out: CompiledNatRule[] = [];
  for (const i of positions) out.push(rules[i] as CompiledNatRule);
  return out;
}

/** The destination ports a rule requires of a packet, when that is one port or a short range. */
function requiredPorts(r: CompiledNatRule): [number, number] | undefined {
  const m = r.ast.match;
  if (r.ast.kind === "bimap") return undefined;
  let range: [number, number] | undefined;
  if (m.kind === "simple") {
    if (r.ast.kind !== "rdr" || !m.ports || (m.ports.low === 0 && m.ports.high === 0)) return undefined;
    range = [m.ports.low, m.ports.high];
  } else {
    if (m.toNegated !== m.to.negated) return undefined;
    const tp = m.to.port;
    if (!tp) return undefined;
    if (tp.kind === "compare" && tp.op === "=") range = [tp.port, tp.port];
    else if (tp.kind === "range" && tp.op === ":") range = [tp.low, tp.high];
    else return undefined;
  }
  return range[1] - range[0] <= 64 ? range : undefined;
}
