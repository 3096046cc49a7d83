/**
 * ippool(8) lookup tables as ipftest -P loads them, for `from pool/100` rules:
 * the tree form `table role = ipf type = tree number = 100 { 1.1.1.1/32; !2.2.0.0/16; };`.
 * Lookup is longest-prefix match; an entry written with `!` excludes.
 */
import type { AddressTable } from "./address.js";
import { formatAddr, parseV4, parseV6, type Family } from "./packet.js";
import { prefixMask } from "./address.js";

interface PoolEntry {
  family: Family;
  addr: bigint;
  bits: number;
  mask: bigint;
  negated: boolean;
}

export class TreePool implements AddressTable {
  constructor(
    readonly role: string,
    readonly number: string,
    readonly entries: PoolEntry[],
  ) {}

  lookup(family: Family, addr: bigint): boolean | undefined {
    let best: PoolEntry | undefined;
    for (const e of this.entries) {
      if (e.family === family && (addr & e.mask) === e.addr && (!best || e.bits > best.bits)) best = e;
    }
    return best === undefined ? undefined : !best.negated;
  }

  /** The two lines ipftest -D prints for the table. */
  dump(): string[] {
    const items = this.entries.map((e) => `${e.negated ? "! " : ""}${formatAddr(e.family, e.addr)}/${e.bits};`);
    return [`table role=${this.role} type=tree number=${this.number}`, `\t{ ${items.join(" ")} };`];
  }
}

export class PoolSyntaxError extends Error {}

export interface LoadedPools {
  tables: Map<string, AddressTable>;
  poolDump: string[];
  hashDump: string[];
}

function parseEntry(text: string): PoolEntry {
  let t = text.trim();
  let negated = false;
  if (t.startsWith("!")) {
    negated = true;
    t = t.slice(1).trim();
  }
  const [a, b] = t.split("/");
  const v4 = parseV4(a ?? "");
  const family: Family = v4 !== undefined ? 4 : 6;
  const addr = v4 ?? parseV6(a ?? "");
  if (addr === undefined) throw new PoolSyntaxError(`bad pool address ${JSON.stringify(text)}`);
  const bits = b === undefined ? (family === 4 ? 32 : 128) : Number(b);
  const mask = prefixMask(family, bits);
  return { family, addr: addr & mask, bits, mask, negated };
}

/** Parse an ippool config; throws PoolSyntaxError for forms this reader does not know. */
export function loadPools(text: string): LoadedPools {
  const body = text.replace(/#.*$/gm, "");
  const out: LoadedPools = { tables: new Map(), poolDump: [], hashDump: [] };
  const re = /table\s+role\s*=\s*(\w+)\s+type\s*=\s*(\w+)\s+number\s*=\s*(\w+)\s*\{([^}]*)\}\s*;/g;
  let consumed = 0;
  const found: TreePool[] = [];
  for (let m = re.exec(body); m !== null; m = re.exec(body)) {
    const [, role, type, number, list] = m;
    if (type !== "tree") throw new PoolSyntaxError(`table type ${JSON.stringify(type)} is not supported (tree only)`);
    const entries = (list ?? "")
      .split(";")
      .map((s) => s.trim())
      .filter((s) => s !== "")
      .map(parseEntry);
    const pool = new TreePool(role ?? "ipf", number ?? "0", entries);
    found.push(pool);
    out.tables.set(`pool/${number}`, pool);
    consumed += m[0].length;
  }
  if (body.replace(re, "").trim() !== "") throw new PoolSyntaxError("pool configuration has forms other than tree tables");
  // ipftest lists the most recently loaded table first.
  for (const p of found.reverse()) out.poolDump.push(...p.dump());
  void consumed;
  return out;
}
