/**
 * The packet a pf trace follows, and the friendly way to write one on a
 * command line — the same form `qjail fw trace` takes for IPFilter:
 *
 *     tcp 203.0.113.9:40000 -> :6188 on em0 [in|out]
 *     udp [2001:db8::9]:5353 -> [2001:db8::1]:53 on em0
 *     icmp 198.51.100.9 -> 198.51.100.1 on em0
 *
 * `to` may stand for `->` (a shell only passes `->` after `--`). A
 * destination written `:PORT` means the interface's own address, given with
 * `--if-addr IFACE=ADDRESS` (or `--dst-ip`). IPv6 addresses go in brackets.
 */
import { ntop, parseV4Strict, parseV6, type AddressFamily } from "../impl/address.js";
import { IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP, parseTcpFlags } from "../impl/rule.js";

export interface PfPacket {
  family: AddressFamily;
  direction: "in" | "out";
  ifname: string;
  proto: number;
  /** 128-bit pf_addr values (IPv4 in the top word). */
  src: bigint;
  dst: bigint;
  sport: number | null;
  dport: number | null;
  /** TCP flag bits of FSRPAUEW (F = 1, S = 2, …). */
  tcpFlags: number;
  icmpType: number | null;
  icmpCode: number | null;
  tos: number;
}

export class PfPacketSyntaxError extends Error {}

const PROTOS: Readonly<Record<string, number>> = {
  tcp: IPPROTO_TCP,
  udp: IPPROTO_UDP,
  icmp: IPPROTO_ICMP,
  icmp6: IPPROTO_ICMPV6,
};

export interface FriendlyPfPacketOptions {
  /** Interface name → its own addresses, for `:PORT` destinations. */
  interfaceAddress: (
    ifname: string,
    family: AddressFamily | null,
  ) => { family: AddressFamily; addr: bigint } | null;
  dstIp?: string;
  /** TCP flags as letters of FSRPAUEW; default S (a connection's first packet). */
  flags?: string;
}

function parseAddress(text: string): { family: AddressFamily; addr: bigint } | null {
  const v4 = parseV4Strict(text);
  if (v4 !== null) return { family: 4, addr: v4 };
  const v6 = parseV6(text);
  if (v6 !== null && v6.zone === null) return { family: 6, addr: v6.addr };
  return null;
}

/** Parse the friendly form; throws PfPacketSyntaxError naming the offending word. */
export function parseFriendlyPfPacket(words: readonly string[], opts: FriendlyPfPacketOptions): PfPacket {
  const [protoWord, srcWord, arrow, dstWord, ...rest] = words;
  const proto = PROTOS[protoWord ?? ""];
  if (proto === undefined)
    throw new PfPacketSyntaxError(
      `protocol must be tcp, udp, icmp or icmp6, got ${JSON.stringify(protoWord ?? "")}`,
    );
  if (arrow !== "->" && arrow !== "to")
    throw new PfPacketSyntaxError(
      `expected "->" or "to" between source and destination, got ${JSON.stringify(arrow ?? "")}`,
    );
  let ifname: string | undefined;
  let direction: "in" | "out" = "in";
  for (let i = 0; i < rest.length; i++) {
    const w = rest[i];
    if (w === "on") {
      ifname = rest[++i];
      if (ifname === undefined || !/^[A-Za-z][A-Za-z0-9_.]{0,14}$/.test(ifname))
        throw new PfPacketSyntaxError(`bad interface name ${JSON.stringify(ifname ?? "")}`);
    } else if (w === "in" || w === "out") direction = w;
    else throw new PfPacketSyntaxError(`unexpected word ${JSON.stringify(w)}`);
  }
  if (ifname === undefined) throw new PfPacketSyntaxError('the packet needs "on IFACE"');
  const hasPorts = proto === IPPROTO_TCP || proto === IPPROTO_UDP;
  const endpoint = (
    w: string | undefined,
    role: "source" | "destination",
    want: AddressFamily | null,
  ): { family: AddressFamily; addr: bigint; port: number | null } => {
    if (w === undefined) throw new PfPacketSyntaxError(`missing ${role}`);
    const m =
      /^(?:\[([^\]]*)\]|([^:[\]]*))(?::(\d{1,5}))?$/.exec(w) ?? /^([0-9A-Fa-f:]*:[0-9A-Fa-f:]*)()$/.exec(w);
    if (!m)
      throw new PfPacketSyntaxError(`bad ${role} ${JSON.stringify(w)}: use ADDRESS:PORT or [IPV6]:PORT`);
    const addrText = m[1] ?? m[2] ?? "";
    const port = m[3] === undefined ? null : Number(m[3]);
    if (port !== null && port > 65535)
      throw new PfPacketSyntaxError(`port ${port} out of range in ${JSON.stringify(w)}`);
    if (hasPorts && port === null)
      throw new PfPacketSyntaxError(`${role} ${JSON.stringify(w)} needs a port (ADDRESS:PORT)`);
    if (addrText === "") {
      const own =
        role === "destination" && opts.dstIp !== undefined
          ? parseAddress(opts.dstIp)
          : opts.interfaceAddress(ifname as string, want);
      if (own === null)
        throw new PfPacketSyntaxError(
          `${JSON.stringify(w)} means ${ifname}'s own address, which is not known; give --if-addr ${ifname}=ADDRESS or --dst-ip`,
        );
      return { ...own, port };
    }
    const a = parseAddress(addrText);
    if (a === null)
      throw new PfPacketSyntaxError(`bad address ${JSON.stringify(addrText)} in ${JSON.stringify(w)}`);
    return { ...a, port };
  };
  const src = endpoint(srcWord, "source", null);
  const dst = endpoint(dstWord, "destination", src.family);
  if (src.family !== dst.family)
    throw new PfPacketSyntaxError(
      `source and destination are of different families (${srcWord} -> ${dstWord})`,
    );
  if (proto === IPPROTO_ICMP && src.family === 6)
    throw new PfPacketSyntaxError("icmp is for IPv4; use icmp6");
  if (proto === IPPROTO_ICMPV6 && src.family === 4)
    throw new PfPacketSyntaxError("icmp6 is for IPv6; use icmp");
  let tcpFlags = 0;
  if (proto === IPPROTO_TCP) {
    const f = opts.flags ?? "S";
    const bits = parseTcpFlags(f);
    if (bits < 0 || f === "")
      throw new PfPacketSyntaxError(`TCP flags must be letters of FSRPAUEW, got ${JSON.stringify(f)}`);
    tcpFlags = bits;
  }
  const icmp = proto === IPPROTO_ICMP || proto === IPPROTO_ICMPV6;
  return {
    family: src.family,
    direction,
    ifname,
    proto,
    src: src.addr,
    dst: dst.addr,
    sport: hasPorts ? src.port : null,
    dport: hasPorts ? dst.port : null,
    tcpFlags,
    icmpType: icmp ? (proto === IPPROTO_ICMP ? 8 : 128) : null,
    icmpCode: icmp ? 0 : null,
    tos: 0,
  };
}

/** `198.51.100.7:6188`, `[2001:db8::1]:53`, or the bare address without a port. */
export function endpointText(family: AddressFamily, addr: bigint, port: number | null): string {
  const a = ntop(family, addr) ?? "?";
  if (port === null) return a;
  return family === 6 ? `[${a}]:${port}` : `${a}:${port}`;
}

export function protoText(p: number): string {
  return p === IPPROTO_TCP
    ? "tcp"
    : p === IPPROTO_UDP
      ? "udp"
      : p === IPPROTO_ICMP
        ? "icmp"
        : p === IPPROTO_ICMPV6
          ? "icmp6"
          : `proto ${p}`;
}

/** `tcp 203.0.113.9:40000 -> 198.51.100.7:6188 [S]` */
export function describePfPacket(p: PfPacket): string {
  let s = `${protoText(p.proto)} ${endpointText(p.family, p.src, p.sport)} -> ${endpointText(p.family, p.dst, p.dport)}`;
  if (p.proto === IPPROTO_TCP) {
    let f = "";
    for (let i = 0; i < 8; i++) if (p.tcpFlags & (1 << i)) f += "FSRPAUEW".charAt(i);
    s += ` [${f}]`;
  }
  return s;
}
