import { existsSync, promises as fsp } from "node:fs";
import { defineCommand } from "../command.js";
import { write } from "../context.js";
import { formatPlan } from "../../core/plan.js";
import { hostLayout, physical } from "../../core/paths.js";
import { UsageError, shown } from "../../core/errors.js";
import { validateZoneName } from "../../core/validate.js";
import {
  decideArchives,
  formatArchiveJob,
  planSystemBackup,
  treeArchiveJob,
  type ArchiveJob,
} from "../../core/plan-archive.js";
import { assertZoneKnown, readJails, selectJails } from "../../store/jails.js";
import { archiveFileName, writeArchive } from "../../store/archive.js";
import { withHostLock } from "../../store/lock.js";
import { platformFor } from "../../platform/index.js";

interface ArchiveOutcome {
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

export const archiveCommand = defineCommand({
  path: ["archive"],
  summary:
    "Archive stopped jails (or sharedfs/template) as qjail archive files; -s backs up qjail's own files.",
  usage: ["archive [-z zone] -A | jailname... | pfx= | sharedfs | template", "archive [-z zone] -s"],
  details: `
Writes ARCHIVEDIR/NAME@YYYYMMDDhhmm.SS.tar for each selected jail: a gzip'd tar with
absolute paths (as 'tar czPf' makes), holding in this order the jail's fstab file,
qjail.config/NAME, qjail.global/FILE, qjail.local/FILE, qjail.packages/NAME when it
exists, and the whole jail root. Bastille's import reads these archives, and so do
'qjail restore' and 'qjail create -a'. -A archives every jail of the zone; a running
jail is bypassed ("Bypassed running jail. NAME"; exit status 3, qjail 5.x exits 0).

'sharedfs' or 'template' as the only argument archives that tree (sharedfs only when
no jail runs). -s copies /usr/local/etc/qjail* to ARCHIVEDIR/system.bkup/ and
/usr/local/bin/qjail* to ARCHIVEDIR/pgm.bkup/, replacing the previous copy.

Changed on purpose: the jail.conf member is qjail.config/NAME for norun and manual
jails too (qjail 5.x asked for NAME.norun, which does not exist). An image jail's
.img file is archived as it is instead of being mounted and its tree copied.`,
  examples: [
    { command: "qjail archive www", description: "archive the stopped jail www" },
    { command: "qjail archive -A", description: "archive every jail of the default zone" },
    { command: "qjail archive -s", description: "back up qjail's control files before an experiment" },
  ],
  options: {
    zone: { type: "string", short: "z" },
    all: { type: "boolean", short: "A" },
    system: { type: "boolean", short: "s" },
  },
  json: true,
  mutates: true,
  async run({ ctx, values, positionals, global }) {
    const zone = typeof values.zone === "string" ? validateZoneName(values.zone) : undefined;
    const all = values.all === true;
    const layout = hostLayout(zone);
    const human = global.json ? ctx.stderr : ctx.stdout;
    const P = (p: string): string => physical(global.root, p);
    if (values.system === true) {
      if (all || positionals.length > 0)
        throw new UsageError(
          "QJ1601",
          "-s backs up qjail's own files and takes no jail names or -A",
          "Run 'qjail archive -s' on its own.",
        );
      await assertZoneKnown(global.root, layout);
      const plan = planSystemBackup(
        layout,
        await qjailEntries(P("/usr/local/etc")),
        await qjailEntries(P("/usr/local/bin")),
      );
      if (global.dryRun) human.write(formatPlan(plan));
      else {
        await withHostLock(global.root, () =>
          platformFor(global, { stderr: ctx.stderr, env: ctx.env }).apply(plan),
        );
        for (const m of plan.messages ?? []) write(human, m);
      }
      if (global.json)
        write(
          ctx.stdout,
          JSON.stringify({
            command: "archive",
            dryRun: global.dryRun,
            system: { backup: `${layout.archive}/system.bkup`, programs: `${layout.archive}/pgm.bkup` },
          }),
        );
      return 0;
    }
    if (all && positionals.length > 0)
      throw new UsageError(
        "QJ1602",
        `-A archives every jail; it cannot be combined with names (${positionals.map(shown).join(" ")})`,
        "Give either -A or the jail names.",
      );
    if (!all && positionals.length === 0)
      throw new UsageError(
        "QJ1603",
        "no jail name given",
        "Name the jail(s), give a prefix like 'web=', 'sharedfs' or 'template', or -A for every jail.",
      );
    await assertZoneKnown(global.root, layout);
    const platform = platformFor(global, { stderr: ctx.stderr, env: ctx.env });
    const live = await platform.liveJails();
    const now = ctx.now();
    const { jails } = await readJails(global.root, layout);
    const outcomes: ArchiveOutcome[] = [];
    const jobs: ArchiveJob[] = [];

    const tree = positionals[0] === "sharedfs" || positionals[0] === "template" ? positionals[0] : undefined;
    if (tree !== undefined) {
      if (positionals.length > 1)
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
      const selected = selectJails(jails, all ? [] : positionals);
      const { decisions, warnings } = decideArchives(
        selected,
        live,
        layout,
        (n) => archiveFileName(n, now),
        (p) => existsSync(P(p)),
      );
      for (const w of warnings) write(ctx.stderr, `qjail: warning: ${w}`);
      for (const d of decisions) {
        if (d.action === "skip") {
          write(human, global.dryRun ? `# ${d.message}` : d.message);
          outcomes.push({ name: d.jail.name, result: "skipped", message: d.message });
        } else jobs.push(d.job);
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

    if (global.dryRun) {
      for (const job of jobs) {
        write(human, `# archive ${job.name}\n${formatArchiveJob(job)}`);
        outcomes.push({
          name: job.name,
          result: "planned",
          archive: job.archive,
          message: formatArchiveJob(job),
        });
      }
    } else {
      await withHostLock(global.root, async () => {
        for (const job of jobs) {
          try {
            await writeArchive(global.root, job.archive, job.members);
            const message = `Successfully archived ${job.name}`;
            write(human, message);
            outcomes.push({ name: job.name, result: "archived", archive: job.archive, message });
          } catch (e) {
            const message = `Error: archiving ${job.name} into ${job.archive} failed: ${(e as Error).message}`;
            write(ctx.stderr, message);
            outcomes.push({ name: job.name, result: "failed", archive: job.archive, message });
          }
        }
      });
    }
    if (global.json)
      write(ctx.stdout, JSON.stringify({ command: "archive", dryRun: global.dryRun, archives: outcomes }));
    // A running jail is bypassed, not archived: exit 3 as for a failure (C11; qjail 5.x exited 0).
    return outcomes.some((o) => o.result === "failed" || (o.result === "skipped" && !global.dryRun)) ? 3 : 0;
  },
});
