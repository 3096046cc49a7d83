import { test, after } from "node:test";
import assert from "node:assert/strict";
import { runCli, tempDir, treeDigest } from "../helpers/cli.js";

/** What a FreeBSD admin types first, and the refusals they meet on the way. */
const root = tempDir(`qjail-newcomer-${process.pid}-`);
after(() => root.cleanup());

test("global options may come before the command, as admins write them", async () => {
  const before = await runCli(["--root", root.dir, "--platform", "freebsd", "list"]);
  const behind = await runCli(["list", "--root", root.dir, "--platform", "freebsd"]);
  assert.equal(before.code, 0, before.stderr);
  assert.equal(before.stdout, behind.stdout);
  assert.match(before.stdout, /^STA JID/m);
  const json = await runCli(["--json", "--root", root.dir, "--platform", "freebsd", "fw", "show"]);
  assert.equal(json.code, 0, json.stderr);
  assert.ok(JSON.parse(json.stdout));
});

test("qjail --help is qjail help", async () => {
  const r = await runCli(["--help"]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, (await runCli(["help"])).stdout);
  assert.match(r.stdout, /^ {2}expose {8}Forward a public port/m);
});

test("qjail help: commands by group with what each does, the global options, where to read more (P1)", async () => {
  const r = await runCli(["help"]);
  assert.equal(r.code, 0);
  const { COMMANDS } = await import("../../src/cli/index.js");
  const { HELP_GROUPS } = await import("../../src/cli/help.js");
  const grouped = HELP_GROUPS.flatMap((g) => g.commands);
  assert.deepEqual(
    [...grouped].sort(),
    COMMANDS.map((c) => c.path.join(" ")).sort(),
    "each command in one group",
  );
  assert.deepEqual(
    COMMANDS.map((c) => c.path.join(" ")),
    grouped,
    "COMMANDS is in help order",
  );
  for (const c of COMMANDS) assert.match(r.stdout, new RegExp(`^  ${c.path.join(" ")} +\\S`, "m"));
  for (const g of ["--root DIR", "--platform NAME", "--dry-run", "--json", "--version"])
    assert.ok(r.stdout.includes(`  ${g}`), g);
  assert.match(r.stdout, /Run 'qjail help COMMAND'/);
  assert.ok(
    r.stdout.split("\n").every((l) => l.length <= 85),
    "fits a terminal",
  );
  // The fw group in the order of the help, setup first.
  const fw = await runCli(["help", "fw"]);
  assert.match(fw.stdout, /^qjail fw setup[^]*^qjail fw sync[^]*^qjail fw watch/m);
});

test("dispatcher mistakes carry a code and say what was wrong (P2)", async () => {
  const cases: [string[], RegExp][] = [
    [["nosuch"], /^qjail: QJ1007: unknown command "nosuch"\n/],
    [["fw", "nosuch"], /^qjail: QJ1007: unknown fw subcommand "nosuch"\n {2}Subcommands: setup, sync/],
    [["--root"], /^qjail: QJ1002: option --root needs a value\n/],
    [["--bogus", "list"], /^qjail: QJ1002: unknown option "--bogus" before the command\n/],
  ];
  for (const [argv, re] of cases) {
    const r = await runCli(argv);
    assert.equal(r.code, 3, argv.join(" "));
    assert.match(r.stderr, re);
  }
  const h = await runCli(["-h", "create"]);
  assert.equal(h.code, 0);
  assert.equal(h.stdout, (await runCli(["help", "create"])).stdout);
});

test("the howto's 'create -4 -c ssh' is told the address went missing, not parseArgs' advice (C9)", async () => {
  const r = await runCli(["create", "-4", "-c", "ssh"]);
  assert.equal(r.code, 3);
  assert.match(
    r.stderr,
    /QJ1002: qjail create: option -4 \(--ipv4\) needs a value, but the next word "-c" is an option/,
  );
  assert.match(r.stderr, /Give the address: -4 10\.0\.0\.2/);
  assert.doesNotMatch(r.stderr, /ambiguous|-XYZ/);
});

test("a command group without its subcommand lists the subcommands", async () => {
  const r = await runCli(["fw"]);
  assert.equal(r.code, 3);
  assert.match(r.stderr, /"fw" needs a subcommand/);
  assert.match(r.stderr, /Subcommands: .*\bsync\b.*\blint\b/);
  const json = await runCli(["fw", "--json"]);
  const doc = JSON.parse(json.stdout) as { error: { code: string } };
  assert.equal(doc.error.code, "QJ1007");
  const help = await runCli(["help", "fw"]);
  assert.equal(help.code, 0, help.stderr);
  for (const sub of ["setup", "sync", "show", "lint", "trace", "watch"]) {
    assert.match(help.stdout, new RegExp(`^qjail fw ${sub}\\b`, "m"));
  }
});

test("option mistakes name the option and show the command's syntax", async () => {
  const unknown = await runCli(["create", "--bogus", "x"]);
  assert.equal(unknown.code, 3);
  assert.match(
    unknown.stderr,
    /QJ1002: qjail create: unknown option '--bogus'\n {2}Syntax: qjail create \[-z zone\]/,
  );
  assert.doesNotMatch(unknown.stderr, /positional argument/);
  const missing = await runCli(["create", "-n", "lo1", "x", "-4"]);
  assert.match(missing.stderr, /QJ1002: qjail create: option -4 \(--ipv4\) needs a value/);
  const value = await runCli(["fw", "setup", "--write=yes"]);
  assert.match(value.stderr, /QJ1002: qjail fw setup: option --write takes no value/);
});

test("commands that take no operands refuse them, showing each, and change nothing", async () => {
  for (const words of [["ports"], ["fw", "show"], ["fw", "sync"]]) {
    const beforeTree = treeDigest(root.dir);
    const r = await runCli([...words, "www", "--root", root.dir, "--platform", "freebsd"]);
    assert.equal(r.code, 3, `${words.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, new RegExp(`QJ3019: ${words.join(" ")} takes no arguments, got "www"`));
    assert.deepEqual(treeDigest(root.dir), beforeTree);
  }
});

test("a reader that goes away (qjail help | head -0) is no error: no EPIPE stack", async () => {
  const { spawn } = await import("node:child_process");
  const { qjailArgv } = await import("../helpers/cli.js");
  const [node, ...pre] = qjailArgv();
  const child = spawn(node as string, [...pre, "help"], { stdio: ["ignore", "pipe", "pipe"] });
  child.stdout.destroy(); // the read end closes before qjail writes
  let err = "";
  child.stderr.on("data", (d: Buffer) => (err += d.toString()));
  const code = await new Promise<number | null>((res) => child.on("close", (c) => res(c)));
  assert.equal(err, "");
  assert.equal(code, 0);
});
