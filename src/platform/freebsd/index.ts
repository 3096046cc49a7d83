import { promises as fsp, closeSync, fstatSync, openSync, readlinkSync } from "node:fs";
import { spawn } from "node:child_process";
import type { Writable } from "node:stream";
import type { Plan, Step } from "../../core/plan.js";
import { formatStep } from "../../core/plan.js";
import { physical } from "../../core/paths.js";
import { UsageError, shown } from "../../core/errors.js";
import { applyStep, crashPoint } from "../apply.js";
import { assertPlainPath } from "../safe-fs.js";
import { copyTreePreserving } from "./copy.js";
import { runProgram, type RunResult } from "../run.js";
import type { Platform } from "../types.js";
import type { ConsoleRequest, JailSpec, LiveJail } from "../../core/jail.js";
import { parseJlsJson } from "./jls.js";
import { parseRouteGetInterface } from "./route.js";
import { FREEBSD } from "./programs.js";
import {
  BUSY_RETRY_SECONDS,
  DYING_WAIT_SECONDS,
  JID,
  MD_UNIT,
  attachedImageUnit,
  imagePath,
  planRemoveJailTree,
  type StepHook,
  deviceLinkPath,
  imageReleaseSteps,
  isImageJail,
  planFreebsdConsole,
  planFreebsdStart,
  planFreebsdStop,
  stepHook,
} from "./plans.js";

export interface FreebsdPlatformOptions {
  /** Where run steps are echoed when they are not executed (under --root). */
  stderr?: Writable;
  /**
   * Recorded outputs used instead of asking the kernel: a file holding
   * `jls --libxo json -v` output (QJAIL_JLS_JSON) and one holding
   * `route -n get -inet default` output (QJAIL_ROUTE_DEFAULT). They let a
   * relocated --root tree be planned as the host it was recorded on.
   */
  env?: Readonly<Record<string, string | undefined>>;
  /** Program runner, replaced in tests. */
  run?: (argv: readonly string[]) => Promise<RunResult>;
  /**
   * Run commands even though root is not "/": for tests that pair a
   * temporary root with a fake runner to follow a whole start or stop.
   */
  live?: boolean;
  /** Milliseconds between polls of a dying jail or a busy unmount (1000; tests use less). */
  pollMs?: number;
}

/**
 * The FreeBSD backend: jail(8), jls(8), jexec(8), mdconfig(8).
 *
 * On a real host (root "/") every step runs. Under `--root DIR` there is no
 * kernel to talk to: file steps are applied inside DIR and `run` steps are
 * echoed to stderr instead of executed, and steps that need a value only a
 * run step would produce (a JID, an md unit) are skipped.
 */
export function createFreebsdPlatform(
  root: string,
  opts: FreebsdPlatformOptions = {},
): Platform & {
  removeJailTree(rootPath: string): Promise<void>;
  planRemoveJailTree(rootPath: string): Step[];
} {
  const live = opts.live ?? root === "/";
  const env = opts.env ?? {};
  const run = opts.run ?? ((argv: readonly string[]) => runProgram(argv));
  const echo = (step: Step): void => {
    if (opts.stderr && step.kind === "run") opts.stderr.write(`(not run under --root) ${formatStep(step)}\n`);
  };

  async function query(argv: string[], recorded: string | undefined): Promise<string> {
    if (recorded !== undefined) return fsp.readFile(recorded, "utf8");
    let r: RunResult;
    try {
      r = await run(argv);
    } catch (e) {
      throw new UsageError(
        "QJ1401",
        `cannot run ${shown(argv[0] as string)}: ${(e as Error).message}`,
        "Run qjail on a FreeBSD host, or pick the backend with --platform.",
      );
    }
    if (r.code !== 0)
      throw new UsageError(
        "QJ1402",
        `${argv.join(" ")} exited ${r.code}: ${shown(r.stderr.trim())}`,
        "Check the host with the same command by hand.",
      );
    return r.stdout;
  }

  async function applyFreebsdStep(step: Step, links: Map<string, string> = new Map()): Promise<void> {
    if (step.kind === "copyTree") {
      if (step.inJail) await assertPlainPath(physical(root, step.inJail), physical(root, step.to));
      await copyTreePreserving(
        physical(root, step.from),
        physical(root, step.to),
        step.overwrite ?? false,
        links,
      );
      return;
    }
    if (step.kind === "run") {
      if (!live) return;
      const r = await run(step.argv);
      if (r.code !== 0 && !step.mayFail)
        throw new Error(`${step.argv.join(" ")} exited ${r.code}: ${r.stderr.trim() || r.stdout.trim()}`);
      return;
    }
    await applyStep(step, { root, runCommands: false });
  }

  const pollMs = opts.pollMs ?? 1000;
  const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

  /** Run a hooked step: capture its value, refuse, wait or retry as its hook says. */
  async function runHooked(
    step: Step & { kind: "run" },
    hook: StepHook,
    values: Map<string, string>,
    jail: JailSpec | undefined,
    tree?: string,
  ): Promise<void> {
    const failed = (r: RunResult): Error =>
      new Error(`${step.argv.join(" ")} exited ${r.code}: ${r.stderr.trim() || r.stdout.trim()}`);
    if (hook === "wait-until-gone") {
      // jls -d -j NAME exits 0 while the jail exists, dying or not.
      for (let waited = 0; ; waited += pollMs) {
        const r = await run(step.argv);
        if (r.code !== 0) return;
        if (waited >= DYING_WAIT_SECONDS * 1000)
          throw new UsageError(
            "QJ1408",
            `jail ${shown(jail?.name ?? "")} is still dying after ${DYING_WAIT_SECONDS} s, so its image cannot be unmounted`,
            `Sockets in TIME_WAIT keep a removed jail; wait and run 'qjail stop ${jail?.name ?? ""}' again, or look at 'jls -d'.`,
          );
        await sleep(pollMs);
      }
    }
    if (hook === "retry-while-busy") {
      for (let waited = 0; ; waited += pollMs) {
        const r = await run(step.argv);
        if (r.code === 0) return;
        if (!/busy/i.test(r.stderr) || waited >= BUSY_RETRY_SECONDS * 1000) throw failed(r);
        await sleep(pollMs);
      }
    }
    const r = await run(step.argv);
    if (r.code !== 0) throw failed(r);
    const value = r.stdout.trim();
    if (hook === "refuse-if-mounted") {
      const inside = parseMountPoints(r.stdout).filter(
        (m) => tree !== undefined && (m === tree || m.startsWith(`${tree}/`)),
      );
      if (inside.length > 0)
        throw new UsageError(
          "QJ1405",
          `refusing to remove ${shown(tree ?? "")}: ${shown(inside[0] as string)} is still mounted`,
          "Stop the jail (qjail stop) or unmount it, then try again.",
        );
    } else if (hook === "refuse-if-attached") {
      const unit = jail ? attachedImageUnit(r.stdout, imagePath(jail)) : undefined;
      if (unit && jail)
        throw new UsageError(
          "QJ1406",
          `the image of jail ${shown(jail.name)} is attached already as ${unit}; mounting it again through a second md unit would corrupt it`,
          `Release it first (a stop that did not finish?): umount ${jail.rootPath}; mdconfig -d -u ${unit}; rm -f ${deviceLinkPath(jail)}`,
        );
    } else if (hook === "capture-md-unit") {
      if (!/^md\d+$/.test(value)) throw new Error(`mdconfig printed ${shown(value)}, not an md unit`);
      values.set(MD_UNIT, value);
    } else {
      if (!/^\d+$/.test(value)) throw new Error(`jls printed ${shown(value)}, not a JID`);
      values.set(JID, value);
    }
  }

  /**
   * Execute a plan from ./plans.ts, feeding captured values into later
   * steps. Returns the values captured (also on failure, in `captured`).
   */
  async function execute(
    plan: Plan,
    jail?: JailSpec,
    captured: Map<string, string> = new Map(),
    tree?: string,
  ): Promise<Map<string, string>> {
    const values = captured;
    const fill = (s: string): string => {
      let out = s;
      for (const [k, v] of values) out = out.split(k).join(v);
      return out;
    };
    const needsUnknown = (step: Step): boolean =>
      [MD_UNIT, JID].some((k) => !values.has(k) && JSON.stringify(step).includes(k));
    for (const step of plan.steps) {
      if (!live) {
        echo(step);
        if (step.kind !== "run" && !needsUnknown(step)) await applyFreebsdStep(step);
        continue;
      }
      const filled = JSON.parse(fill(JSON.stringify(step))) as Step;
      const hook = stepHook(step);
      if (filled.kind === "run" && hook) {
        await runHooked(filled, hook, values, jail, tree);
        continue;
      }
      await applyFreebsdStep(filled);
    }
    return values;
  }

  /** The md unit an image jail is attached as, from its `<root>.device` link. */
  function attachedUnit(jail: JailSpec): string | undefined {
    try {
      const target = readlinkSync(physical(root, deviceLinkPath(jail)));
      const m = /^\/dev\/(md\d+)$/.exec(target);
      return m?.[1];
    } catch {
      return undefined;
    }
  }

  const platform = {
    name: "freebsd" as const,
    root,
    /**
     * src/platform/apply.ts's order and crash points, with one FreeBSD
     * difference: trees are copied keeping owners and groups (./copy.ts).
     */
    async apply(plan: Plan): Promise<void> {
      const total = plan.steps.length;
      // Hard links between the trees one plan copies (update -b) are kept too.
      const links = new Map<string, string>();
      for (const [i, step] of plan.steps.entries()) {
        crashPoint(`step:${i}`);
        if (!live) echo(step);
        await applyFreebsdStep(step, links);
      }
      crashPoint(`step:${total}`);
    },
    async liveJails(): Promise<Map<string, LiveJail>> {
      const recorded = env.QJAIL_JLS_JSON;
      if (!live && recorded === undefined) return new Map();
      const text = await query([FREEBSD.jls, "--libxo", "json", "-v"], recorded);
      try {
        return parseJlsJson(text);
      } catch (e) {
        throw new UsageError(
          "QJ1403",
          `cannot read the running jails: ${(e as Error).message}`,
          "Run 'jls --libxo json -v' by hand to see what it prints.",
        );
      }
    },
    async defaultJailInterface(): Promise<string> {
      const recorded = env.QJAIL_ROUTE_DEFAULT;
      let text: string;
      if (!live && recorded === undefined) text = "";
      else {
        try {
          text = await query([FREEBSD.route, "-n", "get", "-inet", "default"], recorded);
        } catch (e) {
          if (e instanceof UsageError && e.code === "QJ1402") text = "";
          else throw e;
        }
      }
      const nic = parseRouteGetInterface(text);
      if (nic === undefined) {
        throw new UsageError(
          "QJ1404",
          "the host has no IPv4 default route, so there is no default interface for jail addresses",
          "Name one with -n nic (e.g. -n em0).",
        );
      }
      return nic;
    },
    planStart: (jail: JailSpec) => planFreebsdStart(jail),
    async start(jail: JailSpec): Promise<void> {
      if (live && isImageJail(jail)) {
        const unit = attachedUnit(jail);
        if (unit !== undefined)
          throw new UsageError(
            "QJ1407",
            `jail ${shown(jail.name)}'s image is still attached as ${unit} (${deviceLinkPath(jail)} exists): a stop did not finish`,
            `Stop it again to release the image: qjail stop ${jail.name}`,
          );
      }
      const captured = new Map<string, string>();
      try {
        await execute(planFreebsdStart(jail), jail, captured);
      } catch (e) {
        // Release the image this start attached (never one attached before it).
        const unit = captured.get(MD_UNIT);
        if (live && unit !== undefined)
          await execute({ title: "release image", steps: imageReleaseSteps(jail, unit) }, jail).catch(
            () => undefined,
          );
        throw e;
      }
    },
    planStop: (jail: JailSpec) => planFreebsdStop(jail, attachedUnit(jail)),
    async stop(jail: JailSpec): Promise<void> {
      await execute(planFreebsdStop(jail, attachedUnit(jail)), jail);
    },
    planConsole: (jail: JailSpec, req: ConsoleRequest) =>
      planFreebsdConsole(jail, req, process.stdin.isTTY === true),
    async console(jail: JailSpec, req: ConsoleRequest): Promise<number> {
      const terminal = process.stdin.isTTY === true;
      const step = planFreebsdConsole(jail, req, terminal).steps[0];
      if (step?.kind !== "run") throw new Error("internal: console plan has no command");
      if (!live) {
        echo(step);
        return 0;
      }
      return runConsole(step.argv, terminal);
    },
    planRemoveJailTree: (rootPath: string) => planRemoveJailTree(rootPath),
    /** Remove a jail's tree for delete: {@link planRemoveJailTree}'s steps. */
    async removeJailTree(rootPath: string): Promise<void> {
      await execute(
        { title: `remove ${rootPath}`, steps: planRemoveJailTree(rootPath) },
        undefined,
        new Map(),
        rootPath,
      );
    },
  };
  return platform;
}

/** Mount points (field 2) of `mount -p` output, with fstab's `\040` escapes decoded. */
export function parseMountPoints(text: string): string[] {
  return text
    .split("\n")
    .map((l) => l.trim().split(/\s+/)[1])
    .filter((p): p is string => p !== undefined && p !== "")
    .map((p) => p.replace(/\\(\d{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))));
}

/** The environment the console's programs start with: nothing of the admin's but TERM. */
export function consoleEnv(env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  return { PATH: "/sbin:/bin:/usr/sbin:/usr/bin", TERM: env.TERM ?? "dumb" };
}

/**
 * The stdio array entries 3.. for a console child: every descriptor open in
 * this process above 2 (found by probing with fstat up to `limit`) is
 * replaced by /dev/null in the child. Node marks its own descriptors
 * close-on-exec, but one that qjail's caller left open without it (an
 * admin's `exec 3< secret` in the shell that runs qjail) would otherwise
 * reach the jail; the jail gets no descriptor of the host's but 0, 1, 2.
 */
export function shadowInheritedFds(limit = 4096): { stdio: (number | "ignore")[]; close: () => void } {
  const open: number[] = [];
  for (let fd = 3; fd < limit; fd++) {
    try {
      fstatSync(fd);
      open.push(fd);
    } catch {
      // not open
    }
  }
  if (open.length === 0) return { stdio: [], close: () => undefined };
  const devNull = openSync("/dev/null", "r");
  const max = Math.max(devNull, ...open);
  const stdio: (number | "ignore")[] = [];
  for (let fd = 3; fd <= max; fd++) stdio.push(open.includes(fd) || fd === devNull ? devNull : "ignore");
  return { stdio, close: () => closeSync(devNull) };
}

/**
 * Run the console's argv (see planFreebsdConsole). With a terminal, script(1)
 * is the only program that gets it. Without one, the command runs in a new
 * session (detached: setsid) with pipes, and qjail copies stdin to it and
 * its output back, so the jail holds no descriptor of the caller's; SIGINT,
 * SIGTERM and SIGHUP sent to qjail are passed on to it. In both cases every
 * other descriptor is /dev/null in the child ({@link shadowInheritedFds})
 * and the environment is {@link consoleEnv}.
 */
export function runConsole(
  argv: readonly string[],
  terminal: boolean,
  io: {
    stdin: NodeJS.ReadableStream;
    stdout: NodeJS.WritableStream;
    stderr: NodeJS.WritableStream;
  } = process,
): Promise<number> {
  const [cmd, ...args] = argv as [string, ...string[]];
  const extra = shadowInheritedFds();
  return new Promise((resolve, reject) => {
    if (terminal) {
      const child = spawn(cmd, args, {
        stdio: ["inherit", "inherit", "inherit", ...extra.stdio],
        env: consoleEnv(),
      });
      extra.close();
      child.on("error", reject);
      child.on("close", (code, signal) => resolve(code ?? (signal ? 128 : 1)));
      return;
    }
    const child = spawn(cmd, args, {
      stdio: ["pipe", "pipe", "pipe", ...extra.stdio],
      detached: true,
      env: consoleEnv(),
    });
    extra.close();
    const forward = (sig: NodeJS.Signals): void => void child.kill(sig);
    const signals: NodeJS.Signals[] = ["SIGINT", "SIGTERM", "SIGHUP"];
    for (const sig of signals) process.on(sig, forward);
    child.stdin?.on("error", () => undefined);
    if (child.stdin) io.stdin.pipe(child.stdin);
    child.stdout?.pipe(io.stdout, { end: false });
    child.stderr?.pipe(io.stderr, { end: false });
    child.on("error", (e) => {
      for (const sig of signals) process.off(sig, forward);
      reject(e);
    });
    child.on("close", (code, signal) => {
      for (const sig of signals) process.off(sig, forward);
      if (child.stdin) io.stdin.unpipe(child.stdin);
      io.stdin.pause();
      resolve(code ?? (signal ? 128 : 1));
    });
  });
}
