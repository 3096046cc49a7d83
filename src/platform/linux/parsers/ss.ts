/**
 * `ss -Htlnp` / `ss -Hulnp` / `ss -Htulnp` (iproute2): listening sockets, the
 * Linux counterpart of `sockstat -l`. With both -t and -u, ss prefixes a
 * Netid column. IPv6 addresses are bracketed (`[::]:22`), and an address may
 * carry `%iface`. Rows are returned in the same shape as the FreeBSD sockstat
 * parser's so status and doctor treat both alike.
 */
import type { SockstatRow, SockAddress } from "../../freebsd/parsers/sockstat.js";

function splitAddress(text: string): SockAddress {
  const i = text.lastIndexOf(":");
  if (i < 0) return { address: text, port: null };
  let address = text.slice(0, i);
  const portText = text.slice(i + 1);
  if (address.startsWith("[") && address.endsWith("]")) address = address.slice(1, -1);
  address = address.replace(/%.*$/, "");
  if (address === "0.0.0.0" || address === "::" || address === "") address = "*";
  return { address, port: portText === "*" ? null : Number(portText) };
}

export function parseSs(text: string, defaultProto: "tcp" | "udp" = "tcp"): SockstatRow[] {
  const rows: SockstatRow[] = [];
  for (const line of text.split("\n")) {
    const fields = line.trim().split(/\s+/);
    if (fields.length < 5) continue;
    let proto: string = defaultProto;
    if (fields[0] === "tcp" || fields[0] === "udp") proto = fields.shift() as string;
    if (fields[0] === "State" || fields[0] === "Netid") continue;
    const [, , , local, foreign] = fields;
    if (local === undefined || foreign === undefined) continue;
    const users = fields.slice(5).join(" ");
    const process = /\(\("([^"]*)",pid=(\d+),fd=(\d+)\)/.exec(users);
    const localAddr = splitAddress(local);
    const family = local.startsWith("[") ? "6" : local.startsWith("*") ? "46" : "4";
    rows.push({
      user: "?",
      command: process?.[1] ?? "?",
      pid: process ? Number(process[2]) : null,
      fd: process ? Number(process[3]) : null,
      proto: `${proto}${family}`,
      local: localAddr,
      foreign: { ...splitAddress(foreign), port: null },
    });
  }
  return rows;
}
