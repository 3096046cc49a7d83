/**
 * The README tells the truth about the repository: the two set-up commands
 * are the ones CI runs and the scripts they name exist; the packages it says
 * set-up installs are the ones scripts/setup.sh installs; every path, link,
 * npm script and docs/ page it names exists; the layout table covers every
 * folder of the tree; no unfilled placeholder is left. (test/core/messages
 * checks its message-code table.)
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { REPO_ROOT, tempDir } from "../helpers/cli.js";

const readme = readFileSync(join(REPO_ROOT, "README.md"), "utf8");
const manifest = JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8")) as {
  scripts: Record<string, string>;
};

/** The README's section under a `## ` heading that starts with `title`, up to the next `## `. */
function section(title: string): string {
  const start = readme.indexOf(`\n## ${title}`);
  assert.ok(start >= 0, `README has a section "${title}"`);
  const end = readme.indexOf("\n## ", start + 1);
  return readme.slice(start, end < 0 ? undefined : end);
}

test("the two set-up commands: one runs the demo, one runs the tests, and the test one is what CI runs", () => {
  const block = /```sh\n(bash scripts\/setup\.sh && [^\n]*)\n(bash scripts\/setup\.sh && [^\n]*)\n```/.exec(
    section("Try it"),
  );
  assert.ok(block, "a sh block with the two set-up commands");
  const [demo, tests] = [block[1], block[2]].map((l) => (l ?? "").replace(/\s+#.*$/, ""));
  assert.equal(demo, "bash scripts/setup.sh && node bin/qjail.js demo");
  assert.equal(tests, "bash scripts/setup.sh && npm test");
  const ci = readFileSync(join(REPO_ROOT, ".ci/run"), "utf8").split("\n");
  assert.ok(ci.includes(tests), ".ci/run runs the README's test command, as written");
  assert.ok(existsSync(join(REPO_ROOT, "scripts/setup.sh")));
  assert.ok(existsSync(join(REPO_ROOT, "bin/qjail.js")));
  assert.match(manifest.scripts.test ?? "", /npm run build && /, "npm test builds what the demo runs");
  // setup.sh ends with the build bin/qjail.js runs.
  assert.match(readFileSync(join(REPO_ROOT, "scripts/setup.sh"), "utf8"), /npm ci[^\n]*\nnpm run build\n/);
});

test("the apt packages the README says set-up installs are exactly scripts/setup.sh's", () => {
  const setup = readFileSync(join(REPO_ROOT, "scripts/setup.sh"), "utf8");
  const install = /apt-get install -y[^\n]*\\\n((?:[^\n]*\\\n)+)/.exec(setup);
  assert.ok(install, "setup.sh has one apt-get install");
  const fromSetup = (install[1] ?? "")
    .replace(/\\\n/g, " ")
    .split(/\s+/)
    .filter((w) => /^[a-z0-9][a-z0-9.+-]*$/.test(w));
  const said = /`scripts\/setup\.sh` takes [^]*?with apt:\s*([^;(]+)/.exec(readme);
  assert.ok(said, "README says what setup.sh installs");
  const fromReadme = (said[1] ?? "")
    .replace(/\s+/g, " ")
    .split(/, | and /)
    .map((w) => w.trim())
    .filter(Boolean);
  assert.deepEqual([...fromReadme].sort(), [...fromSetup].sort());
});

test("every repository path, local link and npm script the README names exists", () => {
  const missing: string[] = [];
  for (const m of readme.matchAll(
    /`((?:src|test|bench|scripts|share|man|docs|etc|native|packaging|bin)\/[^`\s]*)`/g,
  )) {
    const path = (m[1] ?? "").replace(/[.,:]$/, "");
    if (/[<>*]|ARCH|WORD/.test(path)) continue; // a pattern, not a path
    if (!existsSync(join(REPO_ROOT, path))) missing.push(path);
  }
  for (const m of readme.matchAll(/\]\(((?!https?:|#)[^)\s]+)\)/g)) {
    const path = (m[1] ?? "").replace(/#.*$/, "");
    if (!existsSync(join(REPO_ROOT, path))) missing.push(path);
  }
  for (const m of readme.matchAll(/npm run ([a-z][a-z0-9:-]*)/g))
    if (!(m[1]! in manifest.scripts)) missing.push(`npm run ${m[1]}`);
  assert.deepEqual(missing, []);
});

test("every #anchor link goes to a heading, and every docs/ page is linked", () => {
  const slug = (h: string): string =>
    h
      .toLowerCase()
      .replace(/[^\p{L}\p{N} _-]/gu, "")
      .replace(/ /g, "-");
  const anchors = new Set(
    readme
      .replace(/```[^]*?```/g, "")
      .split("\n")
      .filter((l) => /^#{1,6} /.test(l))
      .map((l) => slug(l.replace(/^#+ /, ""))),
  );
  const broken = [...readme.matchAll(/\]\(#([^)]+)\)/g)].map((m) => m[1]!).filter((a) => !anchors.has(a));
  assert.deepEqual(broken, []);
  const docs = readdirSync(join(REPO_ROOT, "docs")).filter((f) => f.endsWith(".md"));
  assert.deepEqual(
    docs.filter((f) => !readme.includes(`](docs/${f})`)),
    [],
    "each docs/ page is linked from the README",
  );
});

test("the layout table names every top-level folder of the tree and every folder of src/", () => {
  const layout = section("For developers");
  const named = new Set([...layout.matchAll(/^\| `([^`]+)\/` \|/gm)].map((m) => m[1]));
  const tracked = spawnSync("git", ["ls-files"], { cwd: REPO_ROOT, encoding: "utf8" });
  // Outside a git checkout (a tarball) there is nothing to compare with.
  if (tracked.status !== 0) return;
  const top = new Set(
    tracked.stdout
      .split("\n")
      .filter((f) => f.includes("/"))
      .map((f) => f.slice(0, f.indexOf("/"))),
  );
  const srcDirs = readdirSync(join(REPO_ROOT, "src")).filter((d) =>
    statSync(join(REPO_ROOT, "src", d)).isDirectory(),
  );
  const expected = [...[...top].filter((d) => d !== "src"), ...srcDirs.map((d) => `src/${d}`)];
  assert.deepEqual(
    expected.filter((d) => !named.has(d) && ![...named].some((n) => n!.startsWith(`${d}/`))).sort(),
    [],
    "folders missing from the README's layout table",
  );
  assert.deepEqual(
    [...named].filter((d) => !existsSync(join(REPO_ROOT, d!))),
    [],
    "layout rows for folders that do not exist",
  );
});

test("docs/ARCHITECTURE.md's use-case table has one row per src/ops module, and no row for a module that is gone", () => {
  const arch = readFileSync(join(REPO_ROOT, "docs/ARCHITECTURE.md"), "utf8");
  const table = arch.slice(arch.indexOf("## Use cases (`src/ops/`)"));
  const rows = new Set(
    [...table.slice(0, table.indexOf("\n## ", 4)).matchAll(/^\| `([a-z-]+\.ts)` \|/gm)].map((m) => m[1]),
  );
  const modules = readdirSync(join(REPO_ROOT, "src/ops")).filter((f) => f.endsWith(".ts"));
  assert.deepEqual(
    modules.filter((m) => !rows.has(m)),
    [],
    "src/ops modules missing from docs/ARCHITECTURE.md",
  );
  assert.deepEqual(
    [...rows].filter((r) => !modules.includes(r as string)),
    [],
    "rows for modules that do not exist",
  );
});

test("no unfilled @PLACEHOLDER@ in the README or docs/", () => {
  for (const f of ["README.md", ...readdirSync(join(REPO_ROOT, "docs")).map((d) => `docs/${d}`)]) {
    const left = readFileSync(join(REPO_ROOT, f), "utf8").match(/@[A-Z][A-Z_]+@/g);
    assert.equal(left, null, `${f}: ${left?.join(" ")}`);
  }
});

test("the scratch-tree example runs as written (a fake base.txz, then install, create, fw setup, expose)", () => {
  const block = /\*\*Any command on a scratch tree\.\*\*[^]*?```sh\n([^]*?)```/.exec(readme)?.[1];
  assert.ok(block, "README has the scratch-tree example");
  const tmp = tempDir(`qjail-readme-${process.pid}-`);
  try {
    // The same commands, with the example's /tmp paths made unique and `qjail` the checkout's.
    const script = block
      .replaceAll("/tmp/fbase", `${tmp.dir}/fbase`)
      .replaceAll("/tmp/scratch", `${tmp.dir}/scratch`);
    const r = spawnSync(
      "bash",
      [
        "-euo",
        "pipefail",
        "-c",
        `qjail() { node ${JSON.stringify(join(REPO_ROOT, "bin/qjail.js"))} "$@"; }\n${script}`,
      ],
      { cwd: tmp.dir, encoding: "utf8", env: { PATH: process.env.PATH ?? "/usr/bin:/bin" } },
    );
    assert.equal(r.status, 0, `${r.stderr}${r.stdout}`);
    assert.match(r.stdout, /Successfully created {2}www/);
    assert.match(r.stdout, /rdr em0 0\/0 port 6188 -> 10\.0\.0\.3\/32 port 80 tcp/);
  } finally {
    tmp.cleanup();
  }
});

test("the Commands table has one row per command, in help's groups and order, with its summary, --json and page", async () => {
  const { COMMANDS } = await import("../../src/cli/index.js");
  const { HELP_GROUPS } = await import("../../src/cli/help.js");
  const byName = new Map(COMMANDS.map((c) => [c.path.join(" "), c]));
  const expected = HELP_GROUPS.flatMap((g) =>
    g.commands.map((n) => {
      const c = byName.get(n);
      assert.ok(c, `help group names ${n}`);
      const page = `qjail-${c.path.join("-")}`;
      return `| ${g.title.toLowerCase()} | \`qjail ${n}\` | ${c.summary} | ${c.json ? "yes" : ""} | [${page}(8)](man/${page}.8) |`;
    }),
  );
  const rows = section("Commands")
    .split("\n")
    .filter((l) => /^\| [a-z ,-]+ \| `qjail /.test(l))
    .map((l) => l.replace(/ {2,}\|/g, " |"));
  assert.deepEqual(
    rows,
    expected.map((l) => l.replace(/ {2,}\|/g, " |")),
  );
});
