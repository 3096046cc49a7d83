/**
 * The IPFilter rule languages: ipf.conf (filter rules) and ipnat.conf (NAT
 * rules), parsed into the typed tree of `./ast.ts` and printed back exactly as
 * IPFilter 5.1.2's `ipf -Rnv` / `ipnat -Rnv` list them.
 *
 * - {@link parseIpf} reads ipf.conf text; print the rules with {@link printIpf}
 *   (whole file) or {@link printIpfRule} (one rule).
 * - {@link parseIpnat} reads ipnat.conf text; print with {@link printIpnat} or
 *   {@link printIpnatRule}.
 * - Both parsers keep going after an error: every bad line is reported in
 *   `diagnostics` (codes {@link IpfDiagnosticCode}), and the rules that parsed
 *   are returned. Show a diagnostic to a human with {@link formatDiagnostic}.
 * - Semantic checks over parsed rules (rdr/pass interplay, shadowed rules)
 *   live in `./lint.ts` ({@link lintRules}).
 *
 * Internals are in `./impl/`; nothing outside this folder should import them.
 */
import type { FilterRule, IpfStatement, IpnatStatement, NatRule } from "./ast.js";
import type { IpfDiagnostic } from "./impl/diagnostics.js";
import type { ParseOptions } from "./impl/common.js";
import { parseIpfText } from "./impl/ipf-parser.js";
import { parseIpnatText } from "./impl/ipnat-parser.js";
import { printFilterRule, type PrintOptions } from "./impl/print-ipf.js";
import { printNatRule } from "./impl/print-ipnat.js";

export type * from "./ast.js";
export {
  IpfDiagnosticCode,
  formatDiagnostic,
  type IpfDiagnostic,
  type DiagnosticSeverity,
} from "./impl/diagnostics.js";
export type { ParseOptions } from "./impl/common.js";
export type { PrintOptions } from "./impl/print-ipf.js";

export interface IpfParseResult {
  /** Filter rules in load order; `{a,b}` lists are already expanded into one rule each. */
  rules: FilterRule[];
  /** Rules, `set` tunables and variable assignments in source order. */
  statements: IpfStatement[];
  /** Every problem found, in source order of discovery. Errors mean ipf would reject that line. */
  diagnostics: IpfDiagnostic[];
}

export interface IpnatParseResult {
  rules: NatRule[];
  statements: IpnatStatement[];
  diagnostics: IpfDiagnostic[];
}

/**
 * Parse ipf.conf text as ipf(8) does: `#` comments, `\` continuation lines,
 * `name = "value";` variables and `$name`/`${name}` references (predefined
 * ones via `opts.variables`), `set` tunables. Host names resolve only through
 * `opts.hosts` (and `localhost`). A line with an error yields no rule (ipf
 * would not load it) unless `opts.recover` asks for a best-effort rule.
 * Print the result with {@link printIpf}.
 */
export function parseIpf(text: string, opts?: ParseOptions): IpfParseResult {
  return parseIpfText(text, opts);
}

/** Parse ipnat.conf text as ipnat(8) does. Print the result with {@link printIpnat}. */
export function parseIpnat(text: string, opts?: ParseOptions): IpnatParseResult {
  return parseIpnatText(text, opts);
}

/**
 * One filter rule in ipf's canonical form, without a trailing newline, e.g.
 * `pass in quick on em0(!) proto tcp from any to 10.0.0.2/32 port = 80 flags S/FSRPAU keep state # count 0`.
 * Interfaces not in `opts.interfaces` get ipf's `(!)` "not present" mark.
 * Partner of {@link parseIpf}; a whole file is {@link printIpf}.
 */
export function printIpfRule(rule: FilterRule, opts?: PrintOptions): string {
  return printFilterRule(rule, opts);
}

/** Every rule, one per line, newline-terminated: what `ipf -Rnvf FILE` writes to stdout. */
export function printIpf(rules: readonly FilterRule[], opts?: PrintOptions): string {
  return rules.map((r) => printFilterRule(r, opts) + "\n").join("");
}

/** One NAT rule in ipnat's canonical form, without a trailing newline. Partner of {@link parseIpnat}. */
export function printIpnatRule(rule: NatRule): string {
  return printNatRule(rule);
}

/** Every NAT rule, newline-terminated: what `ipnat -Rnvf FILE` writes to stdout. */
export function printIpnat(rules: readonly NatRule[]): string {
  return rules.map((r) => printNatRule(r) + "\n").join("");
}

/**
 * The rules ipf/ipnat would have printed before giving up: their parser
 * calls exit(1) at the first syntax error (lib/lexer.c yyerror), after
 * printing every rule loaded so far.
 */
function beforeFirstError<T extends { span: { offset: number } }>(
  rules: readonly T[],
  diagnostics: readonly IpfDiagnostic[],
): T[] {
  const first = diagnostics.find((d) => d.severity === "error");
  return first === undefined ? [...rules] : rules.filter((r) => r.span.offset < first.offset);
}

/**
 * `ipf -Rnvf FILE`'s stdout for this text: every rule up to the first
 * syntax error (stderr, where ipf reports it, is not part of the result).
 */
export function listIpf(text: string, opts?: ParseOptions & PrintOptions): string {
  const r = parseIpf(text, opts);
  return printIpf(beforeFirstError(r.rules, r.diagnostics), opts);
}

/** `ipnat -Rnvf FILE`'s stdout for this text, up to the first syntax error as ipnat stops there. */
export function listIpnat(text: string, opts?: ParseOptions): string {
  const r = parseIpnat(text, opts);
  return printIpnat(beforeFirstError(r.rules, r.diagnostics));
}

/**
 * What `ipf -Rnvf` / `ipnat -Rnvf` print for a parsed file — every rule in
 * ipf's canonical form, `(!)` after interfaces not in `opts.interfaces` —
 * or null when the file does not load (an error: the real tool stops at it
 * and `qjail fw lint --print` prints nothing).
 */
export function listLoaded(
  parsed: IpfParseResult | IpnatParseResult,
  opts: PrintOptions = {},
): string | null {
  if (parsed.diagnostics.some((d) => d.severity === "error")) return null;
  const rules = parsed.rules as readonly (FilterRule | NatRule)[];
  return rules.map((r) => (r.kind === "filter" ? printFilterRule(r, opts) : printNatRule(r)) + "\n").join("");
}
