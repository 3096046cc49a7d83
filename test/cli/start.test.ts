import { test, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { emptyRecord, formatRecord, type JailRecord } from "../../src/core/record.js";
import { runCli, testdir, treeDigest } from "../helpers/cli.js";

// FreeBSD backend under --root: there is no FreeBSD kernel here, so these
// tests pin the exact jail(8)/mdconfig/jls command lines (--dry-run) and the
// files the commands write; the running jails come from a recorded
// `jls --libxo json -v` document (QJAIL_JLS_JSON).

const cleanups: (() => void)[] = [];
after(() => cleanups.forEach((c) => c()));

function record(name: string, extra: Partial<JailRecord> = {}): string {
  const r = {
    ...emptyRecord(),
    name,
    ip4: "10.0.0.2",
    path: `/usr/jails/${name}`,
    interface: "lo1",
    fstab: `/usr/local/etc/qjail.fstab/${name}`,
    deffile: `/usr/local/etc/qjail.local/${name}`,
    ...extra,
  };
  return formatRecord(r);
}

const CONF = (name: string, extra = ""): string =>
  `${name} { \nhost.hostname       =  "${name}";\npath                =  "/usr/jails/${name}";\n${extra}exec.start          =  "/bin/sh /etc/rc";\n}\n`;

/** A host with jails www (running), db (stopped), old (norun), man1 (.man, stopped), img (image jail, running). */
function host(): { dir: string; env: Record<string, string> } {
  const files: Record<string, string> = {};
  const add = (file: string, name: string, extra: Partial<JailRecord> = {}): void => {
    files[`usr/local/etc/qjail.local/${file}`] = record(name, extra);
    files[`usr/local/etc/qjail.global/${file}`] = record(name, extra);
    files[`usr/local/etc/qjail.config/${name}`] = CONF(name);
  };
  add("www", "www");
  add("db", "db", { fib: "2" });
  add("old.norun", "old");
  add("man1.man", "man1");
  add("img", "img", { image: "/usr/jails/img/img.img", imagetype: "simple", imageblockcount: "512" });
  files["usr/jails/sharedfs/.keep"] = "";
  files["jls.json"] = JSON.stringify({
    __version: "2",
    "jail-information": {
      jail: [
        {
          jid: 7,
          hostname: "www",
          path: "/usr/jails/www",
          name: "www",
          state: "ACTIVE",
          cpusetid: 2,
          ipv4_addrs: ["10.0.0.2"],
          ipv6_addrs: [],
        },
        {
          jid: 9,
          hostname: "img",
          path: "/usr/jails/img",
          name: "img",
          state: "ACTIVE",
          cpusetid: 3,
          ipv4_addrs: ["10.0.0.3"],
          ipv6_addrs: [],
        },
      ],
    },
  });
  const t = testdir(files, `qjail-start-${process.pid}-`);
  cleanups.push(t.cleanup);
  return { dir: t.dir, env: { QJAIL_JLS_JSON: join(t.dir, "jls.json") } };
}

/** Global options go after the command word: `qjail start --root DIR …`. */
const cli = (h: { dir: string; env: Record<string, string> }, args: string[]) => {
  const i = args.findIndex((a) => !a.startsWith("--"));
  const [cmd] = args.splice(i, 1);
  return runCli([cmd as string, "--platform", "freebsd", "--root", h.dir, ...args], { env: h.env });
};

test("start --dry-run: qjail's messages and the exact jail(8) command lines, norun bypassed, man jail started", async () => {
  const h = host();
  const before = treeDigest(h.dir);
  const r = await cli(h, ["--dry-run", "start"]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(
    r.stdout,
    [
      "# start jail db",
      "/usr/sbin/jail -q -f /usr/local/etc/qjail.config/db -c",
      "/usr/sbin/jls -j db jid",
      "write /var/run/qjail.db.pid mode 555",
      "    | %JID%",
      "# Jail already running.      img",
      "# start jail man1",
      "/usr/sbin/jail -q -f /usr/local/etc/qjail.config/man1 -c",
      "/usr/sbin/jls -j man1 jid",
      "write /var/run/qjail.man1.pid mode 555",
      "    | %JID%",
      "# Bypassed norun status old.norun",
      "# Jail already running.      www",
      "",
    ].join("\n"),
  );
  assert.deepEqual(treeDigest(h.dir), before);
});

test("image jail start --dry-run: mdconfig, mount over the root, the .device link, then jail -c", async () => {
  const h = host();
  const r = await cli(h, ["--dry-run", "restart", "img"]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(
    r.stdout,
    [
      "# stop jail img",
      "/usr/sbin/jail -q -f /usr/local/etc/qjail.config/img -r img",
      "rm -f /var/run/qjail.img.pid",
      "/usr/sbin/jls -d -j img jid",
      "/sbin/umount /usr/jails/img",
      "/sbin/mdconfig -d -u %MD_UNIT%",
      "rm -f /usr/jails/img.device",
      "# start jail img",
      "/sbin/mdconfig -l -v",
      "/sbin/mdconfig -a -t vnode -f /usr/jails/img/img.img",
      "/sbin/mount /dev/%MD_UNIT% /usr/jails/img",
      "ln -s /dev/%MD_UNIT% /usr/jails/img.device",
      "/usr/sbin/jail -q -f /usr/local/etc/qjail.config/img -c",
      "/usr/sbin/jls -j img jid",
      "write /var/run/qjail.img.pid mode 555",
      "    | %JID%",
      "",
    ].join("\n"),
  );
});

test("stop of an attached image jail detaches the md unit its .device link names", async () => {
  const h = host();
  const { symlinkSync, mkdirSync } = await import("node:fs");
  mkdirSync(join(h.dir, "usr/jails"), { recursive: true });
  symlinkSync("/dev/md3", join(h.dir, "usr/jails/img.device"));
  const r = await cli(h, ["--dry-run", "stop", "img"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^\/sbin\/mdconfig -d -u md3$/m);
});

test("stop --dry-run: running jails stopped, stopped ones reported with qjail's spacing", async () => {
  const h = host();
  const r = await cli(h, ["--dry-run", "stop", "www", "db"]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(
    r.stdout,
    [
      "# stop jail www",
      "/usr/sbin/jail -q -f /usr/local/etc/qjail.config/www -r www",
      "rm -f /var/run/qjail.www.pid",
      "# Jail already stopped.      db",
      "",
    ].join("\n"),
  );
});

test("restart does not start a stopped jail", async () => {
  const h = host();
  const r = await cli(h, ["--dry-run", "restart", "db"]);
  assert.equal(r.stdout, "# Jail already stopped.      db\n");
});

test("group prefix and unknown names follow qjail's selection rules", async () => {
  const h = host();
  const r = await cli(h, ["--dry-run", "start", "m="]);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /^# start jail man1$/m);
  assert.doesNotMatch(r.stdout, /www|db/);
  const bad = await cli(h, ["start", "nosuch"]);
  assert.equal(bad.code, 3);
  assert.match(bad.stderr, /Jail doesn't exist\. "nosuch"/);
});

test("start under --root without --dry-run: prints qjail's messages, echoes the unrun commands, writes no pid file", async () => {
  const h = host();
  const r = await cli(h, ["start", "db"]);
  assert.equal(r.code, 0, r.stderr);
  // C6: the success line says it was only simulated (list still shows the jail stopped)
  assert.equal(r.stdout, "Jail successfully started  db   (simulated: not run under --root)\n");
  assert.match(
    r.stderr,
    /\(not run under --root\) \/usr\/sbin\/jail -q -f \/usr\/local\/etc\/qjail\.config\/db -c/,
  );
  assert.throws(() => readFileSync(join(h.dir, "var/run/qjail.db.pid")));
});

test("the first start of a create -c jail clears poststartssh in both records and the exec.poststart line", async () => {
  const h = host();
  const poststart = `exec.poststart      =  "jexec db       pw adduser db -p 12-12-12 -c Jail -m -g wheel -s csh -w yes";\n`;
  for (const d of ["qjail.local", "qjail.global"])
    writeFileSync(join(h.dir, `usr/local/etc/${d}/db`), record("db", { fib: "2", poststartssh: "yes" }));
  writeFileSync(join(h.dir, "usr/local/etc/qjail.config/db"), CONF("db", poststart));
  const r = await cli(h, ["start", "db"]);
  assert.equal(r.code, 0, r.stderr);
  for (const d of ["qjail.local", "qjail.global"]) {
    assert.equal(readFileSync(join(h.dir, `usr/local/etc/${d}/db`), "utf8"), record("db", { fib: "2" }));
  }
  assert.equal(readFileSync(join(h.dir, "usr/local/etc/qjail.config/db"), "utf8"), CONF("db"));
});

test("--json start: one document with a result per jail", async () => {
  const h = host();
  const r = await cli(h, ["--json", "start"]);
  assert.equal(r.code, 0, r.stderr);
  const doc = JSON.parse(r.stdout) as {
    command: string;
    jails: { name: string; result: string; message: string }[];
  };
  assert.equal(doc.command, "start");
  assert.deepEqual(
    doc.jails.map((j) => [j.name, j.result]),
    [
      ["db", "started"],
      ["img", "skipped"],
      ["man1", "started"],
      ["old", "skipped"],
      ["www", "skipped"],
    ],
  );
  assert.match(r.stderr, /Jail already running\. {6}www/);
});

test("--json stop --dry-run lists each jail's plan", async () => {
  const h = host();
  const r = await cli(h, ["--json", "--dry-run", "stop", "www"]);
  const doc = JSON.parse(r.stdout) as {
    dryRun: boolean;
    jails: { name: string; result: string; plan: string[] }[];
  };
  assert.equal(doc.dryRun, true);
  assert.deepEqual(doc.jails[0]?.plan, [
    "# stop jail www",
    "/usr/sbin/jail -q -f /usr/local/etc/qjail.config/www -r www",
    "rm -f /var/run/qjail.www.pid",
  ]);
});

test("an unknown zone is refused", async () => {
  const h = host();
  const r = await cli(h, ["start", "-z", "nozone"]);
  assert.equal(r.code, 3);
  assert.match(r.stderr, /Un-known zone/);
});

test("a jail that fails to start is reported and the next one still starts; exit status 3", async () => {
  const h = host();
  const { createFreebsdPlatform } = await import("../../src/platform/freebsd/index.js");
  const { runLifecycle } = await import("../../src/cli/commands/start.js");
  const { mkdirSync } = await import("node:fs");
  const { PassThrough } = await import("node:stream");
  mkdirSync(join(h.dir, "var/run"), { recursive: true });
  const calls: string[] = [];
  const answers: Record<string, { code: number; stdout: string; stderr: string }> = {
    "/usr/sbin/jail -q -f /usr/local/etc/qjail.config/db -c": {
      code: 1,
      stdout: "",
      stderr: "jail: db: mount.fstab: /usr/jails/db/sharedfs: No such file or directory",
    },
    "/usr/sbin/jail -q -f /usr/local/etc/qjail.config/man1 -c": { code: 0, stdout: "", stderr: "" },
    "/usr/sbin/jls -j man1 jid": { code: 0, stdout: "12\n", stderr: "" },
  };
  const platform = createFreebsdPlatform(h.dir, {
    live: true,
    env: h.env,
    run: async (argv) => {
      calls.push(argv.join(" "));
      const a = answers[argv.join(" ")];
      if (!a) throw new Error(`unexpected ${argv.join(" ")}`);
      return a;
    },
  });
  const out = new PassThrough();
  const err = new PassThrough();
  let stdout = "";
  let stderr = "";
  out.on("data", (d: Buffer) => (stdout += d.toString()));
  err.on("data", (d: Buffer) => (stderr += d.toString()));
  const ctx = { stdout: out, stderr: err, env: h.env, cwd: h.dir, now: () => new Date(), isTTY: false };
  const code = await runLifecycle(
    "start",
    {
      ctx,
      values: {},
      positionals: ["db", "man1"],
      global: { root: h.dir, platform: "freebsd", dryRun: false, json: false },
    },
    platform,
  );
  assert.equal(code, 3);
  assert.match(
    stderr,
    /Error: failed to start jail db: .*mount\.fstab.*\n {2}jail\(8\) read \/usr\/local\/etc\/qjail\.config\/db; check it with 'qjail config -d db'/,
  );
  assert.equal(stdout, "Jail successfully started  man1\n");
  assert.equal(readFileSync(join(h.dir, "var/run/qjail.man1.pid"), "utf8"), "12\n");
  assert.deepEqual(calls, Object.keys(answers));
});
