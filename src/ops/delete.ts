import type { Step } from "../core/plan.js";
import type { DeletePlan } from "../core/plan-delete.js";
import { crashPoint } from "../platform/apply.js";
import { assertNothingMounted, fstabMountPoints } from "../platform/commit.js";
import type { JailRuntime } from "./jail-runtime.js";
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
