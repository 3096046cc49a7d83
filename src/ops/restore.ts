import { existsSync, promises as fsp } from "node:fs";
import { posix } from "node:path";
import { UsageError, shown } from "../core/errors.js";
import { creatingMarker } from "../core/jail.js";
import { hostLayout, physical, type HostLayout } from "../core/paths.js";
import type { Plan } from "../core/plan.js";
import { planRestore, planSystemRestore, type RestoreJob } from "../core/plan-restore.js";
import type { PlatformChoice } from "../platform/index.js";
import {
  ARCHIVE_NAME_PATTERN,
  checkJailArchive,
  checkTreeArchive,
  latestArchive,
  readArchiveIndex,
} from "../store/archive.js";
import { assertZoneKnown, readGlobalJails, readJails } from "../store/jails.js";
import { qjailEntries } from "./archive.js";
import type { OpsIo } from "./io.js";
import { openJailRuntime } from "./jail-runtime.js";
import type { ReconcileOutcome } from "./reconcile.js";

export interface RestoreRequest {
  layout: HostLayout;
  /** Jail names, archive files, or `sharedfs` / `template` (none with -s). */
  names: readonly string[];
  dryRun: boolean;
}

/**
 * `restore -s`: plan the copy of ARCHIVEDIR/system.bkup and pgm.bkup back
 * over /usr/local/etc and /usr/local/bin (refused when there is no backup),
 * applied under the host lock unless `dryRun`. Returns the plan and the
 * entries it restores.
 */
export async function restoreSystem(
  choice: PlatformChoice,
  io: OpsIo,
  req: RestoreRequest,
): Promise<{ plan: Plan; entries: string[] }> {
  const { layout } = req;
  const P = (p: string): string => physical(choice.root, p);
  await assertZoneKnown(choice.root, layout);
  if (req.names.length > 0)
    throw new UsageError(
      "QJ1624",
      "-s restores qjail's own files and takes no names",
      "Run 'qjail restore -s' on its own.",
    );
  const sys = await qjailEntries(P(`${layout.archive}/system.bkup`));
  const pgm = await qjailEntries(P(`${layout.archive}/pgm.bkup`));
  if (sys.length === 0 && pgm.length === 0) {
    throw new UsageError(
      "QJ1625",
      `there is no system backup to restore in ${shown(`${layout.archive}/system.bkup`)}`,
      "Make one with 'qjail archive -s'.",
    );
  }
  const plan = planSystemRestore(layout, sys, pgm);
  if (!req.dryRun) {
    const rt = openJailRuntime(choice, io, layout);
    await rt.locked(() => rt.apply(plan));
  }
  return { plan, entries: [...sys, ...pgm] };
}

/**
 * `restore NAME|ARCHIVE…`: every archive read and checked before the first
 * one is unpacked (so a refusal of any of them leaves the host as it was),
 * then one plan for all of them — what --dry-run prints is what runs —
 * applied under the host lock with qjail's firewall rules following the
 * restored records and exposure files in the same operation. Returns the
 * plan, what each job restores, and what the reconciler found.
 */
export async function restoreJails(
  choice: PlatformChoice,
  io: OpsIo,
  req: RestoreRequest,
): Promise<{
  plan: Plan;
  shownJobs: { name: string; archive: string; members: number }[];
  reconciled?: ReconcileOutcome;
}> {
  const { layout } = req;
  await assertZoneKnown(choice.root, layout);
  if (req.names.length === 0)
    throw new UsageError(
      "QJ1620",
      "no jail name or archive file given",
      "Run 'qjail restore jailname|archivefile...' or 'qjail restore -s'.",
    );
  const rt = openJailRuntime(choice, io, layout);
  const { jobs, shownJobs } = await loadRestoreJobs(
    choice.root,
    layout,
    req.names,
    new Set((await rt.platform.liveJails()).keys()),
  );
  const plan = planRestore(layout, jobs);
  if (req.dryRun) return { plan, shownJobs };
  const reconciled = await rt.locked(() => rt.applyReconciled(plan));
  return { plan, shownJobs, reconciled };
}

/**
 * `qjail restore NAME|ARCHIVE…`: every operand's archive found, read and
 * checked (src/store/archive.ts), and every refusal that depends on the
 * host's state made (QJ1626-QJ1629), before anything is written; the jobs
 * go to src/core/plan-restore.ts planRestore. `live`: the names of the
 * running jails.
 */
async function loadRestoreJobs(
  root: string,
  layout: HostLayout,
  positionals: readonly string[],
  live: ReadonlySet<string>,
): Promise<{ jobs: RestoreJob[]; shownJobs: { name: string; archive: string; members: number }[] }> {
  const P = (p: string): string => physical(root, p);
  const globalJails = await readGlobalJails(root, layout);
  const jobs: RestoreJob[] = [];
  const shownJobs: { name: string; archive: string; members: number }[] = [];
  for (const arg of positionals) {
    const tree = arg === "sharedfs" || arg === "template" ? arg : undefined;
    const { archive, file } = await resolveArchive(root, layout, arg);
    if (!existsSync(file))
      throw new UsageError(
        "QJ1626",
        `archive ${shown(archive)} does not exist`,
        archive === file && root !== "/"
          ? `A path you type is used as given, not under --root; give the file's real path, or just its name (${posix.basename(archive)}) to take it from ${layout.archive}.`
          : `List ${layout.archive} to see the archives.`,
      );
    // a path as typed is read where it is; a name, from the archive directory (under --root)
    const local = archive === file && root !== "/";
    const { entries, texts } = await readArchiveIndex(file);
    if (tree !== undefined) {
      checkTreeArchive(posix.basename(archive), entries, layout[tree]);
      if (tree === "sharedfs") {
        const running = (await readJails(root, layout)).jails
          .filter((j) => live.has(j.name))
          .map((j) => j.name);
        if (running.length > 0)
          throw new UsageError(
            "QJ1627",
            `all jails have to be stopped to restore sharedfs; running: ${running.map(shown).join(" ")}`,
            "Run 'qjail stop' first.",
          );
      }
      jobs.push({ kind: "tree", which: tree, archive, local, current: existsSync(P(layout[tree])) });
      shownJobs.push({ name: tree, archive, members: entries.length });
      continue;
    }
    const info = checkJailArchive(posix.basename(archive), entries, texts);
    const image = info.record.image || `${info.rootPath}/${info.name}.img`;
    if (info.record.imagetype !== "" && !entries.some((e) => e.path === image)) {
      // qjail 5.x archives an image jail's mounted tree and rebuilds the image on restore.
      throw new UsageError(
        "QJ1629",
        `archive ${shown(archive)} holds the tree of image jail ${shown(info.name)}, not its image ${shown(image)}; rebuilding images on restore is not supported`,
        `Make a new image jail from it: 'qjail create -a ${posix.basename(archive)} -i SIZE NEWNAME'.`,
      );
    }
    const clash = globalJails.find((g) => g.name === info.name);
    const jailLayout = hostLayout(info.zone);
    // A marker without a record: a restore (or create) of this name was killed; its leftovers are replaced.
    const interrupted = !clash && existsSync(P(creatingMarker(jailLayout, info.name)));
    if (
      clash ||
      (existsSync(P(info.rootPath)) && !interrupted) ||
      shownJobs.some((j) => j.name === info.name)
    ) {
      throw new UsageError(
        "QJ1628",
        `jail ${shown(info.name)} already exists${clash ? "" : ` (${info.rootPath} is there, or it is restored twice)`}`,
        `Delete it first ('qjail delete ${info.name}'), or restore under a new name with 'qjail create -a ${posix.basename(archive)} NEWNAME'.`,
      );
    }
    jobs.push({
      kind: "jail",
      archive,
      local,
      layout: jailLayout,
      jail: { name: info.name, status: info.status, record: info.record, packages: info.packages },
      rootPath: info.rootPath,
      interrupted,
    });
    shownJobs.push({ name: info.name, archive, members: entries.length });
  }
  return { jobs, shownJobs };
}

/** An argument → the logical path of its archive: a jail name (its latest archive), a file name in the archive dir, or an absolute path. */
/**
 * The archive an operand names: a NAME@STAMP.tar or a jail name is looked up
 * in the archive directory (relocated under --root, like every file of
 * qjail's own); a path you type is a file on this machine, used as given —
 * never relocated (C7). Returns the path to show and the file to read.
 */
async function resolveArchive(
  root: string,
  layout: HostLayout,
  arg: string,
): Promise<{ archive: string; file: string }> {
  const own = (logical: string) => ({ archive: logical, file: physical(root, logical) });
  if (arg.startsWith("=") || arg.endsWith("=")) {
    throw new UsageError(
      "QJ1621",
      `restore takes jail names or archive files, not a group prefix ${shown(arg)}`,
      "Name each jail or archive file.",
    );
  }
  if (arg.includes("/")) {
    if (!posix.isAbsolute(arg) || posix.normalize(arg) !== arg)
      throw new UsageError(
        "QJ1622",
        `archive path ${shown(arg)} must be absolute and plain`,
        `Give a file in ${layout.archive} by name, or its full path.`,
      );
    return { archive: arg, file: arg };
  }
  if (ARCHIVE_NAME_PATTERN.test(arg)) return own(`${layout.archive}/${arg}`);
  if (!/^[A-Za-z0-9_-]+$/.test(arg))
    throw new UsageError(
      "QJ1622",
      `invalid jail or archive name ${shown(arg)}`,
      `Give a jail name or a NAME@YYYYMMDDhhmm.SS.tar file of ${layout.archive}.`,
    );
  const names = await fsp.readdir(physical(root, layout.archive)).catch(() => [] as string[]);
  const latest = latestArchive(names, arg);
  if (latest === undefined)
    throw new UsageError(
      "QJ1623",
      `no archive of ${shown(arg)} in ${layout.archive}`,
      `Run 'qjail archive ${arg}' first, or give the archive file.`,
    );
  return own(`${layout.archive}/${latest}`);
}
