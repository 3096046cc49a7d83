/**
 * ipf.conf parser: text → FilterRule[] with ipf(8)'s reading of every
 * construct, including the expansion of `{a,b}` lists into one rule per
 * combination (the first list written varies fastest, as ipf emits them).
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
  KeepFrags,
  KeepState,
  LogOptions,
  PortMatch,
  Protocol,
  RouteTarget,
  SetTag,
  SetTunable,
  TcpFlags,
  WithOption,
} from "../ast.js";
import { makeCidr, parseAddressText, parseDottedQuad, parseIpv6, prefixToMask, allOnes } from "./address.js";
import {
  beginParse,
  HostResolver,
  parseBraceList,
  parseHostWithMask,
  parseNumber,
  parsePortMatch,
  type ParseOptions,
} from "./common.js";
import { IpfDiagnosticCode, type IpfDiagnostic } from "./diagnostics.js";
import {
  Cursor,
  DiagnosticSink,
  ParseError,
  spanSince,
  splitStatements,
  type LogicalLine,
  type Token,
} from "./lexer.js";
import {
  DEFAULT_FLAG_MASK,
  ICMP_CODES,
  icmpTypeNumber,
  IP_OPTIONS,
  IPV6_HEADERS,
  PROTOCOL_NUMBERS,
  SECURITY_CLASSES,
  SYSLOG_FACILITIES,
  SYSLOG_PRIORITIES,
  TAG_LENGTH,
  TCP_FLAG_BITS,
  TCP_FLAG_LETTERS,
  WITH_ALIASES,
  WITH_FLAGS,
} from "./tables.js";

export interface IpfParseResult {
  rules: FilterRule[];
  /** Rules, `set` tunables and variable assignments in source order. */
  statements: IpfStatement[];
  diagnostics: IpfDiagnostic[];
}

/** A parse in progress for one rule: single values plus the lists still to expand. */
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
  /** Something other than `all` that makes ipf treat the rule as an IP match (proto, tos, with, …). */
  ipMatch: boolean;
  /** Written with `from`/`to` instead of `all`. */
  fromTo: boolean;
  recoverable: boolean;
  /** `on {a,b}`: one rule per interface (or interface pair). */
  onList: InterfaceName[][] | null;
}

const ANY: AddressMatch = { kind: "any" };

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

export function parseIpfText(text: string, opts: ParseOptions = {}): IpfParseResult {
  const { sink, resolver, lines, assignments } = beginParse(text, opts);
  const statements: IpfStatement[] = [...assignments];
  const rules: FilterRule[] = [];
  // Statements are appended in the order lines appear; assignments were
  // pushed while lines were cut, so sort the merged list by offset at the end.
  // `;` ends a rule, so one line may hold several (`pass in all; block out all`).
  const statementsOf = (line: LogicalLine) =>
    line.tokens.some((t) => t.kind === "punct" && t.text === ";")
      ? splitStatements(line.tokens)
      : [line.tokens];
  for (const line of lines)
    for (const tokens of statementsOf(line)) {
      const first = tokens[0] as Token;
      const last = tokens[tokens.length - 1] as Token;
      const { line: ln, column } = sink.index.position(first.offset);
      const length = tokens === line.tokens ? line.length : last.offset + last.length - first.offset;
      const span = { offset: first.offset, length, line: ln, column };
      const cur = new Cursor(tokens, line);
      if (cur.is("set")) {
        const st = parseSet(cur, span, sink);
        if (st) statements.push(st);
        continue;
      }
      const before = sink.list.length;
      try {
        const draft = parseRule(cur, span, resolver, sink, opts.family ?? null);
        const errors = sink.list.slice(before).some((d) => d.severity === "error");
        if (!errors || (opts.recover && draft.recoverable)) {
          for (const r of expand(draft)) {
            inheritFromHead(r, rules);
            rules.push(r);
            statements.push(r);
          }
        }
      } catch (e) {
        if (!(e instanceof ParseError)) throw e;
        sink.add(e.code, e.message, e.offset, e.length);
      }
    }
  statements.sort((a, b) => a.span.offset - b.span.offset);
  return { rules, statements, diagnostics: sink.list };
}

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

function parseSet(cur: Cursor, span: FilterRule["span"], sink: DiagnosticSink): SetTunable | null {
  cur.next();
  const name = cur.peek();
  if (!name || name.kind !== "word") {
    const e = name
      ? cur.unexpected(name, 'a tunable name after "set"')
      : cur.endError('a tunable name after "set"');
    sink.add(e.code, e.message, e.offset, e.length);
    return null;
  }
  cur.next();
  cur.accept("=");
  const parts: string[] = [];
  while (!cur.atEnd() && !cur.is(";")) parts.push(cur.next().text);
  return { kind: "set", span, name: name.text, value: parts.join(" ") };
}

const ACTION_WORDS = new Set([
  "pass",
  "block",
  "log",
  "count",
  "skip",
  "auth",
  "preauth",
  "nomatch",
  "call",
  "decapsulate",
]);

function parseRule(
  cur: Cursor,
  span: FilterRule["span"],
  resolver: HostResolver,
  sink: DiagnosticSink,
  family: Family | null,
): Draft {
  const rule = emptyRule(span);
  if (family !== null) {
    rule.family = family;
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
    ipMatch: false,
    fromTo: false,
    recoverable: true,
    onList: null,
  };

  const first = cur.peek();
  if (first && first.kind === "word" && /^@\d+$/.test(first.text)) {
    cur.next();
    rule.insertAt = Number(first.text.slice(1));
  }
  const collectTok = cur.peek();
  if (collectTok && collectTok.kind === "word" && /^\d+$/.test(collectTok.text)) {
    cur.next();
    const n = parseNumber(collectTok, "rule collect number");
    rule.collect = n === 0 ? null : n;
  }

  rule.action = parseAction(cur, rule);
  const dir = cur.peek();
  if (!dir) throw cur.endError('"in" or "out"');
  if (dir.text !== "in" && dir.text !== "out") throw cur.unexpected(dir, '"in" or "out" after the action');
  cur.next();
  rule.direction = dir.text;

  parseHead(cur, d, resolver, sink);
  parseTail(cur, d, resolver, sink);
  if (!cur.atEnd()) {
    const t = cur.peek()!;
    if (!(t.text === ";" && cur.pos === cur.tokens.length - 1))
      throw cur.unexpected(t, "the end of the rule");
  }
  return d;
}

function parseAction(cur: Cursor, rule: FilterRule): FilterAction {
  const t = cur.peek();
  if (!t) throw cur.endError("an action (pass, block, log, count, …)");
  if (t.kind !== "word" || !ACTION_WORDS.has(t.text))
    throw cur.unexpected(t, "an action (pass, block, log, count, skip, auth, preauth, nomatch, call)");
  cur.next();
  switch (t.text) {
    case "pass":
      return { kind: "pass" };
    case "block": {
      let ret: BlockReturn | null = null;
      const r = cur.peek();
      if (r && r.text === "return-rst") {
        cur.next();
        ret = { kind: "return-rst" };
      } else if (r && (r.text === "return-icmp" || r.text === "return-icmp-as-dest")) {
        cur.next();
        let code: number | null = null;
        if (cur.accept("(")) {
          const c = cur.word("an ICMP unreachable code");
          code = icmpCode(c);
          cur.expect(")");
        }
        ret = { kind: r.text, code };
      }
      return { kind: "block", return: ret };
    }
    case "log":
      rule.log = parseLogOptions(cur);
      return { kind: "log" };
    case "count":
      return { kind: "count" };
    case "skip":
      return { kind: "skip", count: parseNumber(cur.word("the number of rules to skip"), "skip count") };
    case "auth":
      return { kind: "auth" };
    case "preauth":
      return { kind: "preauth" };
    case "nomatch":
      return { kind: "nomatch" };
    case "decapsulate":
      return { kind: "decapsulate" };
    default: {
      const now = cur.accept("now") !== undefined;
      const name = cur.word("a function name such as srcgrpmap/100");
      let func = name.text;
      if (cur.accept("/")) func += "/" + cur.word("a function argument").text;
      return { kind: "call", now, func };
    }
  }
}

function icmpCode(tok: Token): number {
  const idx = ICMP_CODES.indexOf(tok.text);
  if (idx >= 0) return idx;
  if (/^\d+$/.test(tok.text)) return parseNumber(tok, "ICMP code", 255);
  throw new ParseError(
    IpfDiagnosticCode.UnknownIcmp,
    `unknown ICMP code ${JSON.stringify(tok.text)}`,
    tok.offset,
    tok.length,
  );
}

function parseLogOptions(cur: Cursor): LogOptions {
  const log: LogOptions = { body: false, first: false, orBlock: false, level: null };
  for (;;) {
    if (cur.accept("body")) log.body = true;
    else if (cur.accept("first")) log.first = true;
    else if (cur.accept("or-block")) log.orBlock = true;
    else if (cur.accept("level")) {
      const lv = cur.word("a syslog facility.priority such as auth.info");
      const dot = lv.text.indexOf(".");
      log.level =
        dot >= 0
          ? { facility: lv.text.slice(0, dot), priority: lv.text.slice(dot + 1) }
          : // A priority alone logs to facility local0 (ipf's LOG_LOCAL0|priority).
            { facility: "local0", priority: lv.text };
      if (
        !SYSLOG_FACILITIES.includes(log.level.facility ?? "") ||
        !SYSLOG_PRIORITIES.includes(log.level.priority ?? "")
      ) {
        throw new ParseError(
          IpfDiagnosticCode.InvalidValue,
          `${JSON.stringify(lv.text)} is not a syslog facility.priority (e.g. auth.info, local0.warn)`,
          lv.offset,
          lv.length,
        );
      }
    } else break;
  }
  return log;
}

/** ipf's listings mark absent interfaces `ed0(!)`; accept the mark so listings read back. */
function skipAbsentMark(cur: Cursor): void {
  if (cur.is("(") && cur.is("!", 1) && cur.is(")", 2)) cur.pos += 3;
}

function interfaceList(cur: Cursor, what: string): InterfaceName[] {
  const out: InterfaceName[] = [];
  do {
    const t = cur.word(what);
    skipAbsentMark(cur);
    out.push({ name: t.text, span: { offset: t.offset, length: t.length, line: 0, column: 0 } });
  } while (cur.accept(","));
  return out;
}

function parseRouteTarget(cur: Cursor, d: Draft): RouteTarget {
  const t = cur.word("an interface such as qe0 or qe0:10.0.0.1");
  if (t.text === "dstlist" && cur.accept("/"))
    return { kind: "dstlist", name: cur.word("a destination list name").text };
  const colon = t.text.indexOf(":");
  if (colon > 0) {
    const addrText = t.text.slice(colon + 1);
    const v4 = parseDottedQuad(addrText);
    const v6 = v4 === null ? parseIpv6(addrText) : null;
    if (v4 === null && v6 === null)
      throw new ParseError(
        IpfDiagnosticCode.InvalidAddress,
        `${JSON.stringify(addrText)} is not a valid next-hop address`,
        t.offset,
        t.length,
      );
    impliedFamily(d, v4 !== null ? "inet" : "inet6", t);
    return { kind: "interface", name: t.text.slice(0, colon), address: addrText };
  }
  skipAbsentMark(cur);
  return { kind: "interface", name: t.text, address: null };
}

function impliedFamily(d: Draft, family: Family, tok: Token | undefined): void {
  const r = d.rule;
  if (r.family === null) {
    r.family = family;
    r.familyImplied = true;
  } else if (r.family !== family) {
    throw new ParseError(
      IpfDiagnosticCode.FamilyMismatch,
      `rule mixes ${r.family} and ${family} addresses`,
      tok?.offset ?? r.span.offset,
      tok?.length ?? 1,
    );
  }
}

/** Words that end the head of a rule: the address part, or (when that is left out, `block out on de0 head 100`) the options after it. */
const HEAD_END = new Set([
  "age",
  "rule-ttl",
  "all",
  "from",
  "to",
  "exp",
  "with",
  "flags",
  "icmp-type",
  "keep",
  "head",
  "group",
  "set-tag",
  "match-tag",
  "pps",
  "comment",
]);

function parseHead(cur: Cursor, d: Draft, resolver: HostResolver, sink: DiagnosticSink): void {
  const r = d.rule;
  // ipf's grammar reads `to NAME` as a routing target while it is still in
  // the options before family/tos/ttl/proto; after those, `to` starts the
  // destination (`pass in proto tcp to any port = 22`).
  let pastOptions = false;
  for (;;) {
    let t = cur.peek();
    if (!t) break;
    if (
      t.kind === "word" &&
      (t.text === "to" || t.text === "route-to") &&
      !r.routeTo &&
      !pastOptions &&
      cur.peek(1)?.kind === "word"
    ) {
      cur.next();
      r.routeTo = parseRouteTarget(cur, d);
      continue;
    }
    if (t.kind === "word" && ["family", "inet", "inet6", "tos", "ttl", "proto"].includes(t.text))
      pastOptions = true;
    if (t.kind === "word" && HEAD_END.has(t.text)) break;
    cur.next();
    switch (t.text) {
      case "log":
        r.log = parseLogOptions(cur);
        break;
      case "quick":
        r.quick = true;
        break;
      case "on":
        if (cur.is("{")) {
          d.onList = parseBraceGroups(cur, sink);
          r.on = d.onList[0] ?? [];
        } else {
          r.on = interfaceList(cur, 'an interface name after "on"');
          fixSpans(r.on, sink);
        }
        break;
      case "in-via":
        r.inVia = interfaceList(cur, 'an interface name after "in-via"');
        fixSpans(r.inVia, sink);
        break;
      case "out-via":
        r.outVia = interfaceList(cur, 'an interface name after "out-via"');
        fixSpans(r.outVia, sink);
        break;
      case "dup-to":
        r.dupTo = parseRouteTarget(cur, d);
        break;
      case "reply-to":
        r.replyTo = parseRouteTarget(cur, d);
        break;
      case "fastroute":
        r.fastroute = true;
        break;
      case "family":
      case "inet":
      case "inet6":
        if (t.text === "family") {
          const f = cur.word('"inet" or "inet6" after "family"');
          if (f.text !== "inet" && f.text !== "inet6") throw cur.unexpected(f, '"inet" or "inet6"');
          t = f;
        }
        if (r.family !== null && r.family !== t.text)
          throw new ParseError(
            IpfDiagnosticCode.FamilyMismatch,
            `rule says ${t.text} but uses ${r.family} addresses`,
            t.offset,
            t.length,
          );
        r.family = t.text as "inet" | "inet6";
        r.familyImplied = false;
        break;
      case "tos":
        d.tos = numberOrList(cur, "a TOS value", 255);
        d.ipMatch = true;
        break;
      case "ttl":
        d.ttl = numberOrList(cur, "a TTL value", 255);
        d.ipMatch = true;
        break;
      case "proto":
        r.proto = parseProtocol(cur);
        d.ipMatch = true;
        break;
      default:
        recoverHeadWord(t, cur, d, sink);
    }
  }
}

/**
 * A word ipf does not accept here. Two mistakes are common enough (the
 * qjail-howto page makes both) to name precisely and recover from: an
 * interface without `on` and a protocol without `proto`.
 */
function recoverHeadWord(t: Token, cur: Cursor, d: Draft, sink: DiagnosticSink): void {
  const r = d.rule;
  if (t.kind === "word" && (PROTOCOL_NUMBERS.has(t.text) || t.text === "tcp/udp") && r.proto === null) {
    sink.add(
      IpfDiagnosticCode.MissingProto,
      `protocol ${JSON.stringify(t.text)} needs "proto" before it: write "proto ${t.text}"`,
      t.offset,
      t.length,
    );
    cur.pos--;
    r.proto = parseProtocol(cur);
    d.ipMatch = true;
    return;
  }
  if (t.kind === "word" && /^[a-z][a-z0-9_]*\d+$/i.test(t.text) && r.on.length === 0) {
    sink.add(
      IpfDiagnosticCode.MissingOn,
      `interface ${JSON.stringify(t.text)} needs "on" before it: write "on ${t.text}"`,
      t.offset,
      t.length,
    );
    const { line, column } = sink.index.position(t.offset);
    r.on = [{ name: t.text, span: { offset: t.offset, length: t.length, line, column } }];
    return;
  }
  d.recoverable = false;
  throw cur.unexpected(t, 'a rule option (quick, on, proto, …) or "all"/"from"');
}

/** `on { ed0, vx0 }` or `on { ed0,vx0 ppp0 }`: each member (one name, or an in,out pair) makes its own rule. */
function parseBraceGroups(cur: Cursor, sink: DiagnosticSink): InterfaceName[][] {
  const open = cur.expect("{");
  const groups: InterfaceName[][] = [];
  for (;;) {
    const t = cur.peek();
    if (!t)
      throw new ParseError(
        IpfDiagnosticCode.Unterminated,
        'list opened with "{" is never closed',
        open.offset,
        1,
      );
    cur.next();
    if (t.text === "}") break;
    if (t.text === ",") continue;
    if (t.kind !== "word") throw cur.unexpected(t, "an interface name");
    skipAbsentMark(cur);
    const { line, column } = sink.index.position(t.offset);
    groups.push([{ name: t.text, span: { offset: t.offset, length: t.length, line, column } }]);
  }
  if (groups.length === 0)
    throw new ParseError(IpfDiagnosticCode.UnexpectedToken, 'empty list "{}"', open.offset, 2);
  return groups;
}

function fixSpans(list: InterfaceName[], sink: DiagnosticSink): void {
  for (const i of list) Object.assign(i.span, sink.index.position(i.span.offset));
}

function numberOrList(cur: Cursor, what: string, max: number): number[] {
  if (cur.is("{")) return parseBraceList(cur, (tok) => parseNumber(tok, what, max));
  return [parseNumber(cur.word(what), what, max)];
}

export function parseProtocol(cur: Cursor): Protocol {
  const t = cur.word("a protocol name or number");
  if (t.text === "tcp" && cur.is("/") && cur.peek(1)?.text === "udp") {
    cur.next();
    cur.next();
    return { kind: "tcpudp" };
  }
  if (t.text === "tcp-udp" || t.text === "tcpudp") return { kind: "tcpudp" };
  if (/^\d+$/.test(t.text)) return { kind: "number", number: parseNumber(t, "protocol number", 255) };
  const n = PROTOCOL_NUMBERS.get(t.text.toLowerCase());
  if (n === undefined)
    throw new ParseError(
      IpfDiagnosticCode.UnknownProtocol,
      `unknown protocol ${JSON.stringify(t.text)}`,
      t.offset,
      t.length,
    );
  return { kind: "number", number: n };
}

function parseTail(cur: Cursor, d: Draft, resolver: HostResolver, sink: DiagnosticSink): void {
  const r = d.rule;
  const t = cur.peek();
  if (t && t.text === "all") {
    cur.next();
  } else if (t && t.text === "exp") {
    cur.next();
    r.expression = parseExpression(cur, resolver);
    d.ipMatch = true;
  } else if (t && (t.text === "from" || t.text === "to")) {
    d.fromTo = true;
    const fromTok = cur.accept("from");
    if (fromTok) {
      const ep = parseEndpoint(cur, d, resolver, "from");
      d.fromAddresses = ep.addresses;
      d.fromPorts = ep.ports;
      r.from.negated = ep.negated;
      r.from.span = spanSince(fromTok, cur, sink);
    }
    const toTok = cur.accept("to");
    if (toTok) {
      const ep = parseEndpoint(cur, d, resolver, "to");
      d.toAddresses = ep.addresses;
      d.toPorts = ep.ports;
      r.to.negated = ep.negated;
      r.to.span = spanSince(toTok, cur, sink);
    }
  }
  for (;;) {
    const o = cur.peek();
    if (!o || (o.text === ";" && cur.pos === cur.tokens.length - 1)) return;
    if (o.kind !== "word") throw cur.unexpected(o, "a rule option");
    cur.next();
    switch (o.text) {
      case "with":
      case "and":
        parseWith(cur, d);
        break;
      case "flags":
        if (!(r.proto?.kind === "number" && r.proto.number === 6)) {
          throw new ParseError(
            IpfDiagnosticCode.InvalidFlags,
            'TCP flags need "proto tcp" in the rule',
            o.offset,
            o.length,
          );
        }
        r.flags = parseFlags(cur);
        d.ipMatch = true;
        break;
      case "icmp-type": {
        const wantProto = r.family === "inet6" ? 58 : 1;
        if (!(r.proto?.kind === "number" && r.proto.number === wantProto)) {
          throw new ParseError(
            IpfDiagnosticCode.UnknownIcmp,
            `icmp-type needs "proto ${wantProto === 1 ? "icmp" : "ipv6-icmp"}" in the rule`,
            o.offset,
            o.length,
          );
        }
        const ty = cur.peek();
        const fam: Family = r.family === "inet6" ? "inet6" : "inet";
        if (ty && ty.text === "{") d.icmpTypes = parseBraceList(cur, (tok) => icmpType(tok, fam));
        else d.icmpTypes = [icmpType(cur.word("an ICMP type"), fam)];
        if (cur.accept("code")) {
          if (cur.is("{")) d.icmpCodes = parseBraceList(cur, icmpCode);
          else d.icmpCodes = [icmpCode(cur.word("an ICMP code"))];
        }
        d.ipMatch = true;
        // icmp-type makes an unspecified family IPv4 (ipf's seticmptype).
        if (r.family === null) impliedFamily(d, "inet", o);
        break;
      }
      case "keep":
        parseKeep(cur, r);
        break;
      case "head":
        r.head = cur.word('a group name after "head"').text;
        break;
      case "group":
        r.group = cur.word('a group name after "group"').text;
        break;
      case "set-tag":
        r.setTag = parseSetTag(cur);
        break;
      case "match-tag":
        cur.expect("(");
        cur.expect("nat");
        cur.expect("=");
        r.matchTag = cur.next().text.slice(0, TAG_LENGTH);
        cur.expect(")");
        break;
      case "pps":
        r.pps = parseNumber(cur.word("packets per second"), "pps");
        break;
      case "age":
      case "state-age": {
        const a = parseNumber(cur.word("an age in seconds"), "age");
        const b = cur.accept("/") ? parseNumber(cur.word("a reply age in seconds"), "age") : a;
        if (r.keepState) r.keepState.age = { forward: a, reply: b };
        break;
      }
      case "rule-ttl":
        r.ruleTtl = parseNumber(cur.word("a rule lifetime in seconds"), "rule-ttl");
        break;
      case "comment": {
        const c = cur.next();
        r.comment = c.text;
        break;
      }
      default:
        d.recoverable = false;
        throw cur.unexpected(
          o,
          "a rule option (with, flags, icmp-type, keep, head, group, set-tag, pps, comment)",
        );
    }
  }
}

function icmpType(tok: Token, family: Family): number {
  const n = icmpTypeNumber(family, tok.text);
  if (n !== null) return n;
  if (/^\d+$/.test(tok.text)) return parseNumber(tok, "ICMP type", 255);
  throw new ParseError(
    IpfDiagnosticCode.UnknownIcmp,
    `unknown ICMP type ${JSON.stringify(tok.text)}`,
    tok.offset,
    tok.length,
  );
}

function parseEndpoint(
  cur: Cursor,
  d: Draft,
  resolver: HostResolver,
  side: "from" | "to",
): { negated: boolean; addresses: AddressMatch[]; ports: (PortMatch | null)[] } {
  const negated = cur.accept("!") !== undefined;
  let addresses: AddressMatch[] = [ANY];
  const t = cur.peek();
  if (!t) throw cur.endError(`an address after "${side}"`);
  if (t.text === "any") {
    cur.next();
  } else if (t.text === "port") {
    // `from port = 53`: address left out, meaning any.
  } else if (side === "from" && t.text === "to") {
    // `from to …` never valid, report it.
    throw cur.unexpected(t, 'an address after "from"');
  } else if (t.text === "{") {
    addresses = parseBraceList(cur, (tok) => {
      const sub = new Cursor([tok, ...maskTail(cur)], cur.line);
      return parseHostWithMask(sub, resolver, d.rule.family);
    });
  } else if ((t.text === "pool" || t.text === "hash") && cur.is("/", 1)) {
    cur.next();
    cur.next();
    addresses = [{ kind: "pool", table: t.text, name: cur.word("a pool number or name").text }];
  } else if ((t.text === "pool" || t.text === "hash") && cur.is("=", 1)) {
    cur.next();
    cur.next();
    addresses = [{ ...parseInlinePool(cur, resolver), table: t.text }];
  } else {
    const names = [...d.rule.on, ...d.rule.inVia, ...d.rule.outVia].map((i) => i.name);
    addresses = [parseHostWithMask(cur, resolver, d.rule.family, names)];
  }
  for (const a of addresses) {
    if (a.kind === "cidr") impliedFamily(d, a.family, t);
    else if (a.kind === "interface" && d.rule.family === null) impliedFamily(d, "inet", t);
  }
  let ports: (PortMatch | null)[] = [null];
  const portTok = cur.accept("port");
  if (portTok) {
    const p = d.rule.proto;
    if (p && p.kind === "number" && p.number !== 6 && p.number !== 17) {
      throw new ParseError(
        IpfDiagnosticCode.InvalidPort,
        `ports only apply to tcp and udp, not protocol ${p.number}`,
        portTok.offset,
        portTok.length,
      );
    }
    ports = parsePortMatch(cur, true);
  }
  return { negated, addresses, ports };
}

/**
 * Inside a `{…}` address list items are single words already cut at `,`; a
 * `/N` that follows an item belongs to it, so pull it in.
 */
function maskTail(cur: Cursor): Token[] {
  const extra: Token[] = [];
  if (cur.is("/")) {
    extra.push(cur.next());
    extra.push(cur.next());
  }
  return extra;
}

function parseInlinePool(cur: Cursor, resolver: HostResolver): InlinePool {
  const open = cur.expect("(");
  const entries: InlinePool["entries"] = [];
  for (;;) {
    const t = cur.peek();
    if (!t)
      throw new ParseError(
        IpfDiagnosticCode.Unterminated,
        'pool list opened with "(" is never closed',
        open.offset,
        1,
      );
    if (t.text === ")") {
      cur.next();
      break;
    }
    if (t.text === "," || t.text === ";") {
      cur.next();
      continue;
    }
    const negated = cur.accept("!") !== undefined;
    const a = parseHostWithMask(cur, resolver, null);
    if (a.kind !== "cidr") throw cur.unexpected(t, "an address in the pool");
    entries.push({ negated, address: a });
  }
  return { kind: "inline-pool", entries };
}

function parseWith(cur: Cursor, d: Draft): void {
  const r = d.rule;
  let any = false;
  for (;;) {
    let negated = false;
    const save = cur.pos;
    if (cur.accept("not") || cur.accept("no")) negated = true;
    const t = cur.peek();
    if (!t || t.kind !== "word") {
      cur.pos = save;
      break;
    }
    if (t.text === "opt") {
      cur.next();
      const entry: WithOption = { negated, name: "opt", options: [], secClasses: [] };
      for (;;) {
        const o = cur.word("an IP option name");
        if (o.text === "sec-class") {
          do {
            const c = cur.word("a security class");
            if (!SECURITY_CLASSES.some((s) => s.name === c.text))
              throw new ParseError(
                IpfDiagnosticCode.InvalidValue,
                `unknown security class ${JSON.stringify(c.text)}`,
                c.offset,
                c.length,
              );
            entry.secClasses.push(c.text);
          } while (cur.accept(","));
          break;
        }
        if (!IP_OPTIONS.some((io) => io.name === o.text))
          throw new ParseError(
            IpfDiagnosticCode.InvalidValue,
            `unknown IP option ${JSON.stringify(o.text)}`,
            o.offset,
            o.length,
          );
        entry.options.push(o.text);
        if (!cur.accept(",")) break;
      }
      r.with.push(entry);
      impliedFamily(d, "inet", t);
    } else if (t.text === "v6hdr") {
      // ipf_y.y startv6hdr: extension headers exist only in IPv6 rules.
      if (r.family !== "inet6")
        throw new ParseError(
          IpfDiagnosticCode.FamilyMismatch,
          '"with v6hdr" needs an IPv6 rule ("family inet6")',
          t.offset,
          t.length,
        );
      cur.next();
      const entry: WithOption = { negated, name: "v6hdr", options: [], secClasses: [] };
      do {
        const h = cur.word("an IPv6 extension header name");
        if (!IPV6_HEADERS.some((x) => x.name === h.text))
          throw new ParseError(
            IpfDiagnosticCode.InvalidValue,
            `unknown IPv6 extension header ${JSON.stringify(h.text)}`,
            h.offset,
            h.length,
          );
        entry.options.push(h.text);
      } while (cur.accept(","));
      r.with.push(entry);
    } else if (t.text === "ipopts" || WITH_FLAGS.includes(t.text) || WITH_ALIASES.has(t.text)) {
      cur.next();
      r.with.push({ negated, name: WITH_ALIASES.get(t.text) ?? t.text, options: [], secClasses: [] });
    } else {
      cur.pos = save;
      break;
    }
    any = true;
    d.ipMatch = true;
    if (!cur.accept(",")) cur.accept("and");
  }
  if (!any) {
    const t = cur.peek();
    throw t
      ? cur.unexpected(t, 'a packet property after "with" (opt, ipopts, short, frag, …)')
      : cur.endError('a packet property after "with"');
  }
}

function flagBits(tok: Token, text: string): number {
  if (/^0x[0-9a-f]+$/i.test(text)) return parseInt(text.slice(2), 16);
  if (/^\d+$/.test(text)) return Number(text);
  let bits = 0;
  for (const ch of text) {
    const i = TCP_FLAG_LETTERS.indexOf(ch.toUpperCase());
    if (i < 0 || ch !== ch.toUpperCase())
      throw new ParseError(
        IpfDiagnosticCode.InvalidFlags,
        `${JSON.stringify(text)} is not a set of TCP flags (letters FSRPAUEC)`,
        tok.offset,
        tok.length,
      );
    bits |= TCP_FLAG_BITS[i] as number;
  }
  return bits;
}

function parseFlags(cur: Cursor): TcpFlags {
  let set = 0;
  let mask = DEFAULT_FLAG_MASK;
  if (!cur.is("/")) {
    const t = cur.word("TCP flags such as S or S/SA");
    set = flagBits(t, t.text);
  }
  if (cur.accept("/")) {
    const m = cur.word("a TCP flag mask");
    mask = flagBits(m, m.text);
  }
  return { set, mask };
}

/** strict, loose and newisn track TCP sequence numbers, so ipf accepts them only on TCP rules. */
function requireTcp(r: FilterRule, o: Token): void {
  if (!(r.proto?.kind === "number" && r.proto.number === 6)) {
    throw new ParseError(
      IpfDiagnosticCode.InvalidValue,
      `keep state option "${o.text}" needs "proto tcp" in the rule`,
      o.offset,
      o.length,
    );
  }
}

function parseKeep(cur: Cursor, r: FilterRule): void {
  const what = cur.word('"state" or "frags" after "keep"');
  if (what.text === "state") {
    const ks: KeepState = {
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
    if (cur.accept("(")) {
      for (;;) {
        const o = cur.next();
        if (o.text === ")") break;
        if (o.text === ",") continue;
        switch (o.text) {
          case "limit":
            ks.limit = parseNumber(cur.word("a state limit"), "limit");
            break;
          case "strict":
            requireTcp(r, o);
            ks.strict = true;
            break;
          case "loose":
            requireTcp(r, o);
            ks.loose = true;
            break;
          case "newisn":
            requireTcp(r, o);
            ks.newisn = true;
            break;
          case "no-icmp-err":
            ks.noIcmpErr = true;
            break;
          case "sync":
            ks.sync = true;
            break;
          case "nolog":
          case "rpc":
            // State logging and RPC tracking are not printed by ipf -v.
            if (o.text === "rpc" && cur.is("in")) {
              cur.next();
              cur.next();
            }
            break;
          case "age": {
            const a = parseNumber(cur.word("an age in seconds"), "age");
            const b = cur.accept("/") ? parseNumber(cur.word("a reply age in seconds"), "age") : a;
            ks.age = { forward: a, reply: b };
            break;
          }
          case "icmp-head":
            ks.icmpHead = cur.word("a group name").text;
            break;
          case "max-srcs":
          case "max-nodes":
            ks.maxSrcs = parseNumber(cur.word("a number of sources"), "max-srcs");
            break;
          case "max-per-src": {
            const count = parseNumber(cur.word("a number of states"), "max-per-src");
            const mask = cur.accept("/")
              ? parseNumber(cur.word("a prefix length"), "max-per-src mask", 128)
              : r.family === "inet6"
                ? 128
                : 32;
            ks.maxPerSrc = { count, mask };
            break;
          }
          default:
            throw cur.unexpected(
              o,
              "a keep state option (limit, strict, loose, newisn, no-icmp-err, sync, age, icmp-head, max-srcs, max-per-src)",
            );
        }
      }
    }
    r.keepState = ks;
  } else if (what.text === "frag" || what.text === "frags") {
    const kf: KeepFrags = { strict: false };
    if (cur.accept("(")) {
      for (;;) {
        const o = cur.next();
        if (o.text === ")") break;
        if (o.text === ",") continue;
        if (o.text === "strict") kf.strict = true;
        else throw cur.unexpected(o, '"strict"');
      }
    }
    r.keepFrags = kf;
  } else throw cur.unexpected(what, '"state" or "frags" after "keep"');
}

function parseSetTag(cur: Cursor): SetTag {
  cur.expect("(");
  const tag: SetTag = { log: null, nat: null };
  for (;;) {
    const k = cur.next();
    if (k.text === ")") break;
    if (k.text === ",") continue;
    cur.expect("=");
    const v = cur.next();
    if (k.text === "log") tag.log = parseNumber(v, "log tag");
    else if (k.text === "nat") tag.nat = v.text.slice(0, TAG_LENGTH);
    else throw cur.unexpected(k, '"log" or "nat" in set-tag');
  }
  return tag;
}

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

function parseExpression(cur: Cursor, resolver: HostResolver): ExpressionMatch {
  cur.expect("{");
  const s = cur.next();
  if (s.kind !== "string") throw cur.unexpected(s, "a quoted expression");
  cur.expect("}");
  const clauses: ExpressionMatch["clauses"] = [];
  for (const part of s.text.split(";")) {
    if (part.trim() === "") continue;
    const m = /^\s*([a-z0-9.-]+)\s*(!=|=)\s*(.*?)\s*$/.exec(part);
    if (!m || !EXPRESSION_FIELDS.has(m[1] as string)) {
      throw new ParseError(
        IpfDiagnosticCode.InvalidValue,
        `cannot read expression clause ${JSON.stringify(part.trim())}`,
        s.offset,
        s.length,
      );
    }
    const field = m[1] as string;
    const values = (m[3] as string).split(",").map((v) => v.trim());
    const normalised =
      field.startsWith("ip.") && field !== "ip.p" ? values.map((v) => normaliseHost(v, resolver, s)) : values;
    clauses.push({ field, op: m[2] as "=" | "!=", values: normalised });
  }
  return { clauses };
}

function normaliseHost(text: string, resolver: HostResolver, tok: Token): string {
  const [host, maskText] = text.split("/");
  const h = resolver.resolve(host ?? "", "inet", true);
  if (!h)
    throw new ParseError(
      IpfDiagnosticCode.InvalidAddress,
      `${JSON.stringify(text)} is not a valid address`,
      tok.offset,
      tok.length,
    );
  let mask = allOnes(h.family);
  if (maskText !== undefined) {
    mask = /^\d+$/.test(maskText)
      ? prefixToMask(h.family, Number(maskText))
      : (parseAddressText(h.family, maskText) ?? 0n);
  }
  const cidr = makeCidr(h.family, h.value, mask);
  return cidr.address === "0.0.0.0" && cidr.prefix === 0
    ? "any"
    : `${cidr.address}/${cidr.prefix ?? cidr.mask}`;
}

/** One rule per combination of list members; the earliest list written varies fastest. */
function expand(d: Draft): FilterRule[] {
  const r = d.rule;
  const isAll = !d.fromTo && !d.ipMatch && d.tos === null && d.ttl === null && d.icmpTypes === null;
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
    // Each dimension assigns a fresh object, so a shallow copy is enough; the
    // expanded rules share their other parts (trees are read-only data).
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
