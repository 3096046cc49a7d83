import { defineCommand } from "../command.js";
import { write } from "../context.js";
import { formatPlan } from "../../core/plan.js";
import { hostLayout } from "../../core/paths.js";
import { UsageError, shown } from "../../core/errors.js";
import { validateZoneName } from "../../core/validate.js";
import { archiveJails, archiveSystem, type ArchiveOutcome } from "../../ops/archive.js";

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
    const io = { stderr: ctx.stderr, env: ctx.env };
    if (values.system === true) {
      if (all || positionals.length > 0)
        throw new UsageError(
          "QJ1601",
          "-s backs up qjail's own files and takes no jail names or -A",
          "Run 'qjail archive -s' on its own.",
        );
      const plan = await archiveSystem(global, io, layout, global.dryRun);
      if (global.dryRun) human.write(formatPlan(plan));
      else for (const m of plan.messages ?? []) write(human, m);
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
    const render = (o: ArchiveOutcome): void => {
      if (o.result === "skipped") write(human, global.dryRun ? `# ${o.message}` : o.message);
      else if (o.result === "planned") write(human, `# archive ${o.name}\n${o.message}`);
      else write(o.result === "failed" ? ctx.stderr : human, o.message);
    };
    const outcomes = await archiveJails(
      global,
      io,
      { layout, all, names: positionals, now: ctx.now(), dryRun: global.dryRun },
      render,
    );
    if (global.json)
      write(ctx.stdout, JSON.stringify({ command: "archive", dryRun: global.dryRun, archives: outcomes }));
    // A running jail is bypassed, not archived: exit 3 as for a failure (C11; qjail 5.x exited 0).
    return outcomes.some((o) => o.result === "failed" || (o.result === "skipped" && !global.dryRun)) ? 3 : 0;
  },
});
