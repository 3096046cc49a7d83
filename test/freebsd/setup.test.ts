import { test, after } from "node:test";
import assert from "node:assert/strict";
import { chmodSync, readFileSync, statSync, existsSync } from "node:fs";
import { join } from "node:path";
import { runCli, testdir } from "../helpers/cli.js";
import { FakeFreebsdHost } from "../helpers/freebsd-host.js";
import { defaultHostConfig } from "../../src/core/hostconfig.js";
import { formatPlan } from "../../src/core/plan.js";
import { applyFreebsdSetup, freebsdSetupSteps } from "../../src/platform/freebsd/setup.js";
import { sysctlConfEdits } from "../../src/firewall/ipfw/setup.js";
import { applyEdits } from "../../src/firewall/managed-section.js";
import { UsageError } from "../../src/core/errors.js";

// `qjail fw setup --write` on FreeBSD: pf.conf checked with pfctl -nf before it
// replaces the old one, then loaded; ipfw's one_pass set now and at boot. The
// commands run against FakeFreebsdHost (no FreeBSD kernel here).

const cleanups: (() => void)[] = [];
after(() => cleanups.forEach((c) => c()));

function root(files: Record<string, string>): string {
  const t = testdir(files, `qjail-setup-${process.pid}-`);
  cleanups.push(t.cleanup);
  return t.dir;
}

const pfHost = { ...defaultHostConfig("freebsd"), extIf: "em0", firewall: "pf" as const };
const ipfwHost = { ...defaultHostConfig("freebsd"), extIf: "em0", firewall: "ipfw" as const };

test("pf: staged, checked with pfctl -nf, put in place keeping its mode, then loaded; the running ruleset has the hooks", async () => {
  const dir = root({ "etc/pf.conf": "block in all\npass out all keep state\n" });
  chmodSync(join(dir, "etc/pf.conf"), 0o600);
  const host = new FakeFreebsdHost(dir);
  const { steps } = await freebsdSetupSteps(pfHost, dir);
  assert.deepEqual(
    formatPlan({ title: "setup", steps })
      .split("\n")
      .filter((l) => !l.startsWith("    |")),
    [
      "# setup",
      "write /etc/pf.conf.qjail-new mode 600",
      "/sbin/pfctl -n -f /etc/pf.conf.qjail-new",
      "mv /etc/pf.conf.qjail-new /etc/pf.conf",
      "/sbin/pfctl -f /etc/pf.conf",
      "",
    ],
  );
  const done = await applyFreebsdSetup(steps, { root: dir, runCommands: true, run: host.run });
  assert.deepEqual(done.notes, []);
  assert.equal(statSync(join(dir, "etc/pf.conf")).mode & 0o777, 0o600);
  assert.deepEqual(host.pfMain.nat, ['nat-anchor "qjail/*" all', 'rdr-anchor "qjail/*" all']);
  assert.ok(host.pfMain.rules.includes('anchor "qjail/*" all'));
});

test("pf: a pf.conf pfctl rejects is refused and left as it was; pf not running is a note, not a failure", async () => {
  const broken = "blok in all\n";
  const dir = root({ "etc/pf.conf": broken });
  const host = new FakeFreebsdHost(dir);
  const { steps } = await freebsdSetupSteps(pfHost, dir);
  await assert.rejects(
    applyFreebsdSetup(steps, { root: dir, runCommands: true, run: host.run }),
    (e: unknown) => e instanceof UsageError && e.code === "QJ3026" && /syntax error/.test(e.message),
  );
  assert.equal(readFileSync(join(dir, "etc/pf.conf"), "utf8"), broken);
  assert.ok(!existsSync(join(dir, "etc/pf.conf.qjail-new")));
  const ok = root({ "etc/pf.conf": "block in all\n" });
  const off = new FakeFreebsdHost(ok);
  off.pfLoaded = false;
  const r = await applyFreebsdSetup((await freebsdSetupSteps(pfHost, ok)).steps, {
    root: ok,
    runCommands: true,
    run: off.run,
  });
  assert.match(
    r.notes[0] ?? "",
    /pf did not load it \(pfctl: \/dev\/pf: No such file or directory\); .*service pf start/,
  );
  assert.match(readFileSync(join(ok, "etc/pf.conf"), "utf8"), /^anchor "qjail\/\*"$/m);
});

test("ipfw: one_pass=0 now (sysctl) and at boot (/etc/sysctl.conf, the admin's lines kept)", async () => {
  const dir = root({
    "etc/sysctl.conf": "# mine\nkern.ipc.somaxconn=1024\nnet.inet.ip.fw.one_pass=1 # old\n",
  });
  const host = new FakeFreebsdHost(dir);
  const { steps } = await freebsdSetupSteps(ipfwHost, dir);
  await applyFreebsdSetup(steps, { root: dir, runCommands: true, run: host.run });
  assert.equal(
    readFileSync(join(dir, "etc/sysctl.conf"), "utf8"),
    "# mine\nkern.ipc.somaxconn=1024\nnet.inet.ip.fw.one_pass=0 # old\n",
  );
  assert.equal(host.sysctls.get("net.inet.ip.fw.one_pass"), "0");
  assert.deepEqual(host.calls, ["/sbin/sysctl net.inet.ip.fw.one_pass=0"]);
  // a second run changes no file
  assert.deepEqual(
    (await freebsdSetupSteps(ipfwHost, dir)).steps.map((s) => s.kind),
    ["run"],
  );
  const fresh = "kern.ipc.somaxconn=1024";
  assert.equal(
    applyEdits(fresh, sysctlConfEdits(fresh, "net.inet.ip.fw.one_pass", "0", "why")),
    "kern.ipc.somaxconn=1024\n# why\nnet.inet.ip.fw.one_pass=0\n",
  );
});

test("fw setup --write under --root: files written, the commands named for the admin to run on the host", async () => {
  const dir = root({
    "usr/local/etc/qjail.host": 'ext_if="em0"\nfirewall="ipfw"\n',
    "var/db/qjail/.keep": "",
  });
  const dry = await runCli(["fw", "setup", "--write", "--dry-run", "--root", dir, "--platform", "freebsd"]);
  assert.equal(dry.code, 0, dry.stderr);
  assert.match(dry.stdout, /^\/sbin\/sysctl net\.inet\.ip\.fw\.one_pass=0$/m);
  assert.ok(!existsSync(join(dir, "etc/sysctl.conf")));
  const w = await runCli(["fw", "setup", "--write", "--root", dir, "--platform", "freebsd"]);
  assert.equal(w.code, 0, w.stderr);
  assert.match(readFileSync(join(dir, "etc/sysctl.conf"), "utf8"), /^net\.inet\.ip\.fw\.one_pass=0$/m);
  assert.match(w.stdout, /run on the host: \/sbin\/sysctl net\.inet\.ip\.fw\.one_pass=0/);
});
