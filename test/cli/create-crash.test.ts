import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { cpSync, lstatSync, rmSync } from "node:fs";
import { join } from "node:path";
import { qjailArgv, runCli, tempDir } from "../helpers/cli.js";
import { buildBaseTxz } from "../helpers/base-txz.js";

/**
 * Kill qjail (SIGKILL, QJAIL_CRASH_AT=step:K) at every step boundary of a
 * create and of a delete: a jail is never left half-visible, meaning that
 * whenever its record exists, its tree, fstab and jail.conf block are complete.
 */
let base: { dir: string; cleanup: () => void };
let seed: { dir: string; cleanup: () => void };
const roots: { dir: string; cleanup: () => void }[] = [];
before(async () => {
  base = buildBaseTxz();
  seed = tempDir(`qjail-crash-seed-${process.pid}-`);
  const r = await runCli(["install", "--root", seed.dir, "--platform", "freebsd", "-f", base.dir]);
  assert.equal(r.code, 0, r.stderr);
  const c = await runCli([
    "create",
    "--root",
    seed.dir,
    "--platform",
    "freebsd",
    "-n",
    "lo1",
    "-4",
    "10.0.0.5",
    "old",
  ]);
  assert.equal(c.code, 0, c.stderr);
});
after(() => {
  for (const r of roots) r.cleanup();
  seed?.cleanup();
  base?.cleanup();
});

/** A fresh copy of the seed host (each crash leaves a stale lock behind, so each run gets its own root). */
function freshRoot(): string {
  const t = tempDir(`qjail-crash-${process.pid}-`);
  roots.push(t);
  cpSync(seed.dir, t.dir, { recursive: true, verbatimSymlinks: true });
  return t.dir;
}

function qjailKilledAtPoint(root: string, point: string, args: string[]): { killed: boolean } {
  const [cmd, ...pre] = qjailArgv();
  const r = spawnSync(
    cmd as string,
    [...pre, ...args.slice(0, 1), "--root", root, "--platform", "freebsd", ...args.slice(1)],
    {
      env: { ...process.env, QJAIL_CRASH_AT: point },
      encoding: "utf8",
    },
  );
  return { killed: r.signal === "SIGKILL" };
}

const qjailKilledAt = (root: string, k: number, args: string[]): { killed: boolean } =>
  qjailKilledAtPoint(root, `step:${k}`, args);

function assertWholeOrInvisible(root: string, name: string, label: string): "whole" | "invisible" {
  // lstat: bin is an absolute link (/sharedfs/bin) that only resolves inside the jail.
  const at = (p: string): boolean => lstatSync(join(root, p), { throwIfNoEntry: false }) !== undefined;
  const local = at(`usr/local/etc/qjail.local/${name}`);
  const global = at(`usr/local/etc/qjail.global/${name}`);
  if (!local && !global) return "invisible";
  for (const p of [
    `usr/jails/${name}/etc/rc.conf`,
    `usr/jails/${name}/bin`,
    `usr/local/etc/qjail.fstab/${name}`,
    `usr/local/etc/qjail.config/${name}`,
  ]) {
    assert.ok(at(p), `${label}: record present but ${p} is missing`);
  }
  return "whole";
}

test("create killed at every step boundary never leaves a record without its jail, and running it again finishes it", async () => {
  const seen = new Set<string>();
  for (let k = 0; ; k++) {
    const root = freshRoot();
    const { killed } = qjailKilledAt(root, k, ["create", "-n", "lo1", "-4", "10.0.0.9", "www"]);
    const state = assertWholeOrInvisible(root, "www", `create killed at step ${k}`);
    seen.add(state);
    if (killed && state === "invisible") {
      // As a reboot clears /var/run: the killed process's lock would otherwise hold for 10 s.
      rmSync(join(root, "var/run/qjail.lock.lock"), { recursive: true, force: true });
      const again = await runCli([
        "create",
        "--root",
        root,
        "--platform",
        "freebsd",
        "-n",
        "lo1",
        "-4",
        "10.0.0.9",
        "www",
      ]);
      assert.equal(again.code, 0, `re-run after a kill at step ${k}: ${again.stderr}`);
      assert.equal(assertWholeOrInvisible(root, "www", `re-run after step ${k}`), "whole");
      assert.equal(
        lstatSync(join(root, "var/db/qjail/creating/www"), { throwIfNoEntry: false }),
        undefined,
        "the marker goes with the commit",
      );
    }
    rmSync(root, { recursive: true, force: true });
    if (!killed) break;
    assert.ok(k < 50, "the plan ends");
  }
  assert.deepEqual([...seen].sort(), ["invisible", "whole"]);
});

test("delete killed at every step boundary never leaves a record without its tree", () => {
  for (let k = 0; ; k++) {
    const root = freshRoot();
    const { killed } = qjailKilledAt(root, k, ["delete", "old"]);
    const state = assertWholeOrInvisible(root, "old", `delete killed at step ${k}`);
    if (!killed) assert.equal(state, "invisible");
    rmSync(root, { recursive: true, force: true });
    if (!killed) break;
    assert.ok(k < 50, "the plan ends");
  }
});

test("a delete killed after its records went is finished by naming the jail again", async () => {
  const root = freshRoot();
  const { killed } = qjailKilledAtPoint(root, "delete-tree:0", ["delete", "old"]);
  assert.ok(killed);
  assert.equal(assertWholeOrInvisible(root, "old", "after the kill"), "invisible");
  assert.ok(lstatSync(join(root, "usr/jails/old"), { throwIfNoEntry: false }), "the tree is still there");
  const r = await runCli(["delete", "--root", root, "--platform", "freebsd", "old"]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, "Removed the leftovers of an interrupted delete  old\n");
  for (const p of ["usr/jails/old", "usr/local/etc/qjail.fstab/old", "usr/local/etc/qjail.config/old"])
    assert.equal(lstatSync(join(root, p), { throwIfNoEntry: false }), undefined, p);
  const again = await runCli(["delete", "--root", root, "--platform", "freebsd", "old"]);
  assert.equal(again.code, 3);
  assert.match(again.stderr, /QJ1115: Jail doesn't exist. "old"/);
});

test("a rename killed after moving the tree is finished by running it again", async () => {
  const root = freshRoot();
  const { killed } = qjailKilledAtPoint(root, "step:1", ["config", "-n", "new", "old"]);
  assert.ok(killed);
  assert.ok(
    lstatSync(join(root, "usr/jails/new"), { throwIfNoEntry: false }) &&
      !lstatSync(join(root, "usr/jails/old"), { throwIfNoEntry: false }),
  );
  assert.equal(assertWholeOrInvisible(root, "new", "after the kill"), "invisible");
  const r = await runCli(["config", "--root", root, "--platform", "freebsd", "-n", "new", "old"]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(assertWholeOrInvisible(root, "new", "after the re-run"), "whole");
  assert.equal(assertWholeOrInvisible(root, "old", "after the re-run"), "invisible");
});
