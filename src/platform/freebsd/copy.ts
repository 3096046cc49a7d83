import { promises as fsp } from "node:fs";
import { posix } from "node:path";

/**
 * Copy a tree keeping owners, groups, modes (set-id bits included), times
 * and hard links, the way qjail's `find | cpio -dmp` does. node's fs.cp leaves every
 * copy owned by the caller: as root that turns base's setgid-tty programs
 * (wall, write) into setgid-wheel ones inside every jail. Links are copied
 * as links, never followed. Without `overwrite`, existing files are kept
 * (a later layer must ask to replace them, as flavors do).
 */
export async function copyTreePreserving(
  from: string,
  to: string,
  overwrite: boolean,
  links: Map<string, string> = new Map(),
): Promise<void> {
  const st = await fsp.lstat(from);
  const existing = await fsp.lstat(to).catch(() => undefined);
  if (st.isSymbolicLink()) {
    if (existing && !overwrite) return;
    if (existing) await fsp.rm(to, { recursive: existing.isDirectory(), force: true });
    await fsp.symlink(await fsp.readlink(from), to);
    await fsp.lchown(to, st.uid, st.gid);
    return;
  }
  if (st.isDirectory()) {
    if (existing && !existing.isDirectory()) {
      if (!overwrite) return;
      await fsp.rm(to, { force: true });
    }
    // An existing directory keeps its owner and mode unless this layer overwrites.
    const created = !existing?.isDirectory();
    if (created) await fsp.mkdir(to, { mode: 0o700 });
    for (const name of await fsp.readdir(from))
      await copyTreePreserving(posix.join(from, name), posix.join(to, name), overwrite, links);
    if (created || overwrite) await settle(to, st);
    return;
  }
  if (!st.isFile()) throw new Error(`cannot copy ${from}: not a file, directory or symbolic link`);
  if (existing && !overwrite) return;
  if (existing) await fsp.rm(to, { recursive: existing.isDirectory(), force: true });
  // A file with several names (base's /usr/bin has dozens) is copied once and
  // linked again, as cpio -p does, instead of filling sharedfs with copies.
  const key = `${st.dev}:${st.ino}`;
  const first = st.nlink > 1 ? links.get(key) : undefined;
  if (first !== undefined) {
    await fsp.link(first, to);
    return;
  }
  await fsp.copyFile(from, to);
  await settle(to, st);
  if (st.nlink > 1) links.set(key, to);
}

// chown clears set-id bits, so the mode is set after it.
async function settle(path: string, st: import("node:fs").Stats): Promise<void> {
  await fsp.chown(path, st.uid, st.gid);
  await fsp.chmod(path, st.mode & 0o7777);
  await fsp.utimes(path, st.atime, st.mtime);
}
