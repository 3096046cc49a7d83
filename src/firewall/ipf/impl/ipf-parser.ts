/**
 * ipf.conf parser: the grammar of IPFilter's tools/ipf_y.y, rule by rule and
 * in its order, over the {@link Lexer}'s tokens. A rule ends where the
 * grammar says it ends (newlines are blank space), options must come in the
 * grammar's order, and `{a,b}` lists expand into one rule per combination
 * (the first list written varies fastest), as ipf loads them.
 *
 * The order of a rule (ipf(5), ipf_y.y inrule/outrule):
 *
 *   [@N] [N] action in|out [log…|quick|on…|dup-to…|to…|fastroute|reply-to…]…
 *   ( [family] [tos] [ttl] [proto] [all | from … [to …] | to …] [flags …] [icmp-type … [code …]]
 *   | exp { "…" } | bpf-v4 { "…" } )
 *   [with …] [keep state|frags …]… [head N] [group N] [set-tag(…)] [match-tag(…)]
 *   [pps N] [age N[/M]] [rule-ttl N] [comment "…"] [;]
 */
import type {
  AddressMatch,
  BlockReturn,
  ExpressionMatch,
  Family,
  FilterAction,
  FilterRule,
  InlinePool,
  InterfaceName,
  IpfStatement,
  KeepState,
  LogOptions,
  PortMatch,
  RouteTarget,
  SetTunable,
  TcpFlags,
  WithOption,
} from "../ast.js";
import { allOnes, formatAddress, makeCidr, prefixToMask } from "./address.js";
import { bswap32, GrammarParser, lookupService, ParseError, type ParseOptions } from "./common.js";
import { IpfDiagnosticCode, type IpfDiagnostic } from "./diagnostics.js";
import type { Token } from "./lexer.js";
import { getproto } from "./netdb.js";
import {
  DEFAULT_FLAG_MASK,
  ICMP_CODES,
  icmpTypeNumber,
  IPV6_HEADERS,
  TAG_LENGTH,
  TCP_FLAG_BITS,
  TCP_FLAG_LETTERS,
} from "./tables.js";

export interface IpfParseResult {
  rules: FilterRule[];
  /** Rules, `set` tunables and variable assignments in source order. */
  statements: IpfStatement[];
  diagnostics: IpfDiagnostic[];
}

// ---------------------------------------------------------------------------
// Dictionaries (ipf_y.y's word tables)
// ---------------------------------------------------------------------------

const words = (s: string): ReadonlySet<string> => new Set(s.split(/\s+/).filter(Boolean));

/** ipfwords: the main table. */
export const IPF_WORDS = words(`
  age ah all and auth bad bad-nat bad-src bcast block body bpf-v4 bpf-v6 call code comment count
  decapsulate dstlist doi dup-to eq esp exp family fastroute first flags frag frag-body frags from ge
  group gt head icmp icmp-head icmp-type in in-via inet inet6 ipopt ipopts keep l5-as le level limit
  log loose lowttl lt mask match-tag max-per-src max-srcs mbcast mcast multicast nat ne net newisn no
  no-icmp-err nolog nomatch now not oow on opt or-block out out-via pass port pps preauth proto quick
  reply-to return-icmp return-icmp-as-dest return-rst route-to rule-ttl rpc sec-class set set-tag skip
  short state state-age strict sync tcp tcp-udp tos to ttl udp v6hdr v6hdrs with`);
const ADDR_WORDS = words("any hash pool");
const MASK_WORDS = words("broadcast netmasked network peer");
const ICMPCODE_WORDS = words(`cutoff-preced filter-prohib isolate needfrag net-prohib net-tos host-preced
  host-prohib host-tos host-unk host-unr net-unk net-unr port-unr proto-unr srcfail`);
const IPV4OPT_WORDS = words(`addext cipso dps e-sec eip encode finn imitd lsrr mtup mtur nop nsapa rr
  rtralrt satid sdb sec ssrr tr ts ump visa zsu`);
const SEC_WORDS = words("confid reserv-1 reserv-2 reserv-3 reserv-4 secret topsecret unclass");
const IPV6OPT_WORDS = words("dstopts esp frag hopopts ipv6 mobility none routing");
/** logwords; `console` is a word but no facility the grammar takes. */
const LOG_WORDS = words(`kern user mail daemon auth syslog lpr news uucp cron ftp authpriv audit logalert
  console security local0 local1 local2 local3 local4 local5 local6 local7 emerg alert crit err warn
  notice info debug`);
const FACILITIES = words(`kern user mail daemon auth syslog lpr news uucp cron ftp authpriv audit logalert
  security local0 local1 local2 local3 local4 local5 local6 local7`);
const PRIORITIES = words("emerg alert crit err warn notice info debug");

/** Words that start a rule or statement (where lint resumes after an error). */
const RULE_STARTS = words("pass block log count skip auth preauth nomatch call decapsulate set");

/** opttype words after `with` and the flag each sets (ipf prints them by these names). */
const WITH_WORDS: ReadonlyMap<string, string> = new Map([
  ["ipopts", "ipopts"],
  ["ipopt", "ipopts"],
  ["short", "short"],
  ["nat", "nat"],
  ["bad", "bad"],
  ["bad-nat", "bad-nat"],
  ["bad-src", "bad-src"],
  ["lowttl", "lowttl"],
  ["frag", "frag"],
  ["frags", "frag"],
  ["frag-body", "frag-body"],
  ["mbcast", "mbcast"],
  ["mcast", "mcast"],
  ["multicast", "mcast"],
  ["bcast", "bcast"],
  ["state", "state"],
  ["oow", "oow"],
  ["ah", "ah"],
  ["v6hdrs", "v6hdrs"],
]);

const COMPARE_KW: Record<string, "=" | "!=" | "<" | ">" | "<=" | ">="> = {
  eq: "=",
  ne: "!=",
  lt: "<",
  gt: ">",
  le: "<=",
  ge: ">=",
};

const ANY: AddressMatch = { kind: "any" };

// ---------------------------------------------------------------------------
// A rule in progress
// ---------------------------------------------------------------------------

interface Draft {
  rule: FilterRule;
  tos: number[] | null;
  ttl: number[] | null;
  fromAddresses: AddressMatch[];
  fromPorts: (PortMatch | null)[];
  toAddresses: AddressMatch[];
  toPorts: (PortMatch | null)[];
  icmpTypes: number[] | null;
  icmpCodes: (number | null)[];
  /** setipftype() was called: the rule is an IP match (FR_T_IPF), not `all`. */
  ipType: boolean;
  recoverable: boolean;
  onList: InterfaceName[][] | null;
  /** `proto` as ipf holds it while parsing (fr_proto), for getport and the flags/port checks. */
  protoNumber: number | "tcpudp" | null;
}

function emptyRule(span: FilterRule["span"]): FilterRule {
  return {
    kind: "filter",
    span,
    insertAt: null,
    collect: null,
    action: { kind: "pass" },
    direction: "in",
    log: null,
    quick: false,
    on: [],
    inVia: [],
    outVia: [],
    routeTo: null,
    dupTo: null,
    replyTo: null,
    fastroute: false,
    family: null,
    familyImplied: false,
    tos: null,
    ttl: null,
    proto: null,
    all: true,
    from: { negated: false, address: ANY, port: null },
    to: { negated: false, address: ANY, port: null },
    expression: null,
    with: [],
    flags: null,
    icmp: null,
    keepState: null,
    keepFrags: null,
    head: null,
    group: null,
    setTag: null,
    matchTag: null,
    pps: null,
    comment: null,
    ruleTtl: null,
  };
}

function emptyKeepState(): KeepState {
  return {
    limit: null,
    strict: false,
    loose: false,
    newisn: false,
    noIcmpErr: false,
    sync: false,
    age: null,
    icmpHead: null,
    maxSrcs: null,
    maxPerSrc: null,
  };
}

class IpfParser extends GrammarParser {
  private readonly rules: FilterRule[] = [];
  private readonly statements: IpfStatement[] = [];

  constructor(text: string, opts: ParseOptions) {
    super(text, IPF_WORDS, opts, "ipf");
  }

  parseFile(): IpfParseResult {
    let settingsOnly = false;
    let sawRule = false;
    for (;;) {
      const t = this.peek();
      if (t.type === "eof") break;
      if (t.type === "comment") {
        this.next();
        continue;
      }
      const before = this.sink.list.length;
      try {
        if (t.kw === "set") {
          if (sawRule)
            throw this.fail(
              IpfDiagnosticCode.UnexpectedToken,
              '"set" lines must come before the first rule',
              t,
            );
          this.parseSetting();
          settingsOnly = true;
        } else if (t.type === "str" && t.kw === null && this.is("=", 1)) {
          this.parseAssignment();
          sawRule = true;
          settingsOnly = false;
        } else {
          this.parseRule(before);
          sawRule = true;
          settingsOnly = false;
        }
      } catch (e) {
        if (!(e instanceof ParseError)) throw e;
        this.report(e, !this.hasErrorSince(0));
        this.skipToNextRule(
          e.offset,
          (tok) =>
            (tok.kw !== null && RULE_STARTS.has(tok.kw)) ||
            tok.type === "@" ||
            (tok.type === "str" && tok.kw === null && this.is("=", 1)),
        );
      }
    }
    // ipf_y.y `file: settings rules`: a file of `set` lines alone is a syntax error at its end.
    if (settingsOnly && !sawRule && !this.hasErrorSince(0)) {
      this.sink.add(
        IpfDiagnosticCode.UnexpectedEnd,
        'the file has only "set" lines: ipf needs at least one rule after them',
        Math.max(0, this.text.length - 1),
        1,
        "error",
        'ipf stops with "syntax error error at "", line 1" at the end of the file',
      );
    }
    for (const a of this.assignments) this.statements.push(a);
    this.statements.sort((a, b) => a.span.offset - b.span.offset);
    return { rules: this.rules, statements: this.statements, diagnostics: this.sink.list };
  }

  private hasErrorSince(index: number): boolean {
    return this.sink.list.slice(index).some((d) => d.severity === "error");
  }

  private parseSetting(): void {
    const setTok = this.next();
    const name = this.expectName('a tunable name after "set"');
    const v = this.peek();
    if (v.type !== "num" && v.type !== "hex" && !(v.type === "str" && v.kw === null))
      throw this.unexpected(v, "a number or true/false");
    this.next();
    this.expect(";", '";" after the tunable\'s value');
    if (v.type === "str" && !/^(true|false)$/i.test(v.text))
      throw this.fail(
        IpfDiagnosticCode.InvalidValue,
        `"set ${name.text}" takes a number, true or false`,
        v,
        "did not find true/false where expected",
      );
    const st: SetTunable = {
      kind: "set",
      span: this.sink.span(setTok.offset, this.lastEnd),
      name: name.text,
      value: v.type === "str" ? v.text : String(v.value),
    };
    this.statements.push(st);
  }

  // --- one rule -----------------------------------------------------------

  private parseRule(diagStart: number): void {
    const first = this.peek();
    const span = this.sink.span(first.offset, first.offset + first.length);
    const rule = emptyRule(span);
    const fam = this.opts.family ?? null;
    if (fam !== null) {
      rule.family = fam;
      rule.familyImplied = true;
    }
    const d: Draft = {
      rule,
      tos: null,
      ttl: null,
      fromAddresses: [ANY],
      fromPorts: [null],
      toAddresses: [ANY],
      toPorts: [null],
      icmpTypes: null,
      icmpCodes: [null],
      ipType: false,
      recoverable: true,
      onList: null,
      protoNumber: null,
    };
    this.lexer.expectAddr = 0;
    this.lexer.dict = this.lexer.base;
    this.lexer.breakOnDot = false;

    if (this.accept("@")) rule.insertAt = this.expectNumber('a rule number after "@"').value;
    if (this.is("num")) {
      const n = this.next().value;
      rule.collect = n === 0 ? null : n;
    }
    rule.action = this.parseAction(rule);
    const dir = this.peek();
    if (dir.kw !== "in" && dir.kw !== "out") {
      d.recoverable = false;
      throw this.unexpected(dir, '"in" or "out" after the action');
    }
    this.next();
    rule.direction = dir.kw;

    this.parseHeadOptions(d);
    this.parseMain(d);
    this.parseTail(d);

    this.accept(";");
    rule.span = this.sink.span(first.offset, this.lastEnd);
    const errors = this.hasErrorSince(diagStart);
    if (!errors || (this.opts.recover && d.recoverable)) {
      for (const r of expand(d)) {
        inheritFromHead(r, this.rules);
        this.rules.push(r);
        this.statements.push(r);
      }
    }
  }

  private parseAction(rule: FilterRule): FilterAction {
    const t = this.peek();
    switch (t.kw) {
      case "pass":
        this.next();
        return { kind: "pass" };
      case "block":
        this.next();
        return { kind: "block", return: this.parseBlockReturn() };
      case "nomatch":
        this.next();
        return { kind: "nomatch" };
      case "log":
        this.next();
        rule.log = this.parseLogOptions();
        return { kind: "log" };
      case "count":
        this.next();
        return { kind: "count" };
      case "decapsulate": {
        this.next();
        if (this.acceptKw("l5-as")) {
          this.expect("(", '"(" after l5-as');
          this.expectName("a layer-5 protocol name");
          this.expect(")", '")"');
        }
        return { kind: "decapsulate" };
      }
      case "auth": {
        this.next();
        const ret = this.parseBlockReturn();
        return ret ? { kind: "auth", return: ret } : { kind: "auth" };
      }
      case "preauth":
        this.next();
        return { kind: "preauth" };
      case "skip":
        this.next();
        return { kind: "skip", count: this.expectNumber("the number of rules to skip").value };
      case "call": {
        this.next();
        const now = this.acceptKw("now") !== undefined;
        const name = this.expectName("a function name such as srcgrpmap");
        this.expect("/", '"/" and a number after the function name');
        const num = this.expectNumber("the function's number");
        return { kind: "call", now, func: `${name.text}/${num.value}` };
      }
      default:
        throw this.unexpected(
          t,
          "a rule: an action (pass, block, log, count, skip, auth, preauth, nomatch, call, decapsulate)",
        );
    }
  }

  private parseBlockReturn(): BlockReturn | null {
    const t = this.peek();
    if (t.kw === "return-rst") {
      this.next();
      return { kind: "return-rst" };
    }
    if (t.kw === "return-icmp" || t.kw === "return-icmp-as-dest") {
      this.next();
      let code: number | null = null;
      if (this.is("(")) {
        this.next();
        this.lexer.dict = ICMPCODE_WORDS;
        code = this.parseIcmpCode();
        this.lexer.dict = this.lexer.base;
        this.expect(")", '")" after the ICMP code');
      }
      return { kind: t.kw, code };
    }
    return null;
  }

  private parseIcmpCode(): number {
    const t = this.peek();
    if (t.type === "num") {
      this.next();
      return t.value & 0xff;
    }
    if (t.kw !== null && ICMPCODE_WORDS.has(t.kw)) {
      this.next();
      return ICMP_CODES.indexOf(t.kw);
    }
    throw this.unexpected(t, "an ICMP code (a number or net-unr, host-unr, port-unr, …)");
  }

  private parseLogOptions(): LogOptions {
    const log: LogOptions = { body: false, first: false, orBlock: false, level: null };
    for (;;) {
      const t = this.peek();
      if (t.kw === "body") log.body = true;
      else if (t.kw === "first") log.first = true;
      else if (t.kw === "or-block") log.orBlock = true;
      else if (t.kw === "level") {
        this.next();
        this.lexer.dict = LOG_WORDS;
        this.lexer.breakOnDot = true;
        const a = this.peek();
        let facility = "local0";
        let priority: string;
        if (a.kw !== null && PRIORITIES.has(a.kw)) {
          this.next();
          priority = a.kw;
        } else if (a.kw !== null && FACILITIES.has(a.kw)) {
          this.next();
          facility = a.kw;
          this.expect(".", '"." between the facility and the priority');
          const p = this.peek();
          if (p.kw === null || !PRIORITIES.has(p.kw))
            throw this.unexpected(
              p,
              "a syslog priority (emerg, alert, crit, err, warn, notice, info, debug)",
            );
          this.next();
          priority = p.kw;
        } else {
          throw this.unexpected(
            a,
            "a syslog facility.priority such as auth.info, or a priority such as warn",
          );
        }
        this.lexer.dict = this.lexer.base;
        this.lexer.breakOnDot = false;
        log.level = { facility, priority };
        continue;
      } else break;
      this.next();
    }
    return log;
  }

  /** inopts/outopts: log, quick, on, dup-to, to/route-to, fastroute, reply-to — any order, repeatable. */
  private parseHeadOptions(d: Draft): void {
    const r = d.rule;
    for (;;) {
      const t = this.peek();
      switch (t.kw) {
        case "log":
          this.next();
          r.log = this.parseLogOptions();
          continue;
        case "quick":
          this.next();
          r.quick = true;
          continue;
        case "on":
          this.next();
          this.parseOn(d);
          continue;
        case "dup-to":
          this.next();
          r.dupTo = this.parseRouteTarget(d);
          continue;
        case "to":
        case "route-to":
          // The grammar shifts `to` here: right after the head options it is a routing target.
          this.next();
          r.routeTo = this.parseRouteTarget(d);
          continue;
        case "fastroute":
          this.next();
          r.fastroute = true;
          continue;
        case "reply-to":
          this.next();
          r.replyTo = this.parseRouteTarget(d);
          continue;
        default:
          if (this.recoverHeadWord(t, d)) continue;
          return;
      }
    }
  }

  /**
   * Two mistakes common enough (the qjail-howto page makes both) to name and
   * read on from: an interface without `on`, a protocol without `proto`.
   * ipf rejects both; with `recover` the rule is kept for lint.
   */
  private recoverHeadWord(t: Token, d: Draft): boolean {
    const r = d.rule;
    if (!(t.type === "str" && !t.quoted)) return false;
    const word = t.text;
    if (d.protoNumber === null && getproto(word) > 0 && !/^\d+$/.test(word)) {
      this.sink.add(
        IpfDiagnosticCode.MissingProto,
        `protocol ${JSON.stringify(word)} needs "proto" before it: write "proto ${word}"`,
        t.offset,
        t.length,
        "error",
        `ipf stops here with "syntax error error at "${word}", line ${this.sink.index.position(t.offset).line}"`,
      );
      this.next();
      this.setProto(d, getproto(word), t);
      return true;
    }
    if (r.on.length === 0 && /^[a-z][a-z0-9_]*\d+$/i.test(word)) {
      this.sink.add(
        IpfDiagnosticCode.MissingOn,
        `interface ${JSON.stringify(word)} needs "on" before it: write "on ${word}"`,
        t.offset,
        t.length,
        "error",
        `ipf stops here with "syntax error error at "${word}", line ${this.sink.index.position(t.offset).line}"`,
      );
      this.next();
      r.on = [{ name: word, span: this.sink.span(t.offset, t.offset + t.length) }];
      return true;
    }
    return false;
  }

  private ifName(what: string, logical = true): InterfaceName {
    const t = this.peek();
    if (t.type === "-") {
      this.next();
      return { name: "-", span: this.sink.span(t.offset, t.offset + 1) };
    }
    if (!(t.type === "str" && t.kw === null)) throw this.unexpected(t, what);
    this.next();
    if (logical && this.is(":") && this.is("num", 1)) {
      // name ':' NUMBER: ipf warns "Logical interface … unsupported" and uses the physical one.
      this.next();
      const n = this.next();
      this.sink.add(
        IpfDiagnosticCode.InvalidValue,
        `logical interface ${t.text}:${n.text} is not supported; ipf uses the physical interface ${t.text}`,
        t.offset,
        this.lastEnd - t.offset,
        "warning",
        `ipf prints "Logical interface ${t.text}:${n.text} unsupported" and loads the rule on ${t.text}`,
      );
    }
    return { name: t.text, span: this.sink.span(t.offset, t.offset + t.length) };
  }

  private parseOn(d: Draft): void {
    const r = d.rule;
    if (this.is("{")) {
      this.next();
      const groups: InterfaceName[][] = [];
      for (;;) {
        const one = [this.ifName("an interface name in the list")];
        if (this.accept(",") && this.isIfStart()) {
          // onname: a `in,out` pair inside the list … but `,` also separates members (lmore).
          one.push(this.ifName("an interface name"));
        }
        groups.push(one);
        if (this.accept("}")) break;
        this.accept(",");
        if (this.is("}")) {
          this.next();
          break;
        }
      }
      d.onList = groups;
      r.on = groups[0] ?? [];
      return;
    }
    r.on = [this.ifName('an interface name after "on"')];
    if (this.accept(",")) r.on.push(this.ifName('a second interface name after ","'));
    const via = this.peek();
    if (via.kw === "in-via" || via.kw === "out-via") {
      this.next();
      const list = [this.ifName(`an interface name after "${via.kw}"`)];
      if (this.accept(",")) list.push(this.ifName('a second interface name after ","'));
      if (via.kw === "in-via") r.inVia = list;
      else r.outVia = list;
    }
  }

  private isIfStart(): boolean {
    const t = this.peek();
    return (t.type === "str" && t.kw === null) || t.type === "-";
  }

  private parseRouteTarget(d: Draft): RouteTarget {
    if (this.isKw("dstlist")) {
      this.next();
      this.expect("/", '"/" after dstlist');
      const n = this.ifName("a destination list name", false);
      return { kind: "dstlist", name: n.name };
    }
    const n = this.ifName("an interface name such as qe0 or qe0:10.0.0.1", false);
    if (this.is(":")) {
      this.next();
      this.lexer.expectAddr = 1;
      const h = this.parseHostname(d, false);
      this.lexer.expectAddr = 0;
      if (h.kind !== "address")
        throw this.fail(
          IpfDiagnosticCode.InvalidAddress,
          'a next-hop address is needed after ":"',
          this.last!,
        );
      if (d.rule.family === null) {
        d.rule.family = h.family;
        d.rule.familyImplied = true;
      }
      return { kind: "interface", name: n.name, address: formatAddress(h.family, h.value) };
    }
    return { kind: "interface", name: n.name, address: null };
  }

  // --- rulemain ------------------------------------------------------------

  private setIpType(d: Draft): void {
    d.ipType = true;
  }

  private parseMain(d: Draft): void {
    const r = d.rule;
    const t = this.peek();
    if (t.kw === "bpf-v4" || t.kw === "bpf-v6") {
      throw this.fail(
        IpfDiagnosticCode.InvalidValue,
        "BPF filter expressions are not supported (FreeBSD's ipf is built without them)",
        t,
        "BPF filter expressions not supported",
      );
    }
    if (t.kw === "exp") {
      this.next();
      this.expect("{", '"{" after exp');
      const s = this.peek();
      if (!(s.type === "str" && s.quoted)) throw this.unexpected(s, "a quoted expression");
      this.next();
      r.expression = this.parseExpression(s);
      this.expect("}", '"}" after the expression');
      d.ipType = true;
      return;
    }
    // family
    const f = this.peek();
    if (f.kw === "family" || f.kw === "inet" || f.kw === "inet6") {
      this.next();
      let fam = f.kw;
      if (f.kw === "family") {
        const w = this.peek();
        if (w.kw !== "inet" && w.kw !== "inet6") throw this.unexpected(w, '"inet" or "inet6" after "family"');
        this.next();
        fam = w.kw;
      }
      if (this.opts.family === "inet6" && fam === "inet")
        throw this.fail(
          IpfDiagnosticCode.FamilyMismatch,
          '"inet" in an IPv6 rule set (ipftest -6)',
          this.last!,
        );
      if (r.family !== null && r.family !== fam && !r.familyImplied)
        throw this.fail(IpfDiagnosticCode.FamilyMismatch, `rule says ${fam} but is ${r.family}`, this.last!);
      r.family = fam as Family;
      r.familyImplied = false;
    }
    // tos
    if (this.isKw("tos")) {
      this.next();
      this.setIpType(d);
      if (this.is("{")) d.tos = this.numberList((x) => x.type === "num" || x.type === "hex", "a TOS value");
      else {
        const v = this.peek();
        if (v.type !== "num" && v.type !== "hex") throw this.unexpected(v, "a TOS value");
        this.next();
        d.tos = [v.value & 0xff];
      }
    }
    // ttl
    if (this.isKw("ttl")) {
      this.next();
      this.setIpType(d);
      if (this.is("{")) d.ttl = this.numberList((x) => x.type === "num", "a TTL value");
      else d.ttl = [this.expectNumber("a TTL value").value & 0xff];
    }
    // proto
    if (this.isKw("proto")) {
      this.next();
      this.setIpType(d);
      this.lexer.dict = null;
      const p = this.peek();
      if (p.type === "num") {
        this.next();
        if (p.value > 255)
          throw this.fail(
            IpfDiagnosticCode.InvalidNumber,
            `protocol number ${p.text} is larger than 255 (ipf would keep only ${p.value & 0xff})`,
            p,
            "syntax error",
          );
        this.setProto(d, p.value, p);
      } else if (p.type === "str") {
        this.next();
        if (this.is("/")) {
          this.next();
          this.lexer.dict = null;
          const q = this.peek();
          if (q.type !== "str") throw this.unexpected(q, '"udp" after "tcp/"');
          this.next();
          if (p.text !== "tcp" || q.text !== "udp")
            throw this.fail(
              IpfDiagnosticCode.UnknownProtocol,
              `"${p.text}/${q.text}" is not a protocol; the only pair is tcp/udp`,
              q,
            );
          this.setProto(d, "tcpudp", p);
        } else if (p.text === "tcp-udp") {
          this.setProto(d, "tcpudp", p);
        } else {
          const n = getproto(p.text);
          if (n < 0)
            throw this.fail(
              IpfDiagnosticCode.UnknownProtocol,
              `unknown protocol ${JSON.stringify(p.text)} (not in FreeBSD's /etc/protocols)`,
              p,
              "protocol unknown",
            );
          this.setProto(d, n & 0xff, p);
        }
      } else throw this.unexpected(p, "a protocol name or number");
      this.lexer.dict = this.lexer.base;
    }
    // srcdst
    const s = this.peek();
    if (s.kw === "all") {
      this.next();
    } else if (s.kw === "from" || s.kw === "to") {
      this.parseFromTo(d);
    }
    this.parseFlags(d);
    this.parseIcmp(d);
  }

  private setProto(d: Draft, p: number | "tcpudp", tok: Token): void {
    void tok;
    d.protoNumber = p;
    d.rule.proto = p === "tcpudp" ? { kind: "tcpudp" } : { kind: "number", number: p };
    d.ipType = true;
  }

  private numberList(ok: (t: Token) => boolean, what: string): number[] {
    this.next(); // {
    const out: number[] = [];
    for (;;) {
      const t = this.peek();
      if (!ok(t)) throw this.unexpected(t, what);
      this.next();
      out.push(t.value & 0xff);
      if (this.accept("}")) return out;
      this.accept(",");
    }
  }

  // --- from / to -----------------------------------------------------------

  private parseFromTo(d: Draft): void {
    const r = d.rule;
    if (this.isKw("from")) {
      const fromTok = this.next();
      this.setIpType(d);
      const ep = this.parseObject(d, "from");
      d.fromAddresses = ep.addresses;
      d.fromPorts = ep.ports;
      r.from.negated = ep.negated;
      r.from.span = this.sink.span(fromTok.offset, this.lastEnd);
    }
    if (this.isKw("to")) {
      const toTok = this.next();
      this.setIpType(d);
      const ep = this.parseObject(d, "to");
      d.toAddresses = ep.addresses;
      d.toPorts = ep.ports;
      r.to.negated = ep.negated;
      r.to.span = this.sink.span(toTok.offset, this.lastEnd);
    }
    this.lexer.expectAddr = 0;
  }

  private parseObject(
    d: Draft,
    side: "from" | "to",
  ): { negated: boolean; addresses: AddressMatch[]; ports: (PortMatch | null)[] } {
    // from/to: an address is expected, in the address dictionary.
    this.lexer.expectAddr = 1;
    this.lexer.dict = ADDR_WORDS;
    const t = this.peek();
    if (t.kw === "port") {
      // srcobject: fromport — the address left out.
      this.lexer.dict = this.lexer.base;
      const ports = this.parsePort(d, true);
      return { negated: false, addresses: [ANY], ports: ports ?? [null] };
    }
    const negated = this.accept("!") !== undefined;
    let addresses: AddressMatch[];
    if (this.is("{")) {
      this.next();
      addresses = [];
      for (;;) {
        this.lexer.expectAddr = 1;
        addresses.push(this.parseAddr(d, side));
        if (this.accept("}")) break;
        this.accept(",");
        if (this.is("}")) {
          this.next();
          break;
        }
      }
    } else addresses = [this.parseAddr(d, side)];
    this.lexer.dict = this.lexer.base;
    const ports = this.parsePort(d, false);
    return { negated, addresses, ports: ports ?? [null] };
  }

  /** The family an address brings to the rule (build_srcaddr_af / build_dstaddr_af). */
  private noteFamily(d: Draft, f: Family | null, side: "from" | "to", tok: Token): void {
    const r = d.rule;
    if (f === null) return;
    if (side === "to" && r.family !== null && r.family !== f)
      throw this.fail(
        IpfDiagnosticCode.FamilyMismatch,
        `rule mixes ${r.family} and ${f} addresses`,
        tok,
        "1.src/dst address family mismatch",
      );
    if (r.family === null || r.familyImplied) {
      if (r.family === null) r.familyImplied = true;
      r.family = f;
    }
  }

  private parseAddr(d: Draft, side: "from" | "to"): AddressMatch {
    const t = this.peek();
    if (t.kw === "pool" || t.kw === "hash") {
      this.next();
      this.lexer.expectAddr = 0;
      this.lexer.dict = this.lexer.base;
      if (this.is("/")) {
        this.next();
        const n = this.peek();
        if (n.type !== "num" && !(n.type === "str" && n.kw === null))
          throw this.unexpected(n, "a pool number or name");
        this.next();
        return { kind: "pool", table: t.kw, name: n.type === "num" ? String(n.value) : n.text };
      }
      if (this.is("=")) {
        this.next();
        this.expect("(", '"(" after "="');
        const pool = this.parseInlinePool(d, t.kw);
        return pool;
      }
      throw this.unexpected(this.peek(), `"/" and a table number, or "=(…)", after "${t.kw}"`);
    }
    return this.parseIpAddr(d, side);
  }

  private parseInlinePool(d: Draft, table: "pool" | "hash"): InlinePool {
    const entries: InlinePool["entries"] = [];
    for (;;) {
      this.lexer.expectAddr = 1;
      const negated = table === "pool" && this.accept("!") !== undefined;
      const a = this.parseIpAddr(d, null);
      if (a.kind === "cidr") entries.push({ negated, address: a });
      else if (a.kind === "any") entries.push({ negated, address: makeCidr("inet", 0n, 0n) });
      else throw this.fail(IpfDiagnosticCode.InvalidAddress, "a pool entry must be an address", this.last!);
      if (this.accept(")")) break;
      this.expect(",", '"," or ")" in the pool list');
    }
    this.lexer.expectAddr = 0;
    return { kind: "inline-pool", table, entries };
  }

  /** ipaddr: any | hostname [/|mask ipmask] | (ifname) [/ maskopts]. */
  private parseIpAddr(d: Draft, side: "from" | "to" | null): AddressMatch {
    const r = d.rule;
    const t = this.peek();
    if (t.kw === "any") {
      this.next();
      this.lexer.expectAddr = 0;
      return ANY;
    }
    if (t.type === "(") {
      this.next();
      const name = this.expectName('an interface name in "(…)"');
      if (this.is(":") && this.is("num", 1)) {
        this.next();
        this.next();
      }
      this.expect(")", '")" after the interface name');
      if (!this.is("/")) {
        this.lexer.expectAddr = 0;
        return { kind: "interface", name: name.text, which: "address", prefix: 0, dynamic: true };
      }
      this.next();
      if (r.family === null) {
        r.family = "inet";
        r.familyImplied = true;
      }
      const which = this.parseMaskOpts(true);
      this.lexer.expectAddr = 0;
      this.lexer.dict = this.lexer.base;
      return typeof which === "number"
        ? { kind: "interface", name: name.text, which: "address", prefix: which, dynamic: true }
        : { kind: "interface", name: name.text, which, dynamic: true };
    }
    const h = this.parseHostname(d, true);
    const hostTok = this.last!;
    const m = this.peek();
    const hasMask = m.type === "/" || m.kw === "mask";
    if (h.kind === "interface") {
      // A name the rule uses as an interface: that interface's address, decided at load time.
      if (!hasMask) {
        this.lexer.expectAddr = 0;
        return { kind: "any", viaInterface: h.name };
      }
      this.next();
      this.lexer.dict = MASK_WORDS;
      this.lexer.expectAddr = 2;
      const which = this.parseIpmask(d, "inet", true);
      this.lexer.dict = this.lexer.base;
      this.lexer.expectAddr = 0;
      if (r.family === null) {
        r.family = d.rule.family ?? "inet";
        r.familyImplied = true;
      }
      return typeof which === "number"
        ? { kind: "interface", name: h.name, which: "address", prefix: which }
        : { kind: "interface", name: h.name, which };
    }
    if (h.kind === "unknown") {
      // Consume a mask too, so the report is about the name alone.
      if (hasMask) {
        this.next();
        this.lexer.dict = MASK_WORDS;
        this.parseIpmask(d, "inet", false);
        this.lexer.dict = this.lexer.base;
      }
      this.lexer.expectAddr = 0;
      this.unknownHost(h.token);
      return ANY;
    }
    if (side) this.noteFamily(d, h.family, side, hostTok);
    if (!hasMask) {
      return makeCidr(h.family, h.value, allOnes(h.family));
    }
    this.next();
    this.lexer.dict = MASK_WORDS;
    this.lexer.expectAddr = 2;
    const bits = this.parseIpmask(d, h.family, false);
    this.lexer.dict = this.lexer.base;
    this.lexer.expectAddr = 0;
    if (typeof bits !== "number")
      throw this.fail(IpfDiagnosticCode.InvalidAddress, `"/${bits}" is only for interface names`, this.last!);
    const max = h.family === "inet" ? 32 : 128;
    if (bits < 0 || bits > max) {
      this.sink.add(
        IpfDiagnosticCode.InvalidAddress,
        bits < 0
          ? "this mask has holes: ipf cannot use it and matches any address instead"
          : `/${bits} is longer than ${max} bits: ipf matches any address instead`,
        hostTok.offset,
        this.lastEnd - hostTok.offset,
        "warning",
        "ipf loads the rule with this address as any",
      );
      return makeCidr(h.family, 0n, 0n);
    }
    return makeCidr(h.family, h.value, prefixToMask(h.family, bits));
  }

  /** maskopts after `(if)/`: broadcast/network/netmasked/peer or a prefix length. */
  private parseMaskOpts(dynamic: boolean): number | "network" | "netmasked" | "broadcast" | "peer" {
    this.lexer.dict = MASK_WORDS;
    const t = this.peek();
    const which =
      t.kw === "broadcast" || t.kw === "bcast"
        ? "broadcast"
        : t.kw === "network" || t.kw === "net"
          ? "network"
          : t.kw === "netmasked"
            ? "netmasked"
            : t.kw === "peer"
              ? "peer"
              : null;
    if (which) {
      if (!dynamic) throw this.unexpected(t, "a mask");
      this.next();
      return which;
    }
    if (t.type === "num") {
      this.next();
      return t.value;
    }
    throw this.unexpected(t, "a prefix length, or broadcast/network/netmasked/peer");
  }

  /** ipmask: a dotted mask, 0x mask, prefix length, IPv6 mask, or (for interfaces) maskopts; prefix length (-1 when the mask has holes). */
  private parseIpmask(
    d: Draft,
    family: Family,
    dynamic: boolean,
  ): number | "network" | "netmasked" | "broadcast" | "peer" {
    void d;
    const t = this.peek();
    if (t.type === "num" && this.is(".", 1)) {
      const v = this.parseIpv4Dotted();
      return countBits32(Number(v));
    }
    if (t.type === "hex") {
      this.next();
      return countBits32(t.value);
    }
    if (t.type === "ipv6") {
      this.next();
      return countBits128(t.v6);
    }
    void family;
    return this.parseMaskOpts(dynamic);
  }

  /** NUMBER . NUMBER [. NUMBER [. NUMBER]] (ipv4_16, ipv4_24, ipv4). */
  private parseIpv4Dotted(): bigint {
    const parts: Token[] = [this.next()];
    while (parts.length < 4 && this.is(".") && this.is("num", 1)) {
      this.next();
      parts.push(this.next());
    }
    if (parts.length < 2) throw this.unexpected(this.peek(), '"." and the next octet');
    let v = 0n;
    for (let i = 0; i < 4; i++) {
      const p = parts[i];
      if (p && p.value > 255)
        throw this.fail(
          IpfDiagnosticCode.InvalidAddress,
          `octet ${p.text} is larger than 255`,
          p,
          "Invalid octet string for IP address",
        );
      v = (v << 8n) | BigInt(p ? p.value : 0);
    }
    return v;
  }

  /** hostname: ipv4 | NUMBER | HEX | STR | IPV6, with ipf's lookuphost for names. */
  private parseHostname(
    d: Draft,
    interfacesCount: boolean,
  ):
    | { kind: "address"; family: Family; value: bigint }
    | { kind: "interface"; name: string }
    | { kind: "unknown"; token: Token } {
    const r = d.rule;
    const t = this.peek();
    if (t.type === "num") {
      if (r.family === "inet6") throw this.unexpected(t, "an IPv6 address (the rule is inet6)");
      if (this.is(".", 1)) {
        const v = this.parseIpv4Dotted();
        this.lexer.expectAddr = 2;
        return { kind: "address", family: "inet", value: v };
      }
      this.next();
      this.lexer.expectAddr = 2;
      return { kind: "address", family: "inet", value: bswap32(t.value) };
    }
    if (t.type === "hex") {
      if (r.family === "inet6") throw this.unexpected(t, "an IPv6 address (the rule is inet6)");
      this.next();
      this.lexer.expectAddr = 2;
      return { kind: "address", family: "inet", value: bswap32(t.value) };
    }
    if (t.type === "ipv6") {
      if (r.family === "inet" && !r.familyImplied)
        throw this.unexpected(t, "an IPv4 address (the rule is inet)");
      this.next();
      this.lexer.expectAddr = 2;
      return { kind: "address", family: "inet6", value: t.v6 };
    }
    if (t.type === "str" && t.kw === null) {
      this.next();
      this.lexer.expectAddr = 2;
      if (interfacesCount) {
        const names = [...r.on, ...r.inVia, ...r.outVia].map((i) => i.name);
        if (names.includes(t.text)) return { kind: "interface", name: t.text };
      }
      const v = this.resolver.resolve(t.text, "inet");
      if (v !== undefined) return { kind: "address", family: "inet", value: v };
      return { kind: "unknown", token: t };
    }
    if (t.type === "str" && t.kw !== null)
      throw this.unexpected(t, `an address ("${t.text}" is a keyword here)`);
    throw this.unexpected(t, "an address");
  }

  private unknownHost(t: Token): void {
    this.sink.add(
      IpfDiagnosticCode.UnknownHost,
      t.text === "<thishost>"
        ? '"<thishost>" is this machine\'s own address, which qjail does not look up: give it with --host "<thishost>=ADDRESS"'
        : `host name ${JSON.stringify(t.text)} is not known (qjail does not query DNS)`,
      t.offset,
      t.length,
      "error",
      `ipf prints unknown name ${JSON.stringify(t.text)} and loads the rule with this address as any`,
    );
  }

  /** srcport/dstport: port comparisons, ranges, or `port = {…}`. Null when there is none. */
  private parsePort(d: Draft, required: boolean): (PortMatch | null)[] | null {
    const t = this.peek();
    if (t.kw !== "port") {
      if (required) throw this.unexpected(t, '"port"');
      return null;
    }
    this.next();
    this.lexer.expectAddr = 0;
    const p = d.protoNumber;
    if (p !== null && p !== "tcpudp" && p !== 0 && p !== 6 && p !== 17)
      throw this.fail(
        IpfDiagnosticCode.InvalidPort,
        `ports only apply to tcp and udp, not protocol ${p}`,
        t,
        "port use incorrect",
      );
    const op = this.peek();
    if (op.type === "=" || op.type === "cmp" || (op.kw !== null && COMPARE_KW[op.kw])) {
      this.next();
      this.lexer.dict = null;
      const cmp =
        op.type === "="
          ? "="
          : op.type === "cmp"
            ? (op.op as "=" | "!=" | "<" | ">" | "<=" | ">=")
            : COMPARE_KW[op.kw!]!;
      if (op.type === "=" && this.is("{")) {
        this.next();
        const out: PortMatch[] = [];
        for (;;) {
          const lo = this.parsePortNum(d);
          if (this.is(":") || this.is("range")) {
            const rt = this.next();
            const hi = this.parsePortNum(d);
            if (rt.type === "range" && rt.op !== "><")
              throw this.unexpected(rt, '":" or "><" in a port list');
            out.push({ kind: "range", op: rt.type === ":" ? ":" : "><", low: lo, high: hi });
          } else out.push({ kind: "compare", op: "=", port: lo });
          this.lexer.dict = null;
          if (this.accept("}")) break;
          this.accept(",");
          if (this.is("}")) {
            this.next();
            break;
          }
        }
        this.lexer.dict = this.lexer.base;
        return out;
      }
      const port = this.parsePortNum(d);
      this.lexer.dict = this.lexer.base;
      if (this.is(":") && op.type === "=")
        throw this.fail(
          IpfDiagnosticCode.InvalidPort,
          'a port range is written without "=": "port 7001:7100" or "port 7000 >< 7101"',
          this.peek(),
        );
      return [{ kind: "compare", op: cmp, port }];
    }
    // portrange: port N range M
    this.lexer.dict = null;
    const lo = this.parsePortNum(d);
    const rt = this.peek();
    if (rt.type !== "range" && rt.type !== ":")
      throw this.unexpected(rt, 'a port comparison such as "port = 80" or "port 1000:2000"');
    this.next();
    const hi = this.parsePortNum(d);
    this.lexer.dict = this.lexer.base;
    return [{ kind: "range", op: rt.type === ":" ? ":" : (rt.op as "<>" | "><"), low: lo, high: hi }];
  }

  private parsePortNum(d: Draft): number {
    const t = this.peek();
    if (t.type === "num") {
      this.next();
      if (t.overflow || t.value > 65535)
        throw this.fail(
          IpfDiagnosticCode.InvalidPort,
          `port ${t.text} is out of range 0-65535`,
          t,
          "invalid port number",
        );
      return t.value;
    }
    if (t.type === "str") {
      this.next();
      const p = lookupService(t.text, { kind: "filter", proto: d.protoNumber === 0 ? null : d.protoNumber });
      if (p === undefined)
        throw this.fail(
          IpfDiagnosticCode.InvalidPort,
          `unknown service name ${JSON.stringify(t.text)} (not in FreeBSD's /etc/services${d.protoNumber === 6 ? " for tcp" : d.protoNumber === 17 ? " for udp" : ""})`,
          t,
          "service unknown",
        );
      return p;
    }
    throw this.unexpected(t, "a port number or service name");
  }

  // --- flags, icmp-type -------------------------------------------------------

  private parseFlags(d: Draft): void {
    const t = this.peek();
    if (t.kw !== "flags") return;
    this.next();
    if (!d.ipType)
      throw this.fail(
        IpfDiagnosticCode.InvalidFlags,
        'TCP flags need "proto tcp" in the rule',
        t,
        "flags with non-ipf type rule",
      );
    if (d.protoNumber !== 6)
      throw this.fail(
        IpfDiagnosticCode.InvalidFlags,
        'TCP flags need "proto tcp" in the rule',
        t,
        "flags with non-TCP rule",
      );
    const flags: TcpFlags = { set: 0, mask: DEFAULT_FLAG_MASK };
    const flagset = (): number => {
      const f = this.peek();
      if (f.type === "hex" || f.type === "num") {
        this.next();
        return f.value;
      }
      if (f.type === "str" && f.kw === null) {
        this.next();
        return tcpFlagBits(f, this);
      }
      throw this.unexpected(f, "TCP flags such as S or S/SA");
    };
    if (this.is("/")) {
      this.next();
      flags.set = 0;
      flags.mask = flagset();
    } else {
      flags.set = flagset();
      if (this.accept("/")) flags.mask = flagset();
    }
    d.rule.flags = flags;
  }

  private parseIcmp(d: Draft): void {
    const r = d.rule;
    const t = this.peek();
    if (t.kw !== "icmp-type") return;
    this.next();
    if (r.family === null) {
      r.family = "inet";
      r.familyImplied = true;
    }
    if (d.ipType) {
      if (r.family === "inet" && d.protoNumber !== 1)
        throw this.fail(
          IpfDiagnosticCode.UnknownIcmp,
          'icmp-type needs "proto icmp" in the rule',
          t,
          "proto not icmp",
        );
      if (r.family === "inet6" && d.protoNumber !== 58)
        throw this.fail(
          IpfDiagnosticCode.UnknownIcmp,
          'icmp-type needs "proto ipv6-icmp" in the rule',
          t,
          "proto not ipv6-icmp",
        );
    }
    d.ipType = true;
    this.lexer.dict = null;
    const fam: Family = r.family === "inet6" ? "inet6" : "inet";
    const icmpType = (): number => {
      const x = this.peek();
      if (x.type === "num") {
        this.next();
        return x.value & 0xff;
      }
      if (x.type === "str") {
        this.next();
        const n = icmpTypeNumber(fam, x.text);
        if (n === null)
          throw this.fail(
            IpfDiagnosticCode.UnknownIcmp,
            `unknown ICMP type ${JSON.stringify(x.text)}`,
            x,
            "unrecognised icmp type",
          );
        return n;
      }
      throw this.unexpected(x, "an ICMP type");
    };
    if (this.is("{")) {
      this.next();
      d.icmpTypes = [];
      for (;;) {
        this.lexer.dict = null;
        d.icmpTypes.push(icmpType());
        if (this.accept("}")) break;
        this.accept(",");
      }
    } else d.icmpTypes = [icmpType()];
    this.lexer.dict = this.lexer.base;
    if (this.isKw("code")) {
      this.next();
      this.lexer.dict = ICMPCODE_WORDS;
      if (this.is("{")) {
        this.next();
        d.icmpCodes = [];
        for (;;) {
          this.lexer.dict = ICMPCODE_WORDS;
          d.icmpCodes.push(this.parseIcmpCode());
          if (this.accept("}")) break;
          this.accept(",");
        }
      } else d.icmpCodes = [this.parseIcmpCode()];
      this.lexer.dict = this.lexer.base;
    }
  }

  // --- ruletail ---------------------------------------------------------------

  private parseTail(d: Draft): void {
    const r = d.rule;
    // with
    const w = this.peek();
    if (w.kw === "with" || w.kw === "and") {
      this.next();
      d.ipType = true;
      this.parseWithList(d);
    }
    // keep (repeatable)
    while (this.isKw("keep")) {
      this.next();
      const k = this.peek();
      if (k.kw === "state") {
        this.next();
        r.keepState = this.parseStateOptions(d, r.keepState ?? emptyKeepState());
      } else if (k.kw === "frags" || k.kw === "frag") {
        this.next();
        const kf = r.keepFrags ?? { strict: false };
        if (this.accept("(")) {
          for (;;) {
            this.expectKw("strict", '"strict"');
            kf.strict = true;
            if (this.accept(")")) break;
            this.accept(",");
          }
        }
        r.keepFrags = kf;
      } else throw this.unexpected(k, '"state" or "frags" after "keep"');
    }
    if (this.isKw("head")) {
      this.next();
      r.head = this.groupName();
    }
    if (this.isKw("group")) {
      this.next();
      r.group = this.groupName();
    }
    // intag: set-tag(log=N) match-tag(log=N|nat=X); outtag: set-tag(log=N|nat=X) match-tag(log=N)
    if (this.isKw("set-tag")) {
      this.next();
      r.setTag = this.parseTags(r.direction === "out");
    }
    if (this.isKw("match-tag")) {
      this.next();
      const tags = this.parseTags(r.direction === "in");
      r.matchTag = tags.nat;
    }
    if (this.isKw("pps")) {
      this.next();
      r.pps = this.expectNumber("packets per second").value;
    }
    const a = this.peek();
    if (a.kw === "age" || a.kw === "state-age") {
      this.next();
      const x = this.expectNumber("an age in seconds").value;
      let y = x;
      if (this.accept("/")) y = this.expectNumber("a reply age in seconds").value;
      // fr_age: shown (and used) only with keep state.
      if (r.keepState) r.keepState.age = { forward: x, reply: y };
    }
    if (this.is("{")) {
      throw this.fail(
        IpfDiagnosticCode.UnexpectedToken,
        "rule blocks in braces after a rule are not supported by qjail",
        this.peek(),
      );
    }
    if (this.isKw("rule-ttl")) {
      this.next();
      r.ruleTtl = this.expectNumber("a rule lifetime in seconds").value;
    }
    if (this.isKw("comment")) {
      this.next();
      const c = this.peek();
      if (c.type !== "str" || (c.kw !== null && !c.quoted))
        throw this.unexpected(c, "the comment text in quotes");
      this.next();
      r.comment = c.text;
    }
  }

  private groupName(): string {
    const t = this.peek();
    if (t.type === "num") {
      this.next();
      return String(t.value | 0);
    }
    if (t.type === "str" && t.kw === null) {
      this.next();
      return t.text.slice(0, 15);
    }
    throw this.unexpected(t, "a group name or number");
  }

  private parseTags(allowNat: boolean): { log: number | null; nat: string | null } {
    this.expect("(", '"("');
    const tag = { log: null as number | null, nat: null as string | null };
    for (;;) {
      const k = this.peek();
      if (k.kw === "log") {
        this.next();
        this.expect("=", '"="');
        tag.log = this.expectNumber("a log tag number").value;
      } else if (k.kw === "nat" && allowNat) {
        this.next();
        this.expect("=", '"="');
        const v = this.peek();
        if (v.type === "num") {
          this.next();
          tag.nat = String(v.value);
        } else if (v.type === "str") {
          this.next();
          tag.nat = v.text.slice(0, TAG_LENGTH);
        } else throw this.unexpected(v, "a tag name");
      } else throw this.unexpected(k, allowNat ? '"log=N" or "nat=NAME"' : '"log=N"');
      if (this.accept(")")) break;
      this.expect(",", '"," or ")"');
    }
    return tag;
  }

  private parseStateOptions(d: Draft, ks: KeepState): KeepState {
    if (!this.accept("(")) return ks;
    const r = d.rule;
    for (;;) {
      const o = this.peek();
      this.next();
      switch (o.kw) {
        case "limit":
          ks.limit = this.expectNumber("a state limit").value;
          break;
        case "strict":
        case "loose":
        case "newisn":
          if (d.protoNumber !== 6 || (o.kw === "strict" && ks.loose) || (o.kw === "loose" && ks.strict))
            throw this.fail(
              IpfDiagnosticCode.InvalidValue,
              `keep state option "${o.text}" needs "proto tcp" in the rule${o.kw !== "newisn" ? " and not both strict and loose" : ""}`,
              o,
            );
          if (o.kw === "strict") ks.strict = true;
          else if (o.kw === "loose") ks.loose = true;
          else ks.newisn = true;
          break;
        case "no-icmp-err":
          ks.noIcmpErr = true;
          break;
        case "sync":
          ks.sync = true;
          break;
        case "age": {
          const a = this.expectNumber("an age in seconds").value;
          const b = this.accept("/") ? this.expectNumber("a reply age in seconds").value : a;
          ks.age = { forward: a, reply: b };
          break;
        }
        case "icmp-head":
          ks.icmpHead = this.groupName();
          break;
        case "nolog":
          break;
        case "rpc":
          if (this.isKw("in")) {
            this.next();
            this.expectName("an RPC program name");
          }
          break;
        case "max-srcs":
          ks.maxSrcs = this.expectNumber("a number of sources").value;
          break;
        case "max-per-src": {
          const count = this.expectNumber("a number of states").value;
          const mask = this.accept("/")
            ? this.expectNumber("a prefix length").value
            : r.family === "inet"
              ? 32
              : 128;
          ks.maxPerSrc = { count, mask };
          break;
        }
        default:
          throw this.unexpected(
            o,
            "a keep state option (limit, strict, loose, newisn, no-icmp-err, sync, age, icmp-head, max-srcs, max-per-src)",
          );
      }
      if (this.accept(")")) return ks;
      this.accept(",");
    }
  }

  private parseWithList(d: Draft): void {
    const r = d.rule;
    let any = false;
    for (;;) {
      const save = this.peek();
      let negated = false;
      if (save.kw === "not" || save.kw === "no") {
        // notwith is only followed by opttype or opt.
        const n = this.peek(1);
        if (!(n.kw !== null && (WITH_WORDS.has(n.kw) || n.kw === "opt"))) {
          if (!any) throw this.unexpected(n, 'a packet property after "not"');
          throw this.unexpected(n, 'a packet property after "not"');
        }
        this.next();
        negated = true;
      }
      const t = this.peek();
      if (t.kw === "opt") {
        this.next();
        this.lexer.dict = IPV4OPT_WORDS;
        const entry: WithOption = { negated, name: "opt", options: [], secClasses: [] };
        for (;;) {
          const o = this.peek();
          if (o.kw === "sec-class") {
            this.next();
            this.lexer.dict = SEC_WORDS;
            for (;;) {
              const c = this.peek();
              if (c.kw === null || !SEC_WORDS.has(c.kw))
                throw this.unexpected(c, "a security class (confid, secret, topsecret, unclass, reserv-1…4)");
              this.next();
              entry.secClasses.push(c.kw);
              if (!this.is(",") || !(this.peek(1).kw !== null && SEC_WORDS.has(this.peek(1).kw!))) break;
              this.next();
            }
          } else if (o.kw !== null && IPV4OPT_WORDS.has(o.kw)) {
            this.next();
            entry.options.push(o.kw);
            if (o.kw === "cipso" && this.isKw("doi")) {
              this.next();
              const v = this.peek();
              if (v.type !== "num" && v.type !== "hex") throw this.unexpected(v, "a DOI number");
              this.next();
            }
          } else throw this.unexpected(o, "an IP option name (lsrr, ssrr, rr, ts, sec-class, …)");
          this.lexer.dict = IPV4OPT_WORDS;
          if (
            this.is(",") &&
            this.peek(1).kw !== null &&
            (IPV4OPT_WORDS.has(this.peek(1).kw!) || this.peek(1).kw === "sec-class")
          ) {
            this.next();
            continue;
          }
          break;
        }
        this.lexer.dict = this.lexer.base;
        if (r.family === null || r.familyImplied) {
          if (r.family === "inet6")
            throw this.fail(IpfDiagnosticCode.FamilyMismatch, "IP options are IPv4 only", t);
          if (r.family === null) r.familyImplied = true;
          r.family = "inet";
        } else if (r.family !== "inet")
          throw this.fail(IpfDiagnosticCode.FamilyMismatch, "IP options are IPv4 only", t);
        r.with.push(entry);
      } else if (t.kw === "v6hdr" && !negated) {
        this.next();
        if (r.family !== "inet6")
          throw this.fail(
            IpfDiagnosticCode.FamilyMismatch,
            '"with v6hdr" needs an IPv6 rule ("family inet6")',
            t,
            "only available with IPv6",
          );
        this.lexer.dict = IPV6OPT_WORDS;
        const entry: WithOption = { negated: false, name: "v6hdr", options: [], secClasses: [] };
        for (;;) {
          const h = this.peek();
          const name = h.kw;
          if (name === null || !IPV6_HEADERS.some((x) => x.name === name))
            throw this.unexpected(h, "an IPv6 extension header name");
          this.next();
          entry.options.push(name);
          if (this.is(",")) {
            this.next();
            continue;
          }
          break;
        }
        this.lexer.dict = this.lexer.base;
        r.with.push(entry);
      } else if (t.kw !== null && WITH_WORDS.has(t.kw)) {
        this.next();
        r.with.push({ negated, name: WITH_WORDS.get(t.kw)!, options: [], secClasses: [] });
      } else {
        if (!any) throw this.unexpected(t, 'a packet property after "with" (short, frag, ipopts, opt …, …)');
        return;
      }
      any = true;
      // withlist: withopt | withlist withopt | withlist ',' withopt
      if (this.is(",")) this.next();
    }
  }

  private parseExpression(s: Token): ExpressionMatch {
    return parseIpfExpression(s, this);
  }
}

function countBits32(v: number): number {
  const m = v >>> 0;
  const inv = ~m >>> 0;
  if ((inv & (inv + 1)) !== 0) return -1;
  return inv === 0 ? 32 : Math.clz32(inv);
}

function countBits128(v: bigint): number {
  let n = 0;
  while (n < 128 && ((v >> BigInt(127 - n)) & 1n) === 1n) n++;
  return prefixToMask("inet6", n) === v ? n : -1;
}

function tcpFlagBits(t: Token, p: GrammarParser): number {
  let bits = 0;
  for (const ch of t.text) {
    const i = TCP_FLAG_LETTERS.indexOf(ch);
    if (i < 0)
      throw p.fail(
        IpfDiagnosticCode.InvalidFlags,
        `${JSON.stringify(t.text)} is not a set of TCP flags (letters FSRPAUEC)`,
        t,
      );
    bits |= TCP_FLAG_BITS[i]!;
  }
  return bits;
}

// ---------------------------------------------------------------------------
// exp { "…" }: lib/parseipfexpr.c
// ---------------------------------------------------------------------------

const EXPRESSION_FIELDS = new Set([
  "ip.addr",
  "ip.src",
  "ip.dst",
  "ip.p",
  "tcp.port",
  "tcp.sport",
  "tcp.dport",
  "tcp.flags",
  "udp.port",
  "udp.sport",
  "udp.dport",
  "idle-gt",
  "tcp-state",
  "ip6.addr",
  "ip6.src",
  "ip6.dst",
]);

function parseIpfExpression(s: Token, p: GrammarParser): ExpressionMatch {
  const text = s.text;
  if (!text.trimEnd().endsWith(";"))
    throw p.fail(
      IpfDiagnosticCode.InvalidValue,
      'an expression must end with ";"',
      s,
      "last character not ';':error parsing ipf matching expression",
    );
  const clauses: ExpressionMatch["clauses"] = [];
  for (const part of text.split(";")) {
    if (part.trim() === "") continue;
    const m = /^\s*([a-z0-9.-]+)\s*(!=|=)\s*(.*?)\s*$/.exec(part);
    if (!m || !EXPRESSION_FIELDS.has(m[1] as string))
      throw p.fail(
        IpfDiagnosticCode.InvalidValue,
        `cannot read expression clause ${JSON.stringify(part.trim())}`,
        s,
        "error parsing ipf matching expression",
      );
    const field = m[1] as string;
    const values = (m[3] as string).split(",").map((v) => v.trim());
    const normalised =
      field.startsWith("ip.") && field !== "ip.p" ? values.map((v) => normaliseExprHost(v, s, p)) : values;
    clauses.push({ field, op: m[2] as "=" | "!=", values: normalised });
  }
  return { clauses };
}

function normaliseExprHost(text: string, tok: Token, p: GrammarParser): string {
  const [host, maskText] = text.split("/");
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(host ?? "");
  let value: bigint | undefined;
  if (m) value = m.slice(1).reduce((acc, o) => acc * 256n + BigInt(Number(o)), 0n);
  else value = p.resolver.resolve(host ?? "", "inet");
  if (value === undefined)
    throw p.fail(
      IpfDiagnosticCode.InvalidAddress,
      `${JSON.stringify(text)} is not a valid address`,
      tok,
      "error parsing ipf matching expression",
    );
  let mask = allOnes("inet");
  if (maskText !== undefined) {
    if (/^\d+$/.test(maskText)) mask = prefixToMask("inet", Number(maskText));
    else {
      const mm = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(maskText);
      mask = mm ? mm.slice(1).reduce((acc, o) => acc * 256n + BigInt(Number(o)), 0n) : 0n;
    }
  }
  const cidr = makeCidr("inet", value, mask);
  return cidr.address === "0.0.0.0" && cidr.prefix === 0
    ? "any"
    : `${cidr.address}/${cidr.prefix ?? cidr.mask}`;
}

// ---------------------------------------------------------------------------
// Expansion and group inheritance
// ---------------------------------------------------------------------------

/**
 * A rule in `group N` takes the family and protocol of the group's head rule
 * when it has none (ipf's fillgroup), so `pass in from any to any port = 22
 * group 100` under a `proto tcp … head 100` rule is a TCP rule.
 */
function inheritFromHead(r: FilterRule, earlier: readonly FilterRule[]): void {
  if (r.group === null || r.all || r.expression) return;
  for (let i = earlier.length - 1; i >= 0; i--) {
    const h = earlier[i] as FilterRule;
    if (h.head !== r.group) continue;
    if (h.all || h.expression) return;
    if (r.family === null && h.family !== null) {
      r.family = h.family;
      r.familyImplied = true;
    }
    if (r.proto === null && h.proto !== null) r.proto = h.proto;
    return;
  }
}

/** One rule per combination of list members; the earliest list written varies fastest. */
function expand(d: Draft): FilterRule[] {
  const r = d.rule;
  const isAll = !d.ipType;
  const dims: { values: unknown[]; apply: (rule: FilterRule, v: unknown) => void }[] = [
    { values: d.onList ?? [r.on], apply: (x, v) => (x.on = v as InterfaceName[]) },
    { values: d.tos ?? [null], apply: (x, v) => (x.tos = v as number | null) },
    { values: d.ttl ?? [null], apply: (x, v) => (x.ttl = v as number | null) },
    { values: d.fromAddresses, apply: (x, v) => (x.from = { ...x.from, address: v as AddressMatch }) },
    { values: d.fromPorts, apply: (x, v) => (x.from = { ...x.from, port: v as PortMatch | null }) },
    { values: d.toAddresses, apply: (x, v) => (x.to = { ...x.to, address: v as AddressMatch }) },
    { values: d.toPorts, apply: (x, v) => (x.to = { ...x.to, port: v as PortMatch | null }) },
    {
      values: d.icmpTypes ?? [null],
      apply: (x, v) => (x.icmp = v === null ? null : { type: v as number, code: null }),
    },
    {
      values: d.icmpCodes,
      apply: (x, v) => (x.icmp = x.icmp === null ? null : { ...x.icmp, code: v as number | null }),
    },
  ];
  const total = dims.reduce((n, dim) => n * dim.values.length, 1);
  const out: FilterRule[] = [];
  for (let i = 0; i < total; i++) {
    const rule: FilterRule = total === 1 ? r : { ...r };
    rule.all = isAll;
    let rest = i;
    for (const dim of dims) {
      const v = dim.values[rest % dim.values.length];
      rest = Math.floor(rest / dim.values.length);
      dim.apply(rule, v);
    }
    out.push(rule);
  }
  return out;
}

export function parseIpfText(text: string, opts: ParseOptions = {}): IpfParseResult {
  return new IpfParser(text, opts).parseFile();
}
