import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { existsSync, lstatSync, mkdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runCli, tempDir, treeDigest } from "../helpers/cli.js";
import { buildBaseTxz } from "../helpers/base-txz.js";

// The whole lifecycle for real under a temporary --root, from a base.txz this test builds.
let base: { dir: string; cleanup: () => void };
let root: { dir: string; cleanup: () => void };
before(() => {
  base = buildBaseTxz();
  root = tempDir(`qjail-lifecycle-${process.pid}-`);
  mkdirSync(join(root.dir, "etc"), { recursive: true });
  writeFileSync(join(root.dir, "etc/resolv.conf"), "nameserver 192.0.2.53\n");
});
after(() => {
  base?.cleanup();
  root?.cleanup();
});

const qjail = (cmd: string, ...args: string[]) =>
  runCli([cmd, "--root", root.dir, "--platform", "freebsd", ...args]);
const at = (p: string): string => join(root.dir, p);
const read = (p: string): string => readFileSync(at(p), "utf8");
const link = (p: string): string => readlinkSync(at(p));

test("install lays out sharedfs, template links, control dirs and flavors", async () => {
  const r = await qjail("install", "-f", base.dir);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, "Successfully installed qjail system.\n");
  assert.match(r.stderr, /populating template/);
  assert.equal(read("usr/jails/sharedfs/bin/sh"), "#!/bin/sh shell stand-in\n");
  for (const d of [
    "bin",
    "lib",
    "libexec",
    "sbin",
    "sys",
    "usr/bin",
    "usr/include",
    "usr/lib",
    "usr/lib32",
    "usr/libdata",
    "usr/libexec",
    "usr/sbin",
    "usr/share",
    "usr/src",
    "usr/ports",
  ]) {
    assert.equal(link(`usr/jails/template/${d}`), `/sharedfs/${d}`, d);
  }
  assert.equal(link("usr/jails/template/home"), "usr/home");
  assert.ok(lstatSync(at("usr/jails/template/sharedfs")).isDirectory());
  for (const gone of ["boot", "rescue", "usr/games"])
    assert.ok(!existsSync(at(`usr/jails/template/${gone}`)), gone);
  assert.ok(!existsSync(at("usr/jails/sharedfs/usr/src/README")), "usr/src starts empty");
  for (const d of ["qjail.local", "qjail.global", "qjail.config", "qjail.fstab", "qjail.packages"])
    assert.ok(lstatSync(at(`usr/local/etc/${d}`)).isDirectory(), d);
  assert.ok(lstatSync(at("usr/jails/archive")).isDirectory());
  assert.equal(read("usr/local/etc/qjail.vnetctl"), 'count="0"\n');
  assert.match(read("usr/jails/flavors/default/etc/rc.conf"), /sendmail_enable="NONE"/);
  assert.match(read("usr/jails/flavors/ssh-default/etc/rc.conf"), /sshd_enable="YES"/);
  assert.equal(read("usr/jails/flavors/ssh-default/etc/resolv.conf"), "nameserver 192.0.2.53\n");
  assert.equal(
    lstatSync(at("usr/jails/flavors/ssh-default/usr/local/etc/rc.d/qjail_user")).mode & 0o777,
    0o755,
  );
});

test("create writes the tree, fstab, jail.conf block and records", async () => {
  const r = await qjail("create", "-n", "lo1", "-4", "10.0.0.5", "-c", "www");
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, "Successfully created  www\n");
  assert.equal(
    read("usr/local/etc/qjail.fstab/www"),
    "/usr/jails/sharedfs /usr/jails/www/sharedfs nullfs ro 0 0\n",
  );
  assert.equal(read("usr/local/etc/qjail.local/www"), read("usr/local/etc/qjail.global/www"));
  assert.match(
    read("usr/local/etc/qjail.local/www"),
    /^name="www"\nip4="10.0.0.5"\nip6=""\npath="\/usr\/jails\/www"\ninterface="lo1"\n/,
  );
  assert.match(read("usr/local/etc/qjail.local/www"), /^poststartssh="yes"$/m);
  assert.match(
    read("usr/local/etc/qjail.config/www"),
    /^exec.poststart {6}= {2}"jexec www {7}pw adduser www -p 12-12-12 -c Jail -m -g wheel -s csh -w yes";$/m,
  );
  assert.equal(link("usr/jails/www/bin"), "/sharedfs/bin");
  assert.ok(lstatSync(at("usr/jails/www/sharedfs")).isDirectory());
  assert.match(read("usr/jails/www/etc/rc.conf"), /sendmail_enable="NONE"\n[\s\S]*sshd_enable=YES\n$/);
  assert.equal(read("usr/jails/www/etc/ssh/sshd_config"), "# base sshd_config\nUseDNS no\n");
  assert.equal(read("usr/jails/www/root/.profile"), "PATH=/bin:/usr/bin\n", "template files are copied");
});

test("--dry-run prints the plan and changes nothing", async () => {
  const before = treeDigest(root.dir);
  const r = await qjail("create", "--dry-run", "-n", "lo1", "-4", "10.0.0.6", "db");
  assert.equal(r.code, 0, r.stderr);
  assert.match(
    r.stdout,
    /^# create jail db\nmkdir -p \/var\/db\/qjail\/creating\/db\ncopy \/usr\/jails\/template\/ \/usr\/jails\/db\//,
  );
  assert.match(r.stdout, /write \/usr\/local\/etc\/qjail.global\/db mode 644/);
  assert.deepEqual(treeDigest(root.dir), before);
});

test("config changes one setting and regenerates the block; -b 50 defines the bpf ruleset", async () => {
  assert.equal((await qjail("config", "-k", "www")).code, 0);
  assert.match(read("usr/local/etc/qjail.config/www"), /^allow.raw_sockets;$/m);
  assert.match(read("usr/local/etc/qjail.local/www"), /^rsockets="allow.raw_sockets"$/m);
  const b = await qjail("config", "-b", "50", "www");
  assert.equal(b.code, 0, b.stderr);
  assert.equal(
    read("etc/devfs.rules"),
    "[devfsrules_qjail_bpf=50]\nadd include $devfsrules_jail\nadd path 'bpf*' unhide\n",
  );
  assert.match(read("usr/local/etc/qjail.config/www"), /^devfs_ruleset {7}= {2}"50";$/m);
  const s = await qjail("config", "-s", "-1", "www");
  assert.equal(s.code, 0, s.stderr);
  assert.match(read("usr/local/etc/qjail.config/www"), /^securelevel {9}= {2}"-1";$/m);
  const d = await qjail("config", "-d", "www");
  assert.equal(d.stdout, read("usr/local/etc/qjail.config/www"));
  const m = await qjail("config", "-m", "www");
  assert.equal(m.code, 0);
  assert.ok(
    existsSync(at("usr/local/etc/qjail.local/www.man")) && !existsSync(at("usr/local/etc/qjail.local/www")),
  );
  assert.ok(
    existsSync(at("usr/local/etc/qjail.global/www.man")) && !existsSync(at("usr/local/etc/qjail.global/www")),
  );
  assert.equal((await qjail("config", "-M", "www")).code, 0);
  assert.ok(existsSync(at("usr/local/etc/qjail.local/www")));
});

test("config -n renames the tree, fstab, records, block and exposures file", async () => {
  mkdirSync(at("usr/local/etc/qjail.expose"), { recursive: true });
  writeFileSync(at("usr/local/etc/qjail.expose/www"), "tcp 80\n");
  mkdirSync(at("var/log"), { recursive: true });
  writeFileSync(at("var/log/qjail.www.console.log"), "first boot\n");
  const r = await qjail("config", "-n", "web", "www");
  assert.equal(r.code, 0, r.stderr);
  assert.ok(!existsSync(at("usr/jails/www")) && existsSync(at("usr/jails/web/etc/rc.conf")));
  for (const f of [
    "qjail.local/www",
    "qjail.global/www",
    "qjail.fstab/www",
    "qjail.config/www",
    "qjail.expose/www",
  ])
    assert.ok(!existsSync(at(`usr/local/etc/${f}`)), f);
  assert.equal(read("usr/local/etc/qjail.expose/web"), "tcp 80\n");
  assert.equal(read("var/log/qjail.web.console.log"), "first boot\n");
  assert.ok(!existsSync(at("var/log/qjail.www.console.log")));
  assert.equal(
    read("usr/local/etc/qjail.fstab/web"),
    "/usr/jails/sharedfs /usr/jails/web/sharedfs nullfs ro 0 0\n",
  );
  assert.match(
    read("usr/local/etc/qjail.config/web"),
    /^web \{ \nhost.hostname {7}= {2}"web";\npath {16}= {2}"\/usr\/jails\/web";/,
  );
  assert.match(read("usr/local/etc/qjail.local/web"), /^deffile="\/usr\/local\/etc\/qjail.local\/web"$/m);
  const list = await qjail("list", "--json");
  const doc = JSON.parse(list.stdout) as {
    "qjail-information": { jail: { name: string; ipv4_addrs: string[] }[] };
  };
  assert.deepEqual(
    doc["qjail-information"].jail.map((j) => [j.name, j.ipv4_addrs]),
    [["web", ["10.0.0.5"]]],
  );
});

test("create -a builds a new jail from the newest archive of another", async () => {
  writeFileSync(at("usr/jails/web/etc/marker"), "from the archive\n");
  const a = await qjail("archive", "web");
  assert.equal(a.code, 0, a.stderr);
  const c = await qjail("create", "-a", "web", "-n", "lo1", "-4", "10.0.0.20", "web2");
  assert.equal(c.code, 0, c.stderr);
  assert.equal(c.stdout, "Successfully created  web2\n");
  assert.equal(read("usr/jails/web2/etc/marker"), "from the archive\n");
  assert.equal(link("usr/jails/web2/bin"), "/sharedfs/bin");
  assert.match(read("usr/local/etc/qjail.local/web2"), /^name="web2"\nip4="10.0.0.20"\n/);
  assert.equal(
    read("usr/local/etc/qjail.fstab/web2"),
    "/usr/jails/sharedfs /usr/jails/web2/sharedfs nullfs ro 0 0\n",
  );
  assert.ok(
    !/raw_sockets/.test(read("usr/local/etc/qjail.config/web2")),
    "settings come from the command line, not the archive",
  );
  assert.equal((await qjail("delete", "web2")).code, 0);
});

test("create -a is one plan: --dry-run shows the unpack and the one-time ssh lines, -c adds each line once", async () => {
  writeFileSync(at("usr/jails/web/etc/rc.conf"), 'hostname="web"\nsshd_enable=YES');
  // the test clock stands still: the archive of the test before has this second's name
  rmSync(at("usr/jails/archive"), { recursive: true, force: true });
  const a = await qjail("archive", "web");
  assert.equal(a.code, 0, a.stderr);
  const before = treeDigest(root.dir);
  const d = await qjail("create", "--dry-run", "-a", "web", "-c", "-n", "lo1", "-4", "10.0.0.21", "web3");
  assert.equal(d.code, 0, d.stderr);
  assert.match(
    d.stdout,
    /extract jail-tree \/usr\/jails\/web from \/usr\/jails\/archive\/web@\S+\.tar into \/usr\/jails\/web3/,
  );
  assert.match(d.stdout, /append \(unless there\) \/usr\/jails\/web3\/etc\/rc\.conf\n\s+\| sshd_enable=YES/);
  assert.deepEqual(treeDigest(root.dir), before, "a dry run writes nothing");
  const c = await qjail("create", "-a", "web", "-c", "-n", "lo1", "-4", "10.0.0.21", "web3");
  assert.equal(c.code, 0, c.stderr);
  // the archived rc.conf had the line (with no newline at the end): not added again
  assert.equal(read("usr/jails/web3/etc/rc.conf"), 'hostname="web"\nsshd_enable=YES');
  assert.match(read("usr/jails/web3/etc/ssh/sshd_config"), /^UseDNS no$/m);
  assert.equal((await qjail("delete", "web3")).code, 0);
});

test("install is refused while a jail runs, and -l enables the command log once", async () => {
  const jls = at("jls-running.json");
  writeFileSync(
    jls,
    JSON.stringify({
      __version: "2",
      "jail-information": { jail: [{ jid: 3, name: "web", path: "/usr/jails/web" }] },
    }),
  );
  const before = treeDigest(root.dir);
  const r = await runCli(["install", "--root", root.dir, "--platform", "freebsd", "-f", base.dir], {
    env: { QJAIL_JLS_JSON: jls },
  });
  assert.equal(r.code, 3);
  assert.match(r.stderr, /QJ1224: All jails have to be stopped. This jail is running: "web"/);
  assert.deepEqual(treeDigest(root.dir), before);
  mkdirSync(at("etc"), { recursive: true });
  writeFileSync(at("etc/newsyslog.conf"), "# newsyslog\n");
  for (let i = 0; i < 2; i++) assert.equal((await qjail("install", "-l", "-f", base.dir)).code, 0);
  assert.equal(read("var/log/qjail.log"), "");
  // qjail's line goes to its own file in newsyslog.conf.d, once; the base file is left alone (P21)
  assert.equal(read("etc/newsyslog.conf"), "# newsyslog\n");
  assert.equal(
    read("usr/local/etc/newsyslog.conf.d/qjail.conf"),
    "/var/log/qjail.log                      600  3     100  *     -\n",
  );
});

test("re-install keeps jails, the vnet counter and customised flavors", async () => {
  writeFileSync(at("usr/local/etc/qjail.vnetctl"), 'count="3"\n');
  writeFileSync(at("usr/jails/flavors/default/etc/rc.conf"), "# mine\n");
  const r = await qjail("install", "-f", base.dir);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(read("usr/local/etc/qjail.vnetctl"), 'count="3"\n');
  assert.equal(read("usr/jails/flavors/users.saved.default/etc/rc.conf"), "# mine\n");
  assert.match(read("usr/jails/flavors/default/etc/rc.conf"), /sendmail_enable/);
  assert.ok(existsSync(at("usr/jails/web/etc/rc.conf")));
});

test("zones: install -z, create -z, list -z", async () => {
  assert.equal((await qjail("install", "-z", "lab", "-f", base.dir)).code, 0);
  const c = await qjail("create", "-z", "lab", "-n", "lo1", "-4", "10.0.1.5,10.0.1.6", "db");
  assert.equal(c.code, 0, c.stderr);
  assert.equal(
    read("usr/local/etc/qjail.fstab.lab/db"),
    "/usr/jails.lab/sharedfs /usr/jails.lab/db/sharedfs nullfs ro 0 0\n",
  );
  assert.ok(existsSync(at("usr/local/etc/qjail.global/db")));
  const l = await qjail("list", "-z", "lab");
  assert.equal(
    l.stdout,
    [
      " ",
      "Jails in zone  lab",
      "STA JID  NIC IP              Jailname",
      "--- ---- --- --------------- --------------------------------------------------",
      "DS  N/A  lo1 10.0.1.5        db",
      "             10.0.1.6",
      " ",
      " ",
      "",
    ].join("\n"),
  );
  const dup = await qjail("create", "-n", "lo1", "-4", "10.0.0.7", "db");
  assert.equal(dup.code, 3);
  assert.match(dup.stderr, /QJ1205: Jailname already exists. "db"/);
});

test("delete removes records, control files and the tree", async () => {
  const r = await qjail("delete", "web");
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, "Successfully deleted  web\n");
  for (const f of [
    "usr/jails/web",
    "usr/local/etc/qjail.local/web",
    "usr/local/etc/qjail.global/web",
    "usr/local/etc/qjail.fstab/web",
    "usr/local/etc/qjail.config/web",
    "usr/local/etc/qjail.expose/web",
  ]) {
    assert.ok(!existsSync(at(f)), f);
  }
  assert.ok(existsSync(at("usr/jails/sharedfs/bin/sh")), "the shared base is untouched");
  assert.equal((await qjail("delete", "-z", "lab", "-A")).code, 0);
  assert.ok(!existsSync(at("usr/jails.lab/db")));
  assert.equal(
    read("usr/local/etc/qjail.vnetctl"),
    'count="0"\n',
    "-A with no jail left anywhere resets the vnet counter",
  );
});

test("install without -f refuses a release it cannot download before writing anything", async () => {
  const t = tempDir();
  try {
    const before = treeDigest(t.dir);
    const r = await runCli(["install", "--root", t.dir, "--platform", "freebsd"], {
      env: { UNAME_r: "14.1-STABLE" },
    });
    assert.equal(r.code, 3);
    assert.match(r.stderr, /QJ15\d\d/);
    assert.match(r.stderr, /STABLE/);
    assert.deepEqual(treeDigest(t.dir), before);
  } finally {
    t.cleanup();
  }
});
