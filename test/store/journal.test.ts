import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readFileSync, readlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  finishJournal,
  journalPath,
  journalPending,
  runJournaled,
  type JournalOp,
} from "../../src/store/journal.js";
import { treeDigest, tempDir } from "../helpers/cli.js";

const STATE = "/var/db/qjail";

/** A root with two staged rule files, an old record to rename and a marker directory: a unit of six changes. */
function prepared(root: string): JournalOp[] {
  mkdirSync(join(root, "etc"), { recursive: true });
  mkdirSync(join(root, "rec/creating-mail"), { recursive: true });
  writeFileSync(join(root, "etc/ipf.rules"), "old ipf\n");
  writeFileSync(join(root, "etc/ipnat.rules"), "old ipnat\n");
  writeFileSync(join(root, "etc/.ipf.rules.qjail-new-1"), "new ipf\n");
  writeFileSync(join(root, "etc/.ipnat.rules.qjail-new-1"), "new ipnat\n");
  writeFileSync(join(root, "rec/www"), "www record\n");
  return [
    { op: "rename", from: "/etc/.ipf.rules.qjail-new-1", to: "/etc/ipf.rules" },
    { op: "rename", from: "/etc/.ipnat.rules.qjail-new-1", to: "/etc/ipnat.rules" },
    { op: "rename", from: "/rec/www", to: "/rec/web" },
    { op: "mkdir", path: "/rec/fstab", mode: 0o755 },
    { op: "symlink", path: "/rec/current", target: "web" },
    { op: "rmdir", path: "/rec/creating-mail" },
  ];
}

class Killed extends Error {}

test("a unit cut off after any of its changes is finished by finishJournal, ending exactly where an uncut run ends", () => {
  const ref = tempDir();
  try {
    runJournaled(ref.dir, STATE, prepared(ref.dir));
    const after = treeDigest(ref.dir);
    assert.equal(readFileSync(join(ref.dir, "etc/ipnat.rules"), "utf8"), "new ipnat\n");
    assert.equal(readlinkSync(join(ref.dir, "rec/current")), "web");
    assert.equal(journalPending(ref.dir, STATE), false, "an uncut unit leaves no journal");
    for (let cut = 0; cut < 6; cut++) {
      const t = tempDir();
      try {
        const ops = prepared(t.dir);
        let made = 0;
        assert.throws(
          () =>
            runJournaled(t.dir, STATE, ops, () => {
              if (made++ === cut) throw new Killed(`cut after change ${cut}`);
            }),
          Killed,
        );
        assert.equal(journalPending(t.dir, STATE), true, `cut after change ${cut}: the journal stays`);
        assert.equal(finishJournal(t.dir, STATE), 6 - cut - 1, "changes left to make");
        assert.deepEqual(treeDigest(t.dir), after, `cut after change ${cut}`);
        assert.equal(finishJournal(t.dir, STATE), undefined, "nothing left to finish");
      } finally {
        t.cleanup();
      }
    }
  } finally {
    ref.cleanup();
  }
});

test("the one change that ran without its mark is safe to run again", () => {
  const t = tempDir();
  try {
    const ops = prepared(t.dir);
    assert.throws(() =>
      runJournaled(t.dir, STATE, ops, () => {
        throw new Killed();
      }),
    );
    // As if the kill came after the rename but before its mark was written: drop the mark.
    const file = join(t.dir, journalPath(STATE));
    writeFileSync(file, readFileSync(file, "utf8").split("\n")[0] + "\n");
    assert.equal(finishJournal(t.dir, STATE), 6);
    assert.equal(readFileSync(join(t.dir, "etc/ipf.rules"), "utf8"), "new ipf\n");
    assert.equal(readFileSync(join(t.dir, "rec/web"), "utf8"), "www record\n");
    assert.equal(existsSync(join(t.dir, "rec/www")), false);
  } finally {
    t.cleanup();
  }
});

test("a journal cut off while being written means the unit never started: it is removed and nothing changes", () => {
  const t = tempDir();
  try {
    prepared(t.dir);
    mkdirSync(join(t.dir, STATE), { recursive: true });
    writeFileSync(join(t.dir, `${journalPath(STATE)}.new-4242`), '{"ops":[{"op":"rena');
    const before = treeDigest(t.dir);
    assert.equal(finishJournal(t.dir, STATE), undefined);
    before.delete(`${journalPath(STATE).slice(1)}.new-4242`);
    assert.deepEqual(treeDigest(t.dir), before);
  } finally {
    t.cleanup();
  }
});

test("a unit of one change writes no journal; a journal that is not qjail's is refused, not played", () => {
  const t = tempDir();
  try {
    prepared(t.dir);
    runJournaled(t.dir, STATE, [{ op: "rename", from: "/rec/www", to: "/rec/web" }]);
    assert.equal(existsSync(join(t.dir, STATE)), false);
    mkdirSync(join(t.dir, STATE), { recursive: true });
    writeFileSync(join(t.dir, journalPath(STATE)), '{"ops":[{"op":"exec","argv":["rm","-rf","/"]}]}\n');
    assert.throws(() => finishJournal(t.dir, STATE), /not a qjail commit journal/);
    assert.throws(
      () => finishJournal(t.dir, STATE),
      { code: "QJ6002" },
      "a refusal with its code, not a bug",
    );
    writeFileSync(join(t.dir, journalPath(STATE)), '{"ops":[{"op":"remove","path":"relative"}]}\n');
    assert.throws(() => finishJournal(t.dir, STATE), /not a qjail commit journal/);
    writeFileSync(join(t.dir, journalPath(STATE)), '{"ops":[{"op":"remove","path":"/../../etc/passwd"}]}\n');
    assert.throws(() => finishJournal(t.dir, STATE), /not a qjail commit journal/);
    assert.equal(readFileSync(join(t.dir, "etc/ipf.rules"), "utf8"), "old ipf\n");
  } finally {
    t.cleanup();
  }
});
