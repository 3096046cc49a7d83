/**
 * `ip -j addr` (iproute2 JSON): interfaces, their state and addresses. Used
 * to find the public address of the host config's ext_if (the watcher) and
 * whether the jail interface carries the subnet's gateway (doctor).
 */
export interface LinkAddresses {
  name: string;
  up: boolean;
  addresses: { family: "inet" | "inet6"; address: string; prefixLength: number; scope: string }[];
}

export function parseIpAddrJson(text: string): LinkAddresses[] {
  const doc = JSON.parse(text) as {
    ifname: string;
    flags?: string[];
    addr_info?: { family: string; local: string; prefixlen: number; scope?: string }[];
  }[];
  return doc.map((l) => ({
    name: l.ifname,
    up: (l.flags ?? []).includes("UP"),
    addresses: (l.addr_info ?? [])
      .filter((a) => a.family === "inet" || a.family === "inet6")
      .map((a) => ({
        family: a.family as "inet" | "inet6",
        address: a.local,
        prefixLength: a.prefixlen,
        scope: a.scope ?? "global",
      })),
  }));
}

/** The first global IPv4 address of `ifname`, the address the watcher follows. */
export function publicIPv4(links: readonly LinkAddresses[], ifname: string): string | undefined {
  return links
    .find((l) => l.name === ifname)
    ?.addresses.find((a) => a.family === "inet" && a.scope === "global")?.address;
}
