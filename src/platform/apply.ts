import { lstatSync, promises as fsp, readdirSync, readFileSync } from "node:fs";
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
import { hostLayout, physical } from "../core/paths.js";
import { writeFileAtomic } from "../store/atomic.js";
import { finishJournal, runJournaled, type JournalOp } from "../store/journal.js";
import {
  safeAppendFile,
  safeCopyTree,
  safeMkdirp,
  safeRemoveTree,
  safeWriteFile,
  assertPlainPath,
  onceText,
} from "./safe-fs.js";
import { runChecked, runProgram, type RunResult } from "./run.js";
import { extractArchive, extractJailTree, unpackJailTree } from "../store/archive.js";

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
 * Apply the steps of a commit as one unit: every new file (and every file a
 * step appends to, with its new whole content) is written to a temporary name
 * beside its target first (this is where a full disk fails, and then the
 * temporaries go and nothing has changed); only then are the renames into
 * place, the removals and renames made, through the roll-forward journal
 * (store/journal.ts): a kill between two of them leaves the journal, and the
 * next qjail command finishes the unit before it reads or changes anything.
 */
export async function commitSteps(root: string, steps: readonly Step[]): Promise<void> {
  finishJournal(root, hostLayout().stateDir);
  await removeStaleTemporaries(root, steps);
  const staged: string[] = [];
  const ops: JournalOp[] = [];
  /** Content a staged step of this unit gives a path (an append after a write in the same unit). */
  const pending = new Map<string, string>();
  /** Non-empty directories a recursive removal moved aside, removed once the unit is made. */
  const trash: string[] = [];
  try {
    for (const step of steps) {
      if (!isHostFileStep(step))
        throw new Error(`internal: commit step ${step.kind} must be a host file step`);
      switch (step.kind) {
        case "writeFile":
        case "appendFile": {
          let content = step.content;
          let mode = step.mode ?? 0o644;
          if (step.kind === "appendFile") {
            const st = lstatSync(physical(root, step.path), { throwIfNoEntry: false });
            if (st !== undefined && step.mode === undefined) mode = st.mode & 0o7777;
            const old = pending.get(step.path) ?? readIfThere(physical(root, step.path));
            const added = onceText(old, step.content, step.once === true);
            if (added === "" && old !== undefined) continue; // nothing to add: the file stays as it is
            content = (old ?? "") + added;
          }
          pending.set(step.path, content);
          const tmp = stagedName(step.path);
          staged.push(tmp);
          await stageFile(physical(root, tmp), content, mode);
          ops.push({ op: "rename", from: tmp, to: step.path });
          break;
        }
        case "mkdir":
          ops.push({ op: "mkdir", path: step.path, ...(step.mode === undefined ? {} : { mode: step.mode }) });
          break;
        case "remove":
          if (!step.recursive) ops.push({ op: "remove", path: step.path });
          else if (emptyOrAbsent(physical(root, step.path))) ops.push({ op: "rmdir", path: step.path });
          else {
            // Moved aside inside the unit (one rename), removed by the safe walk after it.
            const aside = posix.join(
              posix.dirname(step.path),
              `.${posix.basename(step.path)}.qjail-trash-${process.pid}`,
            );
            ops.push({ op: "rename", from: step.path, to: aside });
            trash.push(aside);
          }
          break;
        case "rename":
          ops.push({ op: "rename", from: step.from, to: step.to });
          break;
        case "symlink":
          ops.push({ op: "symlink", path: step.path, target: step.target });
          break;
        default:
          throw new Error(`internal: commit step ${step.kind} must be a host file step`);
      }
    }
  } catch (e) {
    await Promise.all(staged.map((t) => fsp.rm(physical(root, t), { force: true })));
    throw e;
  }
  try {
    runJournaled(root, hostLayout().stateDir, ops, commitOpDone);
  } catch (e) {
    throw hostWriteError(
      e,
      `making the ${ops.length} changes of a commit (the next qjail command finishes them)`,
    );
  }
  for (const t of trash)
    await applyStep({ kind: "remove", path: t, recursive: true }, { root, runCommands: false });
}

/** The temporary name a commit stages a file's new content under (a dot name: record readers skip it). */
function stagedName(path: string): string {
  return posix.join(posix.dirname(path), `.${posix.basename(path)}.qjail-new-${process.pid}`);
}

async function stageFile(tmp: string, content: string, mode: number): Promise<void> {
  await fsp.mkdir(posix.dirname(tmp), { recursive: true });
  const fh = await fsp.open(tmp, "w", mode);
  try {
    await fh.writeFile(content);
    await fh.chmod(mode);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

function emptyOrAbsent(path: string): boolean {
  const st = lstatSync(path, { throwIfNoEntry: false });
  return st === undefined || (st.isDirectory() && readdirSync(path).length === 0);
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
/** Visible changes of commit units made so far in this process (`commit-op:K` crash points). */
let commitOpsDone = 0;

function commitOpDone(): void {
  crashPoint(`commit-op:${commitOpsDone++}`);
}

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
 * - `commit-op:K`: right after the K-th visible change (a rename, removal,
 *   symlink…) of the commit units of this process: inside a unit, between
 *   two of its changes.
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
