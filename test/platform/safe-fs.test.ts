import { test, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, readFileSync, lstatSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { applyPlan } from "../../src/platform/apply.js";
import { parseMountinfo } from "../../src/platform/safe-fs.js";
import { UsageError } from "../../src/core/errors.js";
import { tempDir, treeDigest } from "../helpers/cli.js";
import { childArgv, runSync } from "../reliability/helpers/index.js";

// The jail-tree file operations against planted links and mounts, on real files.

const tmp = tempDir(`qjail-safefs-${process.pid}-`);
after(() => tmp.cleanup());

/** A root with a host /etc, a flavor to lay over the jail, and the jail www. */
function host(label: string): { root: string; jail: string; hostEtc: string } {
  const root = join(tmp.dir, label);
  const hostEtc = join(root, "etc");
  mkdirSync(hostEtc, { recursive: true });
  writeFileSync(join(hostEtc, "rc.conf"), "host\n");
  mkdirSync(join(root, "usr/jails/flavors/default/etc"), { recursive: true });
  writeFileSync(join(root, "usr/jails/flavors/default/etc/rc.conf"), "flavor\n");
  mkdirSync(join(root, "usr/jails/www/etc"), { recursive: true });
  writeFileSync(join(root, "usr/jails/www/etc/rc.conf"), "jail\n");
  return { root, jail: "/usr/jails/www", hostEtc };
}

const flavorOver = (jail: string) => ({
  title: "flavor",
  steps: [
    {
      kind: "copyTree" as const,
      from: "/usr/jails/flavors/default",
      to: jail,
      overwrite: true,
      inJail: jail,
    },
  ],
});

test("copyTree over a jail whose etc is a symlink to the host's /etc is refused with QJ1101", async () => {
  const h = host("etc-link");
  const jailEtc = join(h.root, "usr/jails/www/etc");
  await import("node:fs/promises").then((f) => f.rm(jailEtc, { recursive: true }));
  symlinkSync(h.hostEtc, jailEtc);
  const before = treeDigest(h.hostEtc);
  const err = await applyPlan(flavorOver(h.jail), { root: h.root, runCommands: false }).catch(
    (e: unknown) => e,
  );
  assert.ok(err instanceof UsageError, `expected a refusal, got ${String(err)}`);
  assert.equal(err.code, "QJ1101");
  assert.match(
    err.message,
    /refusing to touch ".*\/usr\/jails\/www\/etc": it is a symbolic link inside the jail/,
  );
  assert.deepEqual(treeDigest(h.hostEtc), before);
});

test("copyTree replaces a file planted as a symlink to a host file instead of writing through it", async () => {
  const h = host("file-link");
  const rc = join(h.root, "usr/jails/www/etc/rc.conf");
  await import("node:fs/promises").then((f) => f.rm(rc));
  symlinkSync(join(h.hostEtc, "rc.conf"), rc);
  await applyPlan(flavorOver(h.jail), { root: h.root, runCommands: false });
  assert.equal(readFileSync(join(h.hostEtc, "rc.conf"), "utf8"), "host\n");
  assert.equal(lstatSync(rc).isFile(), true);
  assert.equal(readFileSync(rc, "utf8"), "flavor\n");
});

test("copyTree without overwrite keeps what is there and copies the rest, modes included", async () => {
  const h = host("keep");
  writeFileSync(join(h.root, "usr/jails/flavors/default/etc/new"), "new\n", { mode: 0o640 });
  await applyPlan(
    {
      title: "t",
      steps: [{ kind: "copyTree", from: "/usr/jails/flavors/default", to: h.jail, inJail: h.jail }],
    },
    { root: h.root, runCommands: false },
  );
  assert.equal(readFileSync(join(h.root, "usr/jails/www/etc/rc.conf"), "utf8"), "jail\n");
  assert.equal(readFileSync(join(h.root, "usr/jails/www/etc/new"), "utf8"), "new\n");
  assert.equal(lstatSync(join(h.root, "usr/jails/www/etc/new")).mode & 0o777, 0o640);
});

test("mountinfo mount points are decoded (\\040 is a space)", () => {
  const text =
    "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n" +
    "90 22 8:1 /srv/a /tmp/my\\040jail/sharedfs rw,relatime - ext4 /dev/sda1 rw\n";
  assert.deepEqual(parseMountinfo(text), ["/", "/tmp/my jail/sharedfs"]);
});

test("removing a tree refuses a bind mount below it, even one whose path has a space", () => {
  const h = host("bind mount");
  const shared = join(h.root, "shared");
  mkdirSync(join(shared, "bin"), { recursive: true });
  writeFileSync(join(shared, "bin/sh"), "#!/bin/sh\n");
  const mountPoint = join(h.root, "usr/jails/www/shared fs");
  mkdirSync(mountPoint);
  const planFile = join(tmp.dir, "bind-plan.json");
  writeFileSync(
    planFile,
    JSON.stringify([
      { title: "delete", steps: [{ kind: "remove", path: h.jail, recursive: true, inJail: h.jail }] },
    ]),
  );
  const before = treeDigest(shared);
  // The bind mount lives only in the child's private mount namespace and goes with it.
  const r = runSync([
    "unshare",
    "-m",
    "--propagation",
    "private",
    "--",
    ...childArgv(),
    "--bind",
    shared,
    mountPoint,
    "apply",
    h.root,
    planFile,
  ]);
  assert.deepEqual(treeDigest(shared), before, "files of the filesystem mounted in the jail were deleted");
  assert.match(
    r.stdout,
    /^error apply QJ1101 refusing to touch ".*shared fs": .*mounted/m,
    r.stdout + r.stderr,
  );
});

test("a write the host refuses is QJ6001 naming the step and path; other errors pass through", async () => {
  const { hostWriteError } = await import("../../src/platform/write-errors.js");
  for (const [code, text] of [
    ["ENOSPC", "no space left on device"],
    ["EDQUOT", "disk quota exceeded"],
    ["EROFS", "read-only file system"],
    ["EACCES", "permission denied"],
  ] as const) {
    const e = Object.assign(new Error(`${code}: x`), { code, path: "/usr/local/etc/qjail.expose/www" });
    const got = hostWriteError(e, "write /usr/local/etc/qjail.expose/www");
    assert.ok(got instanceof UsageError, code);
    assert.equal(got.code, "QJ6001");
    assert.match(
      got.message,
      new RegExp(
        `write /usr/local/etc/qjail.expose/www failed: ${text} \\("/usr/local/etc/qjail.expose/www"\\)`,
      ),
    );
  }
  const other = Object.assign(new Error("EIO"), { code: "EIO" });
  assert.equal(hostWriteError(other, "x"), other);
});

test("a plan step on a read-only filesystem fails with QJ6001, not an internal error", () => {
  const h = host("readonly");
  const planFile = join(tmp.dir, "ro-plan.json");
  writeFileSync(
    planFile,
    JSON.stringify([
      {
        title: "t",
        steps: [
          { kind: "writeFile", path: "/usr/jails/www/etc/new", content: "x\n", inJail: "/usr/jails/www" },
        ],
      },
    ]),
  );
  const jailDir = join(h.root, "usr/jails/www");
  // A read-only bind mount of the jail, only in the child's private mount namespace.
  const r = runSync([
    "unshare",
    "-m",
    "--propagation",
    "private",
    "--",
    ...childArgv(),
    "exec",
    "mount",
    "--bind",
    jailDir,
    jailDir,
    "--then",
    "exec",
    "mount",
    "-o",
    "remount,bind,ro",
    jailDir,
    "--then",
    "apply",
    h.root,
    planFile,
  ]);
  assert.match(r.stdout, /^error apply QJ6001 .*read-only file system/m, r.stdout + r.stderr);
});
