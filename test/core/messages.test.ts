import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { AREAS, MESSAGES } from "../../src/core/messages.js";
import { REPO_ROOT as REPO } from "../helpers/cli.js";

/** Every QJnnnn written in src/ (messages.ts itself aside), with the first file that uses it. */
function codesInSource(): Map<string, string> {
  const found = new Map<string, string>();
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir).sort()) {
      const p = join(dir, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (name.endsWith(".ts") && p !== join(REPO, "src/core/messages.ts"))
        for (const m of readFileSync(p, "utf8").matchAll(/QJ[0-9]{4}/g))
          if (!found.has(m[0])) found.set(m[0], p.slice(REPO.length + 1));
    }
  };
  walk(join(REPO, "src"));
  return found;
}

test("every message code used in src/ is registered in src/core/messages.ts, and every registered one is used", () => {
  const used = codesInSource();
  const registered = new Set(Object.keys(MESSAGES));
  const missing = [...used].filter(([c]) => !registered.has(c)).map(([c, f]) => `${c} (${f})`);
  assert.deepEqual(missing, [], "add a line to src/core/messages.ts for each");
  const unused = [...registered].filter((c) => !used.has(c));
  assert.deepEqual(unused, [], "codes registered but used nowhere");
  assert.ok(used.size > 200, `only ${used.size} codes found: is the scan looking at src/?`);
});

test("every registered code falls in an area, and the README's table lists every area", () => {
  const outside = Object.keys(MESSAGES).filter((c) => !AREAS.some((a) => a.prefix.test(c)));
  assert.deepEqual(outside, []);
  const readme = readFileSync(join(REPO, "README.md"), "utf8");
  const table = readme.slice(readme.indexOf("## Message codes"), readme.indexOf("## Exit statuses"));
  for (const a of AREAS)
    assert.ok(table.includes(`| ${a.range} |`), `README's message-code table has no row for ${a.range}`);
  for (const row of table.matchAll(/^\| (QJ[^|]+) \|/gm))
    assert.ok(
      AREAS.some((a) => a.range === (row[1] as string).trim()),
      `README row ${row[1]} is not an area of src/core/messages.ts`,
    );
});
