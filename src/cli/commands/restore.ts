import { defineCommand } from "../command.js";
import { write } from "../context.js";
import { formatPlan } from "../../core/plan.js";
import { hostLayout } from "../../core/paths.js";
import { validateZoneName } from "../../core/validate.js";
import { restoreJails, restoreSystem } from "../../ops/restore.js";
import { reportReconcile } from "../jail-runtime.js";

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
    const io = { stderr: ctx.stderr, env: ctx.env };
    const req = { layout, names: positionals, dryRun: global.dryRun };

    if (values.system === true) {
      const { plan, entries } = await restoreSystem(global, io, req);
      if (global.dryRun) human.write(formatPlan(plan));
      else for (const m of plan.messages ?? []) write(human, m);
      if (global.json)
        write(ctx.stdout, JSON.stringify({ command: "restore", dryRun: global.dryRun, system: { entries } }));
      return 0;
    }
    const { plan, shownJobs, reconciled } = await restoreJails(global, io, req);
    if (global.dryRun) human.write(formatPlan(plan));
    else {
      if (reconciled) reportReconcile(inv, reconciled);
      for (const m of plan.messages ?? []) write(human, m);
    }
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
