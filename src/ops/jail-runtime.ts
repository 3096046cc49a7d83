import type { HostLayout } from "../core/paths.js";
import type { Plan } from "../core/plan.js";
import { platformFor, type PlatformChoice } from "../platform/index.js";
import { applyStep } from "../platform/apply.js";
import { assertNothingMounted } from "../platform/commit.js";
import type { Platform } from "../platform/types.js";
import { withHostLock } from "../store/lock.js";
import type { OpsIo } from "./io.js";
import { applyReconciled, reconcile, type ReconcileOutcome } from "./reconcile.js";

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
  /** Apply a plan through the platform (the one applier, src/platform/apply.ts). */
  apply(plan: Plan): Promise<void>;
  /**
   * Apply a change to the records and keep qjail's firewall rules true to
   * them in the same operation (src/ops/reconcile.ts); the caller holds the lock.
   */
  applyReconciled(plan: Plan): Promise<ReconcileOutcome>;
  /** Recompute and load the rules from the records as they are; the caller holds the lock. */
  reconcile(): Promise<ReconcileOutcome>;
  /** Remove a jail's tree, refusing when anything is mounted below it (also checks `mountPoints`, from its fstab). */
  removeJailTree(rootPath: string, mountPoints: readonly string[]): Promise<void>;
  /** Hold the host lock around a mutation. */
  locked<T>(fn: () => Promise<T>): Promise<T>;
}

export function openJailRuntime(choice: PlatformChoice, io: Partial<OpsIo>, layout: HostLayout): JailRuntime {
  const { root } = choice;
  const platform = platformFor(choice, io);
  const target = { root, platform: platform.name, apply: (plan: Plan) => platform.apply(plan) };
  const ioFull: OpsIo = { stderr: io.stderr ?? process.stderr, env: io.env ?? {} };
  return {
    platform,
    root,
    layout,
    live: () => platform.liveJails(),
    apply: (plan) => platform.apply(plan),
    applyReconciled: (plan) => applyReconciled(target, plan, ioFull),
    reconcile: () => reconcile(target, ioFull),
    async removeJailTree(rootPath, mountPoints) {
      await assertNothingMounted(root, rootPath, mountPoints);
      if (platform.removeJailTree) await platform.removeJailTree(rootPath);
      else await applyStep({ kind: "remove", path: rootPath, recursive: true }, { root, runCommands: false });
    },
    locked: (fn) => withHostLock(root, fn),
  };
}
