/**
 * qjail's definition record (`qjail.local/<jail>`, mirrored in `qjail.global`):
 * a shell-sourceable file of `key="value"` lines, every key always written, in
 * qjail's order (docs/qjail-5.md §2.1). Values are kept as the exact strings qjail
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

/**
 * Every key, empty. Written out (not built from RECORD_KEYS) so each record
 * is one small fixed-shape object: list makes a thousand of them per run.
 * Only RECORD_KEYS are ever assigned (parseRecord checks the key first).
 */
export function emptyRecord(): JailRecord {
  return {
    name: "",
    ip4: "",
    ip6: "",
    path: "",
    interface: "",
    fstab: "",
    securelevel: "",
    cpuset: "",
    fib: "",
    vnet: "",
    vinterface: "",
    rsockets: "",
    ruleset: "",
    sysvipc: "",
    quotas: "",
    nullfs: "",
    tmpfs: "",
    zfs: "",
    poststartssh: "",
    deffile: "",
    image: "",
    imagetype: "",
    imageblockcount: "",
    imagedevice: "",
    rctl: "",
  };
}

export interface RecordProblem {
  line: number;
  message: string;
}

/**
 * Parse a definition record. Unknown keys and malformed lines are reported,
 * not thrown, so a damaged record can still be listed and repaired.
 */
const RECORD_KEY_SET: ReadonlySet<string> = new Set(RECORD_KEYS);

export function parseRecord(text: string): { record: JailRecord; problems: RecordProblem[] } {
  const record = emptyRecord();
  const problems: RecordProblem[] = [];
  let sawName = false;
  let sawPath = false;
  if (WELL_FORMED.test(text)) {
    // The usual case, checked whole by one match: nothing but key="value" lines, so each line is
    // cut at its '="' and at the value's closing quote, with nothing to trim or test per line.
    // Keys come in RECORD_KEYS' order when qjail wrote the record: the expected one is compared in
    // place, so reading a record allocates no key strings (24,000 of them for list of 1,000 jails,
    // each one more thing for the young-generation collector to trip on).
    let lineNo = 0;
    let next = 0;
    for (let start = 0; start < text.length;) {
      lineNo++;
      const eq = text.indexOf('="', start);
      const close = text.indexOf('"', eq + 2);
      const expected = RECORD_KEYS[next];
      const key =
        expected !== undefined && eq - start === expected.length && text.startsWith(expected, start)
          ? expected
          : text.slice(start, eq);
      next = key === expected ? next + 1 : RECORD_KEYS.indexOf(key as RecordKey) + 1;
      start = close + 2;
      if (!RECORD_KEY_SET.has(key)) {
        problems.push({ line: lineNo, message: `unknown key ${JSON.stringify(key)}` });
        continue;
      }
      if (key === "name") sawName = true;
      else if (key === "path") sawPath = true;
      record[key as RecordKey] = text.slice(eq + 2, close);
    }
    if (!sawName) problems.push({ line: 0, message: "missing key name" });
    if (!sawPath) problems.push({ line: 0, message: "missing key path" });
    return { record, problems };
  }
  // Anything else (blank or comment lines, spaces, bad lines, NUL bytes): line by line. One pass over the text, line by line without splitting it first: list reads a
  // thousand records on every run, so this loop is most of its own work.
  let lineNo = 0;
  for (let start = 0; start <= text.length;) {
    let end = text.indexOf("\n", start);
    if (end < 0) end = text.length;
    lineNo++;
    const raw = text.slice(start, end);
    start = end + 1;
    const line = raw.trim();
    if (line === "" || line.charCodeAt(0) === 35 /* # */) continue;
    if (!RECORD_LINE.test(line)) {
      problems.push({ line: lineNo, message: `not a key="value" line: ${JSON.stringify(raw)}` });
      continue;
    }
    const eq = line.indexOf('="');
    const key = line.slice(0, eq);
    if (!RECORD_KEY_SET.has(key)) {
      problems.push({ line: lineNo, message: `unknown key ${JSON.stringify(key)}` });
      continue;
    }
    if (key === "name") sawName = true;
    else if (key === "path") sawPath = true;
    const value = line.slice(eq + 2, -1);
    // sh would cut the value at the NUL, so what qjail 5.x reads differs from what we read.
    if (value.includes("\0"))
      problems.push({
        line: lineNo,
        message: `value of ${key} contains a NUL byte: ${JSON.stringify(value)}`,
      });
    record[key as RecordKey] = value;
  }
  if (!sawName) problems.push({ line: 0, message: "missing key name" });
  if (!sawPath) problems.push({ line: 0, message: "missing key path" });
  return { record, problems };
}

const RECORD_LINE = /^([A-Za-z0-9_]+)="([^"\\`$]*)"$/;
/** A whole record of RECORD_LINE lines and nothing else: no blank line, no space, no NUL, the last newline optional. */
const WELL_FORMED = /^(?:[A-Za-z0-9_]+="[^"\\`$\n\0]*"(?:\n|$))*$/;

/**
 * Every key, in qjail's order, one `key="value"` per line; `rctl` (not
 * qjail 5.x's) only when set, so a 5.x record writes back byte for byte.
 */
export function formatRecord(record: JailRecord): string {
  return RECORD_KEYS.filter((k) => k !== "rctl" || record[k] !== "")
    .map((k) => `${k}="${record[k]}"\n`)
    .join("");
}
