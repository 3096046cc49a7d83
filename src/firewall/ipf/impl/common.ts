/**
 * What the ipf.conf and ipnat.conf parsers share: the token cursor over the
 * {@link Lexer}, error reporting in ipf's terms, host names (ipf's gethost),
 * service names (getport) and the recovery that lets lint go on after the
 * first error ipf would stop at.
 */
import type { Family, SourceSpan, VariableAssignment } from "../ast.js";
import { IpfDiagnosticCode, LineIndex, type IpfDiagnostic } from "./diagnostics.js";
import { Lexer, type Dictionary, type Token } from "./lexer.js";
import { serviceByName } from "./netdb.js";

/** Options both parsers take. */
export interface ParseOptions {
  /**
   * Predefined variables, as `ipf -D`/IPF_PREDEFINED supplies them: `$name`
   * in the text expands to the value.
   */
  variables?: Record<string, string>;
  /**
   * Host names and their addresses (`<thishost>` included: ipf replaces it
   * with this machine's name). qjail never asks DNS; names not listed here
   * (other than `localhost` and ipf's built-in `test.host.dots`) are reported
   * as QJ4006.
   */
  hosts?: Record<string, string>;
  /**
   * Keep rules that ipf would reject for a recoverable mistake (a missing
   * `on` or `proto`), so lint can still check what the admin meant. The
   * diagnostics are reported either way.
   */
  recover?: boolean;
  /**
   * The address family every rule starts with, as `ipftest -6` (use_inet6)
   * gives it in ipf_y.y's newrule: IPv6 rules then take ICMPv6 type names
   * after `icmp-type` and may test `with v6hdr`.
   */
  family?: "inet" | "inet6";
}

/** A grammar error: ipf(8)'s yyerror, at a token. */
export class ParseError extends Error {
  constructor(
    readonly code: IpfDiagnosticCode,
    message: string,
    readonly offset: number,
    readonly length: number,
    /** ipf's own message (`syntax error`, `service unknown`, …) for the "ipf would" note. */
    readonly ipfMessage = "syntax error",
    /** The token ipf names in its message. */
    readonly ipfToken = "",
  ) {
    super(message);
  }
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
    ipf?: string,
  ): IpfDiagnostic {
    const { line, column } = this.index.position(offset);
    const d: IpfDiagnostic = {
      code,
      severity,
      message,
      offset,
      length: Math.max(1, length),
      line,
      column,
      ...(ipf !== undefined ? { ipf } : {}),
    };
    this.list.push(d);
    return d;
  }
  span(offset: number, end: number): SourceSpan {
    return { offset, length: Math.max(1, end - offset), ...this.index.position(offset) };
  }
}

/** `localhost` and the test name ipf's lib/gethost.c answers itself. */
const BUILTIN_HOSTS: Record<string, { inet?: bigint; inet6?: bigint }> = {
  localhost: { inet: 0x7f000001n },
  "test.host.dots": { inet: 0xfedcba98n, inet6: 0xfe80aa55123456785a5aa5a5fedcba98n },
};

/** ipf's gethost(): names given in the options, `localhost`, `test.host.dots`; never DNS. */
export class HostResolver {
  private readonly hosts = new Map<string, { inet?: bigint; inet6?: bigint }>();
  constructor(extra: Record<string, string> | undefined) {
    for (const [k, v] of Object.entries(BUILTIN_HOSTS)) this.hosts.set(k, v);
    for (const [k, v] of Object.entries(extra ?? {})) {
      const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(v);
      if (v4) {
        const n = v4.slice(1).reduce((acc, o) => acc * 256n + BigInt(Number(o) & 255), 0n);
        this.hosts.set(k, { ...this.hosts.get(k), inet: n });
      } else if (v.includes(":")) {
        const x = parseIpv6Loose(v);
        if (x !== undefined) this.hosts.set(k, { ...this.hosts.get(k), inet6: x });
      }
    }
  }
  resolve(name: string, family: Family): bigint | undefined {
    return this.hosts.get(name)?.[family];
  }
}

function parseIpv6Loose(v: string): bigint | undefined {
  // A tiny copy of the lexer's reading, kept here to avoid an import cycle.
  const parts = v.split("::");
  if (parts.length > 2) return undefined;
  const groups = (s: string) => (s === "" ? [] : s.split(":").map((g) => Number.parseInt(g, 16)));
  const a = groups(parts[0] ?? "");
  const b = parts.length === 2 ? groups(parts[1] ?? "") : [];
  const all = parts.length === 2 ? [...a, ...new Array<number>(8 - a.length - b.length).fill(0), ...b] : a;
  if (all.length !== 8 || all.some((g) => !(g >= 0 && g <= 0xffff))) return undefined;
  return all.reduce((acc, g) => (acc << 16n) | BigInt(g), 0n);
}

/**
 * The token cursor the grammars run on, with ipf's error reporting: the
 * first error is where ipf stops ("syntax error at "X", line N"); what ipf
 * would do is attached to the diagnostic.
 */
export class GrammarParser {
  readonly sink: DiagnosticSink;
  readonly lexer: Lexer;
  readonly resolver: HostResolver;
  readonly variables: Map<string, string>;
  readonly assignments: VariableAssignment[] = [];
  /** End offset of the last token consumed. */
  lastEnd = 0;
  last: Token | undefined;

  constructor(
    readonly text: string,
    base: Dictionary,
    readonly opts: ParseOptions,
    readonly tool: "ipf" | "ipnat",
  ) {
    this.sink = new DiagnosticSink(text);
    this.variables = new Map(Object.entries(opts.variables ?? {}));
    this.resolver = new HostResolver(opts.hosts);
    this.lexer = new Lexer(text, base, {
      variable: (name, offset, length) => {
        const v = this.variables.get(name);
        if (v === undefined)
          this.sink.add(
            IpfDiagnosticCode.UndefinedVariable,
            `variable ${JSON.stringify(name)} is not defined`,
            offset,
            length,
            "error",
            `${this.tool} keeps "$${name}" as a plain word here`,
          );
        return v;
      },
      problem: (message, offset, length) =>
        this.sink.add(
          IpfDiagnosticCode.Unterminated,
          message,
          offset,
          length,
          "error",
          `${this.tool} stops here`,
        ),
    });
  }

  peek(ahead = 0): Token {
    return this.lexer.peek(ahead);
  }
  next(): Token {
    const t = this.lexer.next();
    this.last = t;
    this.lastEnd = t.offset + t.length;
    return t;
  }
  /** The next token is keyword `w`. */
  isKw(w: string, ahead = 0): boolean {
    return this.peek(ahead).kw === w;
  }
  acceptKw(w: string): Token | undefined {
    return this.isKw(w) ? this.next() : undefined;
  }
  is(type: Token["type"], ahead = 0): boolean {
    return this.peek(ahead).type === type;
  }
  accept(type: Token["type"]): Token | undefined {
    return this.is(type) ? this.next() : undefined;
  }
  /** A plain word (STR, not a keyword) or quoted string. */
  isName(ahead = 0): boolean {
    const t = this.peek(ahead);
    return t.type === "str" && t.kw === null;
  }

  /** A syntax error at `t`, phrased for humans, with ipf's own message kept. */
  unexpected(t: Token, what: string, ipfMessage = "syntax error"): ParseError {
    const found =
      t.type === "eof" ? "the end of the file" : t.type === "comment" ? "a comment" : JSON.stringify(t.text);
    return new ParseError(
      t.type === "eof" ? IpfDiagnosticCode.UnexpectedEnd : IpfDiagnosticCode.UnexpectedToken,
      `expected ${what}, found ${found}`,
      t.type === "eof" ? Math.max(0, this.lastEnd - 1) : t.offset,
      t.type === "eof" ? 1 : t.length,
      ipfMessage,
      t.type === "eof" || t.type === "comment" ? "" : t.text,
    );
  }
  fail(code: IpfDiagnosticCode, message: string, t: Token, ipfMessage = "syntax error"): ParseError {
    return new ParseError(code, message, t.offset, t.length, ipfMessage, t.type === "eof" ? "" : t.text);
  }
  expect(type: Token["type"], what: string): Token {
    const t = this.peek();
    if (t.type !== type) throw this.unexpected(t, what);
    return this.next();
  }
  expectKw(w: string, what = JSON.stringify(w)): Token {
    const t = this.peek();
    if (t.kw !== w) throw this.unexpected(t, what);
    return this.next();
  }
  expectName(what: string): Token {
    const t = this.peek();
    if (!(t.type === "str" && t.kw === null)) throw this.unexpected(t, what);
    return this.next();
  }
  expectNumber(what: string): Token {
    const t = this.peek();
    if (t.type !== "num") throw this.unexpected(t, what);
    return this.next();
  }

  /** Record an error as ipf would report it, with the note on what ipf does. */
  report(e: ParseError, firstError: boolean): IpfDiagnostic {
    const { line } = this.sink.index.position(e.offset);
    const what = `${this.tool} stops here with "${e.ipfMessage} error at "${e.ipfToken}", line ${line}"`;
    const note = firstError
      ? `${what}; the rules before this point are loaded and the rest of the file is not`
      : `${this.tool} never reads this far (it stops at the first error)`;
    return this.sink.add(e.code, e.message, e.offset, e.length, "error", note);
  }

  /**
   * After an error: skip to the next line that starts with one of `starts`
   * (a rule verb), so the rest of the file is still checked. Resets the
   * scanner's context, as a new rule does.
   */
  skipToNextRule(errorOffset: number, starts: (t: Token) => boolean): void {
    const errLine = this.sink.index.position(errorOffset).line;
    let prevLine = -1;
    for (;;) {
      this.lexer.expectAddr = 0;
      this.lexer.dict = this.lexer.base;
      this.lexer.breakOnDot = false;
      const t = this.peek();
      if (t.type === "eof") return;
      const line = this.sink.index.position(t.offset).line;
      const firstOnLine = line !== prevLine && this.startsLine(t.offset);
      if (line > errLine && firstOnLine && (starts(t) || t.type === "comment")) return;
      prevLine = line;
      this.next();
    }
  }

  private startsLine(offset: number): boolean {
    for (let i = offset - 1; i >= 0; i--) {
      const c = this.text.charCodeAt(i);
      if (c === 10) return true;
      if (c !== 32 && c !== 9 && c !== 13) return false;
    }
    return true;
  }

  /** `name = "value" ;` — the `=` was seen after a plain word at the start of a statement. */
  parseAssignment(): void {
    const nameTok = this.next();
    this.lexer.varNext = true;
    this.next(); // '='
    const v = this.peek();
    this.lexer.varNext = false;
    if (v.type !== "str") throw this.unexpected(v, 'a quoted value after "="');
    this.next();
    const semi = this.peek();
    if (semi.type !== ";") throw this.unexpected(semi, '";" after the variable\'s value');
    this.next();
    this.variables.set(nameTok.text, v.text);
    this.assignments.push({
      kind: "variable",
      span: this.sink.span(nameTok.offset, this.lastEnd),
      name: nameTok.text,
      value: v.text,
    });
  }
}

/**
 * ipf's getport() for a filter rule: with a known protocol, that protocol's
 * entry; with tcp/udp, both must exist and agree; with none, the tcp and udp
 * entries must agree (or only one exist). For ipnat (`proto` null and no
 * rule), the first entry of any protocol.
 */
export function lookupService(
  name: string,
  rule: { kind: "filter"; proto: number | "tcpudp" | null } | { kind: "nat" },
): number | undefined {
  if (rule.kind === "nat")
    return serviceByName(name, null) ?? (/^\d/.test(name) ? Number.parseInt(name, 10) : undefined);
  if (rule.proto === null) {
    const t = serviceByName(name, "tcp");
    const u = serviceByName(name, "udp");
    if (t !== undefined && u !== undefined && t !== u) return undefined;
    return t ?? u;
  }
  if (rule.proto === "tcpudp") {
    const t = serviceByName(name, "tcp");
    const u = serviceByName(name, "udp");
    return t !== undefined && t === u ? t : undefined;
  }
  if (rule.proto === 6) return serviceByName(name, "tcp");
  if (rule.proto === 17) return serviceByName(name, "udp");
  return undefined;
}

/** 32-bit byte swap: ipf stores a lone NUMBER address unconverted, so on a little-endian host 10 reads as 10.0.0.0. */
export function bswap32(n: number): bigint {
  return (
    BigInt(((n & 0xff) << 24) | ((n & 0xff00) << 8) | ((n >>> 8) & 0xff00) | ((n >>> 24) & 0xff)) &
    0xffffffffn
  );
}
