import { promises as fsp } from "node:fs";
import { posix } from "node:path";
import { formatStep, type Plan, type Step } from "../core/plan.js";
import { UsageError, shown } from "../core/errors.js";
import { physical } from "../core/paths.js";
import { writeFileAtomic } from "../store/atomic.js";
import {
  safeAppendFile,
  safeCopyTree,
  safeMkdirp,
  safeRemoveTree,
  safeWriteFile,
  assertPlainPath,
} from "./safe-fs.js";
import { runChecked, runProgram } from "./run.js";

export interface ApplyOptions {
  /** Physical root ("/" on a real host, a temp dir under --root). */
  root: string;
  /** Execute `run` steps? false under --root on a machine that is not the target (file-level work only). */
  runCommands: boolean;
  /** Called before each step, for progress output. */
  onStep?: (step: Step, index: number, total: number) => void;
}

/**
 * Apply a plan's steps in order. File steps inside a jail tree (`inJail`) go
 * through safe-fs (no link following); host-side files are written atomically.
 * A failing step stops the plan and the error propagates; planners order steps
 * so that the records that make a jail visible are written last.
 */
export async function applyPlan(plan: Plan, opts: ApplyOptions): Promise<void> {
  const total = plan.steps.length;
  for (const [i, step] of plan.steps.entries()) {
    stepBoundary();
    opts.onStep?.(step, i, total);
    await applyStep(step, opts);
  }
  stepBoundary();
}

/**
 * Step boundaries passed so far in this process, over every plan applied.
 * Counting across plans (rather than restarting at 0 for each) lets one
 * `QJAIL_CRASH_AT=step:K` reach every boundary of a command that applies more
 * than one plan (a firewall load, then the saved exposure records).
 */
let boundariesPassed = 0;

function stepBoundary(): void {
  const index = boundariesPassed++;
  crashPoint(`step:${index}`);
}

/**
 * Fault injection for the reliability suite (test/reliability/faults.test.ts).
 *
 * `QJAIL_CRASH_AT` holds one or more comma-separated point names; the process
 * kills itself with SIGKILL when it reaches one, so nothing after that point
 * runs: no `finally`, no lock release, no exit handler, just as after a power
 * cut or the OOM killer.
 *
 * - `step:K`: the K-th step boundary of this process (0-based). Each applied
 *   plan of N steps has N+1 boundaries, one before each step and one after
 *   the last; plans applied one after the other continue the count. A harness
 *   raises K until the command finishes without being killed, and so covers
 *   every boundary without knowing the plan.
 * - any other name: a point a command marks itself with `crashPoint("name")`
 *   where it does work outside a plan (`crashPoint("records-written")`).
 *
 * Unset (the normal case), this costs one environment lookup per point.
 */
export function crashPoint(name: string): void {
  const at = process.env.QJAIL_CRASH_AT;
  if (at === undefined || at === "") return;
  if (at.split(",").some((point) => point.trim() === name)) process.kill(process.pid, "SIGKILL");
}

/** How many step boundaries this process has passed (for tests of the crash-point mechanism). */
export function stepBoundariesPassed(): number {
  return boundariesPassed;
}

/** What the host's filesystem can refuse a write with; none of them is a bug in qjail. */
const HOST_WRITE_ERRORS: Readonly<Record<string, string>> = {
  ENOSPC: "no space left on device",
  EDQUOT: "disk quota exceeded",
  EROFS: "read-only file system",
  EACCES: "permission denied",
};

/**
 * A full disk, quota, read-only filesystem or denied access is the host's
 * state, not a bug: turn such an error into a UsageError (QJ6001) that says
 * what failed, on which path, and that the failed write itself changed
 * nothing (files are written to a temporary name and renamed). Anything else
 * is returned as it is. Every command's writes pass through here: plan steps
 * in {@link applyStep}, and the commands that write outside plans call
 * {@link explainHostWriteErrors}.
 */
export function hostWriteError(e: unknown, what: string): unknown {
  if (e instanceof UsageError) return e;
  const err = e as NodeJS.ErrnoException;
  const why = HOST_WRITE_ERRORS[err?.code ?? ""];
  if (why === undefined) return e;
  const path = typeof err.path === "string" ? ` (${shown(err.path)})` : "";
  return new UsageError(
    "QJ6001",
    `${what} failed: ${why}${path}; the file being written was left as it was`,
    err.code === "EROFS" || err.code === "EACCES"
      ? "Make that filesystem writable for root, then run the command again."
      : "Free space on that filesystem, then run the command again.",
  );
}

/** Run `fn`, reporting a refused write as {@link hostWriteError} does. */
export async function explainHostWriteErrors<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    throw hostWriteError(e, what);
  }
}

export async function applyStep(step: Step, opts: ApplyOptions): Promise<void> {
  try {
    await applyStepUnexplained(step, opts);
  } catch (e) {
    throw hostWriteError(e, formatStep(step).split("\n")[0] as string);
  }
}

async function applyStepUnexplained(step: Step, opts: ApplyOptions): Promise<void> {
  const P = (p: string): string => physical(opts.root, p);
  const jail = "inJail" in step && step.inJail ? P(step.inJail) : undefined;
  switch (step.kind) {
    case "mkdir":
      if (jail) await safeMkdirp(jail, P(step.path), step.mode);
      else await fsp.mkdir(P(step.path), { recursive: true, mode: step.mode });
      return;
    case "writeFile":
      if (jail) await safeWriteFile(jail, P(step.path), step.content, step.mode);
      else {
        await fsp.mkdir(posix.dirname(P(step.path)), { recursive: true });
        await writeFileAtomic(P(step.path), step.content, step.mode);
      }
      return;
    case "appendFile":
      if (jail) await safeAppendFile(jail, P(step.path), step.content, step.mode);
      else await fsp.appendFile(P(step.path), step.content, { mode: step.mode });
      return;
    case "symlink":
      if (jail) await assertPlainPath(jail, P(step.path));
      await fsp.rm(P(step.path), { force: true });
      await fsp.symlink(step.target, P(step.path));
      return;
    case "rename":
      if (jail) {
        await assertPlainPath(jail, P(step.from));
        await assertPlainPath(jail, P(step.to));
      }
      await fsp.rename(P(step.from), P(step.to));
      return;
    case "remove":
      if (jail) await assertPlainPath(jail, P(step.path));
      if (step.recursive) await safeRemoveTree(P(step.path));
      else await fsp.rm(P(step.path), { force: true });
      return;
    case "copyTree":
      if (jail) {
        await safeCopyTree(jail, P(step.from), P(step.to), step.overwrite ?? false);
        return;
      }
      await fsp.cp(P(step.from), P(step.to), {
        recursive: true,
        force: step.overwrite ?? false,
        errorOnExist: false,
        preserveTimestamps: true,
        verbatimSymlinks: true,
      });
      return;
    case "run":
      if (!opts.runCommands) return;
      if (step.mayFail) await runProgram(step.argv);
      else await runChecked(step.argv);
      return;
  }
}
