import {
  mkdtempSync,
  readdirSync,
  rmSync,
  writeFileSync,
  mkdirSync,
  readFileSync,
  readlinkSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { randomBytes } from "node:crypto";
import { runProgram, type RunResult } from "../../../src/platform/run.js";
import { findCommand } from "../../../src/cli/index.js";
import { netnsName, parseRunState, type RunState } from "../../../src/core/linux/lifecycle.js";
import { detectCgroups, linuxHelperDir } from "../../../src/platform/linux/index.js";
import { qjailArgv } from "../../helpers/cli.js";

/**
 * A throwaway jail host for the Linux backend's tests: a network namespace
 * playing the host (with a public-side veth to a second namespace playing an
 * outside client), a temporary --root, and qjail run inside the host
 * namespace (entered with nsenter --net). Nothing is configured in the root network
 * namespace and no packet leaves the test's own namespaces.
 */
export interface TestHost {
  hostNs: string;
  clientNs: string;
  root: string;
  /** The host's public-side address (client side is PUBLIC_CLIENT). */
  publicAddress: string;
  /** Run qjail in the host namespace: the real CLI when the command is registered, else the API driver. */
  qjail(args: readonly string[], timeoutMs?: number, env?: Record<string, string>): Promise<RunResult>;
  /** Run a program in the host namespace. */
  inHost(argv: readonly string[], timeoutMs?: number): Promise<RunResult>;
  inClient(argv: readonly string[], timeoutMs?: number): Promise<RunResult>;
  /** The state file of a jail, if any. */
  runState(name: string): RunState | undefined;
  /** Physical path of a logical one under this host's root. */
  path(logical: string): string;
  cleanup(): Promise<void>;
}

export const PUBLIC_HOST = "192.0.2.1";
export const PUBLIC_CLIENT = "192.0.2.2";

const compiled = fileURLToPath(import.meta.url).includes("/dist/");

function driverArgv(): string[] {
  const here = dirname(fileURLToPath(import.meta.url));
  return compiled
    ? [process.execPath, join(here, "driver.js")]
    : [process.execPath, "--import", "tsx", join(here, "driver.ts")];
}

/** Whether src/cli/index.ts lists this command yet. */
export function cliHas(words: readonly string[]): boolean {
  const found = findCommand(words);
  return found !== undefined && found.def.path.length > 0 && found.def.path.every((w, i) => words[i] === w);
}

async function checked(argv: readonly string[]): Promise<void> {
  const r = await runProgram(argv, { timeoutMs: 20_000 });
  if (r.code !== 0) throw new Error(`${argv.join(" ")} exited ${r.code}: ${r.stderr}`);
}

export async function makeTestHost(label: string): Promise<TestHost> {
  const tag = `${process.pid.toString(36)}${randomBytes(2).toString("hex")}`;
  const hostNs = `qjt-${label}-${tag}-host`;
  const clientNs = `qjt-${label}-${tag}-client`;
  const root = mkdtempSync(join(tmpdir(), `qjail-linux-${label}-`));
  // nsenter --net, not `ip netns exec`: the latter also gives each command a
  // private slave mount namespace, so the /run/netns names one qjail creates
  // would be invisible to the next — unlike on a real host.
  const inNs =
    (ns: string) =>
    (argv: readonly string[], timeoutMs = 60_000, env?: Record<string, string>) =>
      runProgram(["nsenter", `--net=/run/netns/${ns}`, "--", ...argv], {
        timeoutMs,
        env: { ...process.env, ...env },
      });
  const inHost = inNs(hostNs);
  const inClient = inNs(clientNs);

  const host: TestHost = {
    hostNs,
    clientNs,
    root,
    publicAddress: PUBLIC_HOST,
    inHost,
    inClient,
    qjail(args, timeoutMs = 120_000, env) {
      if (cliHas(args)) {
        const found = findCommand(args);
        const n = found?.def.path.length ?? 0;
        return inHost(
          [...qjailArgv(), ...args.slice(0, n), "--root", root, "--platform", "linux", ...args.slice(n)],
          timeoutMs,
          env,
        );
      }
      return inHost([...driverArgv(), root, ...args], timeoutMs, env);
    },
    runState(name) {
      try {
        return parseRunState(readFileSync(join(root, "var/db/qjail/run", name), "utf8"));
      } catch {
        return undefined;
      }
    },
    path: (logical) => join(root, logical),
    async cleanup() {
      // every jail namespace of this root: end its processes, then remove it
      const prefix = netnsName(root, "");
      let names: string[] = [];
      try {
        names = readdirSync("/run/netns").filter((n) => n.startsWith(prefix));
      } catch {
        names = [];
      }
      for (const ns of names) {
        await runProgram(["/bin/sh", join(linuxHelperDir(), "jail-reap.sh"), ns], { timeoutMs: 20_000 });
        await runProgram(["ip", "netns", "delete", ns]);
      }
      // and their control groups (stop removes them; a failed test may not have stopped)
      const cg = detectCgroups();
      const hierarchies =
        cg.kind === "v2" ? [cg.root] : cg.kind === "v1" ? [cg.memory, cg.pids, cg.cpu].filter((d) => d) : [];
      for (const h of hierarchies) {
        let groups: string[] = [];
        try {
          groups = readdirSync(`${h}/qjail`).filter((n) => n.startsWith(prefix));
        } catch {
          groups = [];
        }
        for (const g of groups) await runProgram(["rmdir", `${h}/qjail/${g}`]);
      }
      await runProgram(["ip", "netns", "delete", hostNs]);
      await runProgram(["ip", "netns", "delete", clientNs]);
      rmSync(root, { recursive: true, force: true });
    },
  };

  try {
    await checked(["ip", "netns", "add", hostNs]);
    await checked(["ip", "netns", "add", clientNs]);
    await checked([
      "ip",
      "link",
      "add",
      "name",
      "pub0",
      "netns",
      hostNs,
      "type",
      "veth",
      "peer",
      "name",
      "pub0",
      "netns",
      clientNs,
    ]);
    await checked(["ip", "-n", hostNs, "link", "set", "lo", "up"]);
    await checked(["ip", "-n", clientNs, "link", "set", "lo", "up"]);
    await checked(["ip", "-n", hostNs, "addr", "add", `${PUBLIC_HOST}/24`, "dev", "pub0"]);
    await checked(["ip", "-n", clientNs, "addr", "add", `${PUBLIC_CLIENT}/24`, "dev", "pub0"]);
    await checked(["ip", "-n", hostNs, "link", "set", "pub0", "up"]);
    await checked(["ip", "-n", clientNs, "link", "set", "pub0", "up"]);
    await checked(["ip", "-n", clientNs, "route", "add", "default", "via", PUBLIC_HOST]);
    // the host config: public interface and jail network, as `fw setup` would write it
    mkdirSync(join(root, "usr/local/etc"), { recursive: true });
    writeFileSync(
      join(root, "usr/local/etc/qjail.host"),
      'ext_if="pub0"\njail_if="qjail0"\njail_subnet="10.0.0.0/24"\n',
    );
  } catch (e) {
    await host.cleanup();
    throw e;
  }
  return host;
}

/** Every process whose namespace of `kind` is `nsLink` (a readlink of /proc/PID/ns/KIND, e.g. "pid:[4026532]"). */
export function processesInNamespace(kind: "pid" | "net" | "mnt", nsLink: string): number[] {
  const out: number[] = [];
  for (const p of readdirSync("/proc")) {
    if (!/^\d+$/.test(p)) continue;
    try {
      if (readlinkSync(`/proc/${p}/ns/${kind}`) === nsLink) out.push(Number(p));
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

/** Host-side mount points at or below dir (the test process's own mount namespace). */
export function hostMountsUnder(dir: string): string[] {
  return readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .map((l) => l.split(" ")[4] ?? "")
    .filter((m) => m === dir || m.startsWith(`${dir}/`));
}

/**
 * /proc/PID/stat start time, undefined when the process is gone. A zombie
 * counts as gone: it has already exited and holds nothing of the jail; it
 * only waits for the machine's init (slow to reap in some containers).
 */
export function startTimeOf(pid: number): string | undefined {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ");
    if (fields === undefined || fields[0] === "Z" || fields[0] === "X") return undefined;
    return fields[19];
  } catch {
    return undefined;
  }
}

/**
 * Every process in the PID namespace of `pid`, by PID and start time: a
 * namespace's inode number is reused once it is freed, a (PID, start time)
 * pair never is.
 */
export function jailProcesses(pid: number): { pid: number; start: string | undefined }[] {
  return processesInNamespace("pid", readlinkSync(`/proc/${pid}/ns/pid`)).map((p) => ({
    pid: p,
    start: startTimeOf(p),
  }));
}

/** Those of `procs` that still run. */
export function survivors(procs: readonly { pid: number; start: string | undefined }[]): number[] {
  return procs.filter((p) => p.start !== undefined && startTimeOf(p.pid) === p.start).map((p) => p.pid);
}
