/**
 * Hashing helpers shared by the state and NAT tables: addresses folded to 32
 * bits once per packet (an IPv4 address is its own value), mixed with ports
 * and protocol. Exact comparison of the real fields always follows a hash
 * hit.
 */
import { foldAddr, type Packet } from "./packet.js";

export { foldAddr };

export const mix = (h: number, v: number): number => {
  const x = Math.imul(h ^ v, 0x9e3779b1);
  return x ^ (x >>> 15);
};

/** The packet's source address folded, from its cache when the address has not changed since. */
export function srcKey(p: Packet): number {
  if (p.srcKeyOf === p.src) return p.srcKey as number;
  const k = foldAddr(p.family, p.src);
  p.srcKeyOf = p.src;
  p.srcKey = k;
  return k;
}

export function dstKey(p: Packet): number {
  if (p.dstKeyOf === p.dst) return p.dstKey as number;
  const k = foldAddr(p.family, p.dst);
  p.dstKeyOf = p.dst;
  p.dstKey = k;
  return k;
}

/** Set the packet's addresses together with their known keys (NAT rewriting from a session). */
export function setAddresses(p: Packet, src: bigint, srcK: number, dst: bigint, dstK: number): void {
  p.src = src;
  p.srcKeyOf = src;
  p.srcKey = srcK;
  p.dst = dst;
  p.dstKeyOf = dst;
  p.dstKey = dstK;
}
