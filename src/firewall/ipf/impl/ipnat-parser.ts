/**
 * ipnat.conf parser: the grammar of IPFilter's tools/ipnat_y.y over the
 * {@link Lexer}'s tokens, with ipnat's order of options, then ipnat's quiet
 * normalisations (ports dropped for non-TCP/UDP protocols, `sticky` ignored
 * without round-robin or several targets, `age N` meaning N/N).
 *
 * The forms (ipnat(5), ipnat_y.y):
 *
 *   map|bimap IF[,IF] [inet|inet6] ADDR|from…to… -> ADDR|[range] A-B
 *       [proxy port P NAME/PROTO | portmap … | icmpidmap …]
 *       [round-robin] [frag] [age N[/M]] [mssclamp N] [tag T] [PROTO] [purge]
 *   map-block IF ADDR -> ADDR [ports N|auto] (the same options)
 *   rdr IF[,IF] [inet|inet6] ADDR [port P[-Q]] | [!]from…to… -> TARGET[,TARGET2] | [range] A-B
 *       [port P[-Q] | port = P] [PROTO]
 *       [round-robin] [frag] [age N[/M]] [sticky] [mssclamp N] [proxy NAME] [tag T] [purge]
 *   no map|rdr|map-block … [PROTO] ;
 *   rewrite|divert in|out on IF [proto P] from … to … -> src … dst … [purge] ;
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
import { allOnes, formatAddress, makeCidr, prefixToMask } from "./address.js";
import { GrammarParser, lookupService, ParseError, type ParseOptions } from "./common.js";
import { IpfDiagnosticCode, type IpfDiagnostic } from "./diagnostics.js";
import type { Token } from "./lexer.js";
import { getproto } from "./netdb.js";
import { TAG_LENGTH } from "./tables.js";

export interface IpnatParseResult {
  rules: NatRule[];
  statements: IpnatStatement[];
  diagnostics: IpfDiagnostic[];
}

/** ipnat_y.y's yywords. */
export const IPNAT_WORDS: ReadonlySet<string> = new Set(
  `age any auto bimap config divert dst dstlist frag from hash icmpidmap in inet inet6 mask map map-block
  mssclamp netmask no on out pool port portmap ports proto proxy purge range rewrite rdr round-robin
  sequential src sticky tag tcp tcpudp to udp eq ne lt gt le ge`
    .split(/\s+/)
    .filter(Boolean),
);

const RULE_STARTS = new Set(["map", "bimap", "map-block", "rdr", "rewrite", "divert", "no"]);

const COMPARE_KW: Record<string, "=" | "!=" | "<" | ">" | "<=" | ">="> = {
  eq: "=",
  ne: "!=",
  lt: "<",
  gt: ">",
  le: "<=",
  ge: ">=",
};

interface Draft {
  rule: NatRule;
  recoverable: boolean;
  /** ipnat's in_v[0]: the family given or implied so far (0 = none yet). */
  v: 0 | 4 | 6;
  /** `from … to …` form (IPN_FILTER). */
  filter: boolean;
  /** The rule used `port` (suggest_port). */
  sawPort: boolean;
  /** setproto already ran (ipnat: "protocol set twice"). */
  protoSet: boolean;
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

/** A hostname as ipnat reads it. */
type Host = { family: Family | null; value: bigint; token: Token };

class IpnatParser extends GrammarParser {
  private readonly rules: NatRule[] = [];
  private readonly statements: IpnatStatement[] = [];

  constructor(text: string, opts: ParseOptions) {
    super(text, IPNAT_WORDS, opts, "ipnat");
  }

  parseFile(): IpnatParseResult {
    for (;;) {
      const t = this.peek();
      if (t.type === "eof") break;
      if (t.type === "comment") {
        this.next();
        continue;
      }
      const before = this.sink.list.length;
      try {
        if (t.type === "str" && t.kw === null && this.is("=", 1)) this.parseAssignment();
        else if (t.kw === "proxy")
          throw this.fail(
            IpfDiagnosticCode.UnexpectedToken,
            "proxy configuration blocks (proxy dns/…) are not supported by qjail",
            t,
          );
        else this.parseRule(before);
      } catch (e) {
        if (!(e instanceof ParseError)) throw e;
        this.report(
          e,
          !this.sink.list
            .slice(0, this.sink.list.length)
            .some((x, i) => i < this.sink.list.length && x.severity === "error"),
        );
        this.skipToNextRule(
          e.offset,
          (tok) =>
            (tok.kw !== null && RULE_STARTS.has(tok.kw)) ||
            (tok.type === "str" && tok.kw === null && this.is("=", 1)),
        );
      }
    }
    for (const a of this.assignments) this.statements.push(a);
    this.statements.sort((a, b) => a.span.offset - b.span.offset);
    return { rules: this.rules, statements: this.statements, diagnostics: this.sink.list };
  }

  private hasErrorSince(index: number): boolean {
    return this.sink.list.slice(index).some((d) => d.severity === "error");
  }

  private parseRule(diagStart: number): void {
    const first = this.peek();
    const d: Draft = {
      rule: blankRule(this.sink.span(first.offset, first.offset + first.length)),
      recoverable: true,
      v: 0,
      filter: false,
      sawPort: false,
      protoSet: false,
    };
    const r = d.rule;
    this.lexer.expectAddr = 0;
    this.lexer.dict = this.lexer.base;
    const no = this.acceptKw("no") !== undefined;
    if (no) r.no = true;
    const verb = this.peek();
    switch (verb.kw) {
      case "map":
      case "bimap":
      case "map-block":
        this.next();
        r.kind = verb.kw as NatKind;
        this.parseMap(d);
        break;
      case "rdr":
        this.next();
        r.kind = "rdr";
        this.parseRdr(d);
        break;
      case "rewrite":
      case "divert":
        if (no) throw this.unexpected(verb, 'map, map-block or rdr after "no"');
        this.next();
        r.kind = verb.kw as NatKind;
        this.parseRewrite(d);
        break;
      default:
        d.recoverable = false;
        throw this.unexpected(
          verb,
          no
            ? 'map, map-block or rdr after "no"'
            : "a NAT rule: map, bimap, map-block, rdr, rewrite or divert",
        );
    }
    r.span = this.sink.span(first.offset, this.lastEnd);
    r.family = d.v === 6 ? "inet6" : "inet";
    finish(r, this, verb, d.sawPort);
    const errors = this.hasErrorSince(diagStart);
    if (!errors || (this.opts.recover && d.recoverable)) {
      this.rules.push(r);
      this.statements.push(r);
    }
  }

  // --- pieces -------------------------------------------------------------------

  /** ifnames: IF [, IF] [inet|inet6], then an address is expected. */
  private parseIfnames(d: Draft): void {
    const r = d.rule;
    const names: InterfaceName[] = [];
    const one = (what: string) => {
      const t = this.expectName(what);
      names.push({ name: t.text, span: this.sink.span(t.offset, t.offset + t.length) });
    };
    one("an interface name");
    if (this.accept(",")) one('a second interface name after ","');
    r.interfaces = names;
    // The family is looked at before an address is expected: `rdr em0 ::/0` reads "::" as ":".
    const f = this.peek();
    if (f.kw === "inet" || f.kw === "inet6") {
      this.next();
      d.v = f.kw === "inet6" ? 6 : 4;
    }
    this.lexer.expectAddr = 1;
  }

  private ipv4(): bigint {
    const parts: Token[] = [this.next()];
    for (let i = 0; i < 3; i++) {
      this.expect(".", '"." and the next octet (ipnat wants all four octets)');
      parts.push(this.expectNumber("an octet"));
    }
    let v = 0n;
    for (const p of parts) {
      if (p.value > 255 || p.overflow)
        throw this.fail(
          IpfDiagnosticCode.InvalidAddress,
          `octet ${p.text} is larger than 255`,
          p,
          "Invalid octet string for IP address",
        );
      v = (v << 8n) | BigInt(p.value);
    }
    return v;
  }

  /** hostname: STR | NUMBER | ipv4 | IPV6 | NUMBER IPV6. */
  private hostname(d: Draft): Host {
    const t = this.peek();
    if (t.type === "num") {
      if (this.is(".", 1)) return { family: "inet", value: this.ipv4(), token: t };
      this.next();
      if (this.is("ipv6")) {
        const v = this.next();
        return { family: "inet6", value: v.v6, token: t };
      }
      if (t.overflow)
        throw this.fail(IpfDiagnosticCode.InvalidAddress, `${t.text} does not fit in 32 bits`, t);
      return {
        family: t.value !== 0 ? (d.v === 6 ? "inet6" : "inet") : null,
        value: BigInt(t.value),
        token: t,
      };
    }
    if (t.type === "ipv6") {
      this.next();
      return { family: "inet6", value: t.v6, token: t };
    }
    if (t.type === "str" && t.kw === null) {
      this.next();
      const fam: Family = d.v === 6 ? "inet6" : "inet";
      const v = this.resolver.resolve(t.text, fam);
      if (v === undefined) {
        this.sink.add(
          IpfDiagnosticCode.UnknownHost,
          t.text === "<thishost>"
            ? '"<thishost>" is this machine\'s own address, which qjail does not look up: give it with --host "<thishost>=ADDRESS"'
            : `host name ${JSON.stringify(t.text)} is not known (qjail does not query DNS)`,
          t.offset,
          t.length,
          "error",
          `ipnat prints "Unknown host '${t.text}'" and loads the rule with an address that means nothing`,
        );
        return { family: fam, value: 0n, token: t };
      }
      return { family: fam, value: v, token: t };
    }
    if (t.type === "str") throw this.unexpected(t, `an address ("${t.text}" is a keyword here)`);
    throw this.unexpected(t, "an address");
  }

  private noteFamily(d: Draft, f: Family | null, tok: Token): void {
    if (f === null) return;
    const v = f === "inet6" ? 6 : 4;
    if (d.v === 0) d.v = v;
    else if (d.v !== v)
      throw this.fail(
        IpfDiagnosticCode.FamilyMismatch,
        "rule mixes IPv4 and IPv6 addresses",
        tok,
        "address family mismatch",
      );
  }

  /** addr: any | hostname [/ N | / ADDR | / 0xHEX | mask ADDR | mask 0xHEX] | pool/… | hash/… */
  private addr(d: Draft): AddressMatch {
    const t = this.peek();
    if (t.kw === "any") {
      this.next();
      this.lexer.expectAddr = 0;
      return { kind: "any" };
    }
    if (t.kw === "pool" || t.kw === "hash") {
      this.next();
      if (!d.filter)
        throw this.fail(
          IpfDiagnosticCode.UnexpectedToken,
          `${t.kw} can only be used in from/to rules`,
          t,
          `Can only use ${t.kw} with from/to rules\n`,
        );
      this.lexer.expectAddr = 0;
      this.expect("/", `"/" after ${t.kw}`);
      const n = this.peek();
      if (n.type !== "num" && !(n.type === "str" && n.kw === null))
        throw this.unexpected(n, "a table number or name");
      this.next();
      return { kind: "pool", table: t.kw, name: n.type === "num" ? String(n.value) : n.text };
    }
    const h = this.hostname(d);
    const m = this.peek();
    if (m.type === "/" || m.kw === "mask" || m.kw === "netmask") {
      this.next();
      this.lexer.expectAddr = 0;
      const x = this.peek();
      let mask: bigint;
      const fam: Family = h.family ?? (d.v === 6 ? "inet6" : "inet");
      if (m.type === "/" && x.type === "num" && !this.is(".", 1)) {
        this.next();
        const bits = x.value;
        if (bits > (fam === "inet" ? 32 : 128)) mask = 0n;
        else mask = prefixToMask(fam, bits);
      } else if (x.type === "hex") {
        this.next();
        if (fam === "inet6")
          throw this.fail(
            IpfDiagnosticCode.InvalidAddress,
            "a hex mask is IPv4 only",
            x,
            "incorrect inet6 mask",
          );
        mask = BigInt(x.value >>> 0);
      } else if (x.type === "num") {
        mask = this.ipv4();
        if (fam !== "inet")
          throw this.fail(
            IpfDiagnosticCode.FamilyMismatch,
            "an IPv4 mask on an IPv6 address",
            x,
            "1.address family mismatch",
          );
      } else if (x.type === "ipv6") {
        this.next();
        mask = x.v6;
        if (fam !== "inet6")
          throw this.fail(
            IpfDiagnosticCode.FamilyMismatch,
            "an IPv6 mask on an IPv4 address",
            x,
            "1.address family mismatch",
          );
      } else throw this.unexpected(x, "a prefix length or mask");
      this.noteFamily(d, h.family, h.token);
      if (h.family === null && mask === 0n) return { kind: "any" };
      return makeCidr(fam, h.value & mask, mask);
    }
    this.lexer.expectAddr = 0;
    this.noteFamily(d, h.family, h.token);
    const fam: Family = h.family ?? (d.v === 6 ? "inet6" : "inet");
    if (h.family === null) return makeCidr(fam, 0n, 0n);
    return makeCidr(fam, h.value, allOnes(fam));
  }

  private portspec(d: Draft): number {
    void d;
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
    if (t.type === "str" && t.kw === null) {
      this.next();
      const p = lookupService(t.text, { kind: "nat" });
      if (p === undefined)
        throw this.fail(
          IpfDiagnosticCode.InvalidPort,
          `unknown service name ${JSON.stringify(t.text)} (not in FreeBSD's /etc/services)`,
          t,
          "invalid port number",
        );
      return p;
    }
    throw this.unexpected(t, "a port number or service name");
  }

  /** portpair: P | P-Q | P:Q */
  private portpair(d: Draft): NatPortRange {
    const low = this.portspec(d);
    if (this.is("-") || this.is(":")) {
      this.next();
      return { low, high: this.portspec(d) };
    }
    return { low, high: low };
  }

  /** portstuff after `port` in from/to: compare P | P range Q. */
  private portstuff(d: Draft): PortMatch {
    const t = this.peek();
    if (t.type === "=" || t.type === "cmp" || (t.kw !== null && COMPARE_KW[t.kw])) {
      this.next();
      const op =
        t.type === "="
          ? "="
          : t.type === "cmp"
            ? (t.op as "=" | "!=" | "<" | ">" | "<=" | ">=")
            : COMPARE_KW[t.kw!]!;
      return { kind: "compare", op, port: this.portspec(d) };
    }
    const low = this.portspec(d);
    const rt = this.peek();
    if (rt.type !== "range" && rt.type !== ":")
      throw this.unexpected(rt, 'a port comparison such as "port = 80" or "port 1000:2000"');
    this.next();
    return { kind: "range", op: rt.type === ":" ? ":" : (rt.op as "<>" | "><"), low, high: this.portspec(d) };
  }

  private endpoint(d: Draft): Endpoint {
    const start = this.peek();
    const address = this.addr(d);
    let port: PortMatch | null = null;
    if (this.isKw("port")) {
      this.next();
      d.sawPort = true;
      port = this.portstuff(d);
    }
    return { negated: false, address, port, span: this.sink.span(start.offset, this.lastEnd) };
  }

  /** mapfrom / rdrfrom: `[!] from A [port …] [!] to [!] B [port …]`. */
  private fromTo(d: Draft, rdr: boolean): NatMatch {
    let negated = false;
    if (rdr && this.is("!")) {
      this.next();
      negated = true;
    }
    this.expectKw("from", '"from"');
    d.filter = true;
    this.lexer.expectAddr = 1;
    if (rdr && !negated && this.is("!")) {
      this.next();
      negated = true;
    }
    const from = this.endpoint(d);
    let toNegated = false;
    if (!rdr && this.is("!")) {
      this.next();
      toNegated = true;
    }
    this.expectKw("to", '"to"');
    this.lexer.expectAddr = 1;
    if (!rdr && !toNegated && this.is("!")) {
      this.next();
      toNegated = true;
    }
    const to = this.endpoint(d);
    return { kind: "fromto", negated, from, toNegated, to };
  }

  /** proto: NUMBER | tcp | udp | a name from /etc/protocols. */
  private proto(): NatProtocol {
    const t = this.peek();
    if (t.kw === "tcp" || t.kw === "udp") {
      this.next();
      return { kind: "number", number: t.kw === "tcp" ? 6 : 17, name: t.kw };
    }
    if (t.type === "num") {
      this.next();
      if (t.value > 255)
        throw this.fail(IpfDiagnosticCode.InvalidNumber, `protocol number ${t.text} is larger than 255`, t);
      return t.value === 0 ? { kind: "ip" } : { kind: "number", number: t.value, name: null };
    }
    if (t.type === "str" && t.kw === null) {
      this.next();
      const n = getproto(t.text);
      if (n < 0)
        throw this.fail(
          IpfDiagnosticCode.UnknownProtocol,
          `unknown protocol ${JSON.stringify(t.text)} (not in FreeBSD's /etc/protocols)`,
          t,
          "unknwon protocol",
        );
      return n === 0 ? { kind: "ip" } : { kind: "number", number: n, name: t.text.toLowerCase() };
    }
    throw this.unexpected(t, "a protocol");
  }

  private isProtoStart(): boolean {
    const t = this.peek();
    return (
      t.kw === "tcp" ||
      t.kw === "udp" ||
      t.kw === "tcpudp" ||
      t.type === "num" ||
      (t.type === "str" && t.kw === null)
    );
  }

  /** setproto: [proto | tcpudp | tcp/udp]. */
  private setproto(d: Draft): void {
    if (!this.isProtoStart()) return;
    const t = this.peek();
    let p: NatProtocol;
    if (t.kw === "tcpudp") {
      this.next();
      p = { kind: "tcpudp" };
    } else if (t.kw === "tcp" && this.is("/", 1)) {
      this.next();
      this.next();
      this.expectKw("udp", '"udp" after "tcp/"');
      p = { kind: "tcpudp" };
    } else p = this.proto();
    if (d.protoSet)
      throw this.fail(
        IpfDiagnosticCode.UnexpectedToken,
        "the protocol is given twice",
        t,
        "protocol set twice",
      );
    d.protoSet = true;
    d.rule.proto = p;
  }

  /** tcpudp after portmap: tcp | udp | tcpudp | tcp/udp. */
  private tcpudp(): NatProtocol {
    const t = this.peek();
    if (t.kw === "tcpudp") {
      this.next();
      return { kind: "tcpudp" };
    }
    if (t.kw === "tcp" && this.is("/", 1)) {
      this.next();
      this.next();
      this.expectKw("udp", '"udp" after "tcp/"');
      return { kind: "tcpudp" };
    }
    if (t.kw === "tcp" || t.kw === "udp") {
      this.next();
      return { kind: "number", number: t.kw === "tcp" ? 6 : 17, name: t.kw };
    }
    throw this.unexpected(t, "tcp, udp or tcp/udp");
  }

  private age(d: Draft): void {
    if (!this.isKw("age")) return;
    this.next();
    const a = this.expectNumber("an age in seconds").value;
    const b = this.accept("/") ? this.expectNumber("a reply age in seconds").value : a;
    d.rule.options.age = { forward: a, reply: b };
  }

  /** mapoptions: [round-robin] [frag] [age] [mssclamp] [tag] [proto] [purge]. */
  private mapOptions(d: Draft): void {
    const o = d.rule.options;
    if (this.acceptKw("round-robin")) o.roundRobin = true;
    if (this.acceptKw("frag")) o.frag = true;
    this.age(d);
    if (this.acceptKw("mssclamp")) o.mssclamp = this.expectNumber("an MSS value").value;
    this.tag(d);
    this.setproto(d);
    if (this.acceptKw("purge")) o.purge = true;
  }

  private tag(d: Draft): void {
    if (!this.acceptKw("tag")) return;
    const t = this.peek();
    if (t.type !== "str" || (t.kw !== null && !t.quoted)) throw this.unexpected(t, "a tag name");
    this.next();
    d.rule.options.tag = t.text.slice(0, TAG_LENGTH);
  }

  /** proxy (map form): proxy port P|NAME NAME/PROTO [config NAME]. */
  private mapProxy(d: Draft): void {
    const r = d.rule;
    this.next(); // proxy
    this.expectKw("port", '"port" after "proxy"');
    d.sawPort = true;
    const portTok = this.peek();
    let port: number;
    let name: Token;
    if (portTok.type === "num") {
      port = this.portspec(d);
      name = this.expectName("a proxy name such as ftp");
    } else {
      const svc = this.expectName("the proxy's port");
      name = this.expectName("a proxy name such as ftp");
      this.expect("/", '"/" between the proxy name and its protocol');
      const proto = this.proto();
      const p = lookupService(svc.text, { kind: "nat" });
      if (p === undefined)
        throw this.fail(
          IpfDiagnosticCode.InvalidPort,
          `unknown service name ${JSON.stringify(svc.text)}`,
          svc,
          "invalid port number",
        );
      r.proxy = { name: name.text, port: p, proto };
      r.proto = proto;
      if (this.acceptKw("config")) this.expectName("a proxy configuration name");
      return;
    }
    this.expect("/", '"/" between the proxy name and its protocol');
    const proto = this.proto();
    r.proxy = { name: name.text, port, proto };
    r.proto = proto;
    if (this.acceptKw("config")) {
      const c = this.peek();
      if (c.type !== "str") throw this.unexpected(c, "a proxy configuration name");
      this.next();
    }
  }

  // --- map / bimap / map-block ------------------------------------------------

  private parseMap(d: Draft): void {
    const r = d.rule;
    this.parseIfnames(d);
    const t = this.peek();
    if (t.kw === "from") r.match = this.fromTo(d, false);
    else if (t.kw === "port" || t.type === "->") {
      // The qjail-howto's `map rl0 -> 0/32`: the source is missing.
      this.sink.add(
        IpfDiagnosticCode.MissingAddress,
        `${r.kind} needs the source addresses to translate before ${JSON.stringify(t.text)}: write e.g. "${r.kind} ${r.interfaces[0]?.name ?? "em0"} 10.0.0.0/8 -> 0/32"`,
        t.offset,
        t.length,
        "error",
        `ipnat stops here with "syntax error error at "${t.text}", line ${this.sink.index.position(t.offset).line}"`,
      );
      r.match = { kind: "simple", address: { kind: "any" }, ports: null };
    } else {
      r.match = { kind: "simple", address: this.addr(d), ports: null };
    }
    if (r.no) {
      this.setproto(d);
      this.expect(";", '";" to end the "no" rule');
      this.accept(";");
      return;
    }
    this.expect("->", '"->"');
    this.lexer.expectAddr = 1;
    if (r.kind === "map-block") {
      const a = this.addr(d);
      r.target =
        a.kind === "cidr"
          ? { kind: "cidr", address: a }
          : { kind: "cidr", address: makeCidr(d.v === 6 ? "inet6" : "inet", 0n, 0n) };
      if (this.acceptKw("ports")) {
        if (this.acceptKw("auto")) r.options.mapBlockPorts = "auto";
        else r.options.mapBlockPorts = this.expectNumber('a number of ports or "auto"').value;
      }
      this.mapOptions(d);
      this.accept(";");
      return;
    }
    r.target = this.rhsaddr(d);
    const n = this.peek();
    if (n.kw === "portmap") {
      this.next();
      let proto: NatProtocol;
      let range: NatPortRange | null = null;
      let auto = false;
      const p0 = this.peek();
      if (p0.kw === "tcp" || p0.kw === "udp" || p0.kw === "tcpudp") {
        proto = this.tcpudp();
        if (this.acceptKw("auto")) auto = true;
        else range = this.portpair(d);
      } else {
        range = this.portpair(d);
        proto = this.tcpudp();
      }
      const sequential = this.acceptKw("sequential") !== undefined;
      r.proto = proto;
      d.protoSet = false;
      r.portmap = {
        proto,
        auto,
        low: auto ? 1024 : range!.low,
        high: auto ? 65535 : range!.high,
        sequential,
      };
      r.options.sequential = sequential;
    } else if (n.kw === "icmpidmap") {
      this.next();
      const p = this.expectName('"icmp" after icmpidmap');
      if (p.text !== "icmp" && p.text !== "ipv6-icmp")
        throw this.fail(
          IpfDiagnosticCode.InvalidValue,
          '"icmpidmap" is followed by "icmp"',
          p,
          "icmpidmap not followed by icmp",
        );
      const range = this.portpair(d);
      this.acceptKw("sequential");
      r.options.icmpidmap = { proto: p.text, low: range.low, high: range.high };
      r.proto = { kind: "number", number: p.text === "icmp" ? 1 : 58, name: p.text };
    } else if (n.kw === "proxy") {
      this.mapProxy(d);
    }
    this.mapOptions(d);
    this.accept(";");
  }

  /** rhsaddr: addr | hostname - hostname | range hostname - hostname. */
  private rhsaddr(d: Draft): NatTarget {
    const r = d.rule;
    const t = this.peek();
    if (
      t.kw === "port" ||
      t.kw === "portmap" ||
      t.kw === "proxy" ||
      t.type === "eof" ||
      t.type === "comment"
    ) {
      this.sink.add(
        IpfDiagnosticCode.MissingAddress,
        `${r.kind} needs the address to translate to after "->": write e.g. "-> 0/32" for the interface's own address`,
        t.offset,
        t.length,
        "error",
        `ipnat stops here with "syntax error error at "${t.text}", line ${this.sink.index.position(t.offset).line}"`,
      );
      return { kind: "none" };
    }
    if (t.kw === "range") {
      this.next();
      const a = this.hostname(d);
      this.expect("-", '"-" between the first and last address of the range');
      this.lexer.expectAddr = 1;
      const b = this.hostname(d);
      this.lexer.expectAddr = 0;
      return this.rangeTarget(d, a, b);
    }
    if (
      (t.type === "num" || t.type === "ipv6" || (t.type === "str" && t.kw === null)) &&
      this.rangeFollows()
    ) {
      const a = this.hostname(d);
      this.next(); // -
      this.lexer.expectAddr = 1;
      const b = this.hostname(d);
      this.lexer.expectAddr = 0;
      return this.rangeTarget(d, a, b);
    }
    const a = this.addr(d);
    this.lexer.expectAddr = 0;
    if (a.kind === "cidr") return { kind: "cidr", address: a };
    return { kind: "cidr", address: makeCidr(d.v === 6 ? "inet6" : "inet", 0n, 0n) };
  }

  /** After a hostname, is there a `-` (a range)? Looks ahead without consuming. */
  private rangeFollows(): boolean {
    let i = 0;
    const t = this.peek(0);
    if (t.type === "num" && this.peek(1).type === ".") i = 7;
    else if (t.type === "num" && this.peek(1).type === "ipv6") i = 2;
    else i = 1;
    return this.peek(i).type === "-";
  }

  private rangeTarget(d: Draft, a: Host, b: Host): NatTarget {
    if (a.family !== b.family)
      throw this.fail(
        IpfDiagnosticCode.FamilyMismatch,
        "a range mixes IPv4 and IPv6",
        b.token,
        "address family mismatch",
      );
    const fam: Family = a.family ?? "inet";
    this.noteFamily(d, a.family, a.token);
    return {
      kind: "range",
      family: fam,
      low: formatAddress(fam, a.value),
      high: formatAddress(fam, b.value),
    };
  }

  // --- rdr ------------------------------------------------------------------------

  private parseRdr(d: Draft): void {
    const r = d.rule;
    this.parseIfnames(d);
    const t = this.peek();
    if (t.kw === "from" || t.type === "!") {
      r.match = this.fromTo(d, true);
    } else {
      let address: AddressMatch;
      if (t.kw === "port" || t.type === "->") {
        this.sink.add(
          IpfDiagnosticCode.MissingAddress,
          `rdr needs the public address to match before ${JSON.stringify(t.text)}: write e.g. "rdr ${r.interfaces[0]?.name ?? "em0"} 0/0 port 80 -> 10.0.0.2 port 80 tcp"`,
          t.offset,
          t.length,
          "error",
          `ipnat stops here with "syntax error error at "${t.text}", line ${this.sink.index.position(t.offset).line}"`,
        );
        address = { kind: "any" };
      } else address = this.addr(d);
      let ports: NatPortRange | null = null;
      if (this.isKw("port")) {
        this.next();
        d.sawPort = true;
        ports = this.portpair(d);
      }
      r.match = { kind: "simple", address, ports };
    }
    if (r.no) {
      this.setproto(d);
      this.expect(";", '";" to end the "no" rule');
      this.accept(";");
      return;
    }
    this.expect("->", '"->"');
    this.lexer.expectAddr = 1;
    r.target = this.dip(d);
    // nport
    if (this.isKw("port")) {
      this.next();
      d.sawPort = true;
      if (this.accept("=")) {
        const p = this.portspec(d);
        r.targetPort = { low: p, high: p, fixed: true };
      } else {
        const pr = this.portpair(d);
        r.targetPort = { low: pr.low, high: pr.high, fixed: false };
      }
    }
    this.setproto(d);
    // rdroptions: rr frag age sticky mssclamp rdrproxy nattag purge
    const o = r.options;
    if (this.acceptKw("round-robin")) o.roundRobin = true;
    if (this.acceptKw("frag")) o.frag = true;
    this.age(d);
    if (this.acceptKw("sticky")) o.sticky = true;
    if (this.acceptKw("mssclamp")) o.mssclamp = this.expectNumber("an MSS value").value;
    if (this.isKw("proxy")) {
      if (this.isKw("port", 1)) {
        this.mapProxy(d);
        const p = r.proxy?.port ?? 0;
        if (r.match.kind === "simple" && r.match.ports === null) r.match.ports = { low: p, high: p };
        r.targetPort = { low: p, high: p, fixed: false };
      } else {
        this.next();
        const name = this.expectName("a proxy name such as ftp");
        r.proxy = { name: name.text, port: null, proto: null };
        // ipnat makes the matched port the target port for rdr proxies.
        if (r.match.kind === "simple" && r.targetPort)
          r.match.ports = { low: r.targetPort.low, high: r.targetPort.low };
      }
    }
    this.tag(d);
    if (this.acceptKw("purge")) o.purge = true;
    this.accept(";");
  }

  /** dip: hostname , hostname | rhdaddr (a single host, a range). */
  private dip(d: Draft): NatTarget {
    const t = this.peek();
    if (t.kw === "port" || t.type === "eof" || t.type === "comment") {
      this.sink.add(
        IpfDiagnosticCode.MissingAddress,
        'rdr needs the address to forward to after "->": write e.g. "-> 10.0.0.2 port …" with the jail\'s address',
        t.offset,
        t.length,
        "error",
        `ipnat stops here with "syntax error error at "${t.text}", line ${this.sink.index.position(t.offset).line}"`,
      );
      return { kind: "none" };
    }
    if (t.kw === "range") {
      this.next();
      const a = this.hostname(d);
      this.expect("-", '"-" between the first and last address of the range');
      const b = this.hostname(d);
      this.lexer.expectAddr = 0;
      return this.rangeTarget(d, a, b);
    }
    if (t.kw === "any" || t.kw === "pool" || t.kw === "hash") {
      const a = this.addr(d);
      return a.kind === "cidr"
        ? { kind: "cidr", address: a }
        : { kind: "cidr", address: makeCidr(d.v === 6 ? "inet6" : "inet", 0n, 0n) };
    }
    // The token after the first host decides (',' a second target, '-' a range, '/' a mask).
    const afterHost = this.rangeFollows() ? "-" : this.peekAfterHost();
    if (afterHost === ",") {
      const a = this.hostname(d);
      this.next(); // ,
      this.lexer.expectAddr = 1;
      const b = this.hostname(d);
      this.lexer.expectAddr = 0;
      if (a.family !== b.family)
        throw this.fail(
          IpfDiagnosticCode.FamilyMismatch,
          "the two targets mix IPv4 and IPv6",
          b.token,
          "10.address family mismatch",
        );
      this.noteFamily(d, a.family, a.token);
      const fam: Family = a.family ?? "inet";
      return {
        kind: "list",
        addresses: [makeCidr(fam, a.value, allOnes(fam)), makeCidr(fam, b.value, allOnes(fam))],
      };
    }
    if (afterHost === "-") {
      const a = this.hostname(d);
      this.next();
      const b = this.hostname(d);
      this.lexer.expectAddr = 0;
      return this.rangeTarget(d, a, b);
    }
    const a = this.addr(d);
    this.lexer.expectAddr = 0;
    if (a.kind !== "cidr") return { kind: "cidr", address: makeCidr(d.v === 6 ? "inet6" : "inet", 0n, 0n) };
    const full = a.family === "inet" ? 32 : 128;
    if (a.prefix !== 0 && a.prefix !== full)
      throw this.fail(
        IpfDiagnosticCode.InvalidValue,
        `rdr target ${a.address}/${a.prefix ?? a.mask} must be a single host (/${full})`,
        t,
        `dest ip bitmask not /${full}`,
      );
    return { kind: "cidr", address: a };
  }

  private peekAfterHost(): string {
    const t = this.peek(0);
    const i =
      t.type === "num" && this.peek(1).type === "."
        ? 7
        : t.type === "num" && this.peek(1).type === "ipv6"
          ? 2
          : 1;
    return this.peek(i).type;
  }

  // --- rewrite / divert ------------------------------------------------------------

  private parseRewrite(d: Draft): void {
    const r = d.rule;
    const dir = this.peek();
    if (dir.kw !== "in" && dir.kw !== "out") throw this.unexpected(dir, '"in" or "out"');
    this.next();
    r.direction = dir.kw;
    this.expectKw("on", '"on"');
    this.parseIfnames(d);
    this.lexer.expectAddr = 0;
    if (this.acceptKw("proto")) {
      this.setproto(d);
      r.matchProto = r.proto;
      d.protoSet = true;
    }
    r.match = this.fromTo(d, false);
    this.expect("->", '"->"');
    if (r.kind === "divert") {
      this.expectKw("src", '"src"');
      this.lexer.expectAddr = 1;
      const sa = this.addr(d);
      this.expect(",", '"," and the source port');
      const sp = this.portspec(d);
      this.expectKw("dst", '"dst"');
      this.lexer.expectAddr = 1;
      const da = this.addr(d);
      this.expect(",", '"," and the destination port');
      const dp = this.portspec(d);
      this.expectKw("udp", '"udp"');
      for (const [a, tok] of [
        [sa, dir],
        [da, dir],
      ] as const) {
        if (a.kind !== "cidr" || a.prefix !== 32)
          throw this.fail(
            IpfDiagnosticCode.InvalidValue,
            "divert addresses must be single hosts (/32)",
            tok,
            "divert must have /32 dest",
          );
      }
      r.rewrite = {
        src: {
          address: { kind: "cidr", address: sa as CidrAddress },
          ports: { low: sp, high: sp, fixed: false },
        },
        dst: {
          address: { kind: "cidr", address: da as CidrAddress },
          ports: { low: dp, high: dp, fixed: false },
        },
      };
    } else {
      this.expectKw("src", '"src"');
      this.lexer.expectAddr = 1;
      const src = this.rewriteSide(d, false);
      this.expectKw("dst", '"dst"');
      this.lexer.expectAddr = 1;
      const dst = this.rewriteSide(d, true);
      r.rewrite = { src, dst };
    }
    if (this.acceptKw("purge")) r.options.purge = true;
    this.expect(";", `";" to end the ${r.kind} rule`);
  }

  private rewriteSide(d: Draft, dst: boolean): RewriteSide {
    let address: NatTarget;
    if (dst && this.isKw("dstlist")) {
      this.next();
      this.expect("/", '"/" after dstlist');
      const n = this.peek();
      if (n.type !== "num" && !(n.type === "str" && n.kw === null))
        throw this.unexpected(n, "a destination list name");
      this.next();
      address = {
        kind: "pool",
        pool: { kind: "pool", table: "dstlist", name: n.type === "num" ? String(n.value) : n.text },
      };
    } else {
      address = this.rhsaddr(d);
    }
    let ports: RewriteSide["ports"] = null;
    if (this.is(",")) {
      const c = this.next();
      if (!isTcpUdp(d.rule.proto))
        throw this.fail(
          IpfDiagnosticCode.InvalidPort,
          "ports need tcp or udp in the rule (proto tcp)",
          c,
          "must be TCP/UDP for ports",
        );
      const pr = this.portpair(d);
      ports = { ...pr, fixed: false };
    } else if (this.isKw("port")) {
      this.next();
      this.expect("=", '"=" after "port"');
      const p = this.portspec(d);
      ports = { low: p, high: p, fixed: true };
    }
    return { address, ports };
  }
}

function isTcpUdp(p: NatProtocol | null): boolean {
  return p !== null && (p.kind === "tcpudp" || (p.kind === "number" && (p.number === 6 || p.number === 17)));
}

/**
 * ipnat's normalisations after a rule is read. `sawPort`: the rule used the
 * word `port`, which makes ipnat assume tcp/udp when no protocol was given
 * (a non-TCP/UDP protocol written after it cancels that).
 */
function finish(r: NatRule, p: GrammarParser, verb: Token, sawPort: boolean): void {
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
    p.sink.add(
      IpfDiagnosticCode.StickyIgnored,
      '"sticky" only works with round-robin or several targets; ipnat ignores it here',
      verb.offset,
      verb.length,
      "warning",
      "ipnat prints \"'sticky' for use with round-robin/IP splitting only\" and loads the rule without it",
    );
    r.options.sticky = false;
  }
  if (r.kind === "map-block" && r.options.mapBlockPorts === null) r.options.mapBlockPorts = 0;
}

export function parseIpnatText(text: string, opts: ParseOptions = {}): IpnatParseResult {
  return new IpnatParser(text, opts).parseFile();
}
