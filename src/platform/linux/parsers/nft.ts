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
      for (const e of r.expr ?? []) {
        const counter = (e as { counter?: { packets: number; bytes: number } }).counter;
        if (counter) {
          rule.packets = counter.packets;
          rule.bytes = counter.bytes;
        }
      }
      out.rules.push(rule);
    }
  }
  return out;
}

/** Packets and bytes per rule comment within one table, summed over its rules. */
export function countersByComment(ruleset: NftRuleset, table: string): Map<string, { packets: number; bytes: number }> {
  const out = new Map<string, { packets: number; bytes: number }>();
  for (const r of ruleset.rules) {
    if (r.table !== table || r.comment === undefined || r.packets === undefined) continue;
    const prev = out.get(r.comment) ?? { packets: 0, bytes: 0 };
    out.set(r.comment, { packets: prev.packets + r.packets, bytes: prev.bytes + (r.bytes ?? 0) });
  }
  return out;
}
