import type { Plan, Step } from "./plan.js";
import { consoleLogPath, jailConfPath } from "./paths.js";
import { removeRecordSteps, type HostState } from "./jail.js";
import type { JailSpec } from "../platform/types.js";

/**
 * `qjail delete` (qjail-5.md §4.8): state + selected jails → plan.
 *
 * Order is the reverse of create: the records go first, so a jail killed
 * half-way is already gone from every listing and can never be started with
 * half a tree; the tree goes last. The tree step is marked `jailTree` so the
 * command can route it through the platform's mount check (a tree removed
 * through a read-write nullfs mount destroys the mount's source).
 */
export interface DeletePlan extends Plan {
  /** Logical roots removed by the plan's recursive remove steps, in order. */
  jailTrees: string[];
}

export function planDelete(state: HostState, selected: readonly JailSpec[], opts: { all: boolean }): DeletePlan {
  const steps: Step[] = [];
  const messages: string[] = [];
  const jailTrees: string[] = [];
  let deleted = 0;
  for (const jail of selected) {
    if (state.live.has(jail.name)) {
      messages.push(`Bypassed running jail ${jail.name}`);
      continue;
    }
    steps.push(
      ...removeRecordSteps(jail),
      { kind: "remove", path: jail.fstabPath },
      { kind: "remove", path: consoleLogPath(jail.name) },
      { kind: "remove", path: jailConfPath(state.layout, jail.name) },
      { kind: "remove", path: `${state.layout.exposures}/${jail.name}` },
      { kind: "remove", path: jail.rootPath, recursive: true },
    );
    jailTrees.push(jail.rootPath);
    messages.push(`Successfully deleted  ${jail.name}`);
    deleted++;
  }
  // qjail's -A resets the shared vnet counter even while another zone still has
  // vnet jails numbered from it; reset it only when no jail is left anywhere.
  const gone = new Set(selected.filter((j) => !state.live.has(j.name)).map((j) => j.name));
  if (opts.all && deleted > 0 && state.global.every((g) => gone.has(g.name))) {
    steps.push({ kind: "writeFile", path: state.layout.vnetctl, content: 'count="0"\n', mode: 0o644 });
  }
  return { title: deleted === 1 ? `delete jail ${selected.find((j) => !state.live.has(j.name))?.name}` : `delete ${deleted} jails`, steps, messages, jailTrees };
}
