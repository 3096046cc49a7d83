#!/usr/bin/env node
// The published entry point. `npm run build` (scripts/bundle.mjs) produces
// dist/qjail.cjs, the whole CLI in one script, and dist/qjail.cjs.cache,
// V8's compiled code for it (and the same pair for `list` alone,
// dist/qjail-list.cjs); loading them instead of tsc's ~150 ES modules
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

/**
 * The bundle for this command line. `list` has a lean one of its own (dist/qjail-list.cjs: the
 * dispatcher and list, no backend, ~4 % of the whole), so it does not read and set up every other
 * command first; everything else runs dist/qjail.cjs. Global options may come before the command
 * word: they are skipped exactly as the dispatcher does (src/cli/dispatch.ts globalsAfterCommand).
 */
function bundleFor(args) {
  let i = 0;
  while (i < args.length) {
    const a = args[i];
    if (a === "--dry-run" || a === "--json" || /^--(root|platform)=/.test(a)) i += 1;
    else if ((a === "--root" || a === "--platform") && i + 1 < args.length) i += 2;
    else break;
  }
  return args[i] === "list" ? "qjail-list.cjs" : "qjail.cjs";
}

const bundle = join(pkg, "dist", bundleFor(argv));
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
// The bundle requires only node's own modules (scripts/bundle.mjs checks), which this file's require
// loads as well as one made for the bundle's path by module.createRequire (~4 ms: it resolves real paths).
script.runInThisContext()(mod.exports, require, mod, bundle, join(pkg, "dist"));
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
    // keeps the normal exit, which waits for it. (process.stdout itself is not read here: node
    // makes the stream on first read, which the bundle avoids when it can, src/cli/stdio.ts.)
    if (!mod.exports.outputPending()) process.exit(code);
  },
  (e) => {
    throw e;
  },
);
