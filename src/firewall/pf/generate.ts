import type { FirewallModel, ResolvedExposure } from "../../core/exposure.js";
import { exposureComment } from "../../core/exposure.js";
import type { PfAddress, PfCompare, PfFamily, PfRule } from "./ast.js";
import { maskOfBits, parseV4Strict, parseV6 } from "./impl/address.js";
import { NO_IF_FLAGS } from "./impl/hosts.js";
import { printRule } from "./impl/print.js";
import {
  blankRule,
  IPPROTO_TCP,
  IPPROTO_UDP,
  NAT_PROXY_PORT_HIGH,
  NAT_PROXY_PORT_LOW,
  parseTcpFlags,
} from "./impl/rule.js";

/**
 * pf rules for qjail's exposures, loaded into qjail's own anchor
 * (`pfctl -a qjail/expose -f -`); the admin's pf.conf only needs the three
 * hook lines of {@link pfAnchorHooks}, once.
 *
 * The rules are built as pf rules ({@link PfRule}, the parser's tree) and
 * printed by the module's printer, so the text is what `pfctl -nv` prints
 * for it and parses back to the same rules:
 * - a separate `rdr` and a filter `pass`, never `rdr pass`, so the admin's
 *   block rules still see forwarded connections;
 * - the public side is `(ext_if)`, which pf keeps up to date when a DHCP
 *   address changes, and the outbound nat goes to `(ext_if:0)`, the first
 *   address without aliases;
 * - a `--from` list is written out one rule per source, as pfctl would
 *   expand it, so the rules in the file are the rules pf loads;
 * - every pass rule carries `label "qjail:PROTO/PUBLIC:JAIL"`: per-exposure
 *   counters in `pfctl -sl`, and labels keep pfctl's optimizer from merging
 *   or dropping rules (pf.conf(5): labels are optimization barriers);
 * - anchor text cannot see pf.conf's macros, so values are literal.
 *
 * Hairpin: an extra `rdr on lo0` per exposure. On a non-VNET host, a
 * connection from the host or a jail to the public address is local and
 * travels over lo0, where this rdr catches it; the reply is local too and pf's
 * floating state translates it back. It does nothing if pf.conf has
 * `set skip on lo0` (see {@link hairpinNote}).
 */

export const PF_LOOPBACK = "lo0";

export function pfAnchorPath(model: FirewallModel): string {
  return `${model.host.pfAnchor}/expose`;
}

/** The lines the admin adds to pf.conf once: translation hooks in the translation section, the filter hook at the end. */
export function pfAnchorHooks(anchor: string): { translation: string[]; filter: string[] } {
  return {
    translation: [`nat-anchor "${anchor}/*"`, `rdr-anchor "${anchor}/*"`],
    filter: [`anchor "${anchor}/*"`],
  };
}

/** pf labels hold at most 63 characters. */
const LABEL_MAX = 63;

function fam(f: 4 | 6): PfFamily {
  return f === 4 ? "inet" : "inet6";
}

/** A literal address or network (`10.0.0.0/24`, `fd00::3`) as a pf address. */
function literal(text: string): PfAddress {
  const [a, p] = text.split("/");
  const v4 = parseV4Strict(a ?? "");
  const bits = p === undefined ? (v4 !== null ? 32 : 128) : Number(p);
  const addr = v4 ?? parseV6(a ?? "")?.addr;
  if (addr === undefined) throw new Error(`not an address: ${text}`);
  const mask = maskOfBits(bits);
  return { type: "addrmask", addr: addr & mask, mask };
}

/** `(ifname)` or `(ifname:0)`; the mask is what pfctl leaves after checking it against the family. */
function dynamic(ifname: string, family: 4 | 6, noalias = false): PfAddress {
  return {
    type: "dynif",
    ifname,
    flags: { ...NO_IF_FLAGS, noalias },
    mask: maskOfBits(family === 4 ? 32 : 128),
  };
}

function ports(low: number, high: number): PfCompare {
  return low === high ? { op: "=", a: low, b: low } : { op: ":", a: low, b: high };
}

function protoNumber(p: "tcp" | "udp"): number {
  return p === "tcp" ? IPPROTO_TCP : IPPROTO_UDP;
}

/** The label of an exposure's pass rules (status and doctor read its counters by it). */
export function passLabel(e: ResolvedExposure): string {
  const pub = e.public.low === e.public.high ? `${e.public.low}` : `${e.public.low}-${e.public.high}`;
  const head = `qjail:${e.proto}/${pub}:`;
  return head + e.jail.slice(0, LABEL_MAX - head.length);
}

function publicSide(model: FirewallModel, e: ResolvedExposure): { iface: string; dst: PfAddress } {
  if (e.on?.kind === "address") return { iface: model.host.extIf, dst: literal(e.on.address) };
  const iface = e.on?.kind === "interface" ? e.on.name : model.host.extIf;
  return { iface, dst: dynamic(iface, e.family) };
}

/** One source of the exposure's `--from` list, or any. */
function sourcesOf(e: ResolvedExposure): (PfAddress | null)[] {
  return e.sources.length === 0 ? [null] : e.sources.map(literal);
}

/** The outbound nat for one jail network: `nat on EXT inet from NET to any -> (EXT:0)`. */
export function pfNatRule(extIf: string, network: string): PfRule {
  const family = network.includes(":") ? 6 : 4;
  const r = blankRule("nat");
  r.interface = { name: extIf, not: false };
  r.af = fam(family);
  r.src.address = literal(network);
  r.pool = {
    addresses: [{ address: dynamic(extIf, family, true), ifname: null }],
    type: "none",
    sticky: false,
    key: null,
    proxyPort: [NAT_PROXY_PORT_LOW, NAT_PROXY_PORT_HIGH],
  };
  return r;
}

/** `rdr on IF FAMILY proto P from SRC to DST port PUBLIC -> TARGET port JAIL[:*]`, one per source. */
export function pfRdrRules(iface: string, e: ResolvedExposure, dst: PfAddress): PfRule[] {
  return sourcesOf(e).map((src) => {
    const r = blankRule("rdr");
    r.interface = { name: iface, not: false };
    r.af = fam(e.family);
    r.proto = protoNumber(e.proto);
    if (src) r.src.address = src;
    r.dst = { address: dst, neg: false, port: ports(e.public.low, e.public.high) };
    // pfctl keeps the second port 0 for a single target port (`port 22`).
    const high = e.public.high === e.public.low ? 0 : e.jailPort.low + (e.public.high - e.public.low);
    r.pool = {
      addresses: [{ address: literal(e.target), ifname: null }],
      type: "none",
      sticky: false,
      key: null,
      proxyPort: [e.jailPort.low, high],
    };
    return r;
  });
}

/** `pass in on IF FAMILY proto P from SRC to TARGET port JAIL flags S/SA keep state label "…"`, one per source. */
export function pfPassRules(iface: string, e: ResolvedExposure): PfRule[] {
  return sourcesOf(e).map((src) => {
    const r = blankRule("pass");
    r.direction = "in";
    r.interface = { name: iface, not: false };
    r.af = fam(e.family);
    r.proto = protoNumber(e.proto);
    if (src) r.src.address = src;
    r.dst = { address: literal(e.target), neg: false, port: ports(e.jailPort.low, e.jailPort.high) };
    r.keepState = "keep";
    if (e.proto === "tcp") {
      r.flags = parseTcpFlags("S");
      r.flagset = parseTcpFlags("SA");
    }
    r.label = passLabel(e);
    return r;
  });
}

export interface PfAnchorBlock {
  comment: string | null;
  rules: PfRule[];
}

/** The anchor's contents as rule blocks: nat, then each exposure's rdr rules, then each exposure's pass rules. */
export function pfAnchorRules(model: FirewallModel): PfAnchorBlock[] {
  const { host } = model;
  const blocks: PfAnchorBlock[] = [];
  const nat: PfRule[] = [];
  for (const net of [host.jailSubnet4, host.jailSubnet6])
    if (net !== undefined) nat.push(pfNatRule(host.extIf, net));
  if (nat.length > 0) blocks.push({ comment: null, rules: nat });
  const passes: PfAnchorBlock[] = [];
  for (const e of model.exposures) {
    const side = publicSide(model, e);
    const comment = exposureComment(e);
    blocks.push({
      comment,
      rules: [...pfRdrRules(side.iface, e, side.dst), ...pfRdrRules(PF_LOOPBACK, e, side.dst)],
    });
    passes.push({ comment, rules: [...pfPassRules(side.iface, e), ...pfPassRules(PF_LOOPBACK, e)] });
  }
  return [...blocks, ...passes];
}

/** The anchor's whole text: translation rules first, then filter rules, as pf requires; one rule per line as pfctl prints it. */
export function generatePf(model: FirewallModel): string {
  const lines: string[] = [];
  for (const b of pfAnchorRules(model)) {
    if (b.comment !== null) lines.push(`# ${b.comment}`);
    for (const r of b.rules) lines.push(printRule(r));
  }
  return lines.length === 0 ? "" : lines.join("\n") + "\n";
}

export function hairpinNote(): { works: boolean; why: string } {
  return {
    works: true,
    why: "an extra 'rdr on lo0' catches connections from the host and its jails to the public address; it has no effect if pf.conf has 'set skip on lo0'",
  };
}
