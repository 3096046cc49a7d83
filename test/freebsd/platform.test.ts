import { test } from "node:test";
import assert from "node:assert/strict";
import { lstatSync as lstatPath, mkdirSync, readFileSync, readlinkSync } from "node:fs";
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
  assert.deepEqual(
    planFreebsdConsole(jail("www", { fib: "1" }), { user: "bob", command: ["ls", "-l"] }).steps[0],
    {
      kind: "run",
      argv: ["/usr/sbin/setfib", "1", "/usr/sbin/jexec", "-U", "bob", "www", "ls", "-l"],
    },
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
  assert.deepEqual(steps.slice(0, 4), [
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
      "/sbin/umount /usr/jails.test/z1",
      "/sbin/mdconfig -d -u md4",
      "remove",
    ],
  );
});

// A whole start and stop, with a fake runner standing in for jail(8),
// mdconfig and jls, and a temporary root standing in for the host's files.

test("image jail start then stop: md unit and JID captured, pid file and .device link written, then released", async () => {
  const t = tempDir(`qjail-fbsd-${process.pid}-`);
  try {
    mkdirSync(join(t.dir, "var/run"), { recursive: true });
    mkdirSync(join(t.dir, "usr/jails/img"), { recursive: true });
    const spec = jail("img", { imagetype: "simple", image: "/usr/jails/img/img.img" });
    const f = fakeRunner({
      "/sbin/mdconfig -a -t vnode -f /usr/jails/img/img.img": ok("md7\n"),
      "/sbin/mount /dev/md7 /usr/jails/img": ok(""),
      "/usr/sbin/jail -q -f /usr/local/etc/qjail.config/img -c": ok(""),
      "/usr/sbin/jls -j img jid": ok("42\n"),
      "/usr/sbin/jail -q -f /usr/local/etc/qjail.config/img -r img": ok(""),
      "/sbin/umount /usr/jails/img": ok(""),
      "/sbin/mdconfig -d -u md7": ok(""),
    });
    const p = createFreebsdPlatform(t.dir, { run: f.run, live: true });
    await p.start(spec);
    assert.equal(readFileSync(join(t.dir, "var/run/qjail.img.pid"), "utf8"), "42\n");
    assert.equal(lstatPath(join(t.dir, "var/run/qjail.img.pid")).mode & 0o777, 0o555);
    assert.equal(readlinkSync(join(t.dir, "usr/jails/img.device")), "/dev/md7");
    await p.stop(spec);
    assert.deepEqual(f.calls, [
      "/sbin/mdconfig -a -t vnode -f /usr/jails/img/img.img",
      "/sbin/mount /dev/md7 /usr/jails/img",
      "/usr/sbin/jail -q -f /usr/local/etc/qjail.config/img -c",
      "/usr/sbin/jls -j img jid",
      "/usr/sbin/jail -q -f /usr/local/etc/qjail.config/img -r img",
      "/sbin/umount /usr/jails/img",
      "/sbin/mdconfig -d -u md7",
    ]);
    assert.throws(() => lstatPath(join(t.dir, "var/run/qjail.img.pid")));
    assert.throws(() => lstatPath(join(t.dir, "usr/jails/img.device")));
  } finally {
    t.cleanup();
  }
});

test("a jail that fails to start leaves its image released and no pid file", async () => {
  const t = tempDir(`qjail-fbsd-${process.pid}-`);
  try {
    mkdirSync(join(t.dir, "var/run"), { recursive: true });
    mkdirSync(join(t.dir, "usr/jails/img"), { recursive: true });
    const spec = jail("img", { imagetype: "simple" });
    const f = fakeRunner({
      "/sbin/mdconfig -a -t vnode -f /usr/jails/img/img.img": ok("md2\n"),
      "/sbin/mount /dev/md2 /usr/jails/img": ok(""),
      "/usr/sbin/jail -q -f /usr/local/etc/qjail.config/img -c": {
        code: 1,
        stdout: "",
        stderr: 'jail: "img" already exists',
      },
      "/sbin/umount /usr/jails/img": ok(""),
      "/sbin/mdconfig -d -u md2": ok(""),
    });
    await assert.rejects(
      createFreebsdPlatform(t.dir, { run: f.run, live: true }).start(spec),
      /already exists/,
    );
    assert.deepEqual(f.calls.slice(-2), ["/sbin/umount /usr/jails/img", "/sbin/mdconfig -d -u md2"]);
    assert.throws(() => lstatPath(join(t.dir, "var/run/qjail.img.pid")));
    assert.throws(() => lstatPath(join(t.dir, "usr/jails/img.device")));
  } finally {
    t.cleanup();
  }
});
