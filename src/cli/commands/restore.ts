import { defineCommand } from "../command.js";
import { write } from "../context.js";
import { formatPlan } from "../../core/plan.js";
import { hostLayout, physical } from "../../core/paths.js";
import { UsageError, shown } from "../../core/errors.js";
import { validateZoneName } from "../../core/validate.js";
import { planRestore, planSystemRestore } from "../../core/plan-restore.js";
import { assertZoneKnown } from "../../store/jails.js";
import { withHostLock } from "../../store/lock.js";
import { loadRestoreJobs } from "../../ops/restore.js";
import { jailRuntime, reportReconcile } from "../jail-runtime.js";
import { qjailEntries } from "../../ops/archive.js";

interface RestoreOutcome {
  name: string;
  archive: string;
  result: "restored" | "planned";
  members: number;
  message: string;
}

export const restoreCommand = defineCommand({
  path: ["restore"],
  summary: "Restore jails (or sharedfs/template) from qjail archive files; -s restores qjail's own files.",
  usage: ["restore [-z zone] jailname|archivefile...", "restore [-z zone] -s"],
  details: `
Each argument is a jail name, which takes the newest ARCHIVEDIR/NAME@*.tar, or an archive
file name (or full path). The jail must not exist in any zone. Every member goes back to
its original absolute path: the jail root and its qjail files, with the zone and the
norun/manual status they had. Message "Successfully restored NAME".

Before anything is written the whole archive is checked; it is refused, with the member
named, if a member would land outside the jail root and that jail's own qjail files: a
path with '..', another jail's or the host's files, a hard link to a file outside the
root, a relative symbolic link that climbs out of the root, a member below a symbolic
link of the same archive, or a device node.

'sharedfs' or 'template' restores that tree from its newest archive, keeping the current
one as previous.sharedfs / previous.template (sharedfs only when no jail runs). -s
copies ARCHIVEDIR/system.bkup back over /usr/local/etc and pgm.bkup over /usr/local/bin;
with no backup it refuses (qjail 5.x called an undefined 'Kill' there).

Only the jail's tree is taken from the archive as it is. Its record is checked field by
field (path, fstab and deffile must be the jail's own paths, every other value what qjail
writes), and its fstab and jail.conf block are written anew from that record: the
archive's copies are never used, so an archive cannot bring exec.prestart commands or a
host mount with it. The tree is unpacked beside its final place and renamed there, and
the records are written last, so a restore cut short leaves no jail behind; run it again
to finish.

To restore a jail under another name or zone, use 'qjail create -a'.
Changed on purpose: an image jail's archive made by qjail 5.x holds its mounted tree, not the
image, and qjail 5.x rebuilt the image on restore; this qjail refuses it (make a new image
jail with 'qjail create -a ARCHIVE -i SIZE NAME'). Archives made here hold the .img itself.`,
  examples: [
    { command: "qjail restore www", description: "restore www from its newest archive" },
    { command: "qjail restore www@201707011803.26.tar", description: "restore from one archive file" },
    { command: "qjail restore -s", description: "put back qjail's control files saved by 'archive -s'" },
  ],
  options: { zone: { type: "string", short: "z" }, system: { type: "boolean", short: "s" } },
  json: true,
  mutates: true,
  async run(inv) {
    const { ctx, values, positionals, global } = inv;
    const zone = typeof values.zone === "string" ? validateZoneName(values.zone) : undefined;
    const layout = hostLayout(zone);
    const human = global.json ? ctx.stderr : ctx.stdout;
    const P = (p: string): string => physical(global.root, p);
    await assertZoneKnown(global.root, layout);
    const rt = jailRuntime(inv, layout);
    const platform = rt.platform;

    if (values.system === true) {
      if (positionals.length > 0)
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
      if (global.dryRun) human.write(formatPlan(plan));
      else {
        await withHostLock(global.root, () => platform.apply(plan));
        for (const m of plan.messages ?? []) write(human, m);
      }
      if (global.json)
        write(
          ctx.stdout,
          JSON.stringify({
            command: "restore",
            dryRun: global.dryRun,
            system: { entries: [...sys, ...pgm] },
          }),
        );
      return 0;
    }
    if (positionals.length === 0)
      throw new UsageError(
        "QJ1620",
        "no jail name or archive file given",
        "Run 'qjail restore jailname|archivefile...' or 'qjail restore -s'.",
      );

    // Every archive is read and checked before the first one is unpacked, so a
    // refusal of any of them leaves the host as it was.
    const { jobs, shownJobs } = await loadRestoreJobs(
      global.root,
      layout,
      positionals,
      new Set((await platform.liveJails()).keys()),
    );

    // one plan: what --dry-run prints is what runs
    const plan = planRestore(layout, jobs);
    if (global.dryRun) human.write(formatPlan(plan));
    else
      await rt.locked(async () => {
        // restored records and exposure files: the rules follow them, in the same operation
        reportReconcile(inv, await rt.applyReconciled(plan));
        for (const m of plan.messages ?? []) write(human, m);
      });
    const outcomes: RestoreOutcome[] = shownJobs.map((j, i) => ({
      ...j,
      result: global.dryRun ? "planned" : "restored",
      message: global.dryRun ? `restore ${j.name} from ${j.archive}` : (plan.messages?.[i] ?? ""),
    }));
    if (global.json)
      write(ctx.stdout, JSON.stringify({ command: "restore", dryRun: global.dryRun, restored: outcomes }));
    return 0;
  },
});
