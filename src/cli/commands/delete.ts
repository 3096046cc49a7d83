import { defineCommand } from "../command.js";
import { UsageError } from "../../core/errors.js";
import { lstatSync } from "node:fs";
import { planDelete, type Leftover } from "../../core/plan-delete.js";
import type { Step } from "../../core/plan.js";
import { jailConfPath, jailFstabPath, jailRootPath, physical, type HostLayout } from "../../core/paths.js";
import type { HostState } from "../../core/jail.js";
import { validateJailName } from "../../core/validate.js";
import { assertZoneKnown, loadHostState, selectJails } from "../../store/jails.js";
import { jailRuntime, printPlan, reportPlan, reportReconcile, zoneLayout } from "../jail-runtime.js";
import { applyDeletePlan } from "../../ops/delete.js";

/**
 * Named jails with no record left anywhere but with a tree, fstab or jail.conf
 * block: the leftovers of a delete that was killed after its records went.
 */
async function findLeftovers(
  root: string,
  layout: HostLayout,
  state: HostState,
  names: readonly string[],
): Promise<Leftover[]> {
  const recorded = new Set([...state.jails.map((j) => j.name), ...state.global.map((g) => g.name)]);
  const out: Leftover[] = [];
  for (const name of names) {
    if (recorded.has(name) || name.includes("=") || !isJailName(name)) continue;
    const l = { name, rootPath: jailRootPath(layout, name), fstabPath: jailFstabPath(layout, name) };
    const exists = (p: string): boolean =>
      lstatSync(physical(root, p), { throwIfNoEntry: false }) !== undefined;
    if (exists(l.rootPath) || exists(l.fstabPath) || exists(jailConfPath(layout, name))) out.push(l);
  }
  return out;
}

function isJailName(name: string): boolean {
  try {
    validateJailName(name);
    return true;
  } catch {
    return false;
  }
}

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
    const rt = jailRuntime(inv, layout);
    const work = async (): Promise<number> => {
      await assertZoneKnown(rt.root, layout);
      const state = await loadHostState(rt.root, layout, () => rt.live());
      const leftovers = await findLeftovers(rt.root, layout, state, inv.positionals);
      const names = inv.positionals.filter((n) => !leftovers.some((l) => l.name === n));
      const selected = names.length > 0 || leftovers.length === 0 ? selectJails(state.jails, names) : [];
      const plan = planDelete(state, selected, { all, leftovers });
      if (inv.global.dryRun) {
        // Show what removing each tree runs on this platform (FreeBSD: mount -p, chflags).
        const expand = (s: Step): Step[] =>
          s.kind === "remove" && s.recursive === true && plan.jailTrees.includes(s.path)
            ? (rt.platform.planRemoveJailTree?.(s.path) ?? [s])
            : [s];
        printPlan(inv, { ...plan, steps: plan.steps.flatMap(expand) });
        return 0;
      }
      const targets = [
        ...selected.map((j) => ({ rootPath: j.rootPath, fstabPath: j.fstabPath })),
        ...leftovers,
      ];
      reportReconcile(inv, await applyDeletePlan(rt, plan, targets));
      return reportPlan(inv, plan);
    };
    return inv.global.dryRun ? work() : rt.locked(work);
  },
});
