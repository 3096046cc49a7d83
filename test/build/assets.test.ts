import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { binPath, packageRoot, qjailCommand, runningFromSources, shareDir } from "../../src/assets.js";
import { REPO_ROOT, qjailArgv, runCli, tempDir } from "../helpers/cli.js";
import { buildBaseTxz } from "../helpers/base-txz.js";

test("packageRoot is the repository, found by its package.json, from src/ or dist/src/", () => {
  assert.equal(packageRoot(), REPO_ROOT);
  const manifest = JSON.parse(readFileSync(join(packageRoot(), "package.json"), "utf8")) as { name: string };
  assert.equal(manifest.name, "qjail");
});

test("shareDir holds the stock flavors and the Linux helpers; binPath is the entry point", () => {
  assert.ok(existsSync(join(shareDir(), "flavors", "default")));
  assert.ok(existsSync(join(shareDir(), "linux", "jail-init.sh")));
  assert.equal(binPath(), join(REPO_ROOT, "bin", "qjail.js"));
});

test("qjailCommand runs the same build this code runs from", () => {
  const argv = qjailCommand();
  assert.equal(argv[0], process.execPath);
  if (runningFromSources())
    assert.deepEqual(argv.slice(1), ["--import", "tsx", join(REPO_ROOT, "src/cli/entry-dev.ts")]);
  else assert.deepEqual(argv.slice(1), [binPath()]);
});

test("the spawned binary prints its version and finds share/ from wherever its code lives", () => {
  const [node, ...pre] = qjailArgv();
  const version = spawnSync(node as string, [...pre, "--version"], { encoding: "utf8" });
  assert.equal(version.status, 0, version.stderr);
  assert.match(version.stdout, /^qjail \d+\.\d+\.\d+\n$/);

  const root = tempDir(`qjail-assets-${process.pid}-`);
  const base = buildBaseTxz();
  try {
    // FreeBSD's install writes the stock flavors from share/flavors; a wrong share/ path fails it.
    const args = ["install", "--root", root.dir, "--platform", "freebsd", "-f", base.dir];
    const r = spawnSync(node as string, [...pre, ...args], {
      encoding: "utf8",
      env: { PATH: process.env.PATH },
    });
    assert.equal(r.status, 0, r.stderr);
    const installed = join(root.dir, "usr/jails/flavors/ssh-default/etc/ssh/sshd_config");
    const shipped = join(shareDir(), "flavors/ssh-default/etc/ssh/sshd_config");
    assert.equal(readFileSync(installed, "utf8"), readFileSync(shipped, "utf8"));
  } finally {
    root.cleanup();
    base.cleanup();
  }
});

test("the spawned binary prints the same help as the CLI run in-process", async () => {
  const [node, ...pre] = qjailArgv();
  const child = spawnSync(node as string, [...pre, "help", "create"], { encoding: "utf8" });
  const inProcess = await runCli(["help", "create"]);
  assert.equal(child.status, inProcess.code);
  assert.equal(child.stdout, inProcess.stdout);
  assert.match(child.stdout, /create/);
});
