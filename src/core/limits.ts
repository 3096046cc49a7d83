import { UsageError, shown } from "./errors.js";

/**
 * A jail's resource limits, named after FreeBSD's rctl(8) resources so one
 * setting means the same on both systems (`qjail config --memoryuse 512M www`):
 *
 * | resource  | FreeBSD (rctl rule in the start plan) | Linux                              |
 * |-----------|----------------------------------------|------------------------------------|
 * | memoryuse | jail:NAME:memoryuse:deny=BYTES         | cgroup memory.max / limit_in_bytes |
 * | maxproc   | jail:NAME:maxproc:deny=N               | cgroup pids.max (counts threads)   |
 * | pcpu      | jail:NAME:pcpu:deny=PERCENT            | cgroup cpu.max (100 = one CPU)     |
 * | openfiles | jail:NAME:openfiles:deny=N             | RLIMIT_NOFILE of every process     |
 * | shmsize   | jail:NAME:shmsize:deny=BYTES           | size of the jail's /dev/shm tmpfs  |
 * | readbps   | jail:NAME:readbps:throttle=BYTES       | io.max rbps / blkio.throttle.read_bps_device   |
 * | writebps  | jail:NAME:writebps:throttle=BYTES      | io.max wbps / blkio.throttle.write_bps_device  |
 * | readiops  | jail:NAME:readiops:throttle=N          | io.max riops / blkio.throttle.read_iops_device |
 * | writeiops | jail:NAME:writeiops:throttle=N         | io.max wiops / blkio.throttle.write_iops_device|
 *
 * The four io resources are rates (per second). FreeBSD only throttles them
 * (rctl refuses `deny` for a rate); Linux throttles the block device that
 * holds the jail's tree (the disk, not a partition: the kernel throttles
 * whole devices), which for an image jail (`create -i`) is its own loop
 * device. Every jail also has its own io (v2) or blkio (v1) group, so where
 * the host's I/O scheduler weighs groups (BFQ, io.cost) jails share the disk
 * in equal parts instead of competing per process.
 *
 * Stored in the definition record as `rctl="memoryuse=536870912,maxproc=256"`
 * (written only when set, so qjail 5.x records read back unchanged). On Linux
 * a resource left unset takes {@link linuxDefaultLimits}: no jail can take the
 * host's PIDs or all of its memory. On FreeBSD unset means no rule, as rctl.
 */

export const RCTL_RESOURCES = [
  "memoryuse",
  "maxproc",
  "pcpu",
  "openfiles",
  "shmsize",
  "readbps",
  "writebps",
  "readiops",
  "writeiops",
] as const;
export type RctlResource = (typeof RCTL_RESOURCES)[number];
export type LimitValue = number | "unlimited";
export type Limits = Partial<Record<RctlResource, LimitValue>>;

const BYTES: ReadonlySet<RctlResource> = new Set(["memoryuse", "shmsize", "readbps", "writebps"]);

/** Rates, throttled rather than denied (rctl's only action for them). */
export const IO_RESOURCES = ["readbps", "writebps", "readiops", "writeiops"] as const;
const IO: ReadonlySet<RctlResource> = new Set(IO_RESOURCES);

/** Whether any io rate of these limits is set. */
export function hasIoLimits(limits: Limits): boolean {
  return IO_RESOURCES.some((r) => limits[r] !== undefined && limits[r] !== "unlimited");
}

const UNIT = { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 } as const;

/** A value as the admin types it: "512M", "1g", "256", "unlimited"; refusals say what is wrong. */
export function parseLimitValue(resource: RctlResource, text: string): LimitValue {
  const t = text.trim().toLowerCase();
  if (t === "unlimited" || t === "none" || t === "max") return "unlimited";
  const m = (IO.has(resource) ? /^([0-9]{1,15})([kmgt]?)b?(?:\/s)?$/ : /^([0-9]{1,15})([kmgt]?)b?$/).exec(t);
  const n = m ? Number(m[1]) * UNIT[(m[2] ?? "") as keyof typeof UNIT] : NaN;
  const sized = BYTES.has(resource);
  if (!m || (!sized && m[2] !== "") || !Number.isSafeInteger(n) || n < 1) {
    throw new UsageError(
      "QJ1350",
      `invalid ${resource} value ${shown(text)}`,
      sized
        ? `Give a size in bytes with an optional K, M, G or T suffix (e.g. --${resource} 512M), or "unlimited".`
        : `Give a positive whole number (e.g. --${resource} ${resource === "pcpu" ? "50" : "256"}), or "unlimited".`,
    );
  }
  if (resource === "memoryuse" && n < 16 * 1024 * 1024)
    throw new UsageError(
      "QJ1351",
      `memoryuse ${shown(text)} is below 16M`,
      "A jail's init and rc need at least 16M.",
    );
  if (resource === "maxproc" && n < 8)
    throw new UsageError(
      "QJ1351",
      `maxproc ${shown(text)} is below 8`,
      "The jail's init and rc need at least 8 processes.",
    );
  if (resource === "pcpu" && n > 100 * 1024)
    throw new UsageError(
      "QJ1351",
      `pcpu ${shown(text)} is more than any host has`,
      "pcpu is a percentage of one CPU: 100 is one core, 200 two.",
    );
  return n;
}

/** The record's `rctl` value; malformed entries are skipped (a damaged record still starts, with the defaults). */
export function parseRctl(value: string): Limits {
  const out: Limits = {};
  for (const part of value.split(",")) {
    const [k, v] = part.split("=");
    if (k === undefined || v === undefined || !(RCTL_RESOURCES as readonly string[]).includes(k)) continue;
    try {
      out[k as RctlResource] = parseLimitValue(k as RctlResource, v);
    } catch {
      // skip
    }
  }
  return out;
}

export function formatRctl(limits: Limits): string {
  return RCTL_RESOURCES.filter((r) => limits[r] !== undefined)
    .map((r) => `${r}=${limits[r]}`)
    .join(",");
}

/** Set one resource (undefined: back to the default) in a record's `rctl` value. */
export function withLimit(value: string, resource: RctlResource, v: LimitValue | undefined): string {
  const limits = parseRctl(value);
  if (v === undefined) delete limits[resource];
  else limits[resource] = v;
  return formatRctl(limits);
}

/** Linux defaults: half the host's memory, 1024 tasks, /dev/shm 64M (Docker's), CPU, files and io unlimited. */
export function linuxDefaultLimits(hostMemoryBytes: number): Required<Limits> {
  return {
    memoryuse: Math.max(256 * 1024 * 1024, Math.floor(hostMemoryBytes / 2 / 4096) * 4096),
    maxproc: 1024,
    pcpu: "unlimited",
    openfiles: "unlimited",
    shmsize: 64 * 1024 * 1024,
    readbps: "unlimited",
    writebps: "unlimited",
    readiops: "unlimited",
    writeiops: "unlimited",
  };
}

export function effectiveLinuxLimits(rctl: string, hostMemoryBytes: number): Required<Limits> {
  return { ...linuxDefaultLimits(hostMemoryBytes), ...parseRctl(rctl) };
}

/** Human form: 536870912 → "512M", a rate 1048576 → "1M/s". */
export function showLimit(resource: RctlResource, v: LimitValue): string {
  if (v === "unlimited") return v;
  const rate = IO.has(resource) ? "/s" : "";
  if (!BYTES.has(resource)) return `${v}${rate}`;
  return `${showBytes(v)}${rate}`;
}

/** 536870912 → "512M"; an amount that is not a whole unit keeps one decimal (3.4M). */
export function showBytes(v: number): string {
  for (const [u, f] of [
    ["G", 1024 ** 3],
    ["M", 1024 ** 2],
    ["K", 1024],
  ] as const) {
    if (v % f === 0) return `${v / f}${u}`;
    if (v >= f) return `${(v / f).toFixed(1)}${u}`;
  }
  return String(v);
}

/** Where the host keeps cgroup controllers: one v2 hierarchy, or v1 per controller (hybrid hosts). */
export type CgroupLayout =
  | { kind: "v2"; root: string; /** the io controller is available */ io?: boolean }
  | { kind: "v1"; memory?: string; pids?: string; cpu?: string; cpuacct?: string; blkio?: string }
  | { kind: "none" };

/**
 * Placeholder in a cgroup value for the jail's block device ("MAJ:MIN" of
 * the whole disk holding its tree): only known once its filesystem is
 * mounted (an image jail's loop device), so jail-cgroup.sh fills it in.
 */
export const IO_DEVICE = "@DEVICE@";

export interface CgroupPlan {
  /** Directories the jail's processes join (one per hierarchy). */
  dirs: string[];
  /** Limit files, written after the directories exist: [file, value]. */
  writes: [string, string][];
  /** v2: the parent's controllers to enable first. */
  parents: [string, string][];
  /** Some value names {@link IO_DEVICE}: the jail's io limits need its block device. */
  needsDevice: boolean;
  /** Io limits are set and this host has no controller to carry them (the start refuses). */
  ioUnsupported: boolean;
}

/**
 * The cgroup files for a jail's limits. `id` names the jail's group
 * (qjail/ID under each hierarchy): the network namespace name, unique per
 * --root and jail.
 */
export function cgroupPlan(layout: CgroupLayout, id: string, limits: Required<Limits>): CgroupPlan {
  const mem = limits.memoryuse;
  const pids = limits.maxproc;
  const cpu = limits.pcpu;
  const period = 100000;
  const io = hasIoLimits(limits);
  const rate = (r: (typeof IO_RESOURCES)[number], none: string): string => {
    const v = limits[r];
    return v === "unlimited" ? none : String(v);
  };
  if (layout.kind === "v2") {
    const parent = `${layout.root}/qjail`;
    const dir = `${parent}/${id}`;
    const controllers = `+memory +pids +cpu${layout.io ? " +io" : ""}`;
    const writes: [string, string][] = [
      [`${dir}/memory.max`, mem === "unlimited" ? "max" : String(mem)],
      [`${dir}/memory.swap.max`, mem === "unlimited" ? "max" : "0"],
      [`${dir}/pids.max`, pids === "unlimited" ? "max" : String(pids)],
      [
        `${dir}/cpu.max`,
        cpu === "unlimited" ? `max ${period}` : `${Math.round((cpu * period) / 100)} ${period}`,
      ],
    ];
    if (io && layout.io)
      writes.push([
        `${dir}/io.max`,
        `${IO_DEVICE} rbps=${rate("readbps", "max")} wbps=${rate("writebps", "max")} riops=${rate("readiops", "max")} wiops=${rate("writeiops", "max")}`,
      ]);
    return {
      dirs: [dir],
      parents: [
        [`${layout.root}/cgroup.subtree_control`, controllers],
        [`${parent}/cgroup.subtree_control`, controllers],
      ],
      writes,
      needsDevice: io && layout.io === true,
      ioUnsupported: io && layout.io !== true,
    };
  }
  if (layout.kind === "v1") {
    const dirs: string[] = [];
    const writes: [string, string][] = [];
    const join = (mount: string | undefined): string | undefined => {
      if (!mount) return undefined;
      const d = `${mount}/qjail/${id}`;
      if (!dirs.includes(d)) dirs.push(d);
      return d;
    };
    const m = join(layout.memory);
    if (m) writes.push([`${m}/memory.limit_in_bytes`, mem === "unlimited" ? "-1" : String(mem)]);
    const p = join(layout.pids);
    if (p) writes.push([`${p}/pids.max`, pids === "unlimited" ? "max" : String(pids)]);
    const c = join(layout.cpu);
    if (c) {
      writes.push([`${c}/cpu.cfs_period_us`, String(period)]);
      writes.push([
        `${c}/cpu.cfs_quota_us`,
        cpu === "unlimited" ? "-1" : String(Math.round((cpu * period) / 100)),
      ]);
    }
    // cpu time used, for status (its own hierarchy where the host mounts it apart from cpu)
    join(layout.cpuacct);
    const b = join(layout.blkio);
    if (b && io)
      for (const [r, file] of [
        ["readbps", "read_bps_device"],
        ["writebps", "write_bps_device"],
        ["readiops", "read_iops_device"],
        ["writeiops", "write_iops_device"],
      ] as const)
        if (limits[r] !== "unlimited")
          writes.push([`${b}/blkio.throttle.${file}`, `${IO_DEVICE} ${limits[r]}`]);
    return { dirs, writes, parents: [], needsDevice: io && b !== undefined, ioUnsupported: io && !b };
  }
  return { dirs: [], writes: [], parents: [], needsDevice: false, ioUnsupported: io };
}

/** FreeBSD: the rctl(8) rules for a jail's configured limits (rctl needs kern.racct.enable=1 at boot). */
export function rctlRules(jailName: string, rctl: string): string[] {
  const limits = parseRctl(rctl);
  return RCTL_RESOURCES.filter((r) => limits[r] !== undefined && limits[r] !== "unlimited").map(
    (r) => `jail:${jailName}:${r}:${IO.has(r) ? "throttle" : "deny"}=${limits[r]}`,
  );
}
