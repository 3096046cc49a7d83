import { test, after } from "node:test";
import assert from "node:assert/strict";
import { readJails, selectJails, writeRecordSteps } from "../../src/store/jails.js";
import { hostLayout } from "../../src/core/paths.js";
import { testdir } from "../helpers/cli.js";
import { UsageError } from "../../src/core/errors.js";

const rec = (name: string): string => `name="${name}"\nip4="10.0.0.5"\npath="/usr/jails/${name}"\n`;
const t = testdir({
  "usr/local/etc/qjail.local/web2": rec("web2"),
  "usr/local/etc/qjail.local/web1.norun": rec("web1"),
  "usr/local/etc/qjail.local/db.man": rec("db"),
  "usr/local/etc/qjail.local/Zed": rec("Zed"),
  "usr/local/etc/qjail.local.z1/other": rec("other"),
});
after(() => t.cleanup());
const layout = hostLayout();

test("readJails lists every record in ls (byte) order with its status from the file name", async () => {
  const { jails, problems } = await readJails(t.dir, layout);
  assert.deepEqual(
    jails.map((j) => `${j.name}:${j.status}`),
    ["Zed:normal", "db:man", "web1:norun", "web2:normal"],
  );
  assert.deepEqual(problems, []);
  assert.equal(jails[1]?.confPath, "/usr/local/etc/qjail.config/db");
  assert.equal(jails[1]?.fstabPath, "/usr/local/etc/qjail.fstab/db");
});

test("readJails of a zone reads only that zone's records", async () => {
  const { jails } = await readJails(t.dir, hostLayout("z1"));
  assert.deepEqual(
    jails.map((j) => j.name),
    ["other"],
  );
  assert.equal(jails[0]?.layout.fstabDir, "/usr/local/etc/qjail.fstab.z1");
});

test("selectJails follows qjail's group-prefix rules", async () => {
  const { jails } = await readJails(t.dir, layout);
  assert.equal(selectJails(jails, []).length, 4);
  assert.deepEqual(
    selectJails(jails, ["web="]).map((j) => j.name),
    ["web1", "web2"],
  );
  assert.deepEqual(
    selectJails(jails, ["web2", "db"]).map((j) => j.name),
    ["web2", "db"],
  );
  const code = (f: () => unknown): string => {
    try {
      f();
    } catch (e) {
      assert.ok(e instanceof UsageError);
      return `${e.code} ${e.message}`;
    }
    return "no error";
  };
  assert.equal(
    code(() => selectJails(jails, ["=web"])),
    "QJ1111 invalid group prefix \"=web\": the '=' goes after the prefix",
  );
  assert.equal(
    code(() => selectJails(jails, ["xx="])),
    'QJ1114 No match for group prefix. "xx"',
  );
  assert.equal(
    code(() => selectJails(jails, ["nope"])),
    'QJ1115 Jail doesn\'t exist. "nope"',
  );
  assert.equal(code(() => selectJails(jails, [], { allowAll: false })).slice(0, 6), "QJ1110");
});

test("writeRecordSteps writes the local copy then the global copy, deffile naming the status file", async () => {
  const { jails } = await readJails(t.dir, layout);
  const web1 = jails.find((j) => j.name === "web1");
  assert.ok(web1);
  const steps = writeRecordSteps(web1);
  assert.deepEqual(
    steps.map((s) => (s.kind === "writeFile" ? s.path : s.kind)),
    ["/usr/local/etc/qjail.local/web1.norun", "/usr/local/etc/qjail.global/web1.norun"],
  );
  const first = steps[0];
  assert.ok(first?.kind === "writeFile");
  assert.match(first.content, /^deffile="\/usr\/local\/etc\/qjail.local\/web1.norun"$/m);
});

test("a record replaced by a link, directory or FIFO is reported and never opened", async () => {
  const { symlinkSync, mkdirSync } = await import("node:fs");
  const { execFileSync } = await import("node:child_process");
  const { join } = await import("node:path");
  const d = testdir({ "usr/local/etc/qjail.local/ok": rec("ok") });
  try {
    const dir = join(d.dir, "usr/local/etc/qjail.local");
    symlinkSync("/etc/passwd", join(dir, "link"));
    mkdirSync(join(dir, "adir"));
    execFileSync("mkfifo", [join(dir, "fifo")]);
    const { jails, problems } = await readJails(d.dir, layout);
    assert.deepEqual(
      jails.map((j) => j.name),
      ["ok"],
    );
    assert.deepEqual(problems.map((p) => `${p.file}: ${p.message}`).sort(), [
      "/usr/local/etc/qjail.local/adir: skipped: it is a directory, not a record file",
      "/usr/local/etc/qjail.local/fifo: skipped: it is a FIFO, not a record file",
      "/usr/local/etc/qjail.local/link: skipped: it is a symbolic link, not a record file",
    ]);
  } finally {
    d.cleanup();
  }
});
