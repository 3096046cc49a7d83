/**
 * The second half of `npm run build`: bundle tsc's output of the CLI
 * (dist/src/cli/main.js and everything it imports, npm packages included)
 * into one file, dist/qjail.cjs, plus a V8 code cache for it,
 * dist/qjail.cjs.cache; and the same for `list` alone (dist/qjail-list.cjs,
 * see BUNDLES below). bin/qjail.js loads one bundle and its cache.
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
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const repo = join(dirname(fileURLToPath(import.meta.url)), "..");
const require = createRequire(import.meta.url);

/**
 * Node's own modules that a bare `node -e 0` has not loaded (http, https, net,
 * tls, zlib, crypto, child_process, readline, …). Loading them costs start-up
 * time in every qjail command although most commands use none of them, so
 * the bundle gets each as an object whose properties load the module on
 * first use. Their export names are read here, at build time.
 */
function lateBuiltins() {
  const r = spawnSync(process.execPath, ["-p", "JSON.stringify(process.moduleLoadList)"], {
    encoding: "utf8",
  });
  const loaded = new Set(
    JSON.parse(r.stdout)
      .filter((m) => m.startsWith("NativeModule "))
      .map((m) => m.slice("NativeModule ".length)),
  );
  // Not "assert": its module.exports is itself a function (tar's gzip calls it),
  // which the lazy getter object below cannot stand in for.
  const candidates = [
    "child_process",
    "crypto",
    "diagnostics_channel",
    "dns",
    "fs/promises",
    "http",
    "https",
    "net",
    "os",
    "perf_hooks",
    "querystring",
    "readline",
    "stream/promises",
    "string_decoder",
    "tls",
    "worker_threads",
    "zlib",
  ];
  return new Set(candidates.filter((m) => !loaded.has(m)));
}

const late = lateBuiltins();
const lazyBuiltins = {
  name: "lazy-builtins",
  setup(b) {
    b.onResolve({ filter: /^(node:)?[a-z_/]+$/ }, (args) => {
      const name = args.path.replace(/^node:/, "");
      if (args.namespace === "lazy-builtin" || !late.has(name)) return undefined;
      return { path: name, namespace: "lazy-builtin" };
    });
    b.onLoad({ filter: /.*/, namespace: "lazy-builtin" }, (args) => {
      const real = require(args.path);
      const names = Object.keys(real).filter((k) => k !== "default");
      // A module that is itself a function (assert: `assert(x)`) gets a stand-in that is
      // one too, or a default import of it would not be callable in the bundle.
      if (typeof real === "function")
        return {
          loader: "js",
          contents: [
            "let m;",
            `const load = () => m || (m = require("node:${args.path}"));`,
            "const o = function (...a) { return load()(...a); };",
            `for (const k of ${JSON.stringify(names)}) Object.defineProperty(o, k, { get: () => load()[k], enumerable: true });`,
            "module.exports = o;",
          ].join("\n"),
        };
      // An object with no properties of its own whose prototype, a Proxy, looks every name up in the
      // real module. esbuild's __toESM copies a module's own properties into a namespace object that
      // inherits its prototype, so a stand-in with dozens of getters of its own (zlib, crypto, http…)
      // cost that copying for every such module on every start, used or not; this one costs nothing
      // until a name is read. __esModule is answered without loading (__toESM asks it at once).
      return {
        loader: "js",
        contents: [
          "let m;",
          `const load = () => m || (m = require("node:${args.path}"));`,
          "module.exports = Object.create(new Proxy({}, {",
          '  get: (_, k) => (k === "__esModule" ? undefined : load()[k]),',
          "  has: (_, k) => k in load(),",
          "}));",
        ].join("\n"),
      };
    });
  },
};

/**
 * Two bundles: dist/qjail.cjs, the whole CLI, and dist/qjail-list.cjs, the dispatcher with `list`
 * alone (src/cli/main-list.ts; ~50 kB against ~1.3 MB), which bin/qjail.js runs for `qjail list`.
 * `list` is the command admins and scripts run all day, and most of its start-up went on reading,
 * deserialising and evaluating the code of every other command. Each bundle gets its own cache.
 */
const BUNDLES = [
  { entry: "dist/src/cli/main.js", out: "dist/qjail.cjs", cacheArgs: ["ports"] },
  { entry: "dist/src/cli/main-list.js", out: "dist/qjail-list.cjs", cacheArgs: ["list"] },
];

const built = await build({
  entryPoints: BUNDLES.map((b) => ({ in: join(repo, b.entry), out: b.out.replace(/\.cjs$/, "") })),
  outdir: repo,
  outExtension: { ".js": ".cjs" },
  bundle: true,
  format: "cjs",
  platform: "node",
  target: "node20",
  // src/assets.ts finds the package from its own file's URL; in a script that is __filename's.
  banner: { js: 'const __qjailModuleUrl = require("node:url").pathToFileURL(__filename).href;' },
  define: { "import.meta.url": "__qjailModuleUrl" },
  // Less to read, hash and keep per start; names stay, so a bug report's stack still reads.
  minifyWhitespace: true,
  minifySyntax: true,
  // ASCII only: bin/qjail.js reads it as latin1, without UTF-8 decoding.
  charset: "ascii",
  // The map stays beside the bundle for debugging (node --enable-source-maps needs the comment:
  // add it by hand); the package does not ship it.
  sourcemap: "external",
  legalComments: "none",
  logLevel: "warning",
  plugins: [lazyBuiltins],
  metafile: true,
});

// bin/qjail.js hands the bundle its own require, which resolves node's modules alone correctly:
// anything else left outside the bundle (a relative path, an npm package) would resolve from bin/.
const { builtinModules } = await import("node:module");
const builtin = new Set(builtinModules);
for (const out of Object.values(built.metafile.outputs))
  for (const imp of out.imports)
    if (imp.external && !imp.path.startsWith("node:") && !builtin.has(imp.path)) {
      process.stderr.write(
        `bundle: ${imp.path} is not in the bundle; bin/qjail.js can only require node's own modules\n`,
      );
      process.exit(1);
    }

// The cache is what V8 compiled while qjail ran a command; bin/qjail.js writes it when asked to.
// A run over a few jails compiles start-up, the record readers and the table (--version never loads
// a bundle): measured, a cache without the record readers left list of 1,000 jails ~20 % slower.
// A cache from another node version or different flags is rejected by V8 and only costs speed.
const scratch = mkdtempSync(join(tmpdir(), "qjail-bundle-cache-"));
const { emptyRecord, formatRecord } = await import(join(repo, "dist/src/core/record.js"));
for (const dir of ["usr/local/etc/qjail.local", "usr/local/etc/qjail.global"])
  mkdirSync(join(scratch, dir), { recursive: true });
for (let i = 0; i < 20; i++) {
  const name = `cache${i}`;
  const rec = {
    ...emptyRecord(),
    name,
    ip4: `10.0.0.${i + 2}`,
    interface: "lo1",
    path: `/usr/jails/${name}`,
  };
  for (const dir of ["usr/local/etc/qjail.local", "usr/local/etc/qjail.global"])
    writeFileSync(join(scratch, dir, name), formatRecord(rec));
}
try {
  for (const b of BUNDLES) {
    rmSync(join(repo, `${b.out}.cache`), { force: true });
    const r = spawnSync(process.execPath, [join(repo, "bin/qjail.js"), ...b.cacheArgs, "--root", scratch], {
      env: { PATH: process.env.PATH, QJAIL_WRITE_CODE_CACHE: "1" },
      encoding: "utf8",
    });
    if (r.status !== 0 || !existsSync(join(repo, `${b.out}.cache`))) {
      process.stderr.write(`bundle: ${b.out} does not run (qjail ${b.cacheArgs.join(" ")}): ${r.stderr}\n`);
      process.exitCode = 1;
    }
  }
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
