/**
 * `netstat -r` / `netstat -rn` routing tables: "Internet:" and "Internet6:"
 * sections, each with a header line naming the columns. Columns are found
 * from the header's word positions because Expire is usually empty.
 * Partner: {@link routeFor} answers "is this subnet routed, and via what".
 */
export interface Route {
  family: "inet" | "inet6";
  destination: string;
  gateway: string;
  flags: string;
  netif: string;
  expire: string;
}

export function parseNetstatRoutes(text: string): Route[] {
  const routes: Route[] = [];
  let family: Route["family"] | undefined;
  for (const line of text.split("\n")) {
    if (/^Internet:\s*$/.test(line)) family = "inet";
    else if (/^Internet6:\s*$/.test(line)) family = "inet6";
    else if (family && line.trim() !== "" && !/^Destination\s/.test(line) && !/^Routing tables/.test(line)) {
      const [destination, gateway, flags, netif, expire] = line.trim().split(/\s+/);
      if (destination === undefined || gateway === undefined || flags === undefined || netif === undefined)
        continue;
      routes.push({ family, destination, gateway, flags, netif, expire: expire ?? "" });
    }
  }
  return routes;
}

/** The route whose destination is exactly `destination` (as netstat prints it), if any. */
export function routeFor(routes: readonly Route[], destination: string): Route | undefined {
  return routes.find((r) => r.destination === destination);
}
