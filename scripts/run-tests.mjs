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
const exclude = (process.env.QJAIL_TEST_EXCLUDE ?? "").split(",").filter(Boolean);
files = files.filter((f) => !exclude.some((w) => f.includes(w)));
const concurrency = process.env.QJAIL_TEST_CONCURRENCY ?? "2";
// A hung test must fail, not stall CI: each test gets at most 10 minutes.
const timeout = process.env.QJAIL_TEST_TIMEOUT_MS ?? "600000";
const r = spawnSync(
  process.execPath,
  ["--test", `--test-concurrency=${concurrency}`, `--test-timeout=${timeout}`, ...files],
  {
    stdio: "inherit",
  },
);
process.exit(r.status ?? 1);
