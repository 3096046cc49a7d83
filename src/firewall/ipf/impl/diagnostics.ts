/**
 * Parser diagnostics for the IPFilter rule languages: stable codes, positions
 * in the source text, and a caret excerpt for humans.
 */

/**
 * Stable diagnostic codes (QJ40xx). Tools match on these, so a code is never
 * reused for a different meaning.
 */
export enum IpfDiagnosticCode {
  /** A token that the grammar does not allow at this point. */
  UnexpectedToken = "QJ4001",
  /** The rule ended where more was required. */
  UnexpectedEnd = "QJ4002",
  /** An address, mask or network that cannot be read. */
  InvalidAddress = "QJ4003",
  /** A port number out of 0–65535 or an unknown service name. */
  InvalidPort = "QJ4004",
  /** A protocol name not in /etc/protocols. */
  UnknownProtocol = "QJ4005",
  /** A host name that does not resolve (qjail resolves only names it is given, never DNS). */
  UnknownHost = "QJ4006",
  /** `$name` used before `name = "…";`. */
  UndefinedVariable = "QJ4007",
  /** A number that cannot be read or is out of range. */
  InvalidNumber = "QJ4008",
  /** An interface name written without `on` (`pass in quick rl0 …`); ipf rejects it. */
  MissingOn = "QJ4009",
  /** A protocol written without `proto` (`pass in rl0 tcp …`); ipf rejects it. */
  MissingProto = "QJ4010",
  /** An ICMP type or code name that ipf does not know. */
  UnknownIcmp = "QJ4011",
  /** TCP flags that are neither letters FSRPAUEC nor a number. */
  InvalidFlags = "QJ4012",
  /** IPv4 and IPv6 mixed in one rule. */
  FamilyMismatch = "QJ4013",
  /** A NAT rule that lacks a required address (`rdr rl0 port 6122 -> port 22 tcp`). */
  MissingAddress = "QJ4014",
  /** `sticky` without round-robin or several targets: ipnat ignores it (warning). */
  StickyIgnored = "QJ4015",
  /** A quoted string or `{` list that is never closed. */
  Unterminated = "QJ4016",
  /** A value out of the allowed range (rdr target mask, tag, …). */
  InvalidValue = "QJ4017",
}

export type DiagnosticSeverity = "error" | "warning";

/**
 * One problem found while parsing. `offset`/`length` are in the original text
 * (0-based UTF-16 units), `line`/`column` are 1-based. When a rule came from a
 * variable, the position is that of the `$name` reference.
 */
export interface IpfDiagnostic {
  code: IpfDiagnosticCode;
  severity: DiagnosticSeverity;
  message: string;
  offset: number;
  length: number;
  line: number;
  column: number;
  /** What real ipf(8)/ipnat(8) 5.1.2 does with this (stops here, loads it as any, …). */
  ipf?: string;
}

/** Turns offsets into 1-based line/column pairs. */
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
 * A diagnostic as humans read it, smol-toml style:
 *
 *     ipf.rules:3:15: error QJ4009: interface "rl0" needs "on" before it
 *       3 | pass in quick rl0 tcp from any to any port = 6188 flags S keep state
 *         |               ^^^
 */
export function formatDiagnostic(d: IpfDiagnostic, text: string, fileName = "<input>"): string {
  const index = new LineIndex(text);
  const source = index.lineText(d.line);
  const gutter = String(d.line).length;
  const width = Math.max(1, Math.min(d.length, source.length - d.column + 1));
  const lines = [
    `${fileName}:${d.line}:${d.column}: ${d.severity} ${d.code}: ${d.message}`,
    `  ${d.line} | ${source}`,
    `  ${" ".repeat(gutter)} | ${" ".repeat(Math.max(0, d.column - 1))}${"^".repeat(width)}`,
  ];
  if (d.ipf) lines.push(`  ${" ".repeat(gutter)} = ${d.ipf}`);
  return lines.join("\n");
}
