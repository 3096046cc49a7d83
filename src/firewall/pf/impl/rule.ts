/**
 * Rule construction helpers shared by the parser, the generator and tests:
 * an empty rule with pf's defaults, a deep copy, and the numeric constants
 * pfctl uses for TCP flags and protocols.
 */
import type { PfAction, PfAnchor, PfRule, PfRuleset, PfStateOptions, SourceSpan } from "../ast.js";

export const IPPROTO_ICMP = 1;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
export const IPPROTO_ICMPV6 = 58;

/** pfctl's tcpflags string: bit i is tcpflags[i]. */
export const TCP_FLAG_LETTERS = "FSRPAUEW";

/** pfctl's parse_flags(): letters to a bit set; an empty set means all flags. -1 on a bad letter. */
export function parseTcpFlags(text: string): number {
  let f = 0;
  for (const ch of text) {
    const i = TCP_FLAG_LETTERS.indexOf(ch);
    if (i < 0) return -1;
    f |= 1 << i;
  }
  return f === 0 ? 0xff : f;
}

export function tcpFlagsText(f: number): string {
  let s = "";
  for (let i = 0; i < TCP_FLAG_LETTERS.length; i++) if (f & (1 << i)) s += TCP_FLAG_LETTERS.charAt(i);
  return s;
}

export const NAT_PROXY_PORT_LOW = 50001;
export const NAT_PROXY_PORT_HIGH = 65535;

export const NO_SPAN: SourceSpan = { offset: 0, length: 0, line: 0, column: 0 };

export function emptyStateOptions(): PfStateOptions {
  return {
    max: 0,
    noSync: false,
    sourceTrack: null,
    maxSrcStates: 0,
    maxSrcConn: 0,
    maxSrcConnRate: null,
    maxSrcNodes: 0,
    overload: null,
    ifBound: false,
    sloppy: false,
    timeouts: new Map(),
  };
}

export function emptyRuleset(): PfRuleset {
  return { scrub: [], nat: [], rdr: [], binat: [], filter: [] };
}

export function newAnchor(name: string, path: string, inline: boolean): PfAnchor {
  return { name, path, inline, ruleset: emptyRuleset() };
}

/** A rule with nothing set, as pfctl's memset(&r, 0, …) leaves it. */
export function blankRule(action: PfAction, span: SourceSpan = NO_SPAN): PfRule {
  return {
    action,
    natpass: false,
    direction: null,
    log: null,
    quick: false,
    interface: null,
    route: null,
    af: null,
    proto: null,
    src: { address: { type: "addrmask", addr: 0n, mask: 0n }, neg: false, port: null },
    dst: { address: { type: "addrmask", addr: 0n, mask: 0n }, neg: false, port: null },
    os: null,
    uid: null,
    gid: null,
    flags: 0,
    flagset: 0,
    icmpType: null,
    icmpCode: null,
    tos: 0,
    prio: null,
    setPrio: null,
    keepState: null,
    state: emptyStateOptions(),
    probability: 0,
    block: { kind: "drop" },
    fragment: false,
    allowOpts: false,
    scrub: { noDf: false, randomId: false, minTtl: 0, maxMss: 0, setTos: null, reassembleTcp: false },
    label: "",
    queue: null,
    priorityQueue: null,
    tag: "",
    tagged: "",
    taggedNot: false,
    rtable: -1,
    divertPort: 0,
    pool: null,
    anchor: null,
    nr: 0,
    span,
  };
}

/** A copy that shares nothing mutable with the original (the anchor it calls is shared on purpose). */
export function cloneRule(r: PfRule): PfRule {
  return {
    ...r,
    log: r.log ? { ...r.log } : null,
    interface: r.interface ? { ...r.interface } : null,
    route: r.route
      ? {
          type: r.route.type,
          pool: { ...r.route.pool, addresses: r.route.pool.addresses.map((a) => ({ ...a })) },
        }
      : null,
    src: { ...r.src, port: r.src.port ? { ...r.src.port } : null },
    dst: { ...r.dst, port: r.dst.port ? { ...r.dst.port } : null },
    uid: r.uid ? { ...r.uid } : null,
    gid: r.gid ? { ...r.gid } : null,
    setPrio: r.setPrio ? [r.setPrio[0], r.setPrio[1]] : null,
    state: {
      ...r.state,
      maxSrcConnRate: r.state.maxSrcConnRate ? { ...r.state.maxSrcConnRate } : null,
      overload: r.state.overload ? { ...r.state.overload } : null,
      timeouts: new Map(r.state.timeouts),
    },
    block: { ...r.block } as PfRule["block"],
    scrub: { ...r.scrub },
    pool: r.pool ? { ...r.pool, addresses: r.pool.addresses.map((a) => ({ ...a })) } : null,
  };
}

/** Which ruleset a rule of this action goes into (pf_get_ruleset_number). */
export function rulesetOf(action: PfAction): "scrub" | "nat" | "rdr" | "binat" | "filter" {
  switch (action) {
    case "scrub":
    case "no scrub":
      return "scrub";
    case "nat":
    case "no nat":
      return "nat";
    case "rdr":
    case "no rdr":
      return "rdr";
    case "binat":
    case "no binat":
      return "binat";
    default:
      return "filter";
  }
}
