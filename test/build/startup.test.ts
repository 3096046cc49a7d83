/**
 * What keeps the installed qjail fast to start (bench/installed.bench.ts
 * measures it; this pins the structure, not a time): `--version` never loads
 * the bundle; `list` runs its own lean bundle (dist/qjail-list.cjs) and
 * answers exactly as the whole CLI (dist/qjail.cjs) does; and `list` loads
 * none of node's heavier modules (https, zlib, crypto, child_process,
 * fs/promises …), which scripts/bundle.mjs makes load on first use, nor its
 * stream modules when its output goes to a file.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { closeSync, mkdirSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { REPO_ROOT, tempDir } from "../helpers/cli.js";
import { buildBaseTxz } from "../helpers/base-txz.js";
import { emptyRecord, formatRecord } from "../../src/core/record.js";

/**
 * The node modules a run of bin/qjail.js loaded, from process.moduleLoadList at exit.
 * `stdoutFile`: stdout goes to that file instead of a pipe.
 */
function modulesLoaded(
  args: string[],
  dir: string,
  stdoutFile?: string,
): { status: number | null; modules: Set<string>; stdout: string } {
  const hook = join(dir, "hook.cjs");
  const out = join(dir, "modules.json");
  writeFileSync(
    hook,
    `process.on("exit", () => require("node:fs").writeFileSync(${JSON.stringify(out)}, JSON.stringify(process.moduleLoadList)));\n`,
  );
  const fd = stdoutFile === undefined ? undefined : openSync(stdoutFile, "w");
  const r = spawnSync(process.execPath, ["--require", hook, join(REPO_ROOT, "bin/qjail.js"), ...args], {
    encoding: "utf8",
    env: { PATH: process.env.PATH },
    stdio: ["ignore", fd ?? "pipe", "pipe"],
  });
  if (fd !== undefined) closeSync(fd);
  const list = JSON.parse(readFileSync(out, "utf8")) as string[];
  return {
    status: r.status,
    stdout: fd === undefined ? r.stdout : readFileSync(stdoutFile as string, "utf8"),
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

test("list to a file or terminal writes without node's stream modules; through a pipe it uses them", () => {
  const t = tempDir(`qjail-startup-${process.pid}-`);
  try {
    const root = jailTree(t.dir, false);
    const file = modulesLoaded(["list", "--root", root], t.dir, join(t.dir, "out.txt"));
    assert.equal(file.status, 0);
    assert.match(file.stdout, /^ \n\nSTA JID {2}NIC IP {14}Jailname\n/);
    assert.match(file.stdout, /\bweb1\n/);
    assert.equal(file.modules.has("stream"), false, "stdout to a file: written with fs.writeSync");
    const pipe = modulesLoaded(["list", "--root", root], t.dir);
    assert.equal(pipe.status, 0);
    assert.equal(pipe.stdout, file.stdout);
    assert.ok(pipe.modules.has("stream"), "stdout to a pipe: node's own stream");
  } finally {
    t.cleanup();
  }
});

/** A root with a few jails (one record damaged unless `damaged` is false: list warns on stderr about it). */
function jailTree(dir: string, damaged = true): string {
  const root = join(dir, "root");
  for (const d of ["usr/local/etc/qjail.local", "usr/local/etc/qjail.global", "usr/jails/sharedfs"])
    mkdirSync(join(root, d), { recursive: true });
  ["web1", "web2", "db"].forEach((name, i) => {
    const rec = {
      ...emptyRecord(),
      name,
      ip4: `10.0.0.${i + 2}`,
      interface: "lo1",
      path: `/usr/jails/${name}`,
    };
    for (const d of ["usr/local/etc/qjail.local", "usr/local/etc/qjail.global"])
      writeFileSync(join(root, d, name), formatRecord(rec));
  });
  if (damaged) writeFileSync(join(root, "usr/local/etc/qjail.local/web2.norun"), 'name="web2"\nbogus line\n');
  return root;
}

/** bin/qjail.js as installed (which bundle it loaded, from vm.Script's filename), or dist/qjail.cjs run directly. */
function runEntry(how: "bin" | "whole", args: string[], dir: string) {
  const seen = join(dir, "bundle.txt");
  const hook = join(dir, "which.cjs");
  writeFileSync(
    hook,
    `const vm = require("node:vm"); const S = vm.Script;
vm.Script = function (src, opts) { require("node:fs").writeFileSync(${JSON.stringify(seen)}, opts.filename); return new S(src, opts); };\n`,
  );
  writeFileSync(seen, "");
  const argv =
    how === "bin"
      ? ["--require", hook, join(REPO_ROOT, "bin/qjail.js"), ...args]
      : [
          "-e",
          `require(${JSON.stringify(join(REPO_ROOT, "dist/qjail.cjs"))}).main(process.argv.slice(1)).then((c) => { process.exitCode = c; });`,
          "--",
          ...args,
        ];
  const r = spawnSync(process.execPath, argv, {
    encoding: "utf8",
    cwd: dir,
    env: { PATH: process.env.PATH },
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, bundle: readFileSync(seen, "utf8") };
}

test("bin/qjail.js runs list from dist/qjail-list.cjs, which answers exactly as the whole CLI", () => {
  const t = tempDir(`qjail-startup-${process.pid}-`);
  try {
    const root = jailTree(t.dir);
    const empty = join(t.dir, "empty");
    mkdirSync(empty);
    const lean: string[][] = [
      ["list", "--root", root],
      ["--root", root, "list"],
      [`--root=${root}`, "--json", "list"],
      ["--dry-run", "--root", root, "list", "web="],
      ["list", "--root", root, "--json"],
      ["list", "--root", root, "db", "web1"],
      ["list", "--root", root, "nosuch"],
      ["list", "--root", root, "--json", "=web"],
      ["list", "--root", root, "-z", "lab"],
      ["list", "--root", root, "--platform", "freebsd"],
      ["list", "--root", root, "--platform", "solaris"],
      ["list", "--root", root, "--bogus"],
      ["list", "--root", "relative/path"],
      ["list", "--root", empty],
      ["list", "--help"],
      ["--json", "list", "-h"],
    ];
    // Command lines that are not list's, however they start: the whole CLI's.
    const whole: string[][] = [
      ["--root", "list"],
      ["--root", root, "--platform", "list"],
      ["help", "list"],
      ["lists"],
      ["--json"],
    ];
    for (const args of [...lean, ...whole]) {
      const viaBin = runEntry("bin", args, t.dir);
      const direct = runEntry("whole", args, t.dir);
      const expected = lean.includes(args) ? "qjail-list.cjs" : "qjail.cjs";
      assert.equal(viaBin.bundle, join(REPO_ROOT, "dist", expected), `qjail ${args.join(" ")}`);
      assert.deepEqual(
        { status: viaBin.status, stdout: viaBin.stdout, stderr: viaBin.stderr },
        { status: direct.status, stdout: direct.stdout, stderr: direct.stderr },
        `qjail ${args.join(" ")}`,
      );
    }
    // The cases above do reach list's output, warnings and refusals.
    const listed = runEntry("bin", ["list", "--root", root], t.dir);
    assert.match(listed.stdout, /\bdb\n[^]*\bweb1\n/);
    assert.match(listed.stderr, /web2\.norun: line 2: not a key="value" line/);
    assert.match(runEntry("bin", ["list", "--root", root, "nosuch"], t.dir).stderr, /QJ\d{4}/);
  } finally {
    t.cleanup();
  }
});
