/**
 * ippool.conf: parse the table, hash, group-map and pool forms (tools/ippool_y.y)
 * and print them the way `ippool -f FILE -nRv` does while loading
 * (lib/load_pool.c, load_hash.c, load_dstlist.c with OPT_VERBOSE, which
 * print through printpool/printhash/printdstlist). Each object is printed as
 * it is loaded, so the listing follows the file.
 */
import { formatAddr, parseV4, parseV6, type Family } from "../eval/packet.js";

export class IppoolSyntaxError extends Error {}

export interface IppoolAddress {
  family: Family;
  addr: bigint;
  /** Prefix length of the mask. */
  bits: number;
}

export interface IppoolTreeEntry extends IppoolAddress {
  negated: boolean;
}

export interface IppoolHashEntry extends IppoolAddress {
  /** group-map entries: the rule group the address selects ("" in plain hash tables). */
  group: string;
}

export type IppoolObject =
  | { kind: "tree"; role: string; name: string; entries: IppoolTreeEntry[] }
  | {
      kind: "hash";
      role: string;
      name: string;
      /** 0 when the file sets none; load_hash then sizes the table itself. */
      size: number;
      seed: number;
      entries: IppoolHashEntry[];
    }
  | {
      kind: "group-map";
      role: string;
      name: string;
      direction: "in" | "out";
      size: number;
      seed: number;
      entries: IppoolHashEntry[];
    }
  | {
      kind: "dstlist";
      role: string;
      name: string;
      policy: string;
      members: { ifname: string | undefined; address: IppoolAddress }[];
    };

/** Reads `file://PATH` address lists (lib/load_url.c); the path is relative to the working directory. */
export type IppoolFileReader = (path: string) => string;

const ROLES = new Set(["ipf", "nat", "auth", "count", "all"]);
/** ippool_y.y dstopts, and the words printdstlist uses for each policy. */
const POLICIES: ReadonlyMap<string, string> = new Map([
  ["round-robin", "round-robin"],
  ["weighted connection", "weighting connection"],
  ["random", "random"],
  ["hash", "hash"],
  ["src-hash", "src-hash"],
  ["dst-hash", "dst-hash"],
]);

class Tokens {
  private pos = 0;
  constructor(private readonly list: string[]) {}
  peek(): string | undefined {
    return this.list[this.pos];
  }
  next(what: string): string {
    const t = this.list[this.pos];
    if (t === undefined) throw new IppoolSyntaxError(`file ends where ${what} was expected`);
    this.pos++;
    return t;
  }
  accept(t: string): boolean {
    if (this.list[this.pos] !== t) return false;
    this.pos++;
    return true;
  }
  expect(t: string): void {
    const got = this.next(JSON.stringify(t));
    if (got !== t) throw new IppoolSyntaxError(`expected ${JSON.stringify(t)}, found ${JSON.stringify(got)}`);
  }
  atEnd(): boolean {
    return this.pos >= this.list.length;
  }
}

function tokenize(text: string): string[] {
  const out: string[] = [];
  const re = /"[^"\n]*"|[{}();,=!/]|[^\s{}();,=!/"]+/g;
  for (const line of text.split("\n")) {
    const code = line.replace(/#.*$/, "");
    for (const m of code.matchAll(re)) out.push(m[0]);
  }
  return out;
}

function parseAddress(text: string): { family: Family; addr: bigint } {
  const v4 = parseV4(text);
  if (v4 !== undefined) return { family: 4, addr: v4 };
  // ippool_y.y ipaddr: a bare number is an IPv4 address in host order (`1/32` is 0.0.0.1).
  if (/^\d+$/.test(text) && Number(text) <= 0xffffffff) return { family: 4, addr: BigInt(text) };
  const v6 = parseV6(text);
  if (v6 !== undefined) return { family: 6, addr: v6 };
  throw new IppoolSyntaxError(`bad address ${JSON.stringify(text)}`);
}

function maskBits(family: Family, text: string): number {
  const max = family === 4 ? 32 : 128;
  if (/^\d+$/.test(text)) {
    const n = Number(text);
    if (n > max) throw new IppoolSyntaxError(`bad mask ${JSON.stringify(text)}`);
    return n;
  }
  const m = parseV4(text);
  if (family === 4 && m !== undefined) {
    const bits = m.toString(2).replace(/^1*/, "");
    if (/1/.test(bits)) throw new IppoolSyntaxError(`mask ${JSON.stringify(text)} is not contiguous`);
    return 32 - bits.length;
  }
  throw new IppoolSyntaxError(`bad mask ${JSON.stringify(text)}`);
}

/** `addr[/mask]`, as one token for the address and optional `/`, mask tokens. */
function addrMask(t: Tokens): IppoolAddress {
  const { family, addr } = parseAddress(t.next("an address"));
  const bits = t.accept("/") ? maskBits(family, t.next("a mask")) : family === 4 ? 32 : 128;
  return { family, addr, bits };
}

/** The lines of a `file://` list: `[!]addr[/mask]` each (lib/load_url.c via load_file). */
function urlEntries(url: string, readFile: IppoolFileReader | undefined): IppoolTreeEntry[] {
  if (!url.startsWith("file://"))
    throw new IppoolSyntaxError(`only file:// address lists can be read, not ${JSON.stringify(url)}`);
  if (!readFile) throw new IppoolSyntaxError(`no file reader for ${JSON.stringify(url)}`);
  const out: IppoolTreeEntry[] = [];
  for (const raw of readFile(url.slice("file://".length)).split("\n")) {
    const line = raw.replace(/#.*$/, "").trim();
    if (line === "") continue;
    const negated = line.startsWith("!");
    const t = new Tokens(tokenize(negated ? line.slice(1).trim() : line));
    out.push({ ...addrMask(t), negated });
  }
  return out;
}

function unquote(tok: string): string | undefined {
  return tok.startsWith('"') && tok.endsWith('"') ? tok.slice(1, -1) : undefined;
}

/** `{ range; … }` of a tree: `;` alone is empty. */
function treeList(t: Tokens, readFile: IppoolFileReader | undefined): IppoolTreeEntry[] {
  t.expect("{");
  const out: IppoolTreeEntry[] = [];
  if (t.accept(";")) {
    t.expect("}");
    return out;
  }
  while (!t.accept("}")) {
    const tok = t.peek();
    const url = tok !== undefined ? unquote(tok) : undefined;
    if (url !== undefined) {
      t.next("a file");
      out.push(...urlEntries(url, readFile));
    } else if (t.accept("!")) {
      out.push({ ...addrMask(t), negated: true });
    } else {
      out.push({ ...addrMask(t), negated: false });
    }
    t.expect(";");
  }
  return out;
}

/** `{ addr[, group = G]; … }` of a hash table or group map. */
function hashList(
  t: Tokens,
  readFile: IppoolFileReader | undefined,
  defaultGroup: string,
): IppoolHashEntry[] {
  t.expect("{");
  const out: IppoolHashEntry[] = [];
  if (t.accept(";")) {
    t.expect("}");
    return out;
  }
  while (!t.accept("}")) {
    const tok = t.peek();
    const url = tok !== undefined ? unquote(tok) : undefined;
    if (url !== undefined) {
      t.next("a file");
      for (const e of urlEntries(url, readFile)) out.push({ ...e, group: defaultGroup });
    } else {
      const a = addrMask(t);
      let group = defaultGroup;
      if (t.accept(",")) {
        t.expect("group");
        t.expect("=");
        group = t.next("a group name");
      }
      out.push({ ...a, group });
    }
    t.expect(";");
  }
  return out;
}

function role(t: Tokens): string {
  const r = t.next("a role");
  if (!ROLES.has(r)) throw new IppoolSyntaxError(`unknown role ${JSON.stringify(r)}`);
  return r;
}

/** `number = N` or `name = S` (or nothing, an anonymous table). */
function tableName(t: Tokens): string {
  if (t.accept("number") || t.accept("name")) {
    t.expect("=");
    return t.next("a table name");
  }
  return "";
}

function numberValue(t: Tokens, what: string): number {
  const v = t.next(what);
  if (!/^\d+$/.test(v)) throw new IppoolSyntaxError(`${what} must be a number, not ${JSON.stringify(v)}`);
  return Number(v);
}

function hashOpts(t: Tokens): { size: number; seed: number } {
  let size = 0;
  let seed = 0;
  for (;;) {
    if (t.accept("size")) {
      t.expect("=");
      size = numberValue(t, "size");
    } else if (t.accept("seed")) {
      t.expect("=");
      seed = numberValue(t, "seed");
    } else return { size, seed };
  }
}

/** `(name N;` … `)` of the pool forms; returns the name. */
function poolName(t: Tokens): string {
  t.expect("(");
  if (!t.accept("name") && !t.accept("number")) throw new IppoolSyntaxError('a pool needs "(name NAME;"');
  const name = t.next("a pool name");
  t.expect(";");
  return name;
}

function parsePool(t: Tokens, readFile: IppoolFileReader | undefined): IppoolObject {
  if (t.peek() === "(") {
    const name = poolName(t);
    t.expect(")");
    return { kind: "tree", role: "all", name, entries: treeList(t, readFile) };
  }
  const r = role(t);
  t.expect("/");
  const type = t.next("dstlist, tree or hash");
  const name = poolName(t);
  if (type === "tree") {
    t.expect(")");
    return { kind: "tree", role: r, name, entries: treeList(t, readFile) };
  }
  if (type === "hash") {
    // ippool_y.y hashoptlist: `size N;` and `seed N;` are accepted here but
    // have no action, so load_hash still sizes the table from its entries.
    while (t.accept("size") || t.accept("seed")) {
      numberValue(t, "a number");
      t.expect(";");
    }
    t.expect(")");
    return { kind: "hash", role: r, name, size: 0, seed: 0, entries: hashList(t, readFile, "") };
  }
  if (type === "dstlist") {
    let policy = "none";
    if (t.accept("policy")) {
      const words: string[] = [];
      while (t.peek() !== ";" && !t.atEnd()) words.push(t.next("a policy"));
      const p = POLICIES.get(words.join(" "));
      if (p === undefined) throw new IppoolSyntaxError(`unknown policy ${JSON.stringify(words.join(" "))}`);
      policy = p;
      t.expect(";");
    }
    t.expect(")");
    t.expect("{");
    const members: { ifname: string | undefined; address: IppoolAddress }[] = [];
    if (!t.accept(";"))
      while (!t.accept("}")) {
        const tok = t.next("a destination");
        const colon = tok.lastIndexOf(":");
        const tail = colon > 0 ? tok.slice(colon + 1) : "";
        // `ifname:address`; an IPv6 address also has colons but no interface part.
        const named = colon > 0 && parseV4(tail) !== undefined && !/^[0-9a-f:]*$/i.test(tok.slice(0, colon));
        const addr = parseAddress(named ? tail : tok);
        members.push({
          ifname: named ? tok.slice(0, colon) : undefined,
          address: { ...addr, bits: addr.family === 4 ? 32 : 128 },
        });
        t.expect(";");
      }
    else t.expect("}");
    return { kind: "dstlist", role: r, name, policy, members };
  }
  throw new IppoolSyntaxError(`unknown pool type ${JSON.stringify(type)}`);
}

function parseObject(t: Tokens, readFile: IppoolFileReader | undefined): IppoolObject {
  const head = t.next("table, group-map or pool");
  if (head === "table") {
    t.expect("role");
    t.expect("=");
    const r = role(t);
    t.expect("type");
    t.expect("=");
    const type = t.next("tree or hash");
    const name = tableName(t);
    if (type === "tree") return { kind: "tree", role: r, name, entries: treeList(t, readFile) };
    if (type === "hash") {
      const o = hashOpts(t);
      return { kind: "hash", role: r, name, ...o, entries: hashList(t, readFile, "") };
    }
    throw new IppoolSyntaxError(`unknown table type ${JSON.stringify(type)}`);
  }
  if (head === "group-map") {
    if (t.peek() === "(") {
      const name = poolName(t);
      const dir = t.next("in or out");
      if (dir !== "in" && dir !== "out")
        throw new IppoolSyntaxError(`expected in or out, found ${JSON.stringify(dir)}`);
      t.expect(";");
      t.expect(")");
      return {
        kind: "group-map",
        role: "ipf",
        name,
        direction: dir,
        size: 0,
        seed: 0,
        entries: hashList(t, readFile, ""),
      };
    }
    const dir = t.next("in or out");
    if (dir !== "in" && dir !== "out")
      throw new IppoolSyntaxError(`expected in or out, found ${JSON.stringify(dir)}`);
    t.expect("role");
    t.expect("=");
    const r = role(t);
    const name = tableName(t);
    let group = "";
    if (t.accept("group")) {
      t.expect("=");
      group = t.next("a group name");
    }
    const o = hashOpts(t);
    return { kind: "group-map", role: r, name, direction: dir, ...o, entries: hashList(t, readFile, group) };
  }
  if (head === "pool") return parsePool(t, readFile);
  throw new IppoolSyntaxError(`expected table, group-map or pool, found ${JSON.stringify(head)}`);
}

/** Parse ippool.conf text; `readFile` serves `file://` address lists. */
export function parseIppool(text: string, readFile?: IppoolFileReader): IppoolObject[] {
  const t = new Tokens(tokenize(text));
  const out: IppoolObject[] = [];
  while (!t.atEnd()) {
    if (t.accept(";")) continue;
    out.push(parseObject(t, readFile));
    t.expect(";");
  }
  return out;
}

/** lib/printip.c: an IPv4 address below 256 prints as a plain number. */
function printIp(a: IppoolAddress): string {
  if (a.family === 4 && a.addr < 256n) return a.addr.toString();
  return formatAddr(a.family, a.addr);
}

function printAddrMask(a: IppoolAddress): string {
  return `${printIp(a)}/${a.bits}`;
}

/** `number=N` for names that start with a digit, `name=S` otherwise (printpool/printhash). */
function printName(name: string): string {
  return /^\d/.test(name) ? `number=${name}` : `name=${name}`;
}

/** load_hash: with no size set, a table of n entries (at least 1) gets 2n - 1 buckets. */
export function hashTableSize(size: number, entries: number): number {
  return size !== 0 ? size : 2 * Math.max(entries, 1) - 1;
}

function braced(items: string[]): string {
  return items.length === 0 ? "\t{; };" : `\t{ ${items.join(" ")} };`;
}

/** The two lines `ippool -nRv` prints for one loaded object. */
export function printIppoolObject(o: IppoolObject): string {
  switch (o.kind) {
    case "tree":
      return [
        `table role=${o.role} type=tree ${printName(o.name)}`,
        braced(o.entries.map((e) => `${e.negated ? "! " : ""}${printAddrMask(e)};`)),
      ].join("\n");
    case "hash": {
      const seed = o.seed !== 0 ? ` seed=${o.seed}` : "";
      return [
        `table role=${o.role} type=hash ${printName(o.name)} size=${hashTableSize(o.size, o.entries.length)}${seed}`,
        braced(o.entries.map((e) => `${printAddrMask(e)};`)),
      ].join("\n");
    }
    case "group-map": {
      const seed = o.seed !== 0 ? ` seed=${o.seed}` : "";
      return [
        `group-map ${o.direction} role=${o.role} ${printName(o.name)} size=${hashTableSize(o.size, o.entries.length)}${seed}`,
        braced(o.entries.map((e) => `${printAddrMask(e)}, group=${e.group};`)),
      ].join("\n");
    }
    case "dstlist":
      return [
        `pool ${o.role}/dstlist (name ${o.name}; policy ${o.policy};)`,
        braced(o.members.map((m) => `${m.ifname !== undefined ? `${m.ifname}:` : ""}${printIp(m.address)};`)),
      ].join("\n");
  }
}

/** What `ippool -f FILE -nRv` prints for the file (stdout only). */
export function listIppool(text: string, readFile?: IppoolFileReader): string {
  return parseIppool(text, readFile)
    .map((o) => `${printIppoolObject(o)}\n`)
    .join("");
}
