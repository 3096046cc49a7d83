import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { REPO_ROOT } from "../helpers/cli.js";

/**
 * The documents the code and docs/ARCHITECTURE.md point a reader at tell the
 * truth (issue 10): every source path docs/ARCHITECTURE.md names exists, and
 * every document a comment in src/ cites is in docs/ with the section it
 * cites. (test/build/readme.test.ts checks the README's own paths and its
 * layout table.)
 */
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

test("every path docs/ARCHITECTURE.md names exists", () => {
  const named = namedPaths(readFileSync(join(REPO_ROOT, "docs", "ARCHITECTURE.md"), "utf8"));
  assert.ok(named.length > 20, `the text names paths (${named.length})`);
  const missing = named.filter((p) => !existsSync(join(REPO_ROOT, p)));
  assert.deepEqual(missing, [], "paths named in docs/ARCHITECTURE.md that do not exist");
});

/** Every .ts file below `dir`. */
function sources(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: "utf8" })
    .filter((n) => n.endsWith(".ts"))
    .map((n) => join(dir, n));
}

test("documents that comments in src/ cite are in the repository, and each cited section exists", () => {
  const problems: string[] = [];
  for (const file of sources(join(REPO_ROOT, "src"))) {
    const text = readFileSync(file, "utf8");
    const where = file.slice(REPO_ROOT.length + 1);
    for (const m of text.matchAll(/([A-Za-z0-9_./-]+\.md)\b(?: §([0-9.]*[0-9]))?/g)) {
      const doc = m[1] as string;
      // third-party data lives beside the repository and is never copied into it
      if (doc.startsWith("../shared/") || doc === "PROVENANCE.md") continue;
      if (!doc.startsWith("docs/") || !existsSync(join(REPO_ROOT, doc))) {
        problems.push(`${where}: cites ${doc}, which is not in docs/`);
        continue;
      }
      const section = m[2];
      if (section === undefined) continue;
      const heading = new RegExp(`^#+ ${section.replace(/\./g, "\\.")}(?:\\.\\s|\\s)`, "m");
      if (!heading.test(readFileSync(join(REPO_ROOT, doc), "utf8")))
        problems.push(`${where}: cites ${doc} §${section}, which has no such section`);
    }
  }
  assert.deepEqual(problems, []);
});
