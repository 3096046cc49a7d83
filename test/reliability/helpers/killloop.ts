/**
 * The kill-point loop of the fault-injection suite: run a real qjail command
 * as a child process with QJAIL_CRASH_AT=step:K for K = 0, 1, 2, … until it
 * completes without being killed, and after every kill check that what an
 * admin can see is exactly the before state or exactly the after state, and
 * that running the command again (or the given recovery) ends in exactly the
 * after state.
 */
import assert from "node:assert/strict";
import { cpSync, existsSync, mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { hostLayout, physical } from "../../../src/core/paths.js";
import { journalPath } from "../../../src/store/journal.js";
import { qjailArgv, treeDigest } from "../../helpers/cli.js";
import { killed, runSync, type ChildRun } from "./index.js";

export type Digest = Map<string, string>;

export interface KillLoopSpec {
  /** Label for messages, e.g. "create". */
  label: string;
  /** A prepared root (the before state); copied afresh for every run. */
  template: string;
  /** The command, given the physical root of the copy it runs on. */
  argv(root: string): string[];
  /** Logical directories an admin sees (records, jail.conf blocks, fstabs, exposures, archives). */
  visible: readonly string[];
  /**
   * Rewrite digest keys or values that legitimately differ between two runs
   * (an archive's timestamped file name), so before/after compare equal.
   */
  normalize?: (d: Digest) => Digest;
  /**
   * After a kill that left the before state: what brings it to the after
   * state. Default: the same command again.
   */
  recover?(root: string): string[];
  /** Environment for every run (QJAIL_PLATFORM…). */
  env?: Record<string, string>;
  /** Stop after this many kill points (a guard against a command that never finishes). */
  maxPoints?: number;
  /**
   * Files derived from the visible state and rewritten from it by the
   * recovery command (rule files `fw sync` regenerates from the exposures).
   * They are left out of the before/after comparison after a kill; the
   * recovery must still end in the whole after state, these files included.
   */
  derived?: RegExp;
  /**
   * A property every state a kill leaves must have, beyond before-or-after
   * (e.g. no forward to a jail whose records are gone); a message when it
   * does not hold.
   */
  invariant?(root: string): string | undefined;
}

export interface KillLoopResult {
  /** Kill points the command was actually killed at (step boundaries and named points). */
  killPoints: number;
  /** How many of them left the before state, and how many the after state. */
  leftBefore: number;
  leftAfter: number;
  /** Kill points that left a visible mixture of before and after, with what differed. */
  mixtures: string[];
  /** Kill points after which running the command again did not end in exactly the after state. */
  unrecovered: string[];
}

/** Files that are not state: the host lock (proper-lockfile's lock directory and its target). */
const NOT_STATE = /^var\/run\/qjail\.lock/;
/**
 * qjail's own temporaries: an atomic write's `.NAME.qjail-tmp-PID-RAND` and a
 * firewall file staged as `NAME.qjail-new`. They are not configuration an
 * admin reads, and the next run removes them, which the loop checks on the
 * whole root after recovery; right after a kill they are not a mixture.
 */
const QJAIL_TEMPORARY = /(?:^|\/)\.[^/]*\.qjail-tmp-[^/]*$|\.qjail-new$/;

/** The roll-forward journal a commit unit leaves when it is killed half way (src/store/journal.ts). */
const JOURNAL = journalPath(hostLayout().stateDir);

const RECORD_DIR = /^usr\/local\/etc\/qjail\.(?:local(?:\.[^/]+)?|global)\/([^/]+)$/;
const PER_JAIL_FILE = /^usr\/local\/etc\/qjail\.(?:config|fstab(?:\.[^/]+)?|expose|packages)\/([^/]+)$/;

/**
 * What an admin sees of qjail's state under the given logical directories:
 * every file (directories alone carry no state), every record, and the per-jail files (jail.conf block, fstab,
 * exposures, package list) of jails that have a record. Per-jail files of a
 * name with no record are orphans no command shows, like a half-built jail
 * tree; they are left out here and must be gone (or completed) after the
 * next command, which the loop checks on the whole root.
 */
export function stateDigest(
  root: string,
  logicalDirs: readonly string[],
  normalize?: (d: Digest) => Digest,
): Digest {
  const all: Digest = new Map();
  for (const dir of logicalDirs) {
    const abs = physical(root, dir);
    const rel = dir.replace(/^\//, "");
    if (!existsSync(abs)) continue;
    for (const [k, v] of treeDigest(abs)) all.set(`${rel}/${k}`, v);
  }
  const recorded = new Set<string>();
  for (const k of all.keys()) {
    const m = RECORD_DIR.exec(k);
    if (m) recorded.add((m[1] as string).replace(/\.(?:norun|man)$/, ""));
  }
  const out: Digest = new Map();
  for (const [k, v] of all) {
    // Directories carry no state of their own (an empty qjail.expose/ shows nothing anywhere).
    if (v.startsWith("dir ")) continue;
    if (QJAIL_TEMPORARY.test(k)) continue;
    const m = PER_JAIL_FILE.exec(k);
    if (m && !recorded.has(m[1] as string)) continue;
    out.set(k, v);
  }
  return normalize ? normalize(out) : out;
}

export function fullDigest(root: string, normalize?: (d: Digest) => Digest): Digest {
  const d = treeDigest(root);
  for (const k of [...d.keys()]) if (NOT_STATE.test(k)) d.delete(k);
  return normalize ? normalize(d) : d;
}

function sameDigest(a: Digest, b: Digest): boolean {
  if (a.size !== b.size) return false;
  for (const [k, v] of a) if (b.get(k) !== v) return false;
  return true;
}

/** Keys whose values differ, for a readable failure message. */
export function digestDiff(a: Digest, b: Digest): string[] {
  const keys = new Set([...a.keys(), ...b.keys()]);
  return [...keys]
    .filter((k) => a.get(k) !== b.get(k))
    .sort()
    .slice(0, 20);
}

export function runQjail(
  argv: readonly string[],
  env: Record<string, string> = {},
  killAfterMs?: number,
): ChildRun {
  return runSync([...qjailArgv(), ...argv], env, undefined, killAfterMs);
}

/**
 * A SIGKILLed qjail leaves its host lock behind; proper-lockfile takes it
 * over only once it is stale (10 s). The loop clears it the way a reboot
 * clears /var/run, so hundreds of kill points don't each wait 10 s; the
 * stale-lock takeover itself is tested once on its own.
 */
export function clearRunDir(root: string): void {
  rmSync(physical(root, "/var/run/qjail.lock.lock"), { recursive: true, force: true });
}

function freshCopy(template: string, dest: string): void {
  rmSync(dest, { recursive: true, force: true });
  mkdirSync(dest, { recursive: true });
  cpSync(template, dest, { recursive: true, verbatimSymlinks: true, preserveTimestamps: true });
}

function withoutDerived(d: Digest, derived: RegExp | undefined): Digest {
  if (derived === undefined) return d;
  return new Map([...d].filter(([k]) => !derived.test(k)));
}

/** A kill at a crash point ("step:3", "delete-tree:0") or after a time ("after:250ms"). */
function oneKill(
  spec: KillLoopSpec,
  work: string,
  point: string,
  ctx: { before: Digest; after: Digest; afterFull: Digest },
  result: KillLoopResult,
): "killed" | "completed" {
  const norm = spec.normalize;
  const env = spec.env ?? {};
  const root = join(work, `${spec.label}-${point.replace(/[^A-Za-z0-9]/g, "_")}`);
  freshCopy(spec.template, root);
  const timed = /^after:([0-9]+)ms$/.exec(point);
  try {
    const r = timed
      ? runQjail(spec.argv(root), env, Number(timed[1]))
      : runQjail(spec.argv(root), { ...env, QJAIL_CRASH_AT: point });
    if (!killed(r)) {
      assert.equal(r.code, 0, `${spec.label} ${point}: not killed, so it must complete:\n${r.stderr}`);
      assert.deepEqual(
        digestDiff(fullDigest(root, norm), ctx.afterFull),
        [],
        `${spec.label}: an uninterrupted run ends in the after state`,
      );
      return "completed";
    }
    result.killPoints++;
    // A kill inside a commit unit leaves its journal: the next qjail command,
    // whatever it is, finishes the unit before it reads anything. What an
    // admin sees through qjail is the state after that.
    if (existsSync(physical(root, JOURNAL))) {
      clearRunDir(root);
      const next = runQjail(["list", "--root", root], env);
      if (existsSync(physical(root, JOURNAL)))
        result.mixtures.push(`${point}: 'qjail list' left the commit journal unfinished: ${next.stderr}`);
    }
    const seen = withoutDerived(stateDigest(root, spec.visible, norm), spec.derived);
    const isBefore = sameDigest(seen, withoutDerived(ctx.before, spec.derived));
    const isAfter = sameDigest(seen, withoutDerived(ctx.after, spec.derived));
    const broken = spec.invariant?.(root);
    if (broken !== undefined) result.mixtures.push(`${point}: ${broken}`);
    if (isBefore) result.leftBefore++;
    else if (isAfter) result.leftAfter++;
    else {
      result.mixtures.push(
        `${point}: differs from before in [${digestDiff(seen, withoutDerived(ctx.before, spec.derived)).join(", ")}] and from after in [${digestDiff(seen, withoutDerived(ctx.after, spec.derived)).join(", ")}]`,
      );
    }
    clearRunDir(root);
    // The next command completes the work (or finds it done) and leaves exactly the after state.
    const again = runQjail(isBefore ? (spec.recover ?? spec.argv)(root) : spec.argv(root), env);
    const got = fullDigest(root, norm);
    const leftover = digestDiff(got, ctx.afterFull);
    if (leftover.length > 0 || (isBefore && again.code !== 0) || (again.code !== 0 && again.code !== 3)) {
      const detail = leftover
        .slice(0, 3)
        .map((k) => `${k}: ${got.get(k) ?? "missing"}, expected ${ctx.afterFull.get(k) ?? "absent"}`);
      result.unrecovered.push(
        `${point}: re-run exited ${again.code} (${again.stderr.split("\n")[0] ?? ""}); differs from after in [${leftover.join(", ")}] {${detail.join("; ")}}`,
      );
    }
    return "killed";
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

/**
 * Kill at every step boundary (QJAIL_CRASH_AT=step:K until the command
 * completes), at each named crash point, and, for commands with work outside
 * any plan, `timedKills` times spread over the command's run time.
 */
export function killLoop(
  spec: KillLoopSpec,
  work: string,
  namedPoints: readonly string[] = [],
  timedKills = 0,
): KillLoopResult {
  const norm = spec.normalize;
  const before = stateDigest(spec.template, spec.visible, norm);

  // The reference after state: the command run once without faults.
  const refRoot = join(work, `${spec.label}-ref`);
  freshCopy(spec.template, refRoot);
  const t0 = Date.now();
  const ref = runQjail(spec.argv(refRoot), spec.env ?? {});
  const refMs = Date.now() - t0;
  assert.equal(ref.code, 0, `${spec.label}: the command must succeed without faults:\n${ref.stderr}`);
  const after = stateDigest(refRoot, spec.visible, norm);
  const afterFull = fullDigest(refRoot, norm);
  rmSync(refRoot, { recursive: true, force: true });
  assert.ok(
    !sameDigest(before, after),
    `${spec.label}: the command changed nothing visible, so the loop would prove nothing`,
  );

  const ctx = { before, after, afterFull };
  const result: KillLoopResult = {
    killPoints: 0,
    leftBefore: 0,
    leftAfter: 0,
    mixtures: [],
    unrecovered: [],
  };
  const max = spec.maxPoints ?? 200;
  let completed = false;
  for (let k = 0; k <= max && !completed; k++)
    completed = oneKill(spec, work, `step:${k}`, ctx, result) === "completed";
  assert.ok(completed, `${spec.label}: still being killed after ${max} step boundaries`);
  for (const point of namedPoints) {
    const family = /^(.*):\*$/.exec(point);
    if (family) {
      // `name:*`: name:0, name:1, … until the command completes (every point of a counted family).
      let done = false;
      for (let k = 0; k <= max && !done; k++)
        done = oneKill(spec, work, `${family[1] as string}:${k}`, ctx, result) === "completed";
      assert.ok(done, `${spec.label}: still being killed after ${max} ${point} points`);
      continue;
    }
    assert.equal(
      oneKill(spec, work, point, ctx, result),
      "killed",
      `${spec.label}: named crash point ${point} was never reached`,
    );
  }
  // Node's start-up takes most of a run; spread the kills over its second half and a little beyond.
  for (let i = 0; i < timedKills; i++) {
    const ms = Math.round(refMs * (0.5 + (0.7 * i) / Math.max(1, timedKills - 1)));
    oneKill(spec, work, `after:${ms}ms`, ctx, result);
  }
  return result;
}
