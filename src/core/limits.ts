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
 *
 * Stored in the definition record as `rctl="memoryuse=536870912,maxproc=256"`
 * (written only when set, so qjail 5.x records read back unchanged). On Linux
 * a resource left unset takes {@link linuxDefaultLimits}: no jail can take the
 * host's PIDs or all of its memory. On FreeBSD unset means no rule, as rctl.
 */

export const RCTL_RESOURCES = ["memoryuse", "maxproc", "pcpu", "openfiles", "shmsize"] as const;
export type RctlResource = (typeof RCTL_RESOURCES)[number];
export type LimitValue = number | "unlimited";
export type Limits = Partial<Record<RctlResource, LimitValue>>;

const BYTES: ReadonlySet<RctlResource> = new Set(["memoryuse", "shmsize"]);

const UNIT = { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 } as const;

/** A value as the admin types it: "512M", "1g", "256", "unlimited"; refusals say what is wrong. */
export function parseLimitValue(resource: RctlResource, text: string): LimitValue {
  const t = text.trim().toLowerCase();
  if (t === "unlimited" || t === "none" || t === "max") return "unlimited";
  const m = /^([0-9]{1,15})([kmgt]?)b?$/.exec(t);
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

/** Linux defaults: half the host's memory, 1024 tasks, /dev/shm 64M (Docker's), CPU and files unlimited. */
export function linuxDefaultLimits(hostMemoryBytes: number): Required<Limits> {
  return {
    memoryuse: Math.max(256 * 1024 * 1024, Math.floor(hostMemoryBytes / 2 / 4096) * 4096),
    maxproc: 1024,
    pcpu: "unlimited",
    openfiles: "unlimited",
    shmsize: 64 * 1024 * 1024,
  };
}

export function effectiveLinuxLimits(rctl: string, hostMemoryBytes: number): Required<Limits> {
  return { ...linuxDefaultLimits(hostMemoryBytes), ...parseRctl(rctl) };
}

/** Human form: 536870912 → "512M". */
export function showLimit(resource: RctlResource, v: LimitValue): string {
  if (v === "unlimited" || !BYTES.has(resource)) return String(v);
  for (const [u, f] of [
    ["G", 1024 ** 3],
    ["M", 1024 ** 2],
    ["K", 1024],
  ] as const)
    if (v % f === 0) return `${v / f}${u}`;
  return String(v);
}

/** Where the host keeps cgroup controllers: one v2 hierarchy, or v1 per controller (hybrid hosts). */
export type CgroupLayout =
  | { kind: "v2"; root: string }
  | { kind: "v1"; memory?: string; pids?: string; cpu?: string }
  | { kind: "none" };

export interface CgroupPlan {
  /** Directories the jail's processes join (one per hierarchy). */
  dirs: string[];
  /** Limit files, written after the directories exist: [file, value]. */
  writes: [string, string][];
  /** v2: the parent's controllers to enable first. */
  parents: [string, string][];
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
  if (layout.kind === "v2") {
    const parent = `${layout.root}/qjail`;
    const dir = `${parent}/${id}`;
    return {
      dirs: [dir],
      parents: [
        [`${layout.root}/cgroup.subtree_control`, "+memory +pids +cpu"],
        [`${parent}/cgroup.subtree_control`, "+memory +pids +cpu"],
      ],
      writes: [
        [`${dir}/memory.max`, mem === "unlimited" ? "max" : String(mem)],
        [`${dir}/memory.swap.max`, mem === "unlimited" ? "max" : "0"],
        [`${dir}/pids.max`, pids === "unlimited" ? "max" : String(pids)],
        [
          `${dir}/cpu.max`,
          cpu === "unlimited" ? `max ${period}` : `${Math.round((cpu * period) / 100)} ${period}`,
        ],
      ],
    };
  }
  if (layout.kind === "v1") {
    const dirs: string[] = [];
    const writes: [string, string][] = [];
    if (layout.memory) {
      const d = `${layout.memory}/qjail/${id}`;
      dirs.push(d);
      writes.push([`${d}/memory.limit_in_bytes`, mem === "unlimited" ? "-1" : String(mem)]);
    }
    if (layout.pids) {
      const d = `${layout.pids}/qjail/${id}`;
      dirs.push(d);
      writes.push([`${d}/pids.max`, pids === "unlimited" ? "max" : String(pids)]);
    }
    if (layout.cpu) {
      const d = `${layout.cpu}/qjail/${id}`;
      dirs.push(d);
      writes.push([`${d}/cpu.cfs_period_us`, String(period)]);
      writes.push([
        `${d}/cpu.cfs_quota_us`,
        cpu === "unlimited" ? "-1" : String(Math.round((cpu * period) / 100)),
      ]);
    }
    return { dirs, writes, parents: [] };
  }
  return { dirs: [], writes: [], parents: [] };
}

/** FreeBSD: the rctl(8) rules for a jail's configured limits (rctl needs kern.racct.enable=1 at boot). */
export function rctlRules(jailName: string, rctl: string): string[] {
  const limits = parseRctl(rctl);
  return RCTL_RESOURCES.filter((r) => limits[r] !== undefined && limits[r] !== "unlimited").map(
    (r) => `jail:${jailName}:${r}:deny=${limits[r]}`,
  );
}
