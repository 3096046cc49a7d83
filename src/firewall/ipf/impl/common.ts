/**
 * Pieces of grammar ipf.conf and ipnat.conf share: numbers, ports, host names,
 * addresses with masks, port comparisons.
 */
import type { AddressMatch, CidrAddress, Family, PortMatch, VariableAssignment } from "../ast.js";
import {
  allOnes,
  makeCidr,
  parseDottedQuad,
  parseIpv4Loose,
  parseIpv6,
  prefixToMask,
  familyBits,
} from "./address.js";
import { IpfDiagnosticCode } from "./diagnostics.js";
import { Cursor, DiagnosticSink, logicalLines, ParseError, type LogicalLine, type Token } from "./lexer.js";
import { SERVICE_PORTS } from "./tables.js";

/** Options both parsers take. */
export interface ParseOptions {
  /**
   * Predefined variables, as `ipf -D`/IPF_PREDEFINED supplies them: `$name`
   * in the text expands to the value.
   */
  variables?: Record<string, string>;
  /**
   * Host names and their addresses. qjail never asks DNS; names not listed
   * here (other than `localhost`) are reported as QJ4006.
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

export function parseNumber(tok: Token, what: string, max = 0xffffffff): number {
  const t = tok.text;
  let v: number;
  if (/^0x[0-9a-f]+$/i.test(t)) v = parseInt(t.slice(2), 16);
  else if (/^\d+$/.test(t)) v = Number(t);
  else
    throw new ParseError(
      IpfDiagnosticCode.InvalidNumber,
      `${what} must be a number, found ${JSON.stringify(t)}`,
      tok.offset,
      tok.length,
    );
  if (v > max)
    throw new ParseError(
      IpfDiagnosticCode.InvalidNumber,
      `${what} ${JSON.stringify(t)} is larger than ${max}`,
      tok.offset,
      tok.length,
    );
  return v;
}

export function parsePortToken(tok: Token, text = tok.text): number {
  if (/^\d+$/.test(text)) {
    const n = Number(text);
    if (n > 65535)
      throw new ParseError(
        IpfDiagnosticCode.InvalidPort,
        `port ${JSON.stringify(text)} is out of range 0-65535`,
        tok.offset,
        tok.length,
      );
    return n;
  }
  const known = SERVICE_PORTS.get(text.toLowerCase());
  if (known === undefined)
    throw new ParseError(
      IpfDiagnosticCode.InvalidPort,
      `unknown service name ${JSON.stringify(text)}`,
      tok.offset,
      tok.length,
    );
  return known;
}

const COMPARE_WORDS: Record<string, "=" | "!=" | "<" | ">" | "<=" | ">="> = {
  "=": "=",
  eq: "=",
  "!=": "!=",
  ne: "!=",
  "<": "<",
  lt: "<",
  ">": ">",
  gt: ">",
  "<=": "<=",
  le: "<=",
  ">=": ">=",
  ge: ">=",
};

/**
 * After `port`: `= N`, `eq N`, `N <> M`, `N >< M`, `N:M`, and, when
 * `allowLists`, `= {a,b:c}`. Returns every alternative (lists expand).
 */
export function parsePortMatch(cur: Cursor, allowLists: boolean): PortMatch[] {
  const t = cur.peek();
  if (!t) throw cur.endError("a port comparison");
  const op = t.kind !== "string" ? COMPARE_WORDS[t.text] : undefined;
  if (op) {
    cur.next();
    if (allowLists && cur.is("{")) {
      return parseBraceList(cur, (item) => {
        const range = /^([^:]+):([^:]+)$/.exec(item.text);
        if (range)
          return {
            kind: "range",
            op: ":",
            low: parsePortToken(item, range[1]),
            high: parsePortToken(item, range[2]),
          } as PortMatch;
        return { kind: "compare", op, port: parsePortToken(item) } as PortMatch;
      });
    }
    const v = cur.word("a port number or service name");
    return [{ kind: "compare", op, port: parsePortToken(v) }];
  }
  const first = cur.word("a port comparison");
  const colon = /^([^:]+):([^:]+)$/.exec(first.text);
  if (colon)
    return [
      { kind: "range", op: ":", low: parsePortToken(first, colon[1]), high: parsePortToken(first, colon[2]) },
    ];
  const low = parsePortToken(first);
  const rangeTok = cur.peek();
  if (rangeTok && (rangeTok.text === "<>" || rangeTok.text === "><" || rangeTok.text === ":")) {
    cur.next();
    const high = parsePortToken(cur.word("the upper port of the range"));
    return [{ kind: "range", op: rangeTok.text as "<>" | "><" | ":", low, high }];
  }
  throw cur.unexpected(rangeTok ?? first, 'a port comparison such as "port = 80" or "port 1000:2000"');
}

/** `{ a, b, c }` where items are single words; returns the mapped items in order. */
export function parseBraceList<T>(cur: Cursor, item: (tok: Token) => T): T[] {
  const open = cur.expect("{");
  const out: T[] = [];
  for (;;) {
    const t = cur.peek();
    if (!t)
      throw new ParseError(
        IpfDiagnosticCode.Unterminated,
        'list opened with "{" is never closed',
        open.offset,
        1,
      );
    if (t.text === "}" && t.kind === "punct") {
      cur.next();
      break;
    }
    if (t.text === "," && t.kind === "punct") {
      cur.next();
      continue;
    }
    out.push(item(cur.next()));
  }
  if (out.length === 0)
    throw new ParseError(IpfDiagnosticCode.UnexpectedToken, 'empty list "{}"', open.offset, 2);
  return out;
}

export class HostResolver {
  private readonly hosts = new Map<string, string>([["localhost", "127.0.0.1"]]);
  constructor(extra: Record<string, string> | undefined) {
    for (const [k, v] of Object.entries(extra ?? {})) this.hosts.set(k.toLowerCase(), v);
  }
  /** A host's address and family, or null. Backslashes in the name are escapes (`test\.host`). */
  resolve(name: string, preferred: Family | null, loose: boolean): { family: Family; value: bigint } | null {
    const clean = name.replace(/\\/g, "");
    // A bare number in an IPv6 rule (`-> 0/128`) is an IPv6 value, as ipnat reads it.
    if (preferred === "inet6" && /^\d+$/.test(clean)) return { family: "inet6", value: BigInt(clean) };
    if (preferred !== "inet6") {
      const v4 = loose ? parseIpv4Loose(clean) : parseDottedQuad(clean);
      if (v4 !== null) return { family: "inet", value: v4 };
    }
    const v6 = parseIpv6(clean);
    if (v6 !== null) return { family: "inet6", value: v6 };
    const mapped = this.hosts.get(clean.toLowerCase());
    if (mapped !== undefined) {
      const m4 = parseDottedQuad(mapped);
      if (m4 !== null) return { family: "inet", value: m4 };
      const m6 = parseIpv6(mapped);
      if (m6 !== null) return { family: "inet6", value: m6 };
    }
    return null;
  }
}

const INTERFACE_SUFFIX: Record<string, "network" | "netmasked" | "broadcast" | "peer"> = {
  net: "network",
  network: "network",
  netmasked: "netmasked",
  bcast: "broadcast",
  broadcast: "broadcast",
  peer: "peer",
};

/**
 * One host term with an optional mask: `1.2.3.4`, `10/8`, `128.16/16`,
 * `1.2.3.4/0xffffff00`, `1.2.3.4/255.255.255.0`, `1.2.3.4 mask …`,
 * `le0/net`, `localhost`, an IPv6 address with `/N`.
 */
export function parseHostWithMask(
  cur: Cursor,
  resolver: HostResolver,
  family: Family | null,
  interfaces: readonly string[] = [],
): AddressMatch {
  const tok = cur.word("an address");
  // A name the rule already uses as an interface means that interface's
  // address, as ipf reads `from ed0/32` in `pass in on ed0 …`.
  if (interfaces.includes(tok.text) && cur.is("/") && /^\d+$/.test(cur.peek(1)?.text ?? "")) {
    cur.next();
    const bits = parseNumber(cur.next(), "prefix length", family === "inet6" ? 128 : 32);
    return { kind: "interface", name: tok.text, which: "address", prefix: bits };
  }
  const host = resolver.resolve(tok.text, family, true);
  if (!host) {
    if (cur.is("/") && cur.peek(1) && INTERFACE_SUFFIX[cur.peek(1)!.text]) {
      cur.next();
      const which = INTERFACE_SUFFIX[cur.next().text]!;
      return { kind: "interface", name: tok.text, which };
    }
    if (/^[0-9.:]+$/.test(tok.text))
      throw new ParseError(
        IpfDiagnosticCode.InvalidAddress,
        `${JSON.stringify(tok.text)} is not a valid address`,
        tok.offset,
        tok.length,
      );
    throw new ParseError(
      IpfDiagnosticCode.UnknownHost,
      `host name ${JSON.stringify(tok.text)} is not known (qjail does not query DNS)`,
      tok.offset,
      tok.length,
    );
  }
  let mask = allOnes(host.family);
  if (cur.accept("/")) {
    mask = parseMaskToken(cur.word("a mask or prefix length"), host.family, true);
  } else if (cur.is("mask") || cur.is("netmask")) {
    cur.next();
    mask = parseMaskToken(cur.word("a netmask"), host.family, false);
  }
  return makeCidr(host.family, host.value, mask);
}

export function parseMaskToken(tok: Token, family: Family, allowPrefix: boolean): bigint {
  const t = tok.text;
  if (/^0x[0-9a-f]+$/i.test(t)) {
    const v = BigInt(t);
    if (family !== "inet" || v > 0xffffffffn)
      throw new ParseError(
        IpfDiagnosticCode.InvalidAddress,
        `mask ${JSON.stringify(t)} is not a valid IPv4 mask`,
        tok.offset,
        tok.length,
      );
    return v;
  }
  if (allowPrefix && /^\d+$/.test(t)) {
    const n = Number(t);
    if (n > familyBits(family))
      throw new ParseError(
        IpfDiagnosticCode.InvalidAddress,
        `prefix length /${t} is longer than ${familyBits(family)}`,
        tok.offset,
        tok.length,
      );
    return prefixToMask(family, n);
  }
  const dotted = family === "inet" ? parseDottedQuad(t) : parseIpv6(t);
  if (dotted === null)
    throw new ParseError(
      IpfDiagnosticCode.InvalidAddress,
      `${JSON.stringify(t)} is not a valid mask`,
      tok.offset,
      tok.length,
    );
  return dotted;
}

export function isCidr(a: AddressMatch): a is CidrAddress {
  return a.kind === "cidr";
}

/**
 * The start both parsers share: a diagnostic sink, host names, and the text cut
 * into logical lines with variables substituted; each `name = "value";`
 * assignment is kept as a statement, in file order, for tools.
 */
export function beginParse(
  text: string,
  opts: ParseOptions,
): { sink: DiagnosticSink; resolver: HostResolver; lines: LogicalLine[]; assignments: VariableAssignment[] } {
  const sink = new DiagnosticSink(text);
  const variables = new Map(Object.entries(opts.variables ?? {}));
  const assignments: VariableAssignment[] = [];
  const lines = logicalLines(text, variables, sink, (a) => {
    const { line, column } = sink.index.position(a.offset);
    assignments.push({
      kind: "variable",
      span: { offset: a.offset, length: a.length, line, column },
      name: a.name,
      value: a.value,
    });
  });
  return { sink, resolver: new HostResolver(opts.hosts), lines, assignments };
}
