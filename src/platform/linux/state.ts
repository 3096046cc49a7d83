import {
  readFileSync,
  readdirSync,
  existsSync,
  lstatSync,
  openSync,
  readSync,
  closeSync,
  constants,
} from "node:fs";
import { posix } from "node:path";
import { hostLayout, physical, type HostLayout } from "../../core/paths.js";
import type { LiveJail } from "../../core/jail.js";
import { parseRunState, runStatePath, type RunState } from "../../core/linux/lifecycle.js";
import { UsageError } from "../../core/errors.js";

/**
 * What the Linux backend knows about running jails, read from the state files
 * jail-init.sh writes (/var/db/qjail/run/<name>). A state file alone proves
 * nothing after a crash: a jail counts as running only while the recorded PID
 * still has the recorded start time.
 */

/** /proc/<pid>/stat field 22 (start time in clock ticks since boot), or undefined when the PID is gone. */
export function processStartTime(pid: number): string | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return undefined;
  }
  const rest = text.slice(text.lastIndexOf(")") + 2).split(" ");
  if (rest[0] === "Z" || rest[0] === "X") return undefined;
  return rest[19];
}

export function isAlive(state: Pick<RunState, "pid" | "starttime">): boolean {
  return processStartTime(state.pid) === state.starttime;
}

export function readRunState(root: string, layout: HostLayout, name: string): RunState | undefined {
  try {
    return parseRunState(readFileSync(physical(root, runStatePath(layout, name)), "utf8"));
  } catch {
    return undefined;
  }
}

/** The running jails: those whose state file's process is still the one that started them. */
export function linuxLiveJails(root: string): Map<string, LiveJail> {
  const out = new Map<string, LiveJail>();
  for (const [name, s] of readAllRunStates(root, hostLayout())) {
    if (isAlive(s)) out.set(name, { name, jid: s.jid, path: s.path, ip4: s.ip4, ip6: s.ip6 });
  }
  return out;
}

/** Every state file under the root's state directory: name → state (damaged files are skipped). */
export function readAllRunStates(root: string, layout: Pick<HostLayout, "stateDir">): Map<string, RunState> {
  const dir = physical(root, `${layout.stateDir}/run`);
  const out = new Map<string, RunState>();
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return out;
  }
  for (const n of names) {
    if (n.startsWith(".") || n.endsWith(".tmp") || n.endsWith(".fstab")) continue;
    try {
      const s = parseRunState(readFileSync(posix.join(dir, n), "utf8"));
      if (s) out.set(n, s);
    } catch {
      // vanished between readdir and read: a concurrent stop
    }
  }
  return out;
}

/**
 * Interfaces of the network namespace qjail runs in. /proc/net follows the
 * reading process's namespace; /sys/class/net shows whichever namespace sysfs
 * was mounted from, which is not ours under `nsenter --net`.
 */
export function hostInterfaces(): Set<string> {
  try {
    const lines = readFileSync("/proc/self/net/dev", "utf8").split("\n").slice(2);
    return new Set(lines.map((l) => l.split(":")[0]?.trim() ?? "").filter((n) => n !== ""));
  } catch {
    return new Set();
  }
}

export function netnsExists(name: string): boolean {
  return existsSync(`/run/netns/${name}`);
}

/**
 * Read a small file inside a jail tree without following a link anywhere
 * below the jail root (the jail's root may have planted one) — synchronous,
 * because planners are.
 */
export function readJailFileSync(jailRoot: string, rel: string): string | undefined {
  let cur = jailRoot;
  const parts = rel.split("/");
  for (const part of parts.slice(0, -1)) {
    cur = posix.join(cur, part);
    const st = lstatSync(cur, { throwIfNoEntry: false });
    if (st === undefined) return undefined;
    if (!st.isDirectory()) {
      throw new UsageError(
        "QJ2030",
        `refusing to read ${JSON.stringify(cur)}: it is not a plain directory inside the jail`,
        "Something inside the jail replaced part of its tree with a link. Inspect it before retrying.",
      );
    }
  }
  let fd: number;
  try {
    fd = openSync(posix.join(jailRoot, rel), constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return undefined;
    if (code === "ELOOP") {
      throw new UsageError(
        "QJ2030",
        `refusing to read ${JSON.stringify(posix.join(jailRoot, rel))}: it is a symbolic link inside the jail`,
        "Something inside the jail replaced one of its files with a link. Inspect it before retrying.",
      );
    }
    throw e;
  }
  try {
    const chunks: Buffer[] = [];
    const buf = Buffer.alloc(65536);
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n <= 0) break;
      chunks.push(Buffer.from(buf.subarray(0, n)));
      if (chunks.length > 64) break; // account files are small; never read a huge planted file whole
    }
    return Buffer.concat(chunks).toString("utf8");
  } finally {
    closeSync(fd);
  }
}

/**
 * Mount points at or below `dir` in this process's mount namespace
 * (/proc/self/mountinfo). A bind mount of the same filesystem keeps st_dev, so
 * safe-fs's device check alone would walk into it and delete its source.
 */
export function mountsUnder(dir: string): string[] {
  let text: string;
  try {
    text = readFileSync("/proc/self/mountinfo", "utf8");
  } catch {
    return [];
  }
  const prefix = dir.endsWith("/") ? dir : `${dir}/`;
  const out: string[] = [];
  for (const line of text.split("\n")) {
    const field = line.split(" ")[4];
    if (field === undefined) continue;
    // mountinfo escapes space, tab, newline and backslash as octal
    const mountPoint = field.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));
    if (mountPoint === dir || mountPoint.startsWith(prefix)) out.push(mountPoint);
  }
  return out;
}
