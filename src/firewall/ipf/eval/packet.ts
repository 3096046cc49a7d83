/**
 * The packet model the evaluator works on, ipftest's two packet readers
 * (text: lib/ipft_tx.c, hex: lib/ipft_hx.c) and its printpacket output line.
 *
 * Addresses are bigints for both families so one comparison path serves v4 and
 * v6. Packets are plain objects; NAT rewrites them in place, which is what the
 * kernel does to the mbuf and what the "resulting packet" output shows.
 */

export type Family = 4 | 6;
export type Direction = "in" | "out";

export const IPPROTO_ICMP = 1;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
export const IPPROTO_ICMPV6 = 58;

/** TCP flag bits, as in the TCP header. */
export const TH = { F: 0x01, S: 0x02, R: 0x04, P: 0x08, A: 0x10, U: 0x20, E: 0x40, C: 0x80 } as const;
const FLAG_ORDER = "FSRPAUEC";

export interface Packet {
  family: Family;
  dir: Direction;
  ifname: string;
  proto: number;
  src: bigint;
  dst: bigint;
  /** Present for TCP and UDP (first fragment or unfragmented). */
  sport: number | undefined;
  dport: number | undefined;
  tcpFlags: number;
  seq: number;
  ack: number;
  icmpType: number | undefined;
  icmpCode: number | undefined;
  /** ICMP echo id (ipft_tx uses the process id; any constant will do for matching). */
  icmpId: number;
  id: number;
  /** Total length in bytes, as in the IP header. */
  len: number;
  /** IP header length in bytes, options included. */
  hlen: number;
  ttl: number;
  /** Bits of IP options present (see IP_OPTION_BITS) and the IPSO classification bits. */
  optBits: number;
  secBits: number;
  /** Fragment offset in 8-byte units and the more-fragments flag. */
  fragOff: number;
  moreFrags: boolean;
  /**
   * `[out,le0=192.168.1.188]`: ipftest gives the interface this address as
   * the packet is read (ip_fil.c get_unit), for `0/32` NAT targets.
   */
  ifAddress: bigint | undefined;
  /** The raw bytes when the packet came from the hex reader. */
  raw: Uint8Array | undefined;
  /** Reader could not make sense of the packet (bad checksum, truncated header). */
  bad: boolean;
  /** Too short for its transport header (`with short`). */
  short: boolean;
  /**
   * fil.c's FI_BAD: malformed but still filtered (`with bad`), e.g. an IPv6
   * fragment other than the last whose length is not a multiple of 8.
   */
  flaggedBad: boolean;
  /** Next-header numbers of the IPv6 extension headers walked (`with v6hdr`). */
  v6Headers: number[];
  /**
   * ICMP errors (unreachable, source quench, redirect, time exceeded,
   * parameter problem): the packet they quote, which NAT and the state table
   * match against their sessions. Rewritten in place by NAT.
   */
  inner: InnerPacket | undefined;
  /**
   * Hash keys of the addresses (hash.ts foldAddr), remembered with the
   * address they were computed for: the state and NAT tables hash a packet's
   * addresses several times on its way through, and turning a bigint into a
   * number is the costly part. Stale (the address changed) means recompute.
   */
  srcKeyOf?: bigint;
  srcKey?: number;
  dstKeyOf?: bigint;
  dstKey?: number;
}

export interface InnerPacket {
  proto: number;
  src: bigint;
  dst: bigint;
  sport: number | undefined;
  dport: number | undefined;
}

/** ICMPv4 error types that quote the offending packet. */
export const ICMP_ERROR_TYPES: ReadonlySet<number> = new Set([3, 4, 5, 11, 12]);

/** lib/ionames (IP option names → option mask bit, option length used when building). */
export const IP_OPTIONS: Readonly<Record<string, { bit: number; len: number; code: number }>> = {
  nop: { bit: 0x1, len: 1, code: 1 },
  rr: { bit: 0x2, len: 7, code: 7 },
  zsu: { bit: 0x4, len: 4, code: 10 },
  mtup: { bit: 0x8, len: 4, code: 11 },
  mtur: { bit: 0x10, len: 4, code: 12 },
  encode: { bit: 0x20, len: 4, code: 15 },
  ts: { bit: 0x40, len: 8, code: 0x44 },
  tr: { bit: 0x80, len: 4, code: 82 },
  sec: { bit: 0x100, len: 11, code: 0x82 },
  "sec-class": { bit: 0x100, len: 11, code: 0x82 },
  lsrr: { bit: 0x200, len: 7, code: 0x83 },
  "e-sec": { bit: 0x400, len: 4, code: 0x85 },
  cipso: { bit: 0x800, len: 4, code: 0x86 },
  satid: { bit: 0x1000, len: 4, code: 0x88 },
  ssrr: { bit: 0x2000, len: 7, code: 0x89 },
  addext: { bit: 0x4000, len: 4, code: 0x93 },
  visa: { bit: 0x8000, len: 4, code: 0x8e },
  imitd: { bit: 0x10000, len: 4, code: 0x90 },
  eip: { bit: 0x20000, len: 4, code: 0x91 },
  finn: { bit: 0x40000, len: 4, code: 0xcd },
  dps: { bit: 0x80000, len: 4, code: 0x97 },
  sdb: { bit: 0x100000, len: 4, code: 0x95 },
  nsapa: { bit: 0x200000, len: 4, code: 0x96 },
  rtralrt: { bit: 0x400000, len: 4, code: 0x94 },
  ump: { bit: 0x800000, len: 4, code: 0x98 },
};

/** IPSO classification levels (RFC 1108) → the bit ipf keeps per class. */
export const SEC_CLASSES: Readonly<Record<string, { bit: number; level: number }>> = {
  "reserv-4": { bit: 0x01, level: 0x01 },
  topsecret: { bit: 0x02, level: 0x3d },
  secret: { bit: 0x04, level: 0x5a },
  "reserv-3": { bit: 0x08, level: 0x66 },
  confid: { bit: 0x10, level: 0x96 },
  unclass: { bit: 0x20, level: 0xab },
  "reserv-2": { bit: 0x40, level: 0xcc },
  "reserv-1": { bit: 0x80, level: 0xf1 },
};

/** lib/icmptypes.c names. */
export const ICMP_TYPES: Readonly<Record<string, number>> = {
  echorep: 0,
  unreach: 3,
  squench: 4,
  redir: 5,
  echo: 8,
  routerad: 9,
  routersol: 10,
  timex: 11,
  paramprob: 12,
  timest: 13,
  timestrep: 14,
  inforeq: 15,
  inforep: 16,
  maskreq: 17,
  maskrep: 18,
};

export const ICMP6_TYPES: Readonly<Record<string, number>> = {
  unreach: 1,
  toobig: 2,
  timex: 3,
  paramprob: 4,
  echo: 128,
  echorep: 129,
  "mld-query": 130,
  "mld-report": 131,
  "mld-done": 132,
  routersol: 133,
  routerad: 134,
  neighbrsol: 135,
  neighbrad: 136,
  redir: 137,
};

/** The few /etc/services names the corpus inputs use (ipftest resolves input ports even with -R). */
export const SERVICES: Readonly<Record<string, number>> = {
  ftp: 21,
  "ftp-data": 20,
  ssh: 22,
  telnet: 23,
  smtp: 25,
  domain: 53,
  tftp: 69,
  http: 80,
  www: 80,
  pop3: 110,
  sunrpc: 111,
  ntp: 123,
  imap: 143,
  snmp: 161,
  https: 443,
};

const ECHO_ID = 0x4242;

export class PacketSyntaxError extends Error {}

export function parseV4(text: string): bigint | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (!m) return undefined;
  let v = 0n;
  for (let i = 1; i <= 4; i++) {
    const o = Number(m[i]);
    if (o > 255) return undefined;
    v = (v << 8n) | BigInt(o);
  }
  return v;
}

export function parseV6(text: string): bigint | undefined {
  if (!/^[0-9a-fA-F:.]+$/.test(text) || !text.includes(":")) return undefined;
  let head = text;
  let tailV4: bigint | undefined;
  const lastColon = text.lastIndexOf(":");
  if (text.slice(lastColon + 1).includes(".")) {
    tailV4 = parseV4(text.slice(lastColon + 1));
    if (tailV4 === undefined) return undefined;
    head = text.slice(0, lastColon + 1) + "0:0";
  }
  const halves = head.split("::");
  if (halves.length > 2) return undefined;
  const parse = (s: string): number[] | undefined => {
    if (s === "") return [];
    const out: number[] = [];
    for (const g of s.split(":")) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
      out.push(parseInt(g, 16));
    }
    return out;
  };
  const left = parse(halves[0] ?? "");
  const right = halves.length === 2 ? parse(halves[1] ?? "") : [];
  if (!left || !right) return undefined;
  const fill = 8 - left.length - right.length;
  if (halves.length === 1 ? fill !== 0 : fill < 1) return undefined;
  const groups = [...left, ...new Array<number>(halves.length === 2 ? fill : 0).fill(0), ...right];
  let v = 0n;
  for (const g of groups) v = (v << 16n) | BigInt(g);
  if (tailV4 !== undefined) v = (v & ~0xffffffffn) | tailV4;
  return v;
}

export function formatV4(v: bigint): string {
  const n = Number(v & 0xffffffffn);
  return `${(n >>> 24) & 255}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

/** RFC 5952 text, the form inet_ntop prints. */
export function formatV6(v: bigint): string {
  const groups: number[] = [];
  for (let i = 7; i >= 0; i--) groups.push(Number((v >> BigInt(i * 16)) & 0xffffn));
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (a: number[]): string => a.map((g) => g.toString(16)).join(":");
  if (bestStart < 0) return hex(groups);
  return `${hex(groups.slice(0, bestStart))}::${hex(groups.slice(bestStart + bestLen))}`;
}

export function formatAddr(family: Family, v: bigint): string {
  return family === 4 ? formatV4(v) : formatV6(v);
}

function emptyPacket(family: Family, dir: Direction, ifname: string): Packet {
  return {
    family,
    dir,
    ifname,
    proto: 0,
    src: 0n,
    dst: 0n,
    sport: undefined,
    dport: undefined,
    tcpFlags: 0,
    seq: 0,
    ack: 0,
    icmpType: undefined,
    icmpCode: undefined,
    icmpId: 0,
    id: 0,
    len: family === 4 ? 20 : 40,
    hlen: family === 4 ? 20 : 40,
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
    // Keys are int32s, which Node's V8 (no pointer compression: 32-bit small integers) keeps in
    // the field itself. A double here (as until 2026-12-06) made every packet carry two boxed
    // numbers, two more objects to read per packet copy. Where small integers are 31 bits the
    // field widens once on the first key past them.
    srcKeyOf: -1n,
    srcKey: 0,
    dstKeyOf: -1n,
    dstKey: 0,
  };
}

/**
 * An address folded to 32 bits for the state and NAT hash tables: an IPv4
 * address is its own value (as a signed int; `>>> 0` gives it back
 * unsigned). IPv6 addresses below 2^32 fold to the same value, so the
 * result does not depend on the family.
 */
export function foldAddr(family: Family, a: bigint): number {
  if (family === 4 || a <= 0xffffffffn) return Number(a) | 0;
  return (
    Number(a & 0xffffffffn) ^
    Math.imul(Number((a >> 32n) & 0xffffffffn), 31) ^
    Math.imul(Number((a >> 64n) & 0xffffffffn), 961) ^
    Number(a >> 96n)
  );
}

/**
 * Give a packet the integer keys of its addresses as it is read, so the
 * per-packet path never turns a bigint into a number for an address it was
 * given (NAT's rewritten addresses come with their keys from the session).
 */
export function withKeys(p: Packet): Packet {
  p.srcKeyOf = p.src;
  p.srcKey = foldAddr(p.family, p.src);
  p.dstKeyOf = p.dst;
  p.dstKey = foldAddr(p.family, p.dst);
  return p;
}

function parsePort(tok: string): number {
  if (/^\d+$/.test(tok)) return Number(tok) & 0xffff;
  const p = SERVICES[tok];
  if (p === undefined) throw new PacketSyntaxError(`unknown service ${JSON.stringify(tok)}`);
  return p;
}

/**
 * One line of ipftest's text input (`in on e0 tcp 1.1.1.1,1 2.1.2.2,23 S`).
 * Returns undefined for blank and comment lines.
 */
export function parseTextPacket(line: string, defaultIf = "anon0"): Packet | undefined {
  const hash = line.indexOf("#");
  const body = (hash >= 0 ? line.slice(0, hash) : line).trim();
  if (body === "") return undefined;
  const toks = body.split(/[ \t]+/);
  let i = 0;
  const dirTok = toks[i++] ?? "";
  const family: Family = dirTok === "in6" || dirTok === "out6" ? 6 : 4;
  let dir: Direction;
  if (dirTok.startsWith("i")) dir = "in";
  else if (dirTok.startsWith("o")) dir = "out";
  else throw new PacketSyntaxError(`direction must be in or out, got ${JSON.stringify(dirTok)}`);
  let ifname = defaultIf;
  if (toks[i] === "on") {
    ifname = toks[i + 1] ?? "";
    i += 2;
  }
  const pkt = emptyPacket(family, dir, ifname);
  const protoTok = toks[i] ?? "";
  const protoNames: Record<string, number> =
    family === 4
      ? { tcp: IPPROTO_TCP, udp: IPPROTO_UDP, icmp: IPPROTO_ICMP }
      : { tcp: IPPROTO_TCP, udp: IPPROTO_UDP, icmpv6: IPPROTO_ICMPV6, icmp: IPPROTO_ICMPV6 };
  if (protoNames[protoTok.toLowerCase()] !== undefined) {
    pkt.proto = protoNames[protoTok.toLowerCase()] as number;
    i++;
  } else if (/^\d+$/.test(protoTok)) {
    pkt.proto = Number(protoTok);
    i++;
  } else if (family === 6) {
    // ipft_tx leaves an IPv6 packet without a protocol as next header 41 (IPv6-in-IPv6).
    pkt.proto = 41;
  }
  const parseAddr = (s: string): bigint => {
    const v = family === 4 ? parseV4(s) : parseV6(s);
    if (v === undefined) throw new PacketSyntaxError(`bad address ${JSON.stringify(s)}`);
    return v;
  };
  const hasPorts = pkt.proto === IPPROTO_TCP || pkt.proto === IPPROTO_UDP;
  const endpoint = (tok: string | undefined): [bigint, number | undefined] => {
    if (tok === undefined) throw new PacketSyntaxError("missing address");
    if (hasPorts) {
      const comma = tok.lastIndexOf(",");
      if (comma < 0) throw new PacketSyntaxError(`${JSON.stringify(tok)}: tcp and udp need address,port`);
      return [parseAddr(tok.slice(0, comma)), parsePort(tok.slice(comma + 1))];
    }
    return [parseAddr(tok), undefined];
  };
  [pkt.src, pkt.sport] = endpoint(toks[i++]);
  [pkt.dst, pkt.dport] = endpoint(toks[i++]);
  const ipHeader = family === 4 ? 20 : 40;
  // ipft_tx's IPv6 packets: payload length 1 with no transport header, 88 for ICMPv6 (as ipftest prints them).
  if (family === 6) pkt.len = 41;
  if (pkt.proto === IPPROTO_TCP) {
    pkt.len = ipHeader + 20;
    const ft = toks[i];
    if (ft !== undefined && /^[FSRPAUEC]+$/.test(ft)) {
      for (const c of ft) pkt.tcpFlags |= TH[c as keyof typeof TH];
      i++;
    }
    for (; toks[i] !== undefined && /^(seq|ack)=/.test(toks[i] as string); i++) {
      const [k, v] = (toks[i] as string).split("=");
      if (k === "seq") pkt.seq = Number(v) >>> 0;
      else pkt.ack = Number(v) >>> 0;
    }
  } else if (pkt.proto === IPPROTO_UDP) {
    pkt.len = ipHeader + 8;
  } else if (pkt.proto === IPPROTO_ICMP || pkt.proto === IPPROTO_ICMPV6) {
    pkt.len = family === 4 ? ipHeader + 28 : ipHeader + 88;
    const tt = toks[i];
    if (tt !== undefined && tt !== "opt") {
      const [typeName, code] = tt.split(",");
      const table = family === 4 ? ICMP_TYPES : ICMP6_TYPES;
      const type = table[typeName ?? ""] ?? (/^\d+$/.test(typeName ?? "") ? Number(typeName) : undefined);
      if (type === undefined) throw new PacketSyntaxError(`unknown icmp type ${JSON.stringify(typeName)}`);
      pkt.icmpType = type;
      pkt.icmpCode = code !== undefined ? Number(code) : 0;
      if (type === 8 || type === 0 || (family === 6 && (type === 128 || type === 129))) pkt.icmpId = ECHO_ID;
      i++;
    } else {
      pkt.icmpType = 0;
      pkt.icmpCode = 0;
    }
  }
  if (toks[i] === "opt" && family === 4) {
    let optLen = 0;
    for (const item of (toks[i + 1] ?? "").split(",")) {
      if (item === "") continue;
      const [name, value] = item.split("=");
      const o = IP_OPTIONS[name ?? ""];
      if (!o) throw new PacketSyntaxError(`unknown IP option ${JSON.stringify(name)}`);
      pkt.optBits |= o.bit;
      optLen += o.len;
      if (o.code === 0x82 && value !== undefined) {
        const cls = SEC_CLASSES[value];
        if (!cls) throw new PacketSyntaxError(`unknown security class ${JSON.stringify(value)}`);
        pkt.secBits |= cls.bit;
      }
    }
    const padded = (optLen + 3) & ~3;
    pkt.hlen += padded;
    pkt.len += padded;
  }
  return withKeys(pkt);
}

/** Every packet of a text-format input file. */
export function readTextPackets(text: string, defaultIf = "anon0"): Packet[] {
  const out: Packet[] = [];
  for (const line of text.split("\n")) {
    const p = parseTextPacket(line, defaultIf);
    if (p) out.push(p);
  }
  return out;
}

/** ipftest's text output line for a packet (lib/printpacket.c; printpacket6.c for IPv6). */
export function formatPacketLine(p: Packet): string {
  const dirMark = p.dir === "out" ? ">" : "<";
  if (p.family === 6) {
    const plen = p.len - 40;
    const full = (v: bigint): string => {
      const g: string[] = [];
      for (let i = 7; i >= 0; i--) g.push(Number((v >> BigInt(i * 16)) & 0xffffn).toString(16));
      return g.join(":");
    };
    const ports6 = plen >= 4 && (p.proto === IPPROTO_TCP || p.proto === IPPROTO_UDP);
    return `${dirMark} ${p.ifname} ip6/0 ${plen} 0 ${p.proto} ${full(p.src)}${ports6 ? `,${p.sport ?? 0}` : ""} > ${full(p.dst)}${ports6 ? `,${p.dport ?? 0}` : ""}`;
  }
  const first = p.fragOff === 0;
  const ports = (p.proto === IPPROTO_TCP || p.proto === IPPROTO_UDP) && first;
  let s = `${dirMark} ${p.ifname} ip #${p.id} ${p.len}(${p.hlen}) ${p.proto}`;
  if (!first) s += ` @${p.fragOff * 8}`;
  s += ` ${formatV4(p.src)}`;
  if (ports) s += `,${p.sport ?? 0}`;
  s += ` > ${formatV4(p.dst)}`;
  if (ports) {
    s += `,${p.dport ?? 0}`;
    if (p.proto === IPPROTO_TCP && p.tcpFlags !== 0) {
      s += " ";
      for (let b = 0; b < 8; b++) if (p.tcpFlags & (1 << b)) s += FLAG_ORDER[b];
    }
  }
  return s;
}

/** A copy that NAT may rewrite without touching the caller's packet. */
export function clonePacket(p: Packet): Packet {
  return { ...p, inner: p.inner ? { ...p.inner } : undefined };
}

/**
 * Make `to` a copy of `from` that NAT may rewrite without touching `from`
 * (as {@link clonePacket}, into a packet object the caller reuses: a reader
 * that refills one packet per slot allocates nothing per packet). `to` must
 * not be `from`.
 */
export function copyPacketInto(to: Packet, from: Packet): Packet {
  to.family = from.family;
  to.dir = from.dir;
  to.ifname = from.ifname;
  to.proto = from.proto;
  to.src = from.src;
  to.dst = from.dst;
  to.sport = from.sport;
  to.dport = from.dport;
  to.tcpFlags = from.tcpFlags;
  to.seq = from.seq;
  to.ack = from.ack;
  to.icmpType = from.icmpType;
  to.icmpCode = from.icmpCode;
  to.icmpId = from.icmpId;
  to.id = from.id;
  to.len = from.len;
  to.hlen = from.hlen;
  to.ttl = from.ttl;
  to.optBits = from.optBits;
  to.secBits = from.secBits;
  to.fragOff = from.fragOff;
  to.moreFrags = from.moreFrags;
  to.ifAddress = from.ifAddress;
  to.raw = from.raw;
  to.bad = from.bad;
  to.short = from.short;
  to.flaggedBad = from.flaggedBad;
  to.v6Headers = from.v6Headers;
  to.inner = from.inner ? { ...from.inner } : undefined;
  to.srcKeyOf = from.srcKeyOf;
  to.srcKey = from.srcKey;
  to.dstKeyOf = from.dstKeyOf;
  to.dstKey = from.dstKey;
  return to;
}

function checksum16(bytes: Uint8Array, start: number, end: number, initial = 0): number {
  let sum = initial;
  for (let i = start; i < end; i += 2)
    sum += ((bytes[i] ?? 0) << 8) | (i + 1 < end ? (bytes[i + 1] ?? 0) : 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

/** Decode raw IPv4/IPv6 bytes (as the hex reader gives them) into a packet. */
export function decodePacket(bytes: Uint8Array, dir: Direction, ifname: string): Packet {
  const version = (bytes[0] ?? 0) >> 4;
  const u16 = (o: number): number => ((bytes[o] ?? 0) << 8) | (bytes[o + 1] ?? 0);
  const u32 = (o: number): number => ((u16(o) << 16) | u16(o + 2)) >>> 0;
  if (version === 6) {
    const p = emptyPacket(6, dir, ifname);
    p.raw = bytes;
    p.proto = bytes[6] ?? 0;
    p.ttl = bytes[7] ?? 0;
    let src = 0n;
    let dst = 0n;
    for (let i = 0; i < 16; i++) {
      src = (src << 8n) | BigInt(bytes[8 + i] ?? 0);
      dst = (dst << 8n) | BigInt(bytes[24 + i] ?? 0);
    }
    p.src = src;
    p.dst = dst;
    p.len = 40 + u16(4);
    const at = walkV6Headers(p, bytes, u16);
    if (p.fragOff === 0) decodeTransport(p, bytes, at, u16, u32);
    if (bytes.length < 40) p.bad = true;
    return withKeys(p);
  }
  const p = emptyPacket(4, dir, ifname);
  p.raw = bytes;
  const hl = ((bytes[0] ?? 0) & 0x0f) * 4;
  p.hlen = hl;
  p.len = u16(2);
  p.id = u16(4);
  const off = u16(6);
  p.fragOff = off & 0x1fff;
  p.moreFrags = (off & 0x2000) !== 0;
  p.ttl = bytes[8] ?? 0;
  p.proto = bytes[9] ?? 0;
  p.src = BigInt(u32(12));
  p.dst = BigInt(u32(16));
  if (bytes.length < 20 || hl < 20 || checksum16(bytes, 0, hl) !== 0xffff) p.bad = true;
  for (let i = 20; i < hl;) {
    const code = bytes[i] ?? 0;
    if (code === 0) break;
    if (code === 1) {
      i++;
      continue;
    }
    const len = bytes[i + 1] ?? 2;
    for (const o of Object.values(IP_OPTIONS)) if (o.code === code) p.optBits |= o.bit;
    if (code === 0x82) {
      const level = bytes[i + 2] ?? 0;
      for (const c of Object.values(SEC_CLASSES)) if (c.level === level) p.secBits |= c.bit;
    }
    i += Math.max(len, 2);
  }
  const need = p.proto === IPPROTO_TCP ? 20 : p.proto === IPPROTO_UDP || p.proto === IPPROTO_ICMP ? 8 : 0;
  if (p.fragOff === 0) {
    decodeTransport(p, bytes, hl, u16, u32);
    // The buffer, not ip_len, decides: ipf looks at the bytes it was given.
    const have = bytes.length - hl;
    if (have < need) {
      // fil.c ipf_pr_short: a first fragment carrying part of its transport
      // header is dropped as bad; one with none of it, or an unfragmented
      // short packet, is only marked short.
      p.short = true;
      if (p.moreFrags && have > 0) p.bad = true;
    }
  } else if (p.fragOff * 8 < need) {
    // A later fragment that overlaps the transport header.
    p.short = true;
  }
  return withKeys(p);
}

/** IPv6 extension headers fil.c's ipf_pr_ipv6hdr steps over (ESP ends the walk, being opaque). */
const V6_CHAINED_HEADERS: ReadonlySet<number> = new Set([0, 43, 44, 51, 60, 135]);

/**
 * Follow the IPv6 next-header chain as ipf_pr_ipv6hdr does: record each
 * extension header, take the fragment header's offset, M flag and id
 * (ipf_pr_fragment6), stop at a non-first fragment, and leave p.proto as the
 * upper-layer protocol. Returns the offset of the upper-layer header.
 */
function walkV6Headers(p: Packet, bytes: Uint8Array, u16: (o: number) => number): number {
  let at = 40;
  let next = p.proto;
  while (V6_CHAINED_HEADERS.has(next) || next === 41 || next === 50 || next === 59) {
    p.v6Headers.push(next);
    if (!V6_CHAINED_HEADERS.has(next) || at + 8 > bytes.length) break;
    const following = bytes[at] ?? 0;
    if (next === 44) {
      const offlg = u16(at + 2);
      p.fragOff = offlg >> 3;
      p.moreFrags = (offlg & 1) !== 0;
      p.id = ((u16(at + 4) << 16) | u16(at + 6)) >>> 0;
      // Every fragment but the last carries a multiple of 8 bytes.
      if (p.moreFrags && (p.len & 7) !== 0) p.flaggedBad = true;
      at += 8;
    } else if (next === 51) {
      at += ((bytes[at + 1] ?? 0) + 2) * 4;
    } else {
      at += ((bytes[at + 1] ?? 0) + 1) * 8;
    }
    next = following;
    if (p.fragOff !== 0) break;
  }
  p.proto = next;
  return at;
}

function decodeTransport(
  p: Packet,
  bytes: Uint8Array,
  at: number,
  u16: (o: number) => number,
  u32: (o: number) => number,
): void {
  if (p.proto === IPPROTO_TCP || p.proto === IPPROTO_UDP) {
    p.sport = u16(at);
    p.dport = u16(at + 2);
    if (p.proto === IPPROTO_TCP) {
      p.seq = u32(at + 4);
      p.ack = u32(at + 8);
      p.tcpFlags = bytes[at + 13] ?? 0;
    }
  } else if (p.proto === IPPROTO_ICMP || p.proto === IPPROTO_ICMPV6) {
    p.icmpType = bytes[at] ?? 0;
    p.icmpCode = bytes[at + 1] ?? 0;
    p.icmpId = u16(at + 4);
    const innerAt = at + 8;
    if (
      p.family === 6 &&
      p.icmpType >= 1 &&
      p.icmpType <= 4 &&
      bytes.length >= innerAt + 40 &&
      (bytes[innerAt] ?? 0) >> 4 === 6
    ) {
      // ICMPv6 errors quote the IPv6 header (extension headers are not followed here) and what comes after it.
      const proto = bytes[innerAt + 6] ?? 0;
      let src = 0n;
      let dst = 0n;
      for (let i = 0; i < 16; i++) {
        src = (src << 8n) | BigInt(bytes[innerAt + 8 + i] ?? 0);
        dst = (dst << 8n) | BigInt(bytes[innerAt + 24 + i] ?? 0);
      }
      const ports = (proto === IPPROTO_TCP || proto === IPPROTO_UDP) && bytes.length >= innerAt + 44;
      p.inner = {
        proto,
        src,
        dst,
        sport: ports ? u16(innerAt + 40) : undefined,
        dport: ports ? u16(innerAt + 42) : undefined,
      };
    }
    if (
      p.family === 4 &&
      p.proto === IPPROTO_ICMP &&
      ICMP_ERROR_TYPES.has(p.icmpType) &&
      bytes.length >= innerAt + 20 &&
      (bytes[innerAt] ?? 0) >> 4 === 4
    ) {
      const ihl = ((bytes[innerAt] ?? 0) & 0x0f) * 4;
      const proto = bytes[innerAt + 9] ?? 0;
      const ports = (proto === IPPROTO_TCP || proto === IPPROTO_UDP) && bytes.length >= innerAt + ihl + 4;
      p.inner = {
        proto,
        src: BigInt(u32(innerAt + 12)),
        dst: BigInt(u32(innerAt + 16)),
        sport: ports ? u16(innerAt + ihl) : undefined,
        dport: ports ? u16(innerAt + ihl + 2) : undefined,
      };
    }
  }
}

/**
 * ipftest's hex input (lib/ipft_hx.c): blocks of hex digits separated by blank
 * lines, each optionally headed by `[ifname]`, `[in,ifname]` or `[out,ifname]`.
 */
export function readHexPackets(text: string, defaultIf = "anon0", fixChecksums = false): Packet[] {
  const out: Packet[] = [];
  let bytes: number[] = [];
  let dir: Direction = "in";
  let ifname = defaultIf;
  const flush = (): void => {
    if (bytes.length > 0) {
      const [name, addr] = ifname.split("=");
      const raw = Uint8Array.from(bytes);
      // ipftest -C (fixv4sums): the IPv4 header checksum is computed afresh.
      if (fixChecksums && raw.length >= 20 && raw[0]! >> 4 === 4) {
        const hl = (raw[0]! & 0x0f) * 4;
        raw[10] = 0;
        raw[11] = 0;
        const sum = ~checksum16(raw, 0, Math.min(hl, raw.length)) & 0xffff;
        raw[10] = sum >> 8;
        raw[11] = sum & 0xff;
      }
      const p = decodePacket(raw, dir, name || defaultIf);
      if (addr !== undefined) p.ifAddress = parseV4(addr) ?? parseV6(addr);
      out.push(p);
    }
    bytes = [];
    dir = "in";
    ifname = defaultIf;
  };
  for (const rawLine of text.split("\n")) {
    const line = rawLine.replace(/#.*/, "");
    if (line.trim() === "") {
      flush();
      continue;
    }
    let rest = line;
    const head = /^\s*\[([^\]]*)\]\S*/.exec(rest);
    if (head) {
      const parts = (head[1] ?? "").split(",");
      if (parts.length === 2) {
        dir = parts[0]?.startsWith("o") ? "out" : "in";
        ifname = parts[1] || defaultIf;
      } else {
        // `[out]` names an interface called "out"; only `[dir,if]` sets the direction.
        ifname = parts[0] || defaultIf;
      }
      rest = rest.slice(head[0].length);
    }
    let half: string | undefined;
    for (const ch of rest) {
      if (/[0-9a-fA-F]/.test(ch)) {
        if (half === undefined) half = ch;
        else {
          bytes.push(parseInt(half + ch, 16));
          half = undefined;
        }
      } else if (ch === " " || ch === "\t") {
        half = undefined;
      } else break;
    }
  }
  flush();
  return out;
}

/** RFC 1624 incremental update of a ones'-complement checksum when 16-bit words change. */
function adjustChecksum(sum: number, oldWords: readonly number[], newWords: readonly number[]): number {
  let acc = ~sum & 0xffff;
  for (const w of oldWords) acc += ~w & 0xffff;
  for (const w of newWords) acc += w & 0xffff;
  while (acc > 0xffff) acc = (acc & 0xffff) + (acc >>> 16);
  return ~acc & 0xffff;
}

function addressWords(family: Family, v: bigint): number[] {
  const words: number[] = [];
  for (let i = family === 4 ? 1 : 7; i >= 0; i--) words.push(Number((v >> BigInt(i * 16)) & 0xffffn));
  return words;
}

/**
 * The packet's bytes after NAT: the hex reader's bytes with the addresses and
 * ports rewritten and the IP, TCP and UDP checksums adjusted incrementally, as
 * the kernel does (a checksum that was wrong stays wrong by the same amount).
 */
export function packetBytes(p: Packet, original: Packet, mssClamp?: number): Uint8Array | undefined {
  if (!original.raw) return undefined;
  const b = Uint8Array.from(original.raw);
  const get16 = (o: number): number => ((b[o] ?? 0) << 8) | (b[o + 1] ?? 0);
  const set16 = (o: number, v: number): void => {
    b[o] = (v >> 8) & 0xff;
    b[o + 1] = v & 0xff;
  };
  const v4 = p.family === 4;
  const hl = v4 ? original.hlen : 40;
  const srcAt = v4 ? 12 : 8;
  const dstAt = v4 ? 16 : 24;
  const l4 = p.fragOff === 0 && (p.proto === IPPROTO_TCP || p.proto === IPPROTO_UDP);
  const l4SumAt = p.proto === IPPROTO_TCP ? hl + 16 : hl + 6;
  const haveL4Sum = l4 && b.length >= l4SumAt + 2 && !(p.proto === IPPROTO_UDP && get16(l4SumAt) === 0);
  const oldWords: number[] = [];
  const newWords: number[] = [];
  const rewriteAddress = (at: number, from: bigint, to: bigint): void => {
    if (from === to) return;
    const ow = addressWords(p.family, from);
    const nw = addressWords(p.family, to);
    nw.forEach((w, i) => set16(at + i * 2, w));
    if (v4) set16(10, adjustChecksum(get16(10), ow, nw));
    oldWords.push(...ow);
    newWords.push(...nw);
  };
  if (v4 && p.id !== original.id) {
    const oldId = get16(4);
    set16(4, p.id);
    set16(10, adjustChecksum(get16(10), [oldId], [p.id]));
  }
  rewriteAddress(srcAt, original.src, p.src);
  rewriteAddress(dstAt, original.dst, p.dst);
  if (l4 && b.length >= hl + 4) {
    if (p.sport !== original.sport) {
      oldWords.push(get16(hl));
      set16(hl, p.sport ?? 0);
      newWords.push(p.sport ?? 0);
    }
    if (p.dport !== original.dport) {
      oldWords.push(get16(hl + 2));
      set16(hl + 2, p.dport ?? 0);
      newWords.push(p.dport ?? 0);
    }
  }
  if (v4 && p.inner && original.inner && p.proto === IPPROTO_ICMP)
    patchQuotedPacket(b, hl, original.inner, p.inner);
  if (mssClamp !== undefined && p.proto === IPPROTO_TCP && l4 && ((b[hl + 13] ?? 0) & TH.S) !== 0) {
    // mssclamp: lower the MSS option of a SYN to the rule's value.
    const end = Math.min(b.length, hl + ((b[hl + 12] ?? 0) >> 4) * 4);
    for (let o = hl + 20; o < end;) {
      const kind = b[o] ?? 0;
      if (kind === 0) break;
      if (kind === 1) {
        o++;
        continue;
      }
      const len = b[o + 1] ?? 2;
      if (kind === 2 && len === 4 && get16(o + 2) > mssClamp) {
        oldWords.push(get16(o + 2));
        set16(o + 2, mssClamp);
        newWords.push(mssClamp);
      }
      o += Math.max(len, 2);
    }
  }
  if (haveL4Sum && oldWords.length > 0) set16(l4SumAt, adjustChecksum(get16(l4SumAt), oldWords, newWords));
  // ICMPv6's checksum covers the IPv6 pseudo-header, so address changes reach it too.
  if (!v4 && p.proto === IPPROTO_ICMPV6 && p.fragOff === 0 && oldWords.length > 0 && b.length >= hl + 4) {
    set16(hl + 2, adjustChecksum(get16(hl + 2), oldWords, newWords));
  }
  return b;
}

/**
 * Rewrite the packet an ICMP error quotes: its addresses and ports, its IP
 * checksum, its TCP/UDP checksum when quoted in full, and the ICMP checksum
 * over all of those changes.
 */
function patchQuotedPacket(b: Uint8Array, outerHl: number, from: InnerPacket, to: InnerPacket): void {
  const get16 = (o: number): number => ((b[o] ?? 0) << 8) | (b[o + 1] ?? 0);
  const set16 = (o: number, v: number): void => {
    b[o] = (v >> 8) & 0xff;
    b[o + 1] = v & 0xff;
  };
  const icmpSumAt = outerHl + 2;
  const at = outerHl + 8;
  const ihl = ((b[at] ?? 0) & 0x0f) * 4;
  const icmpOld: number[] = [];
  const icmpNew: number[] = [];
  const change = (o: number, v: number, l4: number[][]): void => {
    const old = get16(o);
    if (old === v) return;
    set16(o, v);
    icmpOld.push(old);
    icmpNew.push(v);
    l4[0]?.push(old);
    l4[1]?.push(v);
  };
  const pseudoOld: number[] = [];
  const pseudoNew: number[] = [];
  const ipOld: number[] = [];
  const ipNew: number[] = [];
  const addr = (o: number, a: bigint, z: bigint): void => {
    if (a === z) return;
    const ow = addressWords(4, a);
    const nw = addressWords(4, z);
    ow.forEach((w, i) => change(o + i * 2, nw[i] ?? 0, [pseudoOld, pseudoNew]));
    ipOld.push(...ow);
    ipNew.push(...nw);
  };
  addr(at + 12, from.src, to.src);
  addr(at + 16, from.dst, to.dst);
  if (ipOld.length > 0) change(at + 10, adjustChecksum(get16(at + 10), ipOld, ipNew), []);
  const l4At = at + ihl;
  const l4SumAt = to.proto === IPPROTO_TCP ? l4At + 16 : to.proto === IPPROTO_UDP ? l4At + 6 : -1;
  const l4SumQuoted =
    l4SumAt > 0 && b.length >= l4SumAt + 2 && !(to.proto === IPPROTO_UDP && get16(l4SumAt) === 0);
  const portsQuoted = from.sport !== undefined && to.sport !== undefined;
  const oldSport = from.sport ?? 0;
  const oldDport = from.dport ?? 0;
  const newSport = to.sport ?? 0;
  const newDport = to.dport ?? 0;
  // Without a quoted TCP/UDP checksum to absorb them, ipf_nat_icmperror
  // carries the port changes into the ICMP checksum itself (below).
  const portWords: number[][] = l4SumQuoted ? [pseudoOld, pseudoNew] : [];
  if (portsQuoted && oldSport !== newSport) change(l4At, newSport, portWords);
  if (portsQuoted && from.dport !== undefined && to.dport !== undefined && oldDport !== newDport)
    change(l4At + 2, newDport, portWords);
  if (l4SumQuoted && pseudoOld.length > 0) {
    change(l4SumAt, adjustChecksum(get16(l4SumAt), pseudoOld, pseudoNew), []);
  }
  if (!l4SumQuoted && portsQuoted && (oldSport !== newSport || oldDport !== newDport)) {
    // Undo the exact port words, then apply ipf_nat_icmperror's own delta.
    const keep = icmpOld.length - (oldSport !== newSport ? 1 : 0) - (oldDport !== newDport ? 1 : 0);
    icmpOld.length = keep;
    icmpNew.length = keep;
    if (icmpOld.length > 0) set16(icmpSumAt, adjustChecksum(get16(icmpSumAt), icmpOld, icmpNew));
    set16(
      icmpSumAt,
      ipfFixInCksum(get16(icmpSumAt), icmpErrorPortDelta(oldSport, newSport, oldDport, newDport)),
    );
    return;
  }
  if (icmpOld.length > 0) set16(icmpSumAt, adjustChecksum(get16(icmpSumAt), icmpOld, icmpNew));
}

/**
 * ip_nat.c's CALC_SUMD(s1, s2, sd): the one's-complement difference s2 - s1,
 * where "s1 > s2" borrows by decrementing s2 — in place, so the caller's
 * variable keeps the decrement. Returns [sd, s2 after the call].
 */
function calcSumd(s1: number, s2: number): [number, number] {
  let a = (s1 & 0xffff) + (s1 >>> 16);
  a = (a & 0xffff) + (a >>> 16);
  let b2 = (s2 & 0xffff) + (s2 >>> 16);
  b2 = (b2 & 0xffff) + (b2 >>> 16);
  if (a > b2) b2 = (b2 - 1) >>> 0;
  let sd = (b2 - a) >>> 0;
  sd = ((sd & 0xffff) + (sd >>> 16)) >>> 0;
  return [sd, b2];
}

/**
 * The ICMP checksum delta ipf_nat_icmperror applies for a quoted TCP/UDP
 * packet whose own checksum is not quoted (or is zero, for UDP). It first
 * runs CALC_SUMD(old sport, new sport) and CALC_SUMD(old dport, new dport)
 * for the TCP/UDP delta, which leaves each new port one lower whenever it is
 * below the old one; the ICMP delta is then CALC_SUMD(new, old) over those
 * decremented values. That borrow is why the result can differ by one from
 * an exact RFC 1624 update.
 */
export function icmpErrorPortDelta(
  oldSport: number,
  newSport: number,
  oldDport: number,
  newDport: number,
): number {
  const [, sport1] = calcSumd(oldSport, newSport);
  const [, dport1] = calcSumd(oldDport, newDport);
  const [d1] = calcSumd(sport1, oldSport);
  const [d2] = calcSumd(dport1, oldDport);
  let n = (d1 + d2) >>> 0;
  for (let i = 0; i < 3; i++) n = ((n & 0xffff) + (n >>> 16)) >>> 0;
  return n;
}

/** ip_nat.c ipf_fix_incksum: take n away from a 16-bit checksum (nothing when n is 0). */
export function ipfFixInCksum(cksum: number, n: number): number {
  if (n === 0) return cksum;
  let sum = (~cksum & 0xffff) + (~n & 0xffff);
  sum = (sum >>> 16) + (sum & 0xffff);
  sum = (sum >>> 16) + (sum & 0xffff);
  return ~sum & 0xffff;
}

/** printpacket's -x form: two bytes per group, each followed by a space, then an empty line. */
export function formatPacketHex(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i += 2) {
    s += (bytes[i] ?? 0).toString(16).padStart(2, "0");
    if (i + 1 < bytes.length) s += (bytes[i + 1] ?? 0).toString(16).padStart(2, "0");
    s += " ";
  }
  return `${s}\n\n`;
}
