/**
 * ipnat.conf parser: text → NatRule[] with ipnat(8)'s reading, including its
 * quiet normalisations (ports dropped for non-TCP/UDP protocols, `sticky`
 * ignored without round-robin or several targets, `age N` meaning N/N).
 */
import type {
  AddressMatch,
  CidrAddress,
  Endpoint,
  Family,
  InterfaceName,
  IpnatStatement,
  NatKind,
  NatMatch,
  NatOptions,
  NatPortRange,
  NatProtocol,
  NatRule,
  NatTarget,
  PortMatch,
  RewriteSide,
} from "../ast.js";
import { allOnes, formatAddress, makeCidr } from "./address.js";
import {
  beginParse,
  HostResolver,
  parseHostWithMask,
  parseNumber,
  parsePortMatch,
  parsePortToken,
  type ParseOptions,
} from "./common.js";
import { IpfDiagnosticCode, type IpfDiagnostic } from "./diagnostics.js";
import { Cursor, DiagnosticSink, ParseError, spanSince, splitStatements, type Token } from "./lexer.js";
import { PROTOCOL_NUMBERS, TAG_LENGTH } from "./tables.js";

export interface IpnatParseResult {
  rules: NatRule[];
  statements: IpnatStatement[];
  diagnostics: IpfDiagnostic[];
}

const NAT_VERBS = new Set(["map", "bimap", "map-block", "rdr", "rewrite", "divert", "encap"]);

interface Draft {
  rule: NatRule;
  recoverable: boolean;
}

function emptyOptions(): NatOptions {
  return {
    roundRobin: false,
    frag: false,
    age: null,
    sticky: false,
    mssclamp: null,
    tag: null,
    sequential: false,
    purge: false,
    icmpidmap: null,
    mapBlockPorts: null,
  };
}

export function parseIpnatText(text: string, opts: ParseOptions = {}): IpnatParseResult {
  const { sink, resolver, lines, assignments } = beginParse(text, opts);
  const statements: IpnatStatement[] = [...assignments];
  const rules: NatRule[] = [];
  for (const line of lines) {
    // Several rules may share a line when each ends with ";".
    for (const tokens of splitStatements(line.tokens)) {
      const first = tokens[0] as Token;
      const { line: ln, column } = sink.index.position(first.offset);
      const last = tokens[tokens.length - 1] as Token;
      const span = {
        offset: first.offset,
        length: last.offset + last.length - first.offset,
        line: ln,
        column,
      };
      const cur = new Cursor(tokens, line);
      const before = sink.list.length;
      const draft: Draft = { rule: blankRule(span), recoverable: true };
      try {
        parseRule(cur, draft, resolver, sink);
        const errors = sink.list.slice(before).some((d) => d.severity === "error");
        if (!errors || (opts.recover && draft.recoverable)) {
          rules.push(draft.rule);
          statements.push(draft.rule);
        }
      } catch (e) {
        if (!(e instanceof ParseError)) throw e;
        sink.add(e.code, e.message, e.offset, e.length);
      }
    }
  }
  statements.sort((a, b) => a.span.offset - b.span.offset);
  return { rules, statements, diagnostics: sink.list };
}

function blankRule(span: NatRule["span"]): NatRule {
  return {
    kind: "map",
    span,
    direction: null,
    interfaces: [],
    family: "inet",
    matchProto: null,
    match: { kind: "simple", address: { kind: "any" }, ports: null },
    target: { kind: "none" },
    targetPort: null,
    rewrite: null,
    portmap: null,
    proto: null,
    proxy: null,
    options: emptyOptions(),
  };
}

function parseRule(cur: Cursor, d: Draft, resolver: HostResolver, sink: DiagnosticSink): void {
  if (cur.is("no")) {
    cur.next();
    d.rule.no = true;
  }
  const verb = cur.peek();
  if (!verb) throw cur.endError("a NAT rule");
  if (verb.kind !== "word" || !NAT_VERBS.has(verb.text)) {
    d.recoverable = false;
    throw cur.unexpected(verb, "map, bimap, map-block, rdr, rewrite or divert");
  }
  cur.next();
  const r = d.rule;
  r.kind = verb.text as NatKind;
  if (r.kind === "rewrite" || r.kind === "divert" || r.kind === "encap") {
    parseRewrite(cur, d, resolver, sink);
  } else {
    r.interfaces = parseInterfaces(cur, sink);
    parseFamilyWord(cur, r);
    if (r.kind === "rdr") parseRdr(cur, d, resolver, sink);
    else parseMap(cur, d, resolver, sink);
  }
  cur.accept(";");
  if (!cur.atEnd()) {
    d.recoverable = false;
    throw cur.unexpected(cur.peek()!, "the end of the rule");
  }
  finish(
    r,
    sink,
    verb,
    cur.tokens.some((t) => t.kind === "word" && t.text === "port"),
  );
}

function parseInterfaces(cur: Cursor, sink: DiagnosticSink): InterfaceName[] {
  const out: InterfaceName[] = [];
  do {
    const t = cur.word("an interface name");
    const { line, column } = sink.index.position(t.offset);
    out.push({ name: t.text, span: { offset: t.offset, length: t.length, line, column } });
  } while (cur.accept(","));
  return out;
}

function parseFamilyWord(cur: Cursor, r: NatRule): void {
  if (cur.accept("inet")) r.family = "inet";
  else if (cur.accept("inet6")) r.family = "inet6";
}

function noteFamily(r: NatRule, a: AddressMatch | CidrAddress): void {
  if (a.kind === "cidr" && a.family === "inet6") r.family = "inet6";
}

/** The address a simple-form rule matches; reports a missing address (`rdr rl0 port 6122 …`) and goes on. */
function parseSimpleAddress(
  cur: Cursor,
  d: Draft,
  resolver: HostResolver,
  sink: DiagnosticSink,
  what: string,
  example: string,
): AddressMatch {
  const t = cur.peek();
  if (t && (t.text === "port" || t.text === "->")) {
    sink.add(
      IpfDiagnosticCode.MissingAddress,
      `${d.rule.kind} needs ${what} before ${JSON.stringify(t.text)}: write e.g. "${example}"`,
      t.offset,
      t.length,
    );
    return { kind: "any" };
  }
  if (t && t.text === "any") {
    cur.next();
    return { kind: "any" };
  }
  const a = parseNatAddress(cur, resolver, d.rule.family, false);
  noteFamily(d.rule, a);
  return a;
}

function parseNatAddress(
  cur: Cursor,
  resolver: HostResolver,
  family: Family,
  filterForm: boolean,
): AddressMatch {
  const t = cur.peek();
  if (t && t.text === "any") {
    cur.next();
    return { kind: "any" };
  }
  if (t && (t.text === "pool" || t.text === "hash") && cur.is("/", 1)) {
    if (!filterForm)
      throw new ParseError(
        IpfDiagnosticCode.UnexpectedToken,
        `${t.text} can only be used with from/to rules`,
        t.offset,
        t.length,
      );
    cur.next();
    cur.next();
    return { kind: "pool", table: t.text, name: cur.word("a pool number or name").text };
  }
  return parseHostWithMask(cur, resolver, family === "inet6" ? "inet6" : null);
}

function parseEndpoint(cur: Cursor, d: Draft, resolver: HostResolver, sink: DiagnosticSink): Endpoint {
  const start = cur.peek();
  const address = parseNatAddress(cur, resolver, d.rule.family, true);
  noteFamily(d.rule, address);
  let port: PortMatch | null = null;
  if (cur.accept("port")) port = parsePortMatch(cur, false)[0] ?? null;
  return start
    ? { negated: false, address, port, span: spanSince(start, cur, sink) }
    : { negated: false, address, port };
}

/** `from A [port …] [!] to [!] B [port …]`, with `!` before `from` inverting the source (rdr). */
function parseFromTo(cur: Cursor, d: Draft, resolver: HostResolver, sink: DiagnosticSink): NatMatch {
  let negated = cur.accept("!") !== undefined;
  cur.expect("from");
  if (cur.accept("!")) negated = true;
  const from = parseEndpoint(cur, d, resolver, sink);
  let toNegated = cur.accept("!") !== undefined;
  cur.expect("to", '"to"');
  if (cur.accept("!")) toNegated = true;
  const to = parseEndpoint(cur, d, resolver, sink);
  return { kind: "fromto", negated, from, toNegated, to };
}

function parsePortPair(cur: Cursor, what: string): NatPortRange {
  const t = cur.word(what);
  const m = /^([^:-]+)[:-]([^:-]+)$/.exec(t.text);
  if (m) return { low: parsePortToken(t, m[1]), high: parsePortToken(t, m[2]) };
  const low = parsePortToken(t);
  if (cur.is("-") || cur.is(":")) {
    cur.next();
    return { low, high: parsePortToken(cur.word("the upper port")) };
  }
  return { low, high: low };
}

/** A protocol after the target; `ip` (or 0) is kept as `{kind: "ip"}` so it cancels ipnat's tcp/udp guess. */
function parseNatProto(cur: Cursor): NatProtocol | null {
  const t = cur.word("a protocol");
  if (t.text === "tcp" && cur.is("/") && cur.peek(1)?.text === "udp") {
    cur.next();
    cur.next();
    return { kind: "tcpudp" };
  }
  if (t.text === "tcpudp" || t.text === "tcp-udp") return { kind: "tcpudp" };
  if (/^\d+$/.test(t.text)) {
    const n = parseNumber(t, "protocol number", 255);
    return n === 0 ? { kind: "ip" } : { kind: "number", number: n, name: null };
  }
  const n = PROTOCOL_NUMBERS.get(t.text.toLowerCase());
  if (n === undefined)
    throw new ParseError(
      IpfDiagnosticCode.UnknownProtocol,
      `unknown protocol ${JSON.stringify(t.text)}`,
      t.offset,
      t.length,
    );
  return n === 0 ? { kind: "ip" } : { kind: "number", number: n, name: t.text.toLowerCase() };
}

const PROTO_WORDS = new Set([...PROTOCOL_NUMBERS.keys(), "tcpudp", "tcp-udp"]);

function looksLikeProto(cur: Cursor): boolean {
  const t = cur.peek();
  return (
    t !== undefined && t.kind === "word" && (PROTO_WORDS.has(t.text.toLowerCase()) || /^\d+$/.test(t.text))
  );
}

/** Target of map/bimap/map-block: `A/M`, `range A-B`, `A-B`. */
function parseMapTarget(cur: Cursor, d: Draft, resolver: HostResolver, sink: DiagnosticSink): NatTarget {
  const r = d.rule;
  const t = cur.peek();
  if (!t || t.text === "portmap" || t.text === "proxy" || t.text === "port") {
    const at = t ?? cur.tokens[cur.tokens.length - 1];
    sink.add(
      IpfDiagnosticCode.MissingAddress,
      `${r.kind} needs the address to translate to after "->": write e.g. "-> 0/32" for the interface's own address`,
      at?.offset ?? r.span.offset,
      at?.length ?? 1,
    );
    return { kind: "none" };
  }
  const isRange = cur.accept("range") !== undefined;
  const w = cur.peek();
  if (w && w.kind === "word" && w.text.includes("-") && !w.text.startsWith("-")) {
    const [lo, hi] = w.text.split("-");
    const a = resolver.resolve(lo ?? "", null, false);
    const b = resolver.resolve(hi ?? "", null, false);
    if (a && b) {
      cur.next();
      if (a.family !== b.family)
        throw new ParseError(
          IpfDiagnosticCode.FamilyMismatch,
          "range mixes IPv4 and IPv6",
          w.offset,
          w.length,
        );
      if (a.family === "inet6") r.family = "inet6";
      return {
        kind: "range",
        family: a.family,
        low: makeCidr(a.family, a.value, allOnes(a.family)).address,
        high: makeCidr(b.family, b.value, allOnes(b.family)).address,
      };
    }
  }
  if (isRange)
    throw new ParseError(
      IpfDiagnosticCode.InvalidAddress,
      'expected an address range such as 10.0.0.1-10.0.0.9 after "range"',
      w?.offset ?? t.offset,
      w?.length ?? t.length,
    );
  const a = parseNatAddress(cur, resolver, r.family, false);
  noteFamily(r, a);
  if (a.kind === "cidr") return { kind: "cidr", address: a };
  if (a.kind === "interface") return { kind: "interface", address: a };
  if (a.kind === "any") return { kind: "cidr", address: makeCidr(r.family, 0n, 0n) };
  throw new ParseError(
    IpfDiagnosticCode.InvalidAddress,
    "a NAT target must be an address",
    t.offset,
    t.length,
  );
}

function parseMap(cur: Cursor, d: Draft, resolver: HostResolver, sink: DiagnosticSink): void {
  const r = d.rule;
  if (cur.is("from") || (cur.is("!") && cur.is("from", 1))) r.match = parseFromTo(cur, d, resolver, sink);
  else
    r.match = {
      kind: "simple",
      address: parseSimpleAddress(
        cur,
        d,
        resolver,
        sink,
        "the source addresses to translate",
        `${r.kind} ${r.interfaces[0]?.name ?? "em0"} 10.0.0.0/8 -> 0/32`,
      ),
      ports: null,
    };
  if (r.no) return parseExceptionTail(cur, r);
  cur.expect("->", '"->"');
  r.target = parseMapTarget(cur, d, resolver, sink);
  for (;;) {
    const t = cur.peek();
    if (!t || t.text === ";") return;
    if (t.text === "portmap") {
      cur.next();
      let proto: NatProtocol | null;
      let auto = false;
      let range: NatPortRange | null = null;
      if (looksLikeProto(cur)) {
        proto = parseNatProto(cur);
        if (cur.accept("auto")) auto = true;
        else range = parsePortPair(cur, "a port range such as 10000:20000");
      } else {
        range = parsePortPair(cur, "a port range such as 10000:20000");
        proto = parseNatProto(cur);
      }
      const sequential = cur.accept("sequential") !== undefined;
      if (
        proto === null ||
        proto.kind === "ip" ||
        (proto.kind === "number" && proto.number !== 6 && proto.number !== 17)
      ) {
        throw new ParseError(
          IpfDiagnosticCode.InvalidValue,
          "portmap needs tcp, udp or tcp/udp",
          t.offset,
          t.length,
        );
      }
      r.proto = proto;
      r.portmap = {
        proto,
        auto,
        low: auto ? 1024 : range!.low,
        high: auto ? 65535 : range!.high,
        sequential,
      };
      r.options.sequential = sequential;
    } else if (t.text === "icmpidmap") {
      cur.next();
      const p = cur.word('"icmp"');
      if (p.text !== "icmp" && p.text !== "ipv6-icmp") throw cur.unexpected(p, '"icmp" after icmpidmap');
      const range = parsePortPair(cur, "an ICMP id range such as 1000:2000");
      cur.accept("sequential");
      r.options.icmpidmap = { proto: p.text, low: range.low, high: range.high };
      r.proto = { kind: "number", number: p.text === "icmp" ? 1 : 58, name: p.text };
    } else if (t.text === "proxy") {
      cur.next();
      r.proxy = parseMapProxy(cur, r);
    } else if (t.text === "ports" && r.kind === "map-block") {
      cur.next();
      if (cur.accept("auto")) r.options.mapBlockPorts = "auto";
      else r.options.mapBlockPorts = parseNumber(cur.word('a number of ports or "auto"'), "ports", 65535);
    } else if (!parseCommonOption(cur, r)) {
      if (looksLikeProto(cur)) {
        const proto = parseNatProto(cur);
        r.proto = proto;
      } else {
        d.recoverable = false;
        throw cur.unexpected(
          t,
          "a map option (portmap, proxy, frag, age, mssclamp, tag, purge or a protocol)",
        );
      }
    }
  }
}

/** `proxy port P name/proto`, as map (and rdr) rules write it. */
function parseMapProxy(cur: Cursor, r: NatRule): NatRule["proxy"] {
  cur.expect("port", '"port" after proxy');
  const portTok = cur.word("the proxy's port");
  const name = cur.word("a proxy name such as ftp");
  cur.expect("/", '"/" between the proxy name and its protocol');
  const proto = parseNatProto(cur);
  const port = parsePortToken(portTok);
  r.proto = proto;
  if (cur.accept("config")) cur.next();
  return { name: name.text, port, proto };
}

function parseCommonOption(cur: Cursor, r: NatRule): boolean {
  const t = cur.peek();
  if (!t) return false;
  switch (t.text) {
    case "round-robin":
      cur.next();
      r.options.roundRobin = true;
      return true;
    case "frag":
      cur.next();
      r.options.frag = true;
      return true;
    case "age": {
      cur.next();
      const a = parseNumber(cur.word("an age in seconds"), "age");
      const b = cur.accept("/") ? parseNumber(cur.word("a reply age"), "age") : a;
      r.options.age = { forward: a, reply: b };
      return true;
    }
    case "sticky":
      cur.next();
      r.options.sticky = true;
      return true;
    case "mssclamp":
      cur.next();
      r.options.mssclamp = parseNumber(cur.word("an MSS value"), "mssclamp", 65535);
      return true;
    case "tag":
      cur.next();
      r.options.tag = cur.next().text.slice(0, TAG_LENGTH);
      return true;
    case "purge":
      cur.next();
      r.options.purge = true;
      return true;
    case "sequential":
      cur.next();
      r.options.sequential = true;
      return true;
    default:
      return false;
  }
}

function parseRdr(cur: Cursor, d: Draft, resolver: HostResolver, sink: DiagnosticSink): void {
  const r = d.rule;
  if (cur.is("from") || (cur.is("!") && cur.is("from", 1))) {
    r.match = parseFromTo(cur, d, resolver, sink);
  } else {
    const address = parseSimpleAddress(
      cur,
      d,
      resolver,
      sink,
      "the public address to match",
      `rdr ${r.interfaces[0]?.name ?? "em0"} 0/0 port 80 -> 10.0.0.2 port 80 tcp`,
    );
    const ports = cur.accept("port") ? parsePortPair(cur, "a port or port range") : null;
    r.match = { kind: "simple", address, ports };
  }
  if (r.no) return parseExceptionTail(cur, r);
  cur.expect("->", '"->"');
  r.target = parseRdrTarget(cur, d, resolver, sink);
  if (cur.accept("port")) {
    if (cur.accept("=")) {
      const p = parsePortToken(cur.word("a port"));
      r.targetPort = { low: p, high: p, fixed: true };
    } else {
      const pr = parsePortPair(cur, "a port or port range");
      r.targetPort = { low: pr.low, high: pr.high, fixed: false };
    }
  }
  for (;;) {
    const t = cur.peek();
    if (!t || t.text === ";") return;
    if (t.text === "proxy") {
      cur.next();
      if (cur.is("port")) {
        r.proxy = parseMapProxy(cur, r);
        const p = r.proxy?.port ?? 0;
        if (r.match.kind === "simple" && r.match.ports === null) r.match.ports = { low: p, high: p };
        r.targetPort = { low: p, high: p, fixed: false };
      } else {
        const name = cur.word("a proxy name such as ftp").text;
        r.proxy = { name, port: null, proto: null };
        // ipnat makes the matched port the target port for rdr proxies.
        if (r.match.kind === "simple" && r.targetPort)
          r.match.ports = { low: r.targetPort.low, high: r.targetPort.low };
      }
    } else if (!parseCommonOption(cur, r)) {
      if (looksLikeProto(cur) && r.proto === null) r.proto = parseNatProto(cur);
      else {
        d.recoverable = false;
        throw cur.unexpected(
          t,
          "an rdr option (a protocol, round-robin, frag, age, sticky, mssclamp, proxy, tag, purge)",
        );
      }
    }
  }
}

/** `no map …`/`no rdr …` end after the match with an optional protocol: nothing is translated. */
function parseExceptionTail(cur: Cursor, r: NatRule): void {
  if (looksLikeProto(cur)) r.proto = parseNatProto(cur);
  const t = cur.peek();
  if (t && t.text !== ";") throw cur.unexpected(t, 'a protocol or ";" to end the "no" rule');
}

function parseRdrTarget(cur: Cursor, d: Draft, resolver: HostResolver, sink: DiagnosticSink): NatTarget {
  const r = d.rule;
  const t = cur.peek();
  if (!t || t.text === "port") {
    const at = t ?? cur.tokens[cur.tokens.length - 1];
    sink.add(
      IpfDiagnosticCode.MissingAddress,
      `rdr needs the address to forward to after "->": write e.g. "-> 10.0.0.2 port …" with the jail's address`,
      at?.offset ?? r.span.offset,
      at?.length ?? 1,
    );
    return { kind: "none" };
  }
  // `-> 10.0.0.1-10.0.0.5` (with or without `range`): a range of targets.
  const hadRange = cur.accept("range") !== undefined;
  const w = cur.peek();
  if (w && w.kind === "word" && w.text.includes("-") && !w.text.startsWith("-")) {
    const [lo, hi] = w.text.split("-");
    const a = resolver.resolve(lo ?? "", null, false);
    const b = resolver.resolve(hi ?? "", null, false);
    if (a && b && a.family === b.family) {
      cur.next();
      if (a.family === "inet6") r.family = "inet6";
      return {
        kind: "range",
        family: a.family,
        low: formatAddress(a.family, a.value),
        high: formatAddress(b.family, b.value),
      };
    }
  }
  if (hadRange)
    throw new ParseError(
      IpfDiagnosticCode.InvalidAddress,
      'expected an address range such as 10.0.0.1-10.0.0.9 after "range"',
      (w ?? t).offset,
      (w ?? t).length,
    );
  const first = parseNatAddress(cur, resolver, r.family, false);
  noteFamily(r, first);
  if (cur.is(",")) {
    const list: CidrAddress[] = [];
    if (first.kind !== "cidr") throw cur.unexpected(t, "an address");
    list.push(first);
    while (cur.accept(",")) {
      const next = parseNatAddress(cur, resolver, r.family, false);
      if (next.kind !== "cidr") throw cur.unexpected(t, "an address");
      list.push(next);
    }
    return { kind: "list", addresses: list };
  }
  if (first.kind === "any") return { kind: "cidr", address: makeCidr(r.family, 0n, 0n) };
  if (first.kind === "interface") return { kind: "interface", address: first };
  if (first.kind !== "cidr")
    throw new ParseError(
      IpfDiagnosticCode.InvalidAddress,
      "an rdr target must be an address",
      t.offset,
      t.length,
    );
  if (first.prefix !== 0 && first.prefix !== (first.family === "inet" ? 32 : 128)) {
    throw new ParseError(
      IpfDiagnosticCode.InvalidValue,
      `rdr target ${first.address}/${first.prefix ?? first.mask} must be a single host (/32)`,
      t.offset,
      t.length,
    );
  }
  return { kind: "cidr", address: first };
}

function parseRewrite(cur: Cursor, d: Draft, resolver: HostResolver, sink: DiagnosticSink): void {
  const r = d.rule;
  const dir = cur.word('"in" or "out"');
  if (dir.text !== "in" && dir.text !== "out") throw cur.unexpected(dir, '"in" or "out"');
  r.direction = dir.text;
  cur.expect("on", '"on"');
  r.interfaces = [];
  do {
    const t = cur.word("an interface name");
    r.interfaces.push({ name: t.text, span: { offset: t.offset, length: t.length, line: 0, column: 0 } });
  } while (cur.accept(","));
  parseFamilyWord(cur, r);
  if (cur.accept("proto")) {
    r.matchProto = parseNatProto(cur);
    r.proto = r.matchProto;
  }
  r.match = parseFromTo(cur, d, resolver, sink);
  cur.expect("->", '"->"');
  cur.expect("src", '"src"');
  const src = parseRewriteSide(cur, d, resolver);
  cur.expect("dst", '"dst"');
  const dst = parseRewriteSide(cur, d, resolver);
  r.rewrite = { src, dst };
  if (r.kind === "divert") {
    cur.expect("udp", '"udp"');
  }
  if (cur.accept("purge")) r.options.purge = true;
}

function parseRewriteSide(cur: Cursor, d: Draft, resolver: HostResolver): RewriteSide {
  const r = d.rule;
  let address: NatTarget;
  const t = cur.peek();
  if (t && t.text === "dstlist" && cur.is("/", 1)) {
    cur.next();
    cur.next();
    address = {
      kind: "pool",
      pool: { kind: "pool", table: "dstlist", name: cur.word("a destination list name").text },
    };
  } else {
    const a = parseNatAddress(cur, resolver, r.family, false);
    noteFamily(r, a);
    address =
      a.kind === "cidr"
        ? { kind: "cidr", address: a }
        : { kind: "cidr", address: makeCidr(r.family, 0n, 0n) };
  }
  let ports: RewriteSide["ports"] = null;
  if (cur.accept(",")) {
    if (cur.accept("port")) {
      cur.expect("=");
      const p = parsePortToken(cur.word("a port"));
      ports = { low: p, high: p, fixed: true };
    } else {
      const pr = parsePortPair(cur, "a port or port range");
      ports = { ...pr, fixed: false };
    }
  } else if (cur.is("port") && cur.is("=", 1)) {
    cur.next();
    cur.next();
    const p = parsePortToken(cur.word("a port"));
    ports = { low: p, high: p, fixed: true };
  }
  return { address, ports };
}

function isTcpUdp(p: NatProtocol | null): boolean {
  return p !== null && (p.kind === "tcpudp" || (p.kind === "number" && (p.number === 6 || p.number === 17)));
}

/**
 * ipnat's normalisations after a rule is read. `sawPort`: the rule used the
 * word `port`, which makes ipnat assume tcp/udp when no protocol was given
 * (a non-TCP/UDP protocol written after it cancels that).
 */
function finish(r: NatRule, sink: DiagnosticSink, verb: Token, sawPort: boolean): void {
  for (const i of r.interfaces)
    if (i.span.line === 0) Object.assign(i.span, sink.index.position(i.span.offset));
  const inbound = r.kind === "rdr" || (r.rewrite !== null && r.direction === "in");
  if (sawPort && r.proto === null && r.kind !== "divert" && r.kind !== "encap") r.proto = { kind: "tcpudp" };
  if (inbound && r.proto === null) {
    // A translated port with no protocol makes ipnat pick TCP for inbound rules.
    const portSet =
      (r.targetPort !== null && (r.targetPort.low !== 0 || r.targetPort.high !== 0)) ||
      (r.rewrite?.dst.ports?.low ?? 0) !== 0;
    if (portSet) {
      r.proto = { kind: "number", number: 6, name: "tcp" };
      if (r.kind === "divert") r.matchProto = r.proto;
    }
  }
  if (r.kind === "divert") r.proto = { kind: "number", number: 17, name: "udp" };
  const tcpudp = isTcpUdp(r.proto);
  if (!tcpudp && r.kind !== "map-block") {
    // A protocol without ports: ipnat drops every port match and port target.
    if (r.match.kind === "simple") r.match.ports = null;
    else {
      r.match.from.port = null;
      r.match.to.port = null;
    }
    r.targetPort = null;
  }
  if (r.options.sticky && !r.options.roundRobin && r.target.kind !== "list") {
    sink.add(
      IpfDiagnosticCode.StickyIgnored,
      '"sticky" only works with round-robin or several targets; ipnat ignores it here',
      verb.offset,
      verb.length,
      "warning",
    );
    r.options.sticky = false;
  }
  if (r.kind === "map-block" && r.options.mapBlockPorts === null) r.options.mapBlockPorts = 0;
}
