import { test, after } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { emptyRecord, formatRecord } from "../../src/core/record.js";
import { latestArchive, readArchiveIndex } from "../../src/store/archive.js";
import { runCli, testdir, treeDigest } from "../helpers/cli.js";

// archive and restore run for real under --root (node-tar, no FreeBSD tools needed);
// running jails come from a recorded jls document.

const cleanups: (() => void)[] = [];
after(() => cleanups.forEach((c) => c()));
const NOW = new Date(2017, 6, 1, 18, 3, 26);
const STAMP = "201707011803.26";

function host(running: string[] = []): { dir: string; env: Record<string, string> } {
  const files: Record<string, string> = {};
  const add = (file: string, name: string): void => {
    const text = formatRecord({
      ...emptyRecord(),
      name,
      path: `/usr/jails/${name}`,
      fstab: `/usr/local/etc/qjail.fstab/${name}`,
      ip4: "10.0.0.2",
    });
    files[`usr/local/etc/qjail.local/${file}`] = text;
    files[`usr/local/etc/qjail.global/${file}`] = text;
    files[`usr/local/etc/qjail.config/${name}`] = `${name} { }\n`;
    files[`usr/local/etc/qjail.fstab/${name}`] =
      `/usr/jails/sharedfs /usr/jails/${name}/sharedfs nullfs ro 0 0\n`;
    files[`usr/jails/${name}/etc/rc.conf`] = `hostname="${name}"\n`;
  };
  add("www", "www");
  add("old.norun", "old");
  add("web2", "web2");
  files["usr/local/etc/qjail.packages/www"] = "nginx\n";
  files["usr/jails/sharedfs/bin/sh"] = "#!sh\n";
  files["usr/local/bin/qjail"] = "#!/bin/sh\n";
  const jail = (name: string) => ({
    jid: 1,
    hostname: name,
    path: `/usr/jails/${name}`,
    name,
    state: "ACTIVE",
    cpusetid: 1,
    ipv4_addrs: [],
    ipv6_addrs: [],
  });
  files["jls.json"] = JSON.stringify({ __version: "2", "jail-information": { jail: running.map(jail) } });
  const t = testdir(files, `qjail-archive-${process.pid}-`);
  cleanups.push(t.cleanup);
  return { dir: t.dir, env: { QJAIL_JLS_JSON: join(t.dir, "jls.json") } };
}

const cli = (h: { dir: string; env: Record<string, string> }, cmd: string, args: string[]) =>
  runCli([cmd, "--platform", "freebsd", "--root", h.dir, ...args], { env: h.env, now: NOW });

test("archive www: qjail's name and member order, packages included, message with qjail's wording", async () => {
  const h = host();
  const r = await cli(h, "archive", ["www"]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, "Successfully archived www\n");
  const file = join(h.dir, `usr/jails/archive/www@${STAMP}.tar`);
  const { entries } = await readArchiveIndex(file);
  assert.deepEqual(entries.map((e) => e.path).slice(0, 6), [
    "/usr/local/etc/qjail.fstab/www",
    "/usr/local/etc/qjail.config/www",
    "/usr/local/etc/qjail.global/www",
    "/usr/local/etc/qjail.local/www",
    "/usr/local/etc/qjail.packages/www",
    "/usr/jails/www/",
  ]);
});

test("archive of a norun jail: the config member has no suffix (qjail 5.x's bug fixed)", async () => {
  const h = host();
  const r = await cli(h, "archive", ["old"]);
  assert.equal(r.code, 0, r.stderr);
  const { entries } = await readArchiveIndex(join(h.dir, `usr/jails/archive/old@${STAMP}.tar`));
  const paths = entries.map((e) => e.path);
  assert.ok(paths.includes("/usr/local/etc/qjail.config/old"));
  assert.ok(paths.includes("/usr/local/etc/qjail.local/old.norun"));
  assert.ok(paths.includes("/usr/local/etc/qjail.global/old.norun"));
});

test("archive -A --dry-run: the tar command lines, running jail bypassed, nothing written", async () => {
  const h = host(["web2"]);
  const before = treeDigest(h.dir);
  const r = await cli(h, "archive", ["--dry-run", "-A"]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(
    r.stdout,
    [
      "# Bypassed running jail. web2",
      "# archive old",
      `node-tar create gzip /usr/jails/archive/old@${STAMP}.tar /usr/local/etc/qjail.fstab/old /usr/local/etc/qjail.config/old /usr/local/etc/qjail.global/old.norun /usr/local/etc/qjail.local/old.norun /usr/jails/old   (as tar czPf)`,
      "# archive www",
      `node-tar create gzip /usr/jails/archive/www@${STAMP}.tar /usr/local/etc/qjail.fstab/www /usr/local/etc/qjail.config/www /usr/local/etc/qjail.global/www /usr/local/etc/qjail.local/www /usr/local/etc/qjail.packages/www /usr/jails/www   (as tar czPf)`,
      "",
    ].join("\n"),
  );
  assert.deepEqual(treeDigest(h.dir), before);
});

test("archive refusals: nothing named, -A with names, sharedfs while a jail runs", async () => {
  const h = host(["www"]);
  const before = treeDigest(h.dir);
  for (const [args, code] of [
    [[], "QJ1603"],
    [["-A", "www"], "QJ1602"],
    [["sharedfs"], "QJ1606"],
    [["-s", "www"], "QJ1601"],
    [["nosuch"], "QJ1115"],
  ] as const) {
    const r = await cli(h, "archive", [...args]);
    assert.equal(r.code, 3, args.join(" "));
    assert.match(r.stderr, new RegExp(code), args.join(" "));
  }
  assert.deepEqual(treeDigest(h.dir), before);
});

test("archive template and --json: one document listing the archive", async () => {
  const h = host();
  mkdirSync(join(h.dir, "usr/jails/template/etc"), { recursive: true });
  writeFileSync(join(h.dir, "usr/jails/template/etc/motd"), "hi\n");
  const r = await cli(h, "archive", ["--json", "template"]);
  assert.equal(r.code, 0, r.stderr);
  const doc = JSON.parse(r.stdout) as { archives: { name: string; result: string; archive: string }[] };
  assert.deepEqual(doc.archives, [
    {
      name: "template",
      result: "archived",
      archive: `/usr/jails/archive/template@${STAMP}.tar`,
      message: "Successfully archived template",
    },
  ]);
  const { entries } = await readArchiveIndex(join(h.dir, doc.archives[0]?.archive.slice(1) ?? ""));
  assert.ok(entries.every((e) => e.path.startsWith("/usr/jails/template")));
});

test("archive -s then restore -s: qjail's control files and programs come back", async () => {
  const h = host();
  const a = await cli(h, "archive", ["-s"]);
  assert.equal(a.code, 0, a.stderr);
  assert.deepEqual(readdirSync(join(h.dir, "usr/jails/archive/system.bkup")).sort(), [
    "qjail.config",
    "qjail.fstab",
    "qjail.global",
    "qjail.local",
    "qjail.packages",
  ]);
  assert.equal(readFileSync(join(h.dir, "usr/jails/archive/pgm.bkup/qjail"), "utf8"), "#!/bin/sh\n");
  writeFileSync(join(h.dir, "usr/local/etc/qjail.config/www"), "damaged\n");
  const r = await cli(h, "restore", ["-s"]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(readFileSync(join(h.dir, "usr/local/etc/qjail.config/www"), "utf8"), "www { }\n");
});

test("restore -s with no backup is refused (qjail 5.x called an undefined Kill)", async () => {
  const h = host();
  const r = await cli(h, "restore", ["-s"]);
  assert.equal(r.code, 3);
  assert.match(r.stderr, /QJ1625: there is no system backup/);
  assert.equal(existsSync(join(h.dir, "usr/jails/archive/system.bkup")), false);
});

test("a record naming a host file as its fstab or path: archive packs the jail's own files, never the host's", async () => {
  const h = host();
  mkdirSync(join(h.dir, "etc"), { recursive: true });
  writeFileSync(join(h.dir, "etc/master.passwd"), "root:$6$secret:0:0::0:0:root:/root:/bin/sh\n");
  mkdirSync(join(h.dir, "usr/local/secret"), { recursive: true });
  writeFileSync(join(h.dir, "usr/local/secret/key"), "k\n");
  const crafted = formatRecord({
    ...emptyRecord(),
    name: "www",
    path: "/usr/local/secret",
    fstab: "/etc/master.passwd",
    ip4: "10.0.0.2",
  });
  for (const d of ["qjail.local", "qjail.global"])
    writeFileSync(join(h.dir, "usr/local/etc", d, "www"), crafted);
  const r = await cli(h, "archive", ["www"]);
  assert.equal(r.code, 0, r.stderr);
  const { entries } = await readArchiveIndex(join(h.dir, `usr/jails/archive/www@${STAMP}.tar`));
  const paths = entries.map((e) => e.path.replace(/\/$/, ""));
  assert.ok(paths.includes("/usr/local/etc/qjail.fstab/www"), paths.join(" "));
  assert.ok(paths.includes("/usr/jails/www/etc/rc.conf"), paths.join(" "));
  assert.deepEqual(
    paths.filter((p) => p.startsWith("/etc/") || p.startsWith("/usr/local/secret")),
    [],
  );
});

test("archives are 0600 in a 0700 directory, and a .part left by a killed run is cleared, never listed", async () => {
  const h = host();
  const dir = join(h.dir, "usr/jails/archive");
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  const { chmodSync, statSync } = await import("node:fs");
  chmodSync(dir, 0o755);
  writeFileSync(join(dir, "www@201601010000.00.tar.part"), "half");
  writeFileSync(join(dir, "old@201601010000.00.tar.part"), "half");
  assert.equal((await cli(h, "archive", ["www"])).code, 0);
  assert.deepEqual(readdirSync(dir).sort(), ["old@201601010000.00.tar.part", `www@${STAMP}.tar`]);
  assert.equal(statSync(join(dir, `www@${STAMP}.tar`)).mode & 0o777, 0o600);
  // An existing directory is the admin's: its mode stays; one qjail makes is 0700.
  assert.equal(statSync(dir).mode & 0o777, 0o755);
  const h2 = host();
  assert.equal((await cli(h2, "archive", ["www"])).code, 0);
  assert.equal(statSync(join(h2.dir, "usr/jails/archive")).mode & 0o777, 0o700);
  // restore by name takes the newest real archive, not a .part.
  writeFileSync(join(h2.dir, "usr/jails/archive/www@209901010000.00.tar.part"), "half");
  assert.equal(latestArchive(readdirSync(join(h2.dir, "usr/jails/archive")), "www"), `www@${STAMP}.tar`);
});
