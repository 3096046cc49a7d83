/**
 * The state table (`keep state`): entries created by a matching rule, matched
 * by later packets in either direction before any rule is looked at
 * (ip_state.c). Also the fragment cache for `keep frags`.
 *
 * ipftest flushes closing TCP states after every packet
 * (`ipf_state_flush(softc, 1, 0)`); {@link StateTable.flushClosing} is that.
 */
import type { CompiledFilterRule, Verdict } from "./filter.js";
import { dstKey, foldAddr, srcKey } from "./hash.js";
import { IntSlots } from "./hashslots.js";
import {
  formatAddr,
  IPPROTO_ICMP,
  IPPROTO_ICMPV6,
  IPPROTO_TCP,
  IPPROTO_UDP,
  TH,
  type Family,
  type Packet,
} from "./packet.js";

/** ICMP query types and the reply type their state accepts. */
const ICMP_REPLY: Readonly<Record<number, number>> = { 8: 0, 13: 14, 15: 16, 17: 18 };
const ICMP6_REPLY: Readonly<Record<number, number>> = { 128: 129, 133: 134, 135: 136 };

/** IPv6 multicast (ff00::/8): a query sent there is answered by whichever host owns the address. */
const isMulticast6 = (family: Family, a: bigint): boolean => family === 6 && a >> 120n === 0xffn;

/** Flag bits per entry. */
const F_CLOSING = 1;
const F_SAW_REPLY = 2;
/** The reply side has sent (end1 holds its sequence end). */
const F_END1 = 4;

/** ip_state.c MAXACKWINDOW: how far an acknowledgement may stray from what the other side sent. */
const MAX_ACK_WINDOW = 66000;

const seqGreater = (a: number, b: number): boolean => ((a - b) | 0) > 0;

/** The sequence number after this segment: seq + payload, SYN and FIN counting one each. */
function tcpSegmentEnd(p: Packet): number {
  const hl = p.family === 4 ? p.hlen : 40;
  const off = p.raw ? ((p.raw[hl + 12] ?? 0x50) >> 4) * 4 : 20;
  const payload = Math.max(0, p.len - hl - off);
  const flags = (p.tcpFlags & TH.S ? 1 : 0) + (p.tcpFlags & TH.F ? 1 : 0);
  return (p.seq + payload + flags) >>> 0;
}

/** One end of a flow: its folded address and port. */
function endHash(addr: number, port: number): number {
  let h = Math.imul(addr, 0x9e3779b1);
  h ^= h >>> 16;
  h = Math.imul(h ^ port, 0x85ebca6b);
  return h ^ (h >>> 13);
}

/** The same hash for both directions of a flow, so replies find the entry without a scan (ends compared exactly after). */
function flowKey(proto: number, ha: number, hb: number, pa: number, pb: number): number {
  const x = endHash(ha, pa);
  const y = endHash(hb, pb);
  const h = Math.imul((x + y) ^ Math.imul(x, y), 0x85ebca6b) ^ proto;
  return h ^ (h >>> 13);
}

function addrFlowKey(family: Family, proto: number, a: bigint, b: bigint, pa: number, pb: number): number {
  return flowKey(proto, foldAddr(family, a), foldAddr(family, b), pa, pb);
}

/**
 * One state entry as the dumps, traces and tests see it: a view onto the
 * table's columns by the entry's handle. The table itself keeps no object per
 * entry (see {@link StateTable}); a view reads the live entry, and is only
 * meaningful while the entry is in the table (a flushed entry's handle is
 * given to a later one).
 */
export class StateEntry {
  constructor(
    private readonly t: StateTable,
    /** The entry's handle (row) in its table. */
    readonly handle: number,
  ) {}

  get family(): Family {
    return this.t.col.fam[this.handle] as Family;
  }
  get proto(): number {
    return this.t.col.proto[this.handle] as number;
  }
  get src(): bigint {
    return this.t.srcOf(this.handle);
  }
  get dst(): bigint {
    return this.t.dstOf(this.handle);
  }
  get sport(): number {
    return this.t.col.sport[this.handle] as number;
  }
  get dport(): number {
    return this.t.col.dport[this.handle] as number;
  }
  /** IP options and security class of the creating packet: forward packets must carry the same, replies none (ip_state.c is_opt/is_sec). */
  get optBits(): number {
    return this.t.col.optBits[this.handle] as number;
  }
  get secBits(): number {
    return this.t.col.secBits[this.handle] as number;
  }
  /** IP options of the first reply: replies must carry the same. */
  get replyOptBits(): number | undefined {
    const v = this.t.col.replyOpt[this.handle] as number;
    return v < 0 ? undefined : v;
  }
  get rule(): CompiledFilterRule {
    return this.t.ruleOf(this.handle);
  }
  get verdict(): Verdict {
    return this.t.verdictOf(this.handle);
  }
  get dir(): "in" | "out" {
    return this.t.col.dir[this.handle] === 0 ? "in" : "out";
  }
  /** Set when the creating rule routed the packet (`to IF`, `to dstlist/…`): forward packets go the same way. */
  get routeIf(): string | undefined {
    return this.t.routeIfOf(this.handle);
  }
  get icmpType(): number {
    return (this.t.col.icmp[this.handle] as number) >>> 16;
  }
  get icmpId(): number {
    return (this.t.col.icmp[this.handle] as number) & 0xffff;
  }
  /** TCP: a FIN or RST was seen, so the entry is closing. */
  get closing(): boolean {
    return ((this.t.col.flags[this.handle] as number) & F_CLOSING) !== 0;
  }
  /** A reply has matched the entry. */
  get sawReply(): boolean {
    return ((this.t.col.flags[this.handle] as number) & F_SAW_REPLY) !== 0;
  }
  /** [in fwd, in rev, out fwd, out rev] (ip_state.c is_ifname[]). */
  get ifnames(): readonly [string, string, string, string] {
    const f = this.t.col.ifs;
    const n = this.t.ifNames;
    const i = this.handle * 4;
    return [
      n[f[i] as number] as string,
      n[f[i + 1] as number] as string,
      n[f[i + 2] as number] as string,
      n[f[i + 3] as number] as string,
    ];
  }
  /** [fwd in, fwd out, rev in, rev out]. */
  get pkts(): readonly [number, number, number, number] {
    const f = this.t.col.pk;
    const i = this.handle * 4;
    return [f[i] as number, f[i + 1] as number, f[i + 2] as number, f[i + 3] as number];
  }
  get bytes(): readonly [number, number, number, number] {
    const f = this.t.col.by;
    const i = this.handle * 4;
    return [f[i] as number, f[i + 1] as number, f[i + 2] as number, f[i + 3] as number];
  }
  /** TCP state numbers (IPF_TCPS_*): forward side, reply side. */
  get tcpState(): readonly [number, number] {
    const ts = this.t.col.ts[this.handle] as number;
    return [ts & 15, ts >> 4];
  }
}

/**
 * The table's columns: one slot per entry handle, all in typed arrays, so an
 * entry costs the garbage collector nothing and a table holds no reference
 * the scavenger must scan or copy (it used to keep rules, verdicts,
 * interface names and bigint addresses in plain arrays: five pointer arrays
 * and a 16,000-slot one per 4,013-entry table, copied by every scavenge that
 * met a live table). References become small integers: the rule is an index
 * into {@link StateTable.rules}, the verdict one into VERDICTS, an interface
 * name one into {@link StateTable.ifNames}. IPv4 addresses are their folded
 * keys (exact for IPv4, see packet.ts foldAddr); only IPv6 entries keep their
 * bigints, in arrays made when the first one is added.
 */
class Columns {
  fam: Uint8Array;
  proto: Uint8Array;
  /** 0 = in, 1 = out: the direction of the creating packet. */
  dir: Uint8Array;
  flags: Uint8Array;
  /** TCP states (IPF_TCPS_*): forward side in bits 0-3, reply side in bits 4-7. */
  ts: Uint8Array;
  /** Index into VERDICTS. */
  verdict: Uint8Array;
  /** The addresses folded (foldAddr): the IPv4 address itself, compared before the bigints for IPv6. */
  srcK: Int32Array;
  dstK: Int32Array;
  sport: Int32Array;
  dport: Int32Array;
  /** ICMP type << 16 | id of the creating packet. */
  icmp: Int32Array;
  optBits: Int32Array;
  secBits: Int32Array;
  /** Options of the first reply, -1 until one is seen. */
  replyOpt: Int32Array;
  /** Index into the table's rule list. */
  rule: Int32Array;
  /** Insertion number: lookups try entries with the same flow hash newest first. */
  age: Float64Array;
  /**
   * TCP: per side (forward sender, reply sender) the sequence number after
   * the last byte sent, SYN and FIN counting one (ip_state.c td_end), as an
   * int32 (compared modulo 2^32); end1 counts only once F_END1 is set.
   */
  end0: Int32Array;
  end1: Int32Array;
  /** Packets and bytes, 4 per entry: fwd in, fwd out, rev in, rev out. */
  pk: Float64Array;
  by: Float64Array;
  /** Interfaces learned, 4 per entry: in fwd, in rev, out fwd, out rev; an index into the table's names (0 = "", not yet). */
  ifs: Uint16Array;
  /** IPv6 entries' addresses (IPv4 ones are srcK/dstK); made with the first IPv6 entry. */
  src6: bigint[] | undefined;
  dst6: bigint[] | undefined;
  /** Set for entries a routing rule made (`to IF`); made with the first. */
  routeIf: (string | undefined)[] | undefined;

  constructor(readonly size: number) {
    this.fam = new Uint8Array(size);
    this.proto = new Uint8Array(size);
    this.dir = new Uint8Array(size);
    this.flags = new Uint8Array(size);
    this.ts = new Uint8Array(size);
    this.verdict = new Uint8Array(size);
    this.srcK = new Int32Array(size);
    this.dstK = new Int32Array(size);
    this.sport = new Int32Array(size);
    this.dport = new Int32Array(size);
    this.icmp = new Int32Array(size);
    this.optBits = new Int32Array(size);
    this.secBits = new Int32Array(size);
    this.replyOpt = new Int32Array(size);
    this.rule = new Int32Array(size);
    this.age = new Float64Array(size);
    this.end0 = new Int32Array(size);
    this.end1 = new Int32Array(size);
    this.pk = new Float64Array(size * 4);
    this.by = new Float64Array(size * 4);
    this.ifs = new Uint16Array(size * 4);
    this.src6 = undefined;
    this.dst6 = undefined;
    this.routeIf = undefined;
  }

  /** The IPv6 address columns, made on first use. */
  v6(): { src6: bigint[]; dst6: bigint[] } {
    if (this.src6 === undefined || this.dst6 === undefined) {
      this.src6 = new Array<bigint>(this.size).fill(0n);
      this.dst6 = new Array<bigint>(this.size).fill(0n);
    }
    return { src6: this.src6, dst6: this.dst6 };
  }

  /** The route column, made on first use. */
  routes(): (string | undefined)[] {
    return (this.routeIf ??= new Array<string | undefined>(this.size).fill(undefined));
  }

  /** A copy with room for `size` entries. */
  grown(size: number): Columns {
    const c = new Columns(size);
    c.fam.set(this.fam);
    c.proto.set(this.proto);
    c.dir.set(this.dir);
    c.flags.set(this.flags);
    c.ts.set(this.ts);
    c.verdict.set(this.verdict);
    c.srcK.set(this.srcK);
    c.dstK.set(this.dstK);
    c.sport.set(this.sport);
    c.dport.set(this.dport);
    c.icmp.set(this.icmp);
    c.optBits.set(this.optBits);
    c.secBits.set(this.secBits);
    c.replyOpt.set(this.replyOpt);
    c.rule.set(this.rule);
    c.age.set(this.age);
    c.end0.set(this.end0);
    c.end1.set(this.end1);
    c.pk.set(this.pk);
    c.by.set(this.by);
    c.ifs.set(this.ifs);
    if (this.src6 && this.dst6) {
      const { src6, dst6 } = c.v6();
      for (let i = 0; i < this.size; i++) {
        src6[i] = this.src6[i] as bigint;
        dst6[i] = this.dst6[i] as bigint;
      }
    }
    if (this.routeIf) {
      const r = c.routes();
      for (let i = 0; i < this.size; i++) r[i] = this.routeIf[i];
    }
    return c;
  }
}

/** Verdicts as the verdict column numbers them. */
const VERDICTS: readonly Verdict[] = [
  "pass",
  "block",
  "nomatch",
  "bad-packet",
  "block return-rst",
  "block return-icmp",
  "block return-icmp-as-dest",
  "auth",
  "preauth",
  "account",
];

/**
 * The acknowledgement half of ip_state.c ipf_state_tcpinwindow: a segment
 * with ACK set must acknowledge within MAXACKWINDOW of the end of what the
 * other side has sent (ackskew = td_end - ack). A segment that fails is not
 * part of the session and goes on to the rules. The sequence-window half
 * (td_maxend, td_maxwin, window scaling) is not modelled.
 */
function ackInWindow(c: Columns, h: number, p: Packet, reverse: boolean): boolean {
  if (!(p.tcpFlags & TH.A)) return true;
  if (!reverse && !((c.flags[h] as number) & F_END1)) return true;
  const peerEnd = reverse ? (c.end0[h] as number) : (c.end1[h] as number);
  const ackskew = (peerEnd - p.ack) | 0;
  return ackskew >= -MAX_ACK_WINDOW && ackskew <= MAX_ACK_WINDOW;
}

/**
 * The state table. Entries are rows ("handles") of typed-array columns
 * (struct of arrays) filed in an open-addressing hash on the flow's folded
 * addresses and ports: a new entry allocates nothing on the JS heap, and a
 * lookup compares integers before it compares the addresses themselves.
 * {@link StateEntry} views give the dumps and traces the old object shape.
 */
export class StateTable {
  /** @internal The columns (read by {@link StateEntry} views). */
  col: Columns;
  /** Live handles, oldest first; {@link entries} lists them newest first, as the -D dump does. */
  private order: Int32Array;
  private count = 0;
  /** Handles freed by {@link flushClosing}, reused before new rows. */
  private free: Int32Array;
  private freeCount = 0;
  /** Rows ever used (the next new handle). */
  private rows = 0;
  /** Entries ever added (their age). */
  private added = 0;
  /** Live entries per rule, kept for rules with a `limit` only. */
  private readonly ruleCounts = new Map<CompiledFilterRule, number>();
  /** Entry handles by flow hash (both directions of a flow share it). */
  private readonly byFlow: IntSlots;

  /** Newest first, which is the order the -D dump lists them. */
  get entries(): readonly StateEntry[] {
    const out: StateEntry[] = [];
    for (let i = this.count - 1; i >= 0; i--) out.push(new StateEntry(this, this.order[i] as number));
    return out;
  }
  /** Live entries. */
  get size(): number {
    return this.count;
  }
  private fullReason: string | undefined;
  /** Set when an entry starts closing, so the per-packet flush can skip the walk otherwise. */
  private anyClosing = false;
  constructor(public maxEntries = 4013) {
    // Sized for a full table up front: growing means rehashing every entry.
    this.byFlow = new IntSlots(Math.min(Math.max(maxEntries, 64), 1 << 16));
    const size = Math.max(16, Math.min(maxEntries, 1 << 16));
    this.col = new Columns(size);
    this.order = new Int32Array(size);
    this.free = new Int32Array(size);
  }

  /** Whether the entry found by the last {@link lookup} matched the packet as a reply. */
  reverse = false;
  /** Why the last {@link addEntry} made no entry. */
  refused = "";

  /** The flow hash of the packet last looked up, for {@link addEntry} to file a new entry under. */
  private lastKey = 0;
  private lastKeyPacket: Packet | undefined;

  /** The rules entries were made by (the rule column indexes this list). */
  private readonly rules: CompiledFilterRule[] = [];
  private readonly ruleIds = new Map<CompiledFilterRule, number>();
  /** @internal Interface names learned (the ifs column indexes this list; 0 = none yet). */
  readonly ifNames: string[] = [""];
  private readonly ifIds = new Map<string, number>([["", 0]]);
  private lastIfName = "";
  private lastIfId = 0;

  /** A view of the entry with this handle. */
  entry(h: number): StateEntry {
    return new StateEntry(this, h);
  }
  ruleOf(h: number): CompiledFilterRule {
    return this.rules[this.col.rule[h] as number] as CompiledFilterRule;
  }
  verdictOf(h: number): Verdict {
    return VERDICTS[this.col.verdict[h] as number] as Verdict;
  }
  routeIfOf(h: number): string | undefined {
    return this.col.routeIf?.[h];
  }
  setRouteIf(h: number, ifname: string): void {
    this.col.routes()[h] = ifname;
  }
  /** @internal The entry's source address (IPv4 from its key). */
  srcOf(h: number): bigint {
    const c = this.col;
    return c.fam[h] === 4 ? BigInt((c.srcK[h] as number) >>> 0) : (c.src6?.[h] as bigint);
  }
  /** @internal The entry's destination address. */
  dstOf(h: number): bigint {
    const c = this.col;
    return c.fam[h] === 4 ? BigInt((c.dstK[h] as number) >>> 0) : (c.dst6?.[h] as bigint);
  }

  /** The number of an interface name in {@link ifNames}, added when new. */
  private ifId(name: string): number {
    if (name === this.lastIfName) return this.lastIfId;
    let id = this.ifIds.get(name);
    if (id === undefined) {
      id = this.ifNames.length;
      if (id > 0xffff) throw new Error("more than 65,535 interface names in one state table");
      this.ifNames.push(name);
      this.ifIds.set(name, id);
    }
    this.lastIfName = name;
    this.lastIfId = id;
    return id;
  }

  /** The number of a rule in {@link rules}, added when new. */
  private ruleId(rule: CompiledFilterRule): number {
    // The rule remembers its number here; another table's number (a rule given to two) is looked up.
    const known = rule.stateId;
    if (known >= 0 && this.rules[known] === rule) return known;
    let id = this.ruleIds.get(rule);
    if (id === undefined) {
      id = this.rules.length;
      this.rules.push(rule);
      this.ruleIds.set(rule, id);
    }
    rule.stateId = id;
    return id;
  }

  /**
   * The handle of the entry this packet belongs to (the entry learns the
   * interface for an unset slot), else for an ICMP error the entry of the
   * packet it quotes; -1 for none. {@link reverse} tells which way it matched.
   * `hs`/`hd`: the packet's addresses folded (hash.ts srcKey/dstKey).
   */
  lookup(p: Packet, hs: number, hd: number): number {
    const h = this.findHandle(p, hs, hd);
    return h >= 0 ? h : this.findQuotedHandle(p);
  }

  private findHandle(p: Packet, hs: number, hd: number): number {
    const ports = p.proto === IPPROTO_TCP || p.proto === IPPROTO_UDP;
    const key = flowKey(p.proto, hs, hd, ports ? (p.sport ?? 0) : 0, ports ? (p.dport ?? 0) : 0);
    this.lastKey = key;
    this.lastKeyPacket = p;
    const n = this.byFlow.collect(key, this.col.age);
    if (n === 0) {
      if (p.proto !== IPPROTO_ICMPV6) return -1;
      for (const e of this.multicastQueries(p)) if (this.tryEntry(e, p, hs, hd)) return e;
      return -1;
    }
    // Newest first.
    for (let k = 0; k < n; k++) {
      const e = this.byFlow.found(k);
      if (this.tryEntry(e, p, hs, hd)) return e;
    }
    return -1;
  }

  /** Whether the packet belongs to entry `h` (sets {@link reverse}); if so, the entry learns from it. */
  private tryEntry(h: number, p: Packet, hs: number, hd: number): boolean {
    const c = this.col;
    const fam = p.family;
    if (c.fam[h] !== fam || c.proto[h] !== p.proto) return false;
    // The folded keys are the IPv4 addresses themselves: for IPv4 equal keys are equal addresses,
    // for IPv6 the bigints are compared too.
    const v4 = fam === 4;
    const s6 = c.src6;
    const d6 = c.dst6;
    let reverse: boolean;
    if (p.proto === IPPROTO_TCP || p.proto === IPPROTO_UDP) {
      const sport = p.sport;
      const dport = p.dport;
      if (
        c.srcK[h] === hs &&
        c.dstK[h] === hd &&
        c.sport[h] === sport &&
        c.dport[h] === dport &&
        (v4 || (s6?.[h] === p.src && d6?.[h] === p.dst))
      )
        reverse = false;
      else if (
        c.srcK[h] === hd &&
        c.dstK[h] === hs &&
        c.sport[h] === dport &&
        c.dport[h] === sport &&
        (v4 || (s6?.[h] === p.dst && d6?.[h] === p.src))
      )
        reverse = true;
      else return false;
    } else {
      const srcIsSrc = c.srcK[h] === hs && (v4 || s6?.[h] === p.src);
      const dstIsDst = c.dstK[h] === hd && (v4 || d6?.[h] === p.dst);
      const srcIsDst = c.srcK[h] === hd && (v4 || s6?.[h] === p.dst);
      const dstIsSrc = c.dstK[h] === hs && (v4 || d6?.[h] === p.src);
      if (p.proto === IPPROTO_ICMP || p.proto === IPPROTO_ICMPV6) {
        const replies = p.proto === IPPROTO_ICMP ? ICMP_REPLY : ICMP6_REPLY;
        const icmp = c.icmp[h] as number;
        const type = icmp >>> 16;
        const id = icmp & 0xffff;
        if (srcIsSrc && dstIsDst && p.icmpType === type && p.icmpId === id) reverse = false;
        else if (
          srcIsDst &&
          (dstIsSrc || isMulticast6(fam, d6?.[h] ?? 0n)) &&
          p.icmpType === replies[type] &&
          // Only echo carries an id in ICMPv6; neighbour/router discovery replies match on addresses.
          (p.icmpId === id || (fam === 6 && type !== 128))
        )
          reverse = true;
        else return false;
      } else {
        if (srcIsSrc && dstIsDst) reverse = false;
        else if (srcIsDst && dstIsSrc) reverse = true;
        else return false;
      }
    }
    const wantOpts = reverse ? (c.replyOpt[h] as number) : (c.optBits[h] as number);
    if ((wantOpts >= 0 && p.optBits !== wantOpts) || p.secBits !== c.secBits[h]) return false;
    const out = p.dir === "out";
    const slot = h * 4 + (out ? 2 : 0) + (reverse ? 1 : 0);
    const known = c.ifs[slot] as number;
    const ifId = this.ifId(p.ifname);
    if (known !== 0 && known !== ifId) return false;
    if (p.proto === IPPROTO_TCP && ((c.flags[h] as number) & F_CLOSING) !== 0) return false;
    if (p.proto === IPPROTO_TCP && !ackInWindow(c, h, p, reverse)) return false;
    if (known === 0) c.ifs[slot] = ifId;
    // Counters: fwd in, fwd out, rev in, rev out.
    const k = h * 4 + (reverse ? 2 : 0) + (out ? 1 : 0);
    c.pk[k] = (c.pk[k] as number) + 1;
    c.by[k] = (c.by[k] as number) + p.len;
    if (reverse) {
      c.flags[h] = (c.flags[h] as number) | F_SAW_REPLY;
      if ((c.replyOpt[h] as number) < 0) c.replyOpt[h] = p.optBits;
    }
    if (p.proto === IPPROTO_TCP) this.advanceTcp(h, p, reverse);
    this.reverse = reverse;
    return true;
  }

  /** ICMPv6 queries sent to a multicast group, which a reply from any member answers (newest first). */
  private multicastQueries(p: Packet): number[] {
    const c = this.col;
    const found: number[] = [];
    for (let i = this.count - 1; i >= 0; i--) {
      const h = this.order[i] as number;
      if (
        c.proto[h] === IPPROTO_ICMPV6 &&
        c.fam[h] === 6 &&
        c.src6?.[h] === p.dst &&
        isMulticast6(6, c.dst6?.[h] ?? 0n)
      )
        found.push(h);
    }
    return found;
  }

  /**
   * The entry an ICMP error belongs to: the packet it quotes is one of the
   * entry's own (ip_state.c ipf_checkicmpmatchingstate). `noicmperr` opts out.
   */
  private findQuotedHandle(p: Packet): number {
    const q = p.inner;
    // The error must go back to the quoted packet's sender; redirects are not let through by state
    // (with `icmp-head` they go to that group, whose rules this engine does not consult for them).
    if (!q || p.dst !== q.src || (p.family === 4 && p.icmpType === 5)) return -1;
    const ports = q.proto === IPPROTO_TCP || q.proto === IPPROTO_UDP;
    const n = this.byFlow.collect(
      addrFlowKey(p.family, q.proto, q.src, q.dst, ports ? (q.sport ?? 0) : 0, ports ? (q.dport ?? 0) : 0),
      this.col.age,
    );
    const c = this.col;
    for (let k = 0; k < n; k++) {
      const h = this.byFlow.found(k);
      if (c.fam[h] !== p.family || this.ruleOf(h).ast.keepState?.noIcmpErr) continue;
      const src = this.srcOf(h);
      const dst = this.dstOf(h);
      const forward =
        src === q.src && dst === q.dst && (!ports || (c.sport[h] === q.sport && c.dport[h] === q.dport));
      const reverse =
        src === q.dst && dst === q.src && (!ports || (c.sport[h] === q.dport && c.dport[h] === q.sport));
      if (forward || reverse) {
        // ipf_checkicmpmatchingstate's sense: an error about a forward packet travels as a reply.
        this.reverse = forward;
        return h;
      }
    }
    return -1;
  }

  private advanceTcp(h: number, p: Packet, reverse: boolean): void {
    const c = this.col;
    const end = tcpSegmentEnd(p) | 0;
    if (reverse) {
      if (!((c.flags[h] as number) & F_END1) || seqGreater(end, c.end1[h] as number)) {
        c.end1[h] = end;
        c.flags[h] = (c.flags[h] as number) | F_END1;
      }
    } else if (seqGreater(end, c.end0[h] as number)) c.end0[h] = end;
    if (p.tcpFlags & (TH.F | TH.R)) {
      c.flags[h] = (c.flags[h] as number) | F_CLOSING;
      this.anyClosing = true;
    }
    if (p.tcpFlags & TH.A) {
      const ts = c.ts[h] as number;
      const ts0 = ts & 15;
      const ts1 = ts >> 4;
      c.ts[h] = reverse ? Math.max(ts0, 3) | (4 << 4) : 4 | (Math.max(ts1, 3) << 4);
    }
  }

  /**
   * Add an entry for a packet that matched a `keep state` rule; its handle,
   * or -1 when the table or the rule's `limit` is full, with the reason in
   * {@link refused} (the packet is then treated as unmatched, as ipftest
   * reports it).
   */
  addEntry(p: Packet, rule: CompiledFilterRule, verdict: Verdict): number {
    if (this.count >= this.maxEntries) {
      this.refused = this.fullReason ??= `state table full (state_max ${this.maxEntries})`;
      return -1;
    }
    const ks = rule.ast.keepState;
    const limit = ks?.limit ?? null;
    // Entries per rule are only counted for rules with a `limit`.
    const count = limit !== null ? (this.ruleCounts.get(rule) ?? 0) : 0;
    if (limit !== null && count >= limit) {
      this.refused = `rule's state limit ${limit} reached`;
      return -1;
    }
    if (ks && (ks.maxSrcs !== null || ks.maxPerSrc !== null)) {
      const mine: number[] = [];
      for (let i = 0; i < this.count; i++) {
        const e = this.order[i] as number;
        if (this.ruleOf(e) === rule) mine.push(e);
      }
      if (ks.maxSrcs !== null) {
        const sources = new Set(mine.map((e) => this.srcOf(e)));
        if (!sources.has(p.src) && sources.size >= ks.maxSrcs) {
          this.refused = `rule's max-srcs ${ks.maxSrcs} reached`;
          return -1;
        }
      }
      if (ks.maxPerSrc !== null) {
        const width = p.family === 4 ? 32 : 128;
        const bits = ks.maxPerSrc.mask;
        const mask = bits <= 0 ? 0n : ((1n << BigInt(width)) - 1n) ^ ((1n << BigInt(width - bits)) - 1n);
        const same = mine.filter((e) => (this.srcOf(e) & mask) === (p.src & mask)).length;
        if (same >= ks.maxPerSrc.count) {
          this.refused = `rule's max-per-src ${ks.maxPerSrc.count}/${bits} reached`;
          return -1;
        }
      }
    }
    const tcp = p.proto === IPPROTO_TCP;
    const closing = tcp && (p.tcpFlags & (TH.F | TH.R)) !== 0;
    if (closing) this.anyClosing = true;
    let h: number;
    if (this.freeCount > 0) h = this.free[--this.freeCount] as number;
    else {
      if (this.rows === this.col.size) this.grow();
      h = this.rows++;
    }
    const c = this.col;
    const inbound = p.dir === "in";
    c.fam[h] = p.family;
    c.proto[h] = p.proto;
    c.dir[h] = inbound ? 0 : 1;
    if (p.family !== 4) {
      const { src6, dst6 } = c.v6();
      src6[h] = p.src;
      dst6[h] = p.dst;
    }
    c.srcK[h] = srcKey(p);
    c.dstK[h] = dstKey(p);
    c.sport[h] = p.sport ?? 0;
    c.dport[h] = p.dport ?? 0;
    c.icmp[h] = (((p.icmpType ?? 0) & 0xffff) << 16) | (p.icmpId & 0xffff);
    c.optBits[h] = p.optBits;
    c.secBits[h] = p.secBits;
    c.replyOpt[h] = -1;
    c.age[h] = ++this.added;
    c.rule[h] = this.ruleId(rule);
    c.verdict[h] = verdictCode(verdict);
    if (c.routeIf !== undefined) c.routeIf[h] = undefined;
    const i4 = h * 4;
    const ifId = this.ifId(p.ifname);
    c.ifs[i4] = inbound ? ifId : 0;
    c.ifs[i4 + 1] = 0;
    c.ifs[i4 + 2] = inbound ? 0 : ifId;
    c.ifs[i4 + 3] = 0;
    c.pk[i4] = inbound ? 1 : 0;
    c.pk[i4 + 1] = inbound ? 0 : 1;
    c.pk[i4 + 2] = 0;
    c.pk[i4 + 3] = 0;
    c.by[i4] = inbound ? p.len : 0;
    c.by[i4 + 1] = inbound ? 0 : p.len;
    c.by[i4 + 2] = 0;
    c.by[i4 + 3] = 0;
    // S: 1 / 0 (SYN sent, closed), else 4 / 3 (established, listen).
    c.ts[h] = p.tcpFlags & TH.S ? 1 : 4 | (3 << 4);
    c.end0[h] = tcp ? tcpSegmentEnd(p) | 0 : -1;
    c.end1[h] = 0;
    c.flags[h] = closing ? F_CLOSING : 0;
    if (this.count === this.order.length) this.order = grownInt32(this.order, this.order.length * 2);
    this.order[this.count++] = h;
    // find() has just hashed this packet (the engine looks before it adds).
    const ports = tcp || p.proto === IPPROTO_UDP;
    const key =
      this.lastKeyPacket === p
        ? this.lastKey
        : addrFlowKey(
            p.family,
            p.proto,
            p.src,
            p.dst,
            ports ? (p.sport ?? 0) : 0,
            ports ? (p.dport ?? 0) : 0,
          );
    this.lastKeyPacket = undefined;
    this.byFlow.add(key, h);
    if (limit !== null) this.ruleCounts.set(rule, count + 1);
    return h;
  }

  private grow(): void {
    const size = this.col.size * 2;
    this.col = this.col.grown(size);
    this.free = grownInt32(this.free, size);
  }

  /** A forward packet sent out of the routed interface: counted as output and its interface learned. */
  countRouted(h: number, p: Packet): void {
    const c = this.col;
    c.ifs[h * 4 + 2] = this.ifId(c.routeIf?.[h] ?? "");
    c.pk[h * 4 + 1] = (c.pk[h * 4 + 1] as number) + 1;
    c.by[h * 4 + 1] = (c.by[h * 4 + 1] as number) + p.len;
  }

  /** Drop closing TCP entries (what ipftest does after each packet). */
  flushClosing(): void {
    // Most packets close nothing; only walk the table when a FIN or RST was seen.
    if (!this.anyClosing) return;
    this.anyClosing = false;
    const c = this.col;
    let kept = 0;
    for (let i = 0; i < this.count; i++) {
      const h = this.order[i] as number;
      if (c.proto[h] === IPPROTO_TCP && ((c.flags[h] as number) & F_CLOSING) !== 0) {
        this.byFlow.remove(
          flowKey(
            c.proto[h] as number,
            c.srcK[h] as number,
            c.dstK[h] as number,
            c.sport[h] as number,
            c.dport[h] as number,
          ),
          h,
        );
        const rule = this.ruleOf(h);
        if ((rule.ast.keepState?.limit ?? null) !== null)
          this.ruleCounts.set(rule, (this.ruleCounts.get(rule) ?? 1) - 1);
        this.free[this.freeCount++] = h;
      } else this.order[kept++] = h;
    }
    this.count = kept;
  }

  describe(e: StateEntry): string {
    const proto =
      e.proto === IPPROTO_TCP
        ? "tcp"
        : e.proto === IPPROTO_UDP
          ? "udp"
          : e.proto === IPPROTO_ICMP
            ? "icmp"
            : String(e.proto);
    const ports = e.proto === IPPROTO_TCP || e.proto === IPPROTO_UDP;
    const end = (a: bigint, port: number): string => `${formatAddr(e.family, a)}${ports ? `,${port}` : ""}`;
    return `${proto} ${end(e.src, e.sport)} -> ${end(e.dst, e.dport)} (${e.verdict}, rule ${e.rule.number})`;
  }
}

/** The verdict column's number for a verdict. */
function verdictCode(v: Verdict): number {
  const i = VERDICTS.indexOf(v);
  if (i < 0) throw new Error(`unknown verdict ${v}`);
  return i;
}

function grownInt32(a: Int32Array, size: number): Int32Array {
  const b = new Int32Array(size);
  b.set(a);
  return b;
}

/** Remembered fragments of passed packets (`keep frags`), keyed by src, dst, id, proto. */
export class FragmentCache {
  private readonly known = new Map<string, Verdict>();
  key(p: Packet): string {
    return `${p.family}|${p.src}|${p.dst}|${p.id}|${p.proto}`;
  }
  remember(p: Packet, verdict: Verdict): void {
    if (p.moreFrags || p.fragOff !== 0) this.known.set(this.key(p), verdict);
  }
  lookup(p: Packet): Verdict | undefined {
    return p.fragOff !== 0 ? this.known.get(this.key(p)) : undefined;
  }
}
