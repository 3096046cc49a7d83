import type { FirewallModel, ResolvedExposure } from "../../core/exposure.js";
import { exposureComment, formatRange } from "../../core/exposure.js";

/**
 * IPFilter rules for qjail's exposures, the howto's hand-written set-up made
 * from the model: the body of qjail's managed section in /etc/ipnat.rules
 * ({@link generateIpnat}) and in /etc/ipf.rules ({@link generateIpf}).
 *
 * Every value printed here was validated and canonicalised at the edge
 * (src/core/exposure.ts, src/core/hostconfig.ts): addresses went through
 * ipaddr.js, ports are numbers, interface names match a strict pattern.
 * The output is checked by parseIpnat/parseIpf in the tests and by `ipnat -n`
 * / `ipf -n` before loading.
 *
 * Packet order matters (freebsd-jail-host.md §5.3): inbound, ipnat's rdr runs
 * before the filter, so pass rules name the jail's address and port, never the
 * public port; outbound, the filter runs before map.
 */

/** `0/0` and `0/32` in ipnat are IPv4; IPv6 rules need the IPv6 spellings. */
function anyAddr(family: 4 | 6): string {
  return family === 4 ? "0/0" : "::0/0";
}
function ifaceAddr(family: 4 | 6): string {
  return family === 4 ? "0/32" : "0/128";
}
function hostCidr(address: string, family: 4 | 6): string {
  return `${address}/${family === 4 ? 32 : 128}`;
}

function publicIface(model: FirewallModel, e: ResolvedExposure): string {
  return e.on?.kind === "interface" ? e.on.name : model.host.extIf;
}

/** ipnat rules: map for each jail network, then one rdr per exposure (and source). */
export function generateIpnat(model: FirewallModel): string {
  const { host } = model;
  const out: string[] = [];
  const subnets = [host.jailSubnet4, host.jailSubnet6].filter((s): s is string => s !== undefined);
  if (subnets.length > 0)
    out.push(`# outbound: jails leave with ${host.extIf}'s current address (0/32 follows a dynamic address)`);
  for (const net of subnets) {
    const fam = net.includes(":") ? 6 : 4;
    out.push(`map ${host.extIf} ${net} -> ${ifaceAddr(fam)} portmap tcp/udp auto`);
    out.push(`map ${host.extIf} ${net} -> ${ifaceAddr(fam)}`);
  }
  for (const e of model.exposures) {
    out.push(`# ${exposureComment(e)}`);
    const iface = publicIface(model, e);
    const target = `${e.target} port ${e.jailPort.low}`;
    if (e.sources.length === 0) {
      const dst = e.on?.kind === "address" ? hostCidr(e.on.address, e.family) : anyAddr(e.family);
      out.push(`rdr ${iface} ${dst} port ${formatRange(e.public)} -> ${target} ${e.proto}`);
    } else {
      const dst = e.on?.kind === "address" ? hostCidr(e.on.address, e.family) : "any";
      const port =
        e.public.low === e.public.high ? `port = ${e.public.low}` : `port ${e.public.low}:${e.public.high}`;
      for (const src of e.sources)
        out.push(`rdr ${iface} from ${src} to ${dst} ${port} -> ${target} ${e.proto}`);
    }
  }
  return out.length === 0 ? "" : out.join("\n") + "\n";
}

/** ipf pass rules for the translated packets: jail address, jail port, `flags S keep state` for TCP. */
export function generateIpf(model: FirewallModel): string {
  const out: string[] = [];
  for (const e of model.exposures) {
    out.push(`# ${exposureComment(e)}`);
    const iface = publicIface(model, e);
    const port =
      e.jailPort.low === e.jailPort.high
        ? `port = ${e.jailPort.low}`
        : `port ${e.jailPort.low}:${e.jailPort.high}`;
    const state = e.proto === "tcp" ? "flags S keep state" : "keep state";
    for (const src of e.sources.length === 0 ? ["any"] : e.sources) {
      out.push(
        `pass in quick on ${iface} proto ${e.proto} from ${src} to ${hostCidr(e.target, e.family)} ${port} ${state}`,
      );
    }
  }
  return out.length === 0 ? "" : out.join("\n") + "\n";
}
