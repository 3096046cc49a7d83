/**
 * `nft -j list ruleset` (or `nft -j list table inet qjail`): the tables that
 * exist and, per rule, its counter and comment. qjail's generated rules carry
 * a comment naming the exposure that owns them, so counters are attributed by
 * comment. Partner: {@link countersByComment}.
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
  match?: { op: string; left: { payload?: { protocol: string; field: string } }; right: unknown };
  dnat?: { addr?: string; port?: number };
}

function readExpression(rule: NftRuleCounter, e: NftExpression): void {
  if (e.counter) {
    rule.packets = e.counter.packets;
    rule.bytes = e.counter.bytes;
  }
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
