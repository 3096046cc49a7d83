import { promises as fsp, constants } from "node:fs";
import { basename, dirname, join } from "node:path";
import { randomBytes } from "node:crypto";

/**
 * Write a host-side file (records, jail.conf blocks, rule files) atomically:
 * a temporary file in the same directory, fsync, rename, fsync of the
 * directory. Readers see the old or the new content, never a torn file, even
 * after a crash or a full disk.
 *
 * The temporary file is named `.<name>.qjail-tmp-<pid>-<random>` so that one
 * left by a killed qjail is recognisably ours: the next write of the same file
 * removes it (when its pid is gone) instead of leaving litter beside the
 * admin's files. (write-file-atomic, used before, names its temporaries
 * `<name>.<hash>`, which cannot be told apart from an admin's dated backup.)
 *
 * Not for paths inside a jail tree, where a jail's root may plant links:
 * those go through src/platform/safe-fs.ts.
 */
export async function writeFileAtomic(path: string, content: string | Buffer, mode = 0o644): Promise<void> {
  const dir = dirname(path);
  const prefix = `.${basename(path)}.qjail-tmp-`;
  await clearStaleTemporaries(dir, prefix);
  const tmp = join(dir, `${prefix}${process.pid}-${randomBytes(4).toString("hex")}`);
  const fh = await fsp.open(
    tmp,
    constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
    mode,
  );
  try {
    try {
      await fh.writeFile(content);
      await fh.chmod(mode);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fsp.rename(tmp, path);
  } catch (e) {
    await fsp.unlink(tmp).catch(() => undefined);
    throw e;
  }
  await syncDirectory(dir);
}

async function clearStaleTemporaries(dir: string, prefix: string): Promise<void> {
  let names: string[];
  try {
    names = await fsp.readdir(dir);
  } catch {
    return;
  }
  for (const name of names) {
    if (!name.startsWith(prefix)) continue;
    const pid = Number(/^(\d+)-/.exec(name.slice(prefix.length))?.[1]);
    if (Number.isInteger(pid) && pid !== process.pid && processAlive(pid)) continue;
    await fsp.unlink(join(dir, name)).catch(() => undefined);
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Make the rename itself durable; some filesystems refuse fsync on a directory, which is harmless. */
async function syncDirectory(dir: string): Promise<void> {
  let fh;
  try {
    fh = await fsp.open(dir, constants.O_RDONLY);
    await fh.sync();
  } catch {
    return;
  } finally {
    await fh?.close();
  }
}
