import { lstatSync } from "node:fs";
import { consoleLogPath, jailMacPath, jailRootPath, physical, type HostLayout } from "../core/paths.js";
import type { HostState, JailSpec } from "../core/jail.js";
import type { ConfigChange, ConfigState } from "../core/plan-config.js";
import type { SshBase } from "../core/plan-create.js";
import { safeReadFile } from "../platform/safe-fs.js";
import { listNames, readHostFile, readPackageLists, readVnetCount } from "../store/jails.js";

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
