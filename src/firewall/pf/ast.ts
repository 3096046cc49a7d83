/**
 * The typed tree of a pf.conf as pfctl(8) of FreeBSD 12 reads it.
 *
 * Rules are held the way pfctl hands them to the kernel, because that is what
 * both the printer (`pfctl -nvf` output) and the evaluator need:
 * - macros are substituted and `{ }` lists expanded: one {@link PfRule} per
 *   combination, in pfctl's order (interface, protocol, ICMP type, source
 *   address, source port, OS, destination address, destination port, user,
 *   group), all sharing the `span` of the line they came from;
 * - defaults are filled in (`keep state` and `flags S/SA` on pass rules,
 *   `drop` or the block policy on block rules, the address family taken
 *   from the addresses);
 * - addresses are `struct pf_addr`-like 128-bit values (IPv4 in the first
 *   word) with their masks already applied;
 * - ports, protocols, ICMP types, users and groups are numbers.
 *
 * Rules live in rulesets ({@link PfRuleset}): one list per kind, printed and
 * evaluated in pf's order (scrub, nat, rdr, binat, filter). An `anchor` rule
 * points at the ruleset it calls; inline anchors (`anchor "x" { … }`) carry
 * their rules there.
 *
 * Partner modules: `index.ts` (parsePf builds this tree, printPf prints it),
 * `lint.ts` (checks), `eval/` (packets through it), `generate.ts` (builds
 * qjail's anchor as this tree).
 */

/** Where a statement starts in the source text; lines and columns are 1-based, offset 0-based. */
export interface SourceSpan {
  /** The file the text came from: undefined for the main text, else an `include`d path. */
  file?: string;
  offset: number;
  length: number;
  line: number;
  column: number;
}

export type PfFamily = "inet" | "inet6";

/** The interface-address modifiers of `(em0:network)`, `em0:0` and friends. */
export interface PfIfFlags {
  network: boolean;
  broadcast: boolean;
  peer: boolean;
  /** `:0`: the first address only, no aliases. */
  noalias: boolean;
}

/**
 * An address as pf stores it (`struct pf_addr_wrap`). Values are 128-bit
 * bigints; an IPv4 address is in the top 32 bits.
 */
export type PfAddress =
  | { type: "addrmask"; addr: bigint; mask: bigint }
  /** `a - b`: `addr` is the first address, `end` the last. */
  | { type: "range"; addr: bigint; end: bigint }
  /** `(ifname)`: the interface's addresses, followed as they change. */
  | { type: "dynif"; ifname: string; flags: PfIfFlags; mask: bigint }
  | { type: "table"; name: string }
  | { type: "noroute" }
  | { type: "urpf-failed" };

export type PfPortOp = "=" | "!=" | "<" | "<=" | ">" | ">=" | "><" | "<>" | ":";

/** A port or id comparison: `port = 22`, `port 1024:2048`, `user >= 1000`. */
export interface PfCompare {
  op: PfPortOp;
  a: number;
  b: number;
}

export interface PfRuleAddress {
  address: PfAddress;
  neg: boolean;
  port: PfCompare | null;
}

/** One address of a translation or routing pool. */
export interface PfPoolAddress {
  address: PfAddress;
  /** route-to/reply-to/dup-to: the interface the packet leaves by. */
  ifname: string | null;
}

export type PfPoolType = "none" | "bitmask" | "random" | "source-hash" | "round-robin";

export interface PfPool {
  addresses: PfPoolAddress[];
  type: PfPoolType;
  sticky: boolean;
  /** source-hash key, 32 hex digits. */
  key: string | null;
  /** nat: the source port range (50001:65535 by default, 0:0 with static-port); rdr: the target port(s). */
  proxyPort: [number, number];
}

export type PfAction =
  "pass" | "block" | "scrub" | "no scrub" | "nat" | "no nat" | "binat" | "no binat" | "rdr" | "no rdr";

/** What a block rule does with the packet. */
export type PfBlockReturn =
  | { kind: "drop" }
  | { kind: "return"; icmp: [number, number]; icmp6: [number, number] }
  | { kind: "return-rst"; ttl: number }
  | { kind: "return-icmp"; icmp: [number, number]; icmp6: [number, number] };

export interface PfStateOptions {
  max: number;
  noSync: boolean;
  /** `source-track`: per rule or global (pfctl's PFRULE_SRCTRACK / RULESRCTRACK). */
  sourceTrack: "global" | "rule" | null;
  maxSrcStates: number;
  maxSrcConn: number;
  maxSrcConnRate: { limit: number; seconds: number } | null;
  maxSrcNodes: number;
  overload: { table: string; flush: boolean; global: boolean } | null;
  ifBound: boolean;
  sloppy: boolean;
  /** Timeout slot index (names.ts TIMEOUT_SLOTS) → seconds. */
  timeouts: Map<number, number>;
}

/** A rule as pfctl loads it (one expansion of one line). */
export interface PfRule {
  action: PfAction;
  /** `rdr pass` / `nat pass` / `binat pass`: translated packets skip the filter. */
  natpass: boolean;
  direction: "in" | "out" | null;
  log: { all: boolean; user: boolean; to: number } | null;
  quick: boolean;
  interface: { name: string; not: boolean } | null;
  route: { type: "route-to" | "reply-to" | "dup-to"; pool: PfPool } | null;
  af: PfFamily | null;
  proto: number | null;
  src: PfRuleAddress;
  dst: PfRuleAddress;
  os: string | null;
  uid: PfCompare | null;
  gid: PfCompare | null;
  /** TCP flags to match and the mask, as bit sets of FSRPAUEW (F = 1). */
  flags: number;
  flagset: number;
  icmpType: number | null;
  icmpCode: number | null;
  tos: number;
  /** `prio N` match; 0 means none (pfctl stores prio 0 as PF_PRIO_ZERO). */
  prio: number | null;
  setPrio: [number, number] | null;
  keepState: "keep" | "modulate" | "synproxy" | null;
  state: PfStateOptions;
  /** probability as pf's 32-bit fraction of 2^32; 0 when absent. */
  probability: number;
  block: PfBlockReturn;
  fragment: boolean;
  allowOpts: boolean;
  /** scrub options */
  scrub: {
    noDf: boolean;
    randomId: boolean;
    minTtl: number;
    maxMss: number;
    setTos: number | null;
    reassembleTcp: boolean;
  };
  label: string;
  queue: string | null;
  priorityQueue: string | null;
  tag: string;
  tagged: string;
  taggedNot: boolean;
  rtable: number;
  divertPort: number;
  /** nat/rdr/binat: the translation pool (`->` side). */
  pool: PfPool | null;
  /** anchor, nat-anchor, rdr-anchor, binat-anchor: the ruleset called. */
  anchor: PfAnchor | null;
  /** The rule's number within its ruleset, as `$nr` and `@N` count. */
  nr: number;
  span: SourceSpan;
}

export type PfRulesetKind = "scrub" | "nat" | "rdr" | "binat" | "filter";

export const RULESET_ORDER: readonly PfRulesetKind[] = ["scrub", "nat", "rdr", "binat", "filter"];

/** The rules of one anchor, one list per kind. */
export interface PfRuleset {
  scrub: PfRule[];
  nat: PfRule[];
  rdr: PfRule[];
  binat: PfRule[];
  filter: PfRule[];
}

export interface PfAnchor {
  /** The last path component as pfctl prints it (`_1` for an unnamed inline anchor). */
  name: string;
  /** The path as written or resolved, e.g. `qjail/*`. */
  path: string;
  /** Whether the rules are inline (`anchor "x" { … }`); otherwise the anchor is loaded separately. */
  inline: boolean;
  ruleset: PfRuleset;
}

/** A `table <name>` definition. */
export interface PfTable {
  name: string;
  const: boolean;
  persist: boolean;
  counters: boolean;
  /** Entries in order; `file` items name files to read addresses from. */
  items: ({ kind: "addresses"; addresses: PfTableEntry[] } | { kind: "file"; path: string })[];
  /** `{ }` was written (an explicitly empty table). */
  initAddr: boolean;
  /** Every address the table starts with: the lists, then the files' contents (what pf loads). */
  entries: PfTableEntry[];
  span: SourceSpan;
}

export interface PfTableEntry {
  address: PfAddress;
  family: 4 | 6;
  neg: boolean;
}

/**
 * What pfctl reads besides rules, in source order: each prints one line (or
 * more) under `pfctl -nv` while the file is parsed, before any rule.
 */
export type PfStatement =
  | { kind: "macro"; name: string; value: string; span: SourceSpan }
  | { kind: "option"; name: string; text: string; span: SourceSpan }
  | { kind: "table"; table: PfTable; span: SourceSpan }
  | { kind: "altq"; text: string; span: SourceSpan }
  | { kind: "load-anchor"; anchor: string; file: string; span: SourceSpan }
  | { kind: "skip"; interfaces: string[]; span: SourceSpan };

/** The settings `set …` lines change, with pf's defaults for the rest. */
export interface PfOptions {
  blockPolicy: "drop" | "return";
  statePolicy: "floating" | "if-bound";
  skip: string[];
  timeouts: Map<string, number>;
  limits: Map<string, number>;
  loginterface: string | null;
  hostid: number | null;
  optimization: string | null;
  rulesetOptimization: string | null;
  debug: string | null;
  requireOrder: boolean;
  fingerprints: string | null;
}
