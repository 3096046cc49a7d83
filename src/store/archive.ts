import { promises as fsp } from "node:fs";
import { posix } from "node:path";
import type { ReadEntry } from "tar";

/** node-tar, loaded by the commands that read or write archives only (it is large, and start-up pays for every module). */
const loadTar = () => import("tar");
import { UsageError, shown } from "../core/errors.js";
import { physical } from "../core/paths.js";
import {
  RECORD_FLAG_VALUES,
  parseRecord,
  statusFromFileName,
  type JailRecord,
  type JailStatus,
} from "../core/record.js";
import { parseAddressList, validateInterfaceName } from "../core/validate.js";

/**
 * node-tar refuses a gzip stream that grows more than 1000 times
 * (max decompression ratio exceeded): an image jail's archive holds a mostly
 * empty file system image, which deflate shrinks about 1030:1, so restore and
 * `create -a` of any large image jail stopped there. bsdtar, which qjail 5.x
 * used, has no such limit; the member checks before extraction are what
 * keep an archive's content in place.
 */
const NO_RATIO_LIMIT = Number.POSITIVE_INFINITY;
/**
 * qjail's archive files (docs/qjail-5.md §2.4): `<name>@YYYYMMDDhhmm.SS.tar`,
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
  const tar = await loadTar();
  const file = physical(root, archive);
  const dir = posix.dirname(file);
  // The archive being written lives beside the archive directory, not in it: a
  // killed run then leaves nothing in the directory the admin (and restore) reads.
  const partDir = posix.join(posix.dirname(dir), ".qjail-archive-part");
  const tmp = posix.join(partDir, `${posix.basename(file)}.part`);
  // The archive holds the jail's master.passwd hashes: only root may read it or list the directory.
  await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
  await fsp.mkdir(partDir, { recursive: true, mode: 0o700 });
  await removeStaleParts(dir, posix.basename(file));
  await removeStaleParts(partDir, posix.basename(file));
  try {
    // Created 0600 before tar writes to it (tar truncates an existing file and keeps its mode),
    // so the password hashes are never readable by others, not even while it is written.
    await (await fsp.open(tmp, "wx", 0o600)).close();
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
    await fsp.chmod(tmp, 0o600);
    await fsp.rename(tmp, file).catch(async (e: NodeJS.ErrnoException) => {
      if (e.code !== "EXDEV") throw e;
      // The archive directory is a filesystem of its own: copy in under a temporary name, then rename.
      const near = `${file}.part`;
      try {
        await fsp.copyFile(tmp, near);
        await fsp.chmod(near, 0o600);
        await fsp.rename(near, file);
      } catch (e2) {
        await fsp.rm(near, { force: true });
        throw e2;
      }
      await fsp.rm(tmp, { force: true });
    });
  } catch (e) {
    await fsp.rm(tmp, { force: true });
    await fsp.rmdir(partDir).catch(() => undefined);
    throw e;
  }
  // Only while an archive is written does the directory exist (another jail's leftover keeps it).
  await fsp.rmdir(partDir).catch(() => undefined);
}

/**
 * A killed archive run leaves `<name>@<time>.tar.part`; the next archive of
 * the same jail clears them (the host lock is held, so none is being written).
 */
async function removeStaleParts(dir: string, fileName: string): Promise<void> {
  const jail = fileName.slice(0, fileName.indexOf("@") + 1);
  if (jail === "") return;
  for (const n of await fsp.readdir(dir).catch(() => [] as string[]))
    if (n.startsWith(jail) && n.endsWith(".tar.part")) await fsp.rm(posix.join(dir, n), { force: true });
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
  const tar = await loadTar();
  const entries: ArchiveEntry[] = [];
  const texts = new Map<string, string>();
  try {
    await tar.t({
      file: archiveFile,
      strict: true,
      maxDecompressionRatio: NO_RATIO_LIMIT,
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
  /** norun/man status, from the record's file name. */
  status: JailStatus;
  /** Text of qjail.packages/<name> when the archive holds it. */
  packages: string | undefined;
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
  const { record, problems } = parseRecord(text as string);
  const jaildir = `/usr/jails${zone ? `.${zone}` : ""}`;
  const rootPath = `${jaildir}/${name}`;
  if (problems.length > 0)
    refuse(
      `its record ${shown(recordPath)} is damaged: ${problems.map((p) => (p.line > 0 ? `line ${p.line}: ${p.message}` : p.message)).join("; ")}`,
    );
  if (record.name !== name)
    refuse(`its record is named ${shown(record.name)} but the file is ${shown(recordFile)}`);
  checkRecordFields(record, { name, zone, rootPath }, refuse);
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
  const packagesPath = `${ETC}/qjail.packages/${name}`;
  const packages = texts.get(packagesPath);
  if (entries.some((e) => e.path === packagesPath) && packages === undefined)
    refuse(`its package list ${shown(packagesPath)} is not a small plain file`);
  // config -P hands these words to pkg(8) as root: only package names may come back.
  for (const word of (packages ?? "").split(/[\s,]+/).filter((w) => w !== ""))
    if (!/^[A-Za-z0-9][A-Za-z0-9+._@/-]{0,199}$/.test(word))
      refuse(`its package list ${shown(packagesPath)} holds ${shown(word)}, which is not a package name`);
  return {
    name,
    recordFile,
    record,
    zone,
    rootPath,
    status: statusFromFileName(recordFile).status,
    packages,
  };
}

/**
 * Every field of a restored record must be what qjail itself would write for
 * this name and zone: the path-valued ones are the jail's own paths (delete,
 * rename and archive act on them as root), and the others are the plain
 * values the jail.conf block is rendered from, so no field can smuggle a
 * jail.conf parameter (`10.0.0.5; exec.prestart = ...`) into the block.
 */
function checkRecordFields(
  record: JailRecord,
  jail: { name: string; zone: string | undefined; rootPath: string },
  refuse: (what: string) => never,
): void {
  const z = jail.zone ? `.${jail.zone}` : "";
  const bad = (field: string, want: string): never =>
    refuse(`its record's ${field} ${shown(record[field as keyof JailRecord])} is not ${want}`);
  const local = `${ETC}/qjail.local${z}/${jail.name}`;
  if (record.path !== jail.rootPath) bad("path", shown(jail.rootPath));
  const fstab = `${ETC}/qjail.fstab${z}/${jail.name}`;
  // An empty fstab means the jail's own (specFromRecord reads it so); restore writes it out in full.
  if (record.fstab !== "" && record.fstab !== fstab) bad("fstab", shown(fstab));
  if (!["", local, `${local}.norun`, `${local}.man`].includes(record.deffile)) bad("deffile", shown(local));
  const image = `${jail.rootPath}/${jail.name}.img`;
  if (record.image !== "" && record.image !== image) bad("image", shown(image));
  for (const [field, family] of [
    ["ip4", 4],
    ["ip6", 6],
  ] as const) {
    if (record[field] === "") continue;
    try {
      parseAddressList(record[field], family);
    } catch {
      bad(field, `a list of IPv${family} addresses`);
    }
  }
  for (const field of ["interface", "vinterface"] as const) {
    if (record[field] === "") continue;
    try {
      validateInterfaceName(record[field]);
    } catch {
      bad(field, "an interface name");
    }
  }
  for (const [field, value] of Object.entries(RECORD_FLAG_VALUES))
    if (!["", value].includes(record[field as keyof JailRecord])) bad(field, `"" or ${shown(value)}`);
  const patterns: [keyof JailRecord, RegExp, string][] = [
    ["securelevel", /^(-1|[0-3])?$/, "a securelevel from -1 to 3"],
    ["cpuset", /^[0-9]*$/, "a cpuset id"],
    ["fib", /^[0-9]*$/, "a FIB number"],
    ["ruleset", /^[0-9]*$/, "a devfs ruleset number"],
    ["vnet", /^(be\|[a-z]*\|[0-9]+)?$/, "be|FIREWALL|ID"],
    ["imagetype", /^[a-z]*$/, "an image type"],
    ["imageblockcount", /^[0-9]*$/, "a number"],
    ["imagedevice", /^[A-Za-z0-9._/-]*$/, "a device name"],
  ];
  for (const [field, pattern, want] of patterns) if (!pattern.test(record[field])) bad(field, want);
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
  const tar = await loadTar();
  await tar.x({
    file: archiveFile,
    preservePaths: true,
    strict: true,
    maxDecompressionRatio: NO_RATIO_LIMIT,
    filter: (path, entry) => {
      const logical = String(path).replace(/\/$/, "") || "/";
      if (only && !only(logical)) return false;
      const e = entry as ReadEntry;
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
  await fsp.mkdir(targetRoot, { recursive: true });
  try {
    await unpackJailTree(archivePath, info, targetRoot);
  } catch (e) {
    await fsp.rm(targetRoot, { recursive: true, force: true });
    throw e;
  }
  return info;
}

/**
 * Unpack only the jail root of a checked archive into the existing physical
 * directory `targetRoot`, each member moved from the archived root to it.
 * restore unpacks into a staging directory and renames it into place, so a
 * killed restore never leaves half a tree at the jail's path.
 */
export async function unpackJailTree(
  archivePath: string,
  info: Pick<JailArchiveInfo, "rootPath">,
  targetRoot: string,
): Promise<void> {
  const tar = await loadTar();
  const from = info.rootPath;
  const move = (p: string): string => targetRoot + p.slice(from.length);
  await tar.x({
    file: archivePath,
    preservePaths: true,
    strict: true,
    maxDecompressionRatio: NO_RATIO_LIMIT,
    filter: (path, entry) => {
      const logical = String(path).replace(/\/$/, "");
      if (logical !== from && !logical.startsWith(`${from}/`)) return false;
      const e = entry as ReadEntry;
      e.path = move(logical);
      if (e.type === "Link" && e.linkpath) e.linkpath = move(String(e.linkpath));
      return true;
    },
  });
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
