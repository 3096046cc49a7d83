import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync, writeFileSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { writeFileAtomic } from "../../src/store/atomic.js";
import { tempDir } from "../helpers/cli.js";

test("writes the content with the mode and leaves no temporary behind", async () => {
  const t = tempDir();
  try {
    const f = join(t.dir, "ipnat.rules");
    await writeFileAtomic(f, "map em0 10.0.0.0/24 -> 0/32\n", 0o600);
    assert.equal(readFileSync(f, "utf8"), "map em0 10.0.0.0/24 -> 0/32\n");
    assert.equal(statSync(f).mode & 0o777, 0o600);
    assert.deepEqual(readdirSync(t.dir), ["ipnat.rules"]);
  } finally {
    t.cleanup();
  }
});

test("a temporary left by a killed qjail is removed by the next write; an admin's dated backup is not", async () => {
  const t = tempDir();
  try {
    const f = join(t.dir, "ipnat.rules");
    writeFileSync(join(t.dir, ".ipnat.rules.qjail-tmp-999999999-deadbeef"), "half");
    writeFileSync(join(t.dir, "ipnat.rules.20240101"), "admin backup");
    await writeFileAtomic(f, "new\n");
    assert.deepEqual(readdirSync(t.dir).sort(), ["ipnat.rules", "ipnat.rules.20240101"]);
  } finally {
    t.cleanup();
  }
});

test("a symlink at the target is replaced, not written through", async () => {
  const t = tempDir();
  try {
    const victim = join(t.dir, "victim");
    writeFileSync(victim, "keep");
    const f = join(t.dir, "rules");
    symlinkSync(victim, f);
    await writeFileAtomic(f, "new\n");
    assert.equal(readFileSync(victim, "utf8"), "keep");
    assert.equal(readFileSync(f, "utf8"), "new\n");
  } finally {
    t.cleanup();
  }
});
