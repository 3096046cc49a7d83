/**
 * Where rules are only written (--root, nothing loaded), firewall.written
 * records what qjail's rule files were rendered from; a change that leaves
 * the firewall model alone does not render them again, and anything that
 * makes a render necessary (another model, a file changed by hand, a plan
 * that writes the file) still renders.
 */
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readFileSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { hostLayout, physical } from "../../src/core/paths.js";
import { writtenRulesPath } from "../../src/store/exposures.js";
import { runCli, tempDir } from "../helpers/cli.js";
import { createJails, installHost, releaseBase } from "../reliability/helpers/host.js";

const tmp = tempDir(`qjail-written-${process.pid}-`);
after(() => {
  tmp.cleanup();
  releaseBase();
});
const FREEBSD = ["--platform", "freebsd"];

async function ok(root: string, args: string[]): Promise<string> {
  const [cmd, ...rest] = args;
  const r = await runCli([cmd as string, "--root", root, ...FREEBSD, ...rest]);
  assert.equal(r.code, 0, `${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

/** Set the rule files' mtimes to a fixed past time, so a rewrite shows. */
function age(root: string): void {
  for (const f of ["/etc/ipf.rules", "/etc/ipnat.rules"]) utimesSync(physical(root, f), 1_000_000, 1_000_000);
}
const rewritten = (root: string, f: string): boolean => statSync(physical(root, f)).mtimeMs !== 1_000_000_000;

test("a change that leaves the firewall model alone writes the rule files only when they are not already what it would write", async () => {
  const root = join(tmp.dir, "host");
  mkdirSync(root, { recursive: true });
  await installHost(root);
  await createJails(root, [["www", "10.0.0.3"]]);
  await ok(root, ["expose", "www", "tcp", "6188:80", "--no-load"]);
  const record = physical(root, writtenRulesPath(hostLayout()));
  assert.ok(existsSync(record), "expose --no-load records what it wrote");
  const files = Object.keys((JSON.parse(readFileSync(record, "utf8")) as { files: object }).files).sort();
  assert.deepEqual(files, ["/etc/ipf.rules", "/etc/ipnat.rules"]);

  // A new jail with no exposure: same model, files as written -> no render.
  age(root);
  await ok(root, ["create", "-n", "lo1", "-4", "10.0.0.4", "mail"]);
  assert.equal(rewritten(root, "/etc/ipnat.rules"), false, "create rewrote an unchanged ipnat.rules");
  assert.equal(rewritten(root, "/etc/ipf.rules"), false, "create rewrote an unchanged ipf.rules");

  // ipnat.rules changed by hand: the next change renders again and puts qjail's section back.
  const nat = physical(root, "/etc/ipnat.rules");
  const before = readFileSync(nat, "utf8");
  const qjailLine = before.split("\n").find((l) => l.includes("10.0.0.3")) as string;
  assert.ok(qjailLine, before);
  const edited = before.replace(`${qjailLine}\n`, "");
  writeFileSync(nat, edited);
  age(root);
  await ok(root, ["create", "-n", "lo1", "-4", "10.0.0.5", "mail2"]);
  assert.equal(readFileSync(nat, "utf8"), before, "the hand-removed forward was not rendered back");

  // Deleting the exposed jail changes the model: its forward goes.
  age(root);
  await ok(root, ["delete", "www"]);
  assert.equal(rewritten(root, "/etc/ipnat.rules"), true);
  assert.doesNotMatch(readFileSync(nat, "utf8"), /10\.0\.0\.3/, "a deleted jail's forward outlived it");
});
