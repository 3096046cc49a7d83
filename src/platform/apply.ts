import {
  appendFileSync,
  lstatSync,
  mkdirSync,
  promises as fsp,
  readdirSync,
  readFileSync,
  renameSync,
  rmdirSync,
  rmSync,
  symlinkSync,
} from "node:fs";
import { posix } from "node:path";
import {
  CAPTURED,
  formatStep,
  releaseExtractArgv,
  type CapturedValue,
  type Plan,
  type Step,
} from "../core/plan.js";
import { UsageError, shown } from "../core/errors.js";
import { hostWriteError } from "./write-errors.js";
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
import { runChecked, runProgram, type RunResult } from "./run.js";
import { extractArchive, extractJailTree, unpackJailTree } from "../store/archive.js";
import { onceText } from "./safe-fs.js";

export type Runner = (argv: readonly string[], opts?: { input?: string }) => Promise<RunResult>;

export interface ApplyOptions {
  /** Physical root ("/" on a real host, a temp dir under --root). */
  root: string;
  /** Execute `run` steps? false under --root on a machine that is not the target (file-level work only). */
  runCommands: boolean;
  /** Called before each step, for progress output. */
  onStep?: (step: Step, index: number, total: number) => void;
  /** Where a `run` step that is not executed is shown (under --root). */
  echo?: (step: Step) => void;
  /** The checks `run` steps name in `check`: stdout → a problem, or undefined when it holds. */
  checks?: Readonly<Record<string, (stdout: string) => string | undefined>>;
  /** Program runner (tests inject one). */
  runner?: Runner;
  /** Milliseconds between the tries of a `retry` step (1000; tests use less). */
  pollMs?: number;
  /**
   * A platform's own handling of a step (FreeBSD copies trees keeping owners):
   * resolves true when it did the step, false to leave it to the generic code.
   */
  platformStep?: (step: Step) => Promise<boolean>;
  /** How a `download` step fetches (the FreeBSD backend: src/platform/download.ts fetchChecked); without it a download is refused. */
  download?: (url: string, physicalTarget: string, verify: "manifest" | undefined) => Promise<void>;
}

/** A `run` step failed (non-zero exit, a failed check, or a captured value that is not what it should be). */
export class StepFailedError extends Error {
  constructor(
    message: string,
    readonly step: Step,
    readonly index: number,
    readonly result: RunResult | undefined,
  ) {
    super(message);
    this.name = "StepFailedError";
  }
}

/**
 * The one applier: every plan, on every platform, goes through here.
 *
 * Steps run in order with a numbered crash-point boundary before each and
 * after the last ({@link crashPoint}); a `commit` step is one unit with no
 * boundary inside. File steps inside a jail tree (`inJail`) go through
 * safe-fs (no link following); host-side files are written atomically.
 * A `run` step's `capture` keeps what it printed for later steps (their
 * markers are filled in); steps that need a value no step has captured yet
 * are skipped when programs do not run (under --root), since nothing could
 * have printed it. When a step fails, the `undo` steps of the `run` steps
 * already done run in reverse order, then the error propagates.
 */
export async function applyPlan(plan: Plan, opts: ApplyOptions): Promise<void> {
  const total = plan.steps.length;
  const values = new Map<CapturedValue, string>();
  const done: Step[] = [];
  for (const [i, planned] of plan.steps.entries()) {
    stepBoundary();
    opts.onStep?.(planned, i, total);
    const step = fillCaptured(planned, values);
    if (needsCapture(step)) {
      if (!opts.runCommands) {
        opts.echo?.(step);
        continue;
      }
      throw new Error(`internal: ${formatStep(step).split("\n")[0]} needs a value no earlier step printed`);
    }
    try {
      await applyOne(step, i, opts, values);
    } catch (e) {
      if (opts.runCommands) await undo(done, opts);
      throw e;
    }
    // a step that captured a value may name it in its own undo (mdconfig -a ... undo: mdconfig -d -u %MD_UNIT%)
    done.push(fillCaptured(step, values));
  }
  stepBoundary();
}

/** Take back what the `run` steps done so far did, latest first; a failing undo does not stop the others. */
async function undo(done: readonly Step[], opts: ApplyOptions): Promise<void> {
  for (const step of [...done].reverse()) {
    if (step.kind !== "run" || !step.undo) continue;
    for (const u of step.undo) {
      // an undo command goes through the same runner as the plan's own (a test's fake host)
      if (u.kind === "run" && opts.runner) {
        if (opts.runCommands)
          await opts.runner(u.argv, u.stdin === undefined ? {} : { input: u.stdin }).catch(() => undefined);
        continue;
      }
      await applyStep(u, opts).catch(() => undefined);
    }
  }
}

function fillCaptured(step: Step, values: ReadonlyMap<CapturedValue, string>): Step {
  if (values.size === 0) return step;
  let text = JSON.stringify(step);
  for (const [name, value] of values) text = text.split(CAPTURED[name].marker).join(value);
  return JSON.parse(text) as Step;
}

function needsCapture(step: Step): boolean {
  // what the step does, not its explanation (`why` may name the marker it sets)
  const text = JSON.stringify({ ...step, why: undefined, undo: undefined });
  return Object.values(CAPTURED).some((c) => text.includes(c.marker));
}

async function applyOne(
  step: Step,
  index: number,
  opts: ApplyOptions,
  values: Map<CapturedValue, string>,
): Promise<void> {
  if (step.kind === "commit") {
    try {
      await commitSteps(opts.root, step.steps);
    } catch (e) {
      throw hostWriteError(
        e,
        `writing ${step.steps.length} record file${step.steps.length === 1 ? "" : "s"} as one unit`,
      );
    }
    return;
  }
  if (step.kind === "ifExists") {
    if (await exists(physical(opts.root, step.path)))
      for (const inner of step.steps) await applyOne(inner, index, opts, values);
    return;
  }
  if (step.kind !== "run") {
    await applyStep(step, opts);
    return;
  }
  if (!opts.runCommands) {
    opts.echo?.(step);
    return;
  }
  const runner = opts.runner ?? ((argv, o) => runProgram(argv, o));
  const once = (): Promise<RunResult> =>
    runner(step.argv, step.stdin === undefined ? {} : { input: step.stdin });
  let r = await once();
  if (step.retry) {
    const { until, seconds, whileStderr } = step.retry;
    const pollMs = opts.pollMs ?? 1000;
    const again = (x: RunResult): boolean =>
      until === "fails"
        ? x.code === 0
        : x.code !== 0 && (whileStderr === undefined || new RegExp(whileStderr, "i").test(x.stderr));
    for (let waited = 0; again(r) && waited < seconds * 1000; waited += pollMs) {
      await new Promise((res) => setTimeout(res, pollMs));
      r = await once();
    }
    if (until === "fails") {
      if (r.code === 0)
        throw new StepFailedError(`${step.argv.join(" ")} still succeeds after ${seconds} s`, step, index, r);
      return; // it failed, which is what was waited for
    }
  }
  const result = r;
  const fail = (why: string): never => {
    throw new StepFailedError(why, step, index, result);
  };
  if (r.code !== 0 && !step.mayFail)
    fail(`${step.argv.join(" ")} exited ${r.code}: ${r.stderr.trim() || r.stdout.trim()}`);
  if (step.capture !== undefined) {
    const want = CAPTURED[step.capture];
    const printed = r.stdout.trim();
    if (!want.pattern.test(printed)) fail(`${step.argv[0]} printed ${shown(printed)}, not ${want.what}`);
    values.set(step.capture, printed);
  }
  if (step.check !== undefined) {
    const check = opts.checks?.[step.check];
    if (check === undefined) throw new Error(`internal: no check named ${step.check}`);
    const problem = check(r.stdout);
    if (problem !== undefined) fail(problem);
  }
}

/**
 * Apply the steps of a commit as one unit: every new file is written to a
 * temporary name beside its target first (this is where a full disk fails,
 * and then the temporaries go and nothing has changed); only then are they
 * renamed into place and the removals and renames done, back to back. There
 * is no crash point inside, so a kill sees all or none of it.
 */
export async function commitSteps(root: string, steps: readonly Step[]): Promise<void> {
  await removeStaleTemporaries(root, steps);
  const staged = new Map<Step, string>();
  try {
    for (const step of steps) {
      if (!isHostFileStep(step))
        throw new Error(`internal: commit step ${step.kind} must be a host file step`);
      if (step.kind !== "writeFile") continue;
      const target = physical(root, step.path);
      await fsp.mkdir(posix.dirname(target), { recursive: true });
      // A dot name: record readers skip it, so a temporary left by a power cut is never taken for a jail.
      const tmp = posix.join(posix.dirname(target), `.${posix.basename(target)}.qjail-new-${process.pid}`);
      const fh = await fsp.open(tmp, "w", step.mode ?? 0o644);
      staged.set(step, tmp);
      try {
        await fh.writeFile(step.content);
        await fh.chmod(step.mode ?? 0o644);
        await fh.sync();
      } finally {
        await fh.close();
      }
    }
  } catch (e) {
    await Promise.all([...staged.values()].map((t) => fsp.rm(t, { force: true })));
    throw e;
  }
  // The unit's visible changes run back to back without yielding to the event
  // loop (synchronous system calls): a kill can split the unit only inside
  // this window of a few system calls, not while other work is scheduled.
  // (A recursive removal of anything but an empty directory, such as the
  // create-in-progress marker, keeps the safe walk that never crosses a mount.)
  for (const step of steps) {
    if (step.kind === "remove" && step.recursive) {
      let removed: boolean;
      try {
        removed = removedIfEmpty(physical(root, step.path));
      } catch (e) {
        throw hostWriteError(e, formatStep(step));
      }
      if (!removed) await applyStep(step, { root, runCommands: false });
      continue;
    }
    try {
      finishCommitStep(root, step, staged.get(step));
    } catch (e) {
      throw hostWriteError(e, formatStep(step).split("\n")[0] as string);
    }
  }
}

/** One host file step of a commit, synchronously (`tmp`: the staged content of a writeFile). */
function finishCommitStep(root: string, step: Step, tmp: string | undefined): void {
  const P = (p: string): string => physical(root, p);
  switch (step.kind) {
    case "writeFile":
      if (tmp === undefined) throw new Error(`internal: ${step.path} was not staged`);
      renameSync(tmp, P(step.path));
      return;
    case "mkdir":
      mkdirSync(P(step.path), { recursive: true, mode: step.mode });
      return;
    case "remove":
      rmSync(P(step.path), { force: true });
      return;
    case "rename":
      renameSync(P(step.from), P(step.to));
      return;
    case "symlink":
      rmSync(P(step.path), { force: true });
      symlinkSync(step.target, P(step.path));
      return;
    case "appendFile": {
      const old = step.once ? readIfThere(P(step.path)) : undefined;
      const text = onceText(old, step.content, step.once === true);
      if (text !== "" || step.once !== true) appendFileSync(P(step.path), text, { mode: step.mode });
      return;
    }
    default:
      throw new Error(`internal: commit step ${step.kind} must be a host file step`);
  }
}

/** Remove `path` synchronously when it is absent (nothing to do) or an empty directory; false otherwise. */
function removedIfEmpty(path: string): boolean {
  const st = lstatSync(path, { throwIfNoEntry: false });
  if (st === undefined) return true;
  if (!st.isDirectory() || readdirSync(path).length > 0) return false;
  rmdirSync(path);
  return true;
}

function readIfThere(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
}

function isHostFileStep(step: Step): boolean {
  if ("inJail" in step && step.inJail) return false;
  return ["writeFile", "mkdir", "remove", "rename", "symlink", "appendFile"].includes(step.kind);
}

/** Temporaries of a commit that was cut off (power loss) beside the files this commit writes. */
async function removeStaleTemporaries(root: string, steps: readonly Step[]): Promise<void> {
  for (const step of steps) {
    if (step.kind !== "writeFile") continue;
    const target = physical(root, step.path);
    const prefix = `.${posix.basename(target)}.qjail-new-`;
    const names = await fsp.readdir(posix.dirname(target)).catch(() => [] as string[]);
    for (const n of names)
      if (n.startsWith(prefix)) await fsp.rm(posix.join(posix.dirname(target), n), { force: true });
  }
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
/** Run `fn`, reporting a refused write as {@link hostWriteError} does. */
export async function explainHostWriteErrors<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    throw hostWriteError(e, what);
  }
}

/** Whether a physical path exists, as a link or anything else (the link is not followed). */
async function exists(path: string): Promise<boolean> {
  return (await fsp.lstat(path).catch(() => undefined)) !== undefined;
}

export async function applyStep(step: Step, opts: ApplyOptions): Promise<void> {
  try {
    await applyStepUnexplained(step, opts);
  } catch (e) {
    throw hostWriteError(e, formatStep(step).split("\n")[0] as string);
  }
}

async function applyStepUnexplained(step: Step, opts: ApplyOptions): Promise<void> {
  if (opts.platformStep && (await opts.platformStep(step))) return;
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
      if (jail) await safeAppendFile(jail, P(step.path), step.content, step.mode, step.once === true);
      else {
        const old = step.once ? await fsp.readFile(P(step.path), "utf8").catch(() => undefined) : undefined;
        const text = onceText(old, step.content, step.once === true);
        if (text !== "" || step.once !== true) await fsp.appendFile(P(step.path), text, { mode: step.mode });
      }
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
      if (step.mayFail) await runProgram(step.argv, step.stdin === undefined ? {} : { input: step.stdin });
      else await runChecked(step.argv, step.stdin === undefined ? {} : { input: step.stdin });
      return;
    case "extract": {
      const archive = step.local ? step.archive : P(step.archive);
      // a jail tree without `from` is checked and made by extractJailTree, which refuses an existing one
      if (!(step.format === "jail-tree" && step.from === undefined))
        await fsp.mkdir(P(step.to), { recursive: true });
      if (step.format === "host-trees") await extractArchive(opts.root, archive);
      else if (step.format === "jail-tree") {
        if (step.from !== undefined) await unpackJailTree(archive, { rootPath: step.from }, P(step.to));
        else await extractJailTree(archive, P(step.to));
      } else
        await runChecked(releaseExtractArgv(archive, P(step.to))).catch((e: Error) => {
          throw new UsageError(
            "QJ1225",
            `RELEASE distribution install failed: ${e.message}`,
            "Check that the archive is complete (compare with the release's MANIFEST) and that the disk has room.",
          );
        });
      return;
    }
    case "download":
      if (!opts.download) throw new Error(`internal: no downloader for ${step.url}`);
      await fsp.mkdir(posix.dirname(P(step.to)), { recursive: true });
      await opts.download(step.url, P(step.to), step.verify);
      return;
    case "commit":
      await commitSteps(opts.root, step.steps);
      return;
    case "ifExists":
      if (await exists(P(step.path))) for (const inner of step.steps) await applyStep(inner, opts);
      return;
  }
}
