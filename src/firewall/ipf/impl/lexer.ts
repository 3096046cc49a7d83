/**
 * Source handling shared by the ipf.conf and ipnat.conf parsers: joins
 * continuation lines, drops comments, records and substitutes variables, and
 * cuts each logical line into tokens that remember where in the original text
 * they came from.
 */
import { IpfDiagnosticCode, LineIndex, type IpfDiagnostic } from "./diagnostics.js";

export interface Token {
  kind: "word" | "punct" | "string";
  /** Word or punctuation text; for strings the contents without quotes. */
  text: string;
  /** Offset in the original text. */
  offset: number;
  /** Length in the original text (a token from a variable spans the `$name`). */
  length: number;
}

/** One statement's worth of source: continuation lines joined, comments removed, variables substituted. */
export interface LogicalLine {
  tokens: Token[];
  /** Offset of the first character in the original text. */
  offset: number;
  /** Length in the original text up to the end of the last line it covers. */
  length: number;
}

export interface Assignment {
  name: string;
  value: string;
  offset: number;
  length: number;
}

export class DiagnosticSink {
  readonly list: IpfDiagnostic[] = [];
  readonly index: LineIndex;
  constructor(text: string) {
    this.index = new LineIndex(text);
  }
  add(
    code: IpfDiagnosticCode,
    message: string,
    offset: number,
    length: number,
    severity: "error" | "warning" = "error",
  ): void {
    const { line, column } = this.index.position(offset);
    this.list.push({ code, severity, message, offset, length: Math.max(1, length), line, column });
  }
}

const WORD_CHARS = new Uint8Array(128);
for (const c of "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.:-*\\@+$?")
  WORD_CHARS[c.charCodeAt(0)] = 1;
const isWordChar = (code: number) => code < 128 && WORD_CHARS[code] === 1;
const TWO_CHAR_PUNCT = new Set(["->", "<=", ">=", "!=", "<>", "><"]);
const ONE_CHAR_PUNCT = new Set([
  "(",
  ")",
  "{",
  "}",
  ",",
  "/",
  "=",
  "!",
  "<",
  ">",
  ";",
  "|",
  "&",
  "~",
  "[",
  "]",
]);

/**
 * Split `text` into logical lines. `variables` holds predefined values
 * (IPF_PREDEFINED style) and receives every `name = value;` assignment.
 * Assignments are reported to `onAssign` and produce no logical line.
 */
export function logicalLines(
  text: string,
  variables: Map<string, string>,
  sink: DiagnosticSink,
  onAssign?: (a: Assignment) => void,
): LogicalLine[] {
  const out: LogicalLine[] = [];
  // Pieces of the original text that make up one logical line: the part of
  // each physical line before any comment, without a trailing backslash.
  let pieces: [number, number][] = [];
  let continuing = false;
  let pos = 0;
  while (pos <= text.length) {
    let nl = text.indexOf("\n", pos);
    if (nl < 0) nl = text.length;
    let end = nl > pos && text.charCodeAt(nl - 1) === 13 ? nl - 1 : nl;
    // A backslash before the newline joins the next line with nothing in
    // between: ipf reads "1\<nl>28" as "128". It does so even in a comment.
    const joins = end > pos && text.charCodeAt(end - 1) === 92 && nl < text.length;
    if (joins) end--;
    let quote = 0;
    let cut = end;
    for (let k = continuing && pieces.length === 0 ? pos : pos; k < end; k++) {
      const c = text.charCodeAt(k);
      if (c === 34 || c === 39) quote = quote === 0 ? c : quote === c ? 0 : quote;
      else if (c === 35 && quote === 0) {
        cut = k;
        break;
      }
    }
    if (cut > pos) pieces.push([pos, cut]);
    continuing = joins;
    if (!joins) {
      if (pieces.length > 0) {
        const line = finishPieces(text, pieces, nl, variables, sink, onAssign);
        if (line) out.push(line);
      }
      pieces = [];
    }
    pos = nl + 1;
  }
  return out;
}

function finishPieces(
  text: string,
  pieces: [number, number][],
  endOffset: number,
  variables: Map<string, string>,
  sink: DiagnosticSink,
  onAssign?: (a: Assignment) => void,
): LogicalLine | null {
  const raw =
    pieces.length === 1
      ? text.slice(pieces[0]![0], pieces[0]![1])
      : pieces.map(([a, b]) => text.slice(a, b)).join("");
  if (raw.trim() === "") return null;
  const map = new Int32Array(raw.length);
  let k = 0;
  for (const [a, b] of pieces) for (let i = a; i < b; i++) map[k++] = i;
  const lead = raw.length - raw.trimStart().length;
  const startOffset = map[lead] as number;
  return finishLine(raw, map, startOffset, endOffset, variables, sink, onAssign);
}

function finishLine(
  raw: string,
  map: ArrayLike<number>,
  startOffset: number,
  endOffset: number,
  variables: Map<string, string>,
  sink: DiagnosticSink,
  onAssign?: (a: Assignment) => void,
): LogicalLine | null {
  const assign = /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*("([^"]*)"|'([^']*)'|([^\s;"']*))\s*;?\s*$/.exec(raw);
  if (assign && !/^\s*(set)\b/.test(raw)) {
    const name = assign[1] as string;
    const value = assign[3] ?? assign[4] ?? assign[5] ?? "";
    variables.set(name, value);
    onAssign?.({ name, value, offset: startOffset, length: endOffset - startOffset });
    return null;
  }
  const expanded = substitute(raw, map, variables, sink, 0);
  const tokens = tokenize(expanded.text, expanded.map, sink);
  if (tokens.length === 0) return null;
  return { tokens, offset: startOffset, length: Math.max(1, endOffset - startOffset) };
}

function substitute(
  text: string,
  map: ArrayLike<number>,
  variables: Map<string, string>,
  sink: DiagnosticSink,
  depth: number,
): { text: string; map: ArrayLike<number> } {
  if (!text.includes("$") || depth > 16) return { text, map };
  let outText = "";
  const outMap: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    if (c === "$") {
      const m = /^\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))/.exec(text.slice(i));
      if (m) {
        const name = (m[1] ?? m[2]) as string;
        const at = map[i] as number;
        const value = variables.get(name);
        if (value === undefined) {
          sink.add(
            IpfDiagnosticCode.UndefinedVariable,
            `variable ${JSON.stringify(name)} is not defined`,
            at,
            m[0].length,
          );
        } else {
          const inner = substitute(
            value,
            new Array<number>(value.length).fill(at),
            variables,
            sink,
            depth + 1,
          );
          outText += inner.text;
          for (let j = 0; j < inner.map.length; j++) outMap.push(inner.map[j] as number);
        }
        i += m[0].length - 1;
        continue;
      }
    }
    outText += c;
    outMap.push(map[i] as number);
  }
  return { text: outText, map: outMap };
}

/** Cut one logical line into tokens. */
export function tokenize(text: string, map: ArrayLike<number>, sink: DiagnosticSink): Token[] {
  const tokens: Token[] = [];
  const span = (from: number, to: number) => {
    const start = map[from] as number;
    const end = (map[Math.max(from, to - 1)] as number) + 1;
    return { offset: start, length: Math.max(1, end - start) };
  };
  let i = 0;
  while (i < text.length) {
    const c = text[i] as string;
    if (c === " " || c === "\t" || c === "\r") {
      i++;
      continue;
    }
    if (c === '"' || c === "'") {
      const close = text.indexOf(c, i + 1);
      if (close < 0) {
        const s = span(i, text.length);
        sink.add(IpfDiagnosticCode.Unterminated, `string starting with ${c} is never closed`, s.offset, 1);
        tokens.push({ kind: "string", text: text.slice(i + 1), ...s });
        break;
      }
      tokens.push({ kind: "string", text: text.slice(i + 1, close), ...span(i, close + 1) });
      i = close + 1;
      continue;
    }
    const two = text.slice(i, i + 2);
    if (TWO_CHAR_PUNCT.has(two)) {
      tokens.push({ kind: "punct", text: two, ...span(i, i + 2) });
      i += 2;
      continue;
    }
    if (isWordChar(text.charCodeAt(i))) {
      let j = i + 1;
      while (
        j < text.length &&
        isWordChar(text.charCodeAt(j)) &&
        !(text.charCodeAt(j) === 45 && text.charCodeAt(j + 1) === 62)
      )
        j++;
      tokens.push({ kind: "word", text: text.slice(i, j), ...span(i, j) });
      i = j;
      continue;
    }
    if (ONE_CHAR_PUNCT.has(c)) {
      tokens.push({ kind: "punct", text: c, ...span(i, i + 1) });
      i++;
      continue;
    }
    const s = span(i, i + 1);
    sink.add(IpfDiagnosticCode.UnexpectedToken, `unexpected character ${JSON.stringify(c)}`, s.offset, 1);
    i++;
  }
  return tokens;
}

/** A cursor over one statement's tokens with the error helpers both parsers use. */
export class ParseError extends Error {
  constructor(
    readonly code: IpfDiagnosticCode,
    message: string,
    readonly offset: number,
    readonly length: number,
  ) {
    super(message);
  }
}

export class Cursor {
  pos = 0;
  constructor(
    readonly tokens: Token[],
    readonly line: LogicalLine,
  ) {}
  peek(ahead = 0): Token | undefined {
    return this.tokens[this.pos + ahead];
  }
  atEnd(): boolean {
    return this.pos >= this.tokens.length;
  }
  next(): Token {
    const t = this.tokens[this.pos];
    if (!t) throw this.endError("more of the rule");
    this.pos++;
    return t;
  }
  /** True (and consumed) when the next token is this word or punctuation. */
  accept(text: string): Token | undefined {
    const t = this.peek();
    if (t && t.kind !== "string" && t.text === text) {
      this.pos++;
      return t;
    }
    return undefined;
  }
  is(text: string, ahead = 0): boolean {
    const t = this.peek(ahead);
    return t !== undefined && t.kind !== "string" && t.text === text;
  }
  expect(text: string, what = JSON.stringify(text)): Token {
    const t = this.peek();
    if (!t) throw this.endError(what);
    if (t.kind === "string" || t.text !== text) throw this.unexpected(t, what);
    this.pos++;
    return t;
  }
  word(what: string): Token {
    const t = this.peek();
    if (!t) throw this.endError(what);
    if (t.kind !== "word") throw this.unexpected(t, what);
    this.pos++;
    return t;
  }
  endError(what: string): ParseError {
    const last = this.tokens[this.tokens.length - 1];
    const at = last ? last.offset + last.length : this.line.offset;
    return new ParseError(
      IpfDiagnosticCode.UnexpectedEnd,
      `rule ends where ${what} was expected`,
      Math.max(0, at - 1),
      1,
    );
  }
  unexpected(t: Token, what: string): ParseError {
    const shownText = t.kind === "string" ? `"${t.text}"` : t.text;
    return new ParseError(
      IpfDiagnosticCode.UnexpectedToken,
      `expected ${what}, found ${JSON.stringify(shownText)}`,
      t.offset,
      t.length,
    );
  }
  fail(code: IpfDiagnosticCode, message: string, t: Token | undefined): ParseError {
    if (!t) return new ParseError(code, message, this.line.offset, this.line.length);
    return new ParseError(code, message, t.offset, t.length);
  }
}

/** The source span from `start` to the last token the cursor consumed. */
export function spanSince(
  start: Token,
  cur: Cursor,
  sink: DiagnosticSink,
): { offset: number; length: number; line: number; column: number } {
  const last = cur.tokens[cur.pos - 1] ?? start;
  return {
    offset: start.offset,
    length: last.offset + last.length - start.offset,
    ...sink.index.position(start.offset),
  };
}

/** Cut a line's tokens at `;`: each piece is one rule. */
export function splitStatements(tokens: Token[]): Token[][] {
  const out: Token[][] = [];
  let cur: Token[] = [];
  for (const t of tokens) {
    cur.push(t);
    if (t.kind === "punct" && t.text === ";") {
      out.push(cur);
      cur = [];
    }
  }
  if (cur.length > 0) out.push(cur);
  return out.filter((s) => !(s.length === 1 && s[0]?.text === ";"));
}
