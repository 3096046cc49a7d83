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
  assert.match(r.stdout, /^qjail expose /m);
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
