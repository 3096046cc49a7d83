import type { Plan, Step } from "./plan.js";
import { q } from "./plan.js";
import type { HostLayout } from "./paths.js";
import { ETC, jailConfPath, jailFstabPath, jailRootPath } from "./paths.js";
import { recordFileName } from "./record.js";
import { recordPaths } from "./jail.js";
import type { JailSpec, LiveJail } from "./jail.js";

/**
 * `qjail archive` (docs/qjail-5.md §4.6) as data: which jails get an archive,
 * the archive's logical path, and its members in qjail's order. Pure; the
 * command writes the archives with src/store/archive.ts.
 */

/** One archive to write: `tar czPf archive members…`. */
export interface ArchiveJob {
  name: string;
  archive: string;
  members: string[];
}

export type ArchiveDecision =
  | { jail: JailSpec; action: "archive"; job: ArchiveJob }
  | { jail: JailSpec; action: "skip"; message: string };

/**
 * Members, qjail's order: the fstab file, qjail.config/<name>, qjail.global/<file>,
 * qjail.local/<file>, qjail.packages/<name> when present, the whole root.
 * `<file>` keeps the .norun/.man suffix, the config block never has one
 * (qjail 5.x asked tar for qjail.config/<name>.norun, which does not exist).
 * `exists` says which control files are on disk; a missing one is left out
 * and reported rather than failing the archive.
 */
export function jailArchiveJob(
  jail: JailSpec,
  archiveDir: string,
  fileName: string,
  exists: (logical: string) => boolean,
): { job: ArchiveJob; missing: string[] } {
  const { local, global } = recordPaths(jail);
  // The paths qjail gives this name, not the record's: a damaged or crafted record
  // (fstab="/etc/master.passwd") must not put host files into an archive.
  const root = jailRootPath(jail.layout, jail.name);
  const wanted = [jailFstabPath(jail.layout, jail.name), jailConfPath(jail.layout, jail.name), global, local];
  const packages = `${ETC}/qjail.packages/${jail.name}`;
  const members = wanted.filter((p) => exists(p));
  const missing = wanted.filter((p) => !exists(p));
  if (exists(packages)) members.push(packages);
  members.push(root);
  return { job: { name: jail.name, archive: `${archiveDir}/${fileName}`, members }, missing };
}

export function decideArchives(
  jails: readonly JailSpec[],
  live: ReadonlyMap<string, LiveJail>,
  layout: HostLayout,
  fileName: (name: string) => string,
  exists: (logical: string) => boolean,
): { decisions: ArchiveDecision[]; warnings: string[] } {
  const warnings: string[] = [];
  const decisions = jails.map((jail): ArchiveDecision => {
    if (live.has(jail.name)) return { jail, action: "skip", message: `Bypassed running jail. ${jail.name}` };
    const { job, missing } = jailArchiveJob(jail, layout.archive, fileName(jail.name), exists);
    for (const m of missing)
      warnings.push(
        `${recordFileName(jail.name, jail.status)}: ${m} is missing and is left out of the archive`,
      );
    return { jail, action: "archive", job };
  });
  return { decisions, warnings };
}

/** `archive sharedfs|template`: just that tree. */
export function treeArchiveJob(
  layout: HostLayout,
  which: "sharedfs" | "template",
  fileName: string,
): ArchiveJob {
  return { name: which, archive: `${layout.archive}/${fileName}`, members: [layout[which]] };
}

/** How --dry-run shows a job: the tar(1) command qjail would run for it. */
/**
 * How --dry-run shows an archive: qjail writes it itself with node-tar (the
 * members and the format `tar czPf` would give, gzip, absolute paths), so
 * the line says so instead of naming a tar(1) that does not run.
 */
export function formatArchiveJob(job: ArchiveJob): string {
  return `node-tar create gzip ${[job.archive, ...job.members].map(q).join(" ")}   (as tar czPf)`;
}

/**
 * `archive -s`: a copy of qjail's control files (`/usr/local/etc/qjail*`)
 * in `archive/system.bkup/` and of its programs (`/usr/local/bin/qjail*`)
 * in `archive/pgm.bkup/`, each replaced as a whole.
 */
export function planSystemBackup(
  layout: HostLayout,
  etcEntries: readonly string[],
  binEntries: readonly string[],
): Plan {
  const steps: Step[] = [];
  for (const [dir, from, entries] of [
    [`${layout.archive}/system.bkup`, ETC, etcEntries],
    [`${layout.archive}/pgm.bkup`, "/usr/local/bin", binEntries],
  ] as const) {
    steps.push({ kind: "remove", path: dir, recursive: true }, { kind: "mkdir", path: dir, mode: 0o700 });
    for (const e of entries) steps.push({ kind: "copyTree", from: `${from}/${e}`, to: `${dir}/${e}` });
  }
  return {
    title: "back up qjail's control files and programs",
    steps,
    messages: [`Successfully archived qjail system files into ${layout.archive}`],
  };
}
