import type { Plan, Step } from "./plan.js";
import { consoleLogPath, jailConfPath, jailMacPath } from "./paths.js";
import { assertOwnPaths, removeRecordSteps, stagedPlan, type HostState } from "./jail.js";
import type { JailSpec } from "./jail.js";

/**
 * `qjail delete` (docs/qjail-5.md §4.8): state + selected jails → plan.
 *
 * Order is the reverse of create: the records go first, all in one commit,
 * so a jail killed half-way is already gone from every listing and can never
 * be started with half a tree; the tree goes last. What a killed delete left
 * behind (tree, fstab, block, no records) is removed by naming the jail again. The tree step is marked `jailTree` so the
 * command can route it through the platform's mount check (a tree removed
 * through a read-write nullfs mount destroys the mount's source).
 */
export interface DeletePlan extends Plan {
  /** Logical roots removed by the plan's recursive remove steps, in order. */
  jailTrees: string[];
}

/** What an interrupted delete left of a jail whose records are already gone. */
export interface Leftover {
  name: string;
  rootPath: string;
  fstabPath: string;
}

export function planDelete(
  state: HostState,
  selected: readonly JailSpec[],
  opts: { all: boolean; leftovers?: readonly Leftover[] },
): DeletePlan {
  const commit: Step[] = [];
  const finish: Step[] = [];
  const messages: string[] = [];
  const jailTrees: string[] = [];
  const filesOf = (name: string, rootPath: string, fstabPath: string): Step[] => [
    { kind: "remove", path: fstabPath },
    { kind: "remove", path: consoleLogPath(name) },
    { kind: "remove", path: jailConfPath(state.layout, name) },
    { kind: "remove", path: `${state.layout.exposures}/${name}` },
    { kind: "remove", path: jailMacPath(state.layout, name) },
    { kind: "remove", path: rootPath, recursive: true },
  ];
  const deleted: string[] = [];
  for (const jail of selected) {
    if (state.live.has(jail.name)) {
      messages.push(`Bypassed running jail ${jail.name}`);
      continue;
    }
    assertOwnPaths(jail);
    commit.push(...removeRecordSteps(jail));
    finish.push(...filesOf(jail.name, jail.rootPath, jail.fstabPath));
    jailTrees.push(jail.rootPath);
    messages.push(`Successfully deleted  ${jail.name}`);
    deleted.push(jail.name);
  }
  for (const l of opts.leftovers ?? []) {
    finish.push(...filesOf(l.name, l.rootPath, l.fstabPath));
    jailTrees.push(l.rootPath);
    messages.push(`Removed the leftovers of an interrupted delete  ${l.name}`);
  }
  // qjail's -A resets the shared vnet counter even while another zone still has
  // vnet jails numbered from it; reset it only when no jail is left anywhere.
  const gone = new Set(deleted);
  if (opts.all && deleted.length > 0 && state.global.every((g) => gone.has(g.name))) {
    commit.push({ kind: "writeFile", path: state.layout.vnetctl, content: 'count="0"\n', mode: 0o644 });
  }
  const title = deleted.length === 1 ? `delete jail ${deleted[0]}` : `delete ${deleted.length} jails`;
  return { ...stagedPlan(title, { commit, finish }, { messages }), jailTrees };
}
