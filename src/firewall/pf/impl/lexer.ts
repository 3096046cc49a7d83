/**
 * pf.conf's tokenizer, written to read characters exactly as pfctl's yylex()
 * does, because pf.conf's quirks live here:
 * - `$name` is replaced by the macro's text, which is then read again as
 *   input (a macro can hold half a rule); `$` inside that text is literal;
 * - a backslash joins lines outside quotes, and drops itself before any
 *   other character;
 * - `#` starts a comment up to the end of the line, also inside a macro's
 *   text, where it then eats the rest of the line it was used on;
 * - digits make a number only when a space, `)`, `,`, `/`, `}` or `=`
 *   follows, so `10/8` is NUMBER '/' NUMBER and `1.2.3.4` is one word;
 * - words are letters, digits, `:` and `_` to start, then any punctuation
 *   but `( ) { } < > ! = / # ,`; known words are keywords.
 *
 * Every token keeps where it came from: its offset in the file, or, for
 * text from a macro, the span of the `$name` that brought it in.
 */

export type TokenKind =
  | "string" // STRING: a word that is not a keyword, or any quoted string
  | "number" // NUMBER
  | "keyword"
  | "punct" // one character: { } ( ) < > ! = , / - * and any other
  | "binop" // PORTBINARY: >< or <>
  | "arrow" // ->
  | "newline"
  | "eof"
  | "error"; // a line the lexer gave up on (undefined macro, string too long)

export interface Token {
  kind: TokenKind;
  /** The word, keyword, character or string value. */
  text: string;
  value: number;
  file: string | undefined;
  offset: number;
  end: number;
  /** True when the token came from a macro's text. */
  fromMacro: boolean;
  /** True when the token was a quoted string (never a keyword). */
  quoted: boolean;
}

export const KEYWORDS: ReadonlySet<string> = new Set([
  "all",
  "allow-opts",
  "altq",
  "anchor",
  "antispoof",
  "any",
  "bandwidth",
  "binat",
  "binat-anchor",
  "bitmask",
  "block",
  "block-policy",
  "buckets",
  "cbq",
  "code",
  "codelq",
  "crop",
  "debug",
  "divert-reply",
  "divert-to",
  "drop",
  "drop-ovl",
  "dup-to",
  "fail-policy",
  "fairq",
  "fastroute",
  "file",
  "fingerprints",
  "flags",
  "floating",
  "flush",
  "for",
  "fragment",
  "from",
  "global",
  "group",
  "hfsc",
  "hogs",
  "hostid",
  "icmp-type",
  "icmp6-type",
  "if-bound",
  "in",
  "include",
  "inet",
  "inet6",
  "interval",
  "keep",
  "label",
  "limit",
  "linkshare",
  "load",
  "log",
  "loginterface",
  "max",
  "max-mss",
  "max-src-conn",
  "max-src-conn-rate",
  "max-src-nodes",
  "max-src-states",
  "min-ttl",
  "modulate",
  "nat",
  "nat-anchor",
  "no",
  "no-df",
  "no-route",
  "no-sync",
  "on",
  "optimization",
  "os",
  "out",
  "overload",
  "pass",
  "port",
  "prio",
  "priority",
  "priq",
  "probability",
  "proto",
  "qlimit",
  "queue",
  "quick",
  "random",
  "random-id",
  "rdr",
  "rdr-anchor",
  "realtime",
  "reassemble",
  "reply-to",
  "require-order",
  "return",
  "return-icmp",
  "return-icmp6",
  "return-rst",
  "round-robin",
  "route",
  "route-to",
  "rtable",
  "rule",
  "ruleset-optimization",
  "scrub",
  "set",
  "set-tos",
  "skip",
  "sloppy",
  "source-hash",
  "source-track",
  "state",
  "state-defaults",
  "state-policy",
  "static-port",
  "sticky-address",
  "synproxy",
  "table",
  "tag",
  "tagged",
  "target",
  "tbrsize",
  "timeout",
  "to",
  "tos",
  "ttl",
  "upperlimit",
  "urpf-failed",
  "user",
]);

const EOF = -1;

interface SourceFile {
  name: string | undefined;
  text: string;
  pos: number;
}

/** A character and where it came from (-1 offset: a macro, see macroRef). */
interface Pushed {
  c: number;
  offset: number;
  file: string | undefined;
  macro: boolean;
}

export interface LexerHooks {
  /** The value of macro `name`, or undefined when it is not defined. */
  macro(name: string): string | undefined;
  /** Report a lexical problem at a span. */
  error(message: string, kind: "macro" | "unterminated" | "number", at: Token): void;
}

const isDigit = (c: number): boolean => c >= 48 && c <= 57;
const isAlpha = (c: number): boolean => (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
const isAlnum = (c: number): boolean => isDigit(c) || isAlpha(c);
const isSpace = (c: number): boolean => c === 32 || (c >= 9 && c <= 13);
/** C ispunct(): printable, not a letter, digit or space. */
const isPunct = (c: number): boolean => c > 32 && c < 127 && !isAlnum(c);
const NOT_IN_STRING = new Set([..."(){}<>!=/#,"].map((ch) => ch.charCodeAt(0)));
const allowedInString = (c: number): boolean => isAlnum(c) || (isPunct(c) && !NOT_IN_STRING.has(c));
const ENDS_NUMBER = new Set([..."),/}="].map((ch) => ch.charCodeAt(0)));
const allowedToEndNumber = (c: number): boolean => isSpace(c) || ENDS_NUMBER.has(c);

export class Lexer {
  private readonly files: SourceFile[] = [];
  private parsebuf: string | null = null;
  private parseindex = 0;
  /** The `$name` reference whose text is being read. */
  private macroRef: { offset: number; end: number; file: string | undefined } | null = null;
  private readonly pushback: Pushed[] = [];
  /** Origin of the character lgetc returned last. */
  /** Mutated in place for every character (no allocation); copy it with snap() to keep it. */
  private readonly last: Pushed = { c: EOF, offset: 0, file: undefined, macro: false };

  private snap(): Pushed {
    return { c: this.last.c, offset: this.last.offset, file: this.last.file, macro: this.last.macro };
  }

  private setLast(p: Pushed): void {
    this.last.c = p.c;
    this.last.offset = p.offset;
    this.last.file = p.file;
    this.last.macro = p.macro;
  }

  constructor(
    text: string,
    private readonly hooks: LexerHooks,
  ) {
    this.files.push({ name: undefined, text, pos: 0 });
  }

  /** Continue reading from `text` (an `include`d file) until it ends, then go back. */
  pushFile(name: string, text: string): void {
    this.files.push({ name, text, pos: 0 });
  }

  /** Put a newline back, as pfctl does after `include` so the include statement ends. */
  unreadNewline(): void {
    const f = this.current();
    this.pushback.push({ c: 10, offset: f.pos, file: f.name, macro: false });
  }

  get currentFile(): string | undefined {
    return this.current().name;
  }

  private current(): SourceFile {
    return this.files[this.files.length - 1] as SourceFile;
  }

  private getc(): number {
    const f = this.current();
    if (f.pos >= f.text.length) return EOF;
    const c = f.text.charCodeAt(f.pos);
    const l = this.last;
    l.c = c;
    l.offset = f.pos;
    l.file = f.name;
    l.macro = false;
    f.pos++;
    return c;
  }

  private popFile(): boolean {
    if (this.files.length <= 1) return false;
    this.files.pop();
    return true;
  }

  private lgetc(quoted: boolean): number {
    if (this.parsebuf !== null) {
      if (this.parseindex >= 0) {
        const c = this.parseindex < this.parsebuf.length ? this.parsebuf.charCodeAt(this.parseindex) : 0;
        this.parseindex++;
        if (c !== 0) {
          const ref = this.macroRef;
          const l = this.last;
          l.c = c;
          l.offset = ref?.offset ?? 0;
          l.file = ref?.file;
          l.macro = true;
          return c;
        }
        this.parsebuf = null;
      } else this.parseindex++;
    }
    const pushed = this.pushback.pop();
    if (pushed) {
      this.setLast(pushed);
      return pushed.c;
    }
    if (quoted) {
      const c = this.getc();
      if (c === EOF) {
        this.popFile();
        return EOF;
      }
      return c;
    }
    let c = this.getc();
    while (c === 92 /* \ */) {
      const at = this.snap();
      const next = this.getc();
      if (next !== 10) {
        c = next;
        if (next === EOF) this.setLast(at);
        break;
      }
      c = this.getc();
    }
    while (c === EOF) {
      if (!this.popFile()) return EOF;
      c = this.getc();
    }
    return c;
  }

  private lungetc(c: number): void {
    if (c === EOF) return;
    if (this.parsebuf !== null) {
      this.parseindex--;
      if (this.parseindex >= 0) return;
    }
    this.pushback.push({ c, offset: this.last.offset, file: this.last.file, macro: this.last.macro });
  }

  /**
   * Put back a character that was read earlier: its origin is lost, but
   * only the first character of a failed number goes back this way and the
   * token's start offset is already recorded.
   */
  private unread(c: number, origin: Pushed): void {
    if (this.parsebuf !== null) {
      this.parseindex--;
      if (this.parseindex >= 0) return;
    }
    this.pushback.push({ ...origin, c });
  }

  private tokenFrom(kind: TokenKind, text: string, start: Pushed, value = 0, quoted = false): Token {
    if (start.macro && this.macroRef)
      return {
        kind,
        text,
        value,
        file: this.macroRef.file,
        offset: this.macroRef.offset,
        end: this.macroRef.end,
        fromMacro: true,
        quoted,
      };
    const endOffset =
      this.last.macro || this.last.file !== start.file ? start.offset + 1 : this.last.offset + 1;
    return {
      kind,
      text,
      value,
      file: start.file,
      offset: start.offset,
      end: Math.max(endOffset, start.offset + 1),
      fromMacro: false,
      quoted,
    };
  }

  /** Skip to the end of the line after an error, as pfctl's findeol(). */
  private findEol(start: Pushed): Token {
    this.parsebuf = null;
    for (;;) {
      const c = this.lgetc(false);
      if (c === 10 || c === EOF) break;
    }
    return this.tokenFrom("error", "", start);
  }

  next(): Token {
    for (;;) {
      let c = this.lgetc(false);
      while (c === 32 || c === 9) c = this.lgetc(false);
      const start = this.snap();
      if (c === 35 /* # */) while ((c = this.lgetc(false)) !== 10 && c !== EOF);
      if (c === 36 /* $ */ && this.parsebuf === null) {
        let name = "";
        let endOffset = start.offset + 1;
        for (;;) {
          c = this.lgetc(false);
          if (c === EOF) return this.tokenFrom("eof", "", this.snap());
          if (isAlnum(c) || c === 95) {
            name += String.fromCharCode(c);
            endOffset = this.last.offset + 1;
            continue;
          }
          this.lungetc(c);
          break;
        }
        const value = this.hooks.macro(name);
        const ref = { offset: start.offset, end: endOffset, file: start.file };
        if (value === undefined) {
          const tok: Token = {
            kind: "error",
            text: name,
            value: 0,
            file: ref.file,
            offset: ref.offset,
            end: ref.end,
            fromMacro: false,
            quoted: false,
          };
          this.hooks.error(`macro '${name}' not defined`, "macro", tok);
          this.findEol(start);
          return tok;
        }
        this.parsebuf = value;
        this.parseindex = 0;
        this.macroRef = ref;
        continue;
      }
      if (c === 39 || c === 34) {
        const quote = c;
        let s = "";
        for (;;) {
          c = this.lgetc(true);
          if (c === EOF) {
            const tok = this.tokenFrom("string", s, start, 0, true);
            this.hooks.error("reached end of file while parsing quoted string", "unterminated", tok);
            return this.tokenFrom("eof", "", this.snap());
          }
          if (c === 10) continue;
          if (c === 92) {
            const next = this.lgetc(true);
            if (next === EOF) return this.tokenFrom("eof", "", this.snap());
            if (next === quote) c = next;
            else if (next === 10) continue;
            else this.lungetc(next);
          } else if (c === quote) break;
          s += String.fromCharCode(c);
        }
        return this.tokenFrom("string", s, start, 0, true);
      }
      if (c === 60 /* < */) {
        const next = this.lgetc(false);
        if (next === 62) return this.tokenFrom("binop", "<>", start);
        this.lungetc(next);
      } else if (c === 62 /* > */) {
        const next = this.lgetc(false);
        if (next === 60) return this.tokenFrom("binop", "><", start);
        this.lungetc(next);
      } else if (c === 45 /* - */) {
        const next = this.lgetc(false);
        if (next === 62) return this.tokenFrom("arrow", "->", start);
        this.lungetc(next);
      }
      if (c === 45 || isDigit(c)) {
        const chars: { c: number; origin: Pushed }[] = [{ c, origin: this.snap() }];
        let d: number;
        while ((d = this.lgetc(false)) !== EOF && isDigit(d)) chars.push({ c: d, origin: this.snap() });
        this.lungetc(d);
        const text = chars.map((x) => String.fromCharCode(x.c)).join("");
        if (!(chars.length === 1 && c === 45) && (d === EOF || allowedToEndNumber(d))) {
          const value = Number(text);
          if (!Number.isSafeInteger(value)) {
            const tok = this.tokenFrom("number", text, start);
            this.hooks.error(`"${text}" invalid number: too large`, "number", tok);
            return this.findEol(start);
          }
          return this.tokenFrom("number", text, start, value);
        }
        // Not a number after all: give back all but the first character.
        for (let i = chars.length - 1; i >= 1; i--) {
          const x = chars[i] as { c: number; origin: Pushed };
          this.unread(x.c, x.origin);
        }
        this.setLast((chars[0] as { origin: Pushed }).origin);
        if (c === 45) return this.tokenFrom("punct", "-", start);
      }
      if (isAlnum(c) || c === 58 || c === 95) {
        let s = String.fromCharCode(c);
        let d: number;
        const lastIn = this.snap();
        while ((d = this.lgetc(false)) !== EOF && allowedInString(d)) {
          s += String.fromCharCode(d);
          lastIn.c = this.last.c;
          lastIn.offset = this.last.offset;
          lastIn.file = this.last.file;
          lastIn.macro = this.last.macro;
        }
        this.lungetc(d);
        this.setLast(lastIn);
        return this.tokenFrom(KEYWORDS.has(s) ? "keyword" : "string", s, start);
      }
      if (c === 10) return this.tokenFrom("newline", "\n", start);
      if (c === EOF) return this.tokenFrom("eof", "", start);
      return this.tokenFrom("punct", String.fromCharCode(c), start);
    }
  }
}
