import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, statSync, writeFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { REPO_ROOT, runCli, tempDir, treeDigest } from "../helpers/cli.js";
import { buildBaseTxz } from "../helpers/base-txz.js";
import { installedProgram } from "../../src/assets.js";
import { BOOT_MARKER, bootSelection, renderBootFile } from "../../src/core/boot.js";

/** A FreeBSD scratch host with the default zone and zone "lab": ssh, www (norun), db (man); lab: labj. */
async function hostWithZones(): Promise<{ root: string; cleanup: () => void }> {
  const t = tempDir(`qjail-boot-${process.pid}-`);
  const base = buildBaseTxz();
  try {
    const g = ["--root", t.dir, "--platform", "freebsd"];
    for (const args of [
      ["install", "-f", base.dir],
      ["install", "-z", "lab", "-f", base.dir],
      ["create", "-n", "em0", "-4", "10.0.0.2", "ssh"],
      ["create", "-n", "em0", "-4", "10.0.0.3", "www"],
      ["create", "-n", "em0", "-4", "10.0.0.4", "db"],
      ["create", "-z", "lab", "-n", "em0", "-4", "10.0.0.5", "labj"],
      ["config", "-r", "www"],
      ["config", "-m", "db"],
    ]) {
      const r = await runCli([...args, ...g]);
      assert.equal(r.code, 0, `${args.join(" ")}: ${r.stderr}`);
    }
  } finally {
    base.cleanup();
  }
  return { root: t.dir, cleanup: t.cleanup };
}

test("boot start: fw sync, then every zone's jails but norun and manual ones (C16)", async () => {
  const h = await hostWithZones();
  try {
    const r = await runCli(["boot", "start", "--root", h.root, "--platform", "freebsd"]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split("\n");
    assert.match(lines[0] ?? "", /^Synced 0 exposure/);
    assert.deepEqual(lines.slice(1), [
      "Bypassed manual status db",
      "Bypassed norun status www",
      "Jail successfully started  ssh   (simulated: not run under --root)",
      "Jail successfully started  labj   (simulated: not run under --root)",
    ]);
    // The zone's jail is started from its zone's jail.conf.
    assert.match(r.stderr, /jail -q -f \/usr\/local\/etc\/qjail\.config\/labj -c/);
    assert.doesNotMatch(r.stderr, /qjail\.config\/(www|db) -c/);
  } finally {
    h.cleanup();
  }
});

test("boot stop: every zone's running jails", async () => {
  const h = await hostWithZones();
  const jls = join(h.root, "jls.json");
  const running = (name: string, jid: number) => ({ jid, name, path: `/usr/jails/${name}` });
  writeFileSync(
    jls,
    JSON.stringify({ __version: "2", "jail-information": { jail: [running("ssh", 1), running("labj", 2)] } }),
  );
  try {
    const r = await runCli(["boot", "stop", "--root", h.root, "--platform", "freebsd"], {
      env: { QJAIL_JLS_JSON: jls },
    });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Jail successfully stopped {2}ssh/);
    assert.match(r.stdout, /Jail successfully stopped {2}labj/);
    assert.match(r.stdout, /Jail already stopped\. +db/);
  } finally {
    h.cleanup();
  }
});

test("bootSelection keeps the order and names each bypassed jail", () => {
  const spec = (name: string, status: "normal" | "norun" | "man") =>
    ({ name, status }) as unknown as Parameters<typeof bootSelection>[0][number];
  const r = bootSelection([spec("a", "man"), spec("b", "normal"), spec("c", "norun"), spec("d", "normal")]);
  assert.deepEqual(
    r.start.map((j) => j.name),
    ["b", "d"],
  );
  assert.deepEqual(r.bypassed, ["Bypassed manual status a", "Bypassed norun status c"]);
});

test("boot install (FreeBSD): the rc.d scripts, mode 555, naming the installed qjail; again: up to date", async () => {
  const t = tempDir(`qjail-bootinst-${process.pid}-`);
  try {
    const g = ["--root", t.dir, "--platform", "freebsd"];
    // A FreeBSD port (packaging/freebsd) installs the shipped script as it is: that one is qjail's too.
    mkdirSync(join(t.dir, "usr/local/etc/rc.d"), { recursive: true });
    writeFileSync(
      join(t.dir, "usr/local/etc/rc.d/qjail"),
      readFileSync(join(REPO_ROOT, "etc/rc.d/qjail"), "utf8"),
    );
    const r = await runCli(["boot", "install", ...g]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Installed \/usr\/local\/etc\/rc\.d\/qjail\n/);
    assert.match(r.stdout, /sysrc qjail_enable=YES/);
    const script = join(t.dir, "usr/local/etc/rc.d/qjail");
    assert.equal(statSync(script).mode & 0o777, 0o555);
    const text = readFileSync(script, "utf8");
    assert.match(text, /^#!\/bin\/sh\n# Installed by 'qjail boot install'/);
    assert.ok(text.includes(`: \${qjail_program:="${installedProgram()}"}`));
    assert.ok(statSync(join(t.dir, "usr/local/etc/rc.d/qjail_watch")).isFile());
    const again = await runCli(["boot", "install", ...g]);
    assert.equal(again.code, 0);
    assert.match(again.stdout, /Up to date \/usr\/local\/etc\/rc\.d\/qjail\n/);
  } finally {
    t.cleanup();
  }
});

test("boot install (Linux): systemd units; an admin's own file is refused unchanged, --force replaces it", async () => {
  const t = tempDir(`qjail-bootinst-${process.pid}-`);
  try {
    const g = ["--root", t.dir, "--platform", "linux"];
    const units = join(t.dir, "etc/systemd/system");
    mkdirSync(units, { recursive: true });
    writeFileSync(join(units, "qjail.service"), "[Service]\nExecStart=/opt/mine\n");
    const before = treeDigest(t.dir);
    const refused = await runCli(["boot", "install", ...g]);
    assert.equal(refused.code, 3);
    assert.match(
      refused.stderr,
      /QJ1801: "\/etc\/systemd\/system\/qjail\.service" exists and was not written/,
    );
    assert.match(refused.stderr, /--force/);
    assert.deepEqual(treeDigest(t.dir), before);

    const forced = await runCli(["boot", "install", "--force", ...g]);
    assert.equal(forced.code, 0, forced.stderr);
    assert.match(forced.stdout, /systemctl enable qjail\.service qjail-fw\.service/);
    const unit = readFileSync(join(units, "qjail.service"), "utf8");
    assert.ok(unit.includes(`ExecStart=${installedProgram()} boot start`));
    assert.ok(unit.startsWith(`# ${BOOT_MARKER}`));
    for (const f of ["qjail-fw.service", "qjail-watch.service"])
      assert.match(readFileSync(join(units, f), "utf8"), new RegExp(BOOT_MARKER));
    // The next upgrade replaces qjail's own files without --force.
    writeFileSync(join(units, "qjail.service"), unit.replace("boot start", "boot start # old"));
    const upgrade = await runCli(["boot", "install", ...g]);
    assert.equal(upgrade.code, 0, upgrade.stderr);
    assert.equal(readFileSync(join(units, "qjail.service"), "utf8"), unit);
  } finally {
    t.cleanup();
  }
});

test("renderBootFile: the program path is replaced everywhere, the marker goes after #!", () => {
  const out = renderBootFile(
    "#!/bin/sh\nx=/usr/local/bin/qjail\n/usr/local/bin/qjail go\n",
    "/opt/q/bin/qjail",
    "9.9.9",
  );
  assert.equal(
    out,
    "#!/bin/sh\n# Installed by 'qjail boot install' from qjail 9.9.9; run it again after upgrading qjail.\nx=/opt/q/bin/qjail\n/opt/q/bin/qjail go\n",
  );
});
