/**
 * FreeBSD's pfctl regression data through the pf conformance runner
 * (scripts/conformance-pf.ts): every test in the committed pass list must
 * still pass, and both runs (pfNNNN .in → .ok, selfpfNNNN .ok → .ok) are
 * counted. The corpus is read at run time from ../shared, never copied.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { REPO_ROOT, SHARED, testdir } from "../../helpers/cli.js";
import { main, firstDifference } from "../../../scripts/conformance-pf.js";

const CORPUS = join(SHARED, "corpus", "pfctl");
const present = existsSync(join(CORPUS, "files", "pf0001.in"));
const skip = present ? false : `pfctl corpus not found at ${CORPUS}`;

async function run(argv: string[]): Promise<{ code: number; lines: string[] }> {
  const lines: string[] = [];
  const code = await main(argv, { out: (l) => lines.push(l) });
  return { code, lines };
}

test("FreeBSD set: every listed test passes and both runs reach 79 of 79", { skip }, async () => {
  const list = join(REPO_ROOT, "test", "conformance", "pf-expected-passes.txt");
  const { code, lines } = await run(["--corpus", CORPUS, "--no-openbsd", "--check", list]);
  assert.equal(code, 0, lines.filter((l) => l.startsWith("fail") || l.startsWith("regression")).join("\n"));
  assert.ok(lines.includes("pfNNNN: 79 passed, 0 failed"), lines.slice(-6).join("\n"));
  assert.ok(lines.includes("selfpfNNNN: 79 passed, 0 failed"));
  assert.match(lines.at(-1) ?? "", /^check: every test listed in .* still passes/);
});

test("a wrong expected output fails with the first differing line, and --check reports the regression", async () => {
  const t = testdir({
    "files/pf0001.in": "pass in proto tcp to port 22\nblock all\n",
    "files/pf0001.ok": "pass in proto tcp from any to any port = ssh flags S/SA keep state\nblock drop all\n",
    "files/pf0002.in": "block in on em0 proto udp\n",
    "files/pf0002.ok": "block drop in on em0 proto tcp all\n",
    "passes.txt": "pf0001\nselfpf0001\npf0002\n",
  });
  try {
    const { code, lines } = await run(["--corpus", t.dir, "--check", join(t.dir, "passes.txt")]);
    assert.ok(lines.includes("pass pf0001"));
    assert.ok(lines.includes("pass selfpf0001"));
    assert.ok(lines.includes("fail pf0002: first differing line 1"));
    assert.ok(lines.includes("pfNNNN: 1 passed, 1 failed"));
    assert.equal(code, 1);
    assert.match(lines.at(-1) ?? "", /^regression: 1 test\(s\) listed in .* no longer pass: pf0002$/);
  } finally {
    t.cleanup();
  }
});

test("firstDifference counts lines from 1 and 0 means equal", () => {
  assert.equal(firstDifference("a\nb\n", "a\nb\n"), 0);
  assert.equal(firstDifference("a\nc\n", "a\nb\n"), 2);
  assert.equal(firstDifference("a\n", "a\nb\n"), 2);
});

test("a corpus directory without pf0001.in is refused with usage", async () => {
  const t = testdir({ README: "nothing here\n" });
  try {
    const { code, lines } = await run(["--corpus", t.dir]);
    assert.equal(code, 2);
    assert.match(lines[0] ?? "", /no pfctl corpus/);
  } finally {
    t.cleanup();
  }
});
