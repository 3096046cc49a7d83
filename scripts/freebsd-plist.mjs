#!/usr/bin/env node
// Prints packaging/freebsd/pkg-plist for the package `npm pack` makes from
// this checkout:  node scripts/freebsd-plist.mjs > packaging/freebsd/pkg-plist
// (test/build/package.test.ts checks the committed file against a real
// `npm i -g` of the tarball).
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const repo = join(dirname(fileURLToPath(import.meta.url)), "..");
const r = spawnSync("npm", ["pack", "--dry-run", "--json", "--ignore-scripts"], {
  cwd: repo,
  encoding: "utf8",
});
if (r.status !== 0) {
  process.stderr.write(r.stderr);
  process.exit(1);
}
// The port leaves out the prebuilt Linux helpers (packaging/freebsd/Makefile).
const files = JSON.parse(r.stdout)[0]
  .files.map((f) => f.path)
  .filter((p) => !p.startsWith("share/linux/bin/"));
const manifest = JSON.parse(readFileSync(join(repo, "package.json"), "utf8"));
const lines = [
  "bin/qjail",
  "etc/rc.d/qjail",
  "etc/rc.d/qjail_watch",
  ...files.map((f) => `lib/node_modules/qjail/${f}`),
  ...manifest.man.map((m) => `share/man/man8/${basename(m)}.gz`),
].sort();
process.stdout.write(lines.join("\n") + "\n");
