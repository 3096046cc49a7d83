/**
 * Builders for hand-made IPFilter ASTs, so the evaluator is tested without
 * depending on the parser: `filter({action: block(), quick: true, ...})`.
 */
import type { CidrAddress, Endpoint, FilterRule, NatRule, PortMatch } from "../../../src/firewall/ipf/ast.js";

const span = (line: number) => ({ offset: 0, length: 0, line, column: 1 });

export function cidr(text: string): CidrAddress {
  const [address, bits] = text.split("/");
  const prefix = Number(bits ?? 32);
  const n = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  const mask = [24, 16, 8, 0].map((s) => (n >>> s) & 255).join(".");
  return { kind: "cidr", family: "inet", address: address ?? "0.0.0.0", mask, prefix };
}

export const any: Endpoint = { negated: false, address: { kind: "any" }, port: null };
export const to = (addr: string | null, port?: PortMatch): Endpoint => ({
  negated: false,
  address: addr === null ? { kind: "any" } : cidr(addr),
  port: port ?? null,
});
export const eq = (port: number): PortMatch => ({ kind: "compare", op: "=", port });

export function filter(over: Partial<FilterRule> & { line?: number }): FilterRule {
  const { line, ...rest } = over;
  return {
    kind: "filter",
    span: span(line ?? 1),
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
    from: any,
    to: any,
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
    ...rest,
  };
}

export const keepState = {
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

export const tcp = { kind: "number", number: 6 } as const;
export const natTcp = { kind: "number", number: 6, name: "tcp" } as const;
export const on = (name: string) => [{ name, span: span(1) }];

export function nat(over: Partial<NatRule> & { line?: number }): NatRule {
  const { line, ...rest } = over;
  return {
    kind: "map",
    span: span(line ?? 1),
    direction: null,
    interfaces: on("em0"),
    family: "inet",
    matchProto: null,
    match: { kind: "simple", address: { kind: "any" }, ports: null },
    target: { kind: "cidr", address: cidr("0.0.0.0/32") },
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
    ...rest,
  };
}
