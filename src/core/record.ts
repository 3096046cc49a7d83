/**
 * qjail's definition record (`qjail.local/<jail>`, mirrored in `qjail.global`):
 * a shell-sourceable file of `key="value"` lines, every key always written, in
 * qjail's order (qjail-5.md §2.1). Values are kept as the exact strings qjail
 * uses (for example `rsockets="allow.raw_sockets"` as a boolean), so a record
 * written by qjail 5.x reads back and writes out byte for byte.
 *
 * Partner functions: {@link parseRecord} reads, {@link formatRecord} writes.
 */

export const RECORD_KEYS = [
  "name",
  "ip4",
  "ip6",
  "path",
  "interface",
  "fstab",
  "securelevel",
  "cpuset",
  "fib",
  "vnet",
  "vinterface",
  "rsockets",
  "ruleset",
  "sysvipc",
  "quotas",
  "nullfs",
  "tmpfs",
  "zfs",
  "poststartssh",
  "deffile",
  "image",
  "imagetype",
  "imageblockcount",
  "imagedevice",
  // qjail's own addition: resource limits named after rctl(8) resources (src/core/linux/limits.ts)
  "rctl",
] as const;

export type RecordKey = (typeof RECORD_KEYS)[number];
export type JailRecord = Record<RecordKey, string>;

/** The literal strings qjail stores for its boolean settings. */
export const RECORD_FLAG_VALUES = {
  rsockets: "allow.raw_sockets",
  sysvipc: "allow.sysvipc",
  quotas: "allow.quotas",
  nullfs: "allow.mount.nullfs",
  tmpfs: "allow.mount.tmpfs",
  zfs: "allow.mount.zfs",
  poststartssh: "yes",
} as const satisfies Partial<Record<RecordKey, string>>;

/** `.norun`: skipped by start and at boot; `.man`: skipped at boot only. */
export type JailStatus = "normal" | "norun" | "man";

export function statusFromFileName(fileName: string): { name: string; status: JailStatus } {
  if (fileName.endsWith(".norun")) return { name: fileName.slice(0, -".norun".length), status: "norun" };
  if (fileName.endsWith(".man")) return { name: fileName.slice(0, -".man".length), status: "man" };
  return { name: fileName, status: "normal" };
}

export function recordFileName(name: string, status: JailStatus): string {
  return status === "normal" ? name : `${name}.${status}`;
}

export function emptyRecord(): JailRecord {
  const r = Object.create(null) as JailRecord;
  for (const k of RECORD_KEYS) r[k] = "";
  return r;
}

export interface RecordProblem {
  line: number;
  message: string;
}

/**
 * Parse a definition record. Unknown keys and malformed lines are reported,
 * not thrown, so a damaged record can still be listed and repaired.
 */
export function parseRecord(text: string): { record: JailRecord; problems: RecordProblem[] } {
  const record = emptyRecord();
  const problems: RecordProblem[] = [];
  const seen = new Set<string>();
  const lines = text.split("\n");
  lines.forEach((raw, i) => {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) return;
    const m = /^([A-Za-z0-9_]+)="([^"\\`$]*)"$/.exec(line);
    if (!m) {
      problems.push({ line: i + 1, message: `not a key="value" line: ${JSON.stringify(raw)}` });
      return;
    }
    const key = m[1] as string;
    if (!(RECORD_KEYS as readonly string[]).includes(key)) {
      problems.push({ line: i + 1, message: `unknown key ${JSON.stringify(key)}` });
      return;
    }
    seen.add(key);
    // sh would cut the value at the NUL, so what qjail 5.x reads differs from what we read.
    if ((m[2] as string).includes("\0"))
      problems.push({ line: i + 1, message: `value of ${key} contains a NUL byte: ${JSON.stringify(m[2])}` });
    record[key as RecordKey] = m[2] as string;
  });
  for (const k of ["name", "path"] as const) {
    if (!seen.has(k)) problems.push({ line: 0, message: `missing key ${k}` });
  }
  return { record, problems };
}

/**
 * Every key, in qjail's order, one `key="value"` per line; `rctl` (not
 * qjail 5.x's) only when set, so a 5.x record writes back byte for byte.
 */
export function formatRecord(record: JailRecord): string {
  return RECORD_KEYS.filter((k) => k !== "rctl" || record[k] !== "")
    .map((k) => `${k}="${record[k]}"\n`)
    .join("");
}
