import { lstatSync } from "node:fs";
import type { HostState } from "../core/jail.js";
import { jailConfPath, jailFstabPath, jailRootPath, physical, type HostLayout } from "../core/paths.js";
import type { Plan, Step } from "../core/plan.js";
import { planDelete, type DeletePlan, type Leftover } from "../core/plan-delete.js";
import { validateJailName } from "../core/validate.js";
import type { PlatformChoice } from "../platform/index.js";
import { crashPoint } from "../platform/apply.js";
import { assertNothingMounted, fstabMountPoints } from "../platform/commit.js";
import { assertZoneKnown, loadHostState, selectJails } from "../store/jails.js";
import type { OpsIo } from "./io.js";
import { openJailRuntime, type JailRuntime } from "./jail-runtime.js";
import type { ReconcileOutcome } from "./reconcile.js";

/**
 * Carry out a delete plan (for `qjail delete` and `qjail apply`): every tree
 * is checked before anything is touched, so a refusal leaves the jails as
 * they were; then the records (one commit, with qjail's firewall rules
 * recomputed without the jails' forwards first: src/ops/reconcile.ts) and the
 * other files; each tree last, through the mount checks again. `targets` are the jails' roots and
 * fstabs, read before the plan removes the fstabs.
 */
export async function applyDeletePlan(
  rt: JailRuntime,
  plan: DeletePlan,
  targets: readonly { rootPath: string; fstabPath: string }[],
): Promise<ReconcileOutcome> {
  const mounts = new Map(
    await Promise.all(
      targets.map(async (t) => [t.rootPath, await fstabMountPoints(rt.root, t.fstabPath)] as const),
    ),
  );
  for (const tree of plan.jailTrees) await assertNothingMounted(rt.root, tree, mounts.get(tree) ?? []);
  const isTree = (s: Step): boolean => s.kind === "remove" && s.recursive === true;
  const outcome = await rt.applyReconciled({ ...plan, steps: plan.steps.filter((s) => !isTree(s)) });
  for (const [i, tree] of plan.jailTrees.entries()) {
    crashPoint(`delete-tree:${i}`);
    await rt.removeJailTree(tree, mounts.get(tree) ?? []);
  }
  return outcome;
}

export interface DeleteRequest {
  layout: HostLayout;
  /** -A: every jail of the zone (`names` is then empty). */
  all: boolean;
  names: readonly string[];
  dryRun: boolean;
}

/**
 * `delete`: load the host state, find what a killed delete left of the named
 * jails, plan, and (unless `dryRun`) carry the plan out under the host lock
 * (applyDeletePlan). Under `dryRun` the returned plan shows what removing
 * each tree runs on this platform (FreeBSD: mount -p, chflags).
 */
export async function deleteJails(
  choice: PlatformChoice,
  io: OpsIo,
  req: DeleteRequest,
): Promise<{ plan: Plan; reconciled?: ReconcileOutcome }> {
  const { layout } = req;
  const rt = openJailRuntime(choice, io, layout);
  const work = async (): Promise<{ plan: Plan; reconciled?: ReconcileOutcome }> => {
    await assertZoneKnown(rt.root, layout);
    const state = await loadHostState(rt.root, layout, () => rt.live());
    const leftovers = await findLeftovers(rt.root, layout, state, req.names);
    const names = req.names.filter((n) => !leftovers.some((l) => l.name === n));
    const selected = names.length > 0 || leftovers.length === 0 ? selectJails(state.jails, names) : [];
    const plan = planDelete(state, selected, { all: req.all, leftovers });
    if (req.dryRun) {
      const expand = (s: Step): Step[] =>
        s.kind === "remove" && s.recursive === true && plan.jailTrees.includes(s.path)
          ? (rt.platform.planRemoveJailTree?.(s.path) ?? [s])
          : [s];
      return { plan: { ...plan, steps: plan.steps.flatMap(expand) } };
    }
    const targets = [
      ...selected.map((j) => ({ rootPath: j.rootPath, fstabPath: j.fstabPath })),
      ...leftovers,
    ];
    return { plan, reconciled: await applyDeletePlan(rt, plan, targets) };
  };
  return req.dryRun ? work() : rt.locked(work);
}

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
