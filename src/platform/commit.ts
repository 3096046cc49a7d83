import { promises as fsp } from "node:fs";
import { posix } from "node:path";
import { UsageError, shown } from "../core/errors.js";
import { physical } from "../core/paths.js";
import type { Plan, Step } from "../core/plan.js";
import { parseFstab } from "../core/fstab.js";
import { applyStep, crashPoint } from "./apply.js";
import { runChecked, runProgram } from "./run.js";

/**
 * Apply the commit stage of a staged plan as one unit: every new file is
 * written to a temporary name beside its target first (this is where a full
 * disk fails, and then the temporaries go and nothing has changed); only then
 * are they renamed into place and the removals and renames done, back to
 * back. There is no crash point inside, so a kill sees all or none of it.
 */
export async function commitSteps(root: string, steps: readonly Step[]): Promise<void> {
  await removeStaleTemporaries(root, steps);
  const staged = new Map<Step, string>();
  try {
    for (const step of steps) {
      if (step.kind === "run" || ("inJail" in step && step.inJail))
        throw new Error(`internal: commit step ${step.kind} must be a host file step`);
      if (step.kind !== "writeFile") continue;
      const target = physical(root, step.path);
      await fsp.mkdir(posix.dirname(target), { recursive: true });
      // A dot name: record readers skip it, so a temporary left by a power cut is never taken for a jail.
      const tmp = posix.join(posix.dirname(target), `.${posix.basename(target)}.qjail-new-${process.pid}`);
      const fh = await fsp.open(tmp, "w", step.mode ?? 0o644);
      staged.set(step, tmp);
      try {
        await fh.writeFile(step.content);
        await fh.chmod(step.mode ?? 0o644);
        await fh.sync();
      } finally {
        await fh.close();
      }
    }
  } catch (e) {
    await Promise.all([...staged.values()].map((t) => fsp.rm(t, { force: true })));
    throw e;
  }
  for (const step of steps) {
    const tmp = staged.get(step);
    if (step.kind === "writeFile" && tmp !== undefined) await fsp.rename(tmp, physical(root, step.path));
    else await applyStep(step, { root, runCommands: false });
  }
}

/** Temporaries of a commit that was cut off (power loss) beside the files this commit writes. */
async function removeStaleTemporaries(root: string, steps: readonly Step[]): Promise<void> {
  for (const step of steps) {
    if (step.kind !== "writeFile") continue;
    const target = physical(root, step.path);
    const prefix = `.${posix.basename(target)}.qjail-new-`;
    const names = await fsp.readdir(posix.dirname(target)).catch(() => [] as string[]);
    for (const n of names)
      if (n.startsWith(prefix)) await fsp.rm(posix.join(posix.dirname(target), n), { force: true });
  }
}

/** A full disk or quota is the host's state, not a bug in qjail: say so and what to do. */
export async function explainDiskErrors<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOSPC" || code === "EDQUOT") {
      throw new UsageError(
        "QJ1122",
        `${code === "ENOSPC" ? "no space left on device" : "disk quota exceeded"}: ${(e as Error).message}`,
        "Free space on the filesystem holding /usr/local/etc and /usr/jails, then run the command again; the jail's records were not changed.",
      );
    }
    throw e;
  }
}

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

/**
 * Apply an image-jail plan on a live FreeBSD host: `mdconfig -a` prints the
 * md unit the later steps name as `mdUnitMarker`, so steps run one by one
 * and the captured unit is filled in. (The platform's generic apply has no
 * way to pass a value from one step to the next.)
 */
export async function applyWithMdUnit(root: string, plan: Plan, mdUnitMarker: string): Promise<void> {
  let unit: string | undefined;
  for (const step of plan.steps) {
    crashPoint(`image-step:${plan.steps.indexOf(step)}`);
    if (step.kind !== "run") {
      await applyStep(step, { root, runCommands: true });
      continue;
    }
    const argv = step.argv.map((a) => (unit === undefined ? a : a.split(mdUnitMarker).join(unit)));
    if (argv.some((a) => a.includes(mdUnitMarker)))
      throw new Error(`internal: ${argv.join(" ")} needs the md unit before mdconfig printed it`);
    const r = step.mayFail ? await runProgram(argv) : await runChecked(argv);
    if (argv[0]?.endsWith("mdconfig") && argv[1] === "-a") {
      const printed = r.stdout.trim();
      if (!/^md[0-9]+$/.test(printed)) throw new Error(`mdconfig printed ${shown(printed)}, not an md unit`);
      unit = printed;
    }
  }
}

/** Mount points inside `rootPath` that the jail's fstab names (read before delete removes the fstab). */
export async function fstabMountPoints(root: string, fstabPath: string): Promise<string[]> {
  const text = await fsp.readFile(physical(root, fstabPath), "utf8").catch(() => "");
  return parseFstab(text).map((e) => e.mountPoint);
}
