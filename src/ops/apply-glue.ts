import { lstatSync, promises as fsp } from "node:fs";
import { posix } from "node:path";
import { physical, jailRootPath, type HostLayout } from "../core/paths.js";
import { creatingMarker, type HostState } from "../core/jail.js";
import type { CreateState, SshBase } from "../core/plan-create.js";
import { planClearPoststartssh } from "../core/plan-start.js";
import type { DeletePlan } from "../core/plan-delete.js";
import type { Step } from "../core/plan.js";
import { defaultHostConfig, type HostConfig, type HostFacts } from "../core/hostconfig.js";
import type { JailSpec, Platform } from "../platform/types.js";
import { safeReadFile } from "../platform/safe-fs.js";
import { crashPoint } from "../platform/apply.js";
import { detectLinuxHostFacts } from "../platform/linux/firewall.js";
import { detectFreebsdHostFacts } from "../platform/freebsd/firewall.js";
import { listNames } from "../store/jails.js";
import { assertNothingMounted, fstabMountPoints, type JailRuntime } from "../cli/jail-runtime.js";

/**
 * TEMPORARY (issue 11 → issue 10): the few steps of create, delete, start
 * and the expose state that apply needs but that still live inside the
 * command files. Issue 10 moves them into use-case entries in src/ops/;
 * apply then calls those and this file goes.
 */

/** What planCreate reads beyond the host state, for a plain template + flavor create of `name`. */
export async function createInputs(
  root: string,
  layout: HostLayout,
  host: HostState,
  name: string,
  flavor: string,
  oneTimeSsh: boolean,
): Promise<CreateState> {
  const flavors = await listNames(root, layout.flavors, { dirsOnly: true });
  const flavorConflicts = flavors.includes(flavor) ? await symlinkedFlavorPaths(root, layout, flavor) : [];
  const sshBase = oneTimeSsh
    ? await treeSshBase(root, [`${layout.flavors}/${flavor}`, layout.template])
    : undefined;
  const there = (p: string): boolean => lstatSync(physical(root, p), { throwIfNoEntry: false }) !== undefined;
  const interrupted = new Set([name].filter((n) => there(creatingMarker(layout, n))));
  const existingTrees = new Set([name].filter((n) => there(jailRootPath(layout, n))));
  return { ...host, flavors, flavorConflicts, sshBase, existingTrees, interrupted };
}

async function treeSshBase(root: string, layers: readonly string[]): Promise<SshBase> {
  const pick = async (rel: string): Promise<string> => {
    for (const top of layers) {
      const text = await safeReadFile(physical(root, top), physical(root, `${top}/${rel}`)).catch(
        () => undefined,
      );
      if (text !== undefined) return text;
    }
    return "";
  };
  return { rcConf: await pick("etc/rc.conf"), sshdConfig: await pick("etc/ssh/sshd_config") };
}

async function symlinkedFlavorPaths(root: string, layout: HostLayout, flavor: string): Promise<string[]> {
  const flavorTop = physical(root, `${layout.flavors}/${flavor}`);
  const templateTop = physical(root, layout.template);
  const out: string[] = [];
  const walk = async (rel: string): Promise<void> => {
    const entries = await fsp.readdir(posix.join(flavorTop, rel), { withFileTypes: true });
    for (const e of entries) {
      const r = rel === "" ? e.name : `${rel}/${e.name}`;
      const inTemplate = await fsp.lstat(posix.join(templateTop, r)).catch(() => undefined);
      if (inTemplate?.isSymbolicLink()) {
        out.push(r);
        continue;
      }
      if (e.isDirectory()) await walk(r);
    }
  };
  await walk("");
  return out;
}

/** delete's order: check every tree, records in one commit, other files, each tree last through the mount checks. */
export async function applyDelete(
  rt: JailRuntime,
  plan: DeletePlan,
  jails: readonly JailSpec[],
): Promise<void> {
  const mounts = new Map(
    await Promise.all(
      jails.map(async (j) => [j.rootPath, await fstabMountPoints(rt.root, j.fstabPath)] as const),
    ),
  );
  for (const tree of plan.jailTrees) await assertNothingMounted(rt.root, tree, mounts.get(tree) ?? []);
  const isTree = (s: Step): boolean => s.kind === "remove" && s.recursive === true;
  await rt.applyStaged({
    ...plan,
    stages: { ...plan.stages, finish: plan.stages.finish.filter((s) => !isTree(s)) },
  });
  for (const [i, tree] of plan.jailTrees.entries()) {
    crashPoint(`delete-tree:${i}`);
    await rt.removeJailTree(tree, mounts.get(tree) ?? []);
  }
}

/** start's tail: the first start of a `create -c` jail clears the one-time set-up from record and jail.conf. */
export async function startJail(platform: Platform, root: string, jail: JailSpec): Promise<void> {
  await platform.start(jail);
  if (jail.record.poststartssh !== "") {
    const conf = await fsp.readFile(physical(root, jail.confPath), "utf8").catch(() => undefined);
    const clear = conf === undefined ? undefined : planClearPoststartssh(jail, conf);
    if (clear) await platform.apply(clear);
  }
}

/** The defaults qjail.host's keys fall back to, as expose reads them: detected only on the real host. */
export async function hostDefaults(root: string, platformName: "freebsd" | "linux"): Promise<HostConfig> {
  let facts: HostFacts = {};
  if (root === "/")
    facts = platformName === "linux" ? await detectLinuxHostFacts() : await detectFreebsdHostFacts();
  return defaultHostConfig(platformName, facts);
}
