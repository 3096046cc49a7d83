import { defineCommand } from "../command.js";
import { UsageError } from "../../core/errors.js";
import { planDelete } from "../../core/plan-delete.js";
import { crashPoint } from "../../platform/apply.js";
import { assertZoneKnown, loadHostState, selectJails } from "../../store/jails.js";
import { assertNothingMounted, fstabMountPoints, jailRuntime, printPlan, reportPlan, zoneLayout } from "../jail-runtime.js";

export const deleteCommand = defineCommand({
  path: ["delete"],
  summary: "Remove jails: their records, control files and directory tree (qjail delete).",
  usage: ["delete [-z zone] [-A] [jailname... | prefix=]"],
  details: `
Removes each named jail: both copies of its definition record first (so it
disappears from every listing at once), then its fstab, console log,
jail.conf block, exposures file, and last its directory tree. A running jail
is skipped with "Bypassed running jail NAME". -A deletes every jail of the
zone; it cannot be combined with names. "web=" selects every jail whose name
starts with "web".

The tree is never removed through a mount: delete refuses while /dev,
/sharedfs or any fstab mount point inside the jail is still mounted (stop the
jail first), and the removal itself never crosses into another filesystem.
The package list in qjail.packages and archives are kept, as in qjail 5.x.

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
  async run(inv) {
    const layout = zoneLayout(inv.values.zone);
    const all = inv.values.all === true;
    if (all && inv.positionals.length > 0) {
      throw new UsageError("QJ1320", "Must not specify jailnames on delete -A", "Give either -A or the jail names.");
    }
    if (!all && inv.positionals.length === 0) {
      throw new UsageError("QJ1321", "no jail named to delete", "Name the jail(s), give a prefix like 'web=', or use -A for every jail of the zone.");
    }
    const rt = jailRuntime(inv, layout);
    const work = async (): Promise<number> => {
      await assertZoneKnown(rt.root, layout);
      const state = await loadHostState(rt.root, layout, () => rt.live());
      const selected = selectJails(state.jails, inv.positionals);
      const plan = planDelete(state, selected, { all });
      if (inv.global.dryRun) {
        printPlan(inv, plan);
        return 0;
      }
      const mounts = await Promise.all(selected.map((j) => fstabMountPoints(rt.root, j.fstabPath)));
      // Check every tree before touching anything, so a refusal leaves the jails as they were.
      for (const [k, j] of selected.entries()) if (plan.jailTrees.includes(j.rootPath)) await assertNothingMounted(rt.root, j.rootPath, mounts[k] ?? []);
      // Everything but the trees goes through the platform; each tree then
      // goes through the mount checks, in the plan's order (trees last).
      await rt.apply({ ...plan, steps: plan.steps.filter((s) => !(s.kind === "remove" && s.recursive)) });
      for (const [i, tree] of plan.jailTrees.entries()) {
        crashPoint(`delete-tree:${i}`);
        const k = selected.findIndex((j) => j.rootPath === tree);
        await rt.removeJailTree(tree, mounts[k] ?? []);
      }
      reportPlan(inv, plan);
      return 0;
    };
    return inv.global.dryRun ? work() : rt.locked(work);
  },
});
