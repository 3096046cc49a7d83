/**
 * The state table (`keep state`): entries created by a matching rule, matched
 * by later packets in either direction before any rule is looked at
 * (ip_state.c). Also the fragment cache for `keep frags`.
 *
 * ipftest flushes closing TCP states after every packet
 * (`ipf_state_flush(softc, 1, 0)`); {@link StateTable.flushClosing} is that.
 */
import type { CompiledFilterRule, Verdict } from "../../../../src/firewall/ipf/eval/filter.js";
import { foldAddr } from "../../../../src/firewall/ipf/eval/hash.js";
import { HashSlots } from "../../../../src/firewall/ipf/eval/hashslots.js";
import {
  formatAddr,
  IPPROTO_ICMP,
  IPPROTO_ICMPV6,
  IPPROTO_TCP,
  IPPROTO_UDP,
  TH,
  type Family,
  type Packet,
} from "../../../../src/firewall/ipf/eval/packet.js";

/** ICMP query types and the reply type their state accepts. */
const ICMP_REPLY: Readonly<Record<number, number>> = { 8: 0, 13: 14, 15: 16, 17: 18 };
const ICMP6_REPLY: Readonly<Record<number, number>> = { 128: 129, 133: 134, 135: 136 };

/** IPv6 multicast (ff00::/8): a query sent there is answered by whichever host owns the address. */
const isMulticast6 = (family: Family, a: bigint): boolean => family === 6 && a >> 120n === 0xffn;

/** {@link StateEntry.flags} bits. */
const F_CLOSING = 1;
const F_SAW_REPLY = 2;
/** The reply side has sent (end1 holds its sequence end). */
const F_END1 = 4;

/**
 * One state entry. A table of thousands is built per run and lives as long
 * as the run, so each entry is one object with few fields, every number a
 * small integer (no boxed doubles): TCP states and the booleans are packed,
 * sequence ends kept as int32. The tuple views below are for the dumps.
 */
export class StateEntry {
  /** IP options of the first reply: replies must carry the same. */
  replyOptBits: number | undefined = undefined;
  /** Interfaces learned per slot: in fwd, in rev, out fwd, out rev (ip_state.c is_ifname[]). */
  if0: string;
  if1 = "";
  if2: string;
  if3 = "";
  /** Packets and bytes: fwd in, fwd out, rev in, rev out. */
  pk0: number;
  pk1: number;
  pk2 = 0;
  pk3 = 0;
  by0: number;
  by1: number;
  by2 = 0;
  by3 = 0;
  /** TCP state numbers (IPF_TCPS_*) for the dump: forward side in bits 0-3, reply side in bits 4-7. */
  ts: number;
  /**
   * TCP: per side (forward sender, reply sender) the sequence number after
   * the last byte sent, SYN and FIN counting one (ip_state.c td_end), as an
   * int32 (compared modulo 2^32); end1 counts only once F_END1 is set.
   */
  end0: number;
  end1 = 0;
  /** F_CLOSING, F_SAW_REPLY, F_END1. */
  flags: number;
  /** Set when the creating rule routed the packet (`to IF`, `to dstlist/…`): forward packets go the same way. */
  routeIf: string | undefined = undefined;
  /** ICMP type << 16 | id of the creating packet. */
  readonly icmp: number;

  constructor(
    readonly family: Family,
    readonly proto: number,
    readonly src: bigint,
    readonly dst: bigint,
    readonly sport: number,
    readonly dport: number,
    icmpType: number,
    icmpId: number,
    /** IP options and security class of the creating packet: forward packets must carry the same, replies none (ip_state.c is_opt/is_sec). */
    readonly optBits: number,
    readonly secBits: number,
    readonly rule: CompiledFilterRule,
    readonly verdict: Verdict,
    readonly dir: "in" | "out",
    ifname: string,
    len: number,
    tcpFlags: number,
    end: number,
    /** TCP: a FIN or RST was seen, so the entry is closing. */
    closing: boolean,
  ) {
    const inbound = dir === "in";
    this.if0 = inbound ? ifname : "";
    this.if2 = inbound ? "" : ifname;
    this.pk0 = inbound ? 1 : 0;
    this.pk1 = inbound ? 0 : 1;
    this.by0 = inbound ? len : 0;
    this.by1 = inbound ? 0 : len;
    this.ts = tcpFlags & TH.S ? 1 : 4 | (3 << 4); // S: 1 / 0 (SYN sent, closed), else 4 / 3 (established, listen)
    this.end0 = end | 0;
    this.flags = closing ? F_CLOSING : 0;
    this.icmp = ((icmpType & 0xffff) << 16) | (icmpId & 0xffff);
  }

  get icmpType(): number {
    return this.icmp >>> 16;
  }
  get icmpId(): number {
    return this.icmp & 0xffff;
  }
  /** TCP: a FIN or RST was seen, so the entry is closing. */
  get closing(): boolean {
    return (this.flags & F_CLOSING) !== 0;
  }
  /** A reply has matched the entry. */
  get sawReply(): boolean {
    return (this.flags & F_SAW_REPLY) !== 0;
  }
  /** [in fwd, in rev, out fwd, out rev]. */
  get ifnames(): readonly [string, string, string, string] {
    return [this.if0, this.if1, this.if2, this.if3];
  }
  /** [fwd in, fwd out, rev in, rev out]. */
  get pkts(): readonly [number, number, number, number] {
    return [this.pk0, this.pk1, this.pk2, this.pk3];
  }
  get bytes(): readonly [number, number, number, number] {
    return [this.by0, this.by1, this.by2, this.by3];
  }
  get tcpState(): readonly [number, number] {
    return [this.ts & 15, this.ts >> 4];
  }
}

export interface StateMatch {
  entry: StateEntry;
  reverse: boolean;
}

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

/**
 * The acknowledgement half of ip_state.c ipf_state_tcpinwindow: a segment
 * with ACK set must acknowledge within MAXACKWINDOW of the end of what the
 * other side has sent (ackskew = td_end - ack). A segment that fails is not
 * part of the session and goes on to the rules. The sequence-window half
 * (td_maxend, td_maxwin, window scaling) is not modelled.
 */
function ackInWindow(e: StateEntry, p: Packet, reverse: boolean): boolean {
  if (!(p.tcpFlags & TH.A)) return true;
  if (!reverse && !(e.flags & F_END1)) return true;
  const peerEnd = reverse ? e.end0 : e.end1;
  const ackskew = (peerEnd - p.ack) | 0;
  return ackskew >= -MAX_ACK_WINDOW && ackskew <= MAX_ACK_WINDOW;
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

export class StateTable {
  /** Oldest first; {@link entries} lists them newest first, as the -D dump does. */
  private readonly list: StateEntry[] = [];
  /** Live entries per rule, kept for rules with a `limit` only. */
  private readonly ruleCounts = new Map<CompiledFilterRule, number>();
  /** Entries by flow hash (both directions of a flow share it). */
  private readonly byFlow: HashSlots<StateEntry>;

  /** Newest first, which is the order the -D dump lists them. */
  get entries(): readonly StateEntry[] {
    return [...this.list].reverse();
  }
  private fullReason: string | undefined;
  /** Set when an entry starts closing, so the per-packet flush can skip the walk otherwise. */
  private anyClosing = false;
  constructor(public maxEntries = 4013) {
    // Sized for a full table up front: growing means rehashing every entry.
    this.byFlow = new HashSlots<StateEntry>(Math.min(Math.max(maxEntries, 64), 1 << 16));
  }

  /**
   * What {@link find} returns: one object, refilled by each lookup (no allocation per packet);
   * valid until the next lookup. Keep a copy to hold on to it (traces do).
   */
  private readonly match: StateMatch = { entry: undefined as unknown as StateEntry, reverse: false };

  /** The flow hash of the packet last looked up, for {@link add} to file a new entry under. */
  private lastKey = 0;
  private lastKeyPacket: Packet | undefined;

  /**
   * The entry this packet belongs to, learning the interface for an unset
   * slot. `hs`/`hd`: the packet's addresses folded (foldAddr), when the
   * caller has them already.
   */
  find(p: Packet, hs = foldAddr(p.family, p.src), hd = foldAddr(p.family, p.dst)): StateMatch | undefined {
    const ports = p.proto === IPPROTO_TCP || p.proto === IPPROTO_UDP;
    const key = flowKey(p.proto, hs, hd, ports ? (p.sport ?? 0) : 0, ports ? (p.dport ?? 0) : 0);
    this.lastKey = key;
    this.lastKeyPacket = p;
    const n = this.byFlow.collect(key);
    if (n === 0) {
      if (p.proto !== IPPROTO_ICMPV6) return undefined;
      for (const e of this.multicastQueries(p) ?? []) {
        const m = this.tryEntry(e, p);
        if (m) return m;
      }
      return undefined;
    }
    // Newest first.
    for (let k = 0; k < n; k++) {
      const m = this.tryEntry(this.byFlow.found(k), p);
      if (m) return m;
    }
    return undefined;
  }

  /** Whether the packet belongs to this entry; if so, the entry learns from it. */
  private tryEntry(e: StateEntry, p: Packet): StateMatch | undefined {
    if (e.family !== p.family || e.proto !== p.proto) return undefined;
    let reverse: boolean;
    if (p.proto === IPPROTO_TCP || p.proto === IPPROTO_UDP) {
      if (e.src === p.src && e.dst === p.dst && e.sport === p.sport && e.dport === p.dport) reverse = false;
      else if (e.src === p.dst && e.dst === p.src && e.sport === p.dport && e.dport === p.sport)
        reverse = true;
      else return undefined;
    } else if (p.proto === IPPROTO_ICMP || p.proto === IPPROTO_ICMPV6) {
      const replies = p.proto === IPPROTO_ICMP ? ICMP_REPLY : ICMP6_REPLY;
      if (e.src === p.src && e.dst === p.dst && p.icmpType === e.icmpType && p.icmpId === e.icmpId)
        reverse = false;
      else if (
        e.src === p.dst &&
        (e.dst === p.src || isMulticast6(e.family, e.dst)) &&
        p.icmpType === replies[e.icmpType] &&
        // Only echo carries an id in ICMPv6; neighbour/router discovery replies match on addresses.
        (p.icmpId === e.icmpId || (e.family === 6 && e.icmpType !== 128))
      )
        reverse = true;
      else return undefined;
    } else {
      if (e.src === p.src && e.dst === p.dst) reverse = false;
      else if (e.src === p.dst && e.dst === p.src) reverse = true;
      else return undefined;
    }
    const wantOpts = reverse ? e.replyOptBits : e.optBits;
    if ((wantOpts !== undefined && p.optBits !== wantOpts) || p.secBits !== e.secBits) return undefined;
    const out = p.dir === "out";
    const known = out ? (reverse ? e.if3 : e.if2) : reverse ? e.if1 : e.if0;
    if (known !== "" && known !== p.ifname) return undefined;
    if (p.proto === IPPROTO_TCP && e.closing) return undefined;
    if (p.proto === IPPROTO_TCP && !ackInWindow(e, p, reverse)) return undefined;
    if (known === "") {
      if (out) {
        if (reverse) e.if3 = p.ifname;
        else e.if2 = p.ifname;
      } else if (reverse) e.if1 = p.ifname;
      else e.if0 = p.ifname;
    }
    if (reverse) {
      if (out) {
        e.pk3++;
        e.by3 += p.len;
      } else {
        e.pk2++;
        e.by2 += p.len;
      }
    } else if (out) {
      e.pk1++;
      e.by1 += p.len;
    } else {
      e.pk0++;
      e.by0 += p.len;
    }
    if (reverse) {
      e.flags |= F_SAW_REPLY;
      e.replyOptBits ??= p.optBits;
    }
    if (p.proto === IPPROTO_TCP) this.advanceTcp(e, p, reverse);
    const m = this.match;
    m.entry = e;
    m.reverse = reverse;
    return m;
  }

  /** ICMPv6 queries sent to a multicast group, which a reply from any member answers. */
  private multicastQueries(p: Packet): StateEntry[] | undefined {
    const found = this.entries.filter(
      (e) => e.proto === IPPROTO_ICMPV6 && e.src === p.dst && isMulticast6(e.family, e.dst),
    );
    return found.length > 0 ? found : undefined;
  }

  /**
   * The entry an ICMP error belongs to: the packet it quotes is one of the
   * entry's own (ip_state.c ipf_checkicmpmatchingstate). `noicmperr` opts out.
   */
  findQuoted(p: Packet): StateMatch | undefined {
    const q = p.inner;
    // The error must go back to the quoted packet's sender; redirects are not let through by state
    // (with `icmp-head` they go to that group, whose rules this engine does not consult for them).
    if (!q || p.dst !== q.src || (p.family === 4 && p.icmpType === 5)) return undefined;
    const ports = q.proto === IPPROTO_TCP || q.proto === IPPROTO_UDP;
    const n = this.byFlow.collect(
      addrFlowKey(p.family, q.proto, q.src, q.dst, ports ? (q.sport ?? 0) : 0, ports ? (q.dport ?? 0) : 0),
    );
    for (let k = 0; k < n; k++) {
      const e = this.byFlow.found(k);
      if (e.family !== p.family || e.rule.ast.keepState?.noIcmpErr) continue;
      const forward =
        e.src === q.src && e.dst === q.dst && (!ports || (e.sport === q.sport && e.dport === q.dport));
      const reverse =
        e.src === q.dst && e.dst === q.src && (!ports || (e.sport === q.dport && e.dport === q.sport));
      if (forward || reverse) return { entry: e, reverse: forward };
    }
    return undefined;
  }

  private advanceTcp(e: StateEntry, p: Packet, reverse: boolean): void {
    const end = tcpSegmentEnd(p) | 0;
    if (reverse) {
      if (!(e.flags & F_END1) || seqGreater(end, e.end1)) {
        e.end1 = end;
        e.flags |= F_END1;
      }
    } else if (seqGreater(end, e.end0)) e.end0 = end;
    if (p.tcpFlags & (TH.F | TH.R)) {
      e.flags |= F_CLOSING;
      this.anyClosing = true;
    }
    if (p.tcpFlags & TH.A) {
      const ts0 = e.ts & 15;
      const ts1 = e.ts >> 4;
      e.ts = reverse ? Math.max(ts0, 3) | (4 << 4) : 4 | (Math.max(ts1, 3) << 4);
    }
  }

  /**
   * Add an entry for a packet that matched a `keep state` rule. Returns a
   * reason string when the table or the rule's `limit` is full (the packet is
   * then treated as unmatched, as ipftest reports it).
   */
  add(p: Packet, rule: CompiledFilterRule, verdict: Verdict): StateEntry | string {
    if (this.list.length >= this.maxEntries)
      return (this.fullReason ??= `state table full (state_max ${this.maxEntries})`);
    const limit = rule.ast.keepState?.limit ?? null;
    // Entries per rule are only counted for rules with a `limit`.
    const count = limit !== null ? (this.ruleCounts.get(rule) ?? 0) : 0;
    if (limit !== null && count >= limit) return `rule's state limit ${limit} reached`;
    const ks = rule.ast.keepState;
    if (ks && (ks.maxSrcs !== null || ks.maxPerSrc !== null)) {
      const mine = this.list.filter((e) => e.rule === rule);
      if (ks.maxSrcs !== null) {
        const sources = new Set(mine.map((e) => e.src));
        if (!sources.has(p.src) && sources.size >= ks.maxSrcs) return `rule's max-srcs ${ks.maxSrcs} reached`;
      }
      if (ks.maxPerSrc !== null) {
        const width = p.family === 4 ? 32 : 128;
        const bits = ks.maxPerSrc.mask;
        const mask = bits <= 0 ? 0n : ((1n << BigInt(width)) - 1n) ^ ((1n << BigInt(width - bits)) - 1n);
        const same = mine.filter((e) => (e.src & mask) === (p.src & mask)).length;
        if (same >= ks.maxPerSrc.count) return `rule's max-per-src ${ks.maxPerSrc.count}/${bits} reached`;
      }
    }
    const closing = p.proto === IPPROTO_TCP && (p.tcpFlags & (TH.F | TH.R)) !== 0;
    if (closing) this.anyClosing = true;
    const e = new StateEntry(
      p.family,
      p.proto,
      p.src,
      p.dst,
      p.sport ?? 0,
      p.dport ?? 0,
      p.icmpType ?? 0,
      p.icmpId,
      p.optBits,
      p.secBits,
      rule,
      verdict,
      p.dir,
      p.ifname,
      p.len,
      p.tcpFlags,
      p.proto === IPPROTO_TCP ? tcpSegmentEnd(p) : -1,
      closing,
    );
    this.list.push(e);
    // find() has just hashed this packet (the engine looks before it adds).
    const ports = p.proto === IPPROTO_TCP || p.proto === IPPROTO_UDP;
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
    this.byFlow.add(key, e);
    if (limit !== null) this.ruleCounts.set(rule, count + 1);
    return e;
  }

  /** A forward packet sent out of the routed interface: counted as output and its interface learned. */
  countRouted(e: StateEntry, p: Packet): void {
    e.if2 = e.routeIf ?? "";
    e.pk1++;
    e.by1 += p.len;
  }

  /** Drop closing TCP entries (what ipftest does after each packet). */
  flushClosing(): void {
    // Most packets close nothing; only walk the table when a FIN or RST was seen.
    if (!this.anyClosing) return;
    this.anyClosing = false;
    for (let i = this.list.length - 1; i >= 0; i--) {
      const e = this.list[i] as StateEntry;
      if (e.proto === IPPROTO_TCP && e.closing) {
        this.list.splice(i, 1);
        const ports = e.proto === IPPROTO_TCP || e.proto === IPPROTO_UDP;
        this.byFlow.remove(
          addrFlowKey(e.family, e.proto, e.src, e.dst, ports ? e.sport : 0, ports ? e.dport : 0),
          e,
        );
        if ((e.rule.ast.keepState?.limit ?? null) !== null)
          this.ruleCounts.set(e.rule, (this.ruleCounts.get(e.rule) ?? 1) - 1);
      }
    }
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
