import { readFileSync } from "node:fs";
import type { CgroupLayout } from "../../core/limits.js";

/**
 * The host's control groups as qjail uses them: where each controller lives
 * (detectCgroups) and what a jail's group uses now (cgroupUsage, for status).
 */

let cachedCgroups: CgroupLayout | undefined;

/**
 * Where this host keeps the memory, pids and cpu controllers: the unified
 * (v2) hierarchy when it has them, else the v1 hierarchy of each (a hybrid
 * host), from /proc/self/mountinfo.
 */
export function detectCgroups(mountinfo?: string): CgroupLayout {
  if (mountinfo === undefined && cachedCgroups) return cachedCgroups;
  let text = mountinfo;
  if (text === undefined) {
    try {
      text = readFileSync("/proc/self/mountinfo", "utf8");
    } catch {
      return { kind: "none" };
    }
  }
  const v1: { memory?: string; pids?: string; cpu?: string; cpuacct?: string; blkio?: string } = {};
  let v2: string | undefined;
  for (const line of text.split("\n")) {
    const [left, right] = line.split(" - ");
    if (!left || !right) continue;
    const mountPoint = left.split(" ")[4] ?? "";
    const [fstype, , superOpts = ""] = right.split(" ");
    if (fstype === "cgroup2" && (v2 === undefined || mountPoint === "/sys/fs/cgroup")) v2 = mountPoint;
    if (fstype === "cgroup") {
      const opts = superOpts.split(",");
      for (const c of ["memory", "pids", "cpu", "cpuacct", "blkio"] as const)
        if (opts.includes(c) && !v1[c]) v1[c] = mountPoint;
    }
  }
  let layout: CgroupLayout = { kind: "none" };
  if (v2 !== undefined) {
    let controllers: string[] = [];
    try {
      controllers = readFileSync(`${v2}/cgroup.controllers`, "utf8").trim().split(/\s+/);
    } catch {
      controllers = [];
    }
    if (["memory", "pids", "cpu"].every((c) => controllers.includes(c)))
      layout = { kind: "v2", root: v2, io: controllers.includes("io") };
  }
  if (layout.kind === "none" && (v1.memory || v1.pids || v1.cpu)) layout = { kind: "v1", ...v1 };
  if (mountinfo === undefined) cachedCgroups = layout;
  return layout;
}

/** What a jail's processes use now, in rctl -u's terms; a value is absent when its controller is not there. */
export interface CgroupUsage {
  /** Bytes of memory charged to the jail (page cache and tmpfs included). */
  memoryuse?: number;
  /** Processes and threads. */
  maxproc?: number;
  /** CPU time of all its processes, in seconds. */
  cputime?: number;
}

function readNumber(file: string): number | undefined {
  try {
    const n = Number(readFileSync(file, "utf8").trim());
    return Number.isFinite(n) ? n : undefined;
  } catch {
    return undefined;
  }
}

/** The usage of the jail group `id` (qjail/ID under each hierarchy); undefined when it has no group. */
export function cgroupUsage(layout: CgroupLayout, id: string): CgroupUsage | undefined {
  const out: CgroupUsage = {};
  if (layout.kind === "v2") {
    const dir = `${layout.root}/qjail/${id}`;
    const mem = readNumber(`${dir}/memory.current`);
    if (mem === undefined) return undefined;
    out.memoryuse = mem;
    const pids = readNumber(`${dir}/pids.current`);
    if (pids !== undefined) out.maxproc = pids;
    try {
      const usec = /^usage_usec (\d+)$/m.exec(readFileSync(`${dir}/cpu.stat`, "utf8"))?.[1];
      if (usec !== undefined) out.cputime = Number(usec) / 1e6;
    } catch {
      // no cpu statistics
    }
    return out;
  }
  if (layout.kind === "v1") {
    const at = (mount: string | undefined, file: string): number | undefined =>
      mount ? readNumber(`${mount}/qjail/${id}/${file}`) : undefined;
    const mem = at(layout.memory, "memory.usage_in_bytes");
    const pids = at(layout.pids, "pids.current");
    const ns = at(layout.cpuacct, "cpuacct.usage");
    if (mem !== undefined) out.memoryuse = mem;
    if (pids !== undefined) out.maxproc = pids;
    if (ns !== undefined) out.cputime = ns / 1e9;
    return Object.keys(out).length > 0 ? out : undefined;
  }
  return undefined;
}
