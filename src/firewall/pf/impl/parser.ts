/**
 * pf.conf's grammar (FreeBSD 12 sbin/pfctl/parse.y) as a recursive-descent
 * parser, with pfctl's semantic actions: defaults, checks, and the list
 * expansion of expand_rule(). It keeps going after an error (pfctl skips to
 * the end of the line, and so does this parser), so one run reports every
 * problem.
 *
 * Statements that pfctl prints while it parses (macros, options, tables,
 * queues) are collected in order; rules go into the ruleset of the anchor
 * being read and are printed afterwards, ruleset by ruleset.
 */
import { createHash } from "node:crypto";
import type {
  PfAction,
  PfAddress,
  PfAnchor,
  PfCompare,
  PfFamily,
  PfPoolType,
  PfPortOp,
  PfRule,
  PfStatement,
  PfTable,
  PfTableEntry,
  SourceSpan,
} from "../ast.js";
import { bitsOfMask, maskOfBits, ntop, type AddressFamily } from "./address.js";
import { LineIndex, PfDiagnosticCode as C, type PfDiagnostic } from "./diagnostics.js";
import {
  defaultHostEnv,
  interfaceByName,
  interfaceIndex,
  interfaceModifiers,
  interfaceName,
  lookupInterface,
  NO_IF_FLAGS,
  resolveHost,
  setNodeMask,
  type HostNode,
  type PfHostEnv,
} from "./hosts.js";
import { Lexer, type Token } from "./lexer.js";
import {
  groupId,
  icmpCodeByName,
  icmpTypeByName,
  protocolName,
  protocolNumber,
  servicePort,
  timeoutSlot,
  TIMEOUT_NAMES,
  tosValue,
  userId,
} from "./names.js";
import {
  blankRule,
  cloneRule,
  IPPROTO_ICMP,
  IPPROTO_ICMPV6,
  IPPROTO_TCP,
  IPPROTO_UDP,
  NAT_PROXY_PORT_HIGH,
  NAT_PROXY_PORT_LOW,
  newAnchor,
  parseTcpFlags,
  rulesetOf,
} from "./rule.js";
import { AltqState } from "./altq.js";

export interface ParseOptions {
  /** The interfaces and host names addresses resolve against (default: the corpus driver's host). */
  env?: PfHostEnv;
  /** Read a file named by `include`, `table … file` or `load anchor`; undefined when it cannot be read. */
  readFile?: (path: string) => string | undefined;
  /** Macros defined before the file is read, as `pfctl -D name=value` (they cannot be redefined). */
  macros?: Readonly<Record<string, string>>;
  /** The anchor the text is loaded into (`pfctl -a NAME`); options and queues are then ignored. */
  anchor?: string;
  /** Users and groups beyond the FreeBSD base system's. */
  users?: ReadonlyMap<string, number>;
  groups?: ReadonlyMap<string, number>;
  /** Whether ALTQ queue definitions are evaluated (pfctl built with ALTQ); default true. */
  altq?: boolean;
  /** The name used for the main text in diagnostics' `file`; default undefined (the caller's file). */
}

export interface ParseResult {
  statements: PfStatement[];
  /** The main ruleset (the anchor the file was loaded into). */
  main: PfAnchor;
  /** Statements and rule lines from `load anchor … from "file"`, parsed when readFile can read them. */
  loadedAnchors: { anchor: string; file: string; result: ParseResult }[];
  diagnostics: PfDiagnostic[];
  /** The `set` options in effect at the end of the file. */
  blockPolicy: "drop" | "return";
  skip: string[];
}

class Abort extends Error {}

const STATE_NONE = 0;
const STATE_OPTION = 1;
const STATE_SCRUB = 2;
const STATE_QUEUE = 3;
const STATE_NAT = 4;
const STATE_FILTER = 5;

const UID_MAX = 0xffffffff;

interface NodeIf {
  name: string;
  not: boolean;
  dynamic: boolean;
  loopback: boolean;
}

interface NodeIcmp {
  type: number; // type + 1, 0 = none
  code: number; // code + 1, 0 = none
  proto: number;
}

interface Peer {
  hosts: HostNode[] | null;
  ports: PfCompare[] | null;
}

interface FromTo {
  src: Peer;
  dst: Peer;
  os: string[] | null;
  at: Token;
}

interface StateOpt {
  type:
    | "max"
    | "no-sync"
    | "source-track"
    | "max-src-states"
    | "max-src-conn"
    | "max-src-conn-rate"
    | "max-src-nodes"
    | "overload"
    | "statelock"
    | "sloppy"
    | "timeout";
  n: number;
  n2: number;
  srcTrack?: "plain" | "global" | "rule";
  table?: string;
  flush?: number;
  ifBound?: boolean;
  slot?: number;
  at: Token;
}

interface FilterOpts {
  uids: PfCompare[] | null;
  gids: PfCompare[] | null;
  flags: { b1: number; b2: number } | null;
  icmp: NodeIcmp[] | null;
  tos: number;
  prio: number | null;
  setPrio: [number, number] | null;
  keep: { action: PfRule["keepState"]; options: StateOpt[] } | null;
  fragment: boolean;
  allowOpts: boolean;
  label: string | null;
  queue: { q: string; p: string | null } | null;
  tag: string | null;
  tagged: string | null;
  taggedNot: boolean;
  prob: number;
  rtable: number;
  divertPort: number;
  at: Token;
}

interface PoolOpts {
  type: PfPoolType;
  sticky: boolean;
  staticPort: boolean;
  key: string | null;
}

interface Range {
  a: number;
  b: number;
  t: "" | "rrg" | "irg";
}

interface RouteSpec {
  hosts: HostNode[] | null;
  type: "route-to" | "reply-to" | "dup-to" | null;
  pool: PoolOpts;
}

const EMPTY_HOST = (): HostNode => ({
  address: { type: "addrmask", addr: 0n, mask: 0n },
  af: 0,
  not: false,
  ifindex: 0,
  ifname: null,
});

function afName(af: 0 | AddressFamily): PfFamily | null {
  return af === 4 ? "inet" : af === 6 ? "inet6" : null;
}

function afNum(af: PfFamily | null): 0 | AddressFamily {
  return af === "inet" ? 4 : af === "inet6" ? 6 : 0;
}

export class PfParser {
  private readonly lexer: Lexer;
  private tok: Token | null = null;
  private prev: Token | null = null;
  private readonly env: PfHostEnv;
  private readonly macros = new Map<string, { value: string; persist: boolean }>();
  readonly diagnostics: PfDiagnostic[] = [];
  readonly statements: PfStatement[] = [];
  private readonly lineIndexes = new Map<string | undefined, LineIndex>();
  private readonly texts = new Map<string | undefined, string>();

  private rulestate = STATE_NONE;
  private requireOrder = true;
  private blockPolicy: "drop" | "return" = "drop";
  private failPolicy: "drop" | "return" = "drop";
  private defaultStatelock = false;
  private stateDefaults: StateOpt[] | null = null;
  private skip: string[] = [];

  /** Anchor stack: [0] is the ruleset the file loads into; inline anchors push. */
  private readonly main: PfAnchor;
  private readonly astack: PfAnchor[] = [];
  private current: PfAnchor;
  private braceCount = 0;
  private alast: PfAnchor | null = null;
  /** Inline anchors by path, to refuse a second `anchor "x" { … }` with the same name. */
  private readonly anchorsByPath = new Map<string, PfAnchor>();
  /** How many rules each anchor received (pfctl's anchor->match, which `$nr` reads). */
  private readonly matchCount = new Map<PfAnchor, number>();
  private readonly loads: { anchor: string; file: string; span: SourceSpan }[] = [];
  private readonly altq: AltqState;

  constructor(
    text: string,
    private readonly opts: ParseOptions = {},
  ) {
    this.env = opts.env ?? defaultHostEnv();
    this.texts.set(undefined, text);
    this.lexer = new Lexer(text, {
      macro: (name) => this.macros.get(name)?.value,
      error: (message, kind, at) =>
        this.report(
          kind === "macro" ? C.UndefinedMacro : kind === "number" ? C.InvalidNumber : C.Unterminated,
          message,
          at,
        ),
    });
    for (const [k, v] of Object.entries(opts.macros ?? {})) this.macros.set(k, { value: v, persist: true });
    const anchorName = opts.anchor ?? "";
    this.main = newAnchor(anchorName, anchorName, false);
    this.current = this.main;
    this.astack.push(this.main);
    this.altq = new AltqState(this.env, opts.altq !== false && anchorName === "");
  }

  // ---------------------------------------------------------------------------
  // tokens
  // ---------------------------------------------------------------------------

  private peek(): Token {
    if (this.tok === null) this.tok = this.lexer.next();
    return this.tok;
  }

  private next(): Token {
    const t = this.peek();
    this.tok = null;
    this.prev = t;
    return t;
  }

  private isKw(word: string, t: Token = this.peek()): boolean {
    return t.kind === "keyword" && t.text === word;
  }

  private isPunct(ch: string, t: Token = this.peek()): boolean {
    return t.kind === "punct" && t.text === ch;
  }

  private acceptKw(word: string): Token | null {
    return this.isKw(word) ? this.next() : null;
  }

  private acceptPunct(ch: string): Token | null {
    return this.isPunct(ch) ? this.next() : null;
  }

  private expectKw(word: string): Token {
    if (!this.isKw(word)) this.syntax(this.peek(), `"${word}"`);
    return this.next();
  }

  private expectPunct(ch: string): Token {
    if (!this.isPunct(ch)) this.syntax(this.peek(), `"${ch}"`);
    return this.next();
  }

  private expectString(what: string): Token {
    if (this.peek().kind !== "string") this.syntax(this.peek(), what);
    return this.next();
  }

  private expectNumber(what: string): Token {
    if (this.peek().kind !== "number") this.syntax(this.peek(), what);
    return this.next();
  }

  private optnl(): void {
    while (this.peek().kind === "newline") this.next();
  }

  private comma(): void {
    this.acceptPunct(",");
  }

  /** `string`: one or more words joined by spaces. */
  private words(what: string): { text: string; at: Token } {
    const first = this.expectString(what);
    let text = first.text;
    while (this.peek().kind === "string") text += " " + this.next().text;
    return { text, at: first };
  }

  // ---------------------------------------------------------------------------
  // diagnostics
  // ---------------------------------------------------------------------------

  private position(file: string | undefined, offset: number): { line: number; column: number } {
    let idx = this.lineIndexes.get(file);
    if (!idx) {
      idx = new LineIndex(this.texts.get(file) ?? "");
      this.lineIndexes.set(file, idx);
    }
    return idx.position(offset);
  }

  spanOf(from: Token, to: Token = from): SourceSpan {
    const end = to.file === from.file && to.end > from.offset ? to.end : from.end;
    const pos = this.position(from.file, from.offset);
    const span: SourceSpan = {
      offset: from.offset,
      length: end - from.offset,
      line: pos.line,
      column: pos.column,
    };
    if (from.file !== undefined) span.file = from.file;
    return span;
  }

  private report(code: C, message: string, at: Token, severity: "error" | "warning" = "error"): void {
    const span = this.spanOf(at);
    const d: PfDiagnostic = {
      code,
      severity,
      message,
      offset: span.offset,
      length: span.length,
      line: span.line,
      column: span.column,
    };
    if (at.file !== undefined) d.file = at.file;
    this.diagnostics.push(d);
  }

  /** Report and abandon the statement (pfctl's YYERROR). */
  private fail(code: C, message: string, at: Token): never {
    this.report(code, message, at);
    throw new Abort();
  }

  private syntax(at: Token, expected?: string): never {
    const what =
      at.kind === "eof"
        ? "end of file"
        : at.kind === "newline"
          ? "end of line"
          : at.kind === "error"
            ? "the rest of the line"
            : `"${at.text}"`;
    if (at.kind === "error") throw new Abort();
    this.fail(C.Syntax, `syntax error: unexpected ${what}${expected ? `, expected ${expected}` : ""}`, at);
  }

  private checkRulestate(desired: number, at: Token): void {
    if (this.requireOrder && this.rulestate > desired)
      this.fail(
        C.RuleOrder,
        "Rules must be in order: options, normalization, queueing, translation, filtering",
        at,
      );
    this.rulestate = desired;
  }

  // ---------------------------------------------------------------------------
  // top level
  // ---------------------------------------------------------------------------

  parse(): ParseResult {
    for (;;) {
      const t = this.peek();
      if (t.kind === "eof") break;
      this.statementWithRecovery(false);
    }
    const loadedAnchors: ParseResult["loadedAnchors"] = [];
    const hasErrors = this.diagnostics.some((d) => d.severity === "error");
    if (!hasErrors && !this.main.name) {
      for (const la of this.loads) {
        const text = this.opts.readFile?.(la.file);
        if (text === undefined) {
          this.diagnostics.push({
            code: C.Include,
            severity: "error",
            message: `cannot read anchor file ${la.file}`,
            ...la.span,
          });
          continue;
        }
        const sub = new PfParser(text, { ...this.opts, anchor: la.anchor, macros: {} });
        const result = sub.parse();
        for (const d of result.diagnostics) this.diagnostics.push({ ...d, file: d.file ?? la.file });
        loadedAnchors.push({ anchor: la.anchor, file: la.file, result });
      }
    }
    return {
      statements: this.statements,
      main: this.main,
      loadedAnchors,
      diagnostics: this.diagnostics,
      blockPolicy: this.blockPolicy,
      skip: this.skip,
    };
  }

  private skipToEol(): void {
    for (;;) {
      const t = this.peek();
      if (t.kind === "eof") return;
      this.next();
      if (t.kind === "newline") return;
    }
  }

  private statementWithRecovery(inAnchor: boolean): void {
    try {
      if (inAnchor) this.anchorBodyStatement();
      else this.statement();
      // The lexer gave up on the line (an undefined macro) and already read past its end.
      if (this.prev?.kind === "error") return;
      const end = this.peek();
      if (end.kind === "newline") this.next();
      else if (end.kind !== "eof" && !(inAnchor && this.isPunct("}", end))) this.syntax(end, "end of line");
    } catch (e) {
      if (!(e instanceof Abort)) throw e;
      // pfctl's yacc would also discard the next line after the lexer's
      // error token; reading it instead reports its problems too.
      if (this.peek().kind === "error" || this.prev?.kind === "error") {
        if (this.peek().kind === "error") this.next();
        return;
      }
      this.skipToEol();
    }
  }

  private statement(): void {
    const t = this.peek();
    if (t.kind === "newline") return;
    if (t.kind === "error") {
      this.next();
      return;
    }
    if (t.kind === "string") {
      this.varset();
      return;
    }
    if (t.kind !== "keyword") this.syntax(t);
    switch (t.text) {
      case "include":
        return this.include();
      case "set":
        return this.option();
      case "scrub":
        return this.scrubRule();
      case "nat":
      case "rdr":
        return this.natRule();
      case "binat":
        return this.binatRule();
      case "no": {
        this.next();
        const n = this.peek();
        if (this.isKw("scrub", n)) return this.scrubRule(t);
        if (this.isKw("nat", n) || this.isKw("rdr", n)) return this.natRule(t);
        if (this.isKw("binat", n)) return this.binatRule(t);
        return this.syntax(n, '"scrub", "nat", "rdr" or "binat"');
      }
      case "pass":
      case "block":
        return this.pfRule();
      case "anchor":
        return this.anchorRule();
      case "nat-anchor":
      case "rdr-anchor":
      case "binat-anchor":
        return this.translationAnchor();
      case "load":
        return this.loadRule();
      case "altq":
        return this.altqIf();
      case "queue":
        return this.queueSpec();
      case "antispoof":
        return this.antispoof();
      case "table":
        return this.tableDef();
      default:
        return this.syntax(t);
    }
  }

  /** Inside `anchor … { }` only filter rules and anchors are allowed. */
  private anchorBodyStatement(): void {
    const t = this.peek();
    if (t.kind === "newline") return;
    if (this.isKw("pass", t) || this.isKw("block", t)) return this.pfRule();
    if (this.isKw("anchor", t)) return this.anchorRule();
    this.syntax(t, "a pass, block or anchor rule");
  }

  private include(): void {
    this.next();
    const name = this.expectString("a file name");
    // The lookahead must not be read yet: the included text comes next.
    const text = this.opts.readFile?.(name.text);
    if (text === undefined) this.fail(C.Include, `failed to include file ${name.text}`, name);
    this.texts.set(name.text, text);
    this.lexer.pushFile(name.text, text);
    this.lexer.unreadNewline();
  }

  private varset(): void {
    const name = this.next();
    if (!this.isPunct("=")) this.syntax(this.peek(), '"=" (a macro definition)');
    this.next();
    const parts: string[] = [];
    for (;;) {
      const t = this.peek();
      if (t.kind === "number") parts.push(String(this.next().value));
      else if (t.kind === "string") parts.push(this.next().text);
      else break;
    }
    if (parts.length === 0) this.syntax(this.peek(), "a value");
    const value = parts.join(" ");
    this.statements.push({
      kind: "macro",
      name: name.text,
      value,
      span: this.spanOf(name, this.prev ?? name),
    });
    const existing = this.macros.get(name.text);
    if (existing?.persist) return;
    this.macros.delete(name.text);
    this.macros.set(name.text, { value, persist: false });
  }

  // ---------------------------------------------------------------------------
  // options
  // ---------------------------------------------------------------------------

  private printOption(name: string, text: string, at: Token): void {
    this.statements.push({ kind: "option", name, text, span: this.spanOf(at, this.prev ?? at) });
  }

  private option(): void {
    const set = this.next();
    const t = this.next();
    const anchored = this.main.name !== "";
    const w = t.kind === "keyword" ? t.text : "";
    switch (w) {
      case "optimization": {
        const v = this.expectString("normal, satellite, high-latency, conservative or aggressive");
        this.checkRulestate(STATE_OPTION, set);
        if (
          !["normal", "satellite", "high-latency", "conservative", "aggressive"].includes(
            v.text.toLowerCase(),
          )
        )
          this.fail(C.InvalidOption, `unknown optimization ${v.text}`, v);
        if (!anchored) this.printOption("optimization", `set optimization ${v.text}`, set);
        return;
      }
      case "ruleset-optimization": {
        const v = this.words("none, basic or profile");
        if (!["none", "basic", "profile"].includes(v.text))
          this.fail(C.InvalidOption, `unknown ruleset-optimization ${v.text}`, v.at);
        return;
      }
      case "timeout":
        if (this.acceptPunct("{")) {
          this.optnl();
          this.timeoutSpec(set);
          this.optnl();
          while (!this.isPunct("}")) {
            this.comma();
            this.timeoutSpec(set);
            this.optnl();
          }
          this.next();
        } else this.timeoutSpec(set);
        return;
      case "limit":
        if (this.acceptPunct("{")) {
          this.optnl();
          this.limitSpec(set);
          this.optnl();
          while (!this.isPunct("}")) {
            this.comma();
            this.limitSpec(set);
            this.optnl();
          }
          this.next();
        } else this.limitSpec(set);
        return;
      case "loginterface": {
        const v = this.peek();
        if (v.kind !== "string" && !this.isKw("all", v)) this.syntax(v, "an interface name or none");
        this.next();
        this.checkRulestate(STATE_OPTION, set);
        if (!anchored) this.printOption("loginterface", `set loginterface ${v.text}`, set);
        return;
      }
      case "hostid": {
        const n = this.number();
        if (n.value === 0 || n.value > 0xffffffff)
          this.fail(C.InvalidNumber, "hostid must be non-zero", n.at);
        if (!anchored)
          this.printOption("hostid", `set hostid 0x${n.value.toString(16).padStart(8, "0")}`, set);
        return;
      }
      case "block-policy":
      case "fail-policy": {
        const v = this.peek();
        if (!this.isKw("drop", v) && !this.isKw("return", v)) this.syntax(v, "drop or return");
        this.next();
        this.printOption(w, `set ${w} ${v.text}`, set);
        this.checkRulestate(STATE_OPTION, set);
        if (w === "block-policy") this.blockPolicy = v.text as "drop" | "return";
        else this.failPolicy = v.text as "drop" | "return";
        return;
      }
      case "require-order": {
        const v = this.peek();
        let yes: boolean;
        if (this.isKw("no", v)) yes = false;
        else if (v.kind === "string" && v.text === "yes") yes = true;
        else if (v.kind === "string")
          this.fail(C.InvalidOption, `invalid value '${v.text}', expected 'yes' or 'no'`, v);
        else this.syntax(v, "yes or no");
        this.next();
        this.printOption("require-order", `set require-order ${yes ? "yes" : "no"}`, set);
        this.requireOrder = yes;
        return;
      }
      case "fingerprints": {
        const v = this.expectString("a file name");
        this.printOption("fingerprints", `set fingerprints "${v.text}"`, set);
        this.checkRulestate(STATE_OPTION, set);
        return;
      }
      case "state-policy": {
        const v = this.peek();
        if (!this.isKw("if-bound", v) && !this.isKw("floating", v)) this.syntax(v, "if-bound or floating");
        this.next();
        this.printOption("state-policy", `set state-policy ${v.text}`, set);
        this.defaultStatelock = v.text === "if-bound";
        return;
      }
      case "debug": {
        const v = this.expectString("none, urgent, misc or loud");
        this.checkRulestate(STATE_OPTION, set);
        if (!["none", "urgent", "misc", "loud"].includes(v.text))
          this.fail(C.InvalidOption, `error setting debuglevel ${v.text}`, v);
        if (!anchored) this.printOption("debug", `set debug ${v.text}`, set);
        return;
      }
      case "skip": {
        const ifs = this.interfaceSpec();
        if (!ifs || (ifs.length === 1 && !ifs[0]?.not && ifs[0]?.name === "none")) {
          this.printOption("skip", "set skip on none", set);
          this.skip = [];
          this.statements.push({ kind: "skip", interfaces: [], span: this.spanOf(set, this.prev ?? set) });
          return;
        }
        for (const i of ifs)
          if (i.not) this.fail(C.InvalidOption, "skip on ! <interface> is not supported", set);
        this.printOption("skip", `set skip on {${ifs.map((i) => " " + i.name).join("")} }`, set);
        this.skip.push(...ifs.map((i) => i.name));
        this.statements.push({
          kind: "skip",
          interfaces: ifs.map((i) => i.name),
          span: this.spanOf(set, this.prev ?? set),
        });
        return;
      }
      case "state-defaults": {
        const opts = this.stateOptList();
        if (this.stateDefaults !== null) this.fail(C.Redefined, "cannot redefine state-defaults", set);
        this.stateDefaults = opts;
        return;
      }
      default:
        this.syntax(t, "an option name");
    }
  }

  private number(): { value: number; at: Token } {
    const t = this.next();
    if (t.kind === "number") return { value: t.value, at: t };
    if (t.kind === "string") {
      const v = /^(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)$/.test(t.text)
        ? Number(
            t.text.startsWith("0x") || t.text.startsWith("0X")
              ? t.text
              : /^0[0-7]+$/.test(t.text)
                ? parseInt(t.text, 8)
                : t.text,
          )
        : NaN;
      if (Number.isNaN(v)) this.fail(C.InvalidNumber, `${t.text} is not a number`, t);
      return { value: v, at: t };
    }
    return this.syntax(t, "a number");
  }

  private timeoutSpec(set: Token): void {
    const name = this.peek();
    let label: string;
    if (this.isKw("interval", name)) label = "interval";
    else if (name.kind === "string") label = name.text;
    else this.syntax(name, "a timeout name");
    this.next();
    const n = this.expectNumber("a number of seconds");
    this.checkRulestate(STATE_OPTION, set);
    if (n.value < 0 || n.value > 0xffffffff) this.fail(C.InvalidNumber, "only positive values permitted", n);
    if (!TIMEOUT_NAMES.some((x) => x.toLowerCase() === label.toLowerCase()))
      this.fail(C.InvalidOption, `unknown timeout ${label}`, name);
    if (this.main.name === "") this.printOption("timeout", `set timeout ${label} ${n.value}`, name);
  }

  private limitSpec(set: Token): void {
    const name = this.expectString("a limit name");
    const n = this.expectNumber("a number");
    this.checkRulestate(STATE_OPTION, set);
    if (n.value < 0 || n.value > 0xffffffff) this.fail(C.InvalidNumber, "only positive values permitted", n);
    if (!["states", "src-nodes", "frags", "table-entries"].includes(name.text.toLowerCase()))
      this.fail(C.InvalidOption, `unable to set limit ${name.text} ${n.value}`, name);
    this.printOption("limit", `set limit ${name.text} ${n.value}`, name);
  }

  // ---------------------------------------------------------------------------
  // common pieces
  // ---------------------------------------------------------------------------

  private dir(): "in" | "out" | null {
    if (this.acceptKw("in")) return "in";
    if (this.acceptKw("out")) return "out";
    return null;
  }

  private logQuick(): { log: PfRule["log"]; quick: boolean } {
    let log: PfRule["log"] = null;
    let quick = false;
    if (this.isKw("log")) {
      log = this.log();
      if (this.acceptKw("quick")) quick = true;
    } else if (this.acceptKw("quick")) {
      quick = true;
      if (this.isKw("log")) log = this.log();
    }
    return { log, quick };
  }

  private log(): NonNullable<PfRule["log"]> {
    this.expectKw("log");
    const log = { all: false, user: false, to: 0 };
    if (this.acceptPunct("(")) {
      for (;;) {
        const t = this.next();
        if (this.isKw("all", t)) log.all = true;
        else if (this.isKw("user", t) || this.isKw("group", t)) log.user = true;
        else if (this.isKw("to", t)) {
          const name = this.words("a pflog interface");
          if (!name.text.startsWith("pflog"))
            this.fail(C.InvalidOption, `${name.text}: should be a pflog interface`, name.at);
          const n = name.text.slice(5);
          if (!/^\d+$/.test(n) || Number(n) > 255)
            this.fail(C.InvalidOption, `${name.text}: ${/^\d+$/.test(n) ? "too large" : "invalid"}`, name.at);
          log.to = Number(n);
        } else this.syntax(t, "all, user or to pflogN");
        if (this.acceptPunct(")")) break;
        this.comma();
      }
    }
    return log;
  }

  private ifItem(): NodeIf {
    const t = this.expectString("an interface name");
    if (t.text.length >= 16) this.fail(C.InvalidAddress, "interface name too long", t);
    const iface = interfaceByName(this.env, t.text);
    return { name: t.text, not: false, dynamic: false, loopback: iface?.loopback ?? false };
  }

  private ifItemNot(): NodeIf {
    const not = this.acceptPunct("!") !== null;
    const item = this.ifItem();
    item.not = not;
    return item;
  }

  /** `on IF`, `on ! IF`, `on { IF, IF }`; null when absent. */
  private interfaceSpec(): NodeIf[] | null {
    if (!this.acceptKw("on")) return null;
    if (this.acceptPunct("{")) {
      this.optnl();
      const list = [this.ifItemNot()];
      this.optnl();
      while (!this.isPunct("}")) {
        this.comma();
        list.push(this.ifItemNot());
        this.optnl();
      }
      this.next();
      return list;
    }
    return [this.ifItemNot()];
  }

  private af(): PfFamily | null {
    if (this.acceptKw("inet")) return "inet";
    if (this.acceptKw("inet6")) return "inet6";
    return null;
  }

  private protoItem(): number {
    const t = this.next();
    let n: number;
    if (t.kind === "number") {
      if (t.value < 0 || t.value > 255) this.fail(C.UnknownProtocol, "protocol outside range", t);
      n = t.value;
    } else if (t.kind === "string") {
      const p = protocolNumber(t.text);
      if (p === null) this.fail(C.UnknownProtocol, `unknown protocol ${t.text}`, t);
      n = p;
    } else return this.syntax(t, "a protocol");
    if ((n & 255) === 0) this.fail(C.UnknownProtocol, "proto 0 cannot be used", t);
    return n & 255;
  }

  private proto(): number[] | null {
    if (!this.acceptKw("proto")) return null;
    if (this.acceptPunct("{")) {
      this.optnl();
      const list = [this.protoItem()];
      this.optnl();
      while (!this.isPunct("}")) {
        this.comma();
        list.push(this.protoItem());
        this.optnl();
      }
      this.next();
      return list;
    }
    return [this.protoItem()];
  }

  private fromTo(): FromTo {
    const at = this.peek();
    if (this.acceptKw("all"))
      return { src: { hosts: null, ports: null }, dst: { hosts: null, ports: null }, os: null, at };
    let src: Peer = { hosts: null, ports: null };
    let dst: Peer = { hosts: null, ports: null };
    let os: string[] | null = null;
    if (this.acceptKw("from")) src = this.ipPortSpec();
    if (this.acceptKw("os")) {
      if (this.acceptPunct("{")) {
        this.optnl();
        os = [this.expectString("an OS fingerprint").text];
        this.optnl();
        while (!this.isPunct("}")) {
          this.comma();
          os.push(this.expectString("an OS fingerprint").text);
          this.optnl();
        }
        this.next();
      } else os = [this.expectString("an OS fingerprint").text];
    }
    if (this.acceptKw("to")) {
      const toAt = this.peek();
      dst = this.ipPortSpec();
      if (dst.hosts?.some((h) => h.address.type === "urpf-failed"))
        this.fail(C.InvalidAddress, '"urpf-failed" is not permitted in a destination address', toAt);
    }
    return { src, dst, os, at };
  }

  private ipPortSpec(): Peer {
    if (this.acceptKw("port")) return { hosts: null, ports: this.portSpec() };
    const hosts = this.ipSpec();
    const ports = this.acceptKw("port") ? this.portSpec() : null;
    return { hosts, ports };
  }

  /** `any` (null), one address, or a `{ }` list (where `any` items drop out). */
  private ipSpec(): HostNode[] | null {
    if (this.acceptKw("any")) return null;
    if (this.acceptPunct("{")) {
      this.optnl();
      let list: HostNode[] | null = this.ipSpec();
      this.optnl();
      while (!this.isPunct("}")) {
        this.comma();
        const more = this.ipSpec();
        if (more !== null) list = list === null ? more : [...list, ...more];
        this.optnl();
      }
      this.next();
      return list;
    }
    return this.xhost();
  }

  private xhost(): HostNode[] {
    const not = this.acceptPunct("!") !== null;
    if (this.acceptKw("no-route"))
      return [{ address: { type: "noroute" }, af: 0, not, ifindex: 0, ifname: null }];
    if (this.acceptKw("urpf-failed"))
      return [{ address: { type: "urpf-failed" }, af: 0, not, ifindex: 0, ifname: null }];
    const nodes = this.host();
    for (const n of nodes) n.not = not;
    return nodes;
  }

  private resolve(text: string, at: Token): HostNode[] {
    const r = resolveHost(this.env, text);
    if ("error" in r) {
      this.report(C.InvalidAddress, r.error, at);
      this.fail(C.InvalidAddress, "could not parse host specification", at);
    }
    return r.nodes;
  }

  private host(): HostNode[] {
    const t = this.peek();
    if (this.isPunct("<")) {
      this.next();
      const name = this.expectString("a table name");
      this.expectPunct(">");
      if (name.text.length >= 32) this.fail(C.Table, `table name '${name.text}' too long`, name);
      return [{ address: { type: "table", name: name.text }, af: 0, not: false, ifindex: 0, ifname: null }];
    }
    if (this.isPunct("(")) {
      const nodes = this.dynaddr();
      if (this.acceptPunct("/")) {
        const n = this.expectNumber("a prefix length");
        if (n.value < 0 || n.value > 128) this.fail(C.InvalidAddress, "bit number too big", n);
        for (const node of nodes) setNodeMask(node, n.value);
      }
      return nodes;
    }
    if (t.kind === "number") {
      this.next();
      if (!this.isPunct("/")) this.syntax(this.peek(), '"/" and a prefix length');
      this.next();
      const bits = this.expectNumber("a prefix length");
      return this.resolve(`${t.value}/${bits.value}`, t);
    }
    if (t.kind !== "string") this.syntax(t, "an address");
    this.next();
    if (this.isPunct("-")) {
      this.next();
      const e = this.expectString("the end of the address range");
      const b = this.resolve(t.text, t);
      const en = this.resolve(e.text, e);
      const bn = b[0] as HostNode;
      const enn = en[0] as HostNode;
      const full = (n: HostNode): boolean =>
        n.address.type === "addrmask" && bitsOfMask(n.address.mask) === (n.af === 4 ? 32 : 128);
      if (bn.af !== enn.af || !full(bn) || !full(enn) || b.length > 1 || en.length > 1)
        this.fail(C.InvalidAddress, "invalid address range", t);
      return [
        {
          address: {
            type: "range",
            addr: (bn.address as { addr: bigint }).addr,
            end: (enn.address as { addr: bigint }).addr,
          },
          af: bn.af,
          not: false,
          ifindex: bn.ifindex,
          ifname: null,
        },
      ];
    }
    if (this.isPunct("/")) {
      this.next();
      const bits = this.expectNumber("a prefix length");
      return this.resolve(`${t.text}/${bits.value}`, t);
    }
    return this.resolve(t.text, t);
  }

  private dynaddr(): HostNode[] {
    this.expectPunct("(");
    const name = this.expectString("an interface name");
    this.expectPunct(")");
    if (!/^[A-Za-z]/.test(name.text))
      this.fail(C.InvalidAddress, `invalid interface name '${name.text}'`, name);
    const mods = interfaceModifiers(name.text);
    if (mods === null) this.fail(C.InvalidAddress, `interface ${name.text} has bad modifier`, name);
    if ("error" in mods) this.fail(C.InvalidAddress, mods.error, name);
    if (mods.name.length >= 16) this.fail(C.InvalidAddress, "interface name too long", name);
    return [
      {
        address: { type: "dynif", ifname: mods.name, flags: mods.flags, mask: maskOfBits(128) },
        af: 0,
        not: false,
        ifindex: 0,
        ifname: null,
      },
    ];
  }

  private getService(text: string, at: Token): number {
    const n = /^(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)$/.test(text)
      ? text.startsWith("0x") || text.startsWith("0X")
        ? parseInt(text.slice(2), 16)
        : /^0[0-7]+$/.test(text)
          ? parseInt(text, 8)
          : Number(text)
      : null;
    if (n !== null) {
      if (n > 65535) this.fail(C.InvalidPort, `illegal port value ${n}`, at);
      return n;
    }
    const p = servicePort(text);
    if (p === null) this.fail(C.InvalidPort, `unknown port ${text}`, at);
    return p;
  }

  /** pfctl's parseport(): `name`, `a:b`, and with star `a:*`. */
  private parsePort(text: string, at: Token, range: boolean, star: boolean): Range {
    const colon = text.indexOf(":");
    if (colon < 0) return { a: this.getService(text, at), b: 0, t: "" };
    if (star && text.slice(colon + 1) === "*")
      return { a: this.getService(text.slice(0, colon), at), b: 0, t: "irg" };
    if (range) {
      const a = this.getService(text.slice(0, colon), at);
      const b = this.getService(text.slice(colon + 1), at);
      return a === b ? { a, b: 0, t: "" } : { a, b, t: "rrg" };
    }
    this.fail(C.InvalidPort, `unknown port ${text}`, at);
  }

  private numberString(what: string): { text: string; at: Token } {
    const t = this.next();
    if (t.kind === "number") return { text: String(t.value), at: t };
    if (t.kind === "string") return { text: t.text, at: t };
    return this.syntax(t, what);
  }

  private portRange(): { r: Range; at: Token } {
    const s = this.numberString("a port");
    return { r: this.parsePort(s.text, s.at, true, false), at: s.at };
  }

  private unaryOp(): PfPortOp | null {
    if (this.acceptPunct("=")) return "=";
    if (this.isPunct("!")) {
      this.next();
      this.expectPunct("=");
      return "!=";
    }
    if (this.acceptPunct("<")) return this.acceptPunct("=") ? "<=" : "<";
    if (this.acceptPunct(">")) return this.acceptPunct("=") ? ">=" : ">";
    return null;
  }

  private portItem(): PfCompare {
    const op = this.unaryOp();
    if (op) {
      const { r, at } = this.portRange();
      if (r.t) this.fail(C.InvalidPort, "':' cannot be used with an other port operator", at);
      return { op, a: r.a, b: r.b };
    }
    const first = this.portRange();
    if (this.peek().kind === "binop") {
      const bop = this.next().text as PfPortOp;
      const second = this.portRange();
      if (first.r.t || second.r.t)
        this.fail(C.InvalidPort, "':' cannot be used with an other port operator", first.at);
      return { op: bop, a: first.r.a, b: second.r.a };
    }
    return { op: first.r.t ? ":" : "=", a: first.r.a, b: first.r.b };
  }

  private portSpec(): PfCompare[] {
    if (this.acceptPunct("{")) {
      this.optnl();
      const list = [this.portItem()];
      this.optnl();
      while (!this.isPunct("}")) {
        this.comma();
        list.push(this.portItem());
        this.optnl();
      }
      this.next();
      return list;
    }
    return [this.portItem()];
  }

  private idValue(kind: "user" | "group"): { v: number; at: Token } {
    const t = this.next();
    if (t.kind === "string") {
      if (t.text === "unknown") return { v: UID_MAX, at: t };
      const v = kind === "user" ? userId(t.text, this.opts.users) : groupId(t.text, this.opts.groups);
      if (v === null) this.fail(C.UnknownUser, `unknown ${kind} ${t.text}`, t);
      return { v, at: t };
    }
    if (t.kind === "number") {
      if (t.value < 0 || t.value >= UID_MAX)
        this.fail(C.InvalidNumber, `illegal ${kind === "user" ? "uid" : "gid"} value ${t.value}`, t);
      return { v: t.value, at: t };
    }
    return this.syntax(t, `a ${kind} name or id`);
  }

  private idItem(kind: "user" | "group"): PfCompare {
    const op = this.unaryOp();
    const unknownMsg = `${kind} unknown requires operator = or !=`;
    if (op) {
      const { v, at } = this.idValue(kind);
      if (v === UID_MAX && op !== "=" && op !== "!=") this.fail(C.InvalidNumber, unknownMsg, at);
      return { op, a: v, b: v };
    }
    const first = this.idValue(kind);
    if (this.peek().kind === "binop") {
      const bop = this.next().text as PfPortOp;
      const second = this.idValue(kind);
      if (first.v === UID_MAX || second.v === UID_MAX) this.fail(C.InvalidNumber, unknownMsg, first.at);
      return { op: bop, a: first.v, b: second.v };
    }
    return { op: "=", a: first.v, b: first.v };
  }

  private idList(kind: "user" | "group"): PfCompare[] {
    if (this.acceptPunct("{")) {
      this.optnl();
      const list = [this.idItem(kind)];
      this.optnl();
      while (!this.isPunct("}")) {
        this.comma();
        list.push(this.idItem(kind));
        this.optnl();
      }
      this.next();
      return list;
    }
    return [this.idItem(kind)];
  }

  private icmpTypeValue(v6: boolean): { type: number; at: Token } {
    const t = this.next();
    if (t.kind === "string") {
      const n = icmpTypeByName(t.text, v6);
      if (n === null) this.fail(C.UnknownIcmp, `unknown ${v6 ? "icmp6" : "icmp"}-type ${t.text}`, t);
      return { type: n + 1, at: t };
    }
    if (t.kind === "number") {
      if (t.value < 0 || t.value > 255)
        this.fail(C.UnknownIcmp, `illegal ${v6 ? "icmp6" : "icmp"}-type ${t.value}`, t);
      return { type: t.value + 1, at: t };
    }
    return this.syntax(t, "an ICMP type");
  }

  private icmpItem(v6: boolean): NodeIcmp {
    const { type } = this.icmpTypeValue(v6);
    const proto = v6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP;
    if (!this.acceptKw("code")) return { type, code: 0, proto };
    const c = this.next();
    if (c.kind === "string") {
      const code = icmpCodeByName(type - 1, c.text, v6);
      if (code === null) this.fail(C.UnknownIcmp, `unknown ${v6 ? "icmp6" : "icmp"}-code ${c.text}`, c);
      return { type, code: code + 1, proto };
    }
    if (c.kind === "number") {
      if (c.value < 0 || c.value > 255) this.fail(C.UnknownIcmp, `illegal icmp-code ${c.value}`, c);
      return { type, code: c.value + 1, proto };
    }
    return this.syntax(c, "an ICMP code");
  }

  private icmpSpec(v6: boolean): NodeIcmp[] {
    if (this.acceptPunct("{")) {
      this.optnl();
      const list = [this.icmpItem(v6)];
      this.optnl();
      while (!this.isPunct("}")) {
        this.comma();
        list.push(this.icmpItem(v6));
        this.optnl();
      }
      this.next();
      return list;
    }
    return [this.icmpItem(v6)];
  }

  private tos(): number {
    const t = this.next();
    let v: number;
    if (t.kind === "string") {
      const m = tosValue(t.text);
      if (m !== null) v = m;
      else if (/^0x[0-9a-fA-F]+$/.test(t.text)) v = parseInt(t.text.slice(2), 16);
      else v = 256;
    } else if (t.kind === "number") v = t.value;
    else return this.syntax(t, "a TOS value");
    if (v < 0 || v > 255) this.fail(C.InvalidNumber, `illegal tos value ${t.text}`, t);
    return v;
  }

  private stateOptItem(): StateOpt {
    const t = this.next();
    const base = { n: 0, n2: 0, at: t };
    const positive = (n: Token): number => {
      if (n.value < 0 || n.value > 0xffffffff)
        this.fail(C.InvalidNumber, "only positive values permitted", n);
      return n.value;
    };
    if (t.kind === "keyword") {
      switch (t.text) {
        case "max":
          return { ...base, type: "max", n: positive(this.expectNumber("a number")) };
        case "no-sync":
          return { ...base, type: "no-sync" };
        case "max-src-states":
          return { ...base, type: "max-src-states", n: positive(this.expectNumber("a number")) };
        case "max-src-conn":
          return { ...base, type: "max-src-conn", n: positive(this.expectNumber("a number")) };
        case "max-src-conn-rate": {
          const a = positive(this.expectNumber("a number"));
          this.expectPunct("/");
          const b = positive(this.expectNumber("a number of seconds"));
          return { ...base, type: "max-src-conn-rate", n: a, n2: b };
        }
        case "overload": {
          this.expectPunct("<");
          const name = this.expectString("a table name");
          this.expectPunct(">");
          if (name.text.length >= 32) this.fail(C.Table, `table name '${name.text}' too long`, name);
          let flush = 0;
          if (this.acceptKw("flush")) flush = this.acceptKw("global") ? 3 : 1;
          return { ...base, type: "overload", table: name.text, flush };
        }
        case "max-src-nodes":
          return { ...base, type: "max-src-nodes", n: positive(this.expectNumber("a number")) };
        case "source-track": {
          const srcTrack = this.acceptKw("global") ? "global" : this.acceptKw("rule") ? "rule" : "plain";
          return { ...base, type: "source-track", srcTrack };
        }
        case "if-bound":
          return { ...base, type: "statelock", ifBound: true };
        case "floating":
          return { ...base, type: "statelock", ifBound: false };
        case "sloppy":
          return { ...base, type: "sloppy" };
        default:
          break;
      }
    }
    if (t.kind === "string") {
      const n = positive(this.expectNumber("a number of seconds"));
      const known = TIMEOUT_NAMES.find((x) => x === t.text);
      if (!known) this.fail(C.InvalidOption, `illegal timeout name ${t.text}`, t);
      if (!known.includes(".")) this.fail(C.InvalidOption, `illegal state timeout ${t.text}`, t);
      return { ...base, type: "timeout", slot: timeoutSlot(known) as number, n };
    }
    return this.syntax(t, "a state option");
  }

  private stateOptList(): StateOpt[] {
    const list = [this.stateOptItem()];
    for (;;) {
      if (this.isPunct(",")) this.next();
      else if (this.peek().kind !== "keyword" && this.peek().kind !== "string") break;
      list.push(this.stateOptItem());
    }
    return list;
  }

  private keep(): NonNullable<FilterOpts["keep"]> {
    const t = this.next();
    if (this.isKw("no", t)) {
      this.expectKw("state");
      return { action: null, options: [] };
    }
    const action = t.text === "keep" ? "keep" : t.text === "modulate" ? "modulate" : "synproxy";
    this.expectKw("state");
    let options: StateOpt[] = [];
    if (this.acceptPunct("(")) {
      options = this.stateOptList();
      this.expectPunct(")");
    }
    return { action, options };
  }

  private filterOpts(): FilterOpts {
    const o: FilterOpts = {
      uids: null,
      gids: null,
      flags: null,
      icmp: null,
      tos: 0,
      prio: null,
      setPrio: null,
      keep: null,
      fragment: false,
      allowOpts: false,
      label: null,
      queue: null,
      tag: null,
      tagged: null,
      taggedNot: false,
      prob: 0,
      rtable: -1,
      divertPort: 0,
      at: this.peek(),
    };
    for (;;) {
      const t = this.peek();
      if (t.kind === "punct" && t.text === "!") {
        this.next();
        this.expectKw("tagged");
        o.tagged = this.words("a tag name").text;
        o.taggedNot = true;
        continue;
      }
      if (t.kind !== "keyword") break;
      switch (t.text) {
        case "user": {
          this.next();
          const list = this.idList("user");
          o.uids = o.uids ? [...list, ...o.uids] : list;
          continue;
        }
        case "group": {
          this.next();
          const list = this.idList("group");
          o.gids = o.gids ? [...list, ...o.gids] : list;
          continue;
        }
        case "flags": {
          this.next();
          if (o.flags) this.fail(C.Redefined, "flags cannot be redefined", t);
          o.flags = this.flags();
          continue;
        }
        case "icmp-type":
        case "icmp6-type":
          this.next();
          if (o.icmp) this.fail(C.Redefined, "icmp-type cannot be redefined", t);
          o.icmp = this.icmpSpec(t.text === "icmp6-type");
          continue;
        case "prio": {
          this.next();
          if (o.prio !== null) this.fail(C.Redefined, "prio cannot be redefined", t);
          const n = this.expectNumber("a priority 0-7");
          if (n.value < 0 || n.value > 7) this.fail(C.InvalidNumber, "prio must be 0 - 7", n);
          o.prio = n.value;
          continue;
        }
        case "tos":
          this.next();
          if (o.tos) this.fail(C.Redefined, "tos cannot be redefined", t);
          o.tos = this.tos();
          continue;
        case "no":
        case "keep":
        case "modulate":
        case "synproxy":
          if (o.keep) this.fail(C.Redefined, "modulate or keep cannot be redefined", t);
          o.keep = this.keep();
          continue;
        case "fragment":
          this.next();
          o.fragment = true;
          continue;
        case "allow-opts":
          this.next();
          o.allowOpts = true;
          continue;
        case "label": {
          this.next();
          const s = this.expectString("a label");
          if (o.label !== null) this.fail(C.Redefined, "label cannot be redefined", t);
          o.label = s.text;
          continue;
        }
        case "queue": {
          this.next();
          if (o.queue) this.fail(C.Redefined, "queue cannot be redefined", t);
          if (this.acceptPunct("(")) {
            const q = this.expectString("a queue name").text;
            let p: string | null = null;
            if (!this.isPunct(")")) {
              this.comma();
              p = this.expectString("a queue name").text;
            }
            this.expectPunct(")");
            o.queue = { q, p };
          } else o.queue = { q: this.expectString("a queue name").text, p: null };
          continue;
        }
        case "tag":
          this.next();
          o.tag = this.words("a tag name").text;
          continue;
        case "tagged":
          this.next();
          o.tagged = this.words("a tag name").text;
          o.taggedNot = false;
          continue;
        case "probability": {
          this.next();
          const v = this.next();
          let p: number;
          if (v.kind === "number") p = v.value;
          else if (v.kind === "string") {
            const m = /^([0-9]*\.?[0-9]*(?:[eE][-+]?[0-9]+)?)(%?)$/.exec(v.text);
            if (!m || m[1] === "" || m[1] === ".")
              this.fail(C.InvalidNumber, `invalid probability: ${v.text}`, v);
            p = Number(m[1]) * (m[2] ? 0.01 : 1);
          } else return this.syntax(v, "a probability");
          const q = Math.floor(p * 0xffffffff + 0.5);
          if (q < 0 || q > 0xffffffff) this.fail(C.InvalidNumber, `invalid probability: ${q.toFixed(6)}`, v);
          o.prob = q === 0 ? 1 : q;
          continue;
        }
        case "rtable": {
          this.next();
          const n = this.expectNumber("a routing table number");
          if (n.value < 0 || n.value > 15) this.fail(C.InvalidNumber, "invalid rtable id", n);
          o.rtable = n.value;
          continue;
        }
        case "divert-to": {
          this.next();
          const a = this.numberString("a port");
          let portText = a;
          if (a.at.kind === "string" && this.isKw("port")) {
            this.next();
            portText = this.numberString("a port");
          }
          const r = this.parsePort(portText.text, portText.at, false, false);
          if (!r.a) this.fail(C.InvalidPort, `invalid divert port: ${r.a}`, portText.at);
          o.divertPort = r.a;
          continue;
        }
        case "divert-reply":
          this.fail(C.InvalidOption, "divert-reply has no meaning in FreeBSD pf(4)", t);
          break;
        case "set": {
          this.next();
          const one = (): void => {
            const p = this.expectKw("prio");
            if (o.setPrio) this.fail(C.Redefined, "prio cannot be redefined", p);
            if (this.acceptPunct("(")) {
              const a = this.expectNumber("a priority 0-7");
              this.comma();
              const b = this.expectNumber("a priority 0-7");
              this.expectPunct(")");
              if (a.value < 0 || a.value > 7 || b.value < 0 || b.value > 7)
                this.fail(C.InvalidNumber, "prio must be 0 - 7", a);
              o.setPrio = [a.value, b.value];
            } else {
              const a = this.expectNumber("a priority 0-7");
              if (a.value < 0 || a.value > 7) this.fail(C.InvalidNumber, "prio must be 0 - 7", a);
              o.setPrio = [a.value, a.value];
            }
          };
          if (this.acceptPunct("(")) {
            one();
            while (!this.isPunct(")")) {
              this.comma();
              one();
            }
            this.next();
          } else one();
          continue;
        }
        default:
          break;
      }
      break;
    }
    return o;
  }

  private flags(): { b1: number; b2: number } {
    if (this.acceptKw("any")) return { b1: 0, b2: 0 };
    const flagWord = (): number => {
      const t = this.expectString("TCP flags");
      const f = parseTcpFlags(t.text);
      if (f < 0) this.fail(C.InvalidFlags, `bad flags ${t.text}`, t);
      return f;
    };
    if (this.acceptPunct("/")) return { b1: 0, b2: flagWord() };
    const b1 = flagWord();
    this.expectPunct("/");
    return { b1, b2: flagWord() };
  }

  private poolOpts(): PoolOpts {
    const p: PoolOpts = { type: "none", sticky: false, staticPort: false, key: null };
    for (;;) {
      const t = this.peek();
      if (t.kind !== "keyword") break;
      const setType = (type: PfPoolType): void => {
        if (p.type !== "none") this.fail(C.Redefined, "pool type cannot be redefined", t);
        p.type = type;
      };
      if (t.text === "bitmask") {
        this.next();
        setType("bitmask");
      } else if (t.text === "random") {
        this.next();
        setType("random");
      } else if (t.text === "source-hash") {
        this.next();
        setType("source-hash");
        if (this.peek().kind === "string") {
          const k = this.words("a hash key");
          if (k.text.startsWith("0x")) {
            if (k.text.length !== 34 || !/^0x[0-9a-fA-F]{32}$/.test(k.text))
              this.fail(C.InvalidOption, "hex key must be 128 bits (32 hex digits) long", k.at);
            p.key = k.text.slice(2).toLowerCase();
          } else p.key = md5Hex(k.text);
        } else p.key = null;
      } else if (t.text === "round-robin") {
        this.next();
        setType("round-robin");
      } else if (t.text === "static-port") {
        this.next();
        if (p.staticPort) this.fail(C.Redefined, "static-port cannot be redefined", t);
        p.staticPort = true;
      } else if (t.text === "sticky-address") {
        this.next();
        p.sticky = true;
      } else break;
    }
    return p;
  }

  // ---------------------------------------------------------------------------
  // rules
  // ---------------------------------------------------------------------------

  private pfRule(): void {
    const first = this.peek();
    const act = this.next();
    const r = blankRule(act.text === "pass" ? "pass" : "block");
    let ret: {
      kind: "drop" | "return" | "return-rst" | "return-icmp";
      ttl: number;
      w: [number, number];
      w2: [number, number];
    };
    const DEF4: [number, number] = [3, 3];
    const DEF6: [number, number] = [1, 4];
    if (act.text === "pass") ret = { kind: this.failPolicy, ttl: 0, w: DEF4, w2: DEF6 };
    else ret = this.blockSpec();
    const dir = this.dir();
    const lq = this.logQuick();
    const ifs = this.interfaceSpec();
    const route = this.route();
    const af = this.af();
    const protos = this.proto();
    const ft = this.fromTo();
    const fo = this.filterOpts();
    this.checkRulestate(STATE_FILTER, first);

    r.block =
      ret.kind === "drop"
        ? { kind: "drop" }
        : ret.kind === "return-rst"
          ? { kind: "return-rst", ttl: ret.ttl }
          : ret.kind === "return"
            ? { kind: "return", icmp: ret.w, icmp6: ret.w2 }
            : { kind: "return-icmp", icmp: ret.w, icmp6: ret.w2 };
    r.direction = dir;
    r.log = lq.log;
    r.quick = lq.quick;
    r.probability = fo.prob;
    r.rtable = fo.rtable;
    if (fo.prio !== null) r.prio = fo.prio;
    if (fo.setPrio) r.setPrio = fo.setPrio;
    r.af = af;
    if (fo.tag !== null) r.tag = this.checkTag(fo.tag, fo.at);
    if (fo.tagged !== null) r.tagged = this.checkTag(fo.tagged, fo.at);
    r.taggedNot = fo.taggedNot;
    if (fo.label !== null) r.label = this.checkLabel(fo.label, fo.at);
    r.flags = fo.flags?.b1 ?? 0;
    r.flagset = fo.flags?.b2 ?? 0;
    if ((r.flags & r.flagset) !== r.flags) this.fail(C.InvalidFlags, "flags always false", fo.at);
    if (r.flags || r.flagset || ft.os) {
      if (protos !== null && !protos.includes(IPPROTO_TCP)) {
        if (r.flags || r.flagset) this.report(C.InconsistentRule, "flags only apply to tcp", fo.at);
        if (ft.os) this.report(C.InconsistentRule, "OS fingerprinting only apply to tcp", ft.at);
        throw new Abort();
      }
    }
    r.tos = fo.tos;
    r.keepState = fo.keep?.action ?? null;
    let stateOpts = fo.keep?.options ?? [];
    if (!r.keepState && r.action === "pass" && !fo.keep) {
      r.keepState = "keep";
      stateOpts = this.stateDefaults ?? [];
    }
    const { srctrack, statelock, adaptive } = this.applyStateOptions(r, stateOpts);
    if (r.action === "pass" && !r.flags && !r.flagset && !fo.fragment && !fo.flags && r.keepState) {
      r.flags = parseTcpFlags("S");
      r.flagset = parseTcpFlags("SA");
    }
    if (!adaptive && r.state.max) {
      r.state.timeouts.set(16, Math.floor(r.state.max / 10) * 6);
      r.state.timeouts.set(17, Math.floor(r.state.max / 10) * 12);
    }
    if (r.state.sourceTrack !== null || srctrack !== "") {
      if (srctrack === "global" && r.state.maxSrcNodes)
        this.fail(C.InconsistentRule, "'max-src-nodes' is incompatible with 'source-track global'", fo.at);
      if (srctrack === "global" && r.state.maxSrcConn)
        this.fail(C.InconsistentRule, "'max-src-conn' is incompatible with 'source-track global'", fo.at);
      if (srctrack === "global" && r.state.maxSrcConnRate)
        this.fail(
          C.InconsistentRule,
          "'max-src-conn-rate' is incompatible with 'source-track global'",
          fo.at,
        );
      const secs = r.state.maxSrcConnRate?.seconds ?? 0;
      if ((r.state.timeouts.get(18) ?? 0) < secs) r.state.timeouts.set(18, secs);
      if (r.state.sourceTrack === null) r.state.sourceTrack = "global";
      if (srctrack === "rule") r.state.sourceTrack = "rule";
    }
    if (r.keepState && !statelock && this.defaultStatelock) r.state.ifBound = true;
    r.fragment = fo.fragment;
    r.allowOpts = fo.allowOpts;
    r.af = decideFamily(ft.src.hosts, r.af);
    r.af = decideFamily(ft.dst.hosts, r.af);
    let routeHosts: HostNode[] | null = null;
    if (route.type) {
      if (!r.direction)
        this.fail(C.InconsistentRule, "direction must be explicit with rules that specify routing", first);
      r.af = decideFamily(route.hosts, r.af);
      routeHosts = removeInvalidHosts(route.hosts ?? [], r);
      if (routeHosts.length === 0)
        this.fail(C.Translation, "no routing address with matching address family found.", first);
      let type = route.pool.type;
      const h0 = routeHosts[0] as HostNode;
      if (
        type === "none" &&
        (routeHosts.length > 1 || h0.address.type === "table" || dynifMultiaddr(h0.address))
      )
        type = "round-robin";
      if (type !== "round-robin" && routeHosts.some((h) => h.address.type === "table"))
        this.fail(C.Translation, "tables are only supported in round-robin routing pools", first);
      if (type !== "round-robin" && routeHosts.some((h) => dynifMultiaddr(h.address)))
        this.fail(
          C.Translation,
          `interface (${dynName(routeHosts)}) is only supported in round-robin routing pools`,
          first,
        );
      if (routeHosts.length > 1 && type !== "round-robin")
        this.fail(C.Translation, "r.rpool.opts must be PF_POOL_ROUNDROBIN", first);
      r.route = {
        type: route.type,
        pool: { addresses: [], type, sticky: route.pool.sticky, key: route.pool.key, proxyPort: [0, 0] },
      };
    }
    if (fo.queue) {
      r.queue = fo.queue.q;
      r.priorityQueue = fo.queue.p;
    }
    r.divertPort = fo.divertPort;
    this.expand(r, {
      ifs,
      rpool: routeHosts,
      protos,
      icmps: fo.icmp,
      src: ft.src.hosts,
      srcPorts: ft.src.ports,
      os: ft.os,
      dst: ft.dst.hosts,
      dstPorts: ft.dst.ports,
      uids: fo.uids,
      gids: fo.gids,
      anchorCall: "",
      span: this.spanOf(first, this.prev ?? first),
      at: first,
    });
  }

  private applyStateOptions(
    r: PfRule,
    opts: readonly StateOpt[],
  ): { srctrack: "" | "plain" | "global" | "rule"; statelock: boolean; adaptive: boolean } {
    let srctrack: "" | "plain" | "global" | "rule" = "";
    let statelock = false;
    let adaptive = false;
    const s = r.state;
    for (const o of opts) {
      switch (o.type) {
        case "max":
          if (s.max) this.fail(C.Redefined, "state option 'max' multiple definitions", o.at);
          s.max = o.n;
          break;
        case "no-sync":
          if (s.noSync) this.fail(C.Redefined, "state option 'sync' multiple definitions", o.at);
          s.noSync = true;
          break;
        case "source-track":
          if (srctrack) this.fail(C.Redefined, "state option 'source-track' multiple definitions", o.at);
          srctrack = o.srcTrack ?? "plain";
          if (s.sourceTrack === null) s.sourceTrack = "global";
          break;
        case "max-src-states":
          if (s.maxSrcStates)
            this.fail(C.Redefined, "state option 'max-src-states' multiple definitions", o.at);
          if (o.n === 0) this.fail(C.InvalidNumber, "'max-src-states' must be > 0", o.at);
          s.maxSrcStates = o.n;
          if (s.sourceTrack === null) s.sourceTrack = "global";
          break;
        case "overload":
          if (s.overload) this.fail(C.Redefined, "multiple 'overload' table definitions", o.at);
          s.overload = { table: o.table ?? "", flush: (o.flush ?? 0) > 0, global: (o.flush ?? 0) > 1 };
          break;
        case "max-src-conn":
          if (s.maxSrcConn) this.fail(C.Redefined, "state option 'max-src-conn' multiple definitions", o.at);
          if (o.n === 0) this.fail(C.InvalidNumber, "'max-src-conn' must be > 0", o.at);
          s.maxSrcConn = o.n;
          s.sourceTrack = "rule";
          break;
        case "max-src-conn-rate":
          if (s.maxSrcConnRate)
            this.fail(C.Redefined, "state option 'max-src-conn-rate' multiple definitions", o.at);
          if (!o.n || !o.n2) this.fail(C.InvalidNumber, "'max-src-conn-rate' values must be > 0", o.at);
          if (o.n > 0xffffffff / 1000)
            this.fail(
              C.InvalidNumber,
              `'max-src-conn-rate' maximum rate must be < ${Math.floor(0xffffffff / 1000)}`,
              o.at,
            );
          s.maxSrcConnRate = { limit: o.n, seconds: o.n2 };
          s.sourceTrack = "rule";
          break;
        case "max-src-nodes":
          if (s.maxSrcNodes)
            this.fail(C.Redefined, "state option 'max-src-nodes' multiple definitions", o.at);
          if (o.n === 0) this.fail(C.InvalidNumber, "'max-src-nodes' must be > 0", o.at);
          s.maxSrcNodes = o.n;
          s.sourceTrack = "rule";
          break;
        case "statelock":
          if (statelock) this.fail(C.Redefined, "state locking option: multiple definitions", o.at);
          statelock = true;
          s.ifBound = o.ifBound ?? false;
          break;
        case "sloppy":
          if (s.sloppy) this.fail(C.Redefined, "state sloppy option: multiple definitions", o.at);
          s.sloppy = true;
          break;
        case "timeout": {
          const slot = o.slot as number;
          if (slot === 16 || slot === 17) adaptive = true;
          if (s.timeouts.get(slot))
            this.fail(
              C.Redefined,
              `state timeout ${TIMEOUT_NAMES.find((n) => timeoutSlot(n) === slot)} multiple definitions`,
              o.at,
            );
          s.timeouts.set(slot, o.n);
          break;
        }
      }
    }
    return { srctrack, statelock, adaptive };
  }

  private checkTag(tag: string, at: Token): string {
    if (tag.length >= 64) this.fail(C.InvalidOption, "tag too long, max 63 chars", at);
    return tag;
  }

  private checkLabel(label: string, at: Token): string {
    if (label.length >= 64) this.fail(C.InvalidOption, "rule label too long (max 63 chars)", at);
    return label;
  }

  private blockSpec(): {
    kind: "drop" | "return" | "return-rst" | "return-icmp";
    ttl: number;
    w: [number, number];
    w2: [number, number];
  } {
    const DEF4: [number, number] = [3, 3];
    const DEF6: [number, number] = [1, 4];
    const t = this.peek();
    if (this.acceptKw("drop")) return { kind: "drop", ttl: 0, w: [0, 0], w2: [0, 0] };
    if (this.acceptKw("return")) return { kind: "return", ttl: 0, w: DEF4, w2: DEF6 };
    if (this.acceptKw("return-rst")) {
      if (this.acceptPunct("(")) {
        this.expectKw("ttl");
        const n = this.expectNumber("a TTL");
        this.expectPunct(")");
        if (n.value < 0 || n.value > 255) this.fail(C.InvalidNumber, `illegal ttl value ${n.value}`, n);
        return { kind: "return-rst", ttl: n.value, w: [0, 0], w2: [0, 0] };
      }
      return { kind: "return-rst", ttl: 0, w: [0, 0], w2: [0, 0] };
    }
    if (this.isKw("return-icmp", t) || this.isKw("return-icmp6", t)) {
      this.next();
      const v6 = t.text === "return-icmp6";
      if (!this.acceptPunct("(")) return { kind: "return-icmp", ttl: 0, w: DEF4, w2: DEF6 };
      const first = this.retIcmp(v6);
      if (v6) {
        this.expectPunct(")");
        return { kind: "return-icmp", ttl: 0, w: DEF4, w2: first };
      }
      if (this.acceptPunct(")")) return { kind: "return-icmp", ttl: 0, w: first, w2: DEF4 };
      this.comma();
      const second = this.retIcmp(true);
      this.expectPunct(")");
      return { kind: "return-icmp", ttl: 0, w: first, w2: second };
    }
    return { kind: this.blockPolicy, ttl: 0, w: DEF4, w2: DEF6 };
  }

  private retIcmp(v6: boolean): [number, number] {
    const type = v6 ? 1 : 3;
    const t = this.next();
    if (t.kind === "number") {
      if (t.value < 0 || t.value > 255) this.fail(C.UnknownIcmp, `invalid icmp code ${t.value}`, t);
      return [type, t.value];
    }
    if (t.kind === "string") {
      if (/^\d+$/.test(t.text)) {
        const n = Number(t.text);
        if (n > 255) this.fail(C.UnknownIcmp, `invalid icmp code ${n}`, t);
        return [type, n];
      }
      const c = icmpCodeByName(type, t.text, v6);
      if (c === null) this.fail(C.UnknownIcmp, `unknown icmp code ${t.text}`, t);
      return [type, c];
    }
    return this.syntax(t, "an ICMP code");
  }

  private route(): RouteSpec {
    const none: RouteSpec = {
      hosts: null,
      type: null,
      pool: { type: "none", sticky: false, staticPort: false, key: null },
    };
    if (this.acceptKw("fastroute")) return none;
    const t = this.peek();
    if (!this.isKw("route-to", t) && !this.isKw("reply-to", t) && !this.isKw("dup-to", t)) return none;
    this.next();
    let hosts: HostNode[];
    if (this.acceptPunct("{")) {
      this.optnl();
      hosts = this.routeHost();
      this.optnl();
      while (!this.isPunct("}")) {
        this.comma();
        const more = this.routeHost();
        const af0 = hosts[0]?.af ?? 0;
        const af1 = more[0]?.af ?? 0;
        if (af0 && af1 && af0 !== af1)
          this.fail(C.Translation, "all pool addresses must be in the same address family", t);
        hosts = [...hosts, ...more];
        this.optnl();
      }
      this.next();
    } else hosts = this.routeHost();
    const pool = this.poolOpts();
    return { hosts, type: t.text as RouteSpec["type"], pool };
  }

  private routeHost(): HostNode[] {
    if (this.acceptPunct("(")) {
      const ifname = this.expectString("an interface name");
      const hosts = this.host();
      this.expectPunct(")");
      for (const h of hosts) h.ifname = ifname.text;
      return hosts;
    }
    const ifname = this.expectString("an interface name");
    return [
      {
        address: { type: "addrmask", addr: 0n, mask: maskOfBits(128) },
        af: 0,
        not: false,
        ifindex: 0,
        ifname: ifname.text,
      },
    ];
  }

  private scrubRule(no?: Token): void {
    const first = no ?? this.peek();
    this.expectKw("scrub");
    const dir = this.dir();
    const lq = this.logQuick();
    const ifs = this.interfaceSpec();
    const af = this.af();
    const protos = this.proto();
    const ft = this.fromTo();
    const so = {
      noDf: false,
      minTtl: 0,
      maxMss: 0,
      setTos: null as number | null,
      fragcache: false,
      reassembleTcp: false,
      randomId: false,
      rtable: -1,
      tagged: null as string | null,
      taggedNot: false,
    };
    for (;;) {
      const t = this.peek();
      if (this.acceptKw("no-df")) {
        if (so.noDf) this.fail(C.Redefined, "no-df cannot be respecified", t);
        so.noDf = true;
      } else if (this.acceptKw("min-ttl")) {
        const n = this.expectNumber("a TTL");
        if (so.minTtl) this.fail(C.Redefined, "min-ttl cannot be respecified", t);
        if (n.value < 0 || n.value > 255) this.fail(C.InvalidNumber, `illegal min-ttl value ${n.value}`, n);
        so.minTtl = n.value;
      } else if (this.acceptKw("max-mss")) {
        const n = this.expectNumber("an MSS");
        if (so.maxMss) this.fail(C.Redefined, "max-mss cannot be respecified", t);
        if (n.value < 0 || n.value > 65535) this.fail(C.InvalidNumber, `illegal max-mss value ${n.value}`, n);
        so.maxMss = n.value;
      } else if (this.acceptKw("set-tos")) {
        if (so.setTos !== null) this.fail(C.Redefined, "set-tos cannot be respecified", t);
        so.setTos = this.tos();
      } else if (this.acceptKw("fragment")) {
        if (!this.acceptKw("reassemble") && !this.acceptKw("crop") && !this.acceptKw("drop-ovl"))
          this.syntax(this.peek(), "reassemble, crop or drop-ovl");
        if (so.fragcache) this.fail(C.Redefined, "fragcache cannot be respecified", t);
        so.fragcache = true;
      } else if (this.acceptKw("reassemble")) {
        const w = this.expectString("tcp");
        if (w.text.toLowerCase() !== "tcp")
          this.fail(C.InvalidOption, `scrub reassemble supports only tcp, not '${w.text}'`, w);
        if (so.reassembleTcp) this.fail(C.Redefined, "reassemble tcp cannot be respecified", t);
        so.reassembleTcp = true;
      } else if (this.acceptKw("random-id")) {
        if (so.randomId) this.fail(C.Redefined, "random-id cannot be respecified", t);
        so.randomId = true;
      } else if (this.acceptKw("rtable")) {
        const n = this.expectNumber("a routing table number");
        if (n.value < 0 || n.value > 15) this.fail(C.InvalidNumber, "invalid rtable id", n);
        so.rtable = n.value;
      } else if (this.isPunct("!") || this.isKw("tagged")) {
        so.taggedNot = this.acceptPunct("!") !== null;
        this.expectKw("tagged");
        so.tagged = this.words("a tag name").text;
      } else break;
    }
    this.checkRulestate(STATE_SCRUB, first);
    const r = blankRule(no ? "no scrub" : "scrub");
    r.direction = dir;
    r.log = lq.log;
    if (lq.quick) this.fail(C.InconsistentRule, "scrub rules do not support 'quick'", first);
    r.af = af;
    r.scrub.noDf = so.noDf;
    r.scrub.randomId = so.randomId;
    if (so.reassembleTcp) {
      if (r.direction) this.fail(C.InconsistentRule, "reassemble tcp rules can not specify direction", first);
      r.scrub.reassembleTcp = true;
    }
    r.scrub.minTtl = so.minTtl;
    r.scrub.maxMss = so.maxMss;
    r.scrub.setTos = so.setTos;
    if (so.tagged !== null) r.tagged = this.checkTag(so.tagged, first);
    r.taggedNot = so.taggedNot;
    r.rtable = so.rtable;
    this.expand(r, {
      ifs,
      rpool: null,
      protos,
      icmps: null,
      src: ft.src.hosts,
      srcPorts: ft.src.ports,
      os: ft.os,
      dst: ft.dst.hosts,
      dstPorts: ft.dst.ports,
      uids: null,
      gids: null,
      anchorCall: "",
      span: this.spanOf(first, this.prev ?? first),
      at: first,
    });
  }

  private natPassLog(): { pass: boolean; log: PfRule["log"] } {
    let pass = false;
    let log: PfRule["log"] = null;
    if (this.acceptKw("pass")) pass = true;
    if (this.isKw("log")) log = this.log();
    return { pass, log };
  }

  private natRule(no?: Token): void {
    const first = no ?? this.peek();
    const kw = this.next();
    const isRdr = kw.text === "rdr";
    const action: PfAction = no ? (isRdr ? "no rdr" : "no nat") : isRdr ? "rdr" : "nat";
    const pl = this.natPassLog();
    if (no && pl.pass) this.fail(C.Syntax, '"pass" not valid with "no"', first);
    const ifs = this.interfaceSpec();
    const af = this.af();
    const protos = this.proto();
    const ft = this.fromTo();
    const tag = this.acceptKw("tag") ? this.expectString("a tag name").text : null;
    let tagged: string | null = null;
    let taggedNot = false;
    if (this.isPunct("!") || this.isKw("tagged")) {
      taggedNot = this.acceptPunct("!") !== null;
      this.expectKw("tagged");
      tagged = this.words("a tag name").text;
    }
    const rtable = this.rtable();
    let redir: { hosts: HostNode[]; rport: Range } | null = null;
    if (this.peek().kind === "arrow") {
      const arrow = this.next();
      let hosts: HostNode[];
      if (this.acceptPunct("{")) {
        this.optnl();
        hosts = this.host();
        this.optnl();
        while (!this.isPunct("}")) {
          this.comma();
          hosts = [...hosts, ...this.host()];
          this.optnl();
        }
        this.next();
      } else hosts = this.host();
      let rport: Range = { a: 0, b: 0, t: "" };
      if (this.acceptKw("port")) {
        const s = this.numberString("a port");
        rport = this.parsePort(s.text, s.at, true, true);
      }
      redir = { hosts, rport };
      void arrow;
    }
    const po = this.poolOpts();
    this.checkRulestate(STATE_NAT, first);
    const r = blankRule(action);
    r.natpass = pl.pass;
    r.log = pl.log;
    r.af = af;
    if (!r.af) {
      const s0 = ft.src.hosts?.[0];
      const d0 = ft.dst.hosts?.[0];
      if (s0 && s0.af && !s0.ifindex) r.af = afName(s0.af);
      else if (d0 && d0.af && !d0.ifindex) r.af = afName(d0.af);
    }
    if (tag !== null) r.tag = this.checkTag(tag, first);
    if (tagged !== null) r.tagged = this.checkTag(tagged, first);
    r.taggedNot = taggedNot;
    r.rtable = rtable;
    let poolHosts: HostNode[] | null = null;
    if (action === "no nat" || action === "no rdr") {
      if (redir) this.fail(C.Translation, "translation rule with 'no' does not need '->'", first);
    } else {
      if (!redir || redir.hosts.length === 0)
        this.fail(C.Translation, "translation rule requires '-> address'", first);
      const h0 = redir.hosts[0] as HostNode;
      if (!r.af && !h0.ifindex) r.af = afName(h0.af);
      poolHosts = removeInvalidHosts(redir.hosts, r);
      this.invalidRedirect(poolHosts, r.af, first);
      for (const h of poolHosts) if (this.checkNetmask(h, r.af)) throw new Abort();
      let p0 = redir.rport.a;
      let p1 = 0;
      if (action === "rdr") {
        const dp = ft.dst.ports?.[0];
        if (!redir.rport.b && redir.rport.t && dp)
          p1 = redir.rport.a + ((dp.op === ":" ? dp.b : dp.a) - dp.a);
        else p1 = redir.rport.b;
      } else {
        p1 = redir.rport.b;
        if (!p0 && !p1) {
          p0 = NAT_PROXY_PORT_LOW;
          p1 = NAT_PROXY_PORT_HIGH;
        } else if (!p1) p1 = p0;
      }
      let type = po.type;
      const p = poolHosts[0] as HostNode;
      if (
        type === "none" &&
        (poolHosts.length > 1 || p.address.type === "table" || dynifMultiaddr(p.address))
      )
        type = "round-robin";
      if (type !== "round-robin" && poolHosts.some((h) => h.address.type === "table"))
        this.fail(C.Translation, "tables are only supported in round-robin redirection pools", first);
      if (type !== "round-robin" && poolHosts.some((h) => dynifMultiaddr(h.address)))
        this.fail(
          C.Translation,
          `interface (${dynName(poolHosts)}) is only supported in round-robin redirection pools`,
          first,
        );
      if (poolHosts.length > 1 && type !== "round-robin")
        this.fail(C.Translation, "only round-robin valid for multiple redirection addresses", first);
      if (po.staticPort) {
        if (action !== "nat")
          this.fail(C.Translation, "the 'static-port' option is only valid with nat rules", first);
        if (p0 !== NAT_PROXY_PORT_LOW && p1 !== NAT_PROXY_PORT_HIGH)
          this.fail(
            C.Translation,
            "the 'static-port' option can't be used when specifying a port range",
            first,
          );
        p0 = 0;
        p1 = 0;
      }
      r.pool = { addresses: [], type, sticky: po.sticky, key: po.key, proxyPort: [p0, p1] };
    }
    if (!r.pool && (po.sticky || po.type !== "none" || po.key))
      r.pool = { addresses: [], type: po.type, sticky: po.sticky, key: po.key, proxyPort: [0, 0] };
    this.expand(r, {
      ifs,
      rpool: poolHosts,
      protos,
      icmps: null,
      src: ft.src.hosts,
      srcPorts: ft.src.ports,
      os: ft.os,
      dst: ft.dst.hosts,
      dstPorts: ft.dst.ports,
      uids: null,
      gids: null,
      anchorCall: "",
      span: this.spanOf(first, this.prev ?? first),
      at: first,
    });
  }

  private rtable(): number {
    if (!this.acceptKw("rtable")) return -1;
    const n = this.expectNumber("a routing table number");
    if (n.value < 0 || n.value > 15) this.fail(C.InvalidNumber, "invalid rtable id", n);
    return n.value;
  }

  private invalidRedirect(hosts: HostNode[], af: PfFamily | null, at: Token): void {
    if (!af && hosts.some((h) => h.address.type !== "table" && h.address.type !== "dynif"))
      this.fail(
        C.Translation,
        "address family not given and translation address expands to multiple address families",
        at,
      );
    if (hosts.length === 0)
      this.fail(C.Translation, "no translation address with matching address family found.", at);
  }

  /** pfctl's check_netmask(): fixes a dynamic address's mask for IPv4 (in place) and refuses masks too long for IPv4. */
  private checkNetmask(h: HostNode, af: PfFamily | null): boolean {
    if (h.address.type === "table") return false;
    const a = h.address;
    if (af === "inet" && a.type === "dynif" && bitsOfMask(a.mask) > 32) setNodeMask(h, 32);
    const mask = h.address.type === "addrmask" || h.address.type === "dynif" ? h.address.mask : 0n;
    if (af === "inet" && (mask & ((1n << 96n) - 1n)) !== 0n) {
      this.diagnostics.push({
        ...this.lastSpanDiag(),
        message: `netmask ${bitsOfMask(mask)} invalid for IPv4 address`,
      });
      return true;
    }
    return false;
  }

  private currentRuleAt: Token | null = null;

  private lastSpanDiag(): PfDiagnostic {
    const at = this.currentRuleAt ?? this.prev ?? this.peek();
    const span = this.spanOf(at);
    const d: PfDiagnostic = { code: C.InvalidAddress, severity: "error", message: "", ...span };
    return d;
  }

  private binatRule(no?: Token): void {
    const first = no ?? this.peek();
    this.expectKw("binat");
    const pl = this.natPassLog();
    const ifs = this.interfaceSpec();
    const af = this.af();
    const protos = this.proto();
    this.expectKw("from");
    const srcAt = this.peek();
    const src = this.ipSpec();
    let dst: HostNode[] | null = null;
    if (this.acceptKw("to")) dst = this.ipSpec();
    const tag = this.acceptKw("tag") ? this.expectString("a tag name").text : null;
    let tagged: string | null = null;
    let taggedNot = false;
    if (this.isPunct("!") || this.isKw("tagged")) {
      taggedNot = this.acceptPunct("!") !== null;
      this.expectKw("tagged");
      tagged = this.words("a tag name").text;
    }
    const rtable = this.rtable();
    let redir: HostNode[] | null = null;
    if (this.peek().kind === "arrow") {
      this.next();
      redir = this.host();
      if (this.acceptKw("port")) {
        const s = this.numberString("a port");
        this.parsePort(s.text, s.at, true, true);
      }
    }
    this.checkRulestate(STATE_NAT, first);
    if (dst?.some((h) => h.address.type === "urpf-failed"))
      this.fail(C.InvalidAddress, '"urpf-failed" is not permitted as a binat destination', first);
    if (no && pl.pass) this.fail(C.Syntax, '"pass" not valid with "no"', first);
    const r = blankRule(no ? "no binat" : "binat");
    r.natpass = pl.pass;
    r.log = pl.log;
    let fam: 0 | AddressFamily = afNum(af);
    if (!fam && src?.[0]?.af) fam = src[0].af;
    if (!fam && dst?.[0]?.af) fam = dst[0].af;
    if (!fam && redir?.[0]?.af) fam = redir[0].af;
    if (!fam) this.fail(C.Translation, "address family (inet/inet6) undefined", first);
    r.af = afName(fam);
    const iface = ifs?.[0];
    if (iface) r.interface = { name: iface.name, not: iface.not };
    if (tag !== null) r.tag = this.checkTag(tag, first);
    if (tagged !== null) r.tagged = this.checkTag(tagged, first);
    r.taggedNot = taggedNot;
    r.rtable = rtable;
    if (protos) r.proto = protos[0] as number;
    if (src) {
      if (src.some((h) => h.address.type === "table"))
        this.fail(
          C.Translation,
          `invalid use of table <${tableName(src)}> as the source address of a binat rule`,
          srcAt,
        );
      if (src.some((h) => dynifMultiaddr(h.address)))
        this.fail(
          C.Translation,
          `invalid use of interface (${dynName(src)}) as the source address of a binat rule`,
          srcAt,
        );
    }
    if (redir) {
      if (redir.some((h) => h.address.type === "table"))
        this.fail(
          C.Translation,
          `invalid use of table <${tableName(redir)}> as the redirect address of a binat rule`,
          first,
        );
      if (redir.some((h) => dynifMultiaddr(h.address)))
        this.fail(
          C.Translation,
          `invalid use of interface (${dynName(redir)}) as the redirect address of a binat rule`,
          first,
        );
    }
    if (src) {
      if (src.length > 1) this.fail(C.Translation, "multiple binat ip addresses", srcAt);
      const s0 = src[0] as HostNode;
      if (s0.address.type === "dynif") s0.af = fam;
      if (s0.af !== fam) this.fail(C.Translation, "binat ip versions must match", srcAt);
      if (this.checkNetmask(s0, r.af)) throw new Abort();
      r.src = { address: s0.address, neg: false, port: null };
    }
    if (dst) {
      if (dst.length > 1) this.fail(C.Translation, "multiple binat ip addresses", first);
      const d0 = dst[0] as HostNode;
      if (d0.af !== fam && d0.af) this.fail(C.Translation, "binat ip versions must match", first);
      if (this.checkNetmask(d0, r.af)) throw new Abort();
      r.dst = { address: d0.address, neg: d0.not, port: null };
    }
    if (r.action === "no binat") {
      if (redir) this.fail(C.Translation, "'no binat' rule does not need '->'", first);
    } else {
      if (!redir || redir.length === 0) this.fail(C.Translation, "'binat' rule requires '-> address'", first);
      const hosts = removeInvalidHosts(redir, r);
      this.invalidRedirect(hosts, r.af, first);
      if (hosts.length > 1) this.fail(C.Translation, "binat rule must redirect to a single address", first);
      const h = hosts[0] as HostNode;
      if (this.checkNetmask(h, r.af)) throw new Abort();
      const srcMask =
        r.src.address.type === "addrmask" || r.src.address.type === "dynif" ? r.src.address.mask : 0n;
      const hMask = h.address.type === "addrmask" || h.address.type === "dynif" ? h.address.mask : 0n;
      const famMask = fam === 4 ? 0xffffffffn << 96n : (1n << 128n) - 1n;
      if ((srcMask & famMask) !== 0n && (srcMask & famMask) !== (hMask & famMask))
        this.fail(C.Translation, "'binat' source mask and redirect mask must be the same", first);
      r.pool = {
        addresses: [{ address: h.address, ifname: null }],
        type: "none",
        sticky: false,
        key: null,
        proxyPort: [0, 0],
      };
    }
    r.span = this.spanOf(first, this.prev ?? first);
    this.addRule(r, "");
  }

  private anchorRule(): void {
    const first = this.next();
    let name: Token | null = null;
    if (this.peek().kind === "string") name = this.next();
    const dir = this.dir();
    const quick = this.acceptKw("quick") !== null;
    const ifs = this.interfaceSpec();
    const af = this.af();
    const protos = this.proto();
    const ft = this.fromTo();
    const fo = this.filterOpts();
    let inline: PfAnchor | null = null;
    if (this.isPunct("{")) {
      const brace = this.next();
      // pfctl collects the inline rules in a holding ruleset "_N" first.
      this.braceCount++;
      const holding = newAnchor(`_${this.braceCount}`, `_${this.braceCount}`, true);
      this.astack.push(holding);
      this.current = holding;
      if (this.peek().kind !== "newline") {
        this.astack.pop();
        this.current = this.astack[this.astack.length - 1] as PfAnchor;
        this.syntax(this.peek(), "a new line after {");
      }
      this.next();
      try {
        for (;;) {
          const t = this.peek();
          if (this.isPunct("}", t)) break;
          if (t.kind === "eof") this.fail(C.Unterminated, "anchor body never closed with }", brace);
          this.statementWithRecovery(true);
        }
        this.next();
      } finally {
        this.astack.pop();
        this.current = this.astack[this.astack.length - 1] as PfAnchor;
      }
      inline = holding;
      this.alast = holding;
    }
    this.checkRulestate(STATE_FILTER, first);
    if (name && (name.text.startsWith("_") || name.text.includes("/_")))
      this.fail(C.Anchor, "anchor names beginning with '_' are reserved for internal use", name);
    const r = blankRule("pass");
    let anchorCall = name?.text ?? "";
    if (inline) {
      const parentPath = this.current === this.main ? this.main.path : this.current.path;
      const target = this.setupAnchor(parentPath, name ? name.text : inline.name, inline);
      if (target !== inline) {
        if ((this.matchCount.get(target) ?? 0) > 0)
          this.fail(C.Anchor, `inline anchor '${target.name}' already exists`, name ?? first);
        for (const kind of ["scrub", "nat", "rdr", "binat", "filter"] as const) {
          target.ruleset[kind].push(...inline.ruleset[kind]);
          inline.ruleset[kind] = [];
        }
        this.matchCount.set(target, (this.matchCount.get(target) ?? 0) + (this.matchCount.get(inline) ?? 0));
        this.matchCount.set(inline, 0);
      }
      this.alast = target;
      r.anchor = target;
      anchorCall = target.name;
    } else if (!name) this.fail(C.Anchor, "anchors without explicit rules must specify a name", first);
    r.direction = dir;
    r.quick = quick;
    r.af = af;
    r.probability = fo.prob;
    r.rtable = fo.rtable;
    if (fo.tag !== null) r.tag = this.checkTag(fo.tag, fo.at);
    if (fo.tagged !== null) r.tagged = this.checkTag(fo.tagged, fo.at);
    r.taggedNot = fo.taggedNot;
    if (fo.label !== null) r.label = this.checkLabel(fo.label, fo.at);
    r.flags = fo.flags?.b1 ?? 0;
    r.flagset = fo.flags?.b2 ?? 0;
    if ((r.flags & r.flagset) !== r.flags) this.fail(C.InvalidFlags, "flags always false", fo.at);
    if ((r.flags || r.flagset || ft.os) && protos !== null && !protos.includes(IPPROTO_TCP)) {
      if (r.flags || r.flagset) this.report(C.InconsistentRule, "flags only apply to tcp", fo.at);
      if (ft.os) this.report(C.InconsistentRule, "OS fingerprinting only applies to tcp", ft.at);
      throw new Abort();
    }
    r.tos = fo.tos;
    if (fo.keep) this.fail(C.InconsistentRule, "cannot specify state handling on anchors", fo.at);
    if (fo.prio !== null) r.prio = fo.prio;
    if (fo.setPrio) r.setPrio = fo.setPrio;
    r.af = decideFamily(ft.src.hosts, r.af);
    r.af = decideFamily(ft.dst.hosts, r.af);
    this.expand(r, {
      ifs,
      rpool: null,
      protos,
      icmps: fo.icmp,
      src: ft.src.hosts,
      srcPorts: ft.src.ports,
      os: ft.os,
      dst: ft.dst.hosts,
      dstPorts: ft.dst.ports,
      uids: fo.uids,
      gids: fo.gids,
      anchorCall,
      span: this.spanOf(first, this.prev ?? first),
      at: first,
    });
  }

  /** pf_anchor_setup(): the anchor `name` resolves to, relative to `parentPath` unless it starts with '/'. */
  private setupAnchor(parentPath: string, name: string, holding: PfAnchor): PfAnchor {
    let path: string;
    let rest = name;
    if (rest.startsWith("/")) path = rest.slice(1);
    else {
      path = parentPath;
      while (rest.startsWith("../")) {
        const p = path.lastIndexOf("/");
        path = p >= 0 ? path.slice(0, p) : "";
        rest = rest.slice(3);
      }
      path = path ? `${path}/${rest}` : rest;
    }
    if (path.endsWith("/*")) path = path.slice(0, -2);
    if (path === holding.path) return holding;
    const existing = this.anchorsByPath.get(path);
    if (existing) return existing;
    const last = path.lastIndexOf("/");
    const a = newAnchor(last >= 0 ? path.slice(last + 1) : path, path, true);
    this.anchorsByPath.set(path, a);
    return a;
  }

  private translationAnchor(): void {
    const first = this.next();
    const name = this.words("an anchor name");
    const ifs = this.interfaceSpec();
    const af = this.af();
    const protos = this.proto();
    const ft = this.fromTo();
    const rtable = this.rtable();
    this.checkRulestate(STATE_NAT, first);
    const action: PfAction =
      first.text === "nat-anchor" ? "nat" : first.text === "rdr-anchor" ? "rdr" : "binat";
    const r = blankRule(action);
    r.af = af;
    r.rtable = rtable;
    r.af = decideFamily(ft.src.hosts, r.af);
    r.af = decideFamily(ft.dst.hosts, r.af);
    if (action === "rdr") {
      if (ft.src.ports)
        this.fail(C.InconsistentRule, "source port parameter not supported in rdr-anchor", first);
      if (ft.dst.ports) {
        if (ft.dst.ports.length > 1)
          this.fail(C.InconsistentRule, "destination port list expansion not supported in rdr-anchor", first);
        if ((ft.dst.ports[0] as PfCompare).op !== "=")
          this.fail(C.InconsistentRule, "destination port operators not supported in rdr-anchor", first);
      }
    }
    if (action === "binat") {
      if (protos && protos.length > 1)
        this.fail(C.InconsistentRule, "proto list expansion not supported in binat-anchor", first);
      if (protos) r.proto = protos[0] as number;
      if (ft.src.hosts || ft.src.ports || ft.dst.hosts || ft.dst.ports)
        this.fail(C.InconsistentRule, "fromto parameter not supported in binat-anchor", first);
      r.span = this.spanOf(first, this.prev ?? first);
      this.addRule(r, name.text);
      return;
    }
    this.expand(r, {
      ifs,
      rpool: null,
      protos,
      icmps: null,
      src: ft.src.hosts,
      srcPorts: ft.src.ports,
      os: ft.os,
      dst: ft.dst.hosts,
      dstPorts: ft.dst.ports,
      uids: null,
      gids: null,
      anchorCall: name.text,
      span: this.spanOf(first, this.prev ?? first),
      at: first,
    });
  }

  private loadRule(): void {
    const first = this.next();
    this.expectKw("anchor");
    const name = this.words("an anchor name");
    this.expectKw("from");
    const file = this.words("a file name");
    const full = this.main.name ? `${this.main.name}/${name.text}` : name.text;
    const span = this.spanOf(first, this.prev ?? first);
    this.statements.push({ kind: "load-anchor", anchor: full, file: file.text, span });
    this.loads.push({ anchor: full, file: file.text, span });
  }

  private antispoof(): void {
    const first = this.next();
    const lq = this.logQuick();
    this.expectKw("for");
    const ifs: NodeIf[] = [];
    const one = (): void => {
      if (this.acceptPunct("(")) {
        const i = this.ifItem();
        this.expectPunct(")");
        i.dynamic = true;
        ifs.push(i);
      } else ifs.push(this.ifItem());
    };
    if (this.acceptPunct("{")) {
      this.optnl();
      one();
      this.optnl();
      while (!this.isPunct("}")) {
        this.comma();
        one();
        this.optnl();
      }
      this.next();
    } else one();
    const af = this.af();
    let label: string | null = null;
    let rtable = -1;
    for (;;) {
      if (this.acceptKw("label")) {
        const l = this.expectString("a label");
        if (label !== null) this.fail(C.Redefined, "label cannot be redefined", l);
        label = l.text;
      } else if (this.acceptKw("rtable")) {
        const n = this.expectNumber("a routing table number");
        if (n.value < 0 || n.value > 15) this.fail(C.InvalidNumber, "invalid rtable id", n);
        rtable = n.value;
      } else break;
    }
    this.checkRulestate(STATE_FILTER, first);
    const span = this.spanOf(first, this.prev ?? first);
    for (const i of ifs) {
      const base = (): PfRule => {
        const r = blankRule("block");
        r.direction = "in";
        r.log = lq.log;
        r.quick = lq.quick;
        r.af = af;
        if (label !== null) r.label = this.checkLabel(label, first);
        r.rtable = rtable;
        return r;
      };
      let h: HostNode[];
      let hh: HostNode[] | null = null;
      if (i.dynamic) {
        const node: HostNode = {
          address: {
            type: "dynif",
            ifname: i.name,
            flags: { ...NO_IF_FLAGS, network: true },
            mask: maskOfBits(128),
          },
          af: 0,
          not: false,
          ifindex: 0,
          ifname: null,
        };
        hh = [
          {
            ...node,
            address: { type: "dynif", ifname: i.name, flags: { ...NO_IF_FLAGS }, mask: maskOfBits(128) },
          },
        ];
        h = [node];
      } else h = lookupInterface(this.env, i.name, { ...NO_IF_FLAGS, network: true });
      if (h.length > 0)
        this.expand(base(), {
          ifs: [{ name: i.name, not: true, dynamic: false, loopback: false }],
          rpool: null,
          protos: null,
          icmps: null,
          src: h,
          srcPorts: null,
          os: null,
          dst: null,
          dstPorts: null,
          uids: null,
          gids: null,
          anchorCall: "",
          span,
          at: first,
        });
      if (!i.loopback) {
        const h2 = hh ?? lookupInterface(this.env, i.name, NO_IF_FLAGS);
        if (h2.length > 0)
          this.expand(base(), {
            ifs: null,
            rpool: null,
            protos: null,
            icmps: null,
            src: h2,
            srcPorts: null,
            os: null,
            dst: null,
            dstPorts: null,
            uids: null,
            gids: null,
            anchorCall: "",
            span,
            at: first,
          });
      }
    }
  }

  private tableDef(): void {
    const first = this.next();
    this.expectPunct("<");
    const name = this.expectString("a table name");
    this.expectPunct(">");
    const table: PfTable = {
      name: name.text,
      const: false,
      persist: false,
      counters: false,
      items: [],
      initAddr: false,
      entries: [],
      span: this.spanOf(first),
    };
    for (;;) {
      const t = this.peek();
      if (t.kind === "string") {
        this.next();
        if (t.text === "const") table.const = true;
        else if (t.text === "persist") table.persist = true;
        else if (t.text === "counters") table.counters = true;
        else this.fail(C.Table, `invalid table option '${t.text}'`, t);
      } else if (this.isPunct("{", t)) {
        this.next();
        this.optnl();
        if (this.acceptPunct("}")) {
          table.initAddr = true;
          continue;
        }
        let hosts: HostNode[] = [];
        const first1 = this.ipSpec();
        if (first1) hosts = first1;
        this.optnl();
        while (!this.isPunct("}")) {
          this.comma();
          const more = this.ipSpec();
          if (more) hosts = [...hosts, ...more];
          this.optnl();
        }
        this.next();
        for (const h of hosts) {
          const ty = h.address.type;
          if (ty === "range") this.fail(C.Table, "address ranges are not permitted inside tables", t);
          if (ty === "dynif") this.fail(C.Table, "dynamic addresses are not permitted inside tables", t);
          if (ty === "table") this.fail(C.Table, "tables cannot contain tables", t);
          if (ty === "noroute") this.fail(C.Table, '"no-route" is not permitted inside tables', t);
          if (ty === "urpf-failed") this.fail(C.Table, '"urpf-failed" is not permitted inside tables', t);
        }
        table.items.push({
          kind: "addresses",
          addresses: hosts.map<PfTableEntry>((h) => ({
            address: h.address,
            family: h.af === 6 ? 6 : 4,
            neg: h.not,
          })),
        });
        table.initAddr = true;
      } else if (this.isKw("file", t)) {
        this.next();
        const f = this.expectString("a file name");
        table.items.push({ kind: "file", path: f.text });
        table.initAddr = true;
      } else break;
    }
    if (name.text.length >= 32) this.fail(C.Table, "table name too long, max 31 chars", name);
    for (const item of table.items) {
      if (item.kind === "addresses") {
        table.entries.push(...item.addresses);
        continue;
      }
      const text = this.opts.readFile?.(item.path);
      if (text === undefined)
        this.fail(C.Table, `cannot load "${item.path}": No such file or directory`, first);
      for (const word of text.replace(/#[^\n]*/g, "").split(/\s+/)) {
        if (word === "") continue;
        const neg = /^(!!)*!/.test(word);
        const bare = word.replace(/^!+/, "");
        const r = resolveHost(this.env, bare);
        if ("error" in r) this.fail(C.Table, `file "${item.path}" contains bad data`, first);
        for (const h of r.nodes) table.entries.push({ address: h.address, family: h.af === 6 ? 6 : 4, neg });
      }
    }
    table.span = this.spanOf(first, this.prev ?? first);
    this.statements.push({ kind: "table", table, span: table.span });
  }

  private altqIf(): void {
    const first = this.next();
    const ifs = this.interfaceSpec();
    const qo = this.queueOpts();
    this.expectKw("queue");
    const children = this.qassign();
    this.checkRulestate(STATE_QUEUE, first);
    const lines = this.altq.altq(ifs ?? [], qo, children, (m) => this.fail(C.Queue, m, first));
    for (const text of lines)
      this.statements.push({ kind: "altq", text, span: this.spanOf(first, this.prev ?? first) });
  }

  private queueSpec(): void {
    const first = this.next();
    const name = this.expectString("a queue name");
    const ifs = this.interfaceSpec();
    const qo = this.queueOpts();
    const children = this.qassign();
    this.checkRulestate(STATE_QUEUE, first);
    if (name.text.length >= 64) this.fail(C.Queue, "queue name too long (max 63 chars)", name);
    const lines = this.altq.queue(name.text, ifs ?? [], qo, children, (m) => this.fail(C.Queue, m, first));
    for (const text of lines)
      this.statements.push({ kind: "altq", text, span: this.spanOf(first, this.prev ?? first) });
  }

  private qassign(): string[] {
    if (this.acceptPunct("{")) {
      this.optnl();
      const list = [this.expectString("a queue name").text];
      this.optnl();
      while (!this.isPunct("}")) {
        this.comma();
        list.push(this.expectString("a queue name").text);
        this.optnl();
      }
      this.next();
      return list;
    }
    if (this.peek().kind === "string") return [this.next().text];
    return [];
  }

  private queueOpts(): QueueOpts {
    const q: QueueOpts = {
      bandwidth: { absolute: 0, percent: 100 },
      bwSet: false,
      priority: 1,
      prioritySet: false,
      qlimit: 50,
      qlimitSet: false,
      scheduler: null,
      tbrsize: 0,
    };
    for (;;) {
      const t = this.peek();
      if (this.acceptKw("bandwidth")) {
        if (q.bwSet) this.fail(C.Redefined, "bandwidth cannot be respecified", t);
        q.bandwidth = this.bandwidth();
        q.bwSet = true;
      } else if (this.acceptKw("priority")) {
        const n = this.expectNumber("a priority");
        if (q.prioritySet) this.fail(C.Redefined, "priority cannot be respecified", t);
        if (n.value < 0 || n.value > 255) this.fail(C.InvalidNumber, "priority out of range: max 255", n);
        q.priority = n.value;
        q.prioritySet = true;
      } else if (this.acceptKw("qlimit")) {
        const n = this.expectNumber("a queue limit");
        if (q.qlimitSet) this.fail(C.Redefined, "qlimit cannot be respecified", t);
        if (n.value < 0 || n.value > 65535) this.fail(C.InvalidNumber, "qlimit out of range: max 65535", n);
        q.qlimit = n.value;
        q.qlimitSet = true;
      } else if (this.acceptKw("tbrsize")) {
        const n = this.expectNumber("a token bucket size");
        if (q.tbrsize) this.fail(C.Redefined, "tbrsize cannot be respecified", t);
        q.tbrsize = n.value;
      } else if (["cbq", "priq", "hfsc", "fairq", "codelq"].some((k) => this.isKw(k))) {
        if (q.scheduler) this.fail(C.Redefined, "scheduler cannot be respecified", t);
        q.scheduler = this.scheduler();
      } else break;
    }
    return q;
  }

  private bandwidth(): { absolute: number; percent: number } {
    const t = this.next();
    if (t.kind === "number") return { absolute: t.value, percent: 0 };
    if (t.kind !== "string") return this.syntax(t, "a bandwidth");
    const m = /^([0-9]*\.?[0-9]+|[0-9]+\.)(.*)$/.exec(t.text);
    if (!m) this.fail(C.Queue, `unknown unit ${t.text}`, t);
    let bps = Number(m[1]);
    let unit = m[2] as string;
    if (unit.length > 1 && ["Bit", "B", "bit", "b"].includes(unit.slice(1))) unit = unit.charAt(0);
    if (unit === "b" || unit === "") return { absolute: Math.floor(bps), percent: 0 };
    if (unit === "K") bps *= 1000;
    else if (unit === "M") bps *= 1000 * 1000;
    else if (unit === "G") bps *= 1000 * 1000 * 1000;
    else if (unit === "%") {
      if (bps < 0 || bps > 100) this.fail(C.Queue, "bandwidth spec out of range", t);
      return { absolute: 0, percent: Math.floor(bps) };
    } else this.fail(C.Queue, `unknown unit ${unit}`, t);
    return { absolute: Math.floor(bps), percent: 0 };
  }

  private scheduler(): Scheduler {
    const t = this.next();
    const type = t.text === "codelq" ? "codel" : (t.text as Scheduler["type"]);
    const s: Scheduler = {
      type,
      flags: [],
      linkshare: null,
      realtime: null,
      upperlimit: null,
      target: 0,
      interval: 0,
    };
    if (!this.acceptPunct("(")) return s;
    for (;;) {
      const w = this.next();
      if (type === "hfsc" || type === "fairq") {
        if (this.isKw("linkshare", w) || this.isKw("realtime", w) || this.isKw("upperlimit", w)) {
          let curve: ServiceCurve;
          if (this.acceptPunct("(")) {
            const m1 = this.bandwidth();
            this.comma();
            const d = this.expectNumber("a time in milliseconds");
            this.comma();
            const m2 = this.bandwidth();
            this.expectPunct(")");
            curve = { m1, d: d.value, m2 };
          } else curve = { m1: null, d: 0, m2: this.bandwidth() };
          if (w.text === "linkshare") s.linkshare = curve;
          else if (w.text === "realtime") s.realtime = curve;
          else s.upperlimit = curve;
        } else if (this.isKw("hogs", w)) this.bandwidth();
        else if (this.isKw("buckets", w)) this.number();
        else if (w.kind === "string") s.flags.push(w.text);
        else this.syntax(w, "a scheduler option");
      } else if (type === "codel") {
        if (this.isKw("interval", w)) s.interval = this.number().value;
        else if (this.isKw("target", w)) s.target = this.number().value;
        else if (w.kind === "string" && w.text === "ecn") s.flags.push("ecn");
        else if (w.kind === "string") this.fail(C.Queue, `unknown codel option "${w.text}"`, w);
        else this.syntax(w, "a codel option");
      } else if (w.kind === "string") {
        const known =
          type === "cbq"
            ? ["default", "borrow", "red", "ecn", "rio", "codel"]
            : ["default", "red", "ecn", "rio", "codel"];
        if (!known.includes(w.text)) this.fail(C.Queue, `unknown ${type} flag "${w.text}"`, w);
        s.flags.push(w.text);
      } else this.syntax(w, "a scheduler flag");
      if (this.acceptPunct(")")) break;
      this.comma();
    }
    return s;
  }

  // ---------------------------------------------------------------------------
  // expansion (pfctl's expand_rule)
  // ---------------------------------------------------------------------------

  private expand(
    template: PfRule,
    lists: {
      ifs: NodeIf[] | null;
      rpool: HostNode[] | null;
      protos: number[] | null;
      icmps: NodeIcmp[] | null;
      src: HostNode[] | null;
      srcPorts: PfCompare[] | null;
      os: string[] | null;
      dst: HostNode[] | null;
      dstPorts: PfCompare[] | null;
      uids: PfCompare[] | null;
      gids: PfCompare[] | null;
      anchorCall: string;
      span: SourceSpan;
      at: Token;
    },
  ): void {
    this.currentRuleAt = lists.at;
    const af0 = template.af;
    const label = template.label;
    const tag = template.tag;
    const tagged = template.tagged;
    const flags = template.flags;
    const flagset = template.flagset;
    const keep = template.keepState;
    let added = 0;
    let error = 0;
    const ifs = lists.ifs ?? [{ name: "", not: false, dynamic: false, loopback: false }];
    const protos = lists.protos ?? [0];
    const icmps = lists.icmps ?? [{ type: 0, code: 0, proto: 0 }];
    const srcs = lists.src ?? [EMPTY_HOST()];
    const srcPorts = lists.srcPorts ?? [null];
    const oses = lists.os ?? [null];
    const dsts = lists.dst ?? [EMPTY_HOST()];
    const dstPorts = lists.dstPorts ?? [null];
    const uids = lists.uids ?? [null];
    const gids = lists.gids ?? [null];
    for (const iface of ifs)
      for (const proto of protos)
        for (const icmp of icmps)
          for (const src of srcs)
            for (const sport of srcPorts)
              for (const os of oses)
                for (const dst of dsts)
                  for (const dport of dstPorts)
                    for (const uid of uids)
                      for (const gid of gids) {
                        let af = afNum(af0);
                        if (
                          (af && src.af && af !== src.af) ||
                          (af && dst.af && af !== dst.af) ||
                          (src.af && dst.af && src.af !== dst.af) ||
                          (src.ifindex && dst.ifindex && src.ifindex !== dst.ifindex) ||
                          (src.ifindex &&
                            iface.name &&
                            src.ifindex !== interfaceIndex(this.env, iface.name)) ||
                          (dst.ifindex && iface.name && dst.ifindex !== interfaceIndex(this.env, iface.name))
                        )
                          continue;
                        if (!af && src.af) af = src.af;
                        else if (!af && dst.af) af = dst.af;
                        const r = cloneRule(template);
                        r.af = afName(af);
                        const ifname =
                          iface.name ||
                          interfaceName(this.env, src.ifindex) ||
                          interfaceName(this.env, dst.ifindex) ||
                          "";
                        r.interface = ifname ? { name: ifname, not: iface.not } : null;
                        const ex = (s: string): string =>
                          this.expandLabel(s, ifname, af, src, sport, dst, dport, proto);
                        r.label = ex(label);
                        r.tag = ex(tag);
                        r.tagged = ex(tagged);
                        if (this.checkNetmask(src, r.af)) error++;
                        if (this.checkNetmask(dst, r.af)) error++;
                        r.proto = proto || null;
                        r.src = { address: src.address, neg: src.not, port: sport ? { ...sport } : null };
                        r.dst = { address: dst.address, neg: dst.not, port: dport ? { ...dport } : null };
                        r.uid = uid ? { ...uid } : null;
                        r.gid = gid ? { ...gid } : null;
                        r.icmpType = icmp.type ? icmp.type - 1 : null;
                        r.icmpCode = icmp.code ? icmp.code - 1 : null;
                        r.keepState =
                          (keep === "modulate" || keep === "synproxy") && proto && proto !== IPPROTO_TCP
                            ? "keep"
                            : keep;
                        if (proto && proto !== IPPROTO_TCP) {
                          r.flags = 0;
                          r.flagset = 0;
                        } else {
                          r.flags = flags;
                          r.flagset = flagset;
                        }
                        if (icmp.proto && proto !== icmp.proto) {
                          this.report(C.InconsistentRule, "icmp-type mismatch", lists.at);
                          error++;
                        }
                        r.os = os;
                        const pool = lists.rpool?.map((h) => ({ address: h.address, ifname: h.ifname }));
                        if (pool && r.route) r.route.pool.addresses = pool;
                        else if (pool && r.pool) r.pool.addresses = pool;
                        r.span = lists.span;
                        const problems = this.ruleConsistent(r, lists.at);
                        if (problems || error)
                          this.report(C.InconsistentRule, "skipping rule due to errors", lists.at);
                        else {
                          this.addRule(r, lists.anchorCall);
                          added++;
                        }
                      }
    if (!added) this.report(C.NoValidCombination, "rule expands to no valid combination", lists.at);
    this.currentRuleAt = null;
  }

  private addRule(r: PfRule, anchorCall: string): void {
    const target = this.current;
    const n = this.matchCount.get(target) ?? 0;
    r.nr = n;
    this.matchCount.set(target, n + 1);
    if (anchorCall && !r.anchor) {
      const slash = anchorCall.lastIndexOf("/");
      // pfctl keeps the slash in the name it prints ("a/b" prints as "/b").
      r.anchor = newAnchor(slash >= 0 ? anchorCall.slice(slash) : anchorCall, anchorCall, false);
    }
    target.ruleset[rulesetOf(r.action)].push(r);
  }

  private expandLabel(
    label: string,
    ifname: string,
    af: 0 | AddressFamily,
    src: HostNode,
    sport: PfCompare | null,
    dst: HostNode,
    dport: PfCompare | null,
    proto: number,
  ): string {
    if (!label.includes("$")) return label;
    let s = label;
    const rep = (name: string, value: () => string): void => {
      if (s.includes(name)) s = s.split(name).join(value());
    };
    rep("$if", () => ifname || "any");
    const addr = (h: HostNode): string => {
      let t: string;
      const a = h.address;
      switch (a.type) {
        case "dynif":
          t = `(${a.ifname})`;
          break;
        case "table":
          t = `<${a.name}>`;
          break;
        case "noroute":
          t = "no-route";
          break;
        case "urpf-failed":
          t = "urpf-failed";
          break;
        case "addrmask": {
          const famMask = af === 4 ? 0xffffffffn << 96n : (1n << 128n) - 1n;
          if (!af || ((a.addr & famMask) === 0n && (a.mask & famMask) === 0n)) t = "any";
          else {
            const text = ntop(af, a.addr) ?? "?";
            const bits = bitsOfMask(a.mask);
            t = (af === 4 && bits < 32) || (af === 6 && bits < 128) ? `${text}/${bits}` : text;
          }
          break;
        }
        default:
          t = "?";
      }
      return h.not ? `! ${t}` : t;
    };
    rep("$srcaddr", () => addr(src));
    rep("$dstaddr", () => addr(dst));
    const port = (p: PfCompare | null): string => {
      if (!p) return "";
      switch (p.op) {
        case "><":
          return `${p.a}><${p.b}`;
        case "<>":
          return `${p.a}<>${p.b}`;
        case "=":
          return String(p.a);
        case ":":
          return "";
        default:
          return `${p.op}${p.a}`;
      }
    };
    rep("$srcport", () => port(sport));
    rep("$dstport", () => port(dport));
    rep("$proto", () => protocolName(proto) ?? String(proto));
    rep("$nr", () => String(this.matchCount.get(this.current) ?? 0));
    return s;
  }

  /** pfctl's rule_consistent(): the number of problems found (each reported). */
  private ruleConsistent(r: PfRule, at: Token): number {
    let problems = 0;
    const bad = (msg: string): void => {
      this.report(C.InconsistentRule, msg, at);
      problems++;
    };
    const proto = r.proto ?? 0;
    if (r.action === "pass" || r.action === "block" || r.action === "scrub" || r.action === "no scrub") {
      if (proto !== IPPROTO_TCP && proto !== IPPROTO_UDP && (r.src.port || r.dst.port))
        bad("port only applies to tcp/udp");
      if (proto !== IPPROTO_ICMP && proto !== IPPROTO_ICMPV6 && (r.icmpType !== null || r.icmpCode !== null))
        bad("icmp-type/code only applies to icmp");
      if (!r.af && (r.icmpType !== null || r.icmpCode !== null))
        bad("must indicate address family with icmp-type/code");
      if (r.state.overload && !r.state.maxSrcConn && !r.state.maxSrcConnRate)
        bad("'overload' requires 'max-src-conn' or 'max-src-conn-rate'");
      if ((proto === IPPROTO_ICMP && r.af === "inet6") || (proto === IPPROTO_ICMPV6 && r.af === "inet"))
        bad(`proto ${proto === IPPROTO_ICMP ? "icmp" : "icmp6"} doesn't match address family ${r.af}`);
      if (r.allowOpts && r.action !== "pass") bad("allow-opts can only be specified for pass rules");
      if (r.fragment && (r.src.port || r.dst.port || r.flagset || r.icmpType !== null || r.icmpCode !== null))
        bad("fragments can be filtered only on IP header fields");
      if (r.action === "block" && r.block.kind === "return-rst" && proto !== IPPROTO_TCP)
        bad("return-rst can only be applied to TCP rules");
      if (r.state.maxSrcNodes && r.state.sourceTrack !== "rule")
        bad("max-src-nodes requires 'source-track rule'");
      if (r.action === "block" && r.keepState) bad("keep state on block rules doesn't make sense");
      if (r.state.sloppy && (r.keepState === "modulate" || r.keepState === "synproxy"))
        bad("sloppy state matching cannot be used with synproxy state or modulate state");
    } else if (r.action === "rdr" || r.action === "no rdr") {
      if (proto !== IPPROTO_TCP && proto !== IPPROTO_UDP) {
        if (r.src.port) bad("src port only applies to tcp/udp");
        if (r.dst.port) bad("dst port only applies to tcp/udp");
        if (r.pool && r.pool.proxyPort[0]) bad("rpool port only applies to tcp/udp");
      }
      if (r.dst.port && r.dst.port.op !== "=" && r.dst.port.op !== ":")
        bad("invalid port operator for rdr destination port");
    }
    return problems;
  }
}

export interface QueueOpts {
  bandwidth: { absolute: number; percent: number };
  bwSet: boolean;
  priority: number;
  prioritySet: boolean;
  qlimit: number;
  qlimitSet: boolean;
  scheduler: Scheduler | null;
  tbrsize: number;
}

export interface ServiceCurve {
  m1: { absolute: number; percent: number } | null;
  d: number;
  m2: { absolute: number; percent: number };
}

export interface Scheduler {
  type: "cbq" | "priq" | "hfsc" | "fairq" | "codel";
  flags: string[];
  linkshare: ServiceCurve | null;
  realtime: ServiceCurve | null;
  upperlimit: ServiceCurve | null;
  target: number;
  interval: number;
}

function decideFamily(hosts: HostNode[] | null, af: PfFamily | null): PfFamily | null {
  if (af !== null || hosts === null || hosts.length === 0) return af;
  const first = (hosts[0] as HostNode).af;
  for (const h of hosts) if (h.af !== first) return null;
  return afName(first);
}

/** pfctl's remove_invalid_hosts(): drops pool addresses of the other family and fixes the rule's family. */
function removeInvalidHosts(hosts: HostNode[], r: PfRule): HostNode[] {
  const out: HostNode[] = [];
  for (const h of hosts) {
    const af = afNum(r.af);
    if (af && h.af && h.af !== af) continue;
    if (h.af && !af) r.af = afName(h.af);
    out.push(h);
  }
  return out;
}

function dynifMultiaddr(a: PfAddress): boolean {
  return a.type === "dynif" && (!a.flags.noalias || !/[0-9]$/.test(a.ifname));
}

function dynName(hosts: HostNode[]): string {
  const h = hosts.find((x) => dynifMultiaddr(x.address));
  return h && h.address.type === "dynif" ? h.address.ifname : "";
}

function tableName(hosts: HostNode[]): string {
  const h = hosts.find((x) => x.address.type === "table");
  return h && h.address.type === "table" ? h.address.name : "";
}

/** pfctl turns a source-hash passphrase into its MD5 digest, printed as 32 hex digits. */
function md5Hex(text: string): string {
  return createHash("md5").update(text).digest("hex");
}
