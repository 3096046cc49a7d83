/**
 * Name tables ipf and ipnat consult while parsing and printing. They mirror
 * the FreeBSD base system's /etc/protocols and /etc/services for the names
 * rule files actually use, and IPFilter's own ICMP and IP-option tables, so
 * output does not depend on the machine qjail runs on.
 */

/** IP protocol numbers by name (FreeBSD /etc/protocols, first name of each entry). */
export const PROTOCOL_NUMBERS: ReadonlyMap<string, number> = new Map([
  ["ip", 0],
  ["icmp", 1],
  ["igmp", 2],
  ["ggp", 3],
  ["ipencap", 4],
  ["st2", 5],
  ["tcp", 6],
  ["egp", 8],
  ["igp", 9],
  ["pup", 12],
  ["udp", 17],
  ["hmp", 20],
  ["xns-idp", 22],
  ["rdp", 27],
  ["ipv6", 41],
  ["ipv6-route", 43],
  ["ipv6-frag", 44],
  ["idrp", 45],
  ["rsvp", 46],
  ["gre", 47],
  ["esp", 50],
  ["ah", 51],
  ["skip", 57],
  ["ipv6-icmp", 58],
  ["ipv6-nonxt", 59],
  ["ipv6-opts", 60],
  ["ospf", 89],
  ["ipip", 94],
  ["etherip", 97],
  ["encap", 98],
  ["pim", 103],
  ["ipcomp", 108],
  ["vrrp", 112],
  ["carp", 112],
  ["l2tp", 115],
  ["sctp", 132],
  ["udplite", 136],
  ["pfsync", 240],
  ["divert", 258],
]);

const PROTOCOL_NAMES = new Map<number, string>();
for (const [name, number] of PROTOCOL_NUMBERS)
  if (!PROTOCOL_NAMES.has(number)) PROTOCOL_NAMES.set(number, name);

/** The name getprotobynumber() gives for a protocol, or null when /etc/protocols has none. */
export function protocolName(number: number): string | null {
  return PROTOCOL_NAMES.get(number) ?? null;
}

/**
 * ICMP type names in lib/icmptypes.c order, with the IPv4 and ICMPv6 value of
 * each (-1: no such type in that family). Printing uses the first name whose
 * value matches, as icmptypename() does.
 */
const ICMP_TYPE_LIST: readonly [name: string, v4: number, v6: number][] = [
  ["echo", 8, 128],
  ["echorep", 0, 129],
  ["fqdnquery", -1, 139],
  ["fqdnreply", -1, 140],
  ["infoqry", -1, 139],
  ["inforeq", 15, 139],
  ["inforep", 16, 140],
  ["listendone", -1, 132],
  ["listenqry", -1, 130],
  ["listenrep", -1, 131],
  ["maskrep", 18, -1],
  ["maskreq", 17, -1],
  ["memberqry", -1, 130],
  ["memberred", -1, 132],
  ["memberreply", -1, 131],
  ["neighadvert", -1, 136],
  ["neighborsol", -1, 135],
  ["neighborsolicit", -1, 135],
  ["paramprob", 12, 4],
  ["redir", 5, 137],
  ["renumber", -1, 138],
  ["routerad", 9, 134],
  ["routeradvert", 9, 134],
  ["routersol", 10, 133],
  ["routersolcit", 10, 133],
  ["squench", 4, -1],
  ["timest", 13, -1],
  ["timestrep", 14, -1],
  ["timex", 11, 3],
  ["toobig", -1, 2],
  ["unreach", 3, 1],
  ["whorep", -1, 140],
  ["whoreq", -1, 139],
];

/** The ICMP (inet) or ICMPv6 (inet6) type a name stands for, or null. */
export function icmpTypeNumber(family: "inet" | "inet6", name: string): number | null {
  const row = ICMP_TYPE_LIST.find((t) => t[0] === name);
  if (!row) return null;
  const v = family === "inet6" ? row[2] : row[1];
  return v >= 0 ? v : null;
}

/** The name ipf prints for an ICMP type, or null (printed as a number). */
export function icmpTypeName(type: number, family: "inet" | "inet6" = "inet"): string | null {
  const row = ICMP_TYPE_LIST.find((t) => (family === "inet6" ? t[2] : t[1]) === type);
  return row ? row[0] : null;
}

/** ICMP unreachable codes by index, as ipf names them after `code` and in `return-icmp(…)`. */
export const ICMP_CODES: readonly string[] = [
  "net-unr",
  "host-unr",
  "proto-unr",
  "port-unr",
  "needfrag",
  "srcfail",
  "net-unk",
  "host-unk",
  "isolate",
  "net-prohib",
  "host-prohib",
  "net-tos",
  "host-tos",
  "filter-prohib",
  "host-preced",
  "cutoff-preced",
];

/** IP options in the order ipf prints them (lib/ionames.c); `bit` is ipf's option mask bit. */
export const IP_OPTIONS: readonly { name: string; bit: number }[] = [
  { name: "nop", bit: 0x000001 },
  { name: "rr", bit: 0x000002 },
  { name: "zsu", bit: 0x000004 },
  { name: "mtup", bit: 0x000008 },
  { name: "mtur", bit: 0x000010 },
  { name: "encode", bit: 0x000020 },
  { name: "ts", bit: 0x000040 },
  { name: "tr", bit: 0x000080 },
  { name: "sec", bit: 0x000100 },
  { name: "lsrr", bit: 0x000200 },
  { name: "e-sec", bit: 0x000400 },
  { name: "cipso", bit: 0x000800 },
  { name: "satid", bit: 0x001000 },
  { name: "ssrr", bit: 0x002000 },
  { name: "addext", bit: 0x004000 },
  { name: "visa", bit: 0x008000 },
  { name: "imitd", bit: 0x010000 },
  { name: "eip", bit: 0x020000 },
  { name: "finn", bit: 0x040000 },
  { name: "dps", bit: 0x080000 },
  { name: "sdb", bit: 0x100000 },
  { name: "nsapa", bit: 0x200000 },
  { name: "rtralrt", bit: 0x400000 },
  { name: "ump", bit: 0x800000 },
];

/** IP security classes after `sec-class`, in print order (lib/ipoptsec.c). */
export const SECURITY_CLASSES: readonly { name: string; bit: number }[] = [
  { name: "reserv-4", bit: 0x01 },
  { name: "topsecret", bit: 0x02 },
  { name: "secret", bit: 0x04 },
  { name: "reserv-3", bit: 0x08 },
  { name: "confid", bit: 0x10 },
  { name: "unclass", bit: 0x20 },
  { name: "reserv-2", bit: 0x40 },
  { name: "reserv-1", bit: 0x80 },
];

/** Packet property tests after `with`, in the order ipf prints them. `opt`/`ipopts` are handled apart. */
export const WITH_FLAGS: readonly string[] = [
  "short",
  "frag",
  "frag-body",
  "nat",
  "lowttl",
  "bad",
  "bad-src",
  "bad-nat",
  "oow",
  "mbcast",
  "bcast",
  "mcast",
  "state",
  "v6hdrs",
];

/**
 * IPv6 extension headers named after `with v6hdr` (ipf_y.y ipv6optwords) and
 * their next-header numbers; the order is the print order.
 */
export const IPV6_HEADERS: readonly { name: string; proto: number }[] = [
  { name: "hopopts", proto: 0 },
  { name: "ipv6", proto: 41 },
  { name: "routing", proto: 43 },
  { name: "frag", proto: 44 },
  { name: "esp", proto: 50 },
  { name: "ah", proto: 51 },
  { name: "none", proto: 59 },
  { name: "dstopts", proto: 60 },
  { name: "mobility", proto: 135 },
];

/** TCP flag letters in ipf's print order and their bits. */
export const TCP_FLAG_LETTERS = "FSRPAUEC";
export const TCP_FLAG_BITS: readonly number[] = [0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80];

/** The mask ipf applies when `flags X` has no `/mask`: FSRPAU. */
export const DEFAULT_FLAG_MASK = 0x3f;

/** Length ipf keeps of a tag name (IPFTAG_LEN). */
export const TAG_LENGTH = 16;
