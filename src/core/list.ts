import type { JailSpec } from "./jail.js";
import { recordAddresses } from "./validate.js";

/**
 * `qjail list` output, pure: the table qjail 5.0 prints (qjail-5.md §4.3)
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

/** The table exactly as qjail 5.0's printf lays it out, blank " " lines included. */
export function formatListTable(rows: readonly ListRow[], zone: string | undefined): string {
  const out: string[] = [
    " ",
    zone ? `Jails in zone  ${zone}` : "",
    "STA JID  NIC IP              Jailname",
    "--- ---- --- --------------- --------------------------------------------------",
  ];
  for (const row of rows) {
    let ips = [...row.ip4, ...row.ip6];
    if (ips.length === 0) ips = [row.vnet !== "" ? `vnet|${row.vnet}` : "none"];
    ips.forEach((ip, i) => {
      if (i === 0) {
        out.push(
          `${pad(stateLetters(row), 3)} ${pad(row.jid === undefined ? "N/A" : String(row.jid), 4)} ${pad(row.nic, 3)} ${pad(ip, 15)} ${row.name}`,
        );
      } else {
        out.push(`    ${pad("", 4)} ${"    "}${ip}`);
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
