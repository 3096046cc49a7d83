import type { HostService } from "../../core/hostconfig.js";

/**
 * qjail's guard tables on a Linux host: what keeps one jail from reaching
 * another jail or the host at the link layer, whatever `table inet qjail` (the
 * exposures, `fw sync`) holds and whether or not br_netfilter is loaded.
 * Loaded by the Linux backend at every jail start and stop from the running
 * jails (derived state: recomputed whole, never patched), as one transaction.
 *
 * - `table bridge qjail_guard`: each jail port (qjhN) may only send from its
 *   own MAC and its own addresses (Ethernet, ARP, IPv4, IPv6; a jail without
 *   an IPv6 address sends no IPv6 at all), never a router advertisement or a
 *   redirect, and neighbour advertisements only for its own addresses. With
 *   `config -k` / `-b 50` a jail's root can forge any frame; this is what
 *   keeps ARP/ND spoofing and source forgery off the bridge (review H4).
 *   Chain forward drops every frame from one jail port to another (review
 *   M2), whether or not br_netfilter is loaded, except the packets of a
 *   connection the host DNATed (an exposure reached through the host's public
 *   port, "hairpin"), which carry {@link HAIRPIN_MARK}. Why not bridge port
 *   isolation: with br_netfilter on, the kernel delivers a DNATed packet whose
 *   new destination sits on the same bridge by bridging it from the sending
 *   jail's port to the target's port (br_netfilter's "bridged DNAT"), which
 *   isolation drops with no exception possible; without br_netfilter the same
 *   connection is routed by the host and never crosses jail to jail.
 * - `table inet qjail_guard`, chain input: connections from the jail bridges
 *   to the host's own addresses (the gateway, the public address, any other)
 *   are dropped unless the host config's `host_services_for_jails` lists the
 *   port (review M3). Replies, ping and IPv6 neighbour discovery pass.
 *   Chain prerouting (after the DNAT of `table inet qjail`) sets
 *   {@link HAIRPIN_MARK} on packets from a jail bridge that belong to a DNATed
 *   connection, both directions. A jail cannot set the mark itself: the
 *   kernel clears it when a packet leaves the jail's network namespace.
 */

/** The packet-mark bit that lets a hairpinned (host-DNATed) packet cross from one jail port to another. */
export const HAIRPIN_MARK = "0x00100000";

/** The comment of the bridge rule that drops jail-to-jail frames (doctor looks for it). */
export const JAIL_TO_JAIL = "jail to jail";

export const GUARD_TABLE = "qjail_guard";

export interface GuardPort {
  /** Host side of the jail's veth (qjhN). */
  hostIf: string;
  mac: string;
  ip4: readonly string[];
  ip6: readonly string[];
}

export interface GuardModel {
  /** The jail bridges (jail_if and any other a running jail hangs off). */
  bridges: readonly string[];
  ports: readonly GuardPort[];
  /** Host ports jails may connect to (host_services_for_jails); empty: none. */
  hostServicesForJails: readonly HostService[];
}

/** The IPv6 link-local address the kernel derives from a MAC (EUI-64, addr_gen_mode 0). */
export function linkLocalFromMac(mac: string): string {
  const b = mac.split(":").map((x) => parseInt(x, 16));
  const bytes = [(b[0] as number) ^ 0x02, b[1], b[2], 0xff, 0xfe, b[3], b[4], b[5]] as number[];
  const groups: string[] = [];
  for (let i = 0; i < 8; i += 2)
    groups.push((((bytes[i] as number) << 8) | (bytes[i + 1] as number)).toString(16));
  return `fe80::${groups.join(":")}`;
}

/** An IPv6 address as the 128-bit integer nft compares raw payload with. */
function ipv6Hex(address: string): string {
  const [head = "", tail = ""] = address.split("::");
  const h = head === "" ? [] : head.split(":");
  const t = address.includes("::") ? (tail === "" ? [] : tail.split(":")) : [];
  const groups = address.includes("::")
    ? [...h, ...Array<string>(8 - h.length - t.length).fill("0"), ...t]
    : h;
  return `0x${groups.map((g) => g.padStart(4, "0")).join("")}`;
}

function elements(items: readonly string[]): string {
  return items.length === 0 ? "" : `\t\telements = { ${items.join(", ")} }\n`;
}

function servicesFor(proto: "tcp" | "udp", list: readonly HostService[]): string[] {
  const ports = list.filter((s) => s.proto === proto).map((s) => String(s.port));
  return ports.length === 0 ? [] : [`${proto} dport { ${ports.join(", ")} } accept`];
}

/** Both guard tables, as `nft list` prints them. */
export function generateGuard(model: GuardModel): string {
  const ports = [...model.ports].sort((a, b) => a.hostIf.localeCompare(b.hostIf));
  const mac = ports.map((p) => `"${p.hostIf}" . ${p.mac}`);
  const ip4 = ports.flatMap((p) => p.ip4.map((a) => `"${p.hostIf}" . ${p.mac} . ${a}`));
  const v6ports = ports.filter((p) => p.ip6.length > 0);
  const own6 = (p: GuardPort): string[] => [linkLocalFromMac(p.mac), ...p.ip6];
  const ip6 = v6ports.flatMap((p) => own6(p).map((a) => `"${p.hostIf}" . ${p.mac} . ${a}`));
  const pre = [
    'iifname != "qjh*" accept',
    'iifname . ether saddr != @jail_mac counter drop comment "MAC spoofing"',
    'ether type arp iifname . arp saddr ether . arp saddr ip != @jail_ip4 counter drop comment "ARP spoofing"',
    'ether type ip iifname . ether saddr . ip saddr != @jail_ip4 counter drop comment "IPv4 source spoofing"',
    'ether type ip6 iifname . ether saddr . ip6 saddr != @jail_ip6 counter drop comment "IPv6 source spoofing"',
    'icmpv6 type { nd-router-advert, nd-redirect } counter drop comment "router advertisement or redirect from a jail"',
    ...v6ports.map((p) => `icmpv6 type nd-neighbor-advert iifname "${p.hostIf}" jump nd_${p.hostIf}`),
  ];
  const chain = (name: string, head: string | undefined, rules: readonly string[]): string =>
    [`\tchain ${name} {`, ...(head ? [`\t\t${head}`] : []), ...rules.map((r) => `\t\t${r}`), "\t}"].join(
      "\n",
    );
  const forward = [
    `iifname "qjh*" oifname "qjh*" meta mark & ${HAIRPIN_MARK} == ${HAIRPIN_MARK} accept`,
    `iifname "qjh*" oifname "qjh*" counter drop comment "${JAIL_TO_JAIL}"`,
  ];
  const bridgeParts = [
    `\tset jail_mac {\n\t\ttype ifname . ether_addr\n${elements(mac)}\t}`,
    `\tset jail_ip4 {\n\t\ttype ifname . ether_addr . ipv4_addr\n${elements(ip4)}\t}`,
    `\tset jail_ip6 {\n\t\ttype ifname . ether_addr . ipv6_addr\n${elements(ip6)}\t}`,
    chain("prerouting", "type filter hook prerouting priority filter; policy accept;", pre),
    chain("forward", "type filter hook forward priority filter; policy accept;", forward),
    ...v6ports.map((p) =>
      chain(`nd_${p.hostIf}`, undefined, [
        ...own6(p).map((a) => `@th,64,128 ${ipv6Hex(a)} accept`),
        'counter drop comment "neighbour advertisement for another address"',
      ]),
    ),
  ];
  const bridges = [...new Set(model.bridges)].sort().map((b) => `"${b}"`);
  const input = [
    `iifname != { ${bridges.join(", ")} } accept`,
    "ct state established,related accept",
    "icmp type { echo-request, destination-unreachable, time-exceeded } accept",
    "icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert, nd-router-solicit, echo-request, destination-unreachable, packet-too-big, time-exceeded } accept",
    ...servicesFor("tcp", model.hostServicesForJails),
    ...servicesFor("udp", model.hostServicesForJails),
    'counter drop comment "host services are closed to jails (host_services_for_jails)"',
  ];
  return (
    [
      `table bridge ${GUARD_TABLE} {`,
      bridgeParts.join("\n\n"),
      "}",
      `table inet ${GUARD_TABLE} {`,
      chain("input", "type filter hook input priority filter - 10; policy accept;", input),
      "",
      chain("prerouting", "type filter hook prerouting priority dstnat + 10; policy accept;", [
        `iifname { ${bridges.join(", ")} } ct status dnat meta mark set meta mark | ${HAIRPIN_MARK}`,
      ]),
      "}",
    ].join("\n") + "\n"
  );
}

/** One `nft -f` transaction that replaces both guard tables (created first so the deletes cannot fail). */
export function guardTransaction(model: GuardModel): string {
  const reset = ["bridge", "inet"]
    .map((f) => `table ${f} ${GUARD_TABLE} {}\ndelete table ${f} ${GUARD_TABLE}\n`)
    .join("");
  return `${reset}${generateGuard(model)}`;
}

/** Remove both guard tables (the last jail stopped). */
export function guardRemoveTransaction(): string {
  return ["bridge", "inet"]
    .map((f) => `table ${f} ${GUARD_TABLE} {}\ndelete table ${f} ${GUARD_TABLE}\n`)
    .join("");
}
