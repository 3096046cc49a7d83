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
 * table's row by the entry's handle. The table itself keeps no object per
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

  private word(i: number): number {
    return this.t.col.rows[this.handle * STRIDE + i] as number;
  }
  get family(): Family {
    return (this.word(R_META) & 0xff) as Family;
  }
  get proto(): number {
    return (this.word(R_META) >>> 8) & 0xff;
  }
  get src(): bigint {
    return this.t.srcOf(this.handle);
  }
  get dst(): bigint {
    return this.t.dstOf(this.handle);
  }
  get sport(): number {
    return this.word(R_PORTS) >>> 16;
  }
  get dport(): number {
    return this.word(R_PORTS) & 0xffff;
  }
  /** IP options and security class of the creating packet: forward packets must carry the same, replies none (ip_state.c is_opt/is_sec). */
  get optBits(): number {
    return this.word(R_OPT);
  }
  get secBits(): number {
    return this.word(R_SEC);
  }
  /** IP options of the first reply: replies must carry the same. */
  get replyOptBits(): number | undefined {
    const v = this.word(R_REPLY_OPT);
    return v < 0 ? undefined : v;
  }
  get rule(): CompiledFilterRule {
    return this.t.ruleOf(this.handle);
  }
  get verdict(): Verdict {
    return this.t.verdictOf(this.handle);
  }
  get dir(): "in" | "out" {
    return ((this.word(R_META) >>> 16) & 0xff) === 0 ? "in" : "out";
  }
  /** Set when the creating rule routed the packet (`to IF`, `to dstlist/…`): forward packets go the same way. */
  get routeIf(): string | undefined {
    return this.t.routeIfOf(this.handle);
  }
  get icmpType(): number {
    return this.word(R_ICMP) >>> 16;
  }
  get icmpId(): number {
    return this.word(R_ICMP) & 0xffff;
  }
  /** TCP: a FIN or RST was seen, so the entry is closing. */
  get closing(): boolean {
    return (this.word(R_FLAGS) & F_CLOSING) !== 0;
  }
  /** A reply has matched the entry. */
  get sawReply(): boolean {
    return (this.word(R_FLAGS) & F_SAW_REPLY) !== 0;
  }
  /** [in fwd, in rev, out fwd, out rev] (ip_state.c is_ifname[]). */
  get ifnames(): readonly [string, string, string, string] {
    const n = this.t.ifNames;
    const i = this.word(R_IF_IN);
    const o = this.word(R_IF_OUT);
    return [n[i & 0xffff] as string, n[i >>> 16] as string, n[o & 0xffff] as string, n[o >>> 16] as string];
  }
  /** [fwd in, fwd out, rev in, rev out]. */
  get pkts(): readonly [number, number, number, number] {
    const f = this.t.col.nums;
    const i = this.handle * NUM_STRIDE + N_PKTS;
    return [f[i] as number, f[i + 1] as number, f[i + 2] as number, f[i + 3] as number];
  }
  get bytes(): readonly [number, number, number, number] {
    const f = this.t.col.nums;
    const i = this.handle * NUM_STRIDE + N_BYTES;
    return [f[i] as number, f[i + 1] as number, f[i + 2] as number, f[i + 3] as number];
  }
  /** TCP state numbers (IPF_TCPS_*): forward side, reply side. */
  get tcpState(): readonly [number, number] {
    const ts = (this.word(R_FLAGS) >>> 8) & 0xff;
    return [ts & 15, ts >> 4];
  }
}

/**
 * An entry is one 128-byte row of one ArrayBuffer (two adjacent cache lines),
 * seen as int32 words (STRIDE per entry: the R_* fields) and as doubles
 * (NUM_STRIDE per entry: its age and its counters, in the row's last 72
 * bytes). A lookup or a new entry touches that row and nothing else of the
 * table, where one array per field (as until 2026-12-06, i13f) touched a
 * cache line per field — some twenty per new entry, on tables of several
 * hundred kilobytes that do not stay in cache.
 */
const STRIDE = 32;
const NUM_STRIDE = 16;
/** The double index of the entry's age (int words 14-15). */
const N_AGE = 7;
/** Packets fwd in, fwd out, rev in, rev out (doubles), then bytes in the same order. */
const N_PKTS = 8;
const N_BYTES = 12;
/** family | proto << 8 | dir (0 in, 1 out) << 16 | verdict (index into VERDICTS) << 24. */
const R_META = 0;
/** F_* flags | TCP states << 8 (forward side in bits 8-11, reply side in bits 12-15). */
const R_FLAGS = 1;
/** The addresses folded (foldAddr): the IPv4 address itself; for IPv6 compared before the bigints. */
const R_SRC_K = 2;
const R_DST_K = 3;
/** sport << 16 | dport. */
const R_PORTS = 4;
/** ICMP type << 16 | id of the creating packet. */
const R_ICMP = 5;
const R_OPT = 6;
const R_SEC = 7;
/** Options of the first reply, -1 until one is seen. */
const R_REPLY_OPT = 8;
/** Index into the table's rule list. */
const R_RULE = 9;
/**
 * TCP: per side (forward sender, reply sender) the sequence number after
 * the last byte sent, SYN and FIN counting one (ip_state.c td_end), as an
 * int32 (compared modulo 2^32); END1 counts only once F_END1 is set.
 */
const R_END0 = 10;
const R_END1 = 11;
/** Interfaces learned, as indexes into the table's names (0 = "", not yet): in fwd | in rev << 16. */
const R_IF_IN = 12;
/** out fwd | out rev << 16. */
const R_IF_OUT = 13;

/**
 * The table's storage: all numbers, in typed arrays, so an entry costs the
 * garbage collector nothing and the table holds no reference the scavenger
 * must scan or copy. References become small integers: the rule is an index
 * into the table's rule list, the verdict one into VERDICTS, an interface
 * name one into {@link StateTable.ifNames}. IPv4 addresses are their folded
 * keys (exact for IPv4, see packet.ts foldAddr); only IPv6 entries keep their
 * bigints, in arrays made when the first one is added.
 */
class Columns {
  /** The rows as int32 words (STRIDE per entry) … */
  rows: Int32Array;
  /** … and as doubles (NUM_STRIDE per entry), over the same memory. */
  nums: Float64Array;
  /** IPv6 entries' addresses (IPv4 ones are their keys); made with the first IPv6 entry. */
  src6: bigint[] | undefined;
  dst6: bigint[] | undefined;
  /** Set for entries a routing rule made (`to IF`); made with the first. */
  routeIf: (string | undefined)[] | undefined;

  constructor(readonly size: number) {
    const buf = new ArrayBuffer(size * STRIDE * 4);
    this.rows = new Int32Array(buf);
    this.nums = new Float64Array(buf);
    // Write to every 4 kB page now. A table this size (4,013 entries: 500 kB) is a fresh
    // mapping whose pages the kernel would otherwise fault in one at a time as entries are
    // first written, in the middle of the packets (100-190 page faults per 10,000-packet
    // bench run, 50-80 with this; measured 2026-12-06, i13f). The faults still happen, here,
    // when the engine is built — as ipf's own state table is kernel memory allocated when
    // ipf loads, not as packets arrive.
    for (let i = 0; i < this.rows.length; i += 1024) this.rows[i] = 0;
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
    c.rows.set(this.rows);
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

/** Verdicts as R_META numbers them. */
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
function ackInWindow(rows: Int32Array, at: number, p: Packet, reverse: boolean): boolean {
  if (!(p.tcpFlags & TH.A)) return true;
  if (!reverse && !((rows[at + R_FLAGS] as number) & F_END1)) return true;
  const peerEnd = reverse ? (rows[at + R_END0] as number) : (rows[at + R_END1] as number);
  const ackskew = (peerEnd - p.ack) | 0;
  return ackskew >= -MAX_ACK_WINDOW && ackskew <= MAX_ACK_WINDOW;
}

/**
 * The state table. Entries are rows ("handles") of one int32 array (and one
 * of counters) filed in an open-addressing hash on the flow's folded
 * addresses and ports: a new entry allocates nothing on the JS heap, and a
 * lookup compares integers before it compares the addresses themselves.
 * {@link StateEntry} views give the dumps and traces the old object shape.
 */
export class StateTable {
  /** @internal The rows (read by {@link StateEntry} views). */
  col: Columns;
  /** Live handles, oldest first; {@link entries} lists them newest first, as the -D dump does. */
  private order: Int32Array;
  private count = 0;
  /** Handles freed by {@link flushClosing}, reused before new rows. */
  private free: Int32Array;
  private freeCount = 0;
  /** Rows ever used (the next new handle). */
  private rowsUsed = 0;
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

  /** The rules entries were made by (R_RULE indexes this list). */
  private readonly rules: CompiledFilterRule[] = [];
  private readonly ruleIds = new Map<CompiledFilterRule, number>();
  /** @internal Interface names learned (R_IF_* index this list; 0 = none yet). */
  readonly ifNames: string[] = [""];
  private readonly ifIds = new Map<string, number>([["", 0]]);
  private lastIfName = "";
  private lastIfId = 0;

  /** A view of the entry with this handle. */
  entry(h: number): StateEntry {
    return new StateEntry(this, h);
  }
  ruleOf(h: number): CompiledFilterRule {
    return this.rules[this.col.rows[h * STRIDE + R_RULE] as number] as CompiledFilterRule;
  }
  verdictOf(h: number): Verdict {
    return VERDICTS[(this.col.rows[h * STRIDE + R_META] as number) >>> 24] as Verdict;
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
    const at = h * STRIDE;
    return ((c.rows[at + R_META] as number) & 0xff) === 4
      ? BigInt((c.rows[at + R_SRC_K] as number) >>> 0)
      : (c.src6?.[h] as bigint);
  }
  /** @internal The entry's destination address. */
  dstOf(h: number): bigint {
    const c = this.col;
    const at = h * STRIDE;
    return ((c.rows[at + R_META] as number) & 0xff) === 4
      ? BigInt((c.rows[at + R_DST_K] as number) >>> 0)
      : (c.dst6?.[h] as bigint);
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
    const n = this.byFlow.collect(key, this.col.nums, NUM_STRIDE, N_AGE);
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
    const rows = c.rows;
    const at = h * STRIDE;
    const fam = p.family;
    const meta = rows[at + R_META] as number;
    if ((meta & 0xffff) !== (fam | (p.proto << 8))) return false;
    // The folded keys are the IPv4 addresses themselves: for IPv4 equal keys are equal addresses,
    // for IPv6 the bigints are compared too.
    const v4 = fam === 4;
    const s6 = c.src6;
    const d6 = c.dst6;
    const sk = rows[at + R_SRC_K] as number;
    const dk = rows[at + R_DST_K] as number;
    let reverse: boolean;
    if (p.proto === IPPROTO_TCP || p.proto === IPPROTO_UDP) {
      const sport = p.sport;
      const dport = p.dport;
      // A later fragment carries no ports, and a packet without them is no entry's (as when ports were compared one by one).
      if (sport === undefined || dport === undefined) return false;
      const ports = rows[at + R_PORTS] as number;
      if (
        sk === hs &&
        dk === hd &&
        ports === ((sport << 16) | dport) &&
        (v4 || (s6?.[h] === p.src && d6?.[h] === p.dst))
      )
        reverse = false;
      else if (
        sk === hd &&
        dk === hs &&
        ports === ((dport << 16) | sport) &&
        (v4 || (s6?.[h] === p.dst && d6?.[h] === p.src))
      )
        reverse = true;
      else return false;
    } else {
      const srcIsSrc = sk === hs && (v4 || s6?.[h] === p.src);
      const dstIsDst = dk === hd && (v4 || d6?.[h] === p.dst);
      const srcIsDst = sk === hd && (v4 || s6?.[h] === p.dst);
      const dstIsSrc = dk === hs && (v4 || d6?.[h] === p.src);
      if (p.proto === IPPROTO_ICMP || p.proto === IPPROTO_ICMPV6) {
        const replies = p.proto === IPPROTO_ICMP ? ICMP_REPLY : ICMP6_REPLY;
        const icmp = rows[at + R_ICMP] as number;
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
    const wantOpts = reverse ? (rows[at + R_REPLY_OPT] as number) : (rows[at + R_OPT] as number);
    if ((wantOpts >= 0 && p.optBits !== wantOpts) || p.secBits !== rows[at + R_SEC]) return false;
    const out = p.dir === "out";
    const ifWord = at + (out ? R_IF_OUT : R_IF_IN);
    const ifShift = reverse ? 16 : 0;
    const known = ((rows[ifWord] as number) >>> ifShift) & 0xffff;
    const ifId = this.ifId(p.ifname);
    if (known !== 0 && known !== ifId) return false;
    if (p.proto === IPPROTO_TCP && ((rows[at + R_FLAGS] as number) & F_CLOSING) !== 0) return false;
    if (p.proto === IPPROTO_TCP && !ackInWindow(rows, at, p, reverse)) return false;
    if (known === 0) rows[ifWord] = (rows[ifWord] as number) | (ifId << ifShift);
    // Counters: fwd in, fwd out, rev in, rev out; bytes 4 further.
    const nums = c.nums;
    const k = h * NUM_STRIDE + N_PKTS + (reverse ? 2 : 0) + (out ? 1 : 0);
    nums[k] = (nums[k] as number) + 1;
    nums[k + 4] = (nums[k + 4] as number) + p.len;
    if (reverse) {
      rows[at + R_FLAGS] = (rows[at + R_FLAGS] as number) | F_SAW_REPLY;
      if ((rows[at + R_REPLY_OPT] as number) < 0) rows[at + R_REPLY_OPT] = p.optBits;
    }
    if (p.proto === IPPROTO_TCP) this.advanceTcp(rows, at, p, reverse);
    this.reverse = reverse;
    return true;
  }

  /** ICMPv6 queries sent to a multicast group, which a reply from any member answers (newest first). */
  private multicastQueries(p: Packet): number[] {
    const c = this.col;
    const found: number[] = [];
    for (let i = this.count - 1; i >= 0; i--) {
      const h = this.order[i] as number;
      const meta = c.rows[h * STRIDE + R_META] as number;
      if (
        ((meta >>> 8) & 0xff) === IPPROTO_ICMPV6 &&
        (meta & 0xff) === 6 &&
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
      this.col.nums,
      NUM_STRIDE,
      N_AGE,
    );
    const rows = this.col.rows;
    for (let k = 0; k < n; k++) {
      const h = this.byFlow.found(k);
      if (
        ((rows[h * STRIDE + R_META] as number) & 0xff) !== p.family ||
        this.ruleOf(h).ast.keepState?.noIcmpErr
      )
        continue;
      const src = this.srcOf(h);
      const dst = this.dstOf(h);
      const portWord = rows[h * STRIDE + R_PORTS] as number;
      const sport = portWord >>> 16;
      const dport = portWord & 0xffff;
      const forward = src === q.src && dst === q.dst && (!ports || (sport === q.sport && dport === q.dport));
      const reverse = src === q.dst && dst === q.src && (!ports || (sport === q.dport && dport === q.sport));
      if (forward || reverse) {
        // ipf_checkicmpmatchingstate's sense: an error about a forward packet travels as a reply.
        this.reverse = forward;
        return h;
      }
    }
    return -1;
  }

  private advanceTcp(rows: Int32Array, at: number, p: Packet, reverse: boolean): void {
    const end = tcpSegmentEnd(p) | 0;
    let flags = rows[at + R_FLAGS] as number;
    if (reverse) {
      if (!(flags & F_END1) || seqGreater(end, rows[at + R_END1] as number)) {
        rows[at + R_END1] = end;
        flags |= F_END1;
      }
    } else if (seqGreater(end, rows[at + R_END0] as number)) rows[at + R_END0] = end;
    if (p.tcpFlags & (TH.F | TH.R)) {
      flags |= F_CLOSING;
      this.anyClosing = true;
    }
    if (p.tcpFlags & TH.A) {
      const ts = (flags >>> 8) & 0xff;
      const ts0 = ts & 15;
      const ts1 = ts >> 4;
      const next = reverse ? Math.max(ts0, 3) | (4 << 4) : 4 | (Math.max(ts1, 3) << 4);
      flags = (flags & 0xff) | (next << 8);
    }
    rows[at + R_FLAGS] = flags;
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
      if (this.rowsUsed === this.col.size) this.grow();
      h = this.rowsUsed++;
    }
    const c = this.col;
    const rows = c.rows;
    const at = h * STRIDE;
    const inbound = p.dir === "in";
    if (p.family !== 4) {
      const { src6, dst6 } = c.v6();
      src6[h] = p.src;
      dst6[h] = p.dst;
    }
    const ifId = this.ifId(p.ifname);
    const sport = p.sport ?? 0;
    const dport = p.dport ?? 0;
    rows[at + R_META] = p.family | (p.proto << 8) | ((inbound ? 0 : 1) << 16) | (verdictCode(verdict) << 24);
    // S: 1 / 0 (SYN sent, closed), else 4 / 3 (established, listen).
    const ts = p.tcpFlags & TH.S ? 1 : 4 | (3 << 4);
    rows[at + R_FLAGS] = (closing ? F_CLOSING : 0) | (ts << 8);
    rows[at + R_SRC_K] = srcKey(p);
    rows[at + R_DST_K] = dstKey(p);
    rows[at + R_PORTS] = ((sport & 0xffff) << 16) | (dport & 0xffff);
    rows[at + R_ICMP] = (((p.icmpType ?? 0) & 0xffff) << 16) | (p.icmpId & 0xffff);
    rows[at + R_OPT] = p.optBits;
    rows[at + R_SEC] = p.secBits;
    rows[at + R_REPLY_OPT] = -1;
    rows[at + R_RULE] = this.ruleId(rule);
    rows[at + R_END0] = tcp ? tcpSegmentEnd(p) | 0 : -1;
    rows[at + R_END1] = 0;
    rows[at + R_IF_IN] = inbound ? ifId : 0;
    rows[at + R_IF_OUT] = inbound ? 0 : ifId;
    if (c.routeIf !== undefined) c.routeIf[h] = undefined;
    const nums = c.nums;
    const n = h * NUM_STRIDE;
    nums[n + N_AGE] = ++this.added;
    nums[n + N_PKTS] = inbound ? 1 : 0;
    nums[n + N_PKTS + 1] = inbound ? 0 : 1;
    nums[n + N_PKTS + 2] = 0;
    nums[n + N_PKTS + 3] = 0;
    nums[n + N_BYTES] = inbound ? p.len : 0;
    nums[n + N_BYTES + 1] = inbound ? 0 : p.len;
    nums[n + N_BYTES + 2] = 0;
    nums[n + N_BYTES + 3] = 0;
    if (this.count === this.order.length) this.order = grownInt32(this.order, this.order.length * 2);
    this.order[this.count++] = h;
    // find() has just hashed this packet (the engine looks before it adds).
    const ports = tcp || p.proto === IPPROTO_UDP;
    const key =
      this.lastKeyPacket === p
        ? this.lastKey
        : addrFlowKey(p.family, p.proto, p.src, p.dst, ports ? sport : 0, ports ? dport : 0);
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
    const w = h * STRIDE + R_IF_OUT;
    c.rows[w] = ((c.rows[w] as number) & ~0xffff) | this.ifId(c.routeIf?.[h] ?? "");
    const k = h * NUM_STRIDE;
    c.nums[k + N_PKTS + 1] = (c.nums[k + N_PKTS + 1] as number) + 1;
    c.nums[k + N_BYTES + 1] = (c.nums[k + N_BYTES + 1] as number) + p.len;
  }

  /** Drop closing TCP entries (what ipftest does after each packet). */
  flushClosing(): void {
    // Most packets close nothing; only walk the table when a FIN or RST was seen.
    if (!this.anyClosing) return;
    this.anyClosing = false;
    const rows = this.col.rows;
    let kept = 0;
    for (let i = 0; i < this.count; i++) {
      const h = this.order[i] as number;
      const at = h * STRIDE;
      const proto = ((rows[at + R_META] as number) >>> 8) & 0xff;
      if (proto === IPPROTO_TCP && ((rows[at + R_FLAGS] as number) & F_CLOSING) !== 0) {
        const portWord = rows[at + R_PORTS] as number;
        this.byFlow.remove(
          flowKey(
            proto,
            rows[at + R_SRC_K] as number,
            rows[at + R_DST_K] as number,
            portWord >>> 16,
            portWord & 0xffff,
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

/** The verdict number R_META keeps for a verdict. */
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
