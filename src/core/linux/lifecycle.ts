import { createHash } from "node:crypto";
import { posix } from "node:path";
import type { Plan, Step } from "../plan.js";
import { consoleLogPath, jailMacPath, physical, pidFilePath, type HostLayout } from "../paths.js";
import type { JailRecord } from "../record.js";
import { RECORD_FLAG_VALUES } from "../record.js";
import { recordAddresses } from "../validate.js";
import { UsageError, shown } from "../errors.js";
import type { CgroupPlan, Limits } from "../limits.js";

/**
 * Pure planners for a jail's life on Linux: start, stop and console as the
 * exact argv the Linux platform runs, so `--dry-run` shows them and golden
 * tests pin them. The platform gathers the facts (JID, what is left of an
 * earlier run, whether the bridge exists) and passes them in.
 *
 * Partner scripts in share/linux: jail-launch.sh (detaches the jail's init and
 * waits for it), jail-init.sh (PID 1 set-up: mounts, pivot_root, capability
 * drop), jail-reap.sh (ends every process of a jail's network namespace).
 */

/** What is recorded about a running jail in /var/db/qjail/run/<name> (written by jail-init.sh). */
export interface RunState {
  jid: number;
  pid: number;
  /** /proc/<pid>/stat field 22: a reused PID never has the same start time. */
  starttime: string;
  netns: string;
  hostIf: string;
  jailIf: string;
  /** The bridge its veth joined ("" in state files of older versions). */
  bridge: string;
  /** Logical root path of the jail. */
  path: string;
  ip4: string[];
  ip6: string[];
}

export function parseRunState(text: string): RunState | undefined {
  const kv = new Map<string, string>();
  for (const line of text.split("\n")) {
    const i = line.indexOf("=");
    if (i > 0) kv.set(line.slice(0, i), line.slice(i + 1));
  }
  const jid = Number(kv.get("jid"));
  const pid = Number(kv.get("pid"));
  const starttime = kv.get("starttime") ?? "";
  const netns = kv.get("netns") ?? "";
  if (
    !Number.isInteger(jid) ||
    jid < 1 ||
    !Number.isInteger(pid) ||
    pid < 2 ||
    !/^\d+$/.test(starttime) ||
    netns === ""
  )
    return undefined;
  const list = (k: string): string[] => (kv.get(k) ?? "").split(",").filter((s) => s !== "");
  return {
    jid,
    pid,
    starttime,
    netns,
    hostIf: kv.get("hostif") ?? "",
    jailIf: kv.get("jailif") ?? "",
    bridge: kv.get("bridge") ?? "",
    path: kv.get("path") ?? "",
    ip4: list("ip4"),
    ip6: list("ip6"),
  };
}

export function runStatePath(layout: Pick<HostLayout, "stateDir">, name: string): string {
  return `${layout.stateDir}/run/${name}`;
}

/** The jail's mount table for jail-init.sh (`mount -a -T`), beside its state file. */
export function runFstabPath(layout: Pick<HostLayout, "stateDir">, name: string): string {
  return `${layout.stateDir}/run/${name}.fstab`;
}

/** fstab(5) field escaping: space, tab, newline and backslash as octal, as libmount reads them. */
export function fstabField(value: string): string {
  return value.replace(/[\\ \t\n]/g, (c) => `\\${c.charCodeAt(0).toString(8).padStart(3, "0")}`);
}

/**
 * Every mount of a jail after its root's self-bind, in order, as one fstab
 * (physical paths): the shared base read-only (FreeBSD's qjail.fstab nullfs
 * line), the host-base binds under it, a fresh /proc with its kernel knobs
 * read-only, /sys read-only, and the tmpfs for /dev and /run. The jail's
 * init mounts it in its own mount namespace; nothing reaches the host's.
 */
export function jailFstab(
  root: string,
  sharedfs: string,
  baseBinds: readonly { source: string; target: string }[],
  procKnobs: readonly string[],
  masks: JailMasks = { files: [], dirs: [] },
): string {
  const line = (src: string, dst: string, type: string, opts: string): string =>
    `${fstabField(src)} ${fstabField(dst)} ${type} ${opts} 0 0`;
  // a masked file reads as /dev/null, a masked directory as an empty read-only tmpfs (Docker's masked paths)
  const maskLines = (under: string): string[] => [
    ...masks.files
      .filter((f) => f.startsWith(under))
      .map((f) => line("/dev/null", `${root}/${f}`, "none", "bind,ro")),
    ...masks.dirs
      .filter((d) => d.startsWith(under))
      .map((d) => line("tmpfs", `${root}/${d}`, "tmpfs", "ro,nosuid,nodev,noexec,size=4k,mode=555")),
  ];
  const lines = [
    "# Written by qjail start; mounted by jail-init.sh inside the jail's own mount namespace.",
    line(sharedfs, `${root}/sharedfs`, "none", "bind,ro"),
    ...baseBinds.map((b) => line(b.source, `${root}/sharedfs/${b.target}`, "none", "bind,ro")),
    line("proc", `${root}/proc`, "proc", "nosuid,nodev,noexec"),
    ...procKnobs.map((k) => line(`${root}/proc/${k}`, `${root}/proc/${k}`, "none", "bind,ro")),
    ...maskLines("proc/"),
    line("sysfs", `${root}/sys`, "sysfs", "ro,nosuid,nodev,noexec"),
    ...maskLines("sys/"),
    line("tmpfs", `${root}/dev`, "tmpfs", "mode=755,size=64k,nosuid,noexec"),
    line("tmpfs", `${root}/run`, "tmpfs", `mode=755,nosuid,nodev,size=${RUN_TMPFS_SIZE}`),
  ];
  return lines.join("\n") + "\n";
}

/** The jail's /run: pid files and sockets, not a place for data (it would otherwise be half the host's RAM). */
export const RUN_TMPFS_SIZE = "32m";

/** The helper's --rlimit values for a jail's limits (openfiles: RLIMIT_NOFILE). */
export function rlimitArgs(limits: Required<Limits>): string[] {
  return limits.openfiles === "unlimited" ? [] : [`nofile=${limits.openfiles}`];
}

/**
 * What a jail does not see of the host's kernel (review L2), after Docker's
 * masked paths, plus what a FreeBSD jail is not shown either: keyrings,
 * kernel memory and symbols, timers and scheduler internals, the boot
 * command line, physical memory maps, firmware and DMI tables, and the
 * host's block devices. Files read as /dev/null, directories as an empty
 * read-only tmpfs; only what the running kernel has is masked (a mount on a
 * missing path would stop the start). The jail's own network devices under
 * /sys/class/net stay visible.
 */
export const MASKED_PATHS = [
  "proc/acpi",
  "proc/asound",
  "proc/cmdline",
  "proc/config.gz",
  "proc/iomem",
  "proc/ioports",
  "proc/kallsyms",
  "proc/kcore",
  "proc/key-users",
  "proc/keys",
  "proc/kpagecgroup",
  "proc/kpagecount",
  "proc/kpageflags",
  "proc/latency_stats",
  "proc/sched_debug",
  "proc/scsi",
  "proc/slabinfo",
  "proc/timer_list",
  "proc/timer_stats",
  "proc/vmallocinfo",
  "sys/block",
  "sys/class/block",
  "sys/class/dmi",
  "sys/dev/block",
  "sys/devices/virtual/dmi",
  "sys/devices/virtual/powercap",
  "sys/firmware",
] as const;

/** The masked paths this kernel has, split by how they are masked (relative to the jail's root). */
export interface JailMasks {
  files: string[];
  dirs: string[];
}

/** /proc entries a jail gets read-only when the kernel has them. */
export const READ_ONLY_PROC = ["sys", "sysrq-trigger", "irq", "bus", "fs"] as const;

/** Interface names from the JID: unique per running jail, within IFNAMSIZ (15) for any JID below 10^12. */
export function hostInterfaceName(jid: number): string {
  return `qjh${jid}`;
}
export function jailInterfaceName(jid: number): string {
  return `qjj${jid}`;
}

/**
 * The jail's named network namespace. Names in /run/netns are global to the
 * machine, so a relocated --root (tests, benchmarks) gets its own prefix and
 * two roots never touch each other's jails.
 */
export function netnsName(root: string, name: string): string {
  if (root === "/" || root === "") return `qjail-${name}`;
  return `qjail-${createHash("sha256").update(root).digest("hex").slice(0, 8)}-${name}`;
}

/**
 * A jail's MAC is qjail's own record, not something derived: the Linux
 * backend picks one at a jail's first start (a random locally administered
 * unicast address, {@link newJailMac}) and keeps it in
 * `jailMacPath(layout, name)`; rename moves that file, delete removes it,
 * and an address change leaves it alone, so neighbour caches (the host's,
 * other jails') stay right across a rename, an address change and a
 * restart.
 */
const MAC_PATTERN = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

/** The MAC kept in a jail's MAC file, or undefined when the text is not a locally administered unicast MAC. */
export function parseJailMac(text: string): string | undefined {
  const mac = text.trim().toLowerCase();
  if (!MAC_PATTERN.test(mac)) return undefined;
  const first = parseInt(mac.slice(0, 2), 16);
  return (first & 0x03) === 0x02 ? mac : undefined;
}

/** A new jail MAC from 5 random bytes: 02:xx:xx:xx:xx:xx (locally administered, unicast). */
export function newJailMac(random: Uint8Array): string {
  if (random.length < 5) throw new Error("internal: a jail MAC needs 5 random bytes");
  return [0x02, ...random.slice(0, 5)].map((b) => b.toString(16).padStart(2, "0")).join(":");
}

/**
 * The MAC a jail started by qjail before MACs were kept in a file has: it
 * was derived from the jail's first address. Used only for a running jail
 * that has no MAC file yet, so the guard keeps matching its frames.
 */
export function legacyJailMac(
  root: string,
  name: string,
  net: { ip4: readonly string[]; ip6: readonly string[] },
): string {
  const first = net.ip4[0] ?? net.ip6[0];
  return stableMac(root, first === undefined ? `jail:${name}` : `address:${first}`);
}

/**
 * A stable, locally administered MAC address for `what` (the bridge): every
 * start gets the same one, so neighbours' ARP caches stay right across a
 * restart.
 */
export function stableMac(root: string, what: string): string {
  const h = createHash("sha256").update(`${root}\0${what}`).digest();
  const bytes = [0x02, h[0] as number, h[1] as number, h[2] as number, h[3] as number, h[4] as number];
  return bytes.map((b) => b.toString(16).padStart(2, "0")).join(":");
}

/**
 * Capabilities a jail's root keeps (the bounding set). Enough for login,
 * sshd and daemons that drop privileges; nothing that reaches past the jail:
 * no mount, module, device, network configuration, raw I/O, ptrace or time.
 *
 * Checked against what a FreeBSD jail's root may do (prison_priv_check):
 * file ownership and modes in its tree (chown, dac_override, fowner, fsetid),
 * signals to its own processes (kill), credentials (setuid, setgid), low
 * ports (net_bind_service), chroot, and login's audit records. Not
 * dac_read_search: besides reading any file (dac_override covers the jail's
 * own) it opens files by handle (open_by_handle_at), which reaches every file
 * of the filesystem the jail lives on; FreeBSD refuses fhopen(2) in a jail.
 */
export const JAIL_CAPABILITIES = [
  "chown",
  "dac_override",
  "fowner",
  "fsetid",
  "kill",
  "setgid",
  "setuid",
  "net_bind_service",
  "sys_chroot",
  "audit_write",
] as const;

/** devfs_ruleset 50 (qjail-howto: "adds the bpf device tcpdump requires"): packet capture through AF_PACKET needs CAP_NET_RAW. */
export const CAPTURE_RULESET = "50";

export function jailCapabilities(record: Pick<JailRecord, "rsockets" | "ruleset">): string[] {
  const caps: string[] = [...JAIL_CAPABILITIES];
  if (record.rsockets === RECORD_FLAG_VALUES.rsockets || record.ruleset === CAPTURE_RULESET)
    caps.push("net_raw");
  return caps;
}

/**
 * The native helper (native/qjail-helper.c, shipped prebuilt per architecture
 * under share/linux/bin): `launch` starts a jail's init, `init` confines it,
 * `enter` runs a program in a running jail. Every program of a jail's tree is
 * executed by it, after the capability drop and the syscall filter.
 */
export function helperRelativePath(arch: string): string {
  return `bin/linux-${arch}/qjail-helper`;
}

/** Console log size at which the helper rotates it (one older copy, LOG.0). */
export const CONSOLE_LOG_MAX = 1024 * 1024;

/**
 * `qjail-helper enter` arguments that run a program in the running jail as
 * `user`, with exactly the jail's capabilities and a clean environment.
 */
export function enterJailArgv(
  helper: string,
  state: Pick<RunState, "pid" | "starttime">,
  opts: {
    sharedIpc: boolean;
    caps: readonly string[];
    user: { uid: number; gid: number; groups: readonly number[]; home: string };
    env: readonly string[];
    /** The jail's cgroups: what runs in it counts against its limits. */
    cgroups?: readonly string[];
    rlimits?: readonly string[];
  },
): string[] {
  const argv = [helper, "enter", "--pid", String(state.pid), "--starttime", state.starttime];
  if (!opts.sharedIpc) argv.push("--ipc");
  for (const c of opts.cgroups ?? []) argv.push("--cgroup", c);
  for (const r of opts.rlimits ?? []) argv.push("--rlimit", r);
  argv.push("--caps", opts.caps.join(","));
  argv.push("--uid", String(opts.user.uid), "--gid", String(opts.user.gid));
  if (opts.user.groups.length > 0) argv.push("--groups", opts.user.groups.join(","));
  argv.push("--cwd", opts.user.home);
  for (const e of opts.env) argv.push("--env", e);
  return argv;
}

const IFACE_RE = /^[A-Za-z][A-Za-z0-9_.-]{0,14}$/;

export interface JailNetwork {
  bridge: string;
  gateway4: { address: string; prefix: number } | undefined;
  gateway6: { address: string; prefix: number } | undefined;
  ip4: string[];
  ip6: string[];
}

/**
 * The jail's addresses and the bridge they hang off. The gateway comes from
 * the host config's jail subnet when there is one, otherwise from the jail's
 * first address (its /24 with .1, its /64 with ::1).
 */
export function jailNetwork(
  name: string,
  record: Pick<JailRecord, "ip4" | "ip6" | "interface">,
  defaults: {
    bridge: string;
    subnet4?: { gateway: string; prefix: number };
    subnet6?: { gateway: string; prefix: number };
  },
): JailNetwork {
  const bridge = record.interface !== "" ? record.interface : defaults.bridge;
  if (!IFACE_RE.test(bridge)) {
    throw new UsageError(
      "QJ2001",
      `jail ${shown(name)} names the interface ${shown(bridge)}, which is not a Linux interface name`,
      `Give it a bridge name of at most 15 letters and digits: qjail config -c qjail0 ${name}`,
    );
  }
  const ip4 = recordAddresses(record.ip4);
  const ip6 = recordAddresses(record.ip6);
  let gateway4 = defaults.subnet4
    ? { address: defaults.subnet4.gateway, prefix: defaults.subnet4.prefix }
    : undefined;
  const first4 = ip4[0];
  if (!gateway4 && first4 !== undefined) gateway4 = { address: first4.replace(/\.\d+$/, ".1"), prefix: 24 };
  let gateway6 = defaults.subnet6
    ? { address: defaults.subnet6.gateway, prefix: defaults.subnet6.prefix }
    : undefined;
  const first6 = ip6[0];
  if (!gateway6 && first6 !== undefined) gateway6 = { address: ipv6Slash64Gateway(first6), prefix: 64 };
  for (const a of ip4) {
    if (gateway4 && a === gateway4.address) {
      throw new UsageError(
        "QJ2002",
        `jail ${shown(name)} has the address ${shown(a)}, which is the jail network's gateway on the host`,
        `Give the jail another address: qjail config -4 <address> ${name}`,
      );
    }
  }
  return { bridge, gateway4, gateway6, ip4, ip6 };
}

function ipv6Slash64Gateway(address: string): string {
  // expand "::" so the first four groups are the /64 prefix
  const [head = "", tail = ""] = address.split("::");
  const h = head === "" ? [] : head.split(":");
  const t = address.includes("::") ? (tail === "" ? [] : tail.split(":")) : [];
  const groups = address.includes("::") ? [...h, ...Array(8 - h.length - t.length).fill("0"), ...t] : h;
  return `${groups.slice(0, 4).join(":")}::1`;
}

/** Facts the Linux platform gathers for planning a start. */
export interface LinuxStartFacts {
  /** Physical root (--root). */
  root: string;
  /** Physical directory of the helper scripts (share/linux). */
  helperDir: string;
  /** Physical path of the native helper binary for this machine. */
  helper: string;
  jid: number;
  network: JailNetwork;
  /**
   * The bridge as the host has it now. Steps that would change nothing are
   * left out (each `ip` call costs a process and, for `up`, a kernel sync).
   */
  bridge: { exists: boolean; up: boolean; addresses: string[] };
  /** net.ipv4.ip_forward / net.ipv6.conf.all.forwarding already 1 in the host's namespace. */
  forwarding: { v4: boolean; v6: boolean };
  /** Read-only bind mounts from the host into the jail's /sharedfs (sharedfs/qjail.base, sources that exist). */
  baseBinds: { source: string; target: string }[];
  /** Entries of /proc made read-only in the jail, those the running kernel has. */
  procKnobs: string[];
  /** {@link MASKED_PATHS} present on this kernel. */
  masks?: JailMasks;
  /** What a previous run left behind (init killed, qjail killed mid-start); cleared before starting. */
  leftover: { netns: boolean; state: RunState | undefined; hostIfs: string[] };
  /** File steps that create the one-time ssh user (create -c) at first start, and rewrite the record. */
  firstStartSteps: Step[];
  /** Seconds to wait for the jail's init to report ready. */
  readyTimeout: number;
  /**
   * An image jail (create -i): its image file (physical path) and whether it
   * is mounted on the jail's directory already (what a crash left).
   */
  image?: { path: string; mounted: boolean };
  /**
   * The guard tables with every running jail and this one, as the `nft -f`
   * transaction the platform rendered (src/firewall/nft/guard.ts).
   */
  guard: string;
  /** The jail's limits (rctl names; Linux defaults filled in) and the cgroup files that carry them. */
  limits: Required<Limits>;
  cgroups: CgroupPlan;
  /**
   * The jail's MAC (its veth end in the jail), and whether it still has to
   * be written to the jail's MAC file (first start, see {@link parseJailMac}).
   */
  mac: { address: string; persisted: boolean };
}

/** Where the guard transaction is written before `nft -f` reads it (beside the run states). */
export function guardFilePath(layout: Pick<HostLayout, "stateDir">): string {
  return `${layout.stateDir}/run/.guard.nft`;
}

/**
 * Load the guard tables for the jails that will be running: written whole,
 * then one `nft -f` transaction (all of it or none). With no jail left the
 * tables go.
 */
export function guardSteps(root: string, layout: Pick<HostLayout, "stateDir">, transaction: string): Step[] {
  const file = guardFilePath(layout);
  return [
    { kind: "writeFile", path: file, content: transaction, mode: 0o600 },
    {
      kind: "run",
      argv: ["nft", "-f", physical(root, file)],
      why: "the guard: each jail port sends only from its own addresses, host services closed to jails",
    },
  ];
}

export interface LinuxJail {
  name: string;
  record: JailRecord;
  layout: HostLayout;
  rootPath: string;
}

/**
 * An image jail's file system on its directory (FreeBSD: mdconfig + mount):
 * a loop device the kernel releases with the last unmount (autoclear), no
 * device files honoured. Mounted in the host's namespace, so the host's view
 * of the tree (console's user lookup, status) is the jail's.
 */
export function imageMountStep(image: string, dir: string): Step {
  return {
    kind: "run",
    argv: ["mount", "-t", "ext4", "-o", "loop,nodev,noatime", image, dir],
    why: "the image jail's file system on its directory (its size is the jail's disk quota)",
  };
}

/** Steps that remove what a previous run of the jail left: processes, namespace, interfaces, state files. */
function cleanupSteps(
  jail: LinuxJail,
  helperDir: string,
  netns: string,
  state: RunState | undefined,
  hostIfs: readonly string[],
  cgroupDirs: readonly string[] = [],
): Step[] {
  const steps: Step[] = [];
  const reap = ["/bin/sh", `${helperDir}/jail-reap.sh`, netns];
  if (state) reap.push(String(state.pid), state.starttime);
  steps.push({ kind: "run", argv: reap, why: "end every process of the jail" });
  steps.push({
    kind: "run",
    argv: ["ip", "netns", "delete", netns],
    why: "remove the jail's network namespace",
    mayFail: true,
  });
  for (const ifname of hostIfs)
    steps.push({
      kind: "run",
      argv: ["ip", "link", "delete", ifname],
      why: "remove the host side of the jail's veth",
      mayFail: true,
    });
  if (cgroupDirs.length > 0)
    steps.push({
      kind: "run",
      argv: ["/bin/sh", `${helperDir}/jail-cgroup.sh`, "remove", ...cgroupDirs],
      why: "remove the jail's control groups",
      mayFail: true,
    });
  steps.push({ kind: "remove", path: pidFilePath(jail.name) });
  steps.push({ kind: "remove", path: runStatePath(jail.layout, jail.name) });
  steps.push({ kind: "remove", path: runFstabPath(jail.layout, jail.name) });
  return steps;
}

/**
 * `qjail start` on Linux: network namespace and veth on the host bridge with
 * exactly the jail's addresses, then the jail's init in its own mount, PID,
 * UTS and IPC namespaces (jail-init.sh), then qjail's pid file.
 */
export function planLinuxStart(jail: LinuxJail, f: LinuxStartFacts): Plan {
  const netns = netnsName(f.root, jail.name);
  const hostIf = hostInterfaceName(f.jid);
  const jailIf = jailInterfaceName(f.jid);
  const net = f.network;
  const P = (logical: string): string => physical(f.root, logical);
  const stateFile = runStatePath(jail.layout, jail.name);
  const steps: Step[] = [];

  const { leftover } = f;
  if (leftover.netns || leftover.state || leftover.hostIfs.length > 0) {
    steps.push(...cleanupSteps(jail, f.helperDir, netns, leftover.state, leftover.hostIfs, f.cgroups.dirs));
  } else {
    steps.push({ kind: "remove", path: stateFile });
  }
  steps.push({ kind: "mkdir", path: `${jail.layout.stateDir}/run`, mode: 0o755 });
  steps.push({ kind: "mkdir", path: "/var/run", mode: 0o755 });
  steps.push({ kind: "mkdir", path: "/var/log", mode: 0o755 });
  if (f.image && !f.image.mounted) steps.push(imageMountStep(f.image.path, P(jail.rootPath)));
  steps.push(...f.firstStartSteps);
  if (!f.mac.persisted)
    steps.push(
      { kind: "mkdir", path: posix.dirname(jailMacPath(jail.layout, jail.name)), mode: 0o755 },
      {
        kind: "writeFile",
        path: jailMacPath(jail.layout, jail.name),
        content: `${f.mac.address}\n`,
        mode: 0o644,
      },
    );

  // the host side: bridge with the jail network's gateway, forwarding on
  const has = (a: { address: string; prefix: number }): boolean =>
    f.bridge.exists && f.bridge.addresses.includes(`${a.address}/${a.prefix}`);
  if (!f.bridge.exists)
    steps.push({
      kind: "run",
      argv: [
        "ip",
        "link",
        "add",
        net.bridge,
        "address",
        stableMac(f.root, `bridge:${net.bridge}`),
        "type",
        "bridge",
      ],
      why: "the jails' bridge",
    });
  if (net.gateway4 && !has(net.gateway4))
    steps.push({
      kind: "run",
      argv: ["ip", "addr", "replace", `${net.gateway4.address}/${net.gateway4.prefix}`, "dev", net.bridge],
    });
  if (net.gateway6 && !has(net.gateway6))
    steps.push({
      kind: "run",
      argv: [
        "ip",
        "-6",
        "addr",
        "replace",
        `${net.gateway6.address}/${net.gateway6.prefix}`,
        "dev",
        net.bridge,
        "nodad",
      ],
    });
  if (!f.bridge.exists || !f.bridge.up)
    steps.push({ kind: "run", argv: ["ip", "link", "set", net.bridge, "up"] });
  if (net.ip4.length > 0 && !f.forwarding.v4)
    steps.push({ kind: "run", argv: ["sysctl", "-q", "-w", "net.ipv4.ip_forward=1"] });
  if (net.ip6.length > 0 && !f.forwarding.v6)
    steps.push({ kind: "run", argv: ["sysctl", "-q", "-w", "net.ipv6.conf.all.forwarding=1"] });

  // the jail's network namespace: lo and one veth end with exactly its addresses
  const jailMac = f.mac.address;
  steps.push({ kind: "run", argv: ["ip", "netns", "add", netns] });
  steps.push({
    kind: "run",
    argv: [
      "ip",
      "link",
      "add",
      hostIf,
      "type",
      "veth",
      "peer",
      "name",
      jailIf,
      "address",
      jailMac,
      "netns",
      netns,
    ],
  });
  steps.push({ kind: "run", argv: ["ip", "link", "set", hostIf, "master", net.bridge, "up"] });
  // Jail-to-jail frames are dropped by the guard's bridge forward chain (review M2), not by port
  // isolation: isolation also drops hairpinned exposures when br_netfilter is on (src/firewall/nft/guard.ts).
  steps.push(...guardSteps(f.root, jail.layout, f.guard));
  steps.push({ kind: "run", argv: ["ip", "-n", netns, "link", "set", "lo", "up"] });
  // No router advertisement configures a jail; a jail without an IPv6 address has no IPv6 link at all.
  steps.push({
    kind: "run",
    argv: [
      "ip",
      "netns",
      "exec",
      netns,
      "sysctl",
      "-q",
      "-w",
      `net.ipv6.conf.${jailIf}.accept_ra=0`,
      ...(net.ip6.length === 0 ? [`net.ipv6.conf.${jailIf}.disable_ipv6=1`] : []),
    ],
  });
  for (const a of net.ip4)
    steps.push({
      kind: "run",
      argv: ["ip", "-n", netns, "addr", "add", `${a}/${net.gateway4?.prefix ?? 32}`, "dev", jailIf],
    });
  for (const a of net.ip6)
    steps.push({
      kind: "run",
      argv: [
        "ip",
        "-n",
        netns,
        "-6",
        "addr",
        "add",
        `${a}/${net.gateway6?.prefix ?? 128}`,
        "dev",
        jailIf,
        "nodad",
      ],
    });
  steps.push({ kind: "run", argv: ["ip", "-n", netns, "link", "set", jailIf, "up"] });
  // The host's neighbour entries for the jail's addresses point at this MAC
  // from the first packet: a forward answers right after start even when the
  // address had another MAC before (config -4, delete and create on it).
  for (const a of net.ip4)
    steps.push({
      kind: "run",
      argv: ["ip", "neigh", "replace", a, "lladdr", jailMac, "dev", net.bridge, "nud", "reachable"],
      mayFail: true,
    });
  if (net.gateway4 && net.ip4.length > 0)
    steps.push({
      kind: "run",
      argv: ["ip", "-n", netns, "route", "add", "default", "via", net.gateway4.address],
    });
  if (net.gateway6 && net.ip6.length > 0)
    steps.push({
      kind: "run",
      argv: ["ip", "-n", netns, "-6", "route", "add", "default", "via", net.gateway6.address],
    });

  // the jail itself: its mounts, then its init
  const fstabFile = runFstabPath(jail.layout, jail.name);
  steps.push({
    kind: "writeFile",
    path: fstabFile,
    content: jailFstab(P(jail.rootPath), P(jail.layout.sharedfs), f.baseBinds, f.procKnobs, f.masks),
    mode: 0o644,
  });
  const caps = jailCapabilities(jail.record);
  const consoleLog = P(consoleLogPath(jail.name));
  if (f.cgroups.dirs.length > 0)
    steps.push({
      kind: "run",
      why: "the jail's control groups: its limits apply from its first process on",
      argv: [
        "/bin/sh",
        `${f.helperDir}/jail-cgroup.sh`,
        "create",
        ...(f.cgroups.needsDevice ? ["--device-of", P(jail.rootPath)] : []),
        ...f.cgroups.dirs,
        "--",
        ...[...f.cgroups.parents, ...f.cgroups.writes].flat(),
      ],
    });
  steps.push({
    kind: "run",
    why: "start the jail's init and wait until it is up",
    argv: [
      "/bin/sh",
      `${f.helperDir}/jail-launch.sh`,
      consoleLog,
      P(stateFile),
      String(f.readyTimeout),
      "--",
      f.helper,
      "launch",
      "--netns",
      `/run/netns/${netns}`,
      "--log",
      consoleLog,
      "--log-max",
      String(CONSOLE_LOG_MAX),
      ...(jail.record.sysvipc === RECORD_FLAG_VALUES.sysvipc ? ["--share-ipc"] : []),
      ...f.cgroups.dirs.flatMap((d) => ["--cgroup", d]),
      "--",
      "/bin/sh",
      `${f.helperDir}/jail-init.sh`,
      P(jail.rootPath),
      P(fstabFile),
      jail.name,
      P(stateFile),
      String(f.jid),
      netns,
      hostIf,
      jailIf,
      caps.join(","),
      jail.rootPath,
      net.ip4.join(","),
      net.ip6.join(","),
      f.helper,
      net.bridge,
      f.limits.shmsize === "unlimited" ? "50%" : String(f.limits.shmsize),
      rlimitArgs(f.limits).join(","),
    ],
  });
  steps.push({ kind: "writeFile", path: pidFilePath(jail.name), content: `${f.jid}\n`, mode: 0o555 });
  return {
    title: `Start jail ${jail.name} (jid ${f.jid})`,
    steps,
    messages: [`Jail successfully started  ${jail.name}`],
  };
}

/**
 * `qjail stop` on Linux: the jail's /etc/rc.shutdown, then every process of
 * the jail ended (killing its init ends its PID namespace), its network
 * namespace and veth removed, its state files deleted. Mounts live only in
 * the jail's mount namespace and go with its last process.
 */
export function planLinuxStop(
  jail: LinuxJail,
  f: {
    root: string;
    helperDir: string;
    helper: string;
    state: RunState | undefined;
    hostIfs: string[];
    /** The guard transaction without this jail; undefined leaves the guard tables alone. */
    guard?: string;
    /** The jail's cgroup directories, removed once its processes are gone. */
    cgroupDirs?: string[];
    rlimits?: string[];
    /** An image jail whose file system is mounted on its directory: unmounted once its processes are gone. */
    imageMounted?: boolean;
  },
): Plan {
  const netns = netnsName(f.root, jail.name);
  const steps: Step[] = [];
  if (f.state) {
    steps.push({
      kind: "run",
      why: "the jail's rc.shutdown",
      mayFail: true,
      argv: [
        ...enterJailArgv(f.helper, f.state, {
          sharedIpc: jail.record.sysvipc === RECORD_FLAG_VALUES.sysvipc,
          caps: jailCapabilities(jail.record),
          user: { uid: 0, gid: 0, groups: [0], home: "/" },
          env: [JAIL_PATH, "HOME=/"],
          cgroups: f.cgroupDirs ?? [],
          rlimits: f.rlimits ?? [],
        }),
        "--",
        "/bin/sh",
        "/etc/rc.shutdown",
      ],
    });
  }
  steps.push(
    ...cleanupSteps(
      jail,
      f.helperDir,
      netns,
      f.state,
      f.state ? [f.state.hostIf, ...f.hostIfs.filter((i) => i !== f.state?.hostIf)] : f.hostIfs,
      f.cgroupDirs ?? [],
    ),
  );
  if (f.imageMounted)
    steps.push({
      kind: "run",
      argv: ["umount", physical(f.root, jail.rootPath)],
      why: "release the image jail's file system (its loop device goes with it)",
    });
  if (f.guard) steps.push(...guardSteps(f.root, jail.layout, f.guard));
  return { title: `Stop jail ${jail.name}`, steps, messages: [`Jail successfully stopped  ${jail.name}`] };
}

export interface ConsoleUser {
  name: string;
  uid: number;
  gid: number;
  /** Supplementary groups from the jail's own /etc/group (read by qjail: the helper uses no NSS). */
  groups: number[];
  home: string;
  shell: string;
}

const JAIL_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/**
 * `qjail console` on Linux: a login shell (or one command) as root or
 * `-u user` inside the running jail, with the jail's capability set, through
 * the helper: where the caller has a terminal the jail's side gets a pty of
 * the jail's own devpts (a real terminal: job control, `tty`), never the
 * caller's; elsewhere pipes.
 */
export function planLinuxConsole(
  jail: LinuxJail,
  state: RunState,
  user: ConsoleUser,
  command: readonly string[] | undefined,
  term: string,
  /** The caller's stdin is a terminal (an interactive login rather than a piped one). */
  interactive = false,
  helper = "qjail-helper",
  jailCgroups: { dirs: readonly string[]; rlimits: readonly string[] } = { dirs: [], rlimits: [] },
): Plan {
  const env = [
    `HOME=${user.home}`,
    `USER=${user.name}`,
    `LOGNAME=${user.name}`,
    `SHELL=${user.shell}`,
    `TERM=${term}`,
    JAIL_PATH,
    ...(interactive && !(command && command.length > 0) ? ["ENV=/etc/profile"] : []),
  ];
  const argv = [
    ...enterJailArgv(helper, state, {
      sharedIpc: jail.record.sysvipc === RECORD_FLAG_VALUES.sysvipc,
      caps: jailCapabilities(jail.record),
      user,
      env,
      cgroups: jailCgroups.dirs,
      rlimits: jailCgroups.rlimits,
    }),
    "--",
    ...(command && command.length > 0 ? command : [user.shell, "-l"]),
  ];
  return { title: `Console of jail ${jail.name} as ${user.name}`, steps: [{ kind: "run", argv }] };
}

/** Supplementary groups of `user` in a group(5) file: its primary group and every group listing it. */
export function groupsOf(groupFile: string, user: string, primary: number): number[] {
  const out = new Set<number>([primary]);
  for (const line of groupFile.split("\n")) {
    const f = line.split(":");
    if (f.length < 4) continue;
    const gid = Number(f[2]);
    if (!Number.isInteger(gid) || gid < 0) continue;
    if ((f[3] ?? "").split(",").includes(user)) out.add(gid);
  }
  return [...out].slice(0, 64);
}
