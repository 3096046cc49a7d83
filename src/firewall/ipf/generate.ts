import type { FirewallModel, ResolvedExposure } from "../../core/exposure.js";
import { exposureComment } from "../../core/exposure.js";
import type { AddressMatch, CidrAddress, Family, FilterRule, NatRule, PortMatch, SourceSpan } from "./ast.js";
import { allOnes, makeCidr, parseIpv6, parseDottedQuad, prefixToMask } from "./impl/address.js";
import { printFilterRule } from "./impl/print-ipf.js";
import { printNatRule } from "./impl/print-ipnat.js";

/**
 * IPFilter rules for qjail's exposures, the howto's hand-written set-up made
 * from the model: the body of qjail's managed section in /etc/ipnat.rules
 * ({@link generateIpnat}) and in /etc/ipf.rules ({@link generateIpf}).
 *
 * Every rule is built as a syntax tree (`./ast.ts`) and written by the
 * module's printer — the form `ipf -Rnvf` / `ipnat -Rnvf` list — so the text
 * qjail loads is the text the parser, the linter and the evaluator read, in
 * the grammar's own order (ipf_y.y / ipnat_y.y). IPv6 NAT rules say `inet6`
 * before the address: ipnat reads the family before it expects an address,
 * so `rdr em0 ::/0 …` would be a syntax error at ":".
 *
 * Every value here was validated and canonicalised at the edge
 * (src/core/exposure.ts, src/core/hostconfig.ts): addresses went through
 * ipaddr.js, ports are numbers, interface names match a strict pattern.
 *
 * Packet order matters (ipnat(5), ipf(5)): inbound, ipnat's rdr runs
 * before the filter, so pass rules name the jail's address and port, never the
 * public port; outbound, the filter runs before map.
 */

const NOWHERE: SourceSpan = { offset: 0, length: 0, line: 0, column: 0 };
const PRINT = { interfaces: "all" as const, verbose: false };

const fam = (f: 4 | 6): Family => (f === 4 ? "inet" : "inet6");

/** `a.b.c.d[/n]` or an IPv6 address[/n] as the tree holds it (masked). */
function cidr(text: string, family: Family): CidrAddress {
  const [addr = "", bits] = text.split("/");
  const value = family === "inet" ? parseDottedQuad(addr) : parseIpv6(addr);
  if (value === null) throw new Error(`generate: ${JSON.stringify(text)} is not an ${family} address`);
  const mask = bits === undefined ? allOnes(family) : prefixToMask(family, Number(bits));
  return makeCidr(family, value, mask);
}

function host(address: string, family: Family): CidrAddress {
  return cidr(address, family);
}

/** The interface's own address: `0/32`, `::/128` (ipnat follows it when it changes). */
function ifaceAddress(family: Family): CidrAddress {
  return makeCidr(family, 0n, allOnes(family));
}

function publicIface(model: FirewallModel, e: ResolvedExposure): string {
  return e.on?.kind === "interface" ? e.on.name : model.host.extIf;
}

function natRule(kind: NatRule["kind"], iface: string, family: Family): NatRule {
  return {
    kind,
    span: NOWHERE,
    direction: null,
    interfaces: [{ name: iface, span: NOWHERE }],
    family,
    matchProto: null,
    match: { kind: "simple", address: { kind: "any" }, ports: null },
    target: { kind: "none" },
    targetPort: null,
    rewrite: null,
    portmap: null,
    proto: null,
    proxy: null,
    options: {
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
    },
  };
}

const protoOf = (p: "tcp" | "udp") => ({ kind: "number" as const, number: p === "tcp" ? 6 : 17, name: p });

/** The ipnat rules as trees: map for each jail network, then one rdr per exposure (and source). */
export function ipnatRules(model: FirewallModel): { comment: string | null; rule: NatRule }[] {
  const { host: h } = model;
  const out: { comment: string | null; rule: NatRule }[] = [];
  const subnets = [h.jailSubnet4, h.jailSubnet6].filter((s): s is string => s !== undefined);
  let first = true;
  for (const net of subnets) {
    const family: Family = net.includes(":") ? "inet6" : "inet";
    const withPorts = natRule("map", h.extIf, family);
    withPorts.match = { kind: "simple", address: cidr(net, family), ports: null };
    withPorts.target = { kind: "cidr", address: ifaceAddress(family) };
    withPorts.proto = { kind: "tcpudp" };
    withPorts.portmap = { proto: { kind: "tcpudp" }, auto: true, low: 1024, high: 65535, sequential: false };
    const plain = natRule("map", h.extIf, family);
    plain.match = { kind: "simple", address: cidr(net, family), ports: null };
    plain.target = { kind: "cidr", address: ifaceAddress(family) };
    out.push({
      comment: first
        ? `outbound: jails leave with ${h.extIf}'s current address (0/32 follows a dynamic address)`
        : null,
      rule: withPorts,
    });
    out.push({ comment: null, rule: plain });
    first = false;
  }
  for (const e of model.exposures) {
    const family = fam(e.family);
    const iface = publicIface(model, e);
    const onAddress: AddressMatch = e.on?.kind === "address" ? host(e.on.address, family) : { kind: "any" };
    const sources = e.sources.length === 0 ? [null] : e.sources;
    sources.forEach((src, i) => {
      const r = natRule("rdr", iface, family);
      if (src === null) {
        r.match = { kind: "simple", address: onAddress, ports: { low: e.public.low, high: e.public.high } };
      } else {
        const port: PortMatch =
          e.public.low === e.public.high
            ? { kind: "compare", op: "=", port: e.public.low }
            : { kind: "range", op: ":", low: e.public.low, high: e.public.high };
        r.match = {
          kind: "fromto",
          negated: false,
          from: { negated: false, address: cidr(src, family), port: null },
          toNegated: false,
          to: { negated: false, address: onAddress, port },
        };
      }
      r.target = { kind: "cidr", address: host(e.target, family) };
      r.targetPort = { low: e.jailPort.low, high: e.jailPort.low, fixed: false };
      r.proto = protoOf(e.proto);
      out.push({ comment: i === 0 ? exposureComment(e) : null, rule: r });
    });
  }
  return out;
}

/** The ipf pass rules as trees: jail address, jail port, `flags S keep state` for TCP. */
export function ipfRules(model: FirewallModel): { comment: string | null; rule: FilterRule }[] {
  const out: { comment: string | null; rule: FilterRule }[] = [];
  for (const e of model.exposures) {
    const family = fam(e.family);
    const iface = publicIface(model, e);
    const port: PortMatch =
      e.jailPort.low === e.jailPort.high
        ? { kind: "compare", op: "=", port: e.jailPort.low }
        : { kind: "range", op: ":", low: e.jailPort.low, high: e.jailPort.high };
    const sources = e.sources.length === 0 ? [null] : e.sources;
    sources.forEach((src, i) => {
      const rule: FilterRule = {
        kind: "filter",
        span: NOWHERE,
        insertAt: null,
        collect: null,
        action: { kind: "pass" },
        direction: "in",
        log: null,
        quick: true,
        on: [{ name: iface, span: NOWHERE }],
        inVia: [],
        outVia: [],
        routeTo: null,
        dupTo: null,
        replyTo: null,
        fastroute: false,
        family,
        familyImplied: true,
        tos: null,
        ttl: null,
        proto: { kind: "number", number: e.proto === "tcp" ? 6 : 17 },
        all: false,
        from: { negated: false, address: src === null ? { kind: "any" } : cidr(src, family), port: null },
        to: { negated: false, address: host(e.target, family), port },
        expression: null,
        with: [],
        flags: e.proto === "tcp" ? { set: 0x02, mask: 0x3f } : null,
        icmp: null,
        keepState: {
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
        },
        keepFrags: null,
        head: null,
        group: null,
        setTag: null,
        matchTag: null,
        pps: null,
        comment: null,
        ruleTtl: null,
      };
      out.push({ comment: i === 0 ? exposureComment(e) : null, rule });
    });
  }
  return out;
}

function render<T>(items: { comment: string | null; rule: T }[], print: (r: T) => string): string {
  const lines: string[] = [];
  for (const { comment, rule } of items) {
    if (comment !== null) lines.push(`# ${comment}`);
    lines.push(print(rule));
  }
  return lines.length === 0 ? "" : lines.join("\n") + "\n";
}

/** ipnat.rules text: each rule as the printer writes it (what `ipnat -Rnvf` would list). */
export function generateIpnat(model: FirewallModel): string {
  return render(ipnatRules(model), printNatRule);
}

/** ipf.rules text: each rule as the printer writes it (without ipf's `(!)` marks and `# count` notes). */
export function generateIpf(model: FirewallModel): string {
  return render(ipfRules(model), (r) => printFilterRule(r, PRINT));
}
