import { lstatSync, promises as fsp } from "node:fs";
import { UsageError, shown } from "../core/errors.js";
import {
  consoleLogPath,
  jailConfPath,
  jailMacPath,
  jailRootPath,
  physical,
  type HostLayout,
} from "../core/paths.js";
import type { HostState, JailSpec } from "../core/jail.js";
import type { Plan } from "../core/plan.js";
import { planConfig, type ConfigChange, type ConfigState } from "../core/plan-config.js";
import type { SshBase } from "../core/plan-create.js";
import type { PlatformChoice } from "../platform/index.js";
import { runOnTerminal } from "../platform/run.js";
import { safeReadFile } from "../platform/safe-fs.js";
import {
  assertZoneKnown,
  listNames,
  loadHostState,
  readHostFile,
  readJails,
  readPackageLists,
  readVnetCount,
  selectJails,
} from "../store/jails.js";
import type { OpsIo } from "./io.js";
import { openJailRuntime } from "./jail-runtime.js";
import type { ReconcileOutcome } from "./reconcile.js";

/**
 * What `planConfig` reads beyond the host state, for the jails a change
 * selects: devfs rules, the vnet counter, which jails have exposures,
 * package lists, and what the change itself needs — for a rename the console
 * logs, MAC files and which old and new roots exist (a rename killed
 * half-way carries on); for -h the jails' rc.conf and sshd_config.
 */
export async function loadConfigState(
  root: string,
  layout: HostLayout,
  host: HostState,
  selected: readonly JailSpec[],
  change: ConfigChange,
): Promise<ConfigState> {
  const [devfsRules, vnetCount, exposures, packages] = await Promise.all([
    readHostFile(root, layout.devfsRules),
    readVnetCount(root, layout),
    listNames(root, layout.exposures),
    readPackageLists(root, layout),
  ]);
  const there = (p: string): boolean => lstatSync(physical(root, p), { throwIfNoEntry: false }) !== undefined;
  const rename = change.kind === "rename" ? change.newName : undefined;
  const consoleLogs = new Set<string>();
  const macs = new Set<string>();
  const present = new Set<string>();
  if (rename !== undefined) {
    const newRoot = jailRootPath(layout, rename);
    for (const j of selected) {
      if (there(consoleLogPath(j.name))) consoleLogs.add(j.name);
      if (there(jailMacPath(layout, j.name))) macs.add(j.name);
      for (const p of [j.rootPath, newRoot, `${newRoot}/${j.name}.img`]) if (there(p)) present.add(p);
    }
  }
  const sshBase = new Map<string, SshBase>();
  if (change.kind === "ssh") {
    for (const j of selected) {
      const top = physical(root, j.rootPath);
      const read = async (rel: string): Promise<string> =>
        (await safeReadFile(top, physical(root, `${j.rootPath}/${rel}`)).catch(() => undefined)) ?? "";
      sshBase.set(j.name, {
        rcConf: await read("etc/rc.conf"),
        sshdConfig: await read("etc/ssh/sshd_config"),
      });
    }
  }
  return {
    ...host,
    devfsRules,
    vnetCount,
    exposures: new Set(exposures),
    packages,
    consoleLogs,
    macs,
    present,
    sshBase,
  };
}

export interface ConfigRequest {
  layout: HostLayout;
  /** -A: every jail of the zone (`names` is then empty). */
  all: boolean;
  names: readonly string[];
  change: ConfigChange;
  force: boolean;
  dryRun: boolean;
}

/**
 * `config` with one change: load the host state and what the planner needs,
 * plan, and (unless `dryRun`) apply the plan with qjail's firewall rules
 * recomputed from the records it leaves (src/ops/reconcile.ts), all under
 * the host lock. Returns the plan (its messages and warnings are the
 * caller's to print) and what the reconciler found.
 */
export async function configureJails(
  choice: PlatformChoice,
  io: OpsIo,
  req: ConfigRequest,
): Promise<{ plan: Plan; reconciled?: ReconcileOutcome }> {
  const { layout } = req;
  const rt = openJailRuntime(choice, io, layout);
  const work = async (): Promise<{ plan: Plan; reconciled?: ReconcileOutcome }> => {
    await assertZoneKnown(rt.root, layout);
    const host = await loadHostState(rt.root, layout, () => rt.live());
    const selected = selectJails(host.jails, req.all ? [] : req.names);
    const state = await loadConfigState(rt.root, layout, host, selected, req.change);
    const plan = planConfig(state, selected, {
      change: req.change,
      force: req.force,
      freebsd: rt.platform.name === "freebsd",
    });
    if (req.dryRun) return { plan };
    return { plan, reconciled: await rt.applyReconciled(plan) };
  };
  return req.dryRun ? work() : rt.locked(work);
}

/** `config -d`: the named jail's jail.conf block as it is on disk. */
export async function readJailConfBlock(
  root: string,
  layout: HostLayout,
  names: readonly string[],
): Promise<string> {
  await assertZoneKnown(root, layout);
  const { jails } = await loadHostState(root, layout, async () => new Map());
  const [jail] = selectJails(jails, names);
  const text = await readHostFile(root, jailConfPath(layout, (jail as { name: string }).name));
  if (text === undefined)
    throw new UsageError(
      "QJ1338",
      `jail ${shown(names[0] as string)} has no jail.conf block ${jailConfPath(layout, names[0] as string)}`,
      "Regenerate it with any config change, e.g. 'qjail config -B NAME'.",
    );
  return text;
}

export interface EditPackagesRequest {
  layout: HostLayout;
  /** The one jail whose package list (qjail.packages/NAME) is edited. */
  name: string;
  /** The editor program ($EDITOR, else vi): run with the file as its one argument, never through a shell. */
  editor: string;
  /** Whether the caller has a terminal to edit on. */
  terminal: boolean;
  dryRun: boolean;
}

/**
 * `config -p` without --packages: edit qjail.packages/NAME in the admin's
 * editor under the host lock, as qjail 5.x did with ee(1). Refused without
 * a terminal. Returns the editor's exit status, or undefined under --dry-run
 * (nothing run).
 */
export async function editPackageList(
  choice: PlatformChoice,
  req: EditPackagesRequest,
): Promise<number | undefined> {
  const { root } = choice;
  const { layout, name } = req;
  const dir = layout.packages;
  await assertZoneKnown(root, layout);
  selectJails((await readJails(root, layout)).jails, [name]);
  if (!req.terminal) {
    throw new UsageError(
      "QJ1343",
      `-p opens an editor, but there is no terminal to edit ${shown(`${dir}/${name}`)} in`,
      `Give the list instead: qjail config -p --packages nginx,curl ${name}`,
    );
  }
  if (req.dryRun) return undefined;
  const file = physical(root, `${dir}/${name}`);
  const rt = openJailRuntime(choice, {}, layout);
  return rt.locked(async () => {
    await fsp.mkdir(physical(root, dir), { recursive: true });
    return runOnTerminal([req.editor, file]);
  });
}
