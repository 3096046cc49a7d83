import { promises as fsp, readlinkSync } from "node:fs";
import { spawn } from "node:child_process";
import type { Writable } from "node:stream";
import type { Plan, Step } from "../../core/plan.js";
import { formatStep } from "../../core/plan.js";
import { physical } from "../../core/paths.js";
import { UsageError, shown } from "../../core/errors.js";
import { applyPlan, applyStep } from "../apply.js";
import { assertPlainPath } from "../safe-fs.js";
import { copyTreePreserving } from "./copy.js";
import { runProgram, type RunResult } from "../run.js";
import { fetchChecked } from "../download.js";
import type { Platform } from "../types.js";
import { isImageJail, type ConsoleRequest, type JailSpec, type LiveJail } from "../../core/jail.js";
import { parseJlsJson } from "./jls.js";
import { parseRouteGetInterface } from "./route.js";
import { FREEBSD } from "../../core/freebsd/programs.js";
import {
  deviceLinkPath,
  imageReleaseSteps,
  planFreebsdConsole,
  planFreebsdStart,
  planFreebsdStop,
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

  /** FreeBSD's own file step: trees are copied keeping owners and groups (./copy.ts). */
  async function freebsdStep(step: Step): Promise<boolean> {
    if (step.kind !== "copyTree") return false;
    if (step.inJail) await assertPlainPath(physical(root, step.inJail), physical(root, step.to));
    await copyTreePreserving(physical(root, step.from), physical(root, step.to), step.overwrite ?? false);
    return true;
  }

  /**
   * Every plan goes through the one applier (src/platform/apply.ts): its
   * crash points, captured values (md unit, JID) and undo; `run` steps are
   * echoed instead of executed under --root.
   */
  function execute(plan: Plan): Promise<void> {
    return applyPlan(plan, {
      root,
      runCommands: live,
      echo,
      runner: (argv, o) => (o?.input === undefined ? run(argv) : runProgram(argv, o)),
      platformStep: freebsdStep,
      // the long steps say what they do as they start
      onStep: (step) => {
        if ((step.kind === "extract" || step.kind === "download") && step.why)
          opts.stderr?.write(`${step.why}\n`);
      },
      download: (url, target, verify) =>
        fetchChecked({ url, target, verify, stderr: opts.stderr ?? process.stderr }),
    });
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
    apply: execute,
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
      try {
        await execute(planFreebsdStart(jail));
      } catch (e) {
        // Leave no image attached behind a jail that did not start (qjail does the same clean-up).
        if (live && isImageJail(jail.record)) {
          const unit = attachedUnit(jail);
          if (unit)
            await execute({ title: "release image", steps: imageReleaseSteps(jail, unit) }).catch(
              () => undefined,
            );
        }
        throw e;
      }
    },
    planStop: (jail: JailSpec) => planFreebsdStop(jail, attachedUnit(jail)),
    async stop(jail: JailSpec): Promise<void> {
      await execute(planFreebsdStop(jail, attachedUnit(jail)));
    },
    planConsole: (jail: JailSpec, req: ConsoleRequest) => planFreebsdConsole(jail, req),
    async console(jail: JailSpec, req: ConsoleRequest): Promise<number> {
      const step = planFreebsdConsole(jail, req).steps[0];
      if (step?.kind !== "run") throw new Error("internal: console plan has no command");
      if (!live) {
        echo(step);
        return 0;
      }
      const [cmd, ...args] = step.argv as [string, ...string[]];
      return new Promise((resolve, reject) => {
        const child = spawn(cmd, args, { stdio: "inherit" });
        child.on("error", reject);
        child.on("close", (code, signal) => resolve(code ?? (signal ? 128 : 1)));
      });
    },
    /**
     * Remove a jail's tree (delete): refuse while anything is mounted under
     * it (`mount -p`), because rm through an rw nullfs mount destroys the
     * source; then clear file flags (base.txz ships schg files) and remove.
     */
    async removeJailTree(rootPath: string): Promise<void> {
      if (live) {
        const mounts = parseMountPoints(await query([FREEBSD.mount, "-p"], undefined));
        const inside = mounts.filter((m) => m === rootPath || m.startsWith(`${rootPath}/`));
        if (inside.length > 0) {
          throw new UsageError(
            "QJ1405",
            `refusing to remove ${shown(rootPath)}: ${shown(inside[0] as string)} is still mounted`,
            "Stop the jail (qjail stop) or unmount it, then try again.",
          );
        }
        await query([FREEBSD.chflags, "-R", "0", rootPath], undefined);
      }
      await applyStep({ kind: "remove", path: rootPath, recursive: true }, { root, runCommands: false });
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
