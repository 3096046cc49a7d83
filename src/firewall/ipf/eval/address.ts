/**
 * Address and port matching shared by the filter and NAT evaluators: turning
 * the AST's text addresses into bigints once, at compile time.
 */
import type { AddressMatch, CidrAddress, PortMatch } from "../ast.js";
import { parseV4, parseV6, type Family } from "./packet.js";

export interface CompiledCidr {
  family: Family;
  addr: bigint;
  mask: bigint;
}

/** Where interface addresses (`em0/32`, `0/32` targets) come from: ipftest has none; `fw trace` supplies them. */
export type InterfaceAddresses = ReadonlyMap<string, bigint>;

/** A lookup table as the evaluator sees it: does it contain this address? (p class, `pool/100`). */
export interface AddressTable {
  /** true = listed, false = listed as excluded (`!`), undefined = not listed. */
  lookup(family: Family, addr: bigint): boolean | undefined;
}

/** Addresses the rules name, parsed once: the per-packet path asks for the same few again and again. */
const parsedAddresses = new Map<string, bigint>();

export function parseAddress(family: "inet" | "inet6", text: string): bigint {
  const key = family === "inet" ? text : `6:${text}`;
  const known = parsedAddresses.get(key);
  if (known !== undefined) return known;
  const v = family === "inet" ? parseV4(text) : parseV6(text);
  if (v === undefined) throw new Error(`address ${JSON.stringify(text)} is not ${family}`);
  if (parsedAddresses.size < 65536) parsedAddresses.set(key, v);
  return v;
}

const compiledCidrs = new WeakMap<CidrAddress, CompiledCidr>();

export function compileCidr(c: CidrAddress): CompiledCidr {
  const known = compiledCidrs.get(c);
  if (known) return known;
  const family: Family = c.family === "inet" ? 4 : 6;
  const compiled = { family, addr: parseAddress(c.family, c.address), mask: parseAddress(c.family, c.mask) };
  compiledCidrs.set(c, compiled);
  return compiled;
}

export function prefixMask(family: Family, bits: number): bigint {
  const width = family === 4 ? 32 : 128;
  if (bits <= 0) return 0n;
  return ((1n << BigInt(width)) - 1n) ^ ((1n << BigInt(width - bits)) - 1n);
}

export function cidrContains(c: CompiledCidr, family: Family, addr: bigint): boolean {
  return c.family === family && (addr & c.mask) === c.addr;
}

/** A compiled address test; `describe` is for traces. */
export interface AddressTest {
  test(family: Family, addr: bigint): boolean;
  describe: string;
  /** Mask length, for NAT's most-specific-first ordering (pools count as 0). */
  bits: number;
}

/** An ippool destination list (`pool nat/dstlist (name servers; policy round-robin;) { … }`). */
export interface DestinationList {
  /** Pick a destination for a new session from this source to this destination. */
  select(family: Family, src: bigint, dst: bigint): { addr: bigint; ifname: string | undefined } | undefined;
}

export interface AddressContext {
  interfaces: InterfaceAddresses;
  tables: ReadonlyMap<string, AddressTable>;
  /** `dstlist/NAME` → destination list, for rewrite targets and `to dstlist/NAME`. */
  dstlists?: ReadonlyMap<string, DestinationList>;
}

/** `any`: one test for every rule that says it. */
const ANY: AddressTest = { test: () => true, describe: "any", bits: 0 };

/**
 * Networks compiled, by their AST node: a network's test depends on nothing
 * but the node, so an engine built again on the same parsed rules (the bench
 * builds one per run; `fw trace` per packet set) reuses it instead of making
 * its closures and text again. Tests are never changed once made.
 */
const compiledNetworks = new WeakMap<AddressMatch, AddressTest>();

export function compileAddressMatch(m: AddressMatch, ctx: AddressContext): AddressTest {
  if (m.kind === "any") return ANY;
  if (m.kind === "cidr") {
    const known = compiledNetworks.get(m);
    if (known) return known;
    const t = compileAddressMatchOnce(m, ctx);
    compiledNetworks.set(m, t);
    return t;
  }
  return compileAddressMatchOnce(m, ctx);
}

function compileAddressMatchOnce(m: AddressMatch, ctx: AddressContext): AddressTest {
  switch (m.kind) {
    case "any":
      return ANY;
    case "cidr": {
      const c = compileCidr(m);
      const bits = m.prefix ?? 0;
      const describe = `${m.address}/${m.prefix ?? m.mask}`;
      // The common masks need no bigint arithmetic (which allocates): none, and a single host.
      const fam = c.family;
      const net = c.addr;
      if (c.mask === 0n) {
        // (a & 0) === net: every address when the network is 0, none otherwise.
        const none = net !== 0n;
        return { test: (f) => f === fam && !none, describe, bits };
      }
      const all = fam === 4 ? 0xffffffffn : (1n << 128n) - 1n;
      if (c.mask === all) return { test: (f, a) => f === fam && a === net, describe, bits };
      return { test: (f, a) => cidrContains(c, f, a), describe, bits };
    }
    case "interface": {
      const own = ctx.interfaces.get(m.name);
      return {
        test: (f, a) => own !== undefined && m.which === "address" && f === 4 && a === own,
        describe: `${m.name}'s address`,
        bits: 32,
      };
    }
    case "pool": {
      const key = `${m.table}/${m.name}`;
      return {
        test: (f, a) => ctx.tables.get(key)?.lookup(f, a) === true,
        describe: key,
        bits: 0,
      };
    }
    case "inline-pool": {
      const entries = m.entries.map((e) => ({
        negated: e.negated,
        cidr: compileCidr(e.address),
        bits: e.address.prefix ?? 0,
      }));
      return {
        test: (f, a) => {
          let best: { negated: boolean; bits: number } | undefined;
          for (const e of entries) if (cidrContains(e.cidr, f, a) && (!best || e.bits > best.bits)) best = e;
          return best !== undefined && !best.negated;
        },
        describe: "pool",
        bits: 0,
      };
    }
  }
}

export function portMatches(m: PortMatch, port: number): boolean {
  if (m.kind === "compare") {
    switch (m.op) {
      case "=":
        return port === m.port;
      case "!=":
        return port !== m.port;
      case "<":
        return port < m.port;
      case ">":
        return port > m.port;
      case "<=":
        return port <= m.port;
      case ">=":
        return port >= m.port;
    }
  }
  switch (m.op) {
    case "<>":
      return port < m.low || port > m.high;
    case "><":
      return port > m.low && port < m.high;
    case ":":
      return port >= m.low && port <= m.high;
  }
}

export function describePort(m: PortMatch): string {
  return m.kind === "compare" ? `port ${m.op} ${m.port}` : `port ${m.low} ${m.op} ${m.high}`;
}
