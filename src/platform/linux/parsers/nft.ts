import type { ResolvedExposure } from "../../../core/exposure.js";

/**
 * `nft -j list ruleset` (or `nft -j list table inet qjail`): the tables that
 * exist and, per rule, its counter, comment and what it matches. qjail's
 * generated rules carry a comment naming the jail that owns them; counters
 * are attributed to one exposure by what the rule matches
 * ({@link nftExposureCounter}), or summed per comment ({@link countersByComment}).
 */

export interface NftRuleCounter {
  family: string;
  table: string;
  chain: string;
  handle: number;
  comment?: string;
  packets?: number;
  bytes?: number;
  /** `tcp dport N` / `udp dport N-M` matched by the rule. */
  dport?: { proto: string; low: number; high: number };
  /** `ip daddr A` / `ip6 daddr A` matched by the rule. */
  daddr?: string;
  /** dnat target, when the rule translates. */
  dnat?: { addr: string; port?: number };
  /** The rule ends in `accept`. */
  accepts?: boolean;
}

export interface NftRuleset {
  tables: { family: string; name: string }[];
  chains: { family: string; table: string; name: string; hook?: string }[];
  rules: NftRuleCounter[];
}

interface NftJsonRule {
  family: string;
  table: string;
  chain: string;
  handle: number;
  comment?: string;
  expr?: unknown[];
}

export function parseNftJson(text: string): NftRuleset {
  const out: NftRuleset = { tables: [], chains: [], rules: [] };
  if (text.trim() === "") return out;
  const doc = JSON.parse(text) as { nftables?: Record<string, unknown>[] };
  for (const item of doc.nftables ?? []) {
    if ("table" in item) {
      const t = item.table as { family: string; name: string };
      out.tables.push({ family: t.family, name: t.name });
    } else if ("chain" in item) {
      const c = item.chain as { family: string; table: string; name: string; hook?: string };
      const chain: NftRuleset["chains"][number] = { family: c.family, table: c.table, name: c.name };
      if (c.hook !== undefined) chain.hook = c.hook;
      out.chains.push(chain);
    } else if ("rule" in item) {
      const r = item.rule as NftJsonRule;
      const rule: NftRuleCounter = { family: r.family, table: r.table, chain: r.chain, handle: r.handle };
      if (r.comment !== undefined) rule.comment = r.comment;
      for (const e of r.expr ?? []) readExpression(rule, e as NftExpression);
      out.rules.push(rule);
    }
  }
  return out;
}

interface NftExpression {
  counter?: { packets: number; bytes: number };
  accept?: null;
  match?: { op: string; left: { payload?: { protocol: string; field: string } }; right: unknown };
  dnat?: { addr?: string; port?: number };
}

function readExpression(rule: NftRuleCounter, e: NftExpression): void {
  if (e.counter) {
    rule.packets = e.counter.packets;
    rule.bytes = e.counter.bytes;
  }
  if ("accept" in e) rule.accepts = true;
  if (e.dnat?.addr !== undefined) {
    rule.dnat = { addr: e.dnat.addr };
    if (e.dnat.port !== undefined) rule.dnat.port = e.dnat.port;
  }
  const payload = e.match?.left.payload;
  if (!e.match || !payload || e.match.op !== "==") return;
  const right = e.match.right;
  if (
    payload.field === "dport" &&
    (payload.protocol === "tcp" || payload.protocol === "udp" || payload.protocol === "th")
  ) {
    if (typeof right === "number") rule.dport = { proto: payload.protocol, low: right, high: right };
    const range = (right as { range?: [number, number] } | null)?.range;
    if (Array.isArray(range)) rule.dport = { proto: payload.protocol, low: range[0], high: range[1] };
  }
  if (
    payload.field === "daddr" &&
    (payload.protocol === "ip" || payload.protocol === "ip6") &&
    typeof right === "string"
  )
    rule.daddr = right;
}

/** Packets and bytes per rule comment within one table, summed over its rules. */
export function countersByComment(
  ruleset: NftRuleset,
  table: string,
): Map<string, { packets: number; bytes: number }> {
  const out = new Map<string, { packets: number; bytes: number }>();
  for (const r of ruleset.rules) {
    if (r.table !== table || r.comment === undefined || r.packets === undefined) continue;
    const prev = out.get(r.comment) ?? { packets: 0, bytes: 0 };
    out.set(r.comment, { packets: prev.packets + r.packets, bytes: prev.bytes + (r.bytes ?? 0) });
  }
  return out;
}

export interface NftCount {
  packets: number;
  bytes: number;
  /** How many of the exposure's rules the count sums. */
  rules: number;
}

export interface NftExposureCount {
  /** The exposure has at least one DNAT rule in the live table. */
  live: boolean;
  /**
   * Summed over the exposure's DNAT rules: prerouting from ext_if, prerouting
   * from the jail bridge (hairpin from other jails) and output (the host's own
   * connections). NAT chains see only a connection's first packet, so this
   * counts connections to the public port, from anywhere; undefined when no
   * DNAT rule carries a counter.
   */
  connections?: NftCount;
  /**
   * The forward accept rule for the jail's address and port: a forwarded
   * connection's packets before the jail answers (the SYN and its retries),
   * after DNAT and the --from check. Not added to {@link connections}: the
   * same connection passed a DNAT rule too, and the host's own connections
   * never cross forward. Shared by exposures that forward to the same jail
   * port.
   */
  forwarded?: NftCount;
}

function addCount(rules: readonly NftRuleCounter[]): NftCount | undefined {
  const counted = rules.filter((r) => r.packets !== undefined);
  if (counted.length === 0) return undefined;
  return {
    packets: counted.reduce((n, r) => n + (r.packets ?? 0), 0),
    bytes: counted.reduce((n, r) => n + (r.bytes ?? 0), 0),
    rules: counted.length,
  };
}

function sameProto(matched: string, proto: string): boolean {
  return matched === proto || matched === "th";
}

/**
 * The DNAT rules one exposure owns: its protocol and public port range to its
 * jail address. A public range shifted onto other jail ports is one rule per
 * port (src/firewall/nft/generate.ts), each translating to the port at the
 * same offset.
 */
export function ownsDnat(r: NftRuleCounter, e: ResolvedExposure): boolean {
  if (r.dnat === undefined || r.dport === undefined || r.dnat.addr !== e.target) return false;
  if (!sameProto(r.dport.proto, e.proto)) return false;
  if (r.dport.low === e.public.low && r.dport.high === e.public.high) return true;
  const port = r.dport.low;
  return (
    r.dport.high === port &&
    port >= e.public.low &&
    port <= e.public.high &&
    r.dnat.port === e.jailPort.low + (port - e.public.low)
  );
}

/**
 * Attribute the live table's counters to one exposure: by protocol, public
 * port, jail address and the jail named in the rule's comment (the comment
 * alone is not enough: a jail can own several exposures). Partner: {@link parseNftJson}; src/core/status.ts shows
 * {@link NftExposureCount.connections} as the exposure's hits.
 */
export function nftExposureCounter(
  ruleset: NftRuleset,
  table: string,
  e: ResolvedExposure,
): NftExposureCount {
  // qjail's rules name their jail; a rule without a comment is judged by what it matches alone
  const own = ruleset.rules.filter(
    (r) => r.table === table && (r.comment === undefined || r.comment === e.jail),
  );
  const dnat = own.filter((r) => ownsDnat(r, e));
  const forward = own.filter(
    (r) =>
      r.accepts === true &&
      r.dnat === undefined &&
      r.daddr === e.target &&
      r.dport !== undefined &&
      sameProto(r.dport.proto, e.proto) &&
      r.dport.low === e.jailPort.low &&
      r.dport.high === e.jailPort.high,
  );
  const out: NftExposureCount = { live: dnat.length > 0 };
  const connections = addCount(dnat);
  if (connections) out.connections = connections;
  const forwarded = addCount(forward);
  if (forwarded) out.forwarded = forwarded;
  return out;
}
