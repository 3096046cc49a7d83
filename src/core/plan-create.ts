import { UsageError, shown } from "./errors.js";
import { CAPTURED, type Plan, type Step } from "./plan.js";
import { jailConfPath, jailRootPath, physical } from "./paths.js";
import { renderFstab } from "./fstab.js";
import { renderJailConf } from "./jailconf.js";
import {
  addressClashes,
  creatingMarker,
  newJailRecord,
  stagedPlan,
  writeRecordSteps,
  type HostState,
} from "./jail.js";
import { formatAddressList, validateJailName, type JailAddress } from "./validate.js";
import type { JailRecord } from "./record.js";

/**
 * `qjail create`: state + request → plan (docs/qjail-5.md §4.2). Pure; the command
 * validated the syntax of every value and read the state.
 *
 * Step order: the jail's tree first, then its fstab and jail.conf block, the
 * records last. A crash before the records leaves a tree no command lists;
 * re-running create refuses nothing (the name is still free) and copies over it.
 */
export interface CreateRequest {
  name: string;
  ip4: JailAddress[];
  ip6: JailAddress[];
  /** Interface for the aliases (from -n, else the platform's default-route interface). */
  nic: string;
  flavor: string;
  oneTimeSsh: boolean;
  /** -i: image jail of this many MiB. */
  imageMiB?: number;
  /**
   * Set on Linux: the image is an ext4 file system built with mkfs.ext4 (the
   * host's physical root, since its steps run under --root as well).
   */
  imageLinuxRoot?: string;
  /** -d N: N numbered copies instead of one jail. */
  duplicates: number;
  /** --force: accept addresses another jail already has (qjail only warns). */
  force: boolean;
  /** -a: the jail's tree comes from this archive (logical path), unpacked by the plan's first steps. */
  fromArchive?: string;
}

export interface CreateState extends HostState {
  /** Flavor directory names under flavors/. */
  flavors: readonly string[];
  /** Flavor paths that would be written through a template symlink (bin → /sharedfs/bin …). */
  flavorConflicts: readonly string[];
  /**
   * For -c: etc/rc.conf and etc/ssh/sshd_config as the new tree will hold
   * them (flavor over template); the one-time ssh lines are added to these
   * texts, so a create run again after an interruption writes the same files.
   */
  sshBase?: SshBase;
  /** Names whose root directory already exists (a tree with no record). */
  existingTrees?: ReadonlySet<string>;
  /** Names with a create-in-progress marker (see creatingMarker): their tree is what a killed create left. */
  interrupted?: ReadonlySet<string>;
  /** -a: the jail root inside the archive (checked by the caller: a qjail archive of one jail). */
  archiveRootPath?: string;
}

export interface SshBase {
  rcConf: string;
  sshdConfig: string;
}

/** The md unit an image plan's later steps use; the FreeBSD platform fills it in from mdconfig's output. */
const IMAGE_MD_UNIT = CAPTURED.mdUnit.marker;

export function planCreate(state: CreateState, req: CreateRequest): Plan {
  validateJailName(req.name);
  if (req.ip4.length === 0 && req.ip6.length === 0) {
    throw new UsageError(
      "QJ1201",
      `no address for jail ${shown(req.name)}: an -4 or -6 IP address is mandatory`,
      "Add -4 ADDRESS (e.g. -4 10.0.0.5) or -6 ADDRESS.",
    );
  }
  if (req.oneTimeSsh && req.imageLinuxRoot !== undefined) {
    throw new UsageError(
      "QJ1216",
      "-c and -i cannot be used together on Linux",
      "The one-time user is written into the jail's tree at its first start, before its image is mounted: create the image jail without -c and add the user with qjail console.",
    );
  }
  if (req.oneTimeSsh && req.flavor === "ssh-default") {
    throw new UsageError(
      "QJ1202",
      `-c and -f ${shown(req.flavor)} cannot be used together`,
      "ssh-default already enables ssh with user qjail; drop -c, or use -c with the default flavor.",
    );
  }
  if (req.fromArchive === undefined && !state.flavors.includes(req.flavor)) {
    throw new UsageError(
      "QJ1203",
      `Flavor not found. ${shown(req.flavor)}`,
      `Available flavors: ${state.flavors.join(", ") || "none (run 'qjail install')"}.`,
    );
  }
  if (state.flavorConflicts.length > 0) {
    throw new UsageError(
      "QJ1204",
      `flavor ${shown(req.flavor)} has ${shown(state.flavorConflicts[0] as string)}, which lies under a shared (symlinked) directory of the template`,
      "A flavor may only add files in the jail's own directories (etc, root, usr/home, usr/local, var).",
    );
  }
  const names = req.duplicates > 0 ? duplicateNames(req.name, req.duplicates) : [req.name];
  for (const n of names) validateJailName(n);
  const taken = new Set(state.global.map((g) => g.name));
  if (req.duplicates === 0 && taken.has(req.name)) {
    // Names are unique over every zone: say which zone holds it, so the delete hint works as typed.
    const holder = state.global.find((g) => g.name === req.name);
    const zone = /^\/usr\/jails\.([^/]+)\//.exec(holder?.record.path ?? "")?.[1];
    throw new UsageError(
      "QJ1205",
      `Jailname already exists. ${shown(req.name)}${zone ? ` (in zone ${shown(zone)})` : ""}`,
      `Pick another name, or delete the old jail first (qjail delete ${zone ? `-z ${zone} ` : ""}${req.name}).`,
    );
  }
  const ip4For = duplicateAddresses(req);

  const warnings: string[] = [];
  const messages: string[] = [];
  const prepare: Step[] = [];
  const commit: Step[] = [];
  let made = 0;
  names.forEach((name, k) => {
    if (taken.has(name)) {
      messages.push(`Bypassed existing jail ${name}`);
      return;
    }
    const ip4 = ip4For[k] ?? [];
    const clashes = addressClashes(
      state,
      [...ip4, ...req.ip6].map((a) => a.address),
      [name],
    );
    for (const c of clashes) {
      if (!req.force) {
        throw new UsageError(
          "QJ1206",
          `address ${shown(c.address)} is already assigned to jail ${shown(c.jail)}`,
          "Give another address, or add --force if both jails really share it (only one can run at a time).",
        );
      }
      warnings.push(`Existing jail ${c.jail} is already assigned IP address ${c.address}`);
    }
    const record = newJailRecord(state.layout, {
      name,
      ip4: formatAddressList(ip4),
      ip6: formatAddressList(req.ip6),
      interface: req.nic,
      oneTimeSsh: req.oneTimeSsh,
      imageMiB: req.imageMiB,
    });
    const root = jailRootPath(state.layout, name);
    const marker = creatingMarker(state.layout, name);
    if (state.existingTrees?.has(name)) {
      if (!state.interrupted?.has(name)) {
        throw new UsageError(
          "QJ1230",
          `${shown(root)} already exists, but no jail record names it`,
          `It is not a jail qjail made: move it away (or remove it) first, or pick another name than ${shown(name)}.`,
        );
      }
      // What a killed create of this jail left: start its tree again from scratch.
      prepare.push({ kind: "mkdir", path: marker }, { kind: "remove", path: root, recursive: true });
    } else prepare.push({ kind: "mkdir", path: marker });
    if (req.fromArchive === undefined) prepare.push(...jailTreeSteps(state, req, name));
    else {
      if (state.archiveRootPath === undefined)
        throw new Error("internal: create -a needs the archive's jail root (checkJailArchive)");
      // The archived tree first (like the template copy), so the records written last find it complete.
      prepare.push({
        kind: "extract",
        format: "jail-tree",
        archive: req.fromArchive,
        from: state.archiveRootPath,
        to: root,
        why: `unpack the jail root of ${req.fromArchive}`,
      });
      // The archived tree's own rc.conf and sshd_config get the one-time ssh lines (once).
      if (req.oneTimeSsh) prepare.push(...oneTimeSshSteps(root, undefined));
    }
    if (req.imageMiB !== undefined)
      prepare.push(
        ...(req.imageLinuxRoot !== undefined
          ? linuxImageSteps(state, name, req.imageMiB, req.imageLinuxRoot)
          : imageSteps(state, name, req.imageMiB)),
      );
    // The fstab and jail.conf block show nowhere until the records exist: all of them are the commit.
    commit.push(...controlFileSteps(state, record), { kind: "remove", path: marker, recursive: true });
    messages.push(`Successfully created  ${name}`);
    made++;
  });
  return stagedPlan(
    `${made === 1 ? `create jail ${names[0] ?? req.name}` : `create ${made} jails ${names.join(" ")}`}${req.fromArchive ? ` from ${req.fromArchive}` : ""}`,
    { prepare, commit },
    { messages, warnings },
  );
}

/** `web-001` … `web-NNN` (qjail 5.0 numbers copies with three digits). */
export function duplicateNames(name: string, count: number): string[] {
  return Array.from({ length: count }, (_, i) => `${name}-${String(i + 1).padStart(3, "0")}`);
}

function duplicateAddresses(req: CreateRequest): JailAddress[][] {
  if (req.duplicates === 0) return [req.ip4];
  const first = req.ip4[0];
  if (req.ip4.length === 0 && req.ip6.length > 0)
    throw new UsageError(
      "QJ1207",
      `-d ${req.duplicates} numbers IPv4 addresses and cannot be used with -6 alone`,
      "Give one -4 address (copy k gets its last octet + k-1), then set IPv6 per jail with 'qjail config -6'.",
    );
  if (req.ip4.length !== 1 || first === undefined) {
    throw new UsageError(
      "QJ1207",
      `-d ${req.duplicates} needs exactly one IPv4 address, got ${shown(formatAddressList(req.ip4))}`,
      "Give one -4 address; copy k gets its last octet + k-1.",
    );
  }
  if (req.ip6.length > 0) {
    throw new UsageError(
      "QJ1208",
      `-d cannot give every copy the same -6 address ${shown(formatAddressList(req.ip6))}`,
      "Create the copies with -4 only and set IPv6 per jail with 'qjail config -6'.",
    );
  }
  const octets = first.address.split(".").map(Number);
  const last = octets[3] as number;
  if (last + req.duplicates - 1 > 254) {
    throw new UsageError(
      "QJ1209",
      `-d ${req.duplicates} from ${shown(first.address)} runs past .254`,
      `Use at most ${255 - last} copies from this address, or start lower.`,
    );
  }
  return Array.from({ length: req.duplicates }, (_, k) => [
    { ...first, address: `${octets[0]}.${octets[1]}.${octets[2]}.${last + k}` },
  ]);
}

/** Template copy, flavor overlay, one-time ssh: everything inside the new jail's tree. */
function jailTreeSteps(state: CreateState, req: CreateRequest, name: string): Step[] {
  const root = jailRootPath(state.layout, name);
  const steps: Step[] = [
    { kind: "copyTree", from: state.layout.template, to: root, inJail: root },
    {
      kind: "copyTree",
      from: `${state.layout.flavors}/${req.flavor}`,
      to: root,
      overwrite: true,
      inJail: root,
    },
  ];
  if (req.oneTimeSsh) steps.push(...oneTimeSshSteps(root, state.sshBase));
  return steps;
}

export const SSHD_ENABLE_LINE = "sshd_enable=YES";
export const USE_DNS_LINE = "UseDNS no";

/**
 * qjail's one-time ssh (docs/qjail-5.md §5.3): sshd on, no reverse DNS; the user
 * comes from exec.poststart. With the files' current text the lines are
 * added once (whole-file writes, so a repeated run writes the same bytes);
 * without it (a tree unpacked by the same plan) each line is appended when
 * the file does not hold it yet, as the plan reaches it.
 */
export function oneTimeSshSteps(root: string, base?: SshBase): Step[] {
  const add = (text: string, line: string): string =>
    text.split("\n").includes(line)
      ? text
      : `${text}${text === "" || text.endsWith("\n") ? "" : "\n"}${line}\n`;
  const steps: Step[] = [{ kind: "mkdir", path: `${root}/etc/ssh`, inJail: root }];
  if (base === undefined) {
    steps.push(
      {
        kind: "appendFile",
        path: `${root}/etc/rc.conf`,
        content: `${SSHD_ENABLE_LINE}\n`,
        once: true,
        inJail: root,
      },
      {
        kind: "appendFile",
        path: `${root}/etc/ssh/sshd_config`,
        content: `${USE_DNS_LINE}\n`,
        once: true,
        inJail: root,
      },
    );
  } else {
    steps.push(
      {
        kind: "writeFile",
        path: `${root}/etc/rc.conf`,
        content: add(base.rcConf, SSHD_ENABLE_LINE),
        mode: 0o644,
        inJail: root,
      },
      {
        kind: "writeFile",
        path: `${root}/etc/ssh/sshd_config`,
        content: add(base.sshdConfig, USE_DNS_LINE),
        mode: 0o644,
        inJail: root,
      },
    );
  }
  return steps;
}

/** fstab, jail.conf block, then the records that make the jail visible. */
export function controlFileSteps(
  state: Pick<HostState, "layout">,
  record: JailRecord,
  status: "normal" | "norun" | "man" = "normal",
): Step[] {
  return [
    { kind: "writeFile", path: record.fstab, content: renderFstab(state.layout, record.path), mode: 0o644 },
    {
      kind: "writeFile",
      path: jailConfPath(state.layout, record.name),
      content: renderJailConf(record),
      mode: 0o644,
    },
    ...writeRecordSteps({ name: record.name, status, layout: state.layout, record }),
  ];
}

/**
 * Linux: the same layout as qjail's image jails (`<root>/<name>.img`, the
 * directory its mount point), built without mounting anything: a sparse
 * file, then mkfs.ext4 -d copies the finished tree into the new file system
 * (owners, modes and links kept). The start mounts it through a loop device.
 */
function linuxImageSteps(state: CreateState, name: string, mib: number, root: string): Step[] {
  const tree = jailRootPath(state.layout, name);
  const build = `${tree}-img`;
  const image = `${build}/${name}.img`;
  const P = (logical: string): string => physical(root, logical);
  return [
    { kind: "remove", path: build, recursive: true },
    { kind: "mkdir", path: build, mode: 0o700 },
    { kind: "run", argv: ["truncate", "-s", `${mib}M`, P(image)], why: "sparse image file" },
    {
      kind: "run",
      argv: ["mkfs.ext4", "-q", "-F", "-m", "0", "-L", `qjail-${name}`.slice(0, 16), "-d", P(tree), P(image)],
      why: "an ext4 file system of the image's size holding the jail's tree",
    },
    { kind: "remove", path: tree, recursive: true },
    { kind: "rename", from: build, to: tree },
  ];
}

/**
 * Turn the directory tree just built into an image jail the way qjail does:
 * a sparse file in `<root>-img`, newfs, mount it on that directory, copy the
 * tree in, release it, then the image directory takes the jail's name.
 * Only a FreeBSD host can run these (mdconfig, newfs).
 */
function imageSteps(state: CreateState, name: string, mib: number): Step[] {
  const root = jailRootPath(state.layout, name);
  const build = `${root}-img`;
  const image = `${build}/${name}.img`;
  return [
    { kind: "mkdir", path: build },
    {
      kind: "run",
      argv: ["/bin/dd", "if=/dev/zero", `of=${image}`, "bs=1m", "count=0", `seek=${mib}`],
      why: "sparse image file",
    },
    {
      kind: "run",
      argv: ["/sbin/mdconfig", "-a", "-t", "vnode", "-f", image],
      why: `attach the image; it prints the unit used below as ${IMAGE_MD_UNIT}`,
      capture: "mdUnit",
    },
    { kind: "run", argv: ["/sbin/newfs", "-U", `/dev/${IMAGE_MD_UNIT}`] },
    { kind: "run", argv: ["/sbin/mount", `/dev/${IMAGE_MD_UNIT}`, build] },
    { kind: "run", argv: ["/bin/cp", "-Rp", `${root}/`, build] },
    { kind: "run", argv: ["/sbin/umount", build] },
    { kind: "run", argv: ["/sbin/mdconfig", "-d", "-u", IMAGE_MD_UNIT] },
    { kind: "run", argv: ["/bin/chflags", "-x", "-R", "0", root], mayFail: true },
    { kind: "remove", path: root, recursive: true },
    { kind: "rename", from: build, to: root },
  ];
}
