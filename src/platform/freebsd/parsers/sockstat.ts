/**
 * sockstat(1) text output (FreeBSD 9.x–14.x; 15's --libxo is not needed).
 *
 * Columns are USER COMMAND PID FD PROTO LOCAL FOREIGN [STATE]. The output is
 * column-aligned, but values overflow their columns (a 6-digit PID, 9.x's
 * `tcp4 6` for a dual-stack socket), so rows are split on whitespace and the
 * first field that holds an address (contains ":") marks where PROTO ends.
 * Partner: {@link listenersOn} filters the rows a jail's address owns.
 */

import type { SockAddress, SockstatRow } from "../../../core/status.js";

export type { SockAddress, SockstatRow };

export function parseSockAddress(text: string): SockAddress {
  // IPv6 addresses are not bracketed, so the port is after the last colon.
  const i = text.lastIndexOf(":");
  if (i < 0) return { address: text, port: null };
  const portText = text.slice(i + 1);
  return { address: text.slice(0, i), port: portText === "*" ? null : Number(portText) };
}

function numberOrNull(text: string): number | null {
  return /^\d+$/.test(text) ? Number(text) : null;
}

export function parseSockstat(text: string): SockstatRow[] {
  const rows: SockstatRow[] = [];
  for (const line of text.split("\n")) {
    const fields = line.trim().split(/\s+/);
    if (fields.length < 7 || (fields[0] === "USER" && fields[1] === "COMMAND")) continue;
    const localIndex = fields.findIndex((f, i) => i >= 5 && f.includes(":"));
    if (localIndex < 0 || localIndex + 1 >= fields.length) continue;
    const [user, command, pid, fd] = fields as [string, string, string, string];
    const proto = fields
      .slice(4, localIndex)
      .join(" ")
      .replace(/^(tcp|udp|sctp)4 6$/, "$146");
    const row: SockstatRow = {
      user,
      command,
      pid: numberOrNull(pid),
      fd: numberOrNull(fd),
      proto,
      local: parseSockAddress(fields[localIndex] as string),
      foreign: parseSockAddress(fields[localIndex + 1] as string),
    };
    const state = fields[localIndex + 2];
    if (state !== undefined) row.state = state;
    rows.push(row);
  }
  return rows;
}

/** Listening TCP/UDP sockets reachable on `address` (its own address or the wildcard). */
export function listenersOn(rows: readonly SockstatRow[], address: string): SockstatRow[] {
  return rows.filter(
    (r) => r.foreign.port === null && (r.local.address === address || r.local.address === "*"),
  );
}
