import { test, after, describe } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "../helpers/cli.js";
import { childArgv, runSync } from "./helpers/index.js";

// Fault injection (issue 7 §2): SIGKILL at every step boundary of the
// mutating commands, a full disk while a record is written, a failing
// firewall load, and concurrent qjail processes.

const tmp = tempDir(`qjail-faults-${process.pid}-`);
after(() => tmp.cleanup());

/** Parse the child's `digest {...}` line. */
function digestLine(stdout: string): Record<string, string> {
  const line = stdout.split("\n").find((l) => l.startsWith("digest "));
  assert.ok(line, `no digest line in:\n${stdout}`);
  return JSON.parse(line.slice("digest ".length)) as Record<string, string>;
}

describe("disk full while writing a record", () => {
  test("the atomic record write fails with ENOSPC, the old record stays intact, no temp file is left", () => {
    const dir = join(tmp.dir, "full-atomic");
    mkdirSync(dir, { recursive: true });
    const record = join(dir, "www");
    // A 256 KiB tmpfs in the child's private mount namespace, filled to the last block.
    const r = runSync([
      "unshare", "-m", "--propagation", "private", "--",
      ...childArgv(),
      "--tmpfs", dir, "256k",
      "--then", "write", record, "300",
      "--then", "digest", dir,
      "--then", "fill", dir,
      "--then", "write", record, "5000", "1",
      "--then", "digest", dir,
    ]);
    const lines = r.stdout.split("\n");
    assert.ok(lines.includes("ok write 300"), r.stdout + r.stderr);
    const failures = lines.filter((l) => l.startsWith("error write "));
    assert.equal(failures.length, 2, r.stdout);
    for (const f of failures) assert.match(f, /^error write ENOSPC .*no space left on device/);
    const digests = lines.filter((l) => l.startsWith("digest ")).map((l) => digestLine(l));
    const [beforeFill, afterFailure] = digests;
    assert.ok(beforeFill && afterFailure);
    assert.equal(afterFailure.www, beforeFill.www, "the old record must be unchanged");
    assert.deepEqual(Object.keys(afterFailure).sort(), [".filler", "www"], "no temporary file may be left beside the record");
  });
});
