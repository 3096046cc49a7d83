import { existsSync, promises as fsp } from "node:fs";
import { UsageError, shown } from "../core/errors.js";
import { physical, type HostLayout } from "../core/paths.js";
import type { Plan } from "../core/plan.js";
import {
  decideArchives,
  formatArchiveJob,
  planSystemBackup,
  treeArchiveJob,
  type ArchiveJob,
} from "../core/plan-archive.js";
import type { PlatformChoice } from "../platform/index.js";
import { archiveFileName, writeArchive } from "../store/archive.js";
import { assertZoneKnown, readJails, selectJails } from "../store/jails.js";
import { writeLine as write, type OpsIo } from "./io.js";
import { openJailRuntime } from "./jail-runtime.js";

/** What became of one jail (or tree) of an `archive` call; `planned` under --dry-run. */
export interface ArchiveOutcome {
  name: string;
  result: "archived" | "skipped" | "planned" | "failed";
  archive?: string;
  message: string;
}

/** Names in `dir` (physical) that start with "qjail", sorted; none when it does not exist. */
export async function qjailEntries(dir: string): Promise<string[]> {
  const names = await fsp.readdir(dir).catch(() => [] as string[]);
  return names.filter((n) => n.startsWith("qjail")).sort();
}

/**
 * `archive -s`: plan the copy of qjail's own files (/usr/local/etc/qjail*,
 * /usr/local/bin/qjail*) into ARCHIVEDIR, and apply it under the host lock
 * unless `dryRun`. Returns the plan (the caller prints it or its messages).
 */
export async function archiveSystem(
  choice: PlatformChoice,
  io: OpsIo,
  layout: HostLayout,
  dryRun: boolean,
): Promise<Plan> {
  const P = (p: string): string => physical(choice.root, p);
  await assertZoneKnown(choice.root, layout);
  const plan = planSystemBackup(
    layout,
    await qjailEntries(P("/usr/local/etc")),
    await qjailEntries(P("/usr/local/bin")),
  );
  if (!dryRun) {
    const rt = openJailRuntime(choice, io, layout);
    await rt.locked(() => rt.apply(plan));
  }
  return plan;
}

export interface ArchiveRequest {
  layout: HostLayout;
  /** -A: every jail of the zone (`names` is then empty). */
  all: boolean;
  /** Jail names, prefixes (`web=`), or the one tree `sharedfs` / `template`. */
  names: readonly string[];
  /** The time archive names carry. */
  now: Date;
  dryRun: boolean;
}

/**
 * `archive NAME... | -A | sharedfs | template`: decide per jail (a running
 * jail is bypassed), refuse before anything is written when an archive name
 * is taken, then write each archive under the host lock (a failing one is
 * reported and the next one written). Each outcome goes to `report` as it
 * happens (skips first, as they are decided); all of them are returned.
 */
export async function archiveJails(
  choice: PlatformChoice,
  io: OpsIo,
  req: ArchiveRequest,
  report: (o: ArchiveOutcome) => void,
): Promise<ArchiveOutcome[]> {
  const { layout, names, now } = req;
  const P = (p: string): string => physical(choice.root, p);
  await assertZoneKnown(choice.root, layout);
  const rt = openJailRuntime(choice, io, layout);
  const live = await rt.platform.liveJails();
  const { jails } = await readJails(choice.root, layout);
  const outcomes: ArchiveOutcome[] = [];
  const done = (o: ArchiveOutcome): void => {
    outcomes.push(o);
    report(o);
  };
  const jobs: ArchiveJob[] = [];

  const tree = names[0] === "sharedfs" || names[0] === "template" ? names[0] : undefined;
  if (tree !== undefined) {
    if (names.length > 1)
      throw new UsageError(
        "QJ1604",
        `${tree} must be the only argument`,
        `Run 'qjail archive ${tree}' on its own.`,
      );
    if (!existsSync(P(layout[tree])))
      throw new UsageError(
        "QJ1605",
        `there is no ${tree} to archive: ${shown(layout[tree])} does not exist`,
        "Run 'qjail install' first.",
      );
    if (tree === "sharedfs") {
      const running = jails.filter((j) => live.has(j.name)).map((j) => j.name);
      if (running.length > 0)
        throw new UsageError(
          "QJ1606",
          `all jails have to be stopped to archive sharedfs; running: ${running.map(shown).join(" ")}`,
          "Run 'qjail stop' first.",
        );
    }
    jobs.push(treeArchiveJob(layout, tree, archiveFileName(tree, now)));
  } else {
    const selected = selectJails(jails, req.all ? [] : names);
    const { decisions, warnings } = decideArchives(
      selected,
      live,
      layout,
      (n) => archiveFileName(n, now),
      (p) => existsSync(P(p)),
    );
    for (const w of warnings) write(io.stderr, `qjail: warning: ${w}`);
    for (const d of decisions) {
      if (d.action === "skip") done({ name: d.jail.name, result: "skipped", message: d.message });
      else jobs.push(d.job);
    }
  }
  for (const job of jobs) {
    if (existsSync(P(job.archive)))
      throw new UsageError(
        "QJ1607",
        `archive ${shown(job.archive)} already exists`,
        "Wait a second and run the command again; archive names carry the time to the second.",
      );
  }

  if (req.dryRun) {
    for (const job of jobs)
      done({ name: job.name, result: "planned", archive: job.archive, message: formatArchiveJob(job) });
    return outcomes;
  }
  await rt.locked(async () => {
    for (const job of jobs) {
      try {
        await writeArchive(choice.root, job.archive, job.members);
        done({
          name: job.name,
          result: "archived",
          archive: job.archive,
          message: `Successfully archived ${job.name}`,
        });
      } catch (e) {
        const message = `Error: archiving ${job.name} into ${job.archive} failed: ${(e as Error).message}`;
        done({ name: job.name, result: "failed", archive: job.archive, message });
      }
    }
  });
  return outcomes;
}
