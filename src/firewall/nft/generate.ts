import type { FirewallModel, ResolvedExposure } from "../../core/exposure.js";
import { exposureComment } from "../../core/exposure.js";

/**
 * nftables rules for qjail's exposures on the Linux backend: one table of
 * qjail's own, `table inet qjail`, so the admin's tables are never touched and
 * a reload is one transaction that deletes and recreates it
 * ({@link nftTransaction}).
 *
 * - prerouting: DNAT for packets arriving on ext_if to any local address
 *   (`fib daddr type local`), so a DHCP address change needs no reload; with
 *   `--on ADDRESS`, that address only;
 * - hairpin: the same DNAT for packets from the jail bridge to a local
 *   address outside the jail subnet, and in the output chain for the host's
 *   own connections (not to 127/8 or ::1, which cannot be routed to a jail);
 *   hairpinned jail→jail connections are masqueraded to the bridge address so
 *   the reply comes back through the host instead of straight over the bridge;
 * - postrouting: masquerade for the jail subnet leaving ext_if (ipnat's map);
 * - forward: established traffic, then the exposed jail ports (after DNAT,
 *   with their --from sources), then other new connections into the jail
 *   bridge are dropped.
 *
 * Every DNAT rule and every forward accept rule carries a `counter` and the
 * owning jail's name as its comment, so `qjail status` can report hits per
 * exposure (src/platform/linux/parsers/nft.ts {@link nftExposureCounter}).
 * NAT chains see only the first packet of a connection, so a DNAT counter
 * counts connections; the forward accept rule sits after the established
 * rule, so it too counts only a connection's packets before the reply.
 */

export const NFT_FAMILY = "inet";
export const NFT_TABLE = "qjail";

function fam(f: 4 | 6): "ip" | "ip6" {
  return f === 4 ? "ip" : "ip6";
}

function set(items: readonly string[]): string {
  return items.length === 1 ? (items[0] as string) : `{ ${items.join(", ")} }`;
}

function portRange(low: number, high: number): string {
  return low === high ? String(low) : `${low}-${high}`;
}

function dnatTarget(e: ResolvedExposure, publicPort: number | undefined): string {
  const addr = e.family === 4 ? e.target : `[${e.target}]`;
  if (publicPort === undefined) {
    // Public and jail ranges are the same ports: keep the destination port.
    if (
      e.public.low === e.jailPort.low &&
      e.public.high === e.jailPort.high &&
      e.public.low !== e.public.high
    )
      return `dnat ${fam(e.family)} to ${addr}`;
    return `dnat ${fam(e.family)} to ${addr}:${e.jailPort.low}`;
  }
  return `dnat ${fam(e.family)} to ${addr}:${e.jailPort.low + (publicPort - e.public.low)}`;
}

/**
 * One DNAT rule per exposure, or per port when a range is shifted (nft's port
 * range DNAT picks any port of the range instead of keeping the offset).
 */
function dnatRules(prefix: string, e: ResolvedExposure): string[] {
  const src = e.sources.length > 0 ? `${fam(e.family)} saddr ${set(e.sources)} ` : "";
  const comment = ` comment "${e.jail}"`;
  const shifted = e.public.low !== e.public.high && e.public.low !== e.jailPort.low;
  if (!shifted)
    return [
      `${prefix}${src}${e.proto} dport ${portRange(e.public.low, e.public.high)} counter ${dnatTarget(e, undefined)}${comment}`,
    ];
  const out: string[] = [];
  for (let p = e.public.low; p <= e.public.high; p++)
    out.push(`${prefix}${src}${e.proto} dport ${p} counter ${dnatTarget(e, p)}${comment}`);
  return out;
}

function publicMatch(model: FirewallModel, e: ResolvedExposure): string {
  const iface = e.on?.kind === "interface" ? e.on.name : model.host.extIf;
  const dst =
    e.on?.kind === "address"
      ? `${fam(e.family)} daddr ${e.on.address}`
      : `meta nfproto ${e.family === 4 ? "ipv4" : "ipv6"} fib daddr type local`;
  return `iifname "${iface}" ${dst} `;
}

function jailSubnet(model: FirewallModel, f: 4 | 6): string | undefined {
  return f === 4 ? model.host.jailSubnet4 : model.host.jailSubnet6;
}

/** The table's text as `nft list table inet qjail` prints it (tabs, blank line between chains). */
export function generateNft(model: FirewallModel): string {
  const { host } = model;
  const pre: string[] = [];
  const output: string[] = [];
  const post: string[] = [];
  const fwd: string[] = ["ct state established,related accept"];
  for (const e of model.exposures) {
    pre.push(`# ${exposureComment(e)}`);
    pre.push(...dnatRules(publicMatch(model, e), e));
    // Hairpin from the jails: to a host address, not to the bridge's own subnet.
    const net = jailSubnet(model, e.family);
    const daddr =
      e.on?.kind === "address"
        ? `${fam(e.family)} daddr ${e.on.address}`
        : `${net ? `${fam(e.family)} daddr != ${net} ` : `meta nfproto ${e.family === 4 ? "ipv4" : "ipv6"} `}fib daddr type local`;
    pre.push(...dnatRules(`iifname "${host.jailIf}" ${daddr} `, e));
    const loop = e.family === 4 ? "127.0.0.0/8" : "::1";
    const outDaddr =
      e.on?.kind === "address"
        ? `${fam(e.family)} daddr ${e.on.address}`
        : `${fam(e.family)} daddr != ${loop} fib daddr type local`;
    output.push(...dnatRules(`${outDaddr} `, e));
    const src = e.sources.length > 0 ? ` ${fam(e.family)} saddr ${set(e.sources)}` : "";
    fwd.push(
      `oifname "${host.jailIf}" ct status dnat${src} ${fam(e.family)} daddr ${e.target} ${e.proto} dport ${portRange(e.jailPort.low, e.jailPort.high)} counter accept comment "${e.jail}"`,
    );
  }
  fwd.push(`oifname "${host.jailIf}" ct state new drop`);
  for (const f of [4, 6] as const) {
    const net = jailSubnet(model, f);
    if (net === undefined) continue;
    post.push(`oifname "${host.extIf}" ${fam(f)} saddr ${net} masquerade`);
    post.push(`oifname "${host.jailIf}" ${fam(f)} saddr ${net} ct status dnat masquerade`);
  }
  const chain = (name: string, head: string, rules: string[]): string =>
    [`\tchain ${name} {`, `\t\t${head}`, ...rules.map((r) => `\t\t${r}`), "\t}"].join("\n");
  return (
    [
      `table ${NFT_FAMILY} ${NFT_TABLE} {`,
      [
        chain("prerouting", "type nat hook prerouting priority dstnat; policy accept;", pre),
        chain("output", "type nat hook output priority -100; policy accept;", output),
        chain("postrouting", "type nat hook postrouting priority srcnat; policy accept;", post),
        chain("forward", "type filter hook forward priority filter; policy accept;", fwd),
      ].join("\n\n"),
      "}",
    ].join("\n") + "\n"
  );
}

/**
 * One `nft -f -` transaction: create the table if missing (so delete cannot
 * fail), delete it, create it with the new rules. The kernel applies all of it
 * or none of it.
 */
export function nftTransaction(tableText: string): string {
  return `table ${NFT_FAMILY} ${NFT_TABLE} {}\ndelete table ${NFT_FAMILY} ${NFT_TABLE}\n${tableText}`;
}

export function hairpinNote(): { works: boolean; why: string } {
  return {
    works: true,
    why: "DNAT in the output chain (host) and on the jail bridge with masquerade (other jails)",
  };
}
