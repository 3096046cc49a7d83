import { defineCommand } from "../command.js";
import { UsageError } from "../../core/errors.js";
import { deleteJails } from "../../ops/delete.js";
import { printPlan, reportPlan, reportReconcile, zoneLayout } from "../jail-runtime.js";

export const deleteCommand = defineCommand({
  path: ["delete"],
  summary: "Remove jails: their records, control files and directory tree (qjail delete).",
  usage: ["delete [-z zone] [-A] [jailname... | prefix=]"],
  details: `
Removes each named jail: both copies of its definition record first (so it
disappears from every listing at once), then its fstab, console log,
jail.conf block, exposures file, and last its directory tree. A running jail
is skipped with "Bypassed running jail NAME" (exit status 3, changed on purpose:
qjail 5.x exits 0, so 'qjail delete NAME && ...' went on). -A deletes every jail of the
zone; it cannot be combined with names. "web=" selects every jail whose name
starts with "web".

The tree is never removed through a mount: delete refuses while /dev,
/sharedfs or any fstab mount point inside the jail is still mounted (stop the
jail first), and the removal itself never crosses into another filesystem.
The package list in qjail.packages and archives are kept, as in qjail 5.x.
If a delete was interrupted after the records went, naming the jail again
removes what it left (tree, fstab, jail.conf block).

Difference from qjail 5.x, on purpose: -A resets qjail.vnetctl to count="0"
only when no jail is left in any zone; qjail reset it even while other zones'
vnet jails still used the numbers.`,
  examples: [
    { command: "qjail delete www", description: "delete the jail www" },
    { command: "qjail delete test=", description: "delete every jail whose name starts with test" },
    { command: "qjail delete -z lab -A", description: "delete every jail of zone lab" },
  ],
  options: {
    zone: { type: "string", short: "z" },
    all: { type: "boolean", short: "A" },
  },
  json: false,
  mutates: true,
  async run(inv) {
    const layout = zoneLayout(inv.values.zone);
    const all = inv.values.all === true;
    if (all && inv.positionals.length > 0) {
      throw new UsageError(
        "QJ1320",
        "Must not specify jailnames on delete -A",
        "Give either -A or the jail names.",
      );
    }
    if (!all && inv.positionals.length === 0) {
      throw new UsageError(
        "QJ1321",
        "no jail named to delete",
        "Name the jail(s), give a prefix like 'web=', or use -A for every jail of the zone.",
      );
    }
    const { plan, reconciled } = await deleteJails(
      inv.global,
      { stderr: inv.ctx.stderr, env: inv.ctx.env },
      { layout, all, names: inv.positionals, dryRun: inv.global.dryRun },
    );
    if (inv.global.dryRun) {
      printPlan(inv, plan);
      return 0;
    }
    if (reconciled) reportReconcile(inv, reconciled);
    return reportPlan(inv, plan);
  },
});
