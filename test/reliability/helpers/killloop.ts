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
import { physical } from "../../../src/core/paths.js";
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
}

export interface KillLoopResult {
  /** Kill points the command was actually killed at. */
  killPoints: number;
  /** How many of them left the before state, and how many the after state. */
  leftBefore: number;
  leftAfter: number;
}

/** Files that are not state: the host lock (proper-lockfile's lock directory and its target). */
const NOT_STATE = /^var\/run\/qjail\.lock/;

export function stateDigest(root: string, logicalDirs: readonly string[], normalize?: (d: Digest) => Digest): Digest {
  const out: Digest = new Map();
  for (const dir of logicalDirs) {
    const abs = physical(root, dir);
    const rel = dir.replace(/^\//, "");
    if (!existsSync(abs)) continue;
    for (const [k, v] of treeDigest(abs)) out.set(`${rel}/${k}`, v);
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
  return [...keys].filter((k) => a.get(k) !== b.get(k)).sort().slice(0, 20);
}

export function runQjail(argv: readonly string[], env: Record<string, string> = {}): ChildRun {
  return runSync([...qjailArgv(), ...argv], env);
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

export function killLoop(spec: KillLoopSpec, work: string): KillLoopResult {
  const norm = spec.normalize;
  const env = spec.env ?? {};
  const before = stateDigest(spec.template, spec.visible, norm);

  // The reference after state: the command run once without faults.
  const refRoot = join(work, `${spec.label}-ref`);
  freshCopy(spec.template, refRoot);
  const ref = runQjail(spec.argv(refRoot), env);
  assert.equal(ref.code, 0, `${spec.label}: the command must succeed without faults:\n${ref.stderr}`);
  const after = stateDigest(refRoot, spec.visible, norm);
  const afterFull = fullDigest(refRoot, norm);
  assert.ok(!sameDigest(before, after), `${spec.label}: the command changed nothing visible, so the loop would prove nothing`);

  const result: KillLoopResult = { killPoints: 0, leftBefore: 0, leftAfter: 0 };
  const max = spec.maxPoints ?? 200;
  for (let k = 0; k <= max; k++) {
    const root = join(work, `${spec.label}-k${k}`);
    freshCopy(spec.template, root);
    const r = runQjail(spec.argv(root), { ...env, QJAIL_CRASH_AT: `step:${k}` });
    if (!killed(r)) {
      assert.equal(r.code, 0, `${spec.label} step:${k}: not killed, so it must complete:\n${r.stderr}`);
      assert.deepEqual(digestDiff(fullDigest(root, norm), afterFull), [], `${spec.label}: an uninterrupted run ends in the after state`);
      rmSync(root, { recursive: true, force: true });
      break;
    }
    result.killPoints++;
    const seen = stateDigest(root, spec.visible, norm);
    const isBefore = sameDigest(seen, before);
    const isAfter = sameDigest(seen, after);
    assert.ok(
      isBefore || isAfter,
      `${spec.label} killed at step:${k}: visible state is a mixture.\n  differs from before: ${digestDiff(seen, before).join(", ")}\n  differs from after: ${digestDiff(seen, after).join(", ")}`,
    );
    if (isBefore) result.leftBefore++;
    else result.leftAfter++;
    clearRunDir(root);
    // The next command completes the work (or finds it done) and leaves exactly the after state.
    const again = runQjail(isBefore ? (spec.recover ?? spec.argv)(root) : spec.argv(root), env);
    if (isBefore) assert.equal(again.code, 0, `${spec.label} step:${k}: re-running after a kill that left the before state must succeed:\n${again.stderr}`);
    else assert.ok(again.code === 0 || again.code === 3, `${spec.label} step:${k}: re-running on the after state exits 0 or refuses cleanly (3), got ${again.code}:\n${again.stderr}`);
    assert.deepEqual(
      digestDiff(fullDigest(root, norm), afterFull),
      [],
      `${spec.label} killed at step:${k}, then re-run: the whole root must be exactly the after state (a half-made tree must be cleaned or completed)`,
    );
    rmSync(root, { recursive: true, force: true });
    if (k === max) assert.fail(`${spec.label}: still being killed after ${max} points`);
  }
  rmSync(refRoot, { recursive: true, force: true });
  return result;
}
