import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { COMMANDS } from "../../src/cli/index.js";
import { runCli, tempDir, treeDigest, type CliResult } from "../helpers/cli.js";
import { buildBaseTxz } from "../helpers/base-txz.js";

/**
 * `--json` on every command that declares it: stdout holds exactly one JSON
 * document, human text goes to stderr, and a refusal is the JSON error object.
 * The host is laid out through the CLI with --platform freebsd, so nothing
 * needs a kernel: under --root the FreeBSD backend prints what it would run.
 */
let base: { dir: string; cleanup: () => void };
let root: { dir: string; cleanup: () => void };
const g = () => ["--root", root.dir, "--platform", "freebsd"];

async function qjail(args: readonly string[]): Promise<CliResult> {
  return runCli([...args, ...g()]);
}

before(async () => {
  base = buildBaseTxz();
  root = tempDir(`qjail-json-${process.pid}-`);
  const steps = [
    ["install", "-f", base.dir],
    ["create", "-n", "lo1", "-4", "10.0.0.2", "ssh"],
    ["create", "-n", "lo1", "-4", "10.0.0.3", "www"],
    ["fw", "setup", "--write"],
    ["expose", "www", "tcp", "6188:80"],
    // An archived jail that is gone again, for restore to read.
    ["create", "-n", "lo1", "-4", "10.0.0.4", "old"],
    ["archive", "old"],
    ["delete", "old"],
  ];
  for (const s of steps) {
    const r = await qjail(s);
    assert.equal(r.code, 0, `${s.join(" ")}: ${r.stderr}`);
  }
  // `update -b` copies the host's binaries; give the relocated host some.
  for (const d of ["bin", "usr/bin"]) {
    mkdirSync(join(root.dir, d), { recursive: true });
    writeFileSync(join(root.dir, d, "true"), "host binary stand-in\n");
  }
  writeFileSync(
    join(root.dir, "admin-ipf.rules"),
    "pass in quick on em0 proto tcp from any to any port = 22 flags S keep state\n",
  );
  writeFileSync(
    join(root.dir, "spec.yml"),
    "version: 1\njails:\n  new: {ip4: 10.0.0.77, nic: lo1, state: stopped}\n",
  );
});

after(() => {
  root?.cleanup();
  base?.cleanup();
});

/** A read-only form of each command that declares `json: true`. */
const READ_ONLY_FORMS: Record<string, () => string[]> = {
  list: () => ["list"],
  start: () => ["start", "--dry-run", "www"],
  stop: () => ["stop", "--dry-run", "www"],
  restart: () => ["restart", "--dry-run", "www"],
  archive: () => ["archive", "--dry-run", "ssh"],
  restore: () => ["restore", "--dry-run", "old"],
  update: () => ["update", "--dry-run", "-b"],
  status: () => ["status"],
  doctor: () => ["doctor"],
  demo: () => ["demo", "--print"],
  expose: () => ["expose", "--dry-run", "ssh", "tcp", "6122:22"],
  unexpose: () => ["unexpose", "--dry-run", "www", "tcp", "6188"],
  ports: () => ["ports"],
  "fw setup": () => ["fw", "setup"],
  "fw sync": () => ["fw", "sync", "--dry-run"],
  "fw show": () => ["fw", "show", "--firewall", "all"],
  "fw trace": () => [
    "fw",
    "trace",
    "--if-addr",
    "em0=198.51.100.1",
    "tcp",
    "203.0.113.9:40000",
    "to",
    ":6188",
    "on",
    "em0",
  ],
  "fw lint": () => ["fw", "lint", join(root.dir, "admin-ipf.rules")],
  "boot install": () => ["boot", "install", "--dry-run"],
  apply: () => ["apply", "--check", "--diff", join(root.dir, "spec.yml")],
  export: () => ["export"],
};

test("every command that declares --json has a read-only form here", () => {
  const declared = COMMANDS.filter((c) => c.json)
    .map((c) => c.path.join(" "))
    .sort();
  assert.deepEqual(Object.keys(READ_ONLY_FORMS).sort(), declared);
});

test("--json: stdout is exactly one JSON document and the host is unchanged", async () => {
  const failures: string[] = [];
  for (const [name, form] of Object.entries(READ_ONLY_FORMS)) {
    const args = [...form(), "--json"];
    const beforeTree = treeDigest(root.dir);
    const r = await qjail(args);
    // doctor exits 1 when a finding is an error (no firewall tools here); still one document.
    const okCodes = name === "doctor" ? [0, 1] : [0];
    if (!okCodes.includes(r.code)) failures.push(`${args.join(" ")}: exit ${r.code}: ${r.stderr}`);
    let doc: unknown;
    try {
      doc = JSON.parse(r.stdout);
    } catch (e) {
      failures.push(
        `${args.join(" ")}: stdout is not one JSON document (${(e as Error).message}): ${r.stdout.slice(0, 200)}`,
      );
      continue;
    }
    if (typeof doc !== "object" || doc === null)
      failures.push(`${args.join(" ")}: the document is not an object`);
    else if ("error" in doc) failures.push(`${args.join(" ")}: an error document: ${r.stdout}`);
    assert.deepEqual(treeDigest(root.dir), beforeTree, `${args.join(" ")} changed the host`);
  }
  assert.deepEqual(failures, []);
});

test("--json sends the human text to stderr", async () => {
  const human = await qjail(["start", "--dry-run", "www"]);
  assert.equal(human.code, 0, human.stderr);
  assert.match(human.stdout, /jail -q -f \/usr\/local\/etc\/qjail\.config\/www -c/);
  const json = await qjail(["start", "--dry-run", "www", "--json"]);
  assert.match(json.stderr, /jail -q -f \/usr\/local\/etc\/qjail\.config\/www -c/);
  const doc = JSON.parse(json.stdout) as { command: string; jails: { name: string }[] };
  assert.equal(doc.command, "start");
  assert.deepEqual(
    doc.jails.map((j) => j.name),
    ["www"],
  );
});

test("a refusal under --json is the JSON error object on stdout, with the text on stderr", async () => {
  const cases: { args: string[]; code: string; value: string }[] = [
    { args: ["list", "-z", "../bad"], code: "QJ1015", value: '"../bad"' },
    { args: ["expose", "nosuchjail", "tcp", "6188:80"], code: "QJ3020", value: '"nosuchjail"' },
    { args: ["start", "--frobnicate"], code: "QJ1002", value: "--frobnicate" },
    { args: ["create", "x"], code: "QJ1004", value: "create" },
  ];
  for (const c of cases) {
    const beforeTree = treeDigest(root.dir);
    const r = await qjail([...c.args, "--json"]);
    assert.equal(r.code, 3, `${c.args.join(" ")}: ${r.stderr}`);
    const doc = JSON.parse(r.stdout) as { error: { code: string; message: string; hint: string | null } };
    assert.deepEqual(Object.keys(doc), ["error"]);
    assert.equal(doc.error.code, c.code, r.stdout);
    assert.ok(
      doc.error.message.includes(c.value),
      `${c.args.join(" ")}: message shows the value: ${doc.error.message}`,
    );
    assert.equal(typeof doc.error.hint, "string", `${c.args.join(" ")}: a hint says what to do`);
    assert.match(r.stderr, new RegExp(`^qjail: ${c.code}: `, "m"));
    assert.deepEqual(treeDigest(root.dir), beforeTree, `${c.args.join(" ")} changed the host`);
  }
});
