import { lstatSync, promises as fsp } from "node:fs";
import { posix } from "node:path";
import { UsageError, shown } from "../core/errors.js";
import { hostLayout, jailRootPath, physical, type HostLayout } from "../core/paths.js";
import { creatingMarker, type HostState } from "../core/jail.js";
import type { Plan } from "../core/plan.js";
import {
  duplicateNames,
  planCreate,
  type CreateRequest,
  type CreateState,
  type SshBase,
} from "../core/plan-create.js";
import { formatAddressList, validateZoneName, type JailAddress } from "../core/validate.js";
import type { PlatformChoice } from "../platform/index.js";
import { safeReadFile } from "../platform/safe-fs.js";
import { assertInstalled, assertZoneKnown, listNames, loadHostState } from "../store/jails.js";
import { checkJailArchive, latestArchive, readArchiveIndex } from "../store/archive.js";
import { readHostConfig } from "../store/exposures.js";
import { hostFacts } from "./host-facts.js";
import type { OpsIo } from "./io.js";
import { openJailRuntime } from "./jail-runtime.js";
import type { ReconcileOutcome } from "./reconcile.js";

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

export interface CreateJailsRequest {
  layout: HostLayout;
  name: string;
  ip4: JailAddress[];
  ip6: JailAddress[];
  /** -n; undefined: the host config's jail_if, else the platform's default interface. */
  nic: string | undefined;
  flavor: string;
  oneTimeSsh: boolean;
  imageMiB: number | undefined;
  /** -i as typed, for messages. */
  imageArg: string | undefined;
  duplicates: number;
  force: boolean;
  /** -a NAME|FILE and -A ZONE. */
  archive: { name: string; zone: string | undefined } | undefined;
  dryRun: boolean;
}

/**
 * `create`: under the host lock (unless `dryRun`), load the host state and
 * what the planner reads, find the -a archive, plan (the interface asked of
 * the host only once the records raise no refusal), let the backend refuse
 * what it could never start, and apply the plan with qjail's firewall rules
 * reconciled. Returns the plan (messages for the caller) and what the
 * reconciler found.
 */
export async function createJails(
  choice: PlatformChoice,
  io: OpsIo,
  input: CreateJailsRequest,
): Promise<{ plan: Plan; reconciled?: ReconcileOutcome }> {
  const { layout, name, imageMiB } = input;
  const rt = openJailRuntime(choice, io, layout);
  // Linux builds an image jail with mkfs.ext4 and mounts it through a loop device (also under --root);
  // FreeBSD's mdconfig/newfs plan runs on the host itself only.
  if (imageMiB !== undefined && rt.platform.name === "freebsd" && rt.root !== "/" && !input.dryRun) {
    throw new UsageError(
      "QJ1215",
      `image jails (-i ${shown(String(input.imageArg))}) need mdconfig and newfs on a FreeBSD host`,
      "Use --dry-run to see the plan under --root, or run on the FreeBSD host itself.",
    );
  }
  const work = async (): Promise<{ plan: Plan; reconciled?: ReconcileOutcome }> => {
    await assertInstalled(rt.root, layout);
    const host = await loadHostState(rt.root, layout, () => rt.live());
    const fromArchive =
      input.archive === undefined
        ? undefined
        : await findArchive(rt.root, layout, input.archive.name, input.archive.zone);
    const names = input.duplicates > 0 ? duplicateNames(name, input.duplicates) : [name];
    const state = await loadCreateState(rt.root, layout, host, {
      names,
      flavor: input.flavor,
      oneTimeSsh: input.oneTimeSsh,
      fromArchive,
    });
    const req: CreateRequest = {
      name,
      ip4: input.ip4,
      ip6: input.ip6,
      nic: input.nic ?? "",
      flavor: input.flavor,
      oneTimeSsh: input.oneTimeSsh,
      imageMiB,
      ...(imageMiB !== undefined && rt.platform.name === "linux" ? { imageLinuxRoot: rt.root } : {}),
      duplicates: input.duplicates,
      force: input.force,
      fromArchive,
    };
    // A first pass settles every refusal the records can decide before the host is asked for its default interface.
    let plan = planCreate(state, req);
    if (input.nic === undefined) {
      // The host config's jail_if, when the admin (or fw setup) wrote one, is where jails go; else the
      // backend's default (FreeBSD: the default route's interface, as qjail 5.x) — as fw setup and doctor assume.
      const hc = await readHostConfig(rt.root, hostLayout(), rt.platform.name, await hostFacts(choice));
      req.nic = hc.exists ? hc.config.jailIf : await rt.platform.defaultJailInterface();
      plan = planCreate(state, req);
    }
    // A backend refuses here what it could never start (Linux: -n names a NIC, or the address is the gateway).
    // (The first jail has the addresses as given; -d copies count up from them.)
    rt.platform.checkNewJail?.(
      names[0] as string,
      {
        ip4: formatAddressList(input.ip4),
        ip6: formatAddressList(input.ip6),
        interface: req.nic,
        imagetype: imageMiB === undefined ? "" : "simple",
      },
      layout,
    );
    if (input.dryRun) return { plan };
    return { plan, reconciled: await rt.applyReconciled(plan) };
  };
  return input.dryRun ? work() : rt.locked(work);
}

/**
 * The archive -a names (docs/qjail-5.md §4.2): `name@stamp.tar` in the archive
 * directory, or for a bare name its newest archive; -A takes the archive
 * directory of another zone ("nozone": the default one).
 */
async function findArchive(
  root: string,
  layout: HostLayout,
  arg: string,
  archiveZone: string | undefined,
): Promise<string> {
  let dirLayout = layout;
  if (archiveZone !== undefined) {
    dirLayout = archiveZone === "nozone" ? hostLayout() : hostLayout(validateZoneName(archiveZone));
    await assertZoneKnown(root, dirLayout);
  }
  const files = await listNames(root, dirLayout.archive);
  if (arg.includes("@")) {
    if (!files.includes(arg))
      throw new UsageError(
        "QJ1218",
        `Full archive file name not found. ${shown(`${dirLayout.archive}/${arg}`)}`,
        "List the archive directory for the exact name, or give just the jail name for its newest archive.",
      );
    return `${dirLayout.archive}/${arg}`;
  }
  const latest = latestArchive(files, arg);
  if (latest === undefined)
    throw new UsageError(
      "QJ1219",
      `No archive file found for ${shown(arg)} in ${dirLayout.archive}`,
      "Make one with 'qjail archive NAME', or use -A ZONE for another zone's archives.",
    );
  return `${dirLayout.archive}/${latest}`;
}
