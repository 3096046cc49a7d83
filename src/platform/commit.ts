import { promises as fsp } from "node:fs";
import { posix } from "node:path";
import { UsageError, shown } from "../core/errors.js";
import { physical } from "../core/paths.js";
import { parseFstab } from "../core/fstab.js";

/**
 * Refuse to remove a jail tree while something is mounted inside it: the
 * fstab's mount points, /dev and /sharedfs must be on the tree's own device,
 * and (on Linux) no /proc/self/mountinfo entry may lie below it. This runs
 * before the platform's own check (FreeBSD: mount -p), because a read-write
 * nullfs or bind mount removed through destroys its source.
 */
export async function assertNothingMounted(
  root: string,
  rootPath: string,
  mountPoints: readonly string[],
): Promise<void> {
  const top = physical(root, rootPath);
  const st = await fsp.lstat(top).catch(() => undefined);
  if (st === undefined || !st.isDirectory()) return;
  const candidates = new Set([`${rootPath}/dev`, `${rootPath}/sharedfs`, `${rootPath}/proc`]);
  for (const m of mountPoints) if (m.startsWith(`${rootPath}/`)) candidates.add(m);
  for (const c of candidates) {
    const cs = await fsp.lstat(physical(root, c)).catch(() => undefined);
    if (cs?.isDirectory() && cs.dev !== st.dev) refuseMounted(rootPath, c);
  }
  const mountinfo = await fsp.readFile("/proc/self/mountinfo", "utf8").catch(() => "");
  const resolvedTop = await fsp.realpath(top).catch(() => top);
  for (const line of mountinfo.split("\n")) {
    const mp = line.split(" ")[4];
    if (mp === undefined) continue;
    const decoded = mp.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
    if (decoded.startsWith(`${resolvedTop}/`))
      refuseMounted(rootPath, posix.join(rootPath, posix.relative(resolvedTop, decoded)));
  }
}

function refuseMounted(rootPath: string, mountPoint: string): never {
  throw new UsageError(
    "QJ1121",
    `refusing to remove ${shown(rootPath)}: ${shown(mountPoint)} is still mounted`,
    "Stop the jail (qjail stop NAME) or unmount it, then run delete again.",
  );
}

/** Mount points inside `rootPath` that the jail's fstab names (read before delete removes the fstab). */
export async function fstabMountPoints(root: string, fstabPath: string): Promise<string[]> {
  const text = await fsp.readFile(physical(root, fstabPath), "utf8").catch(() => "");
  return parseFstab(text).map((e) => e.mountPoint);
}
