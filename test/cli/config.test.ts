import { test, after } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runCli, testdir } from "../helpers/cli.js";
import { formatRecord } from "../../src/core/record.js";
import { newJailRecord } from "../../src/core/jail.js";
import { renderJailConf } from "../../src/core/jailconf.js";
import { hostLayout } from "../../src/core/paths.js";

// Every `config` option of qjail-5.md §4.9, one after the other on one jail.
const rec = newJailRecord(hostLayout(), {
  name: "www",
  ip4: "10.0.0.5",
  ip6: "",
  interface: "lo1",
  oneTimeSsh: false,
});
const db = newJailRecord(hostLayout(), {
  name: "db",
  ip4: "10.0.0.6",
  ip6: "",
  interface: "lo1",
  oneTimeSsh: false,
});
const host = testdir(
  {
    "usr/local/etc/qjail.local/www": formatRecord(rec),
    "usr/local/etc/qjail.global/www": formatRecord(rec),
    "usr/local/etc/qjail.config/www": renderJailConf(rec),
    "usr/local/etc/qjail.fstab/www": "/usr/jails/sharedfs /usr/jails/www/sharedfs nullfs ro 0 0\n",
    "usr/local/etc/qjail.local/db.norun": formatRecord(db),
    "usr/local/etc/qjail.global/db.norun": formatRecord(db),
    "usr/jails/www/etc/rc.conf": "# jail rc.conf\n",
    "usr/jails/www/etc/ssh/sshd_config": "# sshd\n",
    "usr/jails/www/var/log/.keep": "",
    "usr/jails/sharedfs/.keep": "",
    "stopped.json": JSON.stringify({ __version: "2", "jail-information": { jail: [] } }),
    "running.json": JSON.stringify({
      __version: "2",
      "jail-information": { jail: [{ jid: 7, name: "www", path: "/usr/jails/www" }] },
    }),
  },
  `qjail-config-${process.pid}-`,
);
after(() => host.cleanup());

const qjail = (args: string[], jls = "stopped.json") =>
  runCli(["config", "--root", host.dir, "--platform", "freebsd", ...args], {
    env: { QJAIL_JLS_JSON: join(host.dir, jls) },
  });
const file = (p: string): string => readFileSync(join(host.dir, p), "utf8");
const record = (): string => file("usr/local/etc/qjail.local/www");
const conf = (): string => file("usr/local/etc/qjail.config/www");

const steps: {
  args: string[];
  record?: RegExp;
  conf?: RegExp;
  noConf?: RegExp;
  stdout?: RegExp;
  stderr?: RegExp;
}[] = [
  {
    args: ["-k"],
    record: /^rsockets="allow.raw_sockets"$/m,
    conf: /^allow.raw_sockets;$/m,
    stdout: /Successfully configured {2}www: allow.raw_sockets on/,
  },
  { args: ["-K"], record: /^rsockets=""$/m, noConf: /raw_sockets/ },
  { args: ["-y"], record: /^sysvipc="allow.sysvipc"$/m, conf: /^allow.sysvipc;$/m },
  { args: ["-Y"], record: /^sysvipc=""$/m, noConf: /sysvipc/ },
  { args: ["-q"], record: /^quotas="allow.quotas"$/m, conf: /^allow.quotas;$/m },
  { args: ["-Q"], record: /^quotas=""$/m, noConf: /quotas/ },
  {
    args: ["-l"],
    record: /^nullfs="allow.mount.nullfs"$/m,
    conf: /^enforce_statfs {6}= {2}"1";\nallow.mount;\nallow.mount.nullfs;$/m,
  },
  { args: ["-L"], record: /^nullfs=""$/m, noConf: /allow.mount/ },
  { args: ["-t"], record: /^tmpfs="allow.mount.tmpfs"$/m, conf: /^allow.mount;\nallow.mount.tmpfs;$/m },
  { args: ["-T"], record: /^tmpfs=""$/m, noConf: /tmpfs/ },
  { args: ["-x"], record: /^zfs="allow.mount.zfs"$/m, conf: /^allow.mount.zfs;$/m },
  { args: ["-X"], record: /^zfs=""$/m, noConf: /zfs/ },
  { args: ["-f", "3"], record: /^fib="3"$/m, conf: /^exec.fib {12}= {2}"3";$/m },
  { args: ["-F"], record: /^fib=""$/m, noConf: /exec.fib/ },
  { args: ["-s", "2"], record: /^securelevel="2"$/m, conf: /^securelevel {9}= {2}"2";$/m },
  { args: ["-s", "-1"], record: /^securelevel="-1"$/m, conf: /^securelevel {9}= {2}"-1";$/m },
  { args: ["-S"], record: /^securelevel=""$/m, noConf: /securelevel/ },
  { args: ["-b", "3"], record: /^ruleset="3"$/m, conf: /^devfs_ruleset {7}= {2}"3";$/m },
  { args: ["-B"], record: /^ruleset=""$/m, conf: /^devfs_ruleset {7}= {2}"4";$/m },
  { args: ["-c", "em1"], record: /^interface="em1"$/m, conf: /^interface {11}= {2}"em1";$/m },
  {
    args: ["-4", "10.0.0.50,lo1|10.0.0.51"],
    record: /^ip4="10.0.0.50,lo1\|10.0.0.51"$/m,
    conf: /^ip4.addr {12}= {2}10.0.0.50,lo1\|10.0.0.51;$/m,
  },
  { args: ["-6", "fd00::50"], record: /^ip6="fd00::50"$/m, conf: /^ip6.addr {12}= {2}fd00::50;$/m },
  {
    args: ["-h"],
    record: /^poststartssh="yes"$/m,
    conf: /^exec.poststart {6}= {2}"jexec www {7}pw adduser www/m,
  },
  { args: ["-w", "em0"], record: /^vinterface="em0"$/m },
  {
    args: ["-v", "ipfw"],
    record: /^vnet="be\|ipfw\|1"\nvinterface="em0"$/m,
    conf: /^vnet;\nvnet.interface {6}= {2}"epair1b";\nexec.prestart {2}= {2}"\/sbin\/ifconfig bridge0 /m,
    noConf: /ip4.addr|qjail\.vnet\.be|poststart/,
  },
  {
    args: ["-V"],
    record: /^vnet=""$/m,
    conf: /^exec.stop {11}= {2}"\/bin\/sh \/etc\/rc.shutdown";$/m,
    noConf: /vnet|ip4.addr/,
    stderr:
      /has no address now: give it one with 'qjail config -4 ADDR www' and its interface with 'qjail config -c NIC www'/,
  },
  { args: ["-W"], record: /^vinterface=""$/m },
  { args: ["-p", "--packages", "nginx,curl"], stdout: /packages nginx curl/ },
];

test("each option changes its record key and regenerates the jail.conf block", async () => {
  for (const s of steps) {
    const r = await qjail([...s.args, "www"]);
    const label = s.args.join(" ");
    assert.equal(r.code, 0, `${label}: ${r.stderr}`);
    if (s.record) assert.match(record(), s.record, label);
    if (s.conf) assert.match(conf(), s.conf, label);
    if (s.noConf) assert.doesNotMatch(conf(), s.noConf, label);
    if (s.stdout) assert.match(r.stdout, s.stdout, label);
    if (s.stderr) assert.match(r.stderr, s.stderr, label);
    assert.equal(file("usr/local/etc/qjail.global/www"), record(), `${label}: global copy`);
    assert.ok(record().endsWith('imagedevice=""\n'), `${label}: every key written`);
  }
  assert.equal(
    file("usr/jails/www/etc/rc.conf"),
    '# jail rc.conf\nsshd_enable=YES\nfirewall_enable="YES"\nfirewall_logging="YES"\nfirewall_script="/etc/ipfw.vnet.rules"\n',
  );
  assert.equal(file("usr/jails/www/etc/ssh/sshd_config"), "# sshd\nUseDNS no\n");
  assert.match(file("usr/jails/www/etc/ipfw.vnet.rules"), /^#!\/bin\/sh\n/);
  assert.equal(file("usr/local/etc/qjail.vnetctl"), 'count="1"\n');
  assert.equal(file("usr/local/etc/qjail.packages/www"), "nginx\ncurl\n");
});

test("-r/-R and -m/-M rename the record files; -d prints the block", async () => {
  assert.equal((await qjail(["-r", "www"])).code, 0);
  assert.ok(
    existsSync(join(host.dir, "usr/local/etc/qjail.local/www.norun")) &&
      existsSync(join(host.dir, "usr/local/etc/qjail.global/www.norun")),
  );
  assert.equal((await qjail(["-r", "www"])).stdout, "Already set to norun status www\n");
  assert.equal((await qjail(["-d", "www"])).stdout, conf());
  assert.equal((await qjail(["-R", "www"])).code, 0);
  assert.equal((await qjail(["-M", "www"])).stdout, "Not in man status www\n");
  assert.equal((await qjail(["-m", "www"])).code, 0);
  assert.ok(
    existsSync(join(host.dir, "usr/local/etc/qjail.local/www.man")) &&
      !existsSync(join(host.dir, "usr/local/etc/qjail.local/www")),
  );
  assert.equal((await qjail(["-M", "www"])).code, 0);
  assert.match(record(), /^deffile="\/usr\/local\/etc\/qjail.local\/www"$/m);
});

test("-P installs the package list into the running jail; every other option bypasses it", async () => {
  const p = await qjail(["-P", "www"], "running.json");
  assert.equal(p.code, 0, p.stderr);
  assert.match(p.stderr, /\/usr\/sbin\/pkg -j 7 install -y nginx/);
  assert.match(p.stderr, /\/usr\/sbin\/pkg -j 7 install -y curl/);
  const before = record();
  const k = await qjail(["-k", "www"], "running.json");
  assert.equal(k.stdout, "Bypassed running jail www\n");
  assert.equal(record(), before);
  assert.equal(
    (await qjail(["-P", "www"])).stdout,
    "Bypassed stopped jail www: -P installs packages into a running jail; start it first\n",
  );
});

test("-b 50 appends the bpf ruleset to an existing devfs.rules once", async () => {
  const rules = join(host.dir, "etc/devfs.rules");
  mkdirSync(join(host.dir, "etc"), { recursive: true });
  writeFileSync(rules, "[devfsrules_mine=10]\nadd path 'tun*' unhide");
  const r = await qjail(["-b", "50", "www"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /service devfs restart/);
  assert.equal(
    readFileSync(rules, "utf8"),
    "[devfsrules_mine=10]\nadd path 'tun*' unhide\n[devfsrules_qjail_bpf=50]\nadd include $devfsrules_jail\nadd path 'bpf*' unhide\n",
  );
  assert.equal((await qjail(["-b", "50", "www"])).code, 0);
  assert.equal((readFileSync(rules, "utf8").match(/qjail_bpf/g) ?? []).length, 1);
  assert.equal((await qjail(["-b", "10", "www"])).code, 0);
  assert.match(conf(), /^devfs_ruleset {7}= {2}"10";$/m);
});

test("-A applies the option to every jail of the zone; a norun jail only takes -r/-R", async () => {
  const q = await qjail(["-A", "-q"]);
  assert.equal(q.code, 0, q.stderr);
  assert.equal(
    q.stdout,
    "Bypassed norun status db: it only accepts -r/-R\nSuccessfully configured  www: allow.quotas on\n",
  );
  assert.match(file("usr/local/etc/qjail.local/db.norun"), /^quotas=""$/m);
  const one = await qjail(["-q", "db"]);
  assert.equal(one.code, 3);
  assert.match(one.stderr, /QJ1301: jail "db" is in norun status/);
  const r = await qjail(["-A", "-R"]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, "Successfully configured  db: normal status\nNot in norun status www\n");
  const all = await qjail(["-A", "-y"]);
  assert.equal(all.code, 0, all.stderr);
  assert.match(file("usr/local/etc/qjail.local/db"), /^sysvipc="allow.sysvipc"$/m);
  assert.match(record(), /^sysvipc="allow.sysvipc"$/m);
});

test("-n moves the jail's MAC file with it and -4 leaves it alone: a jail keeps its MAC", async () => {
  const mac = "02:12:34:56:78:9a\n";
  const h = testdir(
    {
      "usr/local/etc/qjail.local/www": formatRecord(rec),
      "usr/local/etc/qjail.global/www": formatRecord(rec),
      "usr/local/etc/qjail.config/www": renderJailConf(rec),
      "usr/local/etc/qjail.fstab/www": "/usr/jails/sharedfs /usr/jails/www/sharedfs nullfs ro 0 0\n",
      "usr/jails/www/etc/rc.conf": "# jail rc.conf\n",
      "var/db/qjail/mac/www": mac,
      "stopped.json": JSON.stringify({ __version: "2", "jail-information": { jail: [] } }),
    },
    `qjail-config-mac-${process.pid}-`,
  );
  try {
    const q = (args: string[]) =>
      runCli(["config", "--root", h.dir, "--platform", "freebsd", ...args], {
        env: { QJAIL_JLS_JSON: join(h.dir, "stopped.json") },
      });
    const dry = await q(["--dry-run", "-n", "web", "www"]);
    assert.match(dry.stdout, /^mv \/var\/db\/qjail\/mac\/www \/var\/db\/qjail\/mac\/web$/m);
    const r = await q(["-n", "web", "www"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(readFileSync(join(h.dir, "var/db/qjail/mac/web"), "utf8"), mac);
    assert.ok(!existsSync(join(h.dir, "var/db/qjail/mac/www")));
    const a = await q(["-4", "10.0.0.99", "web"]);
    assert.equal(a.code, 0, a.stderr);
    assert.equal(readFileSync(join(h.dir, "var/db/qjail/mac/web"), "utf8"), mac);
  } finally {
    h.cleanup();
  }
});

test("-v pf then -V: the vnet firewall's devfs ruleset 70 goes back to 4; the jail is told to get an address", async () => {
  const vn = newJailRecord(hostLayout(), {
    name: "vn",
    ip4: "10.0.0.7",
    ip6: "",
    interface: "lo1",
    oneTimeSsh: false,
  });
  const h = testdir(
    {
      "usr/local/etc/qjail.local/vn": formatRecord(vn),
      "usr/local/etc/qjail.global/vn": formatRecord(vn),
      "usr/local/etc/qjail.config/vn": renderJailConf(vn),
      "usr/jails/vn/etc/rc.conf": "# jail rc.conf\n",
      "usr/jails/sharedfs/.keep": "",
      "stopped.json": JSON.stringify({ __version: "2", "jail-information": { jail: [] } }),
    },
    `qjail-config-vnet-${process.pid}-`,
  );
  try {
    const q = (args: string[]) =>
      runCli(["config", "--root", h.dir, "--platform", "freebsd", ...args], {
        env: { QJAIL_JLS_JSON: join(h.dir, "stopped.json") },
      });
    const block = (): string => readFileSync(join(h.dir, "usr/local/etc/qjail.config/vn"), "utf8");
    assert.equal((await q(["-w", "em0", "vn"])).code, 0);
    const on = await q(["-v", "pf", "vn"]);
    assert.equal(on.code, 0, on.stderr);
    assert.match(block(), /^devfs_ruleset {7}= {2}"70";$/m);
    const off = await q(["-V", "vn"]);
    assert.equal(off.code, 0, off.stderr);
    assert.match(block(), /^devfs_ruleset {7}= {2}"4";$/m);
    assert.doesNotMatch(block(), /vnet|epair/);
    assert.match(off.stderr, /"vn" has no address now: give it one with 'qjail config -4 ADDR vn'/);
  } finally {
    h.cleanup();
  }
});

test("-p on a terminal: the editor runs with the package list as its one argument, under --root's path", async () => {
  const { editPackageList } = await import("../../src/ops/config.js");
  const { chmodSync, rmSync } = await import("node:fs");
  // The editor: a script that appends a package and records how it was called.
  const editor = join(host.dir, "editor.sh");
  writeFileSync(
    editor,
    '#!/bin/sh\necho "$#:$1" > "$(dirname "$0")/editor.args"\necho curl >> "$1"\nexit 4\n',
  );
  chmodSync(editor, 0o755);
  const req = { layout: hostLayout(), name: "www", editor, terminal: true };
  const list = join(host.dir, "usr/local/etc/qjail.packages/www");
  rmSync(list, { force: true });
  const choice = { root: host.dir, platform: "freebsd" } as const;
  assert.equal(await editPackageList(choice, { ...req, dryRun: true }), undefined);
  assert.equal(existsSync(join(host.dir, "editor.args")), false);
  // The editor's exit status is the command's; the file is the physical path below --root.
  assert.equal(await editPackageList(choice, { ...req, dryRun: false }), 4);
  assert.equal(file("editor.args"), `1:${list}\n`);
  assert.equal(file("usr/local/etc/qjail.packages/www"), "curl\n");
  await assert.rejects(editPackageList(choice, { ...req, terminal: false, dryRun: false }), {
    code: "QJ1343",
  });
});
