import type { HostLayout } from "./paths.js";

/**
 * qjail's per-jail fstab (qjail.fstab[.zone]/<jail>, docs/qjail-5.md §2.3): one
 * line that mounts the zone's shared base read-only on <root>/sharedfs,
 * mounted by jail(8) through mount.fstab. Fields are single-space separated
 * exactly as qjail's `echo` writes them.
 */
export function renderFstab(layout: Pick<HostLayout, "sharedfs">, rootPath: string): string {
  return `${layout.sharedfs} ${rootPath}/sharedfs nullfs ro 0 0\n`;
}

export interface FstabEntry {
  device: string;
  mountPoint: string;
  type: string;
  options: string;
}

/** The entries of an fstab text (blank and # lines skipped; jail(8) needs at least three fields). */
export function parseFstab(text: string): FstabEntry[] {
  const out: FstabEntry[] = [];
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const [device = "", mountPoint = "", type = "", options = ""] = line.split(/\s+/);
    if (type === "") continue;
    out.push({ device: unescapeField(device), mountPoint: unescapeField(mountPoint), type, options });
  }
  return out;
}

function unescapeField(f: string): string {
  return f.replace(/\\040/g, " ");
}
