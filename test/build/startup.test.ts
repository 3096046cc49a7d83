/**
 * What keeps the installed qjail fast to start (bench/installed.bench.ts
 * measures it; this pins the structure, not a time): `--version` never loads
 * the bundle, and `list` loads none of node's heavier modules (https, zlib,
 * crypto, child_process, fs/promises …), which scripts/bundle.mjs makes load
 * on first use.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { REPO_ROOT, tempDir } from "../helpers/cli.js";
import { buildBaseTxz } from "../helpers/base-txz.js";

/** The node modules a run of bin/qjail.js loaded, from process.moduleLoadList at exit. */
function modulesLoaded(
  args: string[],
  dir: string,
): { status: number | null; modules: Set<string>; stdout: string } {
  const hook = join(dir, "hook.cjs");
  const out = join(dir, "modules.json");
  writeFileSync(
    hook,
    `process.on("exit", () => require("node:fs").writeFileSync(${JSON.stringify(out)}, JSON.stringify(process.moduleLoadList)));\n`,
  );
  const r = spawnSync(process.execPath, ["--require", hook, join(REPO_ROOT, "bin/qjail.js"), ...args], {
    encoding: "utf8",
    env: { PATH: process.env.PATH },
  });
  const list = JSON.parse(readFileSync(out, "utf8")) as string[];
  return {
    status: r.status,
    stdout: r.stdout,
    modules: new Set(list.filter((m) => m.startsWith("NativeModule ")).map((m) => m.slice(13))),
  };
}

test("qjail --version answers from package.json without loading the bundle", () => {
  const t = tempDir(`qjail-startup-${process.pid}-`);
  try {
    const r = modulesLoaded(["--version"], t.dir);
    assert.equal(r.status, 0);
    assert.match(r.stdout, /^qjail \d+\.\d+\.\d+\n$/);
    assert.equal(r.modules.has("vm"), false, "the bundle runs through vm; --version must not");
  } finally {
    t.cleanup();
  }
});

test("qjail list loads none of the modules it does not use; a command that needs one still gets it", () => {
  const t = tempDir(`qjail-startup-${process.pid}-`);
  try {
    const r = modulesLoaded(["list", "--root", t.dir], t.dir);
    assert.equal(r.status, 0);
    assert.ok(r.modules.has("vm"), "the bundle was loaded");
    for (const m of ["https", "http", "zlib", "crypto", "child_process", "fs/promises", "readline", "tls"])
      assert.equal(r.modules.has(m), false, `list loaded ${m}`);
    // install runs tar through child_process: loaded on first use, and it works
    const base = buildBaseTxz();
    try {
      const install = modulesLoaded(
        ["install", "--root", t.dir, "--platform", "freebsd", "-f", base.dir],
        t.dir,
      );
      assert.equal(install.status, 0);
      assert.ok(install.modules.has("child_process"));
    } finally {
      base.cleanup();
    }
  } finally {
    t.cleanup();
  }
});
