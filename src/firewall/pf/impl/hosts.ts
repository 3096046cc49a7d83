/**
 * pfctl's address lookups: host() (a literal, a network, an interface name
 * with `:network`/`:broadcast`/`:peer`/`:0`, or a host name) and
 * ifa_lookup() over the host's interfaces. pfctl asks the running kernel for
 * interfaces and the resolver for names; qjail answers from a description of
 * the host instead ({@link PfHostEnv}), so the same file reads the same way
 * on any machine. The default environment is the host FreeBSD's pfctl test
 * driver ran on: lo0 with ::1, fe80::1%lo0 and 127.0.0.1, and em0.
 */
import type { PfAddress, PfIfFlags } from "../ast.js";
import { maskOfBits, parseV4Net, parseV4Strict, parseV6, type AddressFamily } from "./address.js";

export interface PfInterfaceAddress {
  family: AddressFamily;
  /** 128-bit pf_addr value (IPv4 in the top word). */
  addr: bigint;
  prefix: number;
  /** IPv6 scope (the interface index) for link-local addresses; 0 otherwise. */
  scope: number;
  broadcast?: bigint;
  peer?: bigint;
}

export interface PfInterface {
  name: string;
  index: number;
  loopback: boolean;
  broadcast: boolean;
  pointToPoint: boolean;
  mtu: number;
  /** Interface groups (`lo` for lo0, `egress`, …); the all group is implicit. */
  groups: string[];
  addresses: PfInterfaceAddress[];
  /** Link speed in bit/s, for ALTQ when no bandwidth is given; 0 when unknown. */
  speed: number;
}

export interface PfHostEnv {
  interfaces: PfInterface[];
  /** Host names and the addresses the resolver returns for them, in order. */
  hosts: ReadonlyMap<string, readonly string[]>;
}

/** A parsed address node (pfctl's struct node_host). Masks of dynamic addresses are shared and mutable, as in pfctl. */
export interface HostNode {
  address: PfAddress;
  af: 0 | AddressFamily;
  not: boolean;
  /** IPv6 scope of a link-local literal or interface address. */
  ifindex: number;
  /** route-to pools: the interface. */
  ifname: string | null;
}

const v6 = (text: string): bigint => (parseV6(text) as { addr: bigint }).addr;
const v4 = (text: string): bigint => parseV4Strict(text) as bigint;

/** The FreeBSD host pfctl's regression driver ran on (../shared/reference/pfctl-corpus.md). */
export function defaultHostEnv(): PfHostEnv {
  return {
    interfaces: [
      {
        name: "em0",
        index: 1,
        loopback: false,
        broadcast: true,
        pointToPoint: false,
        mtu: 1500,
        groups: [],
        addresses: [],
        speed: 1000000000,
      },
      {
        name: "lo0",
        index: 2,
        loopback: true,
        broadcast: false,
        pointToPoint: false,
        mtu: 16384,
        groups: ["lo"],
        addresses: [
          { family: 6, addr: v6("::1"), prefix: 128, scope: 0 },
          { family: 6, addr: v6("fe80::1"), prefix: 64, scope: 2 },
          { family: 4, addr: v4("127.0.0.1"), prefix: 8, scope: 0 },
        ],
        speed: 0,
      },
    ],
    hosts: new Map([["localhost", ["::1", "127.0.0.1"]]]),
  };
}

/**
 * An environment with the given interfaces added to (or replacing those of)
 * the default one: `{ em0: ["192.0.2.1/24"] }`.
 */
export function hostEnvWith(
  base: PfHostEnv,
  interfaces: Readonly<Record<string, readonly string[]>>,
  hosts?: Readonly<Record<string, readonly string[]>>,
): PfHostEnv {
  const list = base.interfaces.map((i) => ({ ...i, addresses: [...i.addresses] }));
  let nextIndex = Math.max(0, ...list.map((i) => i.index)) + 1;
  for (const [name, addrs] of Object.entries(interfaces)) {
    let iface = list.find((i) => i.name === name);
    if (!iface) {
      iface = {
        name,
        index: nextIndex++,
        loopback: /^lo\d/.test(name),
        broadcast: !/^lo\d/.test(name),
        pointToPoint: /^(tun|gif|gre|ppp)\d/.test(name),
        mtu: 1500,
        groups: /^lo\d/.test(name) ? ["lo"] : [],
        addresses: [],
        speed: 0,
      };
      list.push(iface);
    }
    iface.addresses = [];
    for (const a of addrs) {
      const [text, pfx] = a.split("/");
      const p4 = parseV4Strict(text ?? "");
      if (p4 !== null) {
        const prefix = pfx === undefined ? 32 : Number(pfx);
        const mask = maskOfBits(prefix);
        iface.addresses.push({
          family: 4,
          addr: p4,
          prefix,
          scope: 0,
          broadcast: (p4 & mask) | (((1n << 128n) - 1n) & ~mask & (0xffffffffn << 96n)),
        });
        continue;
      }
      const p6 = parseV6(text ?? "");
      if (p6 !== null) {
        const linkLocal = p6.addr >> 118n === 0x3fan;
        iface.addresses.push({
          family: 6,
          addr: p6.addr,
          prefix: pfx === undefined ? 128 : Number(pfx),
          scope: linkLocal ? iface.index : 0,
        });
      }
    }
  }
  const hostMap = new Map(base.hosts);
  for (const [n, addrs] of Object.entries(hosts ?? {})) hostMap.set(n, [...addrs]);
  return { interfaces: list, hosts: hostMap };
}

export const NO_IF_FLAGS: PfIfFlags = { network: false, broadcast: false, peer: false, noalias: false };

function isGroup(env: PfHostEnv, name: string): boolean {
  return env.interfaces.some((i) => i.groups.includes(name));
}

export function interfaceExists(env: PfHostEnv, name: string): boolean {
  return isGroup(env, name) || env.interfaces.some((i) => i.name === name);
}

export function interfaceByName(env: PfHostEnv, name: string): PfInterface | undefined {
  return env.interfaces.find((i) => i.name === name);
}

/** if_nametoindex(): 0 for an interface the host does not have. */
export function interfaceIndex(env: PfHostEnv, name: string): number {
  return interfaceByName(env, name)?.index ?? 0;
}

export function interfaceName(env: PfHostEnv, index: number): string | null {
  if (index === 0) return null;
  return env.interfaces.find((i) => i.index === index)?.name ?? null;
}

/** pfctl's ifa_skip_if(): whether an interface's address is left out for `filter`. */
function skipInterface(filter: string | null, name: string): boolean {
  if (filter === null || filter === "") return false;
  if (name === filter) return false;
  const n = filter.length;
  if (n < 1 || n >= 16) return true;
  if (/[0-9]$/.test(filter)) return true;
  if (!name.startsWith(filter)) return true;
  return !/[0-9]/.test(name.charAt(n));
}

/** pfctl's ifa_lookup(): the addresses of an interface, a group, or (for `self`) every interface. */
export function lookupInterface(env: PfHostEnv, name: string, flags: PfIfFlags): HostNode[] {
  if (isGroup(env, name)) {
    const out: HostNode[] = [];
    for (const member of env.interfaces.filter((i) => i.groups.includes(name)))
      out.push(...lookupInterface(env, member.name, flags));
    return out;
  }
  const filter = name === "self" ? null : name;
  const out: HostNode[] = [];
  for (const iface of env.interfaces) {
    if (skipInterface(filter, iface.name)) continue;
    let got4 = false;
    let got6 = false;
    for (const a of iface.addresses) {
      if (flags.broadcast && (a.family !== 4 || !iface.broadcast)) continue;
      if (flags.peer && !iface.pointToPoint) continue;
      if (flags.network && a.scope > 0) continue;
      if (flags.noalias && a.family === 4 && got4) continue;
      if (flags.noalias && a.family === 6 && got6) continue;
      if (a.family === 4) got4 = true;
      else got6 = true;
      let addr = flags.broadcast ? (a.broadcast ?? 0n) : flags.peer ? (a.peer ?? 0n) : a.addr;
      const bits = flags.network ? a.prefix : a.family === 4 ? 32 : 128;
      const mask = maskOfBits(bits);
      addr &= mask;
      out.push({
        address: { type: "addrmask", addr, mask },
        af: a.family,
        not: false,
        ifindex: a.scope,
        ifname: iface.name,
      });
    }
  }
  return out;
}

function setMask(node: HostNode, bits: number): void {
  const a = node.address;
  const mask = maskOfBits(bits);
  if (a.type === "addrmask") node.address = { type: "addrmask", addr: a.addr & mask, mask };
  else if (a.type === "dynif") node.address = { ...a, mask };
}

/** set_ipmask() on a node, in place (pfctl mutates shared nodes; the quirks depend on it). */
export function setNodeMask(node: HostNode, bits: number): void {
  setMask(node, bits);
}

/** C strtol(s, &end, 0) over the whole string: decimal, 0x hex or 0 octal; null if anything is left over. */
export function strtolBase0(s: string): number | null {
  if (/^0[xX][0-9a-fA-F]+$/.test(s)) return Number.parseInt(s.slice(2), 16);
  if (/^0[0-7]*$/.test(s)) return Number.parseInt(s, 8);
  if (/^[1-9][0-9]*$/.test(s)) return Number(s);
  return null;
}

export type HostResult = { nodes: HostNode[] } | { error: string };

/** Parse `:network`-style suffixes; null when a suffix is not one of them (not an interface then). */
export function interfaceModifiers(
  text: string,
): { name: string; flags: PfIfFlags } | { error: string } | null {
  let name = text;
  const flags = { ...NO_IF_FLAGS };
  for (let p = name.lastIndexOf(":"); p >= 0; p = name.lastIndexOf(":")) {
    const suffix = name.slice(p + 1);
    if (suffix === "network") flags.network = true;
    else if (suffix === "broadcast") flags.broadcast = true;
    else if (suffix === "peer") flags.peer = true;
    else if (suffix === "0") flags.noalias = true;
    else return null;
    name = name.slice(0, p);
  }
  const modes = Number(flags.network) + Number(flags.broadcast) + Number(flags.peer);
  if (modes > 1) return { error: "illegal combination of interface modifiers" };
  return { name, flags };
}

/**
 * pfctl's host(): `text` is an IPv4 address or network, an IPv6 address
 * (with `%zone`), an interface or group name with modifiers, or a host name,
 * tried in that order.
 */
export function resolveHost(env: PfHostEnv, text: string): HostResult {
  const slash = text.lastIndexOf("/");
  let mask = -1;
  let bare = text;
  if (slash >= 0) {
    const n = strtolBase0(text.slice(slash + 1));
    if (n === null || n > 128) return { error: `invalid netmask '${text.slice(slash)}'` };
    mask = n;
    bare = text.slice(0, slash);
  }
  // IPv4
  const v4net = slash >= 0 ? parseV4Net(text) : null;
  const v4addr = slash >= 0 ? (v4net?.addr ?? null) : parseV4Strict(text);
  if (v4addr !== null) {
    const bits = v4net ? v4net.bits : 32;
    const m = maskOfBits(bits);
    return {
      nodes: [
        {
          address: { type: "addrmask", addr: v4addr & m, mask: m },
          af: 4,
          not: false,
          ifindex: 0,
          ifname: null,
        },
      ],
    };
  }
  // IPv6
  const p6 = parseV6(bare);
  if (p6 !== null) {
    const m = maskOfBits(mask < 0 ? 128 : mask);
    const ifindex =
      p6.zone === null ? 0 : /^\d+$/.test(p6.zone) ? Number(p6.zone) : interfaceIndex(env, p6.zone);
    if (p6.zone !== null && ifindex === 0) return { error: `no IP address found for ${text}` };
    return {
      nodes: [
        {
          address: { type: "addrmask", addr: p6.addr & m, mask: m },
          af: 6,
          not: false,
          ifindex,
          ifname: null,
        },
      ],
    };
  }
  // Interface
  const mods = interfaceModifiers(bare);
  if (mods !== null) {
    if ("error" in mods) return { error: mods.error };
    if ((mods.flags.network || mods.flags.broadcast) && mask > -1)
      return { error: "network or broadcast lookup, but extra netmask given" };
    if (interfaceExists(env, mods.name) || mods.name === "self") {
      const nodes = lookupInterface(env, mods.name, mods.flags);
      if (mask > -1) for (const n of nodes) setMask(n, mask);
      if (nodes.length > 0) return { nodes };
      return { error: `no IP address found for ${text}` };
    }
  }
  // Resolver: host names the environment knows, and numeric forms getaddrinfo also reads.
  let name = bare;
  let noalias = false;
  if (name.endsWith(":0")) {
    noalias = true;
    name = name.slice(0, -2);
  }
  const answers = env.hosts.get(name) ?? (parseV4Strict(name) !== null ? [name] : undefined);
  if (answers) {
    const nodes: HostNode[] = [];
    let got4 = false;
    let got6 = false;
    for (const a of answers) {
      const a4 = parseV4Strict(a);
      if (a4 !== null) {
        if (noalias && got4) continue;
        got4 = true;
        const m = maskOfBits(mask < 0 ? 32 : mask);
        nodes.push({
          address: { type: "addrmask", addr: a4 & m, mask: m },
          af: 4,
          not: false,
          ifindex: 0,
          ifname: null,
        });
        continue;
      }
      const a6 = parseV6(a);
      if (a6 !== null) {
        if (noalias && got6) continue;
        got6 = true;
        const m = maskOfBits(mask < 0 ? 128 : mask);
        nodes.push({
          address: { type: "addrmask", addr: a6.addr & m, mask: m },
          af: 6,
          not: false,
          ifindex: 0,
          ifname: null,
        });
      }
    }
    if (nodes.length > 0) return { nodes };
  }
  return { error: `no IP address found for ${text}` };
}
