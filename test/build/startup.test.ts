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
  // db runs: on Linux its state file names a live process (this test's, with its start time); on
  // FreeBSD, recorded `jls` output (QJAIL_JLS_JSON) says so.
  const stat = readFileSync("/proc/self/stat", "utf8");
  const starttime = stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
  mkdirSync(join(root, "var/db/qjail/run"), { recursive: true });
  writeFileSync(
    join(root, "var/db/qjail/run/db"),
    `jid=7\npid=${process.pid}\nstarttime=${starttime}\nnetns=qj-db\npath=/usr/jails/db\nip4=10.0.0.4\n`,
  );
  const jail = { jid: 9, hostname: "db", path: "/usr/jails/db", name: "db", state: "ACTIVE", cpusetid: 1 };
  writeFileSync(
    join(root, "jls.json"),
    JSON.stringify({
      __version: "2",
      "jail-information": { jail: [{ ...jail, ipv4_addrs: [], ipv6_addrs: [] }] },
    }),
  );
  return root;
}

/** bin/qjail.js as installed: what it printed, and which bundle it loaded (vm.Script's filename). */
function runBin(args: string[], dir: string, env: Record<string, string> = {}) {
  const seen = join(dir, "bundle.txt");
  const hook = join(dir, "which.cjs");
  writeFileSync(
    hook,
    `const vm = require("node:vm"); const S = vm.Script;
vm.Script = function (src, opts) { require("node:fs").writeFileSync(${JSON.stringify(seen)}, opts.filename); return new S(src, opts); };\n`,
  );
  writeFileSync(seen, "");
  const r = spawnSync(process.execPath, ["--require", hook, join(REPO_ROOT, "bin/qjail.js"), ...args], {
    encoding: "utf8",
    cwd: dir,
    env: { PATH: process.env.PATH, ...env },
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, bundle: readFileSync(seen, "utf8") };
}

/** The whole CLI, dist/qjail.cjs, run on each command line in one process (its `run` with captured streams). */
function runWhole(cases: string[][], dir: string, env: Record<string, string>) {
  const script = `
const { Writable } = require("node:stream");
const { run } = require(${JSON.stringify(join(REPO_ROOT, "dist/qjail.cjs"))});
(async () => {
  const out = [];
  for (const args of JSON.parse(process.argv[1])) {
    const text = { stdout: "", stderr: "" };
    const sink = (k) => new Writable({ write(c, _e, cb) { text[k] += String(c); cb(); } });
    const ctx = { stdout: sink("stdout"), stderr: sink("stderr"), env: process.env, cwd: process.cwd(),
      now: () => new Date(), isTTY: false, euid: process.geteuid() };
    out.push({ status: await run(args, ctx), ...text });
  }
  process.stdout.write(JSON.stringify(out));
})();`;
  const r = spawnSync(process.execPath, ["-e", script, JSON.stringify(cases)], {
    encoding: "utf8",
    cwd: dir,
    env: { PATH: process.env.PATH, ...env },
  });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as { status: number; stdout: string; stderr: string }[];
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
      ["list", "--root", root, "--platform", "freebsd", "--json", "db"],
      ["list", "--root", root, "--platform", "linux", "--json", "db"],
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
    const env = { QJAIL_JLS_JSON: join(root, "jls.json") };
    const cases = [...lean, ...whole];
    const expected = runWhole(cases, t.dir, env);
    cases.forEach((args, i) => {
      const viaBin = runBin(args, t.dir, env);
      const bundle = lean.includes(args) ? "qjail-list.cjs" : "qjail.cjs";
      assert.equal(viaBin.bundle, join(REPO_ROOT, "dist", bundle), `qjail ${args.join(" ")}`);
      assert.deepEqual(
        { status: viaBin.status, stdout: viaBin.stdout, stderr: viaBin.stderr },
        expected[i],
        `qjail ${args.join(" ")}`,
      );
    });
    // The cases above do reach list's output, running jails, warnings and refusals.
    const running = (platform: string) =>
      runBin(["list", "--root", root, "--platform", platform, "db"], t.dir, env).stdout;
    assert.match(running("linux"), /^DR {2}7 /m);
    assert.match(running("freebsd"), /^DR {2}9 /m);
    const listed = runBin(["list", "--root", root], t.dir);
    assert.match(listed.stdout, /\bdb\n[^]*\bweb1\n/);
    assert.match(listed.stderr, /web2\.norun: line 2: not a key="value" line/);
    assert.match(runBin(["list", "--root", root, "nosuch"], t.dir).stderr, /QJ\d{4}/);
  } finally {
    t.cleanup();
  }
});
