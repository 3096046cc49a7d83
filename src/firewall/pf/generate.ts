import type { FirewallModel, ResolvedExposure } from "../../core/exposure.js";
import { exposureComment } from "../../core/exposure.js";

/**
 * pf rules for qjail's exposures, loaded into qjail's own anchor
 * (`pfctl -a qjail/expose -f -`); the admin's pf.conf only needs the three
 * hook lines of {@link pfAnchorHooks}, once.
 *
 * - a separate `rdr` and a filter `pass`, never `rdr pass`, so the admin's
 *   block rules still see forwarded connections (Bastille's bug until 2026);
 * - the public side is `(ext_if)`, which pf keeps up to date when a DHCP
 *   address changes, and the outbound nat goes to `(ext_if:0)`, the first
 *   address without aliases;
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

function fam(f: 4 | 6): string {
  return f === 4 ? "inet" : "inet6";
}

function sourceList(sources: readonly string[]): string {
  if (sources.length === 0) return "any";
  if (sources.length === 1) return sources[0] as string;
  return `{ ${sources.join(" ")} }`;
}

function portText(low: number, high: number): string {
  return low === high ? String(low) : `${low}:${high}`;
}

function publicSide(model: FirewallModel, e: ResolvedExposure): { iface: string; dst: string } {
  if (e.on?.kind === "address") return { iface: model.host.extIf, dst: e.on.address };
  const iface = e.on?.kind === "interface" ? e.on.name : model.host.extIf;
  return { iface, dst: `(${iface})` };
}

function rdrLine(iface: string, e: ResolvedExposure, dst: string): string {
  const to = e.jailPort.low === e.jailPort.high ? String(e.jailPort.low) : `${e.jailPort.low}:*`;
  return `rdr on ${iface} ${fam(e.family)} proto ${e.proto} from ${sourceList(e.sources)} to ${dst} port ${portText(e.public.low, e.public.high)} -> ${e.target} port ${to}`;
}

function passLine(iface: string, e: ResolvedExposure): string {
  const state = e.proto === "tcp" ? "flags S/SA keep state" : "keep state";
  return `pass in on ${iface} ${fam(e.family)} proto ${e.proto} from ${sourceList(e.sources)} to ${e.target} port ${portText(e.jailPort.low, e.jailPort.high)} ${state}`;
}

/** The anchor's whole text: translation rules first, then filter rules, as pf requires. */
export function generatePf(model: FirewallModel): string {
  const { host } = model;
  const nat: string[] = [];
  const rdr: string[] = [];
  const pass: string[] = [];
  for (const net of [host.jailSubnet4, host.jailSubnet6]) {
    if (net === undefined) continue;
    nat.push(
      `nat on ${host.extIf} ${fam(net.includes(":") ? 6 : 4)} from ${net} to any -> (${host.extIf}:0)`,
    );
  }
  for (const e of model.exposures) {
    const side = publicSide(model, e);
    rdr.push(`# ${exposureComment(e)}`);
    rdr.push(rdrLine(side.iface, e, side.dst));
    rdr.push(rdrLine(PF_LOOPBACK, e, side.dst));
    pass.push(`# ${exposureComment(e)}`);
    pass.push(passLine(side.iface, e));
    pass.push(passLine(PF_LOOPBACK, e));
  }
  const lines = [...nat, ...rdr, ...pass];
  return lines.length === 0 ? "" : lines.join("\n") + "\n";
}

export function hairpinNote(): { works: boolean; why: string } {
  return {
    works: true,
    why: "an extra 'rdr on lo0' catches connections from the host and its jails to the public address; it has no effect if pf.conf has 'set skip on lo0'",
  };
}
