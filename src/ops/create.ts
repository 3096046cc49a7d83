import { lstatSync, promises as fsp } from "node:fs";
import { posix } from "node:path";
import { jailRootPath, physical, type HostLayout } from "../core/paths.js";
import { creatingMarker, type HostState } from "../core/jail.js";
import type { CreateState, SshBase } from "../core/plan-create.js";
import { safeReadFile } from "../platform/safe-fs.js";
import { listNames } from "../store/jails.js";
import { checkJailArchive, readArchiveIndex } from "../store/archive.js";

/**
 * What `planCreate` reads beyond the host state, loaded for `qjail create`
 * and `qjail apply` alike: the flavors, flavor files a template link would
 * carry out of the jail, the one-time ssh base files, and which of the new
 * names already have a tree (an interrupted create, or not qjail's).
 */
export async function loadCreateState(
  root: string,
  layout: HostLayout,
  host: HostState,
  req: { names: readonly string[]; flavor: string; oneTimeSsh: boolean; fromArchive: string | undefined },
): Promise<CreateState> {
  const flavors = await listNames(root, layout.flavors, { dirsOnly: true });
  const { names, flavor, fromArchive } = req;
  const flavorConflicts =
    fromArchive === undefined && flavors.includes(flavor)
      ? await symlinkedFlavorPaths(root, layout, flavor)
      : [];
  const sshBase =
    req.oneTimeSsh && fromArchive === undefined
      ? await treeSshBase(root, [`${layout.flavors}/${flavor}`, layout.template])
      : undefined;
  const there = (p: string): boolean => lstatSync(physical(root, p), { throwIfNoEntry: false }) !== undefined;
  const interrupted = new Set(names.filter((n) => there(creatingMarker(layout, n))));
  const existingTrees = new Set(names.filter((n) => there(jailRootPath(layout, n))));
  // -a: the archive is checked (a qjail archive of one jail, nothing unsafe in it) before anything is written
  const archiveRootPath =
    fromArchive === undefined ? undefined : await archivedJailRoot(physical(root, fromArchive));
  return {
    ...host,
    flavors,
    flavorConflicts,
    sshBase,
    existingTrees,
    interrupted,
    ...(archiveRootPath === undefined ? {} : { archiveRootPath }),
  };
}

/** The jail root a qjail archive was made from; refused (QJ1641) when it is not a clean archive of one jail. */
async function archivedJailRoot(archiveFile: string): Promise<string> {
  const { entries, texts } = await readArchiveIndex(archiveFile);
  return checkJailArchive(posix.basename(archiveFile), entries, texts).rootPath;
}

/**
 * etc/rc.conf and etc/ssh/sshd_config as a new jail gets them: from the first
 * of `layers` (logical directories, top layer first) that has each file,
 * read without following links; "" when none has it.
 */
export async function treeSshBase(root: string, layers: readonly string[]): Promise<SshBase> {
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

/**
 * Flavor files that would land under a template symlink (bin → /sharedfs/bin):
 * copying them would follow the link out of the jail, so create refuses them.
 */
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
