#!/usr/bin/env node
// The published entry point. `npm run build` (scripts/bundle.mjs) produces
// dist/qjail.cjs, the whole CLI in one script, and dist/qjail.cjs.cache,
// V8's compiled code for it; loading them instead of tsc's ~140 ES modules
// is most of what makes qjail start quickly. The bundle runs as a script
// through vm because node 20 takes a code cache only there.
import { readFileSync, renameSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import vm from "node:vm";

const bundle = join(dirname(fileURLToPath(import.meta.url)), "..", "dist", "qjail.cjs");
const cacheFile = `${bundle}.cache`;
let source;
try {
  source = readFileSync(bundle, "utf8");
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
const script = new vm.Script(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, {
  filename: bundle,
  cachedData,
});
const mod = { exports: {} };
script.runInThisContext()(mod.exports, createRequire(bundle), mod, bundle, dirname(bundle));
process.exitCode = await mod.exports.main(process.argv.slice(2));

if (process.env.QJAIL_WRITE_CODE_CACHE === "1") {
  // Renamed into place, so a concurrent start never reads half a cache.
  writeFileSync(`${cacheFile}.tmp`, script.createCachedData());
  renameSync(`${cacheFile}.tmp`, cacheFile);
}
