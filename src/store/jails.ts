import { promises as fsp, readdirSync, readFileSync } from "node:fs";
import type { FileOverlay } from "../core/plan.js";
import { UsageError, shown } from "../core/errors.js";
import { ETC, hostLayout, physical, type HostLayout } from "../core/paths.js";
import { parseRecord, statusFromFileName, type JailRecord, type JailStatus } from "../core/record.js";
import { specFromRecord, type HostState } from "../core/jail.js";
import type { JailSpec } from "../core/jail.js";

/**
 * Readers of qjail's jail records (qjail.local[.zone], qjail.global) and
 * qjail's jail selection rules. `list` on a host with 1,000 jails must stay
 * well under 150 ms: one readdir, then small synchronous reads (about 10 ms
 * for 1,000 records once warm), no process per jail.
 *
 * Writing goes through plans: see writeRecordSteps/removeRecordSteps in
 * src/core/jail.ts (re-exported here) so every command writes both copies the
 * same way.
 */
export { writeRecordSteps } from "../core/jail.js";

export interface RecordFileProblem {
  /** Logical path of the record file. */
  file: string;
  message: string;
}

/** Record files of a directory, `ls` order; anything that is not a regular file is reported, never opened. */
async function listDir(path: string, logicalDir: string, problems: RecordFileProblem[]): Promise<string[]> {
  let entries;
  try {
    // Synchronous, like the record reads below: one call, and list need not load fs/promises at all.
    entries = readdirSync(path, { withFileTypes: true });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw e;
  }
  const out: string[] = [];
  for (const d of entries) {
    if (d.name.startsWith(".")) continue;
    // A link could point at a host file and a FIFO would block the read: neither is a record.
    if (!d.isFile()) {
      const kind = d.isDirectory()
        ? "a directory"
        : d.isSymbolicLink()
          ? "a symbolic link"
          : d.isFIFO()
            ? "a FIFO"
            : "a special file";
      problems.push({
        file: `${logicalDir}/${d.name}`,
        message: `skipped: it is ${kind}, not a record file`,
      });
      continue;
    }
    out.push(d.name);
  }
  return out.sort(byteOrder);
}

/** `ls` order in the C locale, which is what qjail's `ls` gives on FreeBSD (LANG unset for root). */
function byteOrder(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

interface RawRecord {
  fileName: string;
  name: string;
  status: JailStatus;
  record: JailRecord;
}

async function readRecordDir(
  root: string,
  dir: string,
  problems: RecordFileProblem[],
  overlay?: FileOverlay,
): Promise<RawRecord[]> {
  let names = await listDir(physical(root, dir), dir, problems);
  // Records are a few hundred bytes: synchronous reads beat 1,000 thread-pool round trips.
  const base = physical(root, dir);
  let read = (n: string): string => readFileSync(`${base}/${n}`, "utf8");
  if (overlay !== undefined) ({ names, read } = overlaid(root, dir, names, read, overlay));
  const texts = names.map(read);
  const out: RawRecord[] = [];
  names.forEach((fileName, i) => {
    const { name, status } = statusFromFileName(fileName);
    const parsed = parseRecord(texts[i] as string);
    for (const p of parsed.problems)
      problems.push({
        file: `${dir}/${fileName}`,
        message: p.line > 0 ? `line ${p.line}: ${p.message}` : p.message,
      });
    if (parsed.record.name !== "" && parsed.record.name !== name) {
      problems.push({
        file: `${dir}/${fileName}`,
        message: `record names jail ${shown(parsed.record.name)} but the file is named ${shown(fileName)}`,
      });
    }
    if (parsed.record.name === "") parsed.record.name = name;
    out.push({ fileName, name, status, record: parsed.record });
  });
  return out;
}

/**
 * Every jail of the layout's zone: each file in qjail.local[.zone], in `ls`
 * order, with its .norun/.man status taken from the file name. Damaged
 * records are still returned (with empty fields) and reported in `problems`.
 */
export async function readJails(
  root: string,
  layout: HostLayout,
): Promise<{ jails: JailSpec[]; problems: RecordFileProblem[] }> {
  const problems: RecordFileProblem[] = [];
  const raw = await readRecordDir(root, layout.local, problems);
  const seen = new Map<string, string>();
  for (const r of raw) {
    const other = seen.get(r.name);
    if (other !== undefined)
      problems.push({
        file: `${layout.local}/${r.fileName}`,
        message: `jail ${shown(r.name)} also has the record ${shown(other)}`,
      });
    seen.set(r.name, r.fileName);
  }
  return { jails: raw.map((r) => specFromRecord(layout, r.name, r.status, r.record)), problems };
}

/** A record in qjail.global: every zone's jails, for name uniqueness and duplicate-address checks. */
export interface GlobalJail {
  name: string;
  status: JailStatus;
  record: JailRecord;
}

export async function readGlobalJails(
  root: string,
  layout: HostLayout,
  overlay?: FileOverlay,
): Promise<GlobalJail[]> {
  const problems: RecordFileProblem[] = [];
  return (await readRecordDir(root, layout.global, problems, overlay)).map(({ name, status, record }) => ({
    name,
    status,
    record,
  }));
}

/**
 * qjail's jail selection ("group-prefixing", docs/qjail-5.md §3):
 * - no names: every jail (only when `allowAll` is not false);
 * - `pfx=` as the first argument: every jail whose name starts with pfx;
 * - `=pfx`: a syntax error;
 * - explicit names: each must exist (any status), in the order given.
 */
export function selectJails(
  all: readonly JailSpec[],
  args: readonly string[],
  opts: { allowAll?: boolean } = {},
): JailSpec[] {
  const first = args[0];
  if (first === undefined) {
    if (opts.allowAll === false) {
      throw new UsageError(
        "QJ1110",
        "no jail name given",
        "Name the jail(s), give a group prefix like 'web=', or use -A for every jail.",
      );
    }
    return [...all];
  }
  for (const a of args) {
    if (a.startsWith("=")) {
      throw new UsageError(
        "QJ1111",
        `invalid group prefix ${shown(a)}: the '=' goes after the prefix`,
        `Write ${shown(`${a.slice(1)}=`)} to select every jail whose name starts with ${shown(a.slice(1))}.`,
      );
    }
  }
  if (first.endsWith("=")) {
    const prefix = first.slice(0, -1);
    if (args.length > 1) {
      throw new UsageError(
        "QJ1112",
        `a group prefix ${shown(first)} cannot be combined with more names (${shown(args[1] as string)})`,
        "Give either one prefix or a list of names.",
      );
    }
    if (prefix === "" || prefix.includes("=")) {
      throw new UsageError(
        "QJ1113",
        `invalid group prefix ${shown(first)}`,
        "Write the start of the jail names followed by '=', e.g. 'web='.",
      );
    }
    const hit = all.filter((j) => j.name.startsWith(prefix));
    if (hit.length === 0) {
      throw new UsageError(
        "QJ1114",
        `No match for group prefix. ${shown(prefix)}`,
        "Run 'qjail list' to see the jail names.",
      );
    }
    return hit;
  }
  const byName = new Map(all.map((j) => [j.name, j]));
  const out: JailSpec[] = [];
  const picked = new Set<string>();
  for (const a of args) {
    if (a.includes("="))
      throw new UsageError(
        "QJ1113",
        `invalid group prefix ${shown(a)}: only the first argument may be a prefix`,
        "Give either one prefix or a list of names.",
      );
    const j = byName.get(a);
    if (j === undefined)
      throw new UsageError(
        "QJ1115",
        `Jail doesn't exist. ${shown(a)}`,
        "Run 'qjail list' to see the jail names (and -z ZONE for a zone).",
      );
    if (!picked.has(a)) out.push(j);
    picked.add(a);
  }
  return out;
}

/**
 * qjail refuses any command but install on a zone that was never installed
 * ("Error: Un-known zone."): the zone's jail directory must exist.
 */
export async function assertZoneKnown(root: string, layout: HostLayout): Promise<void> {
  if (layout.zone === undefined) return;
  const st = await fsp.stat(physical(root, layout.jaildir)).catch(() => undefined);
  if (!st?.isDirectory()) {
    throw new UsageError(
      "QJ1116",
      `Un-known zone. ${shown(layout.zone)}: ${layout.jaildir} does not exist`,
      `Create it with 'qjail install -z ${layout.zone} -f DIR' or check the name.`,
    );
  }
}

/** qjail's "installed" test: the shared base exists. */
export async function assertInstalled(root: string, layout: HostLayout): Promise<void> {
  await assertZoneKnown(root, layout);
  const st = await fsp.stat(physical(root, layout.sharedfs)).catch(() => undefined);
  if (!st?.isDirectory()) {
    throw new UsageError(
      "QJ1117",
      `qjail is not installed: ${layout.sharedfs} does not exist`,
      `Run 'qjail install${layout.zone ? ` -z ${layout.zone}` : ""} -f DIR' first (DIR holds base.txz).`,
    );
  }
}

/**
 * Everything the jail planners read, loaded at once: this zone's jails, every
 * zone's records (names and addresses are unique host-wide), and the running
 * jails from ONE platform query.
 */
export async function loadHostState(
  root: string,
  layout: HostLayout,
  live: () => Promise<ReadonlyMap<string, { jid: number }>>,
): Promise<HostState & { problems: RecordFileProblem[] }> {
  const [{ jails, problems }, global, running] = await Promise.all([
    readJails(root, layout),
    readGlobalJails(root, layout),
    live(),
  ]);
  return { layout, jails, global, live: running, problems };
}

/**
 * A directory's file names and reader as a plan will leave them: the
 * overlay's writes added, its removals taken away, renamed files read from
 * where they come from (see core/plan.ts fileOverlay).
 */
export function overlaid(
  root: string,
  dir: string,
  names: readonly string[],
  read: (name: string) => string,
  overlay: FileOverlay,
): { names: string[]; read: (name: string) => string } {
  const inDir = (p: string): string | undefined => {
    if (!p.startsWith(`${dir}/`)) return undefined;
    const rest = p.slice(dir.length + 1);
    return rest === "" || rest.includes("/") || rest.startsWith(".") ? undefined : rest;
  };
  const set = new Set(names);
  for (const [path, entry] of overlay) {
    const n = inDir(path);
    if (n === undefined) continue;
    if (entry === null) set.delete(n);
    else set.add(n);
  }
  const readAt = (path: string): string => {
    const entry = overlay.get(path);
    if (entry === undefined) return readFileSync(physical(root, path), "utf8");
    if (entry === null) throw new Error(`internal: ${path} is removed by the plan`);
    // a rename's source is read as it is on disk (the overlay marks it removed)
    return "text" in entry ? entry.text : readFileSync(physical(root, entry.from), "utf8");
  };
  return {
    names: [...set].sort(byteOrder),
    read: (n) => (overlay.has(`${dir}/${n}`) ? readAt(`${dir}/${n}`) : read(n)),
  };
}

/** Names of the files in a host directory (logical path), sorted; empty when it does not exist. */
export async function listNames(
  root: string,
  dir: string,
  opts: { dirsOnly?: boolean } = {},
): Promise<string[]> {
  try {
    const ents = await fsp.readdir(physical(root, dir), { withFileTypes: true });
    return ents
      .filter((e) => (opts.dirsOnly ? e.isDirectory() : true))
      .map((e) => e.name)
      .sort(byteOrder);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT" || (e as NodeJS.ErrnoException).code === "ENOTDIR")
      return [];
    throw e;
  }
}

/** A host text file (logical path) or undefined when absent. */
export async function readHostFile(root: string, logical: string): Promise<string | undefined> {
  try {
    return await fsp.readFile(physical(root, logical), "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw e;
  }
}

/** The number in qjail.vnetctl (`count="N"`); 0 when absent or unreadable as a number. */
export async function readVnetCount(root: string, layout: HostLayout): Promise<number> {
  const text = await readHostFile(root, layout.vnetctl);
  const m = /count="([0-9]+)"/.exec(text ?? "");
  return m ? Number(m[1]) : 0;
}

/** Package lists in qjail.packages: one name per line. */
export async function readPackageLists(root: string, layout: HostLayout): Promise<Map<string, string[]>> {
  const names = await listNames(root, layout.packages);
  const texts = await Promise.all(
    names.map((n) => fsp.readFile(physical(root, `${layout.packages}/${n}`), "utf8").catch(() => "")),
  );
  return new Map(names.map((n, i) => [n, (texts[i] ?? "").split(/\s+/).filter((p) => p !== "")]));
}

/**
 * Every zone that exists on the host, for commands that act on all of them
 * (`boot start`/`stop`): a qjail.local.ZONE directory whose /usr/jails.ZONE
 * exists. The default zone is not listed (it always exists).
 */
export async function listZones(root: string): Promise<string[]> {
  const zones: string[] = [];
  for (const name of await listNames(root, ETC, { dirsOnly: true })) {
    const m = /^qjail\.local\.([A-Za-z0-9_-]+)$/.exec(name);
    if (!m || /^[0-9]+$/.test(m[1] as string)) continue;
    const jaildir = hostLayout(m[1]).jaildir;
    const st = await fsp.stat(physical(root, jaildir)).catch(() => undefined);
    if (st?.isDirectory()) zones.push(m[1] as string);
  }
  return zones;
}
