import { promises as fsp } from "node:fs";
import { posix } from "node:path";
import * as tar from "tar";
import { UsageError, shown } from "../core/errors.js";
import { physical } from "../core/paths.js";
import { parseRecord, statusFromFileName, type JailRecord } from "../core/record.js";

/**
 * qjail's archive files (qjail-5.md §2.4): `<name>@YYYYMMDDhhmm.SS.tar`,
 * gzip-compressed despite the suffix, members stored with absolute logical
 * paths like `tar czPf` does, so archives made here, by qjail 5.x and read
 * by Bastille's import (pattern `@[0-9]{12}.[0-9]{2}.tar`) are the same kind.
 *
 * Partner functions: {@link writeArchive} makes one, {@link readArchiveIndex}
 * lists it, {@link checkJailArchive} decides whether a restore may unpack it,
 * {@link extractArchive} puts it back, {@link extractJailTree} takes only the
 * jail root out under a new path (for `create -a`).
 */

/** What Bastille's import looks for; every archive name made here matches it. */
export const ARCHIVE_NAME_PATTERN = /@[0-9]{12}\.[0-9]{2}\.tar$/;

/** `<name>@YYYYMMDDhhmm.SS.tar` in the host's local time, like qjail's `date +%Y%m%d%H%M.%S`. */
export function archiveFileName(name: string, now: Date): string {
  const p = (n: number): string => String(n).padStart(2, "0");
  return `${name}@${now.getFullYear()}${p(now.getMonth() + 1)}${p(now.getDate())}${p(now.getHours())}${p(now.getMinutes())}.${p(now.getSeconds())}.tar`;
}

/** The archive a bare name means to restore: the lexically last `<name>@…tar` (qjail's rule). */
export function latestArchive(fileNames: readonly string[], name: string): string | undefined {
  return fileNames
    .filter((f) => f.startsWith(`${name}@`) && ARCHIVE_NAME_PATTERN.test(f))
    .sort()
    .at(-1);
}

/**
 * Write a gzip'd tar of `members` (logical absolute paths, in this order;
 * directories recursively, symlinks stored as links) to the logical path
 * `archive`, everything read under `root`. Members are stored as their
 * logical paths whatever the root. The file is written under a temporary
 * name and renamed, so a failed run leaves no half archive.
 */
export async function writeArchive(root: string, archive: string, members: readonly string[]): Promise<void> {
  const file = physical(root, archive);
  const tmp = `${file}.part`;
  await fsp.mkdir(posix.dirname(file), { recursive: true });
  try {
    // Synchronous on purpose: tar 7's asynchronous packer intermittently writes
    // after its end (Z_STREAM_ERROR / "write after end") on trees with hard
    // links, which every base.txz tree has.
    tar.c(
      {
        sync: true,
        gzip: true,
        file: tmp,
        cwd: root === "" ? "/" : root,
        prefix: "/",
        preservePaths: true,
        portable: false,
        follow: false,
        strict: true,
      },
      members.map((m) => m.replace(/^\/+/, "")),
    );
    await fsp.rename(tmp, file);
  } catch (e) {
    await fsp.rm(tmp, { force: true });
    throw e;
  }
}

export interface ArchiveEntry {
  path: string;
  type: string;
  linkpath: string | undefined;
  size: number;
}

/** Every member of an archive (a physical path), plus the text of small control-file members. */
export async function readArchiveIndex(
  archiveFile: string,
): Promise<{ entries: ArchiveEntry[]; texts: Map<string, string> }> {
  const entries: ArchiveEntry[] = [];
  const texts = new Map<string, string>();
  try {
    await tar.t({
      file: archiveFile,
      strict: true,
      onReadEntry: (e) => {
        const path = String(e.path);
        entries.push({
          path,
          type: e.type,
          linkpath: e.linkpath === undefined ? undefined : String(e.linkpath),
          size: e.size ?? 0,
        });
        if (e.type === "File" && path.startsWith("/usr/local/etc/qjail.") && (e.size ?? 0) < 65536) {
          const chunks: Buffer[] = [];
          e.on("data", (c: Buffer) => chunks.push(c));
          e.on("end", () => texts.set(path, Buffer.concat(chunks).toString("utf8")));
        } else e.resume();
      },
    });
  } catch (e) {
    throw new UsageError(
      "QJ1640",
      `cannot read archive ${shown(archiveFile)}: ${(e as Error).message}`,
      "Check that it is a qjail archive (gzip'd tar) and not truncated.",
    );
  }
  return { entries, texts };
}

/** What a jail archive holds and where its members are allowed to go. */
export interface JailArchiveInfo {
  name: string;
  /** Record file name, with .norun/.man. */
  recordFile: string;
  record: JailRecord;
  /** Zone suffix of its qjail.local dir: undefined for the default zone. */
  zone: string | undefined;
  /** The jail root the archive was made from. */
  rootPath: string;
}

const ETC = "/usr/local/etc";

/**
 * Decide whether a jail archive may be unpacked at its original paths, and
 * what it holds. Refuses (UsageError naming the member) anything that could
 * land outside the jail root and the jail's own control files: a relative or
 * non-normal path (`..`, `.`, `//`), a member of another jail's or the host's
 * files, a control file that is not a plain file, a hard link to a file
 * outside the jail root, a relative symlink that climbs out of the root, a
 * member below a symlink of the same archive (extraction would write through
 * it), and device nodes. Absolute symlinks inside the root are kept: they
 * resolve inside the jail (`bin -> /sharedfs/bin`).
 */
export function checkJailArchive(
  archiveName: string,
  entries: readonly ArchiveEntry[],
  texts: ReadonlyMap<string, string>,
): JailArchiveInfo {
  const refuse = (what: string): never => {
    throw new UsageError(
      "QJ1641",
      `refusing to restore ${shown(archiveName)}: ${what}`,
      "Restore only archives made by qjail archive; inspect this one with 'tar tzvf'.",
    );
  };
  const recordPaths = entries
    .map((e) => e.path)
    .filter((p) => /^\/usr\/local\/etc\/qjail\.local(\.[A-Za-z0-9_-]+)?\/[^/]+$/.test(p));
  if (recordPaths.length !== 1)
    refuse(
      recordPaths.length === 0
        ? "it holds no qjail.local record"
        : `it holds ${recordPaths.length} qjail.local records`,
    );
  const recordPath = recordPaths[0] as string;
  const zone = /^\/usr\/local\/etc\/qjail\.local(?:\.([A-Za-z0-9_-]+))?\//.exec(recordPath)?.[1];
  const recordFile = posix.basename(recordPath);
  const { name } = statusFromFileName(recordFile);
  if (!/^[A-Za-z0-9_-]{1,50}$/.test(name) || /^\d+$/.test(name))
    refuse(`its record names an invalid jail ${shown(name)}`);
  const text = texts.get(recordPath);
  if (text === undefined) refuse(`its record ${shown(recordPath)} is not a small plain file`);
  const { record } = parseRecord(text as string);
  const jaildir = `/usr/jails${zone ? `.${zone}` : ""}`;
  const rootPath = `${jaildir}/${name}`;
  if (record.name !== name)
    refuse(`its record is named ${shown(record.name)} but the file is ${shown(recordFile)}`);
  if (record.path !== rootPath) refuse(`its record's path ${shown(record.path)} is not ${shown(rootPath)}`);
  const control = new Set([
    recordPath,
    `${ETC}/qjail.global/${recordFile}`,
    `${ETC}/qjail.config/${name}`,
    `${ETC}/qjail.fstab${zone ? `.${zone}` : ""}/${name}`,
    `${ETC}/qjail.packages/${name}`,
  ]);
  const inRoot = (p: string): boolean => p === rootPath || p.startsWith(`${rootPath}/`);
  const symlinks: string[] = [];
  for (const e of entries) {
    const p = e.path.replace(/\/$/, "");
    if (!p.startsWith("/") || posix.normalize(p) !== p || p.split("/").some((s) => s === ".." || s === "."))
      refuse(`member ${shown(e.path)} is not a plain absolute path`);
    if (symlinks.some((l) => p.startsWith(`${l}/`)))
      refuse(`member ${shown(e.path)} lies below a symbolic link of the same archive`);
    if (control.has(p)) {
      if (e.type !== "File") refuse(`control file ${shown(e.path)} is a ${e.type}, not a file`);
      continue;
    }
    if (!inRoot(p))
      refuse(`member ${shown(e.path)} is outside the jail root ${shown(rootPath)} and its qjail files`);
    switch (e.type) {
      case "File":
      case "OldFile":
      case "ContiguousFile":
      case "Directory":
      case "FIFO":
        break;
      case "Link": {
        const target = e.linkpath ?? "";
        if (
          !target.startsWith("/") ||
          posix.normalize(target) !== target ||
          !inRoot(target) ||
          target === rootPath
        )
          refuse(`hard link ${shown(e.path)} points outside the jail root (${shown(target)})`);
        break;
      }
      case "SymbolicLink": {
        const target = e.linkpath ?? "";
        if (!target.startsWith("/") && !inRoot(posix.normalize(posix.join(posix.dirname(p), target))))
          refuse(`symbolic link ${shown(e.path)} -> ${shown(target)} climbs out of the jail root`);
        symlinks.push(p);
        break;
      }
      default:
        refuse(`member ${shown(e.path)} is a ${e.type}`);
    }
  }
  return { name, recordFile, record, zone, rootPath };
}

/**
 * Unpack an archive at the logical paths it records, under `root`. Call the
 * matching check first ({@link checkJailArchive} or {@link checkTreeArchive}):
 * absolute symlink targets must stay as they are (they resolve inside the
 * jail), which means node-tar's own path stripping is off and the check is
 * what keeps members in place. `only` limits extraction to paths it accepts.
 */
export async function extractArchive(
  root: string,
  archiveFile: string,
  only?: (logicalPath: string) => boolean,
): Promise<void> {
  await tar.x({
    file: archiveFile,
    preservePaths: true,
    strict: true,
    filter: (path, entry) => {
      const logical = String(path).replace(/\/$/, "") || "/";
      if (only && !only(logical)) return false;
      const e = entry as tar.ReadEntry;
      e.path = physical(root, logical);
      if (e.type === "Link" && e.linkpath) e.linkpath = physical(root, String(e.linkpath));
      return true;
    },
  });
}

/**
 * For `create -a`: unpack only the jail root of a qjail archive into
 * `targetRoot` (a physical directory that must not exist yet), moving every
 * member from the archived root to the new one. The archive's control files
 * are ignored: create writes fresh ones. Returns what the archive held.
 */
export async function extractJailTree(archivePath: string, targetRoot: string): Promise<JailArchiveInfo> {
  const { entries, texts } = await readArchiveIndex(archivePath);
  const info = checkJailArchive(posix.basename(archivePath), entries, texts);
  if (await fsp.lstat(targetRoot).catch(() => undefined)) {
    throw new UsageError(
      "QJ1642",
      `${shown(targetRoot)} already exists`,
      "Pick a new jail name, or delete the old jail first.",
    );
  }
  const from = info.rootPath;
  const move = (p: string): string => targetRoot + p.slice(from.length);
  await fsp.mkdir(targetRoot, { recursive: true });
  try {
    await tar.x({
      file: archivePath,
      preservePaths: true,
      strict: true,
      filter: (path, entry) => {
        const logical = String(path).replace(/\/$/, "");
        if (logical !== from && !logical.startsWith(`${from}/`)) return false;
        const e = entry as tar.ReadEntry;
        e.path = move(logical);
        if (e.type === "Link" && e.linkpath) e.linkpath = move(String(e.linkpath));
        return true;
      },
    });
  } catch (e) {
    await fsp.rm(targetRoot, { recursive: true, force: true });
    throw e;
  }
  return info;
}

/**
 * A sharedfs/template archive may hold only that tree (`/usr/jails[.zone]/sharedfs`),
 * with the same link rules as a jail archive.
 */
export function checkTreeArchive(
  archiveName: string,
  entries: readonly ArchiveEntry[],
  treePath: string,
): void {
  const refuse = (what: string): never => {
    throw new UsageError(
      "QJ1643",
      `refusing to restore ${shown(archiveName)}: ${what}`,
      "Restore only archives made by qjail archive sharedfs|template.",
    );
  };
  const inTree = (p: string): boolean => p === treePath || p.startsWith(`${treePath}/`);
  const symlinks: string[] = [];
  for (const e of entries) {
    const p = e.path.replace(/\/$/, "");
    if (!p.startsWith("/") || posix.normalize(p) !== p)
      refuse(`member ${shown(e.path)} is not a plain absolute path`);
    if (!inTree(p)) refuse(`member ${shown(e.path)} is outside ${shown(treePath)}`);
    if (symlinks.some((l) => p.startsWith(`${l}/`)))
      refuse(`member ${shown(e.path)} lies below a symbolic link of the same archive`);
    if (e.type === "Link" && !inTree(e.linkpath ?? ""))
      refuse(`hard link ${shown(e.path)} points outside ${shown(treePath)}`);
    if (e.type === "SymbolicLink") {
      const t = e.linkpath ?? "";
      if (!t.startsWith("/") && !inTree(posix.normalize(posix.join(posix.dirname(p), t))))
        refuse(`symbolic link ${shown(e.path)} climbs out of ${shown(treePath)}`);
      symlinks.push(p);
    }
    if (!["File", "OldFile", "ContiguousFile", "Directory", "SymbolicLink", "Link", "FIFO"].includes(e.type))
      refuse(`member ${shown(e.path)} is a ${e.type}`);
  }
}
