/**
 * B6: qjail run by any user but root. Every command that changes the host
 * refuses first, as qjail 5.x did ("qjail must be run by root.", exit 2),
 * and changes nothing; read-only commands and --dry-run still work.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmodSync } from "node:fs";
import { COMMANDS } from "../../src/cli/index.js";
import { qjailArgv, runCli, tempDir, treeDigest } from "../helpers/cli.js";
import { buildBaseTxz } from "../helpers/base-txz.js";

const NOBODY = 65534;
const t = tempDir(`qjail-nonroot-${process.pid}-`);
const g = ["--root", t.dir, "--platform", "freebsd"];

before(async () => {
  const base = buildBaseTxz();
  try {
    for (const args of [
      ["install", "-f", base.dir],
      ["create", "-n", "em0", "-4", "10.0.0.2", "ssh"],
      ["expose", "ssh", "tcp", "6122:22"],
    ]) {
      const r = await runCli([...args, ...g]);
      assert.equal(r.code, 0, r.stderr);
    }
  } finally {
    base.cleanup();
  }
});
after(() => t.cleanup());

/** One use of each command that changes the host. */
const MUTATING: string[][] = [
  ["install", "-f", "/nonexistent"],
  ["create", "-n", "em0", "-4", "10.0.0.3", "www"],
  ["delete", "ssh"],
  ["config", "-k", "ssh"],
  ["start", "ssh"],
  ["stop", "ssh"],
  ["restart", "ssh"],
  ["console", "ssh"],
  ["archive", "ssh"],
  ["restore", "ssh"],
  ["update", "-l", "on"],
  ["expose", "ssh", "tcp", "6123:23"],
  ["unexpose", "ssh", "tcp", "6122"],
  ["fw", "setup", "--write"],
  ["fw", "sync"],
  ["fw", "watch", "--once"],
  ["doctor", "--repair"],
  ["boot", "install"],
  ["boot", "start"],
  ["boot", "stop"],
  ["apply", "/nonexistent/spec.yml"],
];

/** Commands that never change the host, and so run as any user. */
const READ_ONLY = [
  "help",
  "list",
  "status",
  "ports",
  "fw show",
  "fw lint",
  "fw trace",
  "fw ipftest",
  "demo",
  "export",
];

test("every command either declares that it changes the host or is known to be read-only", () => {
  const undeclared = COMMANDS.filter((c) => c.mutates === undefined).map((c) => c.path.join(" "));
  assert.deepEqual(undeclared.sort(), [...READ_ONLY].sort());
  const covered = new Set(MUTATING.map((a) => (a[0] === "fw" || a[0] === "boot" ? `${a[0]} ${a[1]}` : a[0])));
  for (const c of COMMANDS)
    if (c.mutates !== undefined)
      assert.ok(covered.has(c.path.join(" ")), `${c.path.join(" ")} is tried below`);
});

test("as a user other than root, each host-changing command says 'qjail must be run by root.', exits 2, changes nothing", async () => {
  const before = treeDigest(t.dir);
  for (const args of MUTATING) {
    const r = await runCli([...args, ...g], { euid: NOBODY });
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.match(
      r.stderr,
      /^qjail: QJ1008: qjail must be run by root\.\n {2}'qjail [a-z ]+' changes the host: run it as root/,
    );
    assert.equal(r.stdout, "", args.join(" "));
  }
  assert.deepEqual(treeDigest(t.dir), before);
});

test("as a user other than root, read-only commands, config -d, doctor and --dry-run still work", async () => {
  const before = treeDigest(t.dir);
  for (const args of [
    ["list"],
    ["status"],
    ["ports"],
    ["config", "-d", "ssh"],
    ["fw", "show"],
    ["help", "create"],
  ]) {
    const r = await runCli([...args, ...g], { euid: NOBODY });
    assert.equal(r.code, 0, `${args.join(" ")}: ${r.stderr}`);
  }
  const doctor = await runCli(["doctor", ...g], { euid: NOBODY });
  assert.doesNotMatch(doctor.stderr, /QJ1008/);
  const dry = await runCli(["create", "--dry-run", "-n", "em0", "-4", "10.0.0.3", "www", ...g], {
    euid: NOBODY,
  });
  assert.equal(dry.code, 0, dry.stderr);
  assert.match(dry.stdout, /write \/usr\/local\/etc\/qjail\.local\/www/);
  assert.deepEqual(treeDigest(t.dir), before);
});

test("--json: the refusal is a JSON error with code QJ1008", async () => {
  const r = await runCli(["expose", "ssh", "tcp", "7000:70", "--json", ...g], { euid: NOBODY });
  assert.equal(r.code, 2);
  const doc = JSON.parse(r.stdout) as { error: { code: string; message: string } };
  assert.equal(doc.error.code, "QJ1008");
  assert.equal(doc.error.message, "qjail must be run by root.");
});

test("the real binary run by nobody (setpriv): create is refused with exit 2, not reported as a bug", () => {
  const has = spawnSync("setpriv", ["--version"]).status === 0;
  if (!has) return;
  chmodSync(t.dir, 0o755);
  const before = treeDigest(t.dir);
  const [node, ...pre] = qjailArgv();
  const r = spawnSync(
    "setpriv",
    [
      "--reuid",
      String(NOBODY),
      "--regid",
      String(NOBODY),
      "--clear-groups",
      node as string,
      ...pre,
      "create",
      ...g,
      "-n",
      "em0",
      "-4",
      "10.0.0.77",
      "nonroot",
    ],
    { encoding: "utf8", env: { PATH: process.env.PATH } },
  );
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /qjail must be run by root\./);
  assert.doesNotMatch(r.stderr, /bug in qjail/);
  assert.deepEqual(treeDigest(t.dir), before);
});
