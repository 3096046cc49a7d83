import type { JailSpec } from "./jail.js";
import { recordAddresses } from "./validate.js";

/**
 * `qjail list` output, pure: the table qjail 5.0 prints (docs/qjail-5.md §4.3)
 * and the `--json` document. Running state comes in as one map from a single
 * platform.liveJails() call, never one query per jail.
 */

export interface ListRow {
  name: string;
  status: JailSpec["status"];
  running: boolean;
  jid: number | undefined;
  image: boolean;
  /** The alias interface, or for a vnet jail the bridged NIC. */
  nic: string;
  ip4: string[];
  ip6: string[];
  vnet: string;
  path: string;
  zone: string | undefined;
}

export function listRows(jails: readonly JailSpec[], live: ReadonlyMap<string, { jid: number }>): ListRow[] {
  return jails.map((j) => {
    const l = live.get(j.name);
    const r = j.record;
    return {
      name: j.name,
      status: j.status,
      running: l !== undefined,
      jid: l?.jid,
      image: r.imagetype !== "",
      nic: r.vnet !== "" ? r.vinterface : r.interface,
      ip4: recordAddresses(r.ip4),
      ip6: recordAddresses(r.ip6),
      vnet: r.vnet,
      path: j.rootPath,
      zone: j.layout.zone,
    };
  });
}

/** qjail's STA column: D/I, R/S, then N (.norun) or M (.man). */
export function stateLetters(row: ListRow): string {
  return `${row.image ? "I" : "D"}${row.running ? "R" : "S"}${row.status === "norun" ? "N" : row.status === "man" ? "M" : ""}`;
}

const pad = (s: string, n: number): string => s.padEnd(n);

/**
 * The table as qjail 5.0's printf lays it out, blank " " lines included. The
 * NIC and IP columns are 3 and 15 wide there; a longer name (Linux's qjail0)
 * or IPv6 address widens its column for every row instead of pushing that
 * row's later columns out of line, so with 5.x's short names the table is
 * byte for byte 5.x's.
 */
export function formatListTable(rows: readonly ListRow[], zone: string | undefined): string {
  const ipsOf = (row: ListRow): string[] => {
    const ips = [...row.ip4, ...row.ip6];
    return ips.length > 0 ? ips : [row.vnet !== "" ? `vnet|${row.vnet}` : "none"];
  };
  const nicW = Math.max(3, ...rows.map((r) => r.nic.length));
  const ipW = Math.max(15, ...rows.map((r) => (ipsOf(r)[0] ?? "").length));
  const out: string[] = [
    " ",
    zone ? `Jails in zone  ${zone}` : "",
    `STA JID  ${pad("NIC", nicW)} ${pad("IP", ipW)} Jailname`,
    `--- ---- ${"-".repeat(nicW)} ${"-".repeat(ipW)} --------------------------------------------------`,
  ];
  for (const row of rows) {
    ipsOf(row).forEach((ip, i) => {
      if (i === 0) {
        out.push(
          `${pad(stateLetters(row), 3)} ${pad(row.jid === undefined ? "N/A" : String(row.jid), 4)} ${pad(row.nic, nicW)} ${pad(ip, ipW)} ${row.name}`,
        );
      } else {
        out.push(`${" ".repeat(3 + 1 + 4 + 1 + nicW + 1)}${ip}`);
      }
    });
  }
  out.push(" ", " ");
  return out.join("\n") + "\n";
}

/** The `--json` document: libxo-style names as FreeBSD's `jls --libxo` uses them. Stable: fields are only ever added. */
export function listDocument(rows: readonly ListRow[]): unknown {
  return {
    __version: "1",
    "qjail-information": {
      jail: rows.map((r) => ({
        name: r.name,
        status: r.status,
        state: r.running ? "running" : "stopped",
        type: r.image ? "image" : "directory",
        jid: r.jid ?? null,
        interface: r.nic,
        ipv4_addrs: r.ip4,
        ipv6_addrs: r.ip6,
        vnet: r.vnet === "" ? null : r.vnet,
        path: r.path,
        zone: r.zone ?? null,
      })),
    },
  };
}
