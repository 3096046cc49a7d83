import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { COMMANDS } from "../../src/cli/index.js";
import { runCli, REPO_ROOT } from "../helpers/cli.js";

test("every registered command has a summary, details, an example and a man page", () => {
  for (const c of COMMANDS) {
    const name = c.path.join(" ");
    assert.ok(c.summary.length > 10, `${name}: summary`);
    assert.ok(c.details.trim().length > 20, `${name}: details`);
    assert.ok(c.examples.length >= 1, `${name}: examples`);
    const page = join(REPO_ROOT, "man", `qjail-${c.path.join("-")}.8`);
    assert.ok(existsSync(page), `${name}: man page ${page}`);
  }
});

test("help text stays readable in a terminal: no description line wider than 100 columns (newcomer P13)", () => {
  const wide: string[] = [];
  for (const c of COMMANDS)
    for (const line of c.details.split("\n"))
      if (line.length > 100) wide.push(`${c.path.join(" ")}: ${line.length}: ${line.slice(0, 50)}…`);
  assert.deepEqual(wide, []);
});

test("command paths are unique", () => {
  const seen = new Set(COMMANDS.map((c) => c.path.join(" ")));
  assert.equal(seen.size, COMMANDS.length);
});

test("no arguments prints every syntax block and exits 3, like qjail", async () => {
  const r = await runCli([]);
  assert.equal(r.code, 3);
  assert.match(r.stderr, /qjail help/);
});

test("an unknown command is refused with the command list", async () => {
  const r = await runCli(["frobnicate"]);
  assert.equal(r.code, 3);
  assert.match(r.stderr, /unknown command "frobnicate"/);
});

test("--version prints the version", async () => {
  const r = await runCli(["--version"]);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /^qjail \d+\.\d+\.\d+\n$/);
});

test("a command without --json refuses it", async () => {
  const r = await runCli(["help", "--json"]);
  assert.equal(r.code, 3);
  assert.match(r.stderr, /QJ1004/);
});

test("a bare -> is a positional word, not an option (fw trace's friendly form)", async () => {
  const { parseInvocation, defineCommand } = await import("../../src/cli/command.js");
  const def = defineCommand({
    path: ["t"],
    summary: "test command for parsing",
    usage: ["t"],
    details: "parsing test only",
    examples: [],
    options: { flag: { type: "boolean", short: "f" } },
    json: false,
    run: async () => 0,
  });
  const ctx = {
    stdout: process.stdout,
    stderr: process.stderr,
    env: {},
    cwd: "/",
    now: () => new Date(),
    isTTY: false,
  };
  const r = parseInvocation(def, ["tcp", "1.2.3.4:5", "->", ":6188", "-f"], ctx);
  assert.deepEqual(r.positionals, ["tcp", "1.2.3.4:5", "->", ":6188"]);
  assert.equal(r.values.flag, true);
});
