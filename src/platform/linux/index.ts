import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, lstatSync, readFileSync, statSync } from "node:fs";
import { join, posix } from "node:path";
import { shareDir } from "../../assets.js";
import { detectCgroups } from "./cgroups.js";

export { detectCgroups } from "./cgroups.js";
import type { Platform } from "../types.js";
import type { ConsoleRequest, JailSpec } from "../../core/jail.js";
import type { Plan, Step } from "../../core/plan.js";
import { formatStep } from "../../core/plan.js";
import { UsageError, shown } from "../../core/errors.js";
import { escapeForTerminal } from "../../core/terminal.js";
import { physical, hostLayout, jailMacPath, type HostLayout } from "../../core/paths.js";
import { defaultHostConfig, jailGateway, parseHostConfig, type HostConfig } from "../../core/hostconfig.js";
import { RECORD_FLAG_VALUES, emptyRecord } from "../../core/record.js";
import { isImageJail } from "../../core/jail.js";
import {
  groupsOf,
  helperRelativePath,
  hostInterfaceName,
  jailNetwork,
  netnsName,
  planLinuxConsole,
  planLinuxStart,
  planLinuxStop,
  type ConsoleUser,
  type LinuxJail,
  type RunState,
  READ_ONLY_PROC,
  legacyJailMac,
  newJailMac,
  parseJailMac,
  MASKED_PATHS,
  type JailMasks,
} from "../../core/linux/lifecycle.js";
import {
  guardRemoveTransaction,
  guardTransaction,
  type GuardModel,
  type GuardPort,
} from "../../firewall/nft/guard.js";
import { totalmem } from "node:os";
import { cgroupPlan, effectiveLinuxLimits, type CgroupPlan, type Limits } from "../../core/limits.js";
import { rlimitArgs } from "../../core/linux/lifecycle.js";
import { BASE_MANIFEST, parseBaseManifest } from "../../core/linux/install.js";
import { addOneTimeUser, jailUidBase, randomSalt } from "../../core/linux/sshuser.js";
import { applyPlan } from "../apply.js";
import { safeRemoveTree } from "../safe-fs.js";
import {
  hostInterfaces,
  isAlive,
  mountsUnder,
  netnsExists,
  readAllRunStates,
  linuxLiveJails,
  readJailFileSync,
  readRunState,
} from "./state.js";

/**
 * The Linux backend: a jail is a set of namespaces (mount, PID, UTS, IPC,
 * network) around a pivot_root'ed copy of qjail's template, with the shared
 * base mounted read-only and a capability set that keeps root in the jail
 * from being root on the host. The pure planners are in
 * src/core/linux/lifecycle.ts; the helper scripts they run in share/linux.
 */

/** share/linux, where the helper scripts the Linux backend runs live. */
export function linuxHelperDir(): string {
  const dir = join(shareDir(), "linux");
  if (existsSync(join(dir, "jail-init.sh"))) return dir;
  throw new Error(`internal: ${join(dir, "jail-init.sh")} not found in the qjail package`);
}

/**
 * The native helper for this machine, prebuilt in the package
 * (share/linux/bin/linux-ARCH/qjail-helper; `make -C native` rebuilds it).
 * Nothing of a jail runs without it, so its absence stops the command.
 */
export function linuxHelperBinary(arch: string = process.arch): string {
  const path = join(shareDir(), "linux", helperRelativePath(arch));
  const st = statSync(path, { throwIfNoEntry: false });
  if (st?.isFile() && (st.mode & 0o111) !== 0) return path;
  throw new UsageError(
    "QJ2050",
    `qjail's native helper for linux-${arch} is missing or not executable: ${path}`,
    arch === "x64" || arch === "arm64"
      ? "Reinstall qjail, or rebuild the helper from the package's native/ directory: make -C native (needs gcc and libc6-dev)."
      : `qjail ships its helper for linux-x64 and linux-arm64; build one for ${arch} with a C compiler: make -C native x64 (adapt CC).`,
  );
}

const READY_TIMEOUT_SECONDS = 30;

let cachedMasks: JailMasks | undefined;

/** {@link MASKED_PATHS} that exist on this kernel, as files or directories (links are left alone). */
export function jailMasks(): JailMasks {
  if (cachedMasks) return cachedMasks;
  const masks: JailMasks = { files: [], dirs: [] };
  for (const p of MASKED_PATHS) {
    let st;
    try {
      st = lstatSync(`/${p}`);
    } catch {
      continue;
    }
    if (st.isDirectory()) masks.dirs.push(p);
    else if (st.isFile()) masks.files.push(p);
  }
  cachedMasks = masks;
  return masks;
}

/** Where the jail's image file is: the record's `image`, else qjail's `<root>/<name>.img`. */
function imagePathOf(spec: JailSpec): string {
  return spec.record.image || `${spec.rootPath}/${spec.name}.img`;
}

/** A program in the directories root's PATH has (mkfs.ext4 lives in /sbin). */
function findProgram(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? "").split(":"), "/usr/local/sbin", "/usr/sbin", "/sbin"];
  return dirs.map((d) => join(d, name)).find((p) => isExecutable(p));
}
function isExecutable(p: string): boolean {
  const st = statSync(p, { throwIfNoEntry: false });
  return st !== undefined && st.isFile() && (st.mode & 0o111) !== 0;
}

/**
 * Image jails on Linux need loop devices and mkfs.ext4: refused at create,
 * with what is missing, on a host without them (a container without
 * /dev/loop-control, a system without e2fsprogs).
 */
export function checkImageSupport(name: string): void {
  if (!existsSync("/dev/loop-control"))
    throw new UsageError(
      "QJ2013",
      `image jail ${shown(name)}: this host has no loop devices (/dev/loop-control is missing), so an image cannot be mounted`,
      "Load the loop module (modprobe loop), or create a directory jail (drop -i).",
    );
  if (findProgram("mkfs.ext4") === undefined)
    throw new UsageError(
      "QJ2013",
      `image jail ${shown(name)}: mkfs.ext4 is not installed, so no image can be made`,
      "Install e2fsprogs (apt-get install e2fsprogs), or create a directory jail (drop -i).",
    );
}

function toLinuxJail(spec: JailSpec): LinuxJail {
  return { name: spec.name, record: spec.record, layout: spec.layout, rootPath: spec.rootPath };
}

export interface LinuxPlatform extends Platform {
  /** Remove a jail's tree for delete: refuses while it runs or while anything is mounted below it. */
  removeJailTree(rootPath: string): Promise<void>;
}

export function createLinuxPlatform(root: string): LinuxPlatform {
  const helperDir = (): string => linuxHelperDir();
  const helper = (): string => linuxHelperBinary();

  /** The jail's limits (record rctl over the Linux defaults) and its cgroup files. */
  function limitsOf(spec: Pick<JailSpec, "name" | "record">): {
    limits: Required<Limits>;
    cgroups: CgroupPlan;
  } {
    const limits = effectiveLinuxLimits(spec.record.rctl ?? "", totalmem());
    return { limits, cgroups: cgroupPlan(detectCgroups(), netnsName(root, spec.name), limits) };
  }
  const P = (logical: string): string => physical(root, logical);

  function hostConfig(layout: HostLayout): { config: HostConfig; exists: boolean } {
    const defaults = defaultHostConfig("linux");
    let text: string | undefined;
    try {
      text = readFileSync(P(layout.hostConfig), "utf8");
    } catch {
      return { config: defaults, exists: false };
    }
    return { config: parseHostConfig(text, defaults).config, exists: true };
  }

  function networkFor(spec: JailSpec): ReturnType<typeof jailNetwork> {
    const { config, exists } = hostConfig(spec.layout);
    const subnet = (cidr: string | undefined): { gateway: string; prefix: number } | undefined =>
      cidr === undefined ? undefined : { gateway: jailGateway(cidr), prefix: Number(cidr.split("/")[1]) };
    return jailNetwork(spec.name, spec.record, {
      bridge: config.jailIf,
      subnet4: exists ? subnet(config.jailSubnet4) : undefined,
      subnet6: exists ? subnet(config.jailSubnet6) : undefined,
    });
  }

  /** The MAC qjail keeps for a jail (src/core/paths.ts jailMacPath), undefined when it has none yet. */
  function keptMac(layout: HostLayout, name: string): string | undefined {
    try {
      return parseJailMac(readFileSync(physical(root, jailMacPath(layout, name)), "utf8"));
    } catch {
      return undefined;
    }
  }

  /**
   * The guard tables for every running jail of this root except `without`,
   * plus `extra` (the jail being started).
   */
  function guardModel(
    layout: HostLayout,
    without: string,
    extra?: GuardPort & { bridge: string },
  ): GuardModel {
    const { config } = hostConfig(layout);
    const ports: GuardPort[] = [];
    const bridges = new Set<string>([config.jailIf]);
    for (const [name, s] of readAllRunStates(root, layout)) {
      if (name === without || !isAlive(s) || s.hostIf === "") continue;
      const mac = keptMac(layout, name) ?? legacyJailMac(root, name, s);
      ports.push({ hostIf: s.hostIf, mac, ip4: s.ip4, ip6: s.ip6 });
      bridges.add(s.bridge || config.jailIf);
    }
    if (extra) {
      ports.push({ hostIf: extra.hostIf, mac: extra.mac, ip4: extra.ip4, ip6: extra.ip6 });
      bridges.add(extra.bridge);
    }
    return { bridges: [...bridges], ports, hostServicesForJails: config.hostServicesForJails };
  }

  /** The bridge's link state and addresses ("10.0.0.1/24"), from one `ip -j addr show`. */
  function bridgeState(
    bridge: string,
    ifaces: Set<string>,
  ): { exists: boolean; up: boolean; addresses: string[] } {
    if (!ifaces.has(bridge)) return { exists: false, up: false, addresses: [] };
    const r = spawnSync("ip", ["-j", "-d", "addr", "show", "dev", bridge], { encoding: "utf8" });
    if (r.status !== 0) return { exists: true, up: false, addresses: [] };
    let link:
      | {
          flags?: string[];
          linkinfo?: { info_kind?: string };
          addr_info?: { local?: string; prefixlen?: number }[];
        }
      | undefined;
    try {
      [link] = JSON.parse(r.stdout) as NonNullable<typeof link>[];
    } catch {
      return { exists: true, up: false, addresses: [] };
    }
    if (link?.linkinfo?.info_kind !== "bridge") {
      // FreeBSD habit: `create -n em0` names the NIC the aliases go on; here a jail's veth joins a bridge
      throw new UsageError(
        "QJ2004",
        `the jail interface ${shown(bridge)} exists and is not a bridge (${link?.linkinfo?.info_kind ?? "a physical device"})`,
        `On Linux a jail's veth joins a bridge: name an unused one (qjail config -c qjail0 JAIL) and qjail creates it.`,
      );
    }
    return {
      exists: true,
      up: link.flags?.includes("UP") ?? false,
      addresses: (link.addr_info ?? []).map((a) => `${a.local}/${a.prefixlen}`),
    };
  }

  /** A boolean kernel setting of qjail's own network namespace (/proc/sys/net follows the reader's namespace). */
  function sysctlIsOne(path: string): boolean {
    try {
      return readFileSync(`/proc/sys/${path}`, "utf8").trim() === "1";
    } catch {
      return false;
    }
  }

  /** Lowest JID no state file holds and whose interface name is free (a crashed run may still hold one). */
  function allocateJid(states: Map<string, RunState>, ifaces: Set<string>): number {
    const used = new Set([...states.values()].map((s) => s.jid));
    let jid = 1;
    while (used.has(jid) || ifaces.has(hostInterfaceName(jid))) jid++;
    return jid;
  }

  function baseBinds(layout: HostLayout): { source: string; target: string }[] {
    let text: string;
    try {
      text = readFileSync(P(`${layout.sharedfs}/${BASE_MANIFEST}`), "utf8");
    } catch {
      return [];
    }
    const sharedfs = P(layout.sharedfs);
    return parseBaseManifest(text).filter((b) => {
      const src = statSync(b.source, { throwIfNoEntry: false });
      const dst = statSync(posix.join(sharedfs, b.target), { throwIfNoEntry: false });
      return src !== undefined && dst !== undefined && src.isDirectory() === dst.isDirectory();
    });
  }

  /** The jail's first address (its uid block and MAC follow it); "" for none. */
  function firstAddressOf(net: { ip4: readonly string[]; ip6: readonly string[] }): string {
    return net.ip4[0] ?? net.ip6[0] ?? "";
  }

  /** create -c: the one-time user goes into the jail's own account files before its first start. */
  function firstStartSteps(spec: JailSpec): Step[] {
    if (spec.record.poststartssh !== RECORD_FLAG_VALUES.poststartssh) return [];
    const jailRoot = P(spec.rootPath);
    const read = (rel: string): string => readJailFileSync(jailRoot, rel) ?? "";
    const files = addOneTimeUser(
      { passwd: read("etc/passwd"), group: read("etc/group"), shadow: read("etc/shadow") },
      spec.name,
      randomSalt(),
      jailUidBase(firstAddressOf(networkFor(spec))),
    );
    const J = (rel: string): string => posix.join(spec.rootPath, rel);
    const steps: Step[] = [
      { kind: "writeFile", path: J("etc/passwd"), content: files.passwd, mode: 0o644, inJail: spec.rootPath },
      { kind: "writeFile", path: J("etc/group"), content: files.group, mode: 0o644, inJail: spec.rootPath },
      { kind: "writeFile", path: J("etc/shadow"), content: files.shadow, mode: 0o600, inJail: spec.rootPath },
      { kind: "mkdir", path: J(files.home), mode: 0o755, inJail: spec.rootPath },
      // the jail has never run, so nothing in it can have planted a link yet; -h still never follows one
      {
        kind: "run",
        argv: ["chown", "-h", `${files.uid}:10`, "--", P(J(files.home))],
        why: "the one-time user owns its home",
      },
    ];
    const rcConf = read("etc/rc.conf");
    if (!/^\s*sshd_enable=/m.test(rcConf)) {
      steps.push({
        kind: "appendFile",
        path: J("etc/rc.conf"),
        content: 'sshd_enable="YES"\n',
        inJail: spec.rootPath,
      });
    }
    return steps;
  }

  function planStart(spec: JailSpec): Plan {
    const layout = spec.layout;
    const states = readAllRunStates(root, layout);
    const previous = states.get(spec.name);
    if (previous && isAlive(previous)) {
      throw new UsageError(
        "QJ2003",
        `jail ${shown(spec.name)} is already running (jid ${previous.jid})`,
        `Use qjail restart ${spec.name} to restart it.`,
      );
    }
    const limits = limitsOf(spec);
    if (limits.cgroups.ioUnsupported)
      throw new UsageError(
        "QJ2012",
        `jail ${shown(spec.name)} has io limits (readbps, writebps, readiops, writeiops) and this host has no cgroup io or blkio controller to carry them`,
        `Lift them (qjail config --readbps unlimited ${spec.name}, and the others set), or enable the io controller (cgroup v2) or mount blkio (cgroup v1).`,
      );
    const ifaces = hostInterfaces();
    const netns = netnsName(root, spec.name);
    states.delete(spec.name);
    const jid = allocateJid(states, ifaces);
    const network = networkFor(spec);
    const kept = keptMac(layout, spec.name);
    const mac = { address: kept ?? newJailMac(randomBytes(5)), persisted: kept !== undefined };
    const guard = guardModel(layout, spec.name, {
      hostIf: hostInterfaceName(jid),
      mac: mac.address,
      ip4: network.ip4,
      ip6: network.ip6,
      bridge: network.bridge,
    });
    return planLinuxStart(toLinuxJail(spec), {
      guard: guardTransaction(guard),
      ...limits,
      root,
      helperDir: helperDir(),
      helper: helper(),
      jid,
      network,
      bridge: bridgeState(network.bridge, ifaces),
      forwarding: { v4: sysctlIsOne("net/ipv4/ip_forward"), v6: sysctlIsOne("net/ipv6/conf/all/forwarding") },
      baseBinds: baseBinds(layout),
      procKnobs: READ_ONLY_PROC.filter((k) => existsSync(`/proc/${k}`)),
      masks: jailMasks(),
      leftover: {
        netns: netnsExists(netns),
        state: previous,
        hostIfs: previous && ifaces.has(previous.hostIf) ? [previous.hostIf] : [],
      },
      firstStartSteps: firstStartSteps(spec),
      readyTimeout: READY_TIMEOUT_SECONDS,
      mac,
      ...(isImageJail(spec.record)
        ? { image: { path: P(imagePathOf(spec)), mounted: imageMounted(spec) } }
        : {}),
    });
  }

  /** An image jail's file system is mounted on its directory (running, or left by a crash). */
  function imageMounted(spec: JailSpec): boolean {
    const dir = P(spec.rootPath);
    return mountsUnder(dir).includes(dir);
  }

  function planStop(spec: JailSpec): Plan {
    const state = readRunState(root, spec.layout, spec.name);
    const ifaces = hostInterfaces();
    return planLinuxStop(toLinuxJail(spec), {
      root,
      helperDir: helperDir(),
      helper: helper(),
      state: state && isAlive(state) ? state : undefined,
      hostIfs: state && ifaces.has(state.hostIf) ? [state.hostIf] : [],
      guard: ((g) => (g.ports.length > 0 ? guardTransaction(g) : guardRemoveTransaction()))(
        guardModel(spec.layout, spec.name),
      ),
      cgroupDirs: limitsOf(spec).cgroups.dirs,
      rlimits: rlimitArgs(limitsOf(spec).limits),
      imageMounted: isImageJail(spec.record) && imageMounted(spec),
    });
  }

  function runningState(spec: JailSpec): RunState {
    const state = readRunState(root, spec.layout, spec.name);
    if (!state || !isAlive(state)) {
      throw new UsageError(
        "QJ2020",
        `jail ${shown(spec.name)} is not running`,
        `Start it first: qjail start ${spec.name}`,
      );
    }
    return state;
  }

  function consoleUser(spec: JailSpec, name: string): ConsoleUser {
    const passwd = readJailFileSync(P(spec.rootPath), "etc/passwd") ?? "";
    for (const line of passwd.split("\n")) {
      const f = line.split(":");
      if (f[0] !== name || f.length < 7) continue;
      const uid = Number(f[2]);
      const gid = Number(f[3]);
      if (!Number.isInteger(uid) || !Number.isInteger(gid) || uid < 0 || gid < 0) break;
      const groups = groupsOf(readJailFileSync(P(spec.rootPath), "etc/group") ?? "", name, gid);
      return { name, uid, gid, groups, home: f[5] || "/", shell: f[6] || "/bin/sh" };
    }
    throw new UsageError(
      "QJ2021",
      `jail ${shown(spec.name)} has no user ${shown(name)}`,
      `List the jail's users with: qjail console -c cat /etc/passwd ${spec.name}`,
    );
  }

  const platform: LinuxPlatform = {
    name: "linux",
    root,

    async apply(plan: Plan): Promise<void> {
      await applyPlan(plan, { root, runCommands: true });
    },

    liveJails: async () => linuxLiveJails(root),

    async defaultJailInterface(): Promise<string> {
      return hostConfig(hostLayout()).config.jailIf;
    },

    planStart,

    async start(spec: JailSpec): Promise<void> {
      const plan = planStart(spec);
      try {
        await applyPlan(plan, { root, runCommands: true });
      } catch (e) {
        // leave nothing half-built: the stop plan removes whatever the start got to
        await applyPlan(planStop(spec), { root, runCommands: true }).catch(() => undefined);
        throw new UsageError(
          "QJ2010",
          // the message ends with the jail's console log: what the jail printed is escaped (review L1)
          `jail ${shown(spec.name)} did not start: ${escapeForTerminal((e as Error).message, { keepNewlines: true })}`,
          `Its console log ${physical(root, `/var/log/qjail.${spec.name}.console.log`)} has the jail's side.`,
        );
      }
      const state = readRunState(root, spec.layout, spec.name);
      if (!state || !isAlive(state)) {
        await applyPlan(planStop(spec), { root, runCommands: true }).catch(() => undefined);
        throw new UsageError(
          "QJ2011",
          `jail ${shown(spec.name)} exited right after starting`,
          `Its console log ${physical(root, `/var/log/qjail.${spec.name}.console.log`)} says why.`,
        );
      }
    },

    planStop,

    async stop(spec: JailSpec): Promise<void> {
      await applyPlan(planStop(spec), { root, runCommands: true });
    },

    planConsole(spec: JailSpec, req: ConsoleRequest): Plan {
      const state = runningState(spec);
      const user = consoleUser(spec, req.user ?? "root");
      return planLinuxConsole(
        toLinuxJail(spec),
        state,
        user,
        req.command,
        process.env.TERM ?? "dumb",
        process.stdin.isTTY === true,
        helper(),
        { dirs: limitsOf(spec).cgroups.dirs, rlimits: rlimitArgs(limitsOf(spec).limits) },
      );
    },

    async console(spec: JailSpec, req: ConsoleRequest): Promise<number> {
      const plan = platform.planConsole(spec, req);
      const step = plan.steps[0];
      if (step?.kind !== "run")
        throw new Error(`internal: console plan is not one command: ${step ? formatStep(step) : "empty"}`);
      const [cmd, ...args] = step.argv;
      if (cmd === undefined) throw new Error("internal: empty console argv");
      return await new Promise<number>((resolve, reject) => {
        const child = spawn(cmd, args, { stdio: "inherit" });
        child.on("error", reject);
        child.on("close", (code, signal) => resolve(code ?? (signal ? 128 : 1)));
      });
    },

    async removeJailTree(rootPath: string): Promise<void> {
      for (const [name, s] of readAllRunStates(root, hostLayout())) {
        if (s.path === rootPath && isAlive(s)) {
          throw new UsageError(
            "QJ2040",
            `refusing to remove ${shown(rootPath)}: jail ${shown(name)} is running from it`,
            `Stop it first: qjail stop ${name}`,
          );
        }
      }
      // what a crashed run of this jail left (namespace, veth, state files) goes with it
      for (const [name, s] of readAllRunStates(root, hostLayout())) {
        if (s.path !== rootPath) continue;
        const debris = planLinuxStop(
          { name, record: emptyRecord(), layout: hostLayout(), rootPath },
          {
            root,
            helperDir: helperDir(),
            helper: "qjail-helper",
            state: undefined,
            hostIfs: hostInterfaces().has(s.hostIf) ? [s.hostIf] : [],
          },
        );
        await applyPlan(debris, { root, runCommands: true });
      }
      const top = physical(root, rootPath);
      const mounted = mountsUnder(top);
      if (mounted.length > 0) {
        throw new UsageError(
          "QJ2041",
          `refusing to remove ${shown(rootPath)}: ${shown(mounted[0] as string)} is mounted inside it`,
          "Unmount it (umount -R), or stop the jail that uses it, then run delete again.",
        );
      }
      await safeRemoveTree(top);
    },
    checkNewJail(name, record, layout) {
      if (record.imagetype) checkImageSupport(name);
      // The checks planStart makes, so create refuses what start would (C10).
      const network = networkFor({ name, record, layout } as JailSpec);
      bridgeState(network.bridge, hostInterfaces());
    },
  };
  return platform;
}
