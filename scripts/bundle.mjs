/**
 * The second half of `npm run build`: bundle the tsc output of the CLI
 * (dist/src/cli/main.js and everything it imports) into one ES module,
 * dist/qjail.mjs, which bin/qjail.js loads.
 *
 * Why: node resolves, reads and links every ES module one by one, and
 * qjail's ~140 modules cost about 100 ms at each start, twice what node
 * itself needs. One file removes that per-module cost.
 *
 * npm packages are bundled too (measured on a 2-core VM: bundling them
 * saves another few ms of resolution at start-up, and the bundle then runs
 * from any directory). Their module-level code stays lazy because qjail
 * imports the heavy ones (tar, cli-progress) only inside the commands that
 * use them.
 *
 * Tests keep running against tsc's dist/ tree; only the binary uses this.
 */
import { build } from "esbuild";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const repo = join(dirname(fileURLToPath(import.meta.url)), "..");

await build({
  entryPoints: [join(repo, "dist/src/cli/main.js")],
  outfile: join(repo, "dist/qjail.mjs"),
  bundle: true,
  format: "esm",
  platform: "node",
  target: "node20",
  // Bundled CommonJS packages (proper-lockfile, write-file-atomic) call require() for node
  // built-ins and read __filename; an ES module has neither, so the bundle defines them under
  // names no source module can collide with, and `define` points the free identifiers there.
  banner: {
    js: [
      'import { createRequire as __qjailCreateRequire } from "node:module";',
      'import { fileURLToPath as __qjailFileURLToPath } from "node:url";',
      'import { dirname as __qjailDirnameOf } from "node:path";',
      "const require = __qjailCreateRequire(import.meta.url);",
      "const __qjailFilename = __qjailFileURLToPath(import.meta.url);",
      "const __qjailDirname = __qjailDirnameOf(__qjailFilename);",
    ].join(" "),
  },
  define: { __filename: "__qjailFilename", __dirname: "__qjailDirname" },
  sourcemap: "linked",
  legalComments: "none",
  logLevel: "warning",
});
