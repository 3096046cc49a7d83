import { promises as fsp } from "node:fs";
import { posix } from "node:path";
import type { Plan, Step } from "../core/plan.js";
import { physical } from "../core/paths.js";
import { writeFileAtomic } from "../store/atomic.js";
import { safeAppendFile, safeMkdirp, safeRemoveTree, safeWriteFile, assertPlainPath } from "./safe-fs.js";
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
    crashPoint(`step:${i}`);
    opts.onStep?.(step, i, total);
    await applyStep(step, opts);
  }
  crashPoint(`step:${total}`);
}

/**
 * Fault injection for the reliability suite: with QJAIL_CRASH_AT=step:N the
 * process kills itself with SIGKILL just before step N of the plan being
 * applied (N = the step count: after the last step). Commands may add their
 * own named points (`crashPoint("records-written")`).
 */
export function crashPoint(name: string): void {
  const at = process.env.QJAIL_CRASH_AT;
  if (at !== undefined && at === name) process.kill(process.pid, "SIGKILL");
}

export async function applyStep(step: Step, opts: ApplyOptions): Promise<void> {
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
      if (jail) await assertPlainPath(jail, P(step.to));
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
