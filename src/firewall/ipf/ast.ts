/**
 * The typed syntax tree of IPFilter's two rule languages, as ipf(8) reads
 * ipf.conf and ipnat(8) reads ipnat.conf (IPFilter 5.1.2).
 *
 * The tree is plain data: interfaces and discriminated unions, no classes, so
 * it can be built by hand in tests, serialised to JSON and walked by the packet
 * evaluator. Every rule carries the source position of the line it came from.
 *
 * Values are held the way the kernel holds them after ipf/ipnat parsed them,
 * because that is what both the printer and the evaluator need:
 * - addresses are already masked (`10.0.0.5/8` is stored as 10.0.0.0 + /8);
 * - ports, protocols, ICMP types and codes, TOS and TTL are numbers (service
 *   and protocol names were looked up at parse time);
 * - `{a,b}` lists in a filter rule were expanded into one rule per combination,
 *   exactly as ipf does (the expanded rules share one `span`).
 *
 * Partner modules: `index.ts` (parseIpf/parseIpnat build these trees,
 * printIpf/printIpnat turn them back into canonical text).
 */

/** Where a rule or token starts in the source text. Lines and columns are 1-based; offset is 0-based UTF-16. */
export interface SourceSpan {
  offset: number;
  length: number;
  line: number;
  column: number;
}

/** Address family: `inet` (IPv4, AF_INET) or `inet6` (IPv6, AF_INET6). */
export type Family = "inet" | "inet6";

// ---------------------------------------------------------------------------
// Shared pieces
// ---------------------------------------------------------------------------

/**
 * One address with its mask, as IPFilter stores it (i6addr_t addr + mask).
 * `address` is the network address after masking, in canonical text form
 * (dotted quad or RFC 5952 IPv6). `mask` is the mask in the same form. `prefix`
 * is the mask length when the mask is contiguous, else null (ipf then prints
 * the dotted mask: `0.0.0.5/0.0.0.255`).
 */
export interface CidrAddress {
  kind: "cidr";
  family: Family;
  address: string;
  mask: string;
  prefix: number | null;
}

/**
 * An address taken from an interface at load time: `ppp0/net`, `le0/peer`,
 * `le0/bcast`, or the interface's own address (`le0` alone, or `le0/32`).
 */
export interface InterfaceAddress {
  kind: "interface";
  /**
   * The interface named. ipf lists every such address under the name of the
   * rule's first `on` interface (lib/printfr.c passes fr_ifnames[0]), or none.
   */
  name: string;
  /** Written `(name)`: the interface's current address, looked up when it changes (FRI_DYNAMIC). */
  dynamic?: boolean;
  /**
   * Which address of the interface: its own, its network (`/net`), its
   * network with the interface's mask (`/netmasked`), broadcast or
   * point-to-point peer.
   */
  which: "address" | "network" | "netmasked" | "broadcast" | "peer";
  /** For `which: "address"` written with a mask (`from ed0/32`): the prefix length applied to the interface's address. */
  prefix?: number;
}

/**
 * A lookup table reference: `pool/101`, `hash/303`, `pool/name`, or `dstlist/x`
 * (NAT destination lists). `name` is the table number or name as written.
 */
export interface PoolReference {
  kind: "pool";
  /** pool (radix tree, ippool "tree"), hash (hash table) or dstlist (destination list). */
  table: "pool" | "hash" | "dstlist";
  name: string;
}

/**
 * An anonymous tree pool written inline in a filter rule:
 * `from pool=(!1.1.1.1,2.2.2.2,!2.2.0.0/16)`. ipf creates an ippool tree for it
 * and the rule refers to it by number (printed as `pool/0` under -n).
 */
export interface InlinePool {
  kind: "inline-pool";
  /** `pool=(…)` makes a tree pool, `hash=(…)` a hash table; absent means pool. */
  table?: "pool" | "hash";
  /** Entries in source order; each may be negated (`!`) to exclude it. */
  entries: { negated: boolean; address: CidrAddress }[];
}

/** `any` — matches every address of either family (ipf) / `0/0` (ipnat). */
export interface AnyAddress {
  kind: "any";
  /**
   * Written as a bare interface name of the rule (`to em0` in `pass in on em0
   * …`): ipf keeps no address for it and the rule matches any address.
   */
  viaInterface?: string;
}

/** The address part of a `from`/`to` term. */
export type AddressMatch = AnyAddress | CidrAddress | InterfaceAddress | PoolReference | InlinePool;

/**
 * A port comparison after `port`:
 * - `{op: "=", port: 80}` for `port = 80` / `port eq 80`;
 * - `!=`, `<`, `>`, `<=`, `>=` likewise (`ne`, `lt`, `gt`, `le`, `ge`);
 * - ranges: `a <> b` (outside, exclusive), `a >< b` (inside, exclusive),
 *   `a:b` (inside, inclusive).
 */
export type PortMatch =
  | { kind: "compare"; op: "=" | "!=" | "<" | ">" | "<=" | ">="; port: number }
  | { kind: "range"; op: "<>" | "><" | ":"; low: number; high: number };

/** An interface name with the position it was written at. `name` is as written (IFNAMSIZ-limited). */
export interface InterfaceName {
  name: string;
  span: SourceSpan;
}

/** A routing target for `to`, `dup-to`, `reply-to`, `fastroute`: `qe0`, `qe0:127.0.0.1`, or `dstlist/name`. */
export type RouteTarget =
  { kind: "interface"; name: string; address: string | null } | { kind: "dstlist"; name: string };

/** A protocol as stored: `number` is the IP protocol; `tcpudp` is ipf's combined tcp/udp match (`proto tcp/udp`). */
export type Protocol = { kind: "number"; number: number } | { kind: "tcpudp" };

// ---------------------------------------------------------------------------
// ipf.conf: filter rules
// ---------------------------------------------------------------------------

/**
 * What a matching rule does. `block` may carry a return: `return-rst`
 * (TCP RST), `return-icmp[(code)]` (ICMP unreachable from the router),
 * `return-icmp-as-dest[(code)]` (ICMP unreachable that appears to come from the
 * destination). `log` and `count` only record; `skip N` jumps over N rules;
 * `call [now] func/group` invokes a kernel function; `auth`/`preauth` defer to
 * an authentication daemon; `nomatch` explicitly matches nothing; `decapsulate`
 * strips a tunnel header.
 */
export type FilterAction =
  | { kind: "pass" }
  | { kind: "block"; return: BlockReturn | null }
  | { kind: "log" }
  | { kind: "count" }
  | { kind: "skip"; count: number }
  | { kind: "auth"; return?: BlockReturn | null }
  | { kind: "preauth" }
  | { kind: "nomatch" }
  | { kind: "call"; now: boolean; func: string }
  | { kind: "decapsulate" };

/** A `block return-…` variant. `code` is the ICMP unreachable code (e.g. 1 = host-unr, 3 = port-unr), or null for the default. */
export type BlockReturn =
  | { kind: "return-rst" }
  | { kind: "return-icmp"; code: number | null }
  | { kind: "return-icmp-as-dest"; code: number | null };

/**
 * `log [body] [first] [or-block] [level facility.priority]`. `body` logs the
 * first 128 bytes of payload; `first` logs only the first packet of a state;
 * `orBlock` blocks the packet if it cannot be logged; `level` is the syslog
 * facility and priority names as written (e.g. `auth.info`, or just `warn`).
 */
export interface LogOptions {
  body: boolean;
  first: boolean;
  orBlock: boolean;
  level: { facility: string | null; priority: string | null } | null;
}

/**
 * One `from`/`to` side. `negated` is `!` before the address (`from !1.1.1.1`).
 * `port` is null when no port is given.
 */
export interface Endpoint {
  negated: boolean;
  address: AddressMatch;
  port: PortMatch | null;
  /** Where this side was written (`from 10.0.0.0/8 port = 53`); absent when the rule said `all` or left the side out. */
  span?: SourceSpan;
}

/**
 * An IP option or flag test after `with`: e.g. `with opt lsrr not opt sec`,
 * `with not ipopts`, `with short`, `with frag`, `with mcast`. `negated` is
 * `not`/`no`; `name` is the keyword (`ipopts`, `short`, `frag`, `frags`,
 * `frag-body`, `mcast`, `bcast`, `mbcast`, `state`, `bad`, `bad-src`,
 * `bad-nat`, `oow`, `lowttl`, `multicast`, `nat`, `opt`, `v6hdr`); for `opt`
 * the `options` list holds the IP option names (`lsrr`, `ssrr`, `rr`, `ts`,
 * `sec`, `sec-class`, …) and `secClasses` the security classes named after
 * `sec-class` (`topsecret,confid`).
 */
export interface WithOption {
  negated: boolean;
  name: string;
  options: string[];
  secClasses: string[];
}

/**
 * TCP flags test: `flags S/SA` means "of the flags in `mask`, exactly those in
 * `set` are set". Letters are F S R P A U E C (ECE) W (CWR); both are kept as
 * bit masks (FIN=0x01 SYN=0x02 RST=0x04 PSH=0x08 ACK=0x10 URG=0x20 ECE=0x40 CWR=0x80).
 * When the rule gave no mask (`flags S`), ipf uses FSRPAU (0x3f) and `mask`
 * holds that.
 */
export interface TcpFlags {
  set: number;
  mask: number;
}

/** `icmp-type T [code C]`, numeric after name lookup. `code` is null when any code matches. */
export interface IcmpMatch {
  type: number;
  code: number | null;
}

/**
 * `keep state [(options)]`. Option meanings: `limit N` caps the number of
 * states this rule creates; `strict` enforces TCP window tracking in order;
 * `loose` relaxes sequence checks; `newisn` randomises the initial sequence
 * number; `noIcmpErr` stops ICMP errors matching the state; `sync` replicates
 * to a peer; `age` sets the idle timeouts in seconds (`age 10/20`: 10 for the
 * forward direction, 20 for the reply); `icmpHead` names the group that ICMP
 * packets for this state are checked against; `maxSrcs` caps distinct sources;
 * `maxPerSrc` caps states per source with `maxPerSrcMask` prefix bits.
 */
export interface KeepState {
  limit: number | null;
  strict: boolean;
  loose: boolean;
  newisn: boolean;
  noIcmpErr: boolean;
  sync: boolean;
  age: { forward: number; reply: number } | null;
  icmpHead: string | null;
  maxSrcs: number | null;
  maxPerSrc: { count: number; mask: number } | null;
}

/** `keep frag[s] [(strict)]`: remember fragments of a passed packet so later fragments pass. */
export interface KeepFrags {
  strict: boolean;
}

/** `set-tag(log=N, nat=NAME)`: tags for ipmon and for NAT rules with `tag`. Null when not given. */
export interface SetTag {
  log: number | null;
  nat: string | null;
}

/**
 * `exp { "ip.src != 1.1.1.0/24; tcp.dport = 80;" }`: an expression match.
 * Each clause is `field op value[,value…]` (op `=` or `!=`).
 */
export interface ExpressionMatch {
  clauses: { field: string; op: "=" | "!="; values: string[] }[];
}

/**
 * One ipf.conf filter rule. Fields are in the order ipf prints them.
 * - `group` puts the rule in group N (`group 100`); `head` starts a new group;
 * - `insertAt`: `@N` rule position (insertion point);
 * - `on`: receive/send interfaces (`on ed0,vx0`); `inVia`/`outVia`: the other
 *   direction's interface for state (`out-via vx0`);
 * - `family`: `inet`/`inet6` as written, or implied by an address; null = either;
 * - `proto`: null = any protocol;
 * - `all`: ipf holds no IP match for the rule (FR_T_NONE): it said `all` (or
 *   nothing) and no proto/tos/ttl/with/flags/icmp-type; printed as `all`.
 *   `pass in proto tcp all` has `all: false` and prints `from any to any`;
 * - `tos`/`ttl`: exact-match IP TOS byte / TTL;
 * - `pps`: rate limit in packets per second for matches;
 * - `comment`: `comment "text"`.
 */
export interface FilterRule {
  kind: "filter";
  span: SourceSpan;
  /** `@N` before the rule: position to insert at, or null. */
  insertAt: number | null;
  /**
   * A leading number before the action (`100 pass in all`): ipf's "collect"
   * number (fr_collect), printed back in front of the rule. Null when absent or 0.
   */
  collect: number | null;
  action: FilterAction;
  direction: "in" | "out";
  log: LogOptions | null;
  quick: boolean;
  on: InterfaceName[];
  inVia: InterfaceName[];
  outVia: InterfaceName[];
  /** `to IF[:addr]` (route the packet out this way), `dup-to` (copy it), `reply-to` (route replies), `fastroute`. */
  routeTo: RouteTarget | null;
  dupTo: RouteTarget | null;
  replyTo: RouteTarget | null;
  fastroute: boolean;
  family: Family | null;
  /** True when `family` was not written but implied by an address (ipf prints `inet` then too). */
  familyImplied: boolean;
  tos: number | null;
  ttl: number | null;
  proto: Protocol | null;
  /** True when the rule matches every packet of its direction/interface (see above); from/to are then `any` without ports. */
  all: boolean;
  from: Endpoint;
  to: Endpoint;
  /** Expression match (`exp { … }`); when present from/to are unused. */
  expression: ExpressionMatch | null;
  with: WithOption[];
  flags: TcpFlags | null;
  icmp: IcmpMatch | null;
  keepState: KeepState | null;
  keepFrags: KeepFrags | null;
  head: string | null;
  group: string | null;
  setTag: SetTag | null;
  /** `match-tag(nat=NAME)`. */
  matchTag: string | null;
  pps: number | null;
  comment: string | null;
  /** `rule-ttl N`: the rule removes itself after N seconds (fr_die). Absent or null when not given. */
  ruleTtl?: number | null;
}

/** `set NAME VALUE;` style tunable lines (e.g. `set state_max 8000`). */
export interface SetTunable {
  kind: "set";
  span: SourceSpan;
  name: string;
  value: string;
}

/** A `name = "value";` variable assignment. Kept for tools; references are already substituted in rules. */
export interface VariableAssignment {
  kind: "variable";
  span: SourceSpan;
  name: string;
  value: string;
}

/** Anything that can appear in an ipf.conf file after parsing. */
export type IpfStatement = FilterRule | SetTunable | VariableAssignment;

// ---------------------------------------------------------------------------
// ipnat.conf: NAT rules
// ---------------------------------------------------------------------------

/**
 * The NAT rule kinds of ipnat.conf:
 * - `map`: outbound source translation (many to few);
 * - `bimap`: 1:1 bidirectional source translation;
 * - `map-block`: deterministic block mapping with `ports N|auto`;
 * - `rdr`: inbound destination translation (port forwarding);
 * - `rewrite`: translate source and/or destination at once (`-> src A dst B;`);
 * - `encap`/`divert`: wrap in a new IP/UDP header (`-> src A,p dst B,p udp;`).
 */
export type NatKind = "map" | "bimap" | "map-block" | "rdr" | "rewrite" | "divert" | "encap";

/**
 * NAT protocol as written after the target (`tcp`, `udp`, `tcp/udp` (also
 * `tcpudp`), `icmp`, `ip`, or a number). Null = none given (any).
 */
export type NatProtocol =
  | {
      kind: "number";
      number: number;
      /** The name as written (`icmp`), when one was; printers use /etc/protocols names from the number. */
      name?: string | null;
    }
  | { kind: "tcpudp" }
  | { kind: "ip" };

/**
 * The match side of a NAT rule. Simple form: one address (`map le0 10.0.0.0/8 ->`
 * or `rdr le0 9.8.7.6/32 port 80 ->`). Full form: `from A [port] [!] to B [port]`.
 * For the simple form `rdr` matches the destination and `map` the source.
 */
export type NatMatch =
  | { kind: "simple"; address: AddressMatch; ports: NatPortRange | null }
  | {
      kind: "fromto";
      /** `!` before `from`: invert the whole match. */
      negated: boolean;
      from: Endpoint;
      /** `! to …`: invert the destination. */
      toNegated: boolean;
      to: Endpoint;
    };

/** `port 80` or `port 1000-2000` on the match side of a simple rdr. */
export interface NatPortRange {
  low: number;
  high: number;
}

/**
 * Where translated packets go:
 * - `cidr`: one address/mask (`-> 1.2.3.0/24`, `-> 0/32` = the interface's address);
 * - `range`: `-> range 203.1.1.23-203.1.3.45`;
 * - `list`: several rdr targets `-> 1.1.1.1,1.1.1.2` (load-balanced);
 * - `pool`: `dstlist/name` as in rewrite rules;
 * - `none`: no address at all (not valid in ipnat; kept so lint can report it).
 */
export type NatTarget =
  | { kind: "cidr"; address: CidrAddress }
  | { kind: "interface"; address: InterfaceAddress }
  | { kind: "range"; family: Family; low: string; high: string }
  | { kind: "list"; addresses: CidrAddress[] }
  | { kind: "pool"; pool: PoolReference }
  | { kind: "none" };

/**
 * `portmap tcp|udp|tcp/udp LOW:HIGH [sequential]` / `portmap … auto`.
 * `low`/`high` are null for `auto`.
 */
export interface Portmap {
  proto: NatProtocol;
  auto: boolean;
  low: number | null;
  high: number | null;
  sequential: boolean;
}

/**
 * The rdr target port: `port 888` (start of a range mapped one to one),
 * `port 5555-7777`, or `port = 5555` (every matched port to this one port).
 */
export interface RdrTargetPort {
  low: number;
  high: number;
  /** True for `port = N`: all matched ports go to N (IPN_FIXEDDPORT). */
  fixed: boolean;
}

/** `proxy port P name/proto` (map) or `proxy name` (rdr): an application proxy (ftp, pptp, rcmd, …). */
export interface NatProxy {
  name: string;
  /** The port the proxy watches (map form), or null for the rdr form. */
  port: number | null;
  proto: NatProtocol | null;
}

/**
 * Options after the target, as they may appear on any NAT rule:
 * - `roundRobin`: rotate through rdr targets;
 * - `frag`: translate fragments too;
 * - `age`: session idle timeouts, forward/reply (`age 10` = 10/10);
 * - `sticky`: keep a client on the same rdr target;
 * - `mssclamp`: clamp TCP MSS to N;
 * - `tag`: set this NAT tag for `match-tag` filter rules;
 * - `sequential`: assign ports/addresses in order (see Portmap);
 * - `purge`: delete sessions when the rule is removed;
 * - `icmpidmap`: map ICMP ids into a range (`icmpidmap icmp 1000:2000`);
 * - `mapBlockPorts`: `ports N|auto` of a map-block rule (null = not given).
 */
export interface NatOptions {
  roundRobin: boolean;
  frag: boolean;
  age: { forward: number; reply: number } | null;
  sticky: boolean;
  mssclamp: number | null;
  tag: string | null;
  sequential: boolean;
  purge: boolean;
  icmpidmap: { proto: string; low: number; high: number } | null;
  mapBlockPorts: number | "auto" | null;
}

/**
 * The `-> src A[,ports] dst B[,ports]` part of `rewrite`, `divert` and `encap`.
 * Ports may be a single number, a range (`1000-1001` or `1000:2000`), or
 * `port = N` (dst fixed port).
 */
export interface RewriteSide {
  address: NatTarget;
  ports: { low: number; high: number; fixed: boolean } | null;
}

/** One ipnat.conf rule. */
export interface NatRule {
  kind: NatKind;
  /**
   * `no map …` / `no rdr …`: an exception; matching packets are left
   * untranslated and later rules are not tried. Such a rule has no target
   * (`target.kind === "none"`). Absent or false for ordinary rules.
   */
  no?: boolean;
  span: SourceSpan;
  /** For rewrite/divert/encap: `in` or `out` (`rewrite in on bge0 …`); null for map/rdr where the verb decides. */
  direction: "in" | "out" | null;
  /** `map le0` / `rdr adsl0,ppp0`: one or two interfaces (in,out). */
  interfaces: InterfaceName[];
  /** `inet`/`inet6` if written; otherwise the family of the addresses. */
  family: Family;
  /** `proto tcp` on rewrite/divert rules (written before `from`). */
  matchProto: NatProtocol | null;
  match: NatMatch;
  target: NatTarget;
  /** For rdr: port(s) packets are sent to; null = unchanged. */
  targetPort: RdrTargetPort | null;
  /** For rewrite/divert/encap: the src/dst replacement; null for map/rdr. */
  rewrite: { src: RewriteSide; dst: RewriteSide } | null;
  portmap: Portmap | null;
  /** The protocol after the target (`rdr … -> 1.1.1.1 port 80 tcp`, `map … -> 0/32 udp`). */
  proto: NatProtocol | null;
  proxy: NatProxy | null;
  options: NatOptions;
}

/** Anything that can appear in an ipnat.conf file after parsing. */
export type IpnatStatement = NatRule | VariableAssignment;
