/**
 * pf.conf, the rule language of pf(4) on FreeBSD: parsed into the typed tree
 * of `./ast.ts` and printed back exactly as `pfctl -o none -nvf FILE` prints
 * it (FreeBSD 12's pfctl: macros and options as they are read, then the
 * rules in load order with defaults written out and lists expanded).
 *
 * - {@link parsePf} reads pf.conf text; {@link listPf} is the whole output
 *   of `pfctl -o none -nvf`, {@link printPfRule} one rule.
 * - The parser keeps going after an error: every problem is in
 *   `diagnostics` (codes {@link PfDiagnosticCode}); show one to a human with
 *   {@link formatPfDiagnostic}.
 * - Addresses resolve against a described host ({@link PfHostEnv}: its
 *   interfaces and host names), never the machine qjail runs on; the default
 *   is the host of FreeBSD's pfctl regression tests (lo0 with ::1,
 *   fe80::1%lo0, 127.0.0.1; em0). {@link hostEnvWith} adds interfaces.
 * - Checks for jail hosts are in `./lint.ts`, packet traces in `./eval/`,
 *   qjail's own anchor is built by `./generate.ts` as this tree.
 *
 * Internals are in `./impl/`; nothing outside this folder should import them.
 */
import type { PfAnchor, PfRule, PfRulesetKind, PfStatement } from "./ast.js";
import { RULESET_ORDER } from "./ast.js";
import { formatPfDiagnostic as formatOne, type PfDiagnostic } from "./impl/diagnostics.js";
import { PfParser, type ParseOptions, type ParseResult } from "./impl/parser.js";
import { printAllRules, printRule, printTable } from "./impl/print.js";

export type * from "./ast.js";
export { RULESET_ORDER } from "./ast.js";
export { PfDiagnosticCode, type PfDiagnostic, type PfDiagnosticSeverity } from "./impl/diagnostics.js";
export type { ParseOptions as PfParseOptions } from "./impl/parser.js";
export { defaultHostEnv, hostEnvWith, type PfHostEnv, type PfInterface } from "./impl/hosts.js";
export { printAddress as printPfAddress } from "./impl/print.js";
export { familyOf as pfAddressFamily } from "./impl/address.js";

export type PfParseResult = ParseResult;

/**
 * Parse pf.conf text as `pfctl -nf` does. `opts.readFile` answers
 * `include`, `table … file` and `load anchor … from` (relative paths are
 * the caller's to resolve; pfctl uses its working directory). Print the
 * result with {@link printPfListing}, or single rules with {@link printPfRule}.
 */
export function parsePf(text: string, opts?: ParseOptions): PfParseResult {
  return new PfParser(text, opts).parse();
}

/** One rule as `pfctl -nv` prints it, without a trailing newline (`block drop in on em0 all`). */
export function printPfRule(rule: PfRule): string {
  return printRule(rule);
}

/** What pfctl prints for a statement read at parse time (a macro, an option, a table, a queue), newline included. */
export function printPfStatement(s: PfStatement): string {
  switch (s.kind) {
    case "macro":
      return `${s.name} = "${s.value}"\n`;
    case "option":
    case "altq":
      return `${s.text}\n`;
    case "table":
      return printTable(s.table);
    case "load-anchor":
    case "skip":
      return "";
  }
}

/** The rules of an anchor in load order, inline anchors indented, as `pfctl -nv` prints them. */
export function printPfRules(anchor: PfAnchor): string {
  return printAllRules(anchor);
}

/**
 * Everything `pfctl -o none -nvf FILE` writes to stdout for a parse result:
 * the statements printed while reading, then — only when the file has no
 * errors, as pfctl stops before loading otherwise — every rule, then the
 * rules of `load anchor` files.
 */
export function printPfListing(result: PfParseResult): string {
  let out = result.statements.map(printPfStatement).join("");
  if (result.diagnostics.some((d) => d.severity === "error")) return out;
  out += printAllRules(result.main);
  for (const la of result.loadedAnchors)
    out += la.result.statements.map(printPfStatement).join("") + printAllRules(la.result.main);
  return out;
}

/** `pfctl -o none -nvf FILE`'s stdout for this text. */
export function listPf(text: string, opts?: ParseOptions): string {
  return printPfListing(parsePf(text, opts));
}

/** Every rule of an anchor (and the inline anchors it calls), in the order pf evaluates each ruleset kind. */
export function allPfRules(anchor: PfAnchor, kinds: readonly PfRulesetKind[] = RULESET_ORDER): PfRule[] {
  const out: PfRule[] = [];
  const walk = (a: PfAnchor, kind: PfRulesetKind): void => {
    for (const r of a.ruleset[kind]) {
      out.push(r);
      if (r.anchor?.inline) walk(r.anchor, kind);
    }
  };
  for (const kind of kinds) walk(anchor, kind);
  return out;
}

/** How many rules of each kind pfctl loads for this text (after list expansion, before any optimizer). */
export function countPfRules(result: PfParseResult): Record<PfRulesetKind, number> {
  const counts = { scrub: 0, nat: 0, rdr: 0, binat: 0, filter: 0 };
  for (const kind of RULESET_ORDER) counts[kind] = allPfRules(result.main, [kind]).length;
  return counts;
}

/**
 * A diagnostic as humans read it, with the offending text underlined:
 *
 *     pf.conf:7:38: error QJ4604: unknown port sshh
 *       7 | pass in on em0 proto tcp to port sshh
 *         |                                  ^^^^
 *
 * `texts` gives the text of included files by name when a diagnostic is in one.
 */
export function formatPfDiagnostic(
  d: PfDiagnostic,
  text: string,
  fileName = "<input>",
  texts?: ReadonlyMap<string, string>,
): string {
  const source = d.file !== undefined ? (texts?.get(d.file) ?? "") : text;
  return formatOne(d, source, d.file ?? fileName);
}
