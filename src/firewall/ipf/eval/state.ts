/**
 * The state table (`keep state`): entries created by a matching rule, matched
 * by later packets in either direction before any rule is looked at
 * (ip_state.c). Also the fragment cache for `keep frags`.
 *
 * ipftest flushes closing TCP states after every packet
 * (`ipf_state_flush(softc, 1, 0)`); {@link StateTable.flushClosing} is that.
 */
import type { CompiledFilterRule, Verdict } from "./filter.js";
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

export interface StateEntry {
  family: Family;
  proto: number;
  src: bigint;
  dst: bigint;
  sport: number;
  dport: number;
  icmpType: number;
  icmpId: number;
  /** IP options and security class of the creating packet: forward packets must carry the same, replies none (ip_state.c is_opt/is_sec). */
  optBits: number;
  /** Learned from the first reply. */
  replyOptBits: number | undefined;
  secBits: number;
  rule: CompiledFilterRule;
  verdict: Verdict;
  dir: "in" | "out";
  /** Interfaces learned per slot: [in fwd, in rev, out fwd, out rev] (ip_state.c is_ifname[]). */
  ifnames: [string, string, string, string];
  /** Packets and bytes: [fwd in, fwd out, rev in, rev out]. */
  pkts: [number, number, number, number];
  bytes: [number, number, number, number];
  /** TCP: a FIN or RST was seen, so the entry is closing. */
  closing: boolean;
  /** TCP state numbers per side (IPF_TCPS_*), for the dump. */
  tcpState: [number, number];
  /**
   * TCP: per side (forward sender, reply sender) the sequence number after
   * the last byte sent, SYN and FIN counting one (ip_state.c td_end);
   * undefined until that side has sent.
   */
  tcpEnd: [number | undefined, number | undefined];
  sawReply: boolean;
  /** Set when the creating rule routed the packet (`to IF`, `to dstlist/…`): forward packets go the same way. */
  routeIf: string | undefined;
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
  const peerEnd = e.tcpEnd[reverse ? 0 : 1];
  if (peerEnd === undefined) return true;
  const ackskew = (peerEnd - p.ack) | 0;
  return ackskew >= -MAX_ACK_WINDOW && ackskew <= MAX_ACK_WINDOW;
}

/** The same key for both directions of a flow, so replies find the entry without a scan. */
function flowKey(proto: number, a: bigint, b: bigint, pa: number, pb: number): string {
  return a < b || (a === b && pa <= pb) ? `${proto}|${a}|${pa}|${b}|${pb}` : `${proto}|${b}|${pb}|${a}|${pa}`;
}

function packetFlowKey(p: Packet): string {
  const ports = p.proto === IPPROTO_TCP || p.proto === IPPROTO_UDP;
  return flowKey(p.proto, p.src, p.dst, ports ? (p.sport ?? 0) : 0, ports ? (p.dport ?? 0) : 0);
}

export class StateTable {
  /** Newest first, which is the order the -D dump lists them. */
  readonly entries: StateEntry[] = [];
  readonly ruleCounts = new Map<CompiledFilterRule, number>();
  private readonly byFlow = new Map<string, StateEntry[]>();
  /** Set when an entry starts closing, so the per-packet flush can skip the walk otherwise. */
  private anyClosing = false;
  constructor(public maxEntries = 4013) {}

  /** The entry this packet belongs to, learning the interface for an unset slot. */
  find(p: Packet): StateMatch | undefined {
    const candidates =
      this.byFlow.get(packetFlowKey(p)) ??
      (p.proto === IPPROTO_ICMPV6 ? this.multicastQueries(p) : undefined);
    if (!candidates) return undefined;
    for (const e of candidates) {
      if (e.family !== p.family || e.proto !== p.proto) continue;
      let reverse: boolean;
      if (p.proto === IPPROTO_TCP || p.proto === IPPROTO_UDP) {
        if (e.src === p.src && e.dst === p.dst && e.sport === p.sport && e.dport === p.dport) reverse = false;
        else if (e.src === p.dst && e.dst === p.src && e.sport === p.dport && e.dport === p.sport)
          reverse = true;
        else continue;
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
        else continue;
      } else {
        if (e.src === p.src && e.dst === p.dst) reverse = false;
        else if (e.src === p.dst && e.dst === p.src) reverse = true;
        else continue;
      }
      const wantOpts = reverse ? e.replyOptBits : e.optBits;
      if ((wantOpts !== undefined && p.optBits !== wantOpts) || p.secBits !== e.secBits) continue;
      const slot = (p.dir === "out" ? 2 : 0) + (reverse ? 1 : 0);
      const known = e.ifnames[slot];
      if (known !== "" && known !== p.ifname) continue;
      if (p.proto === IPPROTO_TCP && e.closing) continue;
      if (p.proto === IPPROTO_TCP && !ackInWindow(e, p, reverse)) continue;
      e.ifnames[slot] = p.ifname;
      const counter = (reverse ? 2 : 0) + (p.dir === "out" ? 1 : 0);
      e.pkts[counter] = (e.pkts[counter] ?? 0) + 1;
      e.bytes[counter] = (e.bytes[counter] ?? 0) + p.len;
      if (reverse) {
        e.sawReply = true;
        e.replyOptBits ??= p.optBits;
      }
      if (p.proto === IPPROTO_TCP) this.advanceTcp(e, p, reverse);
      return { entry: e, reverse };
    }
    return undefined;
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
    const candidates =
      this.byFlow.get(
        flowKey(q.proto, q.src, q.dst, ports ? (q.sport ?? 0) : 0, ports ? (q.dport ?? 0) : 0),
      ) ?? [];
    for (const e of candidates) {
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
    const side = reverse ? 1 : 0;
    const end = tcpSegmentEnd(p);
    const before = e.tcpEnd[side];
    if (before === undefined || seqGreater(end, before)) e.tcpEnd[side] = end;
    if (p.tcpFlags & (TH.F | TH.R)) {
      e.closing = true;
      this.anyClosing = true;
    }
    if (p.tcpFlags & TH.A) {
      e.tcpState[side] = 4;
      e.tcpState[1 - side] = Math.max(e.tcpState[1 - side] ?? 0, 3);
    }
  }

  /**
   * Add an entry for a packet that matched a `keep state` rule. Returns a
   * reason string when the table or the rule's `limit` is full (the packet is
   * then treated as unmatched, as ipftest reports it).
   */
  add(p: Packet, rule: CompiledFilterRule, verdict: Verdict): StateEntry | string {
    if (this.entries.length >= this.maxEntries) return `state table full (state_max ${this.maxEntries})`;
    const limit = rule.ast.keepState?.limit ?? null;
    const count = this.ruleCounts.get(rule) ?? 0;
    if (limit !== null && count >= limit) return `rule's state limit ${limit} reached`;
    const ks = rule.ast.keepState;
    if (ks && (ks.maxSrcs !== null || ks.maxPerSrc !== null)) {
      const mine = this.entries.filter((e) => e.rule === rule);
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
    const e: StateEntry = {
      family: p.family,
      proto: p.proto,
      src: p.src,
      dst: p.dst,
      sport: p.sport ?? 0,
      dport: p.dport ?? 0,
      icmpType: p.icmpType ?? 0,
      icmpId: p.icmpId,
      optBits: p.optBits,
      replyOptBits: undefined,
      secBits: p.secBits,
      rule,
      verdict,
      dir: p.dir,
      ifnames: [p.dir === "in" ? p.ifname : "", "", p.dir === "out" ? p.ifname : "", ""],
      pkts: [p.dir === "in" ? 1 : 0, p.dir === "out" ? 1 : 0, 0, 0],
      bytes: [p.dir === "in" ? p.len : 0, p.dir === "out" ? p.len : 0, 0, 0],
      closing,
      tcpState: [p.tcpFlags & TH.S ? 1 : 4, p.tcpFlags & TH.S ? 0 : 3],
      tcpEnd: [p.proto === IPPROTO_TCP ? tcpSegmentEnd(p) : undefined, undefined],
      sawReply: false,
      routeIf: undefined,
    };
    this.entries.unshift(e);
    const key = packetFlowKey(p);
    const list = this.byFlow.get(key);
    if (list) list.unshift(e);
    else this.byFlow.set(key, [e]);
    this.ruleCounts.set(rule, count + 1);
    return e;
  }

  /** A forward packet sent out of the routed interface: counted as output and its interface learned. */
  countRouted(e: StateEntry, p: Packet): void {
    e.ifnames[2] = e.routeIf ?? "";
    e.pkts[1] = (e.pkts[1] ?? 0) + 1;
    e.bytes[1] = (e.bytes[1] ?? 0) + p.len;
  }

  /** Drop closing TCP entries (what ipftest does after each packet). */
  flushClosing(): void {
    // Most packets close nothing; only walk the table when a FIN or RST was seen.
    if (!this.anyClosing) return;
    this.anyClosing = false;
    for (let i = this.entries.length - 1; i >= 0; i--) {
      const e = this.entries[i] as StateEntry;
      if (e.proto === IPPROTO_TCP && e.closing) {
        this.entries.splice(i, 1);
        const key = flowKey(e.proto, e.src, e.dst, e.sport, e.dport);
        const list = this.byFlow.get(key)?.filter((x) => x !== e) ?? [];
        if (list.length > 0) this.byFlow.set(key, list);
        else this.byFlow.delete(key);
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
