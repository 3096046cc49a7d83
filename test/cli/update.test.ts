import { test, after } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { emptyRecord, formatRecord } from "../../src/core/record.js";
import { runCli, testdir, treeDigest } from "../helpers/cli.js";

// update runs for real under --root against a fake host tree: the host's /bin,
// /usr/lib… are files in the temporary root; chflags and portsnap (FreeBSD
// programs) are echoed, not run.

const cleanups: (() => void)[] = [];
after(() => cleanups.forEach((c) => c()));

function host(running: string[] = []): { dir: string; env: Record<string, string> } {
  const rec = formatRecord({ ...emptyRecord(), name: "www", path: "/usr/jails/www" });
  const t = testdir(
    {
      "bin/sh": "new sh\n",
      "usr/bin/env": "new env\n",
      "usr/share/misc/termcap": "new termcap\n",
      "usr/src/Makefile": "new src\n",
      "usr/jails/sharedfs/bin/sh": "old sh\n",
      "usr/jails/sharedfs/bin/stale": "gone after -b\n",
      "usr/jails/sharedfs/usr/bin/env": "old env\n",
      "usr/jails/sharedfs/usr/src/OLD": "old src\n",
      "usr/jails/www/etc/rc.conf": "keep\n",
      "usr/local/etc/qjail.local/www": rec,
      "usr/local/etc/qjail.global/www": rec,
      "etc/newsyslog.conf": "# admin's file\n",
      "jls.json": JSON.stringify({
        __version: "2",
        "jail-information": {
          jail: running.map((name) => ({
            jid: 1,
            hostname: name,
            path: `/usr/jails/${name}`,
            name,
            state: "ACTIVE",
            cpusetid: 1,
            ipv4_addrs: [],
            ipv6_addrs: [],
          })),
        },
      }),
    },
    `qjail-update-${process.pid}-`,
  );
  cleanups.push(t.cleanup);
  return { dir: t.dir, env: { QJAIL_JLS_JSON: join(t.dir, "jls.json") } };
}

const cli = (h: { dir: string; env: Record<string, string> }, args: string[]) =>
  runCli(["update", "--platform", "freebsd", "--root", h.dir, ...args], { env: h.env });

test("update -b: sharedfs gets the host's binaries, stale files go, perl link added, jails' /etc untouched", async () => {
  const h = host();
  const r = await cli(h, ["-b"]);
  assert.equal(r.code, 0, r.stderr);
  const S = (p: string): string => join(h.dir, "usr/jails/sharedfs", p);
  assert.equal(readFileSync(S("bin/sh"), "utf8"), "new sh\n");
  assert.equal(existsSync(S("bin/stale")), false);
  assert.equal(readFileSync(S("usr/bin/env"), "utf8"), "new env\n");
  assert.equal(readFileSync(S("usr/share/misc/termcap"), "utf8"), "new termcap\n");
  assert.equal(readlinkSync(S("usr/bin/perl")), "/usr/local/bin/perl");
  assert.equal(readFileSync(S("usr/src/OLD"), "utf8"), "old src\n");
  assert.equal(readFileSync(join(h.dir, "usr/jails/www/etc/rc.conf"), "utf8"), "keep\n");
  assert.match(
    r.stderr,
    /\(not run under --root\) \/bin\/chflags -R noschg,nosunlink \/usr\/jails\/sharedfs/,
  );
});

test("update -b --dry-run: the plan, only for directories the host has, nothing changed", async () => {
  const h = host();
  const before = treeDigest(h.dir);
  const r = await cli(h, ["--dry-run", "-b"]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(
    r.stdout,
    [
      "# copy the host's binaries into /usr/jails/sharedfs",
      "/bin/chflags -R noschg,nosunlink /usr/jails/sharedfs",
      "rm -rf /usr/jails/sharedfs/bin",
      "copy /bin/ /usr/jails/sharedfs/bin/",
      "rm -rf /usr/jails/sharedfs/usr/bin",
      "copy /usr/bin/ /usr/jails/sharedfs/usr/bin/",
      "rm -rf /usr/jails/sharedfs/usr/share",
      "copy /usr/share/ /usr/jails/sharedfs/usr/share/",
      "/bin/chflags -R noschg,nosunlink /usr/jails/sharedfs",
      "ln -s /usr/local/bin/perl /usr/jails/sharedfs/usr/bin/perl",
      "",
    ].join("\n"),
  );
  assert.deepEqual(treeDigest(h.dir), before);
});

test("update -S replaces sharedfs/usr/src; -P needs the host's /usr/ports", async () => {
  const h = host();
  const r = await cli(h, ["-S"]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(readFileSync(join(h.dir, "usr/jails/sharedfs/usr/src/Makefile"), "utf8"), "new src\n");
  assert.equal(existsSync(join(h.dir, "usr/jails/sharedfs/usr/src/OLD")), false);
  const p = await cli(h, ["-P"]);
  assert.equal(p.code, 3);
  assert.match(p.stderr, /QJ1706: "\/usr\/ports" does not exist/);
});

test("update -p: a shallow git clone of the ports tree, a fast-forward pull once cloned; a portsnap tree is refused", async () => {
  const h = host();
  const first = await cli(h, ["--dry-run", "-p"]);
  assert.equal(first.code, 0, first.stderr);
  assert.match(
    first.stdout,
    /^\/usr\/local\/bin\/git clone --depth 1 https:\/\/git\.FreeBSD\.org\/ports\.git \/usr\/jails\/sharedfs\/usr\/ports$/m,
  );
  assert.doesNotMatch(first.stdout, /portsnap/);
  const { mkdirSync } = await import("node:fs");
  mkdirSync(join(h.dir, "usr/jails/sharedfs/usr/ports/.git"), { recursive: true });
  const again = await cli(h, ["--dry-run", "-p"]);
  assert.match(
    again.stdout,
    /^\/usr\/local\/bin\/git -C \/usr\/jails\/sharedfs\/usr\/ports pull --ff-only$/m,
  );
  rmSync(join(h.dir, "usr/jails/sharedfs/usr/ports/.git"), { recursive: true });
  writeFileSync(join(h.dir, "usr/jails/sharedfs/usr/ports/.portsnap.INDEX"), "");
  const old = await cli(h, ["--dry-run", "-p"]);
  assert.equal(old.code, 3);
  assert.match(old.stderr, /QJ1708: .* holds a ports tree that is not a git clone/);
});

test("update refuses while a jail runs, and refuses zero or two options, changing nothing", async () => {
  const h = host(["www"]);
  const before = treeDigest(h.dir);
  for (const [args, code] of [
    [["-b"], "QJ1704"],
    [[], "QJ1701"],
    [["-b", "-S"], "QJ1701"],
    [["-l", "maybe"], "QJ1703"],
    [["-b", "extra"], "QJ1702"],
  ] as const) {
    const r = await cli(h, [...args]);
    assert.equal(r.code, 3, args.join(" "));
    assert.match(r.stderr, new RegExp(code), args.join(" "));
  }
  assert.deepEqual(treeDigest(h.dir), before);
});

test("update -l on twice: the log exists and newsyslog.conf has qjail's line once; -l off removes the log", async () => {
  const h = host(["www"]);
  assert.equal((await cli(h, ["-l", "on"])).code, 0);
  assert.equal((await cli(h, ["-l", "on"])).code, 0);
  assert.equal(existsSync(join(h.dir, "var/log/qjail.log")), true);
  // the admin's newsyslog.conf is left alone; qjail's line is in its own newsyslog.conf.d file, once (P21)
  assert.equal(readFileSync(join(h.dir, "etc/newsyslog.conf"), "utf8"), "# admin's file\n");
  assert.equal(
    readFileSync(join(h.dir, "usr/local/etc/newsyslog.conf.d/qjail.conf"), "utf8"),
    "/var/log/qjail.log                      600  3     100  *     -\n",
  );
  assert.equal((await cli(h, ["-l", "off"])).code, 0);
  assert.equal(existsSync(join(h.dir, "var/log/qjail.log")), false);
});

test("update --json: one document naming the option", async () => {
  const h = host();
  const r = await cli(h, ["--json", "--dry-run", "-S"]);
  assert.equal(r.code, 0, r.stderr);
  const doc = JSON.parse(r.stdout) as { command: string; option: string; dryRun: boolean; steps: number };
  assert.deepEqual(doc, {
    command: "update",
    option: "source",
    dryRun: true,
    title: "copy the host's /usr/src into /usr/jails/sharedfs/usr/src",
    steps: 2,
  });
});

test("update -b keeps owners, groups and set-id modes of the host's files (qjail's cpio -dmp), where tests run as root", async (t) => {
  if (process.getuid?.() !== 0) {
    t.diagnostic("not root: ownership cannot be set, nothing to check");
    return;
  }
  const { chownSync, chmodSync, statSync } = await import("node:fs");
  const h = host();
  writeFileSync(join(h.dir, "usr/bin/wall"), "setgid tty\n");
  chownSync(join(h.dir, "usr/bin/wall"), 0, 4);
  chmodSync(join(h.dir, "usr/bin/wall"), 0o2555);
  chownSync(join(h.dir, "bin/sh"), 3, 7);
  const r = await cli(h, ["-b"]);
  assert.equal(r.code, 0, r.stderr);
  const wall = statSync(join(h.dir, "usr/jails/sharedfs/usr/bin/wall"));
  assert.equal(wall.gid, 4);
  assert.equal(wall.mode & 0o7777, 0o2555);
  const sh = statSync(join(h.dir, "usr/jails/sharedfs/bin/sh"));
  assert.deepEqual([sh.uid, sh.gid], [3, 7]);
});
