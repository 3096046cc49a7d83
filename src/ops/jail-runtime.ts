import type { HostLayout } from "../core/paths.js";
import { physical } from "../core/paths.js";
import type { Plan } from "../core/plan.js";
import type { StagedPlan } from "../core/jail.js";
import { platformFor, type PlatformChoice } from "../platform/index.js";
import { applyStep } from "../platform/apply.js";
import { assertNothingMounted, commitSteps, explainDiskErrors } from "../platform/commit.js";
import type { Platform } from "../platform/types.js";
import { withHostLock } from "../store/lock.js";
import type { OpsIo } from "./io.js";

/**
 * What the jail use cases (install, create, list, delete, config, restore)
 * share: the zone's layout, the platform, the host lock, and applying a plan.
 * Under `--root` the backends do the file-level work inside the root and
 * show the commands they would run, so these commands run and are tested for
 * real on any machine.
 */
export interface JailRuntime {
  platform: Platform;
  root: string;
  layout: HostLayout;
  /** Running jails, from one platform query. */
  live(): Promise<Map<string, { jid: number }>>;
  apply(plan: Plan): Promise<void>;
  /** Apply a staged plan: prepare through the platform, the commit as one unit, then finish. */
  applyStaged(plan: StagedPlan): Promise<void>;
  /** Remove a jail's tree, refusing when anything is mounted below it (also checks `mountPoints`, from its fstab). */
  removeJailTree(rootPath: string, mountPoints: readonly string[]): Promise<void>;
  /** Hold the host lock around a mutation. */
  locked<T>(fn: () => Promise<T>): Promise<T>;
}

export function openJailRuntime(choice: PlatformChoice, io: Partial<OpsIo>, layout: HostLayout): JailRuntime {
  const { root } = choice;
  const platform = platformFor(choice, io);
  return {
    platform,
    root,
    layout,
    live: () => platform.liveJails(),
    apply: (plan) => explainDiskErrors(() => platform.apply(plan)),
    async applyStaged(plan) {
      await explainDiskErrors(async () => {
        await platform.apply({ title: plan.title, steps: plan.stages.prepare });
        await commitSteps(root, plan.stages.commit);
        if (plan.stages.finish.length > 0)
          await platform.apply({ title: plan.title, steps: plan.stages.finish });
      });
    },
    async removeJailTree(rootPath, mountPoints) {
      await assertNothingMounted(root, rootPath, mountPoints);
      if (platform.removeJailTree) await platform.removeJailTree(rootPath);
      else await applyStep({ kind: "remove", path: rootPath, recursive: true }, { root, runCommands: false });
    },
    locked: (fn) => withHostLock(physical(root, layout.lockFile), fn),
  };
}
