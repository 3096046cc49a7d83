import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { REPO_ROOT } from "../helpers/cli.js";

/**
 * The README's layout section and docs/ARCHITECTURE.md tell the truth about
 * the tree (issue 10): every source path they name exists, every folder of
 * src/ is in the layout table, and every command file is named by the path
 * rule the section gives (`src/cli/commands/<words>.ts`).
 */
function layoutSection(): string {
  const readme = readFileSync(join(REPO_ROOT, "README.md"), "utf8");
  const start = readme.indexOf("## Layout");
  assert.ok(start >= 0, "README has a Layout section");
  const end = readme.indexOf("\n## ", start + 1);
  return readme.slice(start, end < 0 ? undefined : end);
}

/** Backticked repository paths (src/…, test/…, bin/…, docs/…) without placeholders. */
function namedPaths(text: string): string[] {
  const out = new Set<string>();
  for (const m of text.matchAll(/`((?:src|test|bin|docs|bench|man)\/[^`\s]*)`/g)) {
    const path = (m[1] as string).replace(/\/$/, "");
    if (/[<>*]/.test(path)) continue;
    // `a/{b,c}/d` names a/b/d and a/c/d
    const brace = /\{([^}]*)\}/.exec(path);
    if (brace) for (const alt of (brace[1] as string).split(",")) out.add(path.replace(brace[0], alt));
    else out.add(path);
  }
  return [...out].sort();
}

test("every path the README's layout section and docs/ARCHITECTURE.md name exists", () => {
  const docs = readFileSync(join(REPO_ROOT, "docs", "ARCHITECTURE.md"), "utf8");
  const named = [...namedPaths(layoutSection()), ...namedPaths(docs)];
  assert.ok(named.length > 20, `the texts name paths (${named.length})`);
  const missing = named.filter((p) => !existsSync(join(REPO_ROOT, p)));
  assert.deepEqual(
    missing,
    [],
    "paths named in README.md (Layout) or docs/ARCHITECTURE.md that do not exist",
  );
});

test("the layout table has a row for every folder of src/", () => {
  const table = layoutSection();
  const folders = readdirSync(join(REPO_ROOT, "src")).filter((n) =>
    statSync(join(REPO_ROOT, "src", n)).isDirectory(),
  );
  const rows = [...table.matchAll(/^\| `src\/([a-z]+)\/` \|/gm)].map((m) => m[1] as string);
  assert.deepEqual(
    folders.filter((f) => !rows.includes(f) && !table.includes(`src/${f}/`)),
    [],
    "src/ folders the layout section does not describe",
  );
});
