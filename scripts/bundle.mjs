/**
 * The second half of `npm run build`: bundle tsc's output of the CLI
 * (dist/src/cli/main.js and everything it imports, npm packages included)
 * into one file, dist/qjail.cjs, plus a V8 code cache for it,
 * dist/qjail.cjs.cache. bin/qjail.js loads both.
 *
 * Why, measured on a 2-core VM (CPU time of `qjail --version`; `node -e 0`
 * is 50 ms): tsc's ~140 separate ES modules 185 ms, each resolved, read and
 * linked one by one; one ES module bundle 85 ms, most of the rest being V8
 * compiling 870 kB of source; the same bundle as a script with a code cache
 * 70 ms. Node 20 can only take a code cache for a script (vm.Script), not
 * for an ES module, which is why the bundle is CommonJS. Leaving the npm
 * packages out of the bundle (resolved from node_modules at run time) was
 * slower: 145 ms, as tar alone loads dozens of modules.
 *
 * Tests keep running against tsc's dist/ tree; only the binary uses this.
 */
import { build } from "esbuild";
import { spawnSync } from "node:child_process";
import { rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const repo = join(dirname(fileURLToPath(import.meta.url)), "..");
const bundle = join(repo, "dist/qjail.cjs");

await build({
  entryPoints: [join(repo, "dist/src/cli/main.js")],
  outfile: bundle,
  bundle: true,
  format: "cjs",
  platform: "node",
  target: "node20",
  // src/assets.ts finds the package from its own file's URL; in a script that is __filename's.
  banner: { js: 'const __qjailModuleUrl = require("node:url").pathToFileURL(__filename).href;' },
  define: { "import.meta.url": "__qjailModuleUrl" },
  sourcemap: "linked",
  legalComments: "none",
  logLevel: "warning",
});

// The cache is what V8 compiled while qjail started; bin/qjail.js writes it when asked to.
// A cache from another node version or different flags is rejected by V8 and only costs speed.
rmSync(`${bundle}.cache`, { force: true });
const r = spawnSync(process.execPath, [join(repo, "bin/qjail.js"), "--version"], {
  env: { ...process.env, QJAIL_WRITE_CODE_CACHE: "1" },
  encoding: "utf8",
});
if (r.status !== 0) {
  process.stderr.write(`bundle: dist/qjail.cjs does not run: ${r.stderr}\n`);
  process.exit(1);
}
