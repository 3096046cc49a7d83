/**
 * Address arithmetic for both parsers and printers. Addresses are held as
 * bigints (32 bits for IPv4, 128 for IPv6) so masking and prefix counting is
 * the same code for both families.
 */
import ipaddr from "ipaddr.js";
import type { CidrAddress, Family } from "../ast.js";

export function familyBits(family: Family): number {
  return family === "inet" ? 32 : 128;
}

export function allOnes(family: Family): bigint {
  return (1n << BigInt(familyBits(family))) - 1n;
}

export function prefixToMask(family: Family, prefix: number): bigint {
  const bits = familyBits(family);
  if (prefix <= 0) return 0n;
  return (allOnes(family) >> BigInt(bits - prefix)) << BigInt(bits - prefix);
}

/** The prefix length of a contiguous mask, or null when the mask has holes. */
export function maskPrefix(family: Family, mask: bigint): number | null {
  if (family === "inet") {
    // Plain 32-bit arithmetic: this runs for every address in a rule file.
    const inverse = ~Number(mask) >>> 0;
    if ((inverse & (inverse + 1)) !== 0) return null;
    return inverse === 0 ? 32 : Math.clz32(inverse);
  }
  const bits = familyBits(family);
  let n = 0;
  while (n < bits && ((mask >> BigInt(bits - 1 - n)) & 1n) === 1n) n++;
  return prefixToMask(family, n) === mask ? n : null;
}

/** A full dotted quad `a.b.c.d` (each 0–255), or null. */
export function parseDottedQuad(text: string): bigint | null {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (!m) return null;
  let v = 0;
  for (let i = 1; i <= 4; i++) {
    const octet = Number(m[i]);
    if (octet > 255) return null;
    v = v * 256 + octet;
  }
  return BigInt(v);
}

export function parseIpv6(text: string): bigint | null {
  if (!text.includes(":") || !ipaddr.IPv6.isValid(text)) return null;
  const parts = ipaddr.IPv6.parse(text).parts;
  let v = 0n;
  for (const p of parts) v = (v << 16n) | BigInt(p);
  return v;
}

export function formatAddress(family: Family, value: bigint): string {
  if (family === "inet") {
    const v = Number(value);
    return `${Math.floor(v / 16777216) % 256}.${Math.floor(v / 65536) % 256}.${Math.floor(v / 256) % 256}.${v % 256}`;
  }
  const parts: number[] = [];
  for (let i = 7; i >= 0; i--) parts.push(Number((value >> BigInt(i * 16)) & 0xffffn));
  return new ipaddr.IPv6(parts).toRFC5952String();
}

export function parseAddressText(family: Family, text: string): bigint | null {
  return family === "inet" ? parseDottedQuad(text) : parseIpv6(text);
}

/** Build the AST form of address+mask; the address is masked first, as ipf does. */
export function makeCidr(family: Family, address: bigint, mask: bigint): CidrAddress {
  return {
    kind: "cidr",
    family,
    address: formatAddress(family, address & mask),
    mask: formatAddress(family, mask),
    prefix: maskPrefix(family, mask),
  };
}

export function cidrValue(c: CidrAddress): { address: bigint; mask: bigint } {
  return {
    address: parseAddressText(c.family, c.address) ?? 0n,
    mask: parseAddressText(c.family, c.mask) ?? 0n,
  };
}
