#!/usr/bin/env node
// The published entry point. `npm run build` (scripts/bundle.mjs) produces
// dist/qjail.cjs, the whole CLI in one script, and dist/qjail.cjs.cache,
// V8's compiled code for it; loading them instead of tsc's ~150 ES modules
// is most of what makes qjail start quickly. The bundle runs as a script
// through vm because node 20 takes a code cache only there.
//
// This file is CommonJS (bin/package.json): an ES module entry costs node's
// ESM loader on every start. `qjail --version` is answered from package.json
// without loading the bundle at all.
"use strict";
const { readFileSync, renameSync, writeFileSync } = require("node:fs");
const { join } = require("node:path");

const pkg = join(__dirname, "..");
const argv = process.argv.slice(2);
if (argv.length === 1 && (argv[0] === "--version" || argv[0] === "-V")) {
  process.stdout.write(`qjail ${JSON.parse(readFileSync(join(pkg, "package.json"), "utf8")).version}\n`);
  process.exit(0);
}

const bundle = join(pkg, "dist", "qjail.cjs");
const cacheFile = `${bundle}.cache`;
let source;
try {
  // esbuild writes the bundle in ASCII (charset: ascii): latin1 reads it without UTF-8 decoding.
  source = readFileSync(bundle, "latin1");
} catch (e) {
  if (e.code !== "ENOENT") throw e;
  process.stderr.write(
    `qjail: ${bundle} is missing: this copy of qjail was not built.\n` +
      "  In a git checkout: npm run build. An installed package always has it: reinstall qjail\n" +
      "  from a tarball made by 'npm pack' (which builds first).\n",
  );
  process.exit(70);
}
let cachedData;
try {
  cachedData = readFileSync(cacheFile);
} catch {
  // No cache (a build without one): V8 compiles from source, only slower.
}
const vm = require("node:vm");
const script = new vm.Script(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, {
  filename: bundle,
  cachedData,
});
const mod = { exports: {} };
script.runInThisContext()(
  mod.exports,
  require("node:module").createRequire(bundle),
  mod,
  bundle,
  join(pkg, "dist"),
);
mod.exports.main(argv).then(
  (code) => {
    process.exitCode = code;
    if (process.env.QJAIL_WRITE_CODE_CACHE === "1") {
      // Renamed into place, so a concurrent start never reads half a cache.
      writeFileSync(`${cacheFile}.tmp`, script.createCachedData());
      renameSync(`${cacheFile}.tmp`, cacheFile);
    }
    // The command is done. With nothing left to write, exit now: left to end by itself, node
    // first runs the garbage collection V8 scheduled while the command ran and tears the heap
    // down (measured: ~6 % of 'list' over 1,000 jails). Output still buffered (a slow pipe)
    // keeps the normal exit, which waits for it.
    if (process.stdout.writableLength === 0 && process.stderr.writableLength === 0) process.exit(code);
  },
  (e) => {
    throw e;
  },
);
