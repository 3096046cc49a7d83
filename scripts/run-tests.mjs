#!/usr/bin/env node
// Runs every compiled test file with node's test runner. Node 20 has no glob
// support in `node --test`, so the file list is collected here.
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { spawnSync } from "node:child_process";

function collect(dir, out) {
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) collect(p, out);
    else if (name.endsWith(".test.js")) out.push(p);
  }
  return out;
}

const filter = process.argv.slice(2);
let files = collect("dist/test", []);
if (filter.length > 0) files = files.filter((f) => filter.some((w) => f.includes(w)));
const concurrency = process.env.QJAIL_TEST_CONCURRENCY ?? "2";
const r = spawnSync(process.execPath, ["--test", `--test-concurrency=${concurrency}`, ...files], {
  stdio: "inherit",
});
process.exit(r.status ?? 1);
