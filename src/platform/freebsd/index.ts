import { closeSync, fstatSync, openSync, readlinkSync } from "node:fs";
import { spawn } from "node:child_process";
import type { Writable } from "node:stream";
import type { Plan, Step } from "../../core/plan.js";
import { formatStep } from "../../core/plan.js";
import { physical } from "../../core/paths.js";
import { UsageError, shown } from "../../core/errors.js";
import { applyPlan, StepFailedError } from "../apply.js";
import { assertPlainPath } from "../safe-fs.js";
import { copyTreePreserving } from "./copy.js";
import { runProgram, type RunResult } from "../run.js";
import { fetchChecked } from "../download.js";
import type { Platform } from "../types.js";
import { isImageJail, type ConsoleRequest, type JailSpec } from "../../core/jail.js";
import { freebsdLiveJails, hostQuery, runHostProgram } from "./query.js";
import { parseRouteGetInterface } from "./route.js";
import { FREEBSD } from "../../core/freebsd/programs.js";
import {
  CHECK_IMAGE_FREE,
  CHECK_NOTHING_MOUNTED,
  attachedImageUnit,
  deviceLinkPath,
  imagePath,
  parseMountPoints,
  planFreebsdConsole,
  planFreebsdStart,
  planFreebsdStop,
  planRemoveJailTree,
} from "../../core/freebsd/lifecycle.js";

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
  /** Milliseconds between the tries of a waiting or retried step (1000; tests use less). */
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
  const run = opts.run ?? runHostProgram;
  const echo = (step: Step): void => {
    if (opts.stderr && step.kind === "run") opts.stderr.write(`(not run under --root) ${formatStep(step)}\n`);
  };

  const query = hostQuery(run);

  /** FreeBSD's own file step: trees are copied keeping owners, groups and hard links (./copy.ts). */
  function freebsdStep(links: Map<string, string>) {
    return async (step: Step): Promise<boolean> => {
      if (step.kind !== "copyTree") return false;
      if (step.inJail) await assertPlainPath(physical(root, step.inJail), physical(root, step.to));
      await copyTreePreserving(
        physical(root, step.from),
        physical(root, step.to),
        step.overwrite ?? false,
        links,
      );
      return true;
    };
  }

  /**
   * The checks the FreeBSD plans name (src/core/freebsd/lifecycle.ts): the
   * image of `jail` is not attached already; nothing is mounted at or below
   * `tree`. A failed one is a refusal that says what to do.
   */
  function checks(jail?: JailSpec, tree?: string): Record<string, (stdout: string) => string | undefined> {
    return {
      [CHECK_IMAGE_FREE]: (out) => {
        const unit = jail ? attachedImageUnit(out, imagePath(jail)) : undefined;
        return unit ? `attached already as ${unit}` : undefined;
      },
      [CHECK_NOTHING_MOUNTED]: (out) =>
        parseMountPoints(out).find((m) => tree !== undefined && (m === tree || m.startsWith(`${tree}/`))),
    };
  }

  /** A failed check becomes the refusal the admin reads (the applier's message is for a bug). */
  function refusal(e: unknown, jail?: JailSpec, tree?: string): unknown {
    if (!(e instanceof StepFailedError) || e.step.kind !== "run") return e;
    if (e.step.check === CHECK_IMAGE_FREE && jail) {
      const unit = attachedImageUnit(e.result?.stdout ?? "", imagePath(jail)) ?? "?";
      return new UsageError(
        "QJ1406",
        `the image of jail ${shown(jail.name)} is attached already as ${unit}; mounting it again through a second md unit would corrupt it`,
        `Release it first (a stop that did not finish?): umount ${jail.rootPath}; mdconfig -d -u ${unit}; rm -f ${deviceLinkPath(jail)}`,
      );
    }
    if (e.step.check === CHECK_NOTHING_MOUNTED && tree)
      return new UsageError(
        "QJ1405",
        `refusing to remove ${shown(tree)}: ${shown(e.message)} is still mounted`,
        "Stop the jail (qjail stop) or unmount it, then try again.",
      );
    if (e.step.retry?.until === "fails" && jail)
      return new UsageError(
        "QJ1408",
        `jail ${shown(jail.name)} is still dying after ${e.step.retry.seconds} s, so its image cannot be unmounted`,
        `Sockets in TIME_WAIT keep a removed jail; wait and run 'qjail stop ${jail.name}' again, or look at 'jls -d'.`,
      );
    return e;
  }

  /**
   * Every plan goes through the one applier (src/platform/apply.ts): its
   * crash points, captured values (md unit, JID), checks, retries and undo;
   * `run` steps are echoed instead of executed under --root.
   */
  async function execute(plan: Plan, jail?: JailSpec, tree?: string): Promise<void> {
    try {
      await applyPlan(plan, {
        root,
        runCommands: live,
        echo,
        runner: (argv, o) => (o?.input === undefined ? run(argv) : runProgram(argv, o)),
        // Hard links between the trees one plan copies (update -b) are kept too.
        platformStep: freebsdStep(new Map()),
        checks: checks(jail, tree),
        ...(opts.pollMs !== undefined ? { pollMs: opts.pollMs } : {}),
        // the long steps say what they do as they start
        onStep: (step) => {
          if ((step.kind === "extract" || step.kind === "download") && step.why)
            opts.stderr?.write(`${step.why}\n`);
        },
        download: (url, target, verify) =>
          fetchChecked({ url, target, verify, stderr: opts.stderr ?? process.stderr }),
      });
    } catch (e) {
      throw refusal(e, jail, tree);
    }
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
    simulated: !live,
    apply: (plan: Plan) => execute(plan),
    liveJails: () => freebsdLiveJails(query, live, env.QJAIL_JLS_JSON),
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
        // Under --root there is no route(8) to ask: say so, rather than that the host has no route (C4).
        throw new UsageError(
          "QJ1404",
          !live && recorded === undefined
            ? "under --root qjail cannot ask route(8) for the default route, so there is no default interface for jail addresses"
            : "the host has no IPv4 default route, so there is no default interface for jail addresses",
          "Name one with -n nic (e.g. -n em0), set jail_if in /usr/local/etc/qjail.host, or point QJAIL_ROUTE_DEFAULT at a recorded 'route -n get -inet default'.",
        );
      }
      return nic;
    },
    planStart: (jail: JailSpec) => planFreebsdStart(jail),
    async start(jail: JailSpec): Promise<void> {
      if (live && isImageJail(jail.record)) {
        const unit = attachedUnit(jail);
        if (unit !== undefined)
          throw new UsageError(
            "QJ1407",
            `jail ${shown(jail.name)}'s image is still attached as ${unit} (${deviceLinkPath(jail)} exists): a stop did not finish`,
            `Stop it again to release the image: qjail stop ${jail.name}`,
          );
      }
      // A start that fails after attaching the image releases it (the attach steps' undo).
      await execute(planFreebsdStart(jail), jail);
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
        rootPath,
      );
    },
  };
  return platform;
}

export { parseMountPoints } from "../../core/freebsd/lifecycle.js";

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
