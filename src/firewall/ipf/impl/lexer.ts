/**
 * The scanner ipf(8), ipnat(8) and ipftest(1) share (IPFilter's lib/lexer.c),
 * rewritten: it cuts a whole rule file into tokens on demand, because what a
 * character means depends on what the grammar expects at that point.
 *
 * What it does, as the real tools do:
 * - a newline is blank space like a space or a tab; the grammar decides where
 *   a rule ends, so a rule may span lines and a line may hold several rules;
 * - `#` starts a comment that runs to the end of the line (a COMMENT token,
 *   which the grammar accepts only between rules);
 * - a backslash drops itself and takes the next character literally; before a
 *   newline it is blank space, except inside numbers, quoted strings and
 *   variable names, where backslash-newline joins the lines (`1\<nl>28` is 128);
 *   a word that starts with a backslash is never a keyword (`\ntp` is "ntp");
 * - `$name` / `${name}` is replaced by the variable's text, which is then
 *   scanned in place;
 * - digits make a NUMBER, `0x…` a HEX, quotes a string; `= , / ; { } ( ) @ .`
 *   are tokens of their own; `!=` `<` `<=` `>` `>=` `<>` `><` are comparisons;
 *   `->` is one token;
 * - while an address is expected ({@link Lexer.expectAddr}), `-` ends a word
 *   (`1.1.1.1-1.1.1.5`, `round-robin` read as `round`), `<` and `>` are part of
 *   words (`<thishost>`), and hex digits or `:` start an IPv6 address;
 * - a word is a keyword when it is in the current dictionary (case does not
 *   matter), else when it is in the tool's main dictionary; any other word, or
 *   a quoted string, is a STR and clears the expectation of an address.
 *
 * Positions are offsets in the original text; a token that came out of a
 * variable is placed at the `$name` that produced it.
 */

export type TokenType =
  | "num"
  | "hex"
  | "str"
  | "ipv6"
  | "comment"
  | "eof"
  | "cmp"
  | "range"
  | "->"
  | "="
  | ","
  | "/"
  | ";"
  | "{"
  | "}"
  | "("
  | ")"
  | "@"
  | "."
  | "-"
  | "!"
  | ":"
  | "other";

export interface Token {
  type: TokenType;
  /** Word text (without quotes for strings), punctuation, or the digits of a number. */
  text: string;
  /** The keyword (lower case) this word was read as, or null for any other word and every non-word. */
  kw: string | null;
  /** A quoted string. */
  quoted: boolean;
  /** NUMBER/HEX value (what sscanf("%u") / "0x%x" gives: wrapped to 32 bits). */
  value: number;
  /** The number did not fit 32 bits (ipf wraps it silently). */
  overflow: boolean;
  /** IPv6 address value. */
  v6: bigint;
  /** For `cmp`: = != < <= > >=; for `range`: <> ><. */
  op: string;
  offset: number;
  length: number;
}

/** A keyword table: lower-case words. */
export type Dictionary = ReadonlySet<string>;

export interface LexerHooks {
  /** The value of `$name`, or undefined when it is not defined (reported at `offset`). */
  variable(name: string, offset: number, length: number): string | undefined;
  /** A scanning problem (unterminated string, …) at `offset`. */
  problem(message: string, offset: number, length: number): void;
}

interface Frame {
  text: string;
  pos: number;
  /** Offset in the original text every character of this frame reports; -1 for the main text. */
  origin: number;
}

const isDigit = (c: number) => c >= 48 && c <= 57;
const isHex = (c: number) => isDigit(c) || (c >= 97 && c <= 102) || (c >= 65 && c <= 70);
const isAlpha = (c: number) => (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
const isAlnum = (c: number) => isDigit(c) || isAlpha(c);
const SPECIAL = "=,/;{}()@";

/** ipv6 address text → value, as inet_pton(AF_INET6) accepts it; undefined when not an address. */
export function parseIpv6Text(s: string): bigint | undefined {
  if (s.length === 0 || s.length > 45) return undefined;
  let head = s;
  let tail4: number[] | undefined;
  const lastColon = s.lastIndexOf(":");
  if (lastColon < 0) return undefined;
  const last = s.slice(lastColon + 1);
  if (last.includes(".")) {
    const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(last);
    if (!m) return undefined;
    tail4 = [m[1], m[2], m[3], m[4]].map(Number);
    if (tail4.some((o) => o > 255)) return undefined;
    // inet_pton refuses leading zeros in the dotted part only on some libcs; accept like glibc/FreeBSD.
    head = s.slice(0, lastColon + 1) + "0:0";
  }
  const dbl = head.indexOf("::");
  if (dbl >= 0 && head.indexOf("::", dbl + 1) >= 0) return undefined;
  const parseGroups = (part: string): number[] | undefined => {
    if (part === "") return [];
    const out: number[] = [];
    for (const g of part.split(":")) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
      out.push(Number.parseInt(g, 16));
    }
    return out;
  };
  let groups: number[];
  if (dbl >= 0) {
    const a = parseGroups(head.slice(0, dbl));
    const b = parseGroups(head.slice(dbl + 2));
    if (!a || !b || a.length + b.length > 7) return undefined;
    groups = [...a, ...new Array<number>(8 - a.length - b.length).fill(0), ...b];
  } else {
    const a = parseGroups(head);
    if (!a || a.length !== 8) return undefined;
    groups = a;
  }
  if (tail4) {
    groups[6] = (tail4[0]! << 8) | tail4[1]!;
    groups[7] = (tail4[2]! << 8) | tail4[3]!;
  }
  let v = 0n;
  for (const g of groups) v = (v << 16n) | BigInt(g);
  return v;
}

export class Lexer {
  /** 0: no address expected; 1: an address is expected; 2: just read one, until blank space. */
  expectAddr = 0;
  /** The dictionary words are looked up in first; null means "no keywords here" (after `port =`). */
  dict: Dictionary | null;
  /** The tool's main dictionary, looked up when the current one has no such word. */
  readonly base: Dictionary;
  /** log level facility.priority: `.` ends a word. */
  breakOnDot = false;
  /** The next word is a variable value: never a keyword. */
  varNext = false;

  private readonly frames: Frame[];
  private depth = 0;
  private readonly queue: Token[] = [];
  private lastType: TokenType = "eof";
  private lastNumber = 0;

  constructor(
    readonly text: string,
    base: Dictionary,
    private readonly hooks: LexerHooks,
  ) {
    this.base = base;
    this.dict = base;
    this.frames = [{ text, pos: 0, origin: -1 }];
  }

  /** The next token, scanned now if it was not yet. */
  peek(ahead = 0): Token {
    while (this.queue.length <= ahead) this.queue.push(this.scan());
    return this.queue[ahead]!;
  }

  next(): Token {
    const t = this.peek();
    this.queue.shift();
    return t;
  }

  /** True when the next token has already been scanned (its reading is fixed). */
  get scanned(): boolean {
    return this.queue.length > 0;
  }

  // --- characters -------------------------------------------------------

  private frame(): Frame {
    return this.frames[this.depth]!;
  }

  private offsetNow(): number {
    for (let d = this.depth; d >= 0; d--) {
      const f = this.frames[d]!;
      if (f.origin >= 0) return f.origin;
      if (d === 0) return f.pos;
    }
    return 0;
  }

  /** The next character code, or -1 at the end; with `cont`, backslash-newline is skipped. */
  private getc(cont = false): number {
    for (;;) {
      const f = this.frame();
      if (f.pos < f.text.length) {
        const c = f.text.charCodeAt(f.pos++);
        if (cont && c === 92 && f.text.charCodeAt(f.pos) === 10) {
          f.pos++;
          continue;
        }
        return c;
      }
      if (this.depth === 0) {
        f.pos = f.text.length + 1;
        return -1;
      }
      this.depth--;
    }
  }

  private ungetc(c: number): void {
    if (c < 0) {
      const f = this.frame();
      if (f.pos > f.text.length) f.pos = f.text.length;
      return;
    }
    this.frame().pos--;
  }

  private mark(): number[] {
    return [this.depth, ...this.frames.slice(0, this.depth + 1).map((f) => f.pos)];
  }

  private reset(m: number[]): void {
    this.depth = m[0]!;
    for (let d = 0; d <= this.depth; d++) this.frames[d]!.pos = m[d + 1]!;
  }

  private pushText(text: string, origin: number): void {
    this.depth++;
    this.frames[this.depth] = { text, pos: 0, origin };
  }

  // --- tokens -----------------------------------------------------------

  private make(type: TokenType, text: string, offset: number, end: number, extra?: Partial<Token>): Token {
    return {
      type,
      text,
      kw: null,
      quoted: false,
      value: 0,
      overflow: false,
      v6: 0n,
      op: "",
      offset,
      length: Math.max(1, end - offset),
      ...extra,
    };
  }

  private lookup(word: string): string | null {
    const w = word.toLowerCase();
    if (this.dict !== null && this.dict.has(w)) return w;
    // lexer.c: a word not in the current table sends the scanner back to the
    // previous table (yyresetdict) and looks again.
    if (this.dict !== null && this.dict !== this.base && this.base.has(w)) {
      this.dict = this.base;
      return w;
    }
    return null;
  }

  private number(text: string, hex: boolean): { value: number; overflow: boolean } {
    const big = hex ? BigInt(text.length > 2 ? text : "0x0") : BigInt(text);
    return { value: Number(big & 0xffffffffn), overflow: big > 0xffffffffn };
  }

  private scan(): Token {
    const t = this.scanOne();
    if (t.type === "str" && !t.kw) {
      // lexer.c: a STR pops the dictionary a grammar action pushed.
      if (this.dict !== this.base) this.dict = this.base;
      if (this.expectAddr !== 0) this.expectAddr = 0;
    }
    this.lastType = t.type;
    if (t.type === "num") this.lastNumber = t.value;
    return t;
  }

  private scanOne(): Token {
    let word = "";
    let building = false;
    let nokey = false;
    let start = -1;
    let end = -1;
    const finishWord = (): Token => {
      const tok = this.make("str", word, start, end);
      if (!this.varNext && !nokey) tok.kw = this.lookup(word);
      else this.varNext = false;
      return tok;
    };
    for (;;) {
      const at = this.offsetNow();
      let c = this.getc();
      // Blank space, including a newline: ends a word, and an address just read.
      if (c === 32 || c === 9 || c === 13 || c === 10) {
        if (building) {
          this.ungetc(c);
          return finishWord();
        }
        if (this.expectAddr === 2) this.expectAddr = 0;
        nokey = false;
        continue;
      }
      if (c === 92) {
        // Backslash: drop it and take the next character as it is.
        const escAt = at;
        c = this.getc();
        if (c === 10 || c === 32 || c === 9 || c === 13) {
          if (building) {
            this.ungetc(c);
            return finishWord();
          }
          if (this.expectAddr === 2) this.expectAddr = 0;
          continue;
        }
        if (c < 0) {
          if (building) return finishWord();
          return this.make("eof", "", escAt, escAt);
        }
        if (!building && !isAlnum(c)) {
          const ch = String.fromCharCode(c);
          return this.make(
            SPECIAL.includes(ch) || ch === "." ? (ch as TokenType) : "other",
            ch,
            escAt,
            at + 1,
          );
        }
        if (!building) {
          nokey = true;
          start = escAt;
        }
        building = true;
        word += String.fromCharCode(c);
        end = this.offsetNow();
        continue;
      }
      if (c < 0) {
        if (building) return finishWord();
        return this.make("eof", "", this.text.length, this.text.length);
      }
      const ch = String.fromCharCode(c);
      if (c === 35) {
        // '#'
        if (building) {
          this.ungetc(c);
          return finishWord();
        }
        let d: number;
        do d = this.getc();
        while (d >= 0 && d !== 10);
        if (d === 10) this.ungetc(d);
        return this.make("comment", "#", at, this.offsetNow());
      }
      if (c === 36) {
        // '$': a variable
        if (building) {
          this.ungetc(c);
          return finishWord();
        }
        const m = this.mark();
        let n = this.getc();
        let name = "";
        let ok = true;
        if (n === 123) {
          for (;;) {
            n = this.getc(true);
            if (n < 0) {
              ok = false;
              break;
            }
            if (n === 125) break;
            name += String.fromCharCode(n);
          }
        } else if (isAlpha(n)) {
          name = String.fromCharCode(n);
          for (;;) {
            n = this.getc(true);
            if (isAlnum(n) || n === 95) name += String.fromCharCode(n);
            else {
              this.ungetc(n);
              break;
            }
          }
        } else {
          this.reset(m);
          ok = false;
        }
        const refEnd = this.offsetNow();
        if (ok) {
          const value = this.hooks.variable(name, at, refEnd - at);
          if (value !== undefined) {
            this.pushText(value, at);
            continue;
          }
          // An undefined variable stays in the text as a word ("$name").
          building = true;
          start = at;
          word = "$" + (n === 125 ? `{${name}}` : name);
          end = refEnd;
          continue;
        }
        building = true;
        start = at;
        word = "$";
        end = at + 1;
        continue;
      }
      if (c === 34 || c === 39) {
        // A quoted string; newlines inside it become spaces.
        if (building) {
          this.ungetc(c);
          return finishWord();
        }
        let s = "";
        for (;;) {
          const n = this.getc(true);
          if (n < 0) {
            this.hooks.problem(`string starting with ${ch} is never closed`, at, 1);
            const tok = this.make("str", s, at, this.offsetNow());
            tok.quoted = true;
            return tok;
          }
          if (n === c) break;
          s += n === 10 ? " " : String.fromCharCode(n);
        }
        const tok = this.make("str", s, at, this.offsetNow());
        tok.quoted = true;
        return tok;
      }
      if (SPECIAL.includes(ch)) {
        if (building) {
          this.ungetc(c);
          return finishWord();
        }
        return this.make(ch as TokenType, ch, at, at + 1);
      }
      if (c === 46) {
        // '.'
        if (!building) return this.make(".", ".", at, at + 1);
        if (this.breakOnDot) {
          this.ungetc(c);
          return finishWord();
        }
        word += ch;
        end = at + 1;
        continue;
      }
      if (c === 45) {
        // '-'
        const n = this.getc();
        if (n === 62) {
          if (building) {
            word += "->";
            end = at + 2;
            return finishWord();
          }
          return this.make("->", "->", at, at + 2);
        }
        this.ungetc(n);
        if (this.expectAddr) {
          if (building) {
            this.ungetc(c);
            return finishWord();
          }
          return this.make("-", "-", at, at + 1);
        }
        if (!building) return this.make("-", "-", at, at + 1);
        word += ch;
        end = at + 1;
        continue;
      }
      if (c === 33) {
        // '!'
        if (building) {
          this.ungetc(c);
          return finishWord();
        }
        const n = this.getc();
        if (n === 61) return this.make("cmp", "!=", at, at + 2, { op: "!=" });
        this.ungetc(n);
        return this.make("!", "!", at, at + 1);
      }
      if ((c === 60 || c === 62) && !this.expectAddr) {
        if (building) {
          this.ungetc(c);
          return finishWord();
        }
        const n = this.getc();
        if (n === 61) return this.make("cmp", ch + "=", at, at + 2, { op: ch + "=" });
        if ((c === 60 && n === 62) || (c === 62 && n === 60))
          return this.make("range", ch + String.fromCharCode(n), at, at + 2, {
            op: ch + String.fromCharCode(n),
          });
        this.ungetc(n);
        return this.make("cmp", ch, at, at + 1, { op: ch });
      }
      // An IPv6 address, where an address is expected.
      if (this.expectAddr !== 0 && !building && (isHex(c) || c === 58)) {
        const v6 = this.tryIpv6(c, at);
        if (v6) return v6;
      }
      if (c === 58) {
        // ':' after hex digits may still be an IPv6 address (`fe80::1`).
        if (building && /^[0-9a-fA-F]+$/.test(word)) {
          const m = this.mark();
          const rest = this.readIpv6Chars();
          const text = word + ":" + rest;
          const v = parseIpv6Text(text);
          if (v !== undefined) {
            this.expectAddr = 0;
            return this.make("ipv6", text, start, this.offsetNow(), { v6: v });
          }
          this.reset(m);
        }
        if (building) {
          this.ungetc(c);
          return finishWord();
        }
        return this.make(":", ":", at, at + 1);
      }
      if (!building && c === 48) {
        const n = this.getc();
        if (n === 120) {
          let digits = "0x";
          for (;;) {
            const d = this.getc(true);
            if (isHex(d)) digits += String.fromCharCode(d);
            else {
              this.ungetc(d);
              break;
            }
          }
          const { value, overflow } = this.number(digits, true);
          return this.make("hex", digits, at, this.offsetNow(), { value, overflow });
        }
        this.ungetc(n);
      }
      if (!building && isDigit(c)) {
        let digits = ch;
        for (;;) {
          const d = this.getc(true);
          if (isDigit(d)) digits += String.fromCharCode(d);
          else {
            this.ungetc(d);
            break;
          }
        }
        const { value, overflow } = this.number(digits, false);
        return this.make("num", digits, at, this.offsetNow(), { value, overflow });
      }
      if (!building) {
        building = true;
        start = at;
      }
      word += ch;
      end = at + 1;
    }
  }

  private readIpv6Chars(): string {
    let s = "";
    for (;;) {
      const d = this.getc(true);
      if ((isHex(d) || d === 58 || d === 46) && s.length < 46) s += String.fromCharCode(d);
      else {
        this.ungetc(d);
        return s;
      }
    }
  }

  private tryIpv6(first: number, at: number): Token | undefined {
    const m = this.mark();
    let text = String.fromCharCode(first);
    // lexer.c: "1::2" after a NUMBER token continues that number.
    if (this.lastType === "num" && first === 58) text = String(this.lastNumber) + text;
    text += this.readIpv6Chars();
    const v = parseIpv6Text(text);
    if (v !== undefined) {
      this.expectAddr = 0;
      return this.make("ipv6", text, at, this.offsetNow(), { v6: v });
    }
    this.reset(m);
    return undefined;
  }
}
