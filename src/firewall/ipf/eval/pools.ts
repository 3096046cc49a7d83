/**
 * ippool(8) lookup tables as ipftest -P loads them, for `from pool/100` rules:
 * the tree form `table role = ipf type = tree number = 100 { 1.1.1.1/32; !2.2.0.0/16; };`.
 * Lookup is longest-prefix match; an entry written with `!` excludes.
 */
import { createHash } from "node:crypto";
import type { AddressTable, DestinationList } from "./address.js";
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
    /** `number=N` for numbered tables, `name=X` for named ones. */
    readonly label = `number=${number}`,
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
    const items = this.entries.map(
      (e) => `${e.negated ? "! " : ""}${formatAddr(e.family, e.addr)}/${e.bits};`,
    );
    return [`table role=${this.role} type=tree ${this.label}`, `\t{ ${items.join(" ")} };`];
  }
}

export class PoolSyntaxError extends Error {}

/** The hash table size ippool gives a table of n entries when none is set (the smallest prime above n). */
function defaultHashSize(n: number): number {
  for (let size = n + 1; ; size++) {
    let prime = size > 1;
    for (let d = 2; d * d <= size; d++) if (size % d === 0) prime = false;
    if (prime) return size;
  }
}

/** `group-map in|out role = ipf number = N [group = G] { addr[, group = G]; … };`: address → rule group. */
export class GroupMap {
  constructor(
    readonly dir: string,
    readonly role: string,
    readonly number: string,
    readonly entries: (PoolEntry & { group: string })[],
  ) {}

  groupFor(family: Family, addr: bigint): string | undefined {
    let best: (PoolEntry & { group: string }) | undefined;
    for (const e of this.entries)
      if (e.family === family && (addr & e.mask) === e.addr && (!best || e.bits > best.bits)) best = e;
    return best?.group;
  }

  dump(): string[] {
    const items = this.entries.map((e) => `${formatAddr(e.family, e.addr)}/${e.bits}, group=${e.group};`);
    return [
      `group-map ${this.dir} role=${this.role} number=${this.number} size=${defaultHashSize(this.entries.length)}`,
      `\t{ ${items.join(" ")} };`,
    ];
  }
}

/**
 * `pool ROLE/dstlist (name NAME; policy POLICY;) { [ifname:]address; … };`:
 * where rewrite rules and `to dstlist/NAME` send new sessions. round-robin
 * takes the members in turn; weighted connection the member with the fewest
 * sessions so far (the first such, in list order).
 */
export class DestinationPool implements DestinationList {
  private next = 0;
  private readonly sessions: number[];
  constructor(
    readonly name: string,
    readonly policy: string,
    readonly members: { ifname: string | undefined; family: Family; addr: bigint }[],
    /** The list's hash seed (ipftest's ipf_random() at creation). */
    readonly seed = 0,
  ) {
    this.sessions = members.map(() => 0);
  }

  /**
   * hash / src-hash / dst-hash: MD5 over the seed and the 16-byte address
   * fields, the first 32-bit word (host order, little-endian) modulo the count.
   */
  private hashed(family: Family, parts: bigint[]): number {
    const md5 = createHash("md5");
    const seed = Buffer.alloc(4);
    seed.writeUInt32LE(this.seed >>> 0);
    md5.update(seed);
    for (const a of parts) {
      const field = Buffer.alloc(16);
      if (family === 4) field.writeUInt32BE(Number(a), 0);
      else for (let i = 0; i < 16; i++) field[i] = Number((a >> BigInt((15 - i) * 8)) & 0xffn);
      md5.update(field);
    }
    return md5.digest().readUInt32LE(0) % this.members.length;
  }

  select(
    family: Family,
    src?: bigint,
    dst?: bigint,
  ): { addr: bigint; ifname: string | undefined } | undefined {
    if (HASH_POLICIES.has(this.policy)) {
      const parts =
        this.policy === "hash"
          ? [src ?? 0n, dst ?? 0n]
          : this.policy === "src-hash"
            ? [src ?? 0n]
            : [dst ?? 0n];
      const m = this.members[this.hashed(family, parts)];
      return m && m.family === family ? { addr: m.addr, ifname: m.ifname } : undefined;
    }
    type Member = { m: DestinationPool["members"][number]; i: number };
    const usable: Member[] = this.members.map((m, i) => ({ m, i })).filter((x) => x.m.family === family);
    if (usable.length === 0) return undefined;
    let pick: Member;
    if (this.policy === "weighted connection" || this.policy === "weighted") {
      pick = usable.reduce((best, x) =>
        (this.sessions[x.i] ?? 0) < (this.sessions[best.i] ?? 0) ? x : best,
      );
    } else {
      pick = usable[this.next % usable.length] as Member;
      this.next++;
    }
    this.sessions[pick.i] = (this.sessions[pick.i] ?? 0) + 1;
    return { addr: pick.m.addr, ifname: pick.m.ifname };
  }
}

const HASH_POLICIES = new Set(["hash", "src-hash", "dst-hash"]);
const SUPPORTED_POLICIES = new Set(["round-robin", "weighted connection", "weighted", ...HASH_POLICIES]);

/**
 * ipftest's ipf_random() is a fixed sequence so test output is stable; these
 * are its first values (ip_fil.c), one taken per destination list created.
 */
const IPFTEST_RANDOM = [0, 4, 3999, 4000, 48999, 49000];

export interface LoadedPools {
  dstlists: Map<string, DestinationList>;
  groupMaps: Map<string, GroupMap>;
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

/**
 * The address blocks of a whois answer (`… 131.107.0.0 - 131.107.255.255`):
 * ippool reads the range right after the first parenthesised handle, keeps
 * the IPv4 ranges that are exactly one CIDR block, in file order, and drops
 * the rest (so lines with another parenthesis before the handle are lost too).
 */
export function whoisBlocks(text: string): PoolEntry[] {
  const out: PoolEntry[] = [];
  for (const line of text.split("\n")) {
    const afterHandle = line.slice(line.indexOf(")") + 1);
    const m = line.includes(")")
      ? /^\s*(\d+\.\d+\.\d+\.\d+)\s+-\s+(\d+\.\d+\.\d+\.\d+)\s*$/.exec(afterHandle)
      : null;
    const low = m ? parseV4(m[1] ?? "") : undefined;
    const high = m ? parseV4(m[2] ?? "") : undefined;
    if (low === undefined || high === undefined || high < low) continue;
    const size = high - low + 1n;
    const bits = size.toString(2).length - 1;
    if (1n << BigInt(bits) !== size || (low & (size - 1n)) !== 0n) continue;
    const prefix = 32 - bits;
    out.push({ family: 4, addr: low, bits: prefix, mask: prefixMask(4, prefix), negated: false });
  }
  return out;
}

/**
 * Parse an ippool config; throws PoolSyntaxError for forms this reader does
 * not know. `readFile` resolves `whois file "…"` paths.
 */
export function loadPools(
  text: string,
  readFile: (path: string) => string = () => {
    throw new PoolSyntaxError("whois files are not available here");
  },
): LoadedPools {
  const body = text.replace(/#.*$/gm, "");
  const out: LoadedPools = {
    dstlists: new Map(),
    groupMaps: new Map(),
    tables: new Map(),
    poolDump: [],
    hashDump: [],
  };
  const groupMapRe =
    /^group-map\s+(in|out)\s+role\s*=\s*(\w+)\s+number\s*=\s*(\w+)(?:\s+group\s*=\s*(\w+))?\s*\{([^}]*)\}\s*;/;
  const tableRe = /^table\s+role\s*=\s*(\w+)\s+type\s*=\s*(\w+)\s+number\s*=\s*(\w+)\s*\{([^}]*)\}\s*;/;
  const poolRe = /^pool\s+(\w+)\/dstlist\s*\(([^)]*)\)\s*\{([^}]*)\}\s*;/;
  const whoisRe =
    /^pool\s+(\w+)\/tree\s*\(\s*name\s+([^;\s]+)\s*;\s*\)\s*\{\s*whois\s+file\s+"([^"]+)"\s*;\s*\}\s*;/;
  const found: TreePool[] = [];
  let rest = body.trim();
  while (rest !== "") {
    const table = tableRe.exec(rest);
    const pool = table ? null : poolRe.exec(rest);
    const whois = table || pool ? null : whoisRe.exec(rest);
    const groupMap = table || pool || whois ? null : groupMapRe.exec(rest);
    if (groupMap) {
      const [, dir, role, number, defaultGroup, list] = groupMap;
      const entries = (list ?? "")
        .split(";")
        .map((x) => x.trim())
        .filter((x) => x !== "")
        .map((item) => {
          const [addr, ...opts] = item.split(",");
          const group = /group\s*=\s*(\w+)/.exec(opts.join(","))?.[1] ?? defaultGroup;
          if (group === undefined)
            throw new PoolSyntaxError(`group-map entry ${JSON.stringify(item)} names no group`);
          return { ...parseEntry(addr ?? ""), group };
        });
      const map = new GroupMap(dir ?? "in", role ?? "ipf", number ?? "0", entries);
      out.groupMaps.set(number ?? "0", map);
      out.hashDump.unshift(...map.dump());
      rest = rest.slice(groupMap[0].length).trim();
    } else if (whois) {
      const [, role, name, file] = whois;
      const t = new TreePool(role ?? "ipf", name ?? "", whoisBlocks(readFile(file ?? "")), `name=${name}`);
      found.push(t);
      out.tables.set(`pool/${name}`, t);
      rest = rest.slice(whois[0].length).trim();
    } else if (table) {
      const [, role, type, number, list] = table;
      if (type !== "tree")
        throw new PoolSyntaxError(`table type ${JSON.stringify(type)} is not supported (tree only)`);
      const entries = (list ?? "")
        .split(";")
        .map((x) => x.trim())
        .filter((x) => x !== "")
        .map(parseEntry);
      const t = new TreePool(role ?? "ipf", number ?? "0", entries);
      found.push(t);
      out.tables.set(`pool/${number}`, t);
      rest = rest.slice(table[0].length).trim();
    } else if (pool) {
      const [, , opts, list] = pool;
      const name = /name\s+([^;\s]+)\s*;/.exec(opts ?? "")?.[1];
      const policy = (/policy\s+([^;]+);/.exec(opts ?? "")?.[1] ?? "round-robin").trim();
      if (!name) throw new PoolSyntaxError("a dstlist pool needs (name NAME;)");
      if (!SUPPORTED_POLICIES.has(policy))
        throw new PoolSyntaxError(`dstlist policy ${JSON.stringify(policy)} is not supported`);
      const members = (list ?? "")
        .split(";")
        .map((x) => x.trim())
        .filter((x) => x !== "")
        .map((m) => {
          const colon = m.lastIndexOf(":");
          const ifname =
            colon > 0 && !m.slice(0, colon).includes(":") && parseV4(m.slice(colon + 1)) !== undefined
              ? m.slice(0, colon)
              : undefined;
          const addrText = ifname === undefined ? m : m.slice(colon + 1);
          const e = parseEntry(addrText);
          return { ifname, family: e.family, addr: e.addr };
        });
      const seed = IPFTEST_RANDOM[out.dstlists.size];
      if (seed === undefined)
        throw new PoolSyntaxError("more destination lists than ipftest's fixed random sequence covers");
      out.dstlists.set(`dstlist/${name}`, new DestinationPool(name, policy, members, seed));
      rest = rest.slice(pool[0].length).trim();
    } else {
      throw new PoolSyntaxError(
        `pool configuration form not supported: ${JSON.stringify(rest.split("\n")[0])}`,
      );
    }
  }
  // ipftest lists the most recently loaded table first.
  for (const t of found.reverse()) out.poolDump.push(...t.dump());
  return out;
}
