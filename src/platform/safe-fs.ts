import { promises as fsp, constants } from "node:fs";
import { posix } from "node:path";
import { randomBytes } from "node:crypto";
import { UsageError } from "../core/errors.js";
import { runProgram } from "./run.js";

/**
 * File operations inside a jail's tree. The host runs qjail as root and a
 * jail's root user can plant symlinks or hard links anywhere in that tree, so
 * nothing here follows a link below the jail root: every directory on the way
 * is checked with lstat, files are created O_EXCL|O_NOFOLLOW and renamed into
 * place (rename replaces a link instead of writing through it), files with
 * more than one hard link are refused, and tree removal never crosses into
 * another filesystem (a nullfs or bind mount).
 */

function refuse(path: string, why: string): never {
  throw new UsageError(
    "QJ1101",
    `refusing to touch ${JSON.stringify(path)}: ${why}`,
    "Something inside the jail replaced part of its tree with a link or mount. Inspect it before retrying.",
  );
}

/** Check that `jailRoot` and every directory from it down to (not including) `target` is a real directory. */
export async function assertPlainPath(jailRoot: string, target: string): Promise<void> {
  const rel = posix.relative(jailRoot, target);
  if (rel.startsWith("..") || posix.isAbsolute(rel)) refuse(target, `not inside the jail root ${jailRoot}`);
  const rootSt = await fsp.lstat(jailRoot).catch(() => undefined);
  if (rootSt && !rootSt.isDirectory()) refuse(jailRoot, "the jail root is not a directory (a symlink?)");
  const parts = rel === "" ? [] : rel.split("/");
  let cur = jailRoot;
  for (const part of parts.slice(0, -1)) {
    cur = posix.join(cur, part);
    const st = await fsp.lstat(cur).catch(() => undefined);
    if (st === undefined) return; // the rest does not exist yet; mkdir will create real directories
    if (st.isSymbolicLink()) refuse(cur, "it is a symbolic link inside the jail");
    if (!st.isDirectory()) refuse(cur, "it is not a directory");
  }
}

export async function safeMkdirp(jailRoot: string, dir: string, mode = 0o755): Promise<void> {
  await assertPlainPath(jailRoot, posix.join(dir, "x"));
  const rel = posix.relative(jailRoot, dir);
  let cur = jailRoot;
  await fsp.mkdir(jailRoot, { recursive: true, mode });
  for (const part of rel === "" ? [] : rel.split("/")) {
    cur = posix.join(cur, part);
    try {
      await fsp.mkdir(cur, { mode });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      const st = await fsp.lstat(cur);
      if (!st.isDirectory())
        refuse(cur, st.isSymbolicLink() ? "it is a symbolic link inside the jail" : "not a directory");
    }
  }
}

/** Atomic write that replaces whatever entry is at `file` (a planted link is replaced, not followed). */
export async function safeWriteFile(
  jailRoot: string,
  file: string,
  content: string | Buffer,
  mode = 0o644,
): Promise<void> {
  await assertPlainPath(jailRoot, file);
  const existing = await fsp.lstat(file).catch(() => undefined);
  if (existing?.isDirectory()) refuse(file, "it is a directory");
  const tmp = posix.join(posix.dirname(file), `.qjail-tmp-${randomBytes(6).toString("hex")}`);
  const fh = await fsp.open(
    tmp,
    constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
    mode,
  );
  try {
    await fh.writeFile(content);
    await fh.chmod(mode);
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    await fsp.rename(tmp, file);
  } catch (e) {
    await fsp.unlink(tmp).catch(() => undefined);
    throw e;
  }
}

/** Append to an existing regular file (or create it) without following links or writing through hard links. */
export async function safeAppendFile(
  jailRoot: string,
  file: string,
  content: string,
  mode = 0o644,
  once = false,
): Promise<void> {
  await assertPlainPath(jailRoot, file);
  const st = await fsp.lstat(file).catch(() => undefined);
  if (st === undefined) return safeWriteFile(jailRoot, file, content, mode);
  if (st.isSymbolicLink()) refuse(file, "it is a symbolic link inside the jail");
  if (!st.isFile()) refuse(file, "it is not a regular file");
  if (st.nlink > 1) refuse(file, "it has other hard links, which may point outside the jail");
  const old = await fsp.readFile(file);
  const add = onceText(once ? old.toString("utf8") : undefined, content, once);
  if (add === "") return;
  await safeWriteFile(jailRoot, file, Buffer.concat([old, Buffer.from(add)]), st.mode & 0o7777);
}

/**
 * What an append adds to a file whose text is `old`: `content` itself, or
 * with `once` nothing when the file already holds that line, and a newline
 * first when it does not end with one.
 */
export function onceText(old: string | undefined, content: string, once: boolean): string {
  if (!once || old === undefined || old === "") return content;
  if (old.split("\n").includes(content.replace(/\n$/, ""))) return "";
  return old.endsWith("\n") ? content : `\n${content}`;
}

/** Read a file inside a jail without following links; undefined when absent. */
export async function safeReadFile(jailRoot: string, file: string): Promise<string | undefined> {
  await assertPlainPath(jailRoot, file);
  let fh;
  try {
    fh = await fsp.open(file, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return undefined;
    if (code === "ELOOP") refuse(file, "it is a symbolic link inside the jail");
    throw e;
  }
  try {
    return await fh.readFile("utf8");
  } finally {
    await fh.close();
  }
}

/**
 * A jail's /etc/resolv.conf for doctor: read without following any link the
 * jail planted (jailed root can point etc/resolv.conf, or etc itself, at a
 * host file). A link is reported, never read through.
 */
export async function readJailResolvConf(jailRoot: string): Promise<{ text?: string; problem?: string }> {
  try {
    const text = await safeReadFile(jailRoot, posix.join(jailRoot, "etc/resolv.conf"));
    return text === undefined ? {} : { text };
  } catch (e) {
    if (e instanceof UsageError && e.code === "QJ1101")
      return { problem: "its /etc/resolv.conf (or /etc) is a symbolic link, which qjail does not follow" };
    return { problem: `cannot read its /etc/resolv.conf: ${(e as Error).message}` };
  }
}

/**
 * Copy the tree `from` (outside the jail) onto `to` inside the jail without
 * following any link in the destination: every destination directory is one
 * this copy made or one lstat shows is a real directory (a planted symlink is
 * refused), and files and links are written under a new name and renamed
 * over the old entry, so a planted link or hard link is replaced, never
 * written through. Without `overwrite`, entries already there are kept.
 */
export async function safeCopyTree(
  jailRoot: string,
  from: string,
  to: string,
  overwrite: boolean,
): Promise<void> {
  await assertPlainPath(jailRoot, to);
  await fsp.mkdir(posix.dirname(to), { recursive: true });
  const copy = async (src: string, dst: string): Promise<void> => {
    const sst = await fsp.lstat(src);
    const dst0 = await fsp.lstat(dst).catch(() => undefined);
    if (sst.isDirectory()) {
      if (dst0 === undefined) {
        await fsp.mkdir(dst, { mode: sst.mode & 0o7777 });
        // mkdir's mode passes through the umask; the copy keeps the source's.
        await fsp.chmod(dst, sst.mode & 0o7777);
      } else if (dst0.isSymbolicLink()) refuse(dst, "it is a symbolic link inside the jail");
      else if (!dst0.isDirectory()) refuse(dst, "it is not a directory");
      for (const name of (await fsp.readdir(src)).sort())
        await copy(posix.join(src, name), posix.join(dst, name));
      return;
    }
    if (dst0 !== undefined) {
      if (!overwrite) return;
      if (dst0.isDirectory()) refuse(dst, "it is a directory");
    }
    const tmp = posix.join(posix.dirname(dst), `.qjail-tmp-${randomBytes(6).toString("hex")}`);
    try {
      if (sst.isSymbolicLink()) await fsp.symlink(await fsp.readlink(src), tmp);
      else if (sst.isFile()) {
        await fsp.copyFile(src, tmp, constants.COPYFILE_EXCL);
        await fsp.chmod(tmp, sst.mode & 0o7777);
        await fsp.utimes(tmp, sst.atime, sst.mtime);
      } else refuse(src, "only files, directories and symbolic links are copied into a jail");
      await fsp.rename(tmp, dst);
    } catch (e) {
      await fsp.rm(tmp, { force: true });
      throw e;
    }
  };
  await copy(from, to);
}

/**
 * Remove a tree without following links and without crossing filesystems:
 * finding a different st_dev below `top` means something is mounted there,
 * and removing through a read-write nullfs/bind mount would destroy its source.
 */
export async function safeRemoveTree(top: string): Promise<void> {
  const st = await fsp.lstat(top).catch(() => undefined);
  if (st === undefined) return;
  if (!st.isDirectory()) {
    await fsp.unlink(top);
    return;
  }
  // A Linux bind mount of the same filesystem keeps st_dev, so the mount table is asked first.
  const resolvedTop = await fsp.realpath(top).catch(() => top);
  for (const mp of await mountPoints())
    if (mp === resolvedTop || mp.startsWith(`${resolvedTop}/`))
      refuse(
        posix.join(top, posix.relative(resolvedTop, mp)),
        "a filesystem is mounted there; unmount it first (qjail stop)",
      );
  const dev = st.dev;
  const walk = async (dir: string): Promise<void> => {
    for (const name of await fsp.readdir(dir)) {
      const p = posix.join(dir, name);
      const s = await fsp.lstat(p);
      if (s.isDirectory()) {
        if (s.dev !== dev) refuse(p, "a filesystem is mounted there; unmount it first (qjail stop)");
        await walk(p);
        await fsp.rmdir(p);
      } else {
        await fsp.unlink(p);
      }
    }
  };
  await walk(top);
  await fsp.rmdir(top);
}

/** Octal escapes (`\040` for a space) as the kernel writes them in mountinfo and mount -p. */
function unescapeMountPath(p: string): string {
  return p.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/** Linux: the 5th field of each /proc/self/mountinfo line is the mount point. */
export function parseMountinfo(text: string): string[] {
  return text
    .split("\n")
    .map((l) => l.split(" ")[4])
    .filter((p): p is string => p !== undefined && p !== "")
    .map(unescapeMountPath);
}

/**
 * Every mount point of this process's view (Linux: /proc/self/mountinfo;
 * FreeBSD: `mount -p`, whose second field is the mount point). Elsewhere, or
 * when the table cannot be read, only the st_dev check of the walk remains.
 */
async function mountPoints(): Promise<string[]> {
  if (process.platform === "linux")
    return parseMountinfo(await fsp.readFile("/proc/self/mountinfo", "utf8").catch(() => ""));
  if (process.platform === "freebsd") {
    const r = await runProgram(["/sbin/mount", "-p"]).catch(() => undefined);
    if (r === undefined || r.code !== 0) return [];
    return r.stdout
      .split("\n")
      .map((l) => l.trim().split(/\s+/)[1])
      .filter((p): p is string => p !== undefined && p !== "")
      .map(unescapeMountPath);
  }
  return [];
}
