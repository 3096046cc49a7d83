import { test } from "node:test";
import assert from "node:assert/strict";
import { flatSteps, planStages, type Step } from "../../src/core/plan.js";
import { hostLayout } from "../../src/core/paths.js";
import { newJailRecord, specFromRecord, type HostState } from "../../src/core/jail.js";
import { planCreate, type CreateState } from "../../src/core/plan-create.js";
import { planDelete } from "../../src/core/plan-delete.js";
import {
  planConfig,
  BPF_RULESET_TEXT,
  type ConfigState,
  type ConfigChange,
} from "../../src/core/plan-config.js";
import { planInstall } from "../../src/core/plan-install.js";
import { parseAddressList } from "../../src/core/validate.js";
import { UsageError } from "../../src/core/errors.js";

/** Fake host state (changesets' FakeFullState habit): jails by name with optional overrides. */
function fakeState(
  jails: Record<string, Record<string, string>> = {},
  running: Record<string, number> = {},
): HostState {
  const layout = hostLayout();
  const specs = Object.entries(jails).map(([name, over]) => {
    const { status = "normal", ...rec } = over;
    return specFromRecord(layout, name, status as "normal", {
      ...newJailRecord(layout, { name, ip4: "10.0.0.5", ip6: "", interface: "lo1", oneTimeSsh: false }),
      ...rec,
    });
  });
  return {
    layout,
    jails: specs,
    global: specs.map((s) => ({ name: s.name, status: s.status, record: s.record })),
    live: new Map(Object.entries(running).map(([n, jid]) => [n, { jid }])),
  };
}
const configState = (base: HostState, over: Partial<ConfigState> = {}): ConfigState => ({
  ...base,
  devfsRules: undefined,
  vnetCount: 0,
  exposures: new Set(),
  packages: new Map(),
  ...over,
});
const where = (s: Step): string =>
  `${s.kind} ${"path" in s ? s.path : "to" in s ? s.to : s.kind === "run" ? s.argv.join(" ") : ""}`;
const code = (f: () => unknown): string => {
  try {
    f();
  } catch (e) {
    assert.ok(e instanceof UsageError, String(e));
    return `${e.code} ${e.message}`;
  }
  return "accepted";
};

test("create: tree first, control files next, records last", () => {
  const st: CreateState = {
    ...fakeState(),
    flavors: ["default"],
    flavorConflicts: [],
    sshBase: { rcConf: 'a="1"', sshdConfig: "UseDNS no\n" },
  };
  const plan = planCreate(st, {
    name: "www",
    ip4: parseAddressList("10.0.0.9", 4),
    ip6: [],
    nic: "lo1",
    flavor: "default",
    oneTimeSsh: true,
    duplicates: 0,
    force: false,
  });
  assert.deepEqual(planStages(plan).before.map(where), [
    "mkdir /var/db/qjail/creating/www",
    "copyTree /usr/jails/www",
    "copyTree /usr/jails/www",
    "mkdir /usr/jails/www/etc/ssh",
    "writeFile /usr/jails/www/etc/rc.conf",
    "writeFile /usr/jails/www/etc/ssh/sshd_config",
  ]);
  assert.deepEqual(planStages(plan).commit.map(where), [
    "writeFile /usr/local/etc/qjail.fstab/www",
    "writeFile /usr/local/etc/qjail.config/www",
    "writeFile /usr/local/etc/qjail.local/www",
    "writeFile /usr/local/etc/qjail.global/www",
    "remove /var/db/qjail/creating/www",
  ]);
  const text = (p: string): string => {
    const s = flatSteps(plan.steps).find((x) => x.kind === "writeFile" && x.path === p);
    return s?.kind === "writeFile" ? s.content : "";
  };
  assert.equal(text("/usr/jails/www/etc/rc.conf"), 'a="1"\nsshd_enable=YES\n');
  assert.equal(
    text("/usr/jails/www/etc/ssh/sshd_config"),
    "UseDNS no\n",
    "a line already there is not added twice",
  );
  assert.deepEqual(plan.messages, ["Successfully created  www"]);
});

test("create: taken names and addresses are refused, --force only warns", () => {
  const st: CreateState = { ...fakeState({ www: {} }), flavors: ["default"], flavorConflicts: [] };
  const req = {
    name: "db",
    ip4: parseAddressList("10.0.0.5", 4),
    ip6: [],
    nic: "lo1",
    flavor: "default",
    oneTimeSsh: false,
    duplicates: 0,
    force: false,
  };
  assert.match(
    code(() => planCreate(st, req)),
    /^QJ1206 address "10.0.0.5" is already assigned to jail "www"/,
  );
  assert.deepEqual(planCreate(st, { ...req, force: true }).warnings, [
    "Existing jail www is already assigned IP address 10.0.0.5",
  ]);
  assert.match(
    code(() => planCreate(st, { ...req, name: "www", ip4: parseAddressList("10.0.0.6", 4) })),
    /^QJ1205 Jailname already exists. "www"/,
  );
  assert.match(
    code(() => planCreate(st, { ...req, ip4: [] })),
    /^QJ1201/,
  );
  assert.match(
    code(() => planCreate(st, { ...req, ip4: parseAddressList("10.0.0.6", 4), flavor: "nope" })),
    /^QJ1203 Flavor not found. "nope"/,
  );
  assert.match(
    code(() =>
      planCreate(
        { ...st, flavors: ["ssh-default"] },
        { ...req, ip4: parseAddressList("10.0.0.6", 4), flavor: "ssh-default", oneTimeSsh: true },
      ),
    ),
    /^QJ1202/,
  );
});

test("create -d: numbered copies with consecutive addresses, existing ones bypassed", () => {
  const st: CreateState = {
    ...fakeState({ "web-002": { ip4: "10.0.1.99" } }),
    flavors: ["default"],
    flavorConflicts: [],
  };
  const plan = planCreate(st, {
    name: "web",
    ip4: parseAddressList("10.0.0.10", 4),
    ip6: [],
    nic: "lo1",
    flavor: "default",
    oneTimeSsh: false,
    duplicates: 3,
    force: false,
  });
  assert.deepEqual(plan.messages, [
    "Successfully created  web-001",
    "Bypassed existing jail web-002",
    "Successfully created  web-003",
  ]);
  const rec3 = flatSteps(plan.steps).find(
    (s) => s.kind === "writeFile" && s.path === "/usr/local/etc/qjail.local/web-003",
  );
  assert.ok(rec3?.kind === "writeFile");
  assert.match(rec3.content, /^ip4="10.0.0.12"$/m);
  assert.match(
    code(() =>
      planCreate(st, {
        name: "web",
        ip4: parseAddressList("10.0.0.253", 4),
        ip6: [],
        nic: "lo1",
        flavor: "default",
        oneTimeSsh: false,
        duplicates: 3,
        force: false,
      }),
    ),
    /^QJ1209/,
  );
});

test("delete: records first, tree last; running jails bypassed", () => {
  const st = fakeState({ www: {}, db: { ip4: "10.0.0.6" } }, { db: 4 });
  const plan = planDelete(st, st.jails, { all: false });
  assert.deepEqual(flatSteps(plan.steps).map(where), [
    "remove /usr/local/etc/qjail.local/www",
    "remove /usr/local/etc/qjail.global/www",
    "remove /usr/local/etc/qjail.fstab/www",
    "remove /var/log/qjail.www.console.log",
    "remove /usr/local/etc/qjail.config/www",
    "remove /usr/local/etc/qjail.expose/www",
    "remove /var/db/qjail/mac/www",
    "remove /usr/jails/www",
  ]);
  assert.deepEqual(plan.messages, ["Successfully deleted  www", "Bypassed running jail db"]);
  assert.deepEqual(plan.jailTrees, ["/usr/jails/www"]);
});

test("config -b 50 adds qjail's bpf ruleset once; other unknown rulesets are refused", () => {
  const base = fakeState({ www: {} });
  const plan = planConfig(
    configState(base, { devfsRules: "[mine=10]\nadd path 'tun*' unhide" }),
    base.jails,
    { change: { kind: "ruleset", value: 50 }, force: false, freebsd: true },
  );
  const append = flatSteps(plan.steps).find((s) => s.kind === "appendFile");
  assert.ok(append?.kind === "appendFile");
  assert.equal(append.path, "/etc/devfs.rules");
  assert.equal(append.content, `\n${BPF_RULESET_TEXT}`);
  assert.equal(
    append.content.split("\n").slice(1).join("\n"),
    ["[devfsrules_qjail_bpf=50]", "add include $devfsrules_jail", "add path 'bpf*' unhide", ""].join("\n"),
  );
  assert.ok(
    flatSteps(plan.steps).some(
      (s) => s.kind === "run" && s.argv.join(" ") === "/usr/sbin/service devfs restart",
    ),
  );
  const conf = flatSteps(plan.steps).find(
    (s) => s.kind === "writeFile" && s.path === "/usr/local/etc/qjail.config/www",
  );
  assert.ok(conf?.kind === "writeFile");
  assert.match(conf.content, /^devfs_ruleset {7}= {2}"50";$/m);

  const again = planConfig(configState(base, { devfsRules: `x\n${BPF_RULESET_TEXT}` }), base.jails, {
    change: { kind: "ruleset", value: 50 },
    force: false,
    freebsd: true,
  });
  assert.equal(flatSteps(again.steps).filter((s) => s.kind === "appendFile" || s.kind === "run").length, 0);
  assert.equal(
    flatSteps(
      planConfig(configState(base, { devfsRules: "[mine=10]\n" }), base.jails, {
        change: { kind: "ruleset", value: 10 },
        force: false,
        freebsd: true,
      }).steps,
    ).length,
    3,
  );
  assert.match(
    code(() =>
      planConfig(configState(base), base.jails, {
        change: { kind: "ruleset", value: 51 },
        force: false,
        freebsd: true,
      }),
    ),
    /^QJ1305 devfs.rules # 51 does not exist/,
  );
});

test("config: status rules, running jails, vnet numbering", () => {
  const base = fakeState(
    {
      a: { status: "norun" },
      b: { status: "man", ip4: "10.0.0.6" },
      c: { ip4: "10.0.0.7" },
      r: { ip4: "10.0.0.8" },
    },
    { r: 9 },
  );
  const st = configState(base, { vnetCount: 4 });
  const [a, b, c, r] = base.jails as [
    (typeof base.jails)[0],
    (typeof base.jails)[0],
    (typeof base.jails)[0],
    (typeof base.jails)[0],
  ];
  assert.match(
    code(() =>
      planConfig(st, [a], {
        change: { kind: "flag", key: "rsockets", on: true },
        force: false,
        freebsd: true,
      }),
    ),
    /^QJ1301 jail "a" is in norun status/,
  );
  assert.match(
    code(() =>
      planConfig(st, [b], { change: { kind: "securelevel", value: 1 }, force: false, freebsd: true }),
    ),
    /^QJ1301 jail "b" is in man status/,
  );
  const norunOff = planConfig(st, [a], {
    change: { kind: "status", status: "norun", on: false },
    force: false,
    freebsd: true,
  });
  assert.deepEqual(flatSteps(norunOff.steps).map(where).slice(-4), [
    "writeFile /usr/local/etc/qjail.local/a",
    "writeFile /usr/local/etc/qjail.global/a",
    "remove /usr/local/etc/qjail.local/a.norun",
    "remove /usr/local/etc/qjail.global/a.norun",
  ]);
  assert.deepEqual(
    planConfig(st, [c], {
      change: { kind: "status", status: "norun", on: false },
      force: false,
      freebsd: true,
    }).messages,
    ["Not in norun status c"],
  );
  assert.deepEqual(
    planConfig(st, [r], { change: { kind: "flag", key: "zfs", on: true }, force: false, freebsd: true })
      .messages,
    ["Bypassed running jail r"],
  );

  assert.match(
    code(() =>
      planConfig(st, [c], { change: { kind: "vnet", firewall: "pf" }, force: false, freebsd: true }),
    ),
    /^QJ1308/,
  );
  const withNic = { ...c, record: { ...c.record, vinterface: "em0", rsockets: "allow.raw_sockets" } };
  const vnet = planConfig(st, [withNic], {
    change: { kind: "vnet", firewall: "pf" },
    force: false,
    freebsd: true,
  });
  const rec = flatSteps(vnet.steps).find(
    (s) => s.kind === "writeFile" && s.path === "/usr/local/etc/qjail.local/c",
  );
  assert.ok(rec?.kind === "writeFile");
  assert.match(rec.content, /^vnet="be\|pf\|5"$/m);
  assert.match(rec.content, /^rsockets=""$/m);
  assert.match(rec.content, /^ruleset="70"$/m);
  assert.ok(
    flatSteps(vnet.steps).some(
      (s) =>
        s.kind === "writeFile" && s.path === "/usr/local/etc/qjail.vnetctl" && s.content === 'count="5"\n',
    ),
  );
});

test("config -n: tree, control files, records, then the old names go", () => {
  const base = fakeState({ www: {} });
  const st = configState(base, {
    exposures: new Set(["www"]),
    consoleLogs: new Set(["www"]),
    macs: new Set(["www"]),
  });
  const plan = planConfig(st, base.jails, {
    change: { kind: "rename", newName: "web" } as ConfigChange,
    force: false,
    freebsd: true,
  });
  assert.deepEqual(flatSteps(plan.steps).map(where), [
    "rename /usr/jails/web",
    "writeFile /usr/local/etc/qjail.fstab/web",
    "writeFile /usr/local/etc/qjail.config/web",
    "writeFile /usr/local/etc/qjail.local/web",
    "writeFile /usr/local/etc/qjail.global/web",
    "rename /usr/local/etc/qjail.expose/web",
    "rename /var/db/qjail/mac/web",
    "remove /usr/local/etc/qjail.local/www",
    "remove /usr/local/etc/qjail.global/www",
    "remove /usr/local/etc/qjail.fstab/www",
    "remove /usr/local/etc/qjail.config/www",
    "rename /var/log/qjail.web.console.log",
  ]);
  const fstab = flatSteps(plan.steps)[1];
  assert.ok(fstab?.kind === "writeFile");
  assert.equal(fstab.content, "/usr/jails/sharedfs /usr/jails/web/sharedfs nullfs ro 0 0\n");
  assert.match(
    code(() =>
      planConfig(configState(fakeState({ www: {}, web: { ip4: "10.0.0.9" } })), [base.jails[0]!], {
        change: { kind: "rename", newName: "web" },
        force: false,
        freebsd: true,
      }),
    ),
    /^QJ1311/,
  );
});

test("install: the old base goes, customised stock flavors are kept, vnetctl survives", () => {
  const layout = hostLayout();
  const present = new Set([
    "/usr/jails/template",
    "/usr/jails/sharedfs",
    "/usr/jails/flavors/default",
    "/usr/local/etc/qjail.vnetctl",
  ]);
  const state = {
    platform: "freebsd" as const,
    layout,
    exists: (p: string) => present.has(p),
    runningJails: [],
    from: "directory with base.txz" as const,
    freebsdTools: false,
    flavorFiles: {},
    hostEtcFiles: [],
    newsyslog: undefined,
    root: "/",
    resolvConf: undefined,
    flavors: ["default"],
  };
  const plan = planInstall(state, { from: "/mnt/dist", host: undefined, log: false });
  const steps = flatSteps(plan.steps);
  assert.deepEqual(steps.slice(0, 6).map(where), [
    "remove /usr/jails/sharedfs",
    "remove /usr/jails/template",
    "rename /usr/jails/flavors/users.saved.default",
    "mkdir /usr/jails/template",
    "mkdir /usr/jails/flavors",
    "extract /usr/jails/template",
  ]);
  // the archive is the admin's path as typed (never relocated under --root), unpacked in the plan
  const extract = plan.steps.find((s) => s.kind === "extract");
  assert.ok(extract?.kind === "extract");
  assert.equal(extract.archive, "/mnt/dist/base.txz");
  assert.equal(extract.local, true);
  // shared directories move only where base.txz has them: a conditional group per directory
  const bin = plan.steps.find((s) => s.kind === "ifExists" && s.path === "/usr/jails/template/bin");
  assert.ok(bin?.kind === "ifExists");
  assert.deepEqual(bin.steps.map(where), [
    "rename /usr/jails/sharedfs/bin",
    "symlink /usr/jails/template/bin",
  ]);
  assert.ok(!steps.some((s) => "path" in s && s.path === "/usr/local/etc/qjail.vnetctl"));
  assert.ok(!steps.some((s) => s.kind === "download"), "-f downloads nothing");
  // without -f: download (checked against the MANIFEST) first, then the download directory goes
  const fetched = planInstall(
    { ...state, from: undefined, downloadUrl: "http://m/pub/FreeBSD/releases/amd64/14.1-RELEASE/base.txz" },
    { from: undefined, host: undefined, log: false },
  );
  const kinds = fetched.steps.map((s) => s.kind);
  assert.ok(kinds.indexOf("download") < kinds.indexOf("extract"));
  const dl = fetched.steps.find((s) => s.kind === "download");
  assert.ok(dl?.kind === "download" && dl.verify === "manifest" && dl.to === "/usr/jails/download/base.txz");
  assert.deepEqual(where(fetched.steps.at(-1)!), "remove /usr/jails/download");
  // refusals change nothing: they come before any plan
  assert.match(
    code(() => planInstall({ ...state, runningJails: ["www"] }, { from: "/d", host: undefined, log: false })),
    /^QJ1224/,
  );
  assert.match(
    code(() => planInstall(state, { from: "/d", host: "ftp.x", log: false })),
    /^QJ1221/,
  );
  assert.match(
    code(() => planInstall({ ...state, from: "directory" }, { from: "/d", host: undefined, log: false })),
    /^QJ1222/,
  );
});
