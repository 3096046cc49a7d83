import {
  closeSync,
  existsSync,
  fsyncSync,
  lstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  rmdirSync,
  symlinkSync,
  writeSync,
} from "node:fs";
import { posix } from "node:path";
import { physical } from "../core/paths.js";
import { UsageError, shown } from "../core/errors.js";

/**
 * The roll-forward journal of a commit unit.
 *
 * A commit makes several changes visible (a record, a jail.conf block, an
 * fstab; ipf.rules and ipnat.rules) and POSIX has no way to rename two files
 * as one. So the unit first writes the whole list of its changes to one
 * journal file (one atomic rename), then makes them one after another,
 * marking each as done, then removes the journal. A kill anywhere in between
 * leaves the journal: the next qjail command, before it reads or changes
 * anything, finishes the list. Once the journal is in place the unit has
 * happened; without it, nothing of it has.
 *
 * The file: one line of JSON (the changes, with logical paths), then one line
 * per change done ("0", "1", …). Each change, redone right after it was made,
 * finds its work done (a rename whose source is gone; a removal of something
 * absent; a directory that exists), so the one change that may have run
 * without its mark is safe to run again.
 */
export type JournalOp =
  /** Rename `from` onto `to` (a staged file into place, a record to its new name). */
  | { op: "rename"; from: string; to: string }
  | { op: "mkdir"; path: string; mode?: number }
  /** Remove a file or symbolic link (absent: nothing to do). */
  | { op: "remove"; path: string }
  /** Remove an empty directory (absent: nothing to do). */
  | { op: "rmdir"; path: string }
  /** Make `path` a symbolic link to `target`, replacing what is there. */
  | { op: "symlink"; path: string; target: string };

/** Where the journal lives: persistent state (not /var/run, which FreeBSD clears at boot). */
export function journalPath(stateDir: string): string {
  return `${stateDir}/commit.journal`;
}

/** True when a commit was cut off and its journal waits to be finished. */
export function journalPending(root: string, stateDir: string): boolean {
  return existsSync(physical(root, journalPath(stateDir)));
}

/**
 * Make `ops` as one unit: journal them, make them (calling `afterEach` after
 * each, for fault injection), drop the journal. A unit of one change needs
 * no journal: one rename is atomic by itself.
 */
export function runJournaled(
  root: string,
  stateDir: string,
  ops: readonly JournalOp[],
  afterEach: () => void = () => undefined,
): void {
  if (ops.length <= 1) {
    for (const op of ops) {
      doOp(root, op);
      afterEach();
    }
    return;
  }
  const file = physical(root, journalPath(stateDir));
  mkdirSync(posix.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.new-${process.pid}`;
  const fd = openSync(tmp, "w", 0o600);
  try {
    writeSync(fd, `${JSON.stringify({ ops })}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
  playFrom(root, file, ops, 0, afterEach);
}

/**
 * Finish a commit a killed qjail left half made (see runJournaled). Returns
 * how many changes it still had to make, or undefined when there was no
 * journal. Callers hold the host lock, or know that no qjail runs.
 */
export function finishJournal(root: string, stateDir: string): number | undefined {
  const file = physical(root, journalPath(stateDir));
  removeUnfinishedJournals(file);
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw e;
  }
  const [head, ...marks] = text.split("\n");
  const ops = parseOps(head ?? "", file);
  // Marks are written in order, so the count of complete ones is where to go on.
  const done = marks.filter((m) => /^[0-9]+$/.test(m)).length;
  playFrom(root, file, ops, done, () => undefined);
  return ops.length - done;
}

function playFrom(
  root: string,
  file: string,
  ops: readonly JournalOp[],
  start: number,
  afterEach: () => void,
): void {
  const fd = openSync(file, "a");
  try {
    for (let i = start; i < ops.length; i++) {
      doOp(root, ops[i] as JournalOp);
      writeSync(fd, `${i}\n`);
      afterEach();
    }
  } finally {
    closeSync(fd);
  }
  rmSync(file, { force: true });
}

function doOp(root: string, op: JournalOp): void {
  switch (op.op) {
    case "rename": {
      const from = physical(root, op.from);
      if (lstatSync(from, { throwIfNoEntry: false }) === undefined) return; // made before the kill
      renameSync(from, physical(root, op.to));
      return;
    }
    case "mkdir":
      mkdirSync(physical(root, op.path), { recursive: true, mode: op.mode });
      return;
    case "remove":
      rmSync(physical(root, op.path), { force: true });
      return;
    case "rmdir": {
      const path = physical(root, op.path);
      const st = lstatSync(path, { throwIfNoEntry: false });
      if (st === undefined) return;
      if (st.isDirectory() && readdirSync(path).length === 0) rmdirSync(path);
      else throw new Error(`${op.path} is not an empty directory`);
      return;
    }
    case "symlink": {
      const path = physical(root, op.path);
      rmSync(path, { force: true });
      symlinkSync(op.target, path);
      return;
    }
  }
}

const OPS = new Set(["rename", "mkdir", "remove", "rmdir", "symlink"]);

function parseOps(head: string, file: string): JournalOp[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(head);
  } catch {
    throw notOurs(file, "its first line is not JSON");
  }
  const ops = (parsed as { ops?: unknown }).ops;
  // Logical absolute paths only, none climbing out of the root with "..".
  const str = (v: unknown): boolean =>
    typeof v === "string" && v.startsWith("/") && !v.includes("\0") && !v.split("/").includes("..");
  const ok =
    Array.isArray(ops) &&
    ops.every((o: Record<string, unknown>) => {
      if (typeof o !== "object" || o === null || !OPS.has(o.op as string)) return false;
      if (o.op === "rename") return str(o.from) && str(o.to);
      if (o.op === "symlink") return str(o.path) && typeof o.target === "string";
      return str(o.path);
    });
  if (!ok) throw notOurs(file, "its list holds a change qjail never writes");
  return ops as JournalOp[];
}

/** Refuse a journal qjail did not write, changing nothing: the admin decides what it was. */
function notOurs(file: string, why: string): UsageError {
  return new UsageError(
    "QJ6002",
    `${shown(file)}: not a qjail commit journal (${why}); nothing was changed`,
    `Look at it, move it aside (mv ${file} ${file}.bad), run the command again, then 'qjail doctor'.`,
  );
}

/** A journal being written when the kill came (`commit.journal.new-PID`): the unit never started. */
function removeUnfinishedJournals(file: string): void {
  const dir = posix.dirname(file);
  const prefix = `${posix.basename(file)}.new-`;
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const n of names) if (n.startsWith(prefix)) rmSync(posix.join(dir, n), { force: true });
}
