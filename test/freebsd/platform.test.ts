import { test } from "node:test";
import assert from "node:assert/strict";
import {
  linkSync,
  lstatSync as lstatPath,
  mkdirSync,
  readFileSync,
  readlinkSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { copyTreePreserving } from "../../src/platform/freebsd/copy.js";
import { join } from "node:path";
import { createFreebsdPlatform } from "../../src/platform/freebsd/index.js";
import { planFreebsdConsole, planFreebsdStart, planFreebsdStop } from "../../src/core/freebsd/lifecycle.js";
import { specFromRecord } from "../../src/core/jail.js";
import { hostLayout } from "../../src/core/paths.js";
import { emptyRecord } from "../../src/core/record.js";
import { formatPlan } from "../../src/core/plan.js";
import { UsageError } from "../../src/core/errors.js";
import { SHARED, tempDir } from "../helpers/cli.js";
import type { RunResult } from "../../src/platform/run.js";

// The FreeBSD backend without a FreeBSD kernel: the program runner is
// replaced by one that answers with outputs recorded on real hosts, and
// every argv it is asked to run is checked.

function fakeRunner(answers: Record<string, RunResult>): {
  run: (argv: readonly string[]) => Promise<RunResult>;
  calls: string[];
} {
  const calls: string[] = [];
  return {
    calls,
    run: async (argv) => {
      const key = argv.join(" ");
      calls.push(key);
      const a = answers[key];
      if (!a) throw new Error(`unexpected command ${key}`);
      return a;
    },
  };
}

const ok = (stdout: string): RunResult => ({ code: 0, stdout, stderr: "" });

test("liveJails: exactly one `jls --libxo json -v` call, parsed (recorded nodemanager output)", async () => {
  const text = readFileSync(join(SHARED, "fixtures/freebsd/jls-v-libxo-json-nodemanager-1.txt"), "utf8");
  const f = fakeRunner({ "/usr/sbin/jls --libxo json -v": ok(text) });
  const live = await createFreebsdPlatform("/", { run: f.run }).liveJails();
  assert.deepEqual(f.calls, ["/usr/sbin/jls --libxo json -v"]);
  assert.deepEqual([...live.keys()], ["git7", "sto2", "git6"]);
});

test("liveJails: a failing jls and unreadable output are refusals that say what happened", async () => {
  const failing = fakeRunner({
    "/usr/sbin/jls --libxo json -v": { code: 1, stdout: "", stderr: "jls: unknown option" },
  });
  await assert.rejects(
    createFreebsdPlatform("/", { run: failing.run }).liveJails(),
    (e: unknown) => e instanceof UsageError && e.code === "QJ1402" && /unknown option/.test(e.message),
  );
  const text = readFileSync(join(SHARED, "fixtures/freebsd/jls-N-bastille-readme-1.txt"), "utf8");
  const plain = fakeRunner({ "/usr/sbin/jls --libxo json -v": ok(text) });
  await assert.rejects(
    createFreebsdPlatform("/", { run: plain.run }).liveJails(),
    (e: unknown) => e instanceof UsageError && e.code === "QJ1403",
  );
});

test("liveJails under --root without a recording: nothing runs there", async () => {
  const f = fakeRunner({});
  assert.equal((await createFreebsdPlatform("/tmp/nowhere", { run: f.run }).liveJails()).size, 0);
  assert.deepEqual(f.calls, []);
});

test("defaultJailInterface from route -n get -inet default; no default route is a refusal", async () => {
  const f = fakeRunner({
    "/sbin/route -n get -inet default": ok("   route to: default\n  interface: em0\n"),
  });
  assert.equal(await createFreebsdPlatform("/", { run: f.run }).defaultJailInterface(), "em0");
  const none = fakeRunner({
    "/sbin/route -n get -inet default": { code: 1, stdout: "", stderr: "route: route has not been found" },
  });
  await assert.rejects(
    createFreebsdPlatform("/", { run: none.run }).defaultJailInterface(),
    (e: unknown) => e instanceof UsageError && e.code === "QJ1404",
  );
});

test("removeJailTree refuses while mount -p shows a mount below the jail root, before chflags or rm", async () => {
  const f = fakeRunner({
    "/sbin/mount -p": ok(
      "/dev/ada0p2\t/\tufs\trw\t1 1\n/usr/jails/sharedfs\t/usr/jails/www/sharedfs\tnullfs\tro\t0 0\n",
    ),
  });
  await assert.rejects(
    createFreebsdPlatform("/", { run: f.run }).removeJailTree("/usr/jails/www"),
    (e: unknown) => e instanceof UsageError && e.code === "QJ1405" && /sharedfs/.test(e.message),
  );
  assert.deepEqual(f.calls, ["/sbin/mount -p"]);
});

const jail = (name: string, extra: Partial<ReturnType<typeof emptyRecord>> = {}) =>
  specFromRecord(hostLayout(), name, "normal", {
    ...emptyRecord(),
    name,
    path: `/usr/jails/${name}`,
    ...extra,
  });

test("plans: directory jail start, stop and console argv (golden)", () => {
  assert.equal(
    formatPlan(planFreebsdStart(jail("www"))),
    "# start jail www\n/usr/sbin/jail -q -f /usr/local/etc/qjail.config/www -c\n/usr/sbin/jls -j www jid\nwrite /var/run/qjail.www.pid mode 555\n    | %JID%\n",
  );
  assert.equal(
    formatPlan(planFreebsdStop(jail("www"))),
    "# stop jail www\n/usr/sbin/jail -q -f /usr/local/etc/qjail.config/www -r www\nrm -f /var/run/qjail.www.pid\n",
  );
  // Without a terminal: jexec in its own session with pipes (see runConsole).
  assert.deepEqual(
    planFreebsdConsole(jail("www", { fib: "1" }), { user: "bob", command: ["ls", "-l"] }, false).steps[0],
    {
      kind: "run",
      argv: ["/usr/sbin/setfib", "1", "/usr/sbin/jexec", "-l", "-U", "bob", "www", "ls", "-l"],
      why: "in its own session with pipes: the jail never gets this terminal",
    },
  );
  // From a terminal: script(1) owns the pty, the jail gets only its slave.
  assert.deepEqual((planFreebsdConsole(jail("www"), {}, true).steps[0] as { argv: string[] }).argv, [
    "/usr/bin/script",
    "-q",
    "/dev/null",
    "/usr/sbin/jexec",
    "-l",
    "www",
    "/usr/bin/login",
    "-f",
    "root",
  ]);
});

test("plans: tmpfs and zfs jails load their module before jail -c (the parameters exist only then)", () => {
  const steps = planFreebsdStart(jail("www", { tmpfs: "allow.mount.tmpfs", zfs: "allow.mount.zfs" })).steps;
  assert.deepEqual(
    steps.slice(0, 3).map((x) => (x.kind === "run" ? x.argv.join(" ") : x.kind)),
    [
      "/sbin/kldload -n tmpfs",
      "/sbin/kldload -n zfs",
      "/usr/sbin/jail -q -f /usr/local/etc/qjail.config/www -c",
    ],
  );
});

test("plans: a zone jail uses the zone's jail root but the shared qjail.config", () => {
  const spec = specFromRecord(hostLayout("test"), "z1", "normal", {
    ...emptyRecord(),
    name: "z1",
    path: "/usr/jails.test/z1",
    imagetype: "simple",
  });
  const steps = planFreebsdStart(spec).steps.map((s) => (s.kind === "run" ? s.argv.join(" ") : s.kind));
  assert.deepEqual(steps.slice(0, 5), [
    "/sbin/mdconfig -l -v",
    "/sbin/mdconfig -a -t vnode -f /usr/jails.test/z1/z1.img",
    "/sbin/mount /dev/%MD_UNIT% /usr/jails.test/z1",
    "symlink",
    "/usr/sbin/jail -q -f /usr/local/etc/qjail.config/z1 -c",
  ]);
  assert.deepEqual(
    planFreebsdStop(spec, "md4").steps.map((s) => (s.kind === "run" ? s.argv.join(" ") : s.kind)),
    [
      "/usr/sbin/jail -q -f /usr/local/etc/qjail.config/z1 -r z1",
      "remove",
      "/usr/sbin/jls -d -j z1 jid",
      "/sbin/umount /usr/jails.test/z1",
      "/sbin/mdconfig -d -u md4",
      "remove",
    ],
  );
});

// A whole start and stop, with a fake runner standing in for jail(8),
// mdconfig and jls, and a temporary root standing in for the host's files.

/**
 * jail(8), jls(8), mdconfig(8), mount and umount for image jails, with the
 * state FreeBSD keeps: a removed jail stays "dying" (listed by `jls -d`) for
 * a while, and until it is gone `umount` of its root answers "Device busy".
 */
function imageHost(dyingPolls: number): {
  run: (argv: readonly string[]) => Promise<RunResult>;
  calls: string[];
  attached: Map<string, string>;
} {
  const calls: string[] = [];
  const attached = new Map<string, string>(); // unit -> file
  let jails = new Map<string, { jid: number; dying: number }>();
  let next = 7;
  const run = async (argv: readonly string[]): Promise<RunResult> => {
    const line = argv.join(" ");
    calls.push(line);
    let m: RegExpExecArray | null;
    if (line === "/sbin/mdconfig -l -v")
      return ok([...attached].map(([u, f]) => `${u}\tvnode\t 2048M\t${f}\n`).join(""));
    if ((m = /^\/sbin\/mdconfig -a -t vnode -f (\S+)$/.exec(line))) {
      const unit = `md${next++}`;
      attached.set(unit, m[1] as string);
      return ok(`${unit}\n`);
    }
    if ((m = /^\/sbin\/mdconfig -d -u (md\d+)$/.exec(line))) {
      attached.delete(m[1] as string);
      return ok("");
    }
    if (/^\/sbin\/mount \/dev\/md\d+ \S+$/.test(line)) return ok("");
    if ((m = /^\/usr\/sbin\/jail -q -f \S+\/(\w+) -c$/.exec(line))) {
      jails.set(m[1] as string, { jid: 42, dying: -1 });
      return ok("");
    }
    if ((m = /^\/usr\/sbin\/jail -q -f \S+ -r (\w+)$/.exec(line))) {
      const j = jails.get(m[1] as string);
      if (j) j.dying = dyingPolls;
      return ok("");
    }
    if ((m = /^\/usr\/sbin\/jls( -d)? -j (\w+) jid$/.exec(line))) {
      const j = jails.get(m[2] as string);
      const dying = j !== undefined && j.dying >= 0;
      if (!j || (dying && !m[1]))
        return { code: 1, stdout: "", stderr: `jls: jail "${m[2] as string}" not found` };
      if (dying && j.dying-- === 0) {
        jails = new Map([...jails].filter(([n]) => n !== m![2]));
        return { code: 1, stdout: "", stderr: `jls: jail "${m[2] as string}" not found` };
      }
      return ok(`${j.jid}\n`);
    }
    if ((m = /^\/sbin\/umount (\S+)$/.exec(line))) {
      const busy = [...jails.values()].some((j) => j.dying >= 0);
      return busy
        ? { code: 1, stdout: "", stderr: `umount: unmount of ${m[1] as string} failed: Device busy` }
        : ok("");
    }
    throw new Error(`unexpected command ${line}`);
  };
  return { run, calls, attached };
}

test("image jail start then stop: md unit and JID captured; the stop waits while the jail is dying, then unmounts", async () => {
  const t = tempDir(`qjail-fbsd-${process.pid}-`);
  try {
    mkdirSync(join(t.dir, "var/run"), { recursive: true });
    mkdirSync(join(t.dir, "usr/jails/img"), { recursive: true });
    const spec = jail("img", { imagetype: "simple", image: "/usr/jails/img/img.img" });
    const f = imageHost(3);
    const p = createFreebsdPlatform(t.dir, { run: f.run, live: true, pollMs: 1 });
    await p.start(spec);
    assert.equal(readFileSync(join(t.dir, "var/run/qjail.img.pid"), "utf8"), "42\n");
    assert.equal(lstatPath(join(t.dir, "var/run/qjail.img.pid")).mode & 0o777, 0o555);
    assert.equal(readlinkSync(join(t.dir, "usr/jails/img.device")), "/dev/md7");
    await p.stop(spec);
    assert.deepEqual(f.calls, [
      "/sbin/mdconfig -l -v",
      "/sbin/mdconfig -a -t vnode -f /usr/jails/img/img.img",
      "/sbin/mount /dev/md7 /usr/jails/img",
      "/usr/sbin/jail -q -f /usr/local/etc/qjail.config/img -c",
      "/usr/sbin/jls -j img jid",
      "/usr/sbin/jail -q -f /usr/local/etc/qjail.config/img -r img",
      "/usr/sbin/jls -d -j img jid",
      "/usr/sbin/jls -d -j img jid",
      "/usr/sbin/jls -d -j img jid",
      "/usr/sbin/jls -d -j img jid",
      "/sbin/umount /usr/jails/img",
      "/sbin/mdconfig -d -u md7",
    ]);
    assert.equal(f.attached.size, 0);
    assert.throws(() => lstatPath(join(t.dir, "var/run/qjail.img.pid")));
    assert.throws(() => lstatPath(join(t.dir, "usr/jails/img.device")));
  } finally {
    t.cleanup();
  }
});

test("an unmount that is busy is retried; a start never attaches an image twice", async () => {
  const t = tempDir(`qjail-fbsd-${process.pid}-`);
  try {
    mkdirSync(join(t.dir, "var/run"), { recursive: true });
    mkdirSync(join(t.dir, "usr/jails/img"), { recursive: true });
    const spec = jail("img", { imagetype: "simple", image: "/usr/jails/img/img.img" });
    const f = imageHost(0);
    let busy = 2;
    const run = async (argv: readonly string[]): Promise<RunResult> =>
      argv[0] === "/sbin/umount" && busy-- > 0
        ? { code: 1, stdout: "", stderr: `umount: unmount of ${argv[1] as string} failed: Device busy` }
        : f.run(argv);
    const p = createFreebsdPlatform(t.dir, { run, live: true, pollMs: 1 });
    await p.start(spec);
    await p.stop(spec);
    assert.equal(f.attached.size, 0);
    // An image attached behind qjail's back (the .device link is gone) is refused, and left attached.
    f.attached.set("md3", "/usr/jails/img/img.img");
    await assert.rejects(
      p.start(spec),
      (e: unknown) =>
        e instanceof UsageError && e.code === "QJ1406" && /attached already as md3/.test(e.message),
    );
    assert.deepEqual([...f.attached.keys()], ["md3"]);
    // A stop that did not finish (the .device link is still there) is refused before anything runs.
    f.attached.clear();
    symlinkSync("/dev/md9", join(t.dir, "usr/jails/img.device"));
    const before = f.calls.length;
    await assert.rejects(p.start(spec), (e: unknown) => e instanceof UsageError && e.code === "QJ1407");
    assert.equal(f.calls.length, before);
  } finally {
    t.cleanup();
  }
});

test("a jail that fails to start leaves the image it attached released and no pid file", async () => {
  const t = tempDir(`qjail-fbsd-${process.pid}-`);
  try {
    mkdirSync(join(t.dir, "var/run"), { recursive: true });
    mkdirSync(join(t.dir, "usr/jails/img"), { recursive: true });
    const spec = jail("img", { imagetype: "simple" });
    const f = imageHost(0);
    const run = async (argv: readonly string[]): Promise<RunResult> =>
      argv[0] === "/usr/sbin/jail"
        ? { code: 1, stdout: "", stderr: 'jail: "img" already exists' }
        : f.run(argv);
    await assert.rejects(
      createFreebsdPlatform(t.dir, { run, live: true, pollMs: 1 }).start(spec),
      /already exists/,
    );
    assert.deepEqual(f.calls.slice(-2), ["/sbin/umount /usr/jails/img", "/sbin/mdconfig -d -u md7"]);
    assert.equal(f.attached.size, 0);
    assert.throws(() => lstatPath(join(t.dir, "var/run/qjail.img.pid")));
    assert.throws(() => lstatPath(join(t.dir, "usr/jails/img.device")));
  } finally {
    t.cleanup();
  }
});

test("tree copies keep hard links (update -b: base's /usr/bin names share files, as cpio -p kept them)", async () => {
  const t = tempDir(`qjail-fbsd-links-${process.pid}-`);
  try {
    const from = join(t.dir, "from");
    mkdirSync(join(from, "bin"), { recursive: true });
    writeFileSync(join(from, "bin/ls"), "one binary\n");
    linkSync(join(from, "bin/ls"), join(from, "bin/dir"));
    writeFileSync(join(from, "bin/sh"), "another\n");
    await copyTreePreserving(from, join(t.dir, "to"), false);
    const a = statSync(join(t.dir, "to/bin/ls"));
    const b = statSync(join(t.dir, "to/bin/dir"));
    assert.equal(a.ino, b.ino, "one file, two names");
    assert.equal(a.nlink, 2);
    assert.equal(statSync(join(t.dir, "to/bin/sh")).nlink, 1);
  } finally {
    t.cleanup();
  }
});

test("removeJailTree: mount -p checked, flags cleared without crossing mounts (chflags -x), then removed", async () => {
  const t = tempDir(`qjail-fbsd-rm-${process.pid}-`);
  try {
    mkdirSync(join(t.dir, "usr/jails/www/etc"), { recursive: true });
    const f = fakeRunner({
      "/sbin/mount -p": ok("/dev/ada0p2\t/\tufs\trw\t1 1\n"),
      "/bin/chflags -x -R 0 /usr/jails/www": ok(""),
    });
    await createFreebsdPlatform(t.dir, { run: f.run, live: true }).removeJailTree("/usr/jails/www");
    assert.deepEqual(f.calls, ["/sbin/mount -p", "/bin/chflags -x -R 0 /usr/jails/www"]);
    assert.throws(() => lstatPath(join(t.dir, "usr/jails/www")));
  } finally {
    t.cleanup();
  }
});
