/**
 * Diagnostics for pf.conf: stable codes, positions, and a caret excerpt for
 * humans. Messages follow pfctl's own wording (so an admin who searches for
 * them finds pf.conf(5) material) and add what to do where pfctl does not.
 */

/**
 * Stable diagnostic codes (QJ46xx). Tools match on these, so a code is never
 * reused for a different meaning.
 */
export enum PfDiagnosticCode {
  /** A token the grammar does not allow here (pfctl: "syntax error"). */
  Syntax = "QJ4601",
  /** `$name` used before `name = …` (pfctl: "macro 'x' not defined"). */
  UndefinedMacro = "QJ4602",
  /** An address, network, interface or host name pfctl cannot resolve. */
  InvalidAddress = "QJ4603",
  /** A port number out of range or a service name /etc/services does not know. */
  InvalidPort = "QJ4604",
  /** A protocol /etc/protocols does not know, or out of range. */
  UnknownProtocol = "QJ4605",
  /** A user or group the base system does not know. */
  UnknownUser = "QJ4606",
  /** A number that is out of range or not a number. */
  InvalidNumber = "QJ4607",
  /** Statements out of pf.conf's order (options, normalization, queueing, translation, filtering). */
  RuleOrder = "QJ4608",
  /** A rule whose parts contradict each other (pfctl's rule_consistent checks). */
  InconsistentRule = "QJ4609",
  /** Every expansion of a rule was rejected (pfctl: "rule expands to no valid combination"). */
  NoValidCombination = "QJ4610",
  /** A quoted string or brace list that is never closed. */
  Unterminated = "QJ4611",
  /** An `include` whose file cannot be read. */
  Include = "QJ4612",
  /** A translation rule without a usable `->` address, or with the wrong address family. */
  Translation = "QJ4613",
  /** An option given twice where pfctl allows it once ("cannot be redefined"). */
  Redefined = "QJ4614",
  /** A `set` option, timeout or limit name or value pfctl does not accept. */
  InvalidOption = "QJ4615",
  /** An ICMP type or code name pfctl does not know. */
  UnknownIcmp = "QJ4616",
  /** Anchor names and inline anchors pfctl refuses. */
  Anchor = "QJ4617",
  /** Table definitions pfctl refuses. */
  Table = "QJ4618",
  /** ALTQ queue definitions pfctl refuses. */
  Queue = "QJ4619",
  /** TCP flags that are not letters of FSRPAUEW, or flags that can never match. */
  InvalidFlags = "QJ4620",
}

export type PfDiagnosticSeverity = "error" | "warning";

/**
 * One problem. `offset`/`length` are in the text of `file` (the main text
 * when undefined); `line`/`column` are 1-based. A problem inside a macro's
 * expansion is reported at the `$name` that brought it in.
 */
export interface PfDiagnostic {
  code: PfDiagnosticCode;
  severity: PfDiagnosticSeverity;
  message: string;
  file?: string;
  offset: number;
  length: number;
  line: number;
  column: number;
}

/** Offsets to 1-based line/column pairs. */
export class LineIndex {
  private readonly starts: number[] = [0];
  constructor(readonly text: string) {
    for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 10) this.starts.push(i + 1);
  }
  position(offset: number): { line: number; column: number } {
    let lo = 0;
    let hi = this.starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((this.starts[mid] as number) <= offset) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo + 1, column: offset - (this.starts[lo] as number) + 1 };
  }
  lineText(line: number): string {
    const start = this.starts[line - 1] ?? this.text.length;
    const next = this.starts[line];
    return this.text.slice(start, next === undefined ? undefined : next - 1).replace(/\r$/, "");
  }
}

/**
 * A diagnostic as humans read it:
 *
 *     pf.conf:7:38: error QJ4604: unknown port sshh
 *       7 | pass in on em0 proto tcp to port sshh
 *         |                                  ^^^^
 */
export function formatPfDiagnostic(d: PfDiagnostic, text: string, fileName = "<input>"): string {
  const index = new LineIndex(text);
  const source = index.lineText(d.line);
  const gutter = String(d.line).length;
  const width = Math.max(1, Math.min(d.length, source.length - d.column + 1));
  return [
    `${d.file ?? fileName}:${d.line}:${d.column}: ${d.severity} ${d.code}: ${d.message}`,
    `  ${d.line} | ${source}`,
    `  ${" ".repeat(gutter)} | ${" ".repeat(Math.max(0, d.column - 1))}${"^".repeat(width)}`,
  ].join("\n");
}
