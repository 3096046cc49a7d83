/**
 * Address arithmetic as pfctl does it. pf keeps every address in a 128-bit
 * `struct pf_addr` whatever its family: an IPv4 address sits in the first
 * 32-bit word and the other three words stay zero. Masks are the same size,
 * so `/24` on IPv4 is ffffff00:0:0:0. Holding both as one bigint (most
 * significant word first) keeps pfctl's quirks: prefix counting that runs
 * across all 128 bits (`unmask`), and "is zero" tests on the whole value.
 */

export type AddressFamily = 4 | 6;

const ALL128 = (1n << 128n) - 1n;

const MASKS: bigint[] = [];
for (let b = 0; b <= 128; b++) MASKS.push(b === 0 ? 0n : (ALL128 >> BigInt(128 - b)) << BigInt(128 - b));

/** pfctl's set_ipmask(): the first `bits` bits of 128 set. */
export function maskOfBits(bits: number): bigint {
  if (bits <= 0) return 0n;
  if (bits >= 128) return ALL128;
  return MASKS[bits] as bigint;
}

/**
 * pfctl's unmask(): whole words of ones count 32 each, then the leading ones
 * of the first word that is not all ones. The family is not consulted, which
 * is why a dynamic address can carry a /40 "IPv4" mask.
 */
export function bitsOfMask(mask: bigint): number {
  let bits = 0;
  for (let word = 0; word < 4; word++) {
    const w = Number((mask >> BigInt(96 - 32 * word)) & 0xffffffffn);
    if (w === 0xffffffff) {
      bits += 32;
      continue;
    }
    for (let i = 31; i >= 0 && (w >>> i) & 1; i--) bits++;
    break;
  }
  return bits;
}

export function v4ToPf(v4: number): bigint {
  return BigInt(v4 >>> 0) << 96n;
}

export function pfToV4(addr: bigint): number {
  return Number((addr >> 96n) & 0xffffffffn);
}

/** inet_pton(AF_INET): exactly four decimal parts of 0-255. */
export function parseV4Strict(text: string): bigint | null {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (!m) return null;
  let v = 0;
  for (let i = 1; i <= 4; i++) {
    const octet = Number(m[i]);
    if (octet > 255) return null;
    v = v * 256 + octet;
  }
  return v4ToPf(v);
}

/**
 * inet_net_pton(AF_INET, "a[.b[.c[.d]]]/bits"): one to four decimal parts
 * filled from the left, and the prefix length after the slash.
 */
export function parseV4Net(text: string): { addr: bigint; bits: number } | null {
  const m = /^(\d{1,3}(?:\.\d{1,3}){0,3})\/(\d{1,2})$/.exec(text);
  if (!m) return null;
  const parts = (m[1] as string).split(".").map(Number);
  if (parts.some((p) => p > 255)) return null;
  const bits = Number(m[2]);
  if (bits > 32) return null;
  let v = 0;
  for (let i = 0; i < 4; i++) v = v * 256 + (parts[i] ?? 0);
  return { addr: v4ToPf(v), bits };
}

/**
 * A numeric IPv6 address as getaddrinfo(AI_NUMERICHOST) reads it, with an
 * optional `%zone` (kept as the scope name) and an optional embedded IPv4
 * tail (`::ffff:1.2.3.4`).
 */
export function parseV6(text: string): { addr: bigint; zone: string | null } | null {
  let body = text;
  let zone: string | null = null;
  const pct = body.indexOf("%");
  if (pct >= 0) {
    zone = body.slice(pct + 1);
    body = body.slice(0, pct);
    if (zone === "") return null;
  }
  if (!/^[0-9A-Fa-f:.]+$/.test(body) || !body.includes(":")) return null;
  const lastColon = body.lastIndexOf(":");
  const last = body.slice(lastColon + 1);
  if (last.includes(".")) {
    // An embedded IPv4 tail (::ffff:1.2.3.4) stands for the last two words.
    const v4 = parseV4Strict(last);
    if (v4 === null) return null;
    const n = pfToV4(v4);
    body = `${body.slice(0, lastColon + 1)}${((n >>> 16) & 0xffff).toString(16)}:${(n & 0xffff).toString(16)}`;
  }
  const halves = body.split("::");
  if (halves.length > 2) return null;
  const words = (part: string): number[] | null => {
    if (part === "") return [];
    const out: number[] = [];
    for (const w of part.split(":")) {
      if (!/^[0-9A-Fa-f]{1,4}$/.test(w)) return null;
      out.push(parseInt(w, 16));
    }
    return out;
  };
  const head = words(halves[0] as string);
  if (head === null) return null;
  let all: number[];
  if (halves.length === 2) {
    const rest = words(halves[1] as string);
    if (rest === null) return null;
    const fill = 8 - head.length - rest.length;
    if (fill < 1) return null;
    all = [...head, ...new Array<number>(fill).fill(0), ...rest];
  } else all = head;
  if (all.length !== 8) return null;
  let v = 0n;
  for (const w of all) v = (v << 16n) | BigInt(w);
  return { addr: v, zone };
}

function ntop4(addr: bigint): string {
  const n = pfToV4(addr);
  return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

/**
 * FreeBSD libc's inet_ntop(AF_INET6): the longest run of two or more zero
 * words becomes "::", and an address that is all zero but the last 32 bits
 * (or ::ffff:a.b.c.d) ends in dotted-quad form.
 */
function ntop6(addr: bigint): string {
  const words: number[] = [];
  for (let i = 7; i >= 0; i--) words.push(Number((addr >> BigInt(16 * i)) & 0xffffn));
  let bestBase = -1;
  let bestLen = 0;
  let curBase = -1;
  let curLen = 0;
  for (let i = 0; i < 8; i++) {
    if (words[i] === 0) {
      if (curBase < 0) {
        curBase = i;
        curLen = 1;
      } else curLen++;
    } else if (curBase >= 0) {
      if (curLen > bestLen) {
        bestBase = curBase;
        bestLen = curLen;
      }
      curBase = -1;
    }
  }
  if (curBase >= 0 && curLen > bestLen) {
    bestBase = curBase;
    bestLen = curLen;
  }
  if (bestLen < 2) bestBase = -1;
  let out = "";
  for (let i = 0; i < 8; i++) {
    if (bestBase >= 0 && i >= bestBase && i < bestBase + bestLen) {
      if (i === bestBase) out += ":";
      continue;
    }
    if (i !== 0) out += ":";
    if (i === 6 && bestBase === 0 && (bestLen === 6 || (bestLen === 5 && words[5] === 0xffff))) {
      out += ntop4(addr << 96n);
      break;
    }
    out += (words[i] as number).toString(16);
  }
  if (bestBase >= 0 && bestBase + bestLen === 8) out += ":";
  return out;
}

/** inet_ntop for a pf_addr in the given family; null for an unknown family (pfctl prints "?"). */
export function ntop(family: AddressFamily | 0, addr: bigint): string | null {
  if (family === 4) return ntop4(addr);
  if (family === 6) return ntop6(addr);
  return null;
}

/** An address of `family` as a pf_addr-sized value, for callers holding 32-bit IPv4 numbers. */
export function familyOf(text: string): AddressFamily | null {
  if (parseV4Strict(text) !== null) return 4;
  if (parseV6(text) !== null) return 6;
  return null;
}
