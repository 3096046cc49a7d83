/**
 * pfctl's printer: one rule as `pfctl -nv` prints it (print_rule and its
 * helpers in pfctl_parser.c and pf_print_state.c), table definitions, and a
 * whole ruleset in load order with inline anchors indented. The text it
 * makes parses back to the same rules (the corpus's selfpf runs check it).
 */
import type { PfAddress, PfAnchor, PfCompare, PfPool, PfRule, PfRulesetKind, PfTable } from "../ast.js";
import { RULESET_ORDER } from "../ast.js";
import { bitsOfMask, ntop, type AddressFamily } from "./address.js";
import { icmpCodeName, icmpTypeName, protocolName, serviceName, TIMEOUT_SLOTS } from "./names.js";
import { IPPROTO_TCP, NAT_PROXY_PORT_HIGH, NAT_PROXY_PORT_LOW, tcpFlagsText } from "./rule.js";

const UID_MAX = 0xffffffff;

function famNum(af: PfRule["af"] | 0 | AddressFamily): AddressFamily | 0 {
  if (af === "inet" || af === 4) return 4;
  if (af === "inet6" || af === 6) return 6;
  return 0;
}

/** print_addr(): an address in the family of the rule that holds it. */
export function printAddress(a: PfAddress, af: PfRule["af"] | AddressFamily | 0): string {
  const fam = famNum(af);
  let s: string;
  let mask: bigint | null = null;
  let zero = false;
  switch (a.type) {
    case "dynif": {
      s = `(${a.ifname}`;
      if (a.flags.network) s += ":network";
      if (a.flags.broadcast) s += ":broadcast";
      if (a.flags.peer) s += ":peer";
      if (a.flags.noalias) s += ":0";
      s += ")";
      mask = a.mask;
      break;
    }
    case "table":
      return `<${a.name}>`;
    case "range":
      return `${ntop(fam, a.addr) ?? "?"} - ${ntop(fam, a.end) ?? "?"}`;
    case "addrmask":
      zero = a.addr === 0n && a.mask === 0n;
      s = zero ? "any" : (ntop(fam, a.addr) ?? "?");
      mask = a.mask;
      break;
    case "noroute":
      return "no-route";
    case "urpf-failed":
      return "urpf-failed";
  }
  if (!zero && mask !== null) {
    const bits = bitsOfMask(mask);
    if (bits !== (fam === 4 ? 32 : 128)) s += `/${bits}`;
  }
  return s;
}

function printOp(op: PfCompare["op"], a1: string, a2: string): string {
  switch (op) {
    case "><":
      return ` ${a1} >< ${a2}`;
    case "<>":
      return ` ${a1} <> ${a2}`;
    case ":":
      return ` ${a1}:${a2}`;
    default:
      return ` ${op} ${a1}`;
  }
}

function printPort(p: PfCompare, proto: number | null): string {
  const name = p.op === "=" || p.op === "!=" ? serviceName(p.a, proto === IPPROTO_TCP ? "tcp" : "udp") : null;
  return " port" + printOp(p.op, name ?? String(p.a), String(p.b));
}

function printUgid(p: PfCompare, what: string): string {
  const a1 = p.a === UID_MAX && (p.op === "=" || p.op === "!=") ? "unknown" : String(p.a);
  return ` ${what}` + printOp(p.op, a1, String(p.b));
}

function isAny(a: PfAddress): boolean {
  return a.type === "addrmask" && a.addr === 0n && a.mask === 0n;
}

function printFromTo(r: PfRule): string {
  if (
    isAny(r.src.address) &&
    isAny(r.dst.address) &&
    !r.src.neg &&
    !r.dst.neg &&
    !r.src.port &&
    !r.dst.port &&
    r.os === null
  )
    return " all";
  let s = " from ";
  if (r.src.neg) s += "! ";
  s += printAddress(r.src.address, r.af);
  if (r.src.port) s += printPort(r.src.port, r.proto);
  if (r.os !== null) s += ` os "${r.os}"`;
  s += " to ";
  if (r.dst.neg) s += "! ";
  s += printAddress(r.dst.address, r.af);
  if (r.dst.port) s += printPort(r.dst.port, r.proto);
  return s;
}

/** print_pool(): a translation or routing pool and its options. */
export function printPool(pool: PfPool, af: PfRule["af"], kind: "nat" | "rdr" | "binat" | "route"): string {
  let s = "";
  const many = pool.addresses.length > 1;
  if (many) s += "{ ";
  pool.addresses.forEach((pa, i) => {
    if (kind === "route") {
      const a = pa.address;
      const zero =
        a.type === "addrmask" &&
        (famNum(af) === 4 ? a.addr >> 96n === 0n : famNum(af) === 6 && a.addr === 0n);
      if (zero) s += pa.ifname ?? "";
      else s += `(${pa.ifname ?? ""} ${printAddress(pa.address, af)})`;
    } else s += printAddress(pa.address, af);
    if (i < pool.addresses.length - 1) s += ", ";
    else if (many) s += " }";
  });
  const [p1, p2] = pool.proxyPort;
  if (kind === "nat") {
    if ((p1 !== NAT_PROXY_PORT_LOW || p2 !== NAT_PROXY_PORT_HIGH) && (p1 !== 0 || p2 !== 0))
      s += p1 === p2 ? ` port ${p1}` : ` port ${p1}:${p2}`;
  } else if (kind === "rdr") {
    if (p1) {
      s += ` port ${p1}`;
      if (p2 && p2 !== p1) s += `:${p2}`;
    }
  }
  switch (pool.type) {
    case "bitmask":
      s += " bitmask";
      break;
    case "random":
      s += " random";
      break;
    case "source-hash":
      s += ` source-hash 0x${pool.key ?? "00000000000000000000000000000000"}`;
      break;
    case "round-robin":
      s += " round-robin";
      break;
    default:
      break;
  }
  if (pool.sticky) s += " sticky-address";
  if (kind === "nat" && p1 === 0 && p2 === 0) s += " static-port";
  return s;
}

const ACTION_TEXT: Record<PfRule["action"], string> = {
  pass: "pass",
  block: "block",
  scrub: "scrub",
  "no scrub": "no scrub",
  nat: "nat",
  "no nat": "no nat",
  binat: "binat",
  "no binat": "no binat",
  rdr: "rdr",
  "no rdr": "no rdr",
};

function anchorKeyword(action: PfRule["action"]): string {
  switch (action) {
    case "nat":
    case "no nat":
      return "nat-anchor";
    case "binat":
    case "no binat":
      return "binat-anchor";
    case "rdr":
    case "no rdr":
      return "rdr-anchor";
    default:
      return "anchor";
  }
}

function returnIcmp(code: [number, number], v6: boolean): string {
  return icmpCodeName(code[0], code[1], v6) ?? String(code[1]);
}

/** pfctl's "%f" of the probability, trailing zeros (and a trailing dot) removed. */
function probabilityText(prob: number): string {
  let buf = ((prob * 100.0) / 4294967296.0).toFixed(6);
  for (let i = buf.length - 1; i > 0; i--) {
    if (buf.charAt(i) === "0") buf = buf.slice(0, i);
    else {
      if (buf.charAt(i) === ".") buf = buf.slice(0, i);
      break;
    }
  }
  return buf;
}

function printStateOptions(r: PfRule): string {
  const o = r.state;
  const parts: string[] = [];
  if (o.max) parts.push(`max ${o.max}`);
  if (o.noSync) parts.push("no-sync");
  if (o.sourceTrack) parts.push(`source-track ${o.sourceTrack}`);
  if (o.maxSrcStates) parts.push(`max-src-states ${o.maxSrcStates}`);
  if (o.maxSrcConn) parts.push(`max-src-conn ${o.maxSrcConn}`);
  if (o.maxSrcConnRate) parts.push(`max-src-conn-rate ${o.maxSrcConnRate.limit}/${o.maxSrcConnRate.seconds}`);
  if (o.maxSrcNodes) parts.push(`max-src-nodes ${o.maxSrcNodes}`);
  let overload = "";
  if (o.overload) {
    overload = `overload <${o.overload.table}>`;
    if (o.overload.flush) overload += " flush";
    if (o.overload.global) overload += " global";
  }
  const rest: string[] = [];
  if (o.ifBound) rest.push("if-bound");
  if (o.sloppy) rest.push("sloppy");
  for (let i = 0; i < TIMEOUT_SLOTS.length; i++) {
    const v = o.timeouts.get(i);
    if (v) rest.push(`${TIMEOUT_SLOTS[i]} ${v}`);
  }
  if (parts.length === 0 && overload === "" && rest.length === 0) return "";
  // pfctl does not put a comma after the overload option itself.
  let s = parts.join(", ");
  if (overload) s += (s ? ", " : "") + overload;
  if (rest.length > 0) s += (s ? ", " : "") + rest.join(", ");
  return ` (${s})`;
}

/**
 * print_rule(): one rule, without a trailing newline. With `anchorPaths`, an
 * anchor call shows the path it calls (`anchor "qjail/*"`) where pfctl
 * prints only the part after the last slash (`anchor "/*"`).
 */
export function printRule(r: PfRule, opts: { anchorPaths?: boolean } = {}): string {
  const anchorName = r.anchor ? (opts.anchorPaths && !r.anchor.inline ? r.anchor.path : r.anchor.name) : "";
  let s: string;
  if (anchorName)
    s = anchorName.startsWith("_") ? anchorKeyword(r.action) : `${anchorKeyword(r.action)} "${anchorName}"`;
  else {
    s = ACTION_TEXT[r.action];
    if (r.natpass) s += " pass";
  }
  if (r.action === "block") {
    const b = r.block;
    if (b.kind === "return") s += " return";
    else if (b.kind === "return-rst") s += b.ttl ? ` return-rst(ttl ${b.ttl})` : " return-rst";
    else if (b.kind === "return-icmp") {
      if (r.af === "inet") s += ` return-icmp(${returnIcmp(b.icmp, false)})`;
      else if (r.af === "inet6") s += ` return-icmp6(${returnIcmp(b.icmp6, true)})`;
      else s += ` return-icmp(${returnIcmp(b.icmp, false)}, ${returnIcmp(b.icmp6, true)})`;
    } else s += " drop";
  }
  if (r.direction) s += ` ${r.direction}`;
  if (r.log) {
    s += " log";
    const opts: string[] = [];
    if (r.log.all) opts.push("all");
    if (r.log.user) opts.push("user");
    if (r.log.to) opts.push(`to pflog${r.log.to}`);
    if (opts.length > 0) s += ` (${opts.join(", ")})`;
  }
  if (r.quick) s += " quick";
  if (r.interface) s += r.interface.not ? ` on ! ${r.interface.name}` : ` on ${r.interface.name}`;
  if (r.route) s += ` ${r.route.type} ${printPool(r.route.pool, r.af, "route")}`;
  if (r.af) s += ` ${r.af}`;
  if (r.proto !== null) s += ` proto ${protocolName(r.proto) ?? String(r.proto)}`;
  s += printFromTo(r);
  if (r.uid) s += printUgid(r.uid, "user");
  if (r.gid) s += printUgid(r.gid, "group");
  if (r.flags || r.flagset) s += ` flags ${tcpFlagsText(r.flags)}/${tcpFlagsText(r.flagset)}`;
  else if (
    r.action === "pass" &&
    (r.proto === null || r.proto === IPPROTO_TCP) &&
    !r.fragment &&
    !anchorName &&
    r.keepState
  )
    s += " flags any";
  if (r.icmpType !== null) {
    const v6 = r.af === "inet6";
    s += v6 ? " icmp6-type" : " icmp-type";
    s += ` ${icmpTypeName(r.icmpType, v6) ?? String(r.icmpType)}`;
    if (r.icmpCode !== null) s += ` code ${icmpCodeName(r.icmpType, r.icmpCode, v6) ?? String(r.icmpCode)}`;
  }
  if (r.tos) s += ` tos 0x${r.tos.toString(16).padStart(2, "0")}`;
  if (r.prio !== null) s += ` prio ${r.prio}`;
  if (r.setPrio) {
    s += " set (";
    s += r.setPrio[0] === r.setPrio[1] ? ` prio ${r.setPrio[0]}` : ` prio(${r.setPrio[0]}, ${r.setPrio[1]})`;
    s += " )";
  }
  if (!r.keepState && r.action === "pass" && !anchorName) s += " no state";
  else if (r.keepState === "keep") s += " keep state";
  else if (r.keepState === "modulate") s += " modulate state";
  else if (r.keepState === "synproxy") s += " synproxy state";
  if (r.probability) s += ` probability ${probabilityText(r.probability)}%`;
  s += printStateOptions(r);
  if (r.fragment) s += " fragment";
  if (r.scrub.noDf) s += " no-df";
  if (r.scrub.randomId) s += " random-id";
  if (r.scrub.minTtl) s += ` min-ttl ${r.scrub.minTtl}`;
  if (r.scrub.maxMss) s += ` max-mss ${r.scrub.maxMss}`;
  if (r.scrub.setTos !== null) s += ` set-tos 0x${r.scrub.setTos.toString(16).padStart(2, "0")}`;
  if (r.allowOpts) s += " allow-opts";
  if (r.action === "scrub") {
    if (r.scrub.reassembleTcp) s += " reassemble tcp";
    s += " fragment reassemble";
  }
  if (r.label) s += ` label "${r.label}"`;
  if (r.queue && r.priorityQueue) s += ` queue(${r.queue}, ${r.priorityQueue})`;
  else if (r.queue) s += ` queue ${r.queue}`;
  if (r.tag) s += ` tag ${r.tag}`;
  if (r.tagged) {
    if (r.taggedNot) s += " !";
    s += ` tagged ${r.tagged}`;
  }
  if (r.rtable !== -1) s += ` rtable ${r.rtable}`;
  if (r.divertPort) s += ` divert-to ${r.divertPort}`;
  if (!anchorName && r.pool && (r.action === "nat" || r.action === "binat" || r.action === "rdr"))
    s += ` -> ${printPool(r.pool, r.af, r.action)}`;
  return s;
}

/** print_tabledef(): one `table` line, newline included. */
export function printTable(t: PfTable): string {
  let s = `table <${t.name}>`;
  if (t.const) s += " const";
  if (t.persist) s += " persist";
  if (t.counters) s += " counters";
  let i = 0;
  while (i < t.items.length) {
    const item = t.items[i] as PfTable["items"][number];
    if (item.kind === "file") {
      s += ` file "${item.path}"`;
      i++;
      continue;
    }
    s += " {";
    // Consecutive address lists print as one.
    while (i < t.items.length) {
      const cur = t.items[i] as PfTable["items"][number];
      if (cur.kind !== "addresses") break;
      for (const e of cur.addresses) s += (e.neg ? " !" : " ") + printAddress(e.address, e.family);
      i++;
    }
    s += " }";
  }
  if (t.initAddr && t.items.length === 0) s += " { }";
  return s + "\n";
}

/**
 * The rules of one ruleset kind as pfctl_load_ruleset() prints them under
 * -v: each rule on its line, an inline anchor's rules inside `{ … }`
 * indented two spaces per level.
 */
export function printRuleset(
  rules: readonly PfRule[],
  kind: PfRulesetKind,
  depth = 0,
  seen = new Set<PfAnchor>(),
): string {
  let out = "";
  for (const r of rules) {
    out += "  ".repeat(depth) + printRule(r);
    if (r.anchor) {
      const inner = seen.has(r.anchor) ? [] : r.anchor.ruleset[kind];
      seen.add(r.anchor);
      if (inner.length > 0) {
        out += " {\n" + printRuleset(inner, kind, depth + 1, seen) + "  ".repeat(depth) + "}\n";
      } else out += "\n";
    } else out += "\n";
  }
  return out;
}

/** Every rule of an anchor in load order: scrub, nat, rdr, binat, filter. */
export function printAllRules(anchor: PfAnchor): string {
  let out = "";
  for (const kind of RULESET_ORDER) {
    const seen = new Set<PfAnchor>();
    out += printRuleset(anchor.ruleset[kind], kind, 0, seen);
  }
  return out;
}
