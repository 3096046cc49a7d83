/**
 * One packet's path through a pf configuration, as data: the translation
 * rules considered and the one that translated it (before/after), every
 * filter rule considered with why it did or did not match, the rule that
 * decided (first `quick` match, else the last match), and the state entry.
 * `qjail fw trace --pf` prints it with {@link formatPfTrace}; it is pure so
 * tests and `fw lint` use it directly.
 *
 * Partners: {@link PfEngine} (engine.ts) evaluates; parseFriendlyPfPacket
 * (packet.ts) builds the packet; {@link pfEvalConfig} assembles pf.conf and
 * the anchors loaded beside it.
 */
import type { PfAnchor, PfRule, PfTableEntry } from "../ast.js";
import type { PfParseResult } from "../index.js";
import { printRule } from "../impl/print.js";
import type { PfHostEnv } from "../impl/hosts.js";
import { PfEngine, type PfEvalConfig, type PfRuleStep } from "./engine.js";
import { describePfPacket, endpointText, protoText, type PfPacket } from "./packet.js";

export interface PfTraceSource {
  /** Where the rules came from, for references: a file path, or `anchor qjail/expose`. */
  file: string;
  /** The anchor the text was loaded into; "" for pf.conf. */
  anchor: string;
  result: PfParseResult;
}

export interface PfTraceRuleRef {
  file: string;
  line: number;
  /** The rule as pfctl prints it (one expansion of the source line). */
  text: string;
}

export interface PfTraceReport {
  packet: string;
  direction: "in" | "out";
  interface: string;
  skipped: string | null;
  translation: {
    stage: string;
    considered: { rule: PfTraceRuleRef; matched: boolean; why: string | null; depth: number }[];
    applied: { rule: PfTraceRuleRef; kind: string } | null;
    before: string;
    after: string;
    note: string | null;
  };
  filter: {
    considered: {
      rule: PfTraceRuleRef;
      matched: boolean;
      why: string | null;
      quick: boolean;
      depth: number;
    }[];
    decidedBy: (PfTraceRuleRef & { how: "quick" | "last match" | "rdr pass" }) | null;
  };
  verdict: "pass" | "block";
  stateCreated: string | null;
  notes: string[];
  result: string;
}

/** pf.conf's parse result plus rulesets loaded into anchors, with the tables and skip list pf would have. */
export function pfEvalConfig(sources: readonly PfTraceSource[], env: PfHostEnv): PfEvalConfig {
  const main = sources.find((s) => s.anchor === "")?.result.main ?? {
    name: "",
    path: "",
    inline: false,
    ruleset: { scrub: [], nat: [], rdr: [], binat: [], filter: [] },
  };
  const anchors = new Map<string, PfAnchor>();
  const tables = new Map<string, PfTableEntry[]>();
  const skip: string[] = [];
  for (const s of sources) {
    if (s.anchor !== "") anchors.set(s.anchor, s.result.main);
    for (const st of s.result.statements)
      if (st.kind === "table") tables.set(st.table.name, st.table.entries);
    if (s.anchor === "") skip.push(...s.result.skip);
  }
  return { main, anchors, tables, skip, env };
}

function refFor(sources: readonly PfTraceSource[], anchor: string, r: PfRule): PfTraceRuleRef {
  // Inline anchors' rules live in the file that holds them (pf.conf, as a rule).
  const src = sources.find((s) => s.anchor === anchor) ?? sources.find((s) => s.anchor === "");
  const file = r.span.file ?? src?.file ?? (anchor ? `anchor ${anchor}` : "pf.conf");
  return { file, line: r.span.line, text: printRule(r, { anchorPaths: true }) };
}

/** Evaluate one packet and describe what pf does with it. */
export function tracePfPacket(
  sources: readonly PfTraceSource[],
  env: PfHostEnv,
  packet: PfPacket,
): PfTraceReport {
  const engine = new PfEngine(pfEvalConfig(sources, env));
  const out = engine.process(packet);
  const anchorOf = (step: PfRuleStep): string => step.anchor.replace(/^\//, "");
  const ref = (anchor: string, r: PfRule): PfTraceRuleRef => refFor(sources, anchor, r);
  const t = out.translation;
  const ends = (x: { src: bigint; sport: number | null; dst: bigint; dport: number | null }): string =>
    `${endpointText(packet.family, x.src, x.sport)} -> ${endpointText(packet.family, x.dst, x.dport)}`;
  const original = { src: packet.src, sport: packet.sport, dst: packet.dst, dport: packet.dport };
  const stage =
    packet.direction === "in"
      ? "inbound, before filtering: rdr rules, then binat; the first match translates"
      : "outbound, before filtering: binat rules, then nat; the first match translates";
  let state: string | null = null;
  if (out.state) {
    const p = out.packet;
    const iface = out.state.rule.state.ifBound ? packet.ifname : "all";
    const proto = protoText(packet.proto);
    if (packet.direction === "in") {
      const stack = endpointText(packet.family, p.dst, p.dport);
      const wire = endpointText(packet.family, packet.dst, packet.dport);
      state = `${iface} ${proto} ${stack}${stack !== wire ? ` (${wire})` : ""} <- ${endpointText(packet.family, p.src, p.sport)}`;
    } else {
      const wire = endpointText(packet.family, p.src, p.sport);
      const stack = endpointText(packet.family, packet.src, packet.sport);
      state = `${iface} ${proto} ${wire}${stack !== wire ? ` (${stack})` : ""} -> ${endpointText(packet.family, p.dst, p.dport)}`;
    }
    if (out.state.kind !== "keep") state += ` (${out.state.kind} state)`;
  }
  const passes = out.verdict === "pass";
  const result = out.skipped
    ? `passed, unfiltered: ${describePfPacket(packet)}`
    : passes
      ? `${out.decidedBy ? "passed" : "no filter rule matched; pf passes by default"}: ${describePfPacket(out.packet)}`
      : `dropped${out.decidedBy?.rule.block.kind && out.decidedBy.rule.block.kind !== "drop" ? ` (${out.decidedBy.rule.block.kind})` : ""}`;
  return {
    packet: describePfPacket(packet),
    direction: packet.direction,
    interface: packet.ifname,
    skipped: out.skipped ? (out.notes[0] ?? "skipped") : null,
    translation: {
      stage,
      considered: out.translationSteps.map((s) => ({
        rule: ref(anchorOf(s), s.rule),
        matched: s.matched,
        why: s.why,
        depth: s.depth,
      })),
      applied: t ? { rule: ref(t.anchor.replace(/^\//, ""), t.rule), kind: t.kind } : null,
      before: ends(original),
      after: t ? ends(t.after) : ends(original),
      note: t?.portRange ? `nat picks a free source port in ${t.portRange[0]}:${t.portRange[1]}` : null,
    },
    filter: {
      considered: out.filterSteps.map((s) => ({
        rule: ref(anchorOf(s), s.rule),
        matched: s.matched,
        why: s.why,
        quick: s.rule.quick,
        depth: s.depth,
      })),
      decidedBy: out.decidedBy
        ? { ...ref(out.decidedBy.anchor.replace(/^\//, ""), out.decidedBy.rule), how: out.decidedBy.how }
        : null,
    },
    verdict: out.verdict,
    stateCreated: state,
    notes: out.skipped ? [] : out.notes,
    result,
  };
}

/** The human-readable trace `qjail fw trace --pf` prints. */
export function formatPfTrace(r: PfTraceReport): string {
  const lines: string[] = [`packet: ${r.direction} on ${r.interface} ${r.packet}`];
  if (r.skipped) {
    lines.push(r.skipped, `result: ${r.result}`);
    return lines.join("\n") + "\n";
  }
  lines.push(`translation (${r.translation.stage}):`);
  if (r.translation.considered.length === 0) lines.push("  (no translation rules)");
  for (const c of r.translation.considered) {
    const indent = "  ".repeat(c.depth + 1);
    lines.push(`${indent}${c.rule.file}:${c.rule.line}  ${c.rule.text}`);
    lines.push(`${indent}    ${c.matched ? "matches" : `no match: ${c.why ?? ""}`}`);
  }
  if (r.translation.applied)
    lines.push(
      `  ${r.translation.applied.kind.startsWith("no ") ? "not translated, by" : "translated by"} ${r.translation.applied.rule.file}:${r.translation.applied.rule.line}: ${r.translation.before}  =>  ${r.translation.after}`,
    );
  else lines.push("  no translation");
  if (r.translation.note) lines.push(`  (${r.translation.note})`);
  lines.push("filter rules (the last match decides; quick stops at the first):");
  if (r.filter.considered.length === 0)
    lines.push(
      r.filter.decidedBy?.how === "rdr pass" ? "  (rdr pass: not consulted)" : "  (no filter rules)",
    );
  for (const c of r.filter.considered) {
    const indent = "  ".repeat(c.depth + 1);
    lines.push(`${indent}${c.rule.file}:${c.rule.line}  ${c.rule.text}`);
    lines.push(
      `${indent}    ${c.matched ? (c.quick ? "matches (quick: stops here)" : "matches (a later match would override)") : `no match: ${c.why ?? ""}`}`,
    );
  }
  if (r.filter.decidedBy)
    lines.push(
      `decided by ${r.filter.decidedBy.file}:${r.filter.decidedBy.line} (${r.filter.decidedBy.how}): ${r.verdict}`,
    );
  else lines.push(`no filter rule matched: ${r.verdict}`);
  if (r.stateCreated) lines.push(`state entry created: ${r.stateCreated}`);
  for (const n of r.notes) lines.push(`note: ${n}`);
  lines.push(`result: ${r.result}`);
  return lines.join("\n") + "\n";
}
