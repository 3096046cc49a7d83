import { test } from "node:test";
import assert from "node:assert/strict";
import { renderJailConf, parseJailConf, jailConfValue } from "../../src/core/jailconf.js";
import { renderFstab, parseFstab } from "../../src/core/fstab.js";
import { formatRecord, parseRecord } from "../../src/core/record.js";
import { newJailRecord, writeRecordSteps } from "../../src/core/jail.js";
import { hostLayout } from "../../src/core/paths.js";

const layout = hostLayout();
const www = (): ReturnType<typeof newJailRecord> =>
  newJailRecord(layout, { name: "www", ip4: "10.0.0.5", ip6: "", interface: "lo1", oneTimeSsh: false });

test("a new jail's jail.conf block is qjail 5.0's text, byte for byte", () => {
  assert.equal(
    renderJailConf(www()),
    [
      "www { ",
      'host.hostname       =  "www";',
      'path                =  "/usr/jails/www";',
      'mount.fstab         =  "/usr/local/etc/qjail.fstab/www";',
      'exec.consolelog     =  "/var/log/qjail.www.console.log";',
      "mount.devfs;",
      "ip4.addr            =  10.0.0.5;",
      'interface           =  "lo1";',
      'devfs_ruleset       =  "4";',
      'exec.start          =  "/bin/sh /etc/rc";',
      'exec.stop           =  "/bin/sh /etc/rc.shutdown";',
      "}",
      "",
    ].join("\n"),
  );
});

test("every setting on: each line in qjail's order", () => {
  const r = {
    ...www(),
    ip6: "lo1|fd00::5,fd00::6",
    poststartssh: "yes",
    securelevel: "-1",
    fib: "2",
    rsockets: "allow.raw_sockets",
    ruleset: "50",
    sysvipc: "allow.sysvipc",
    quotas: "allow.quotas",
    nullfs: "allow.mount.nullfs",
    tmpfs: "allow.mount.tmpfs",
    zfs: "allow.mount.zfs",
  };
  assert.equal(
    renderJailConf(r),
    [
      "www { ",
      'host.hostname       =  "www";',
      'path                =  "/usr/jails/www";',
      'mount.fstab         =  "/usr/local/etc/qjail.fstab/www";',
      'exec.consolelog     =  "/var/log/qjail.www.console.log";',
      "mount.devfs;",
      "ip4.addr            =  10.0.0.5;",
      "ip6.addr            =  lo1|fd00::5,fd00::6;",
      'interface           =  "lo1";',
      'exec.poststart      =  "jexec www       pw adduser www -p 12-12-12 -c Jail -m -g wheel -s csh -w yes";',
      'securelevel         =  "-1";',
      'exec.fib            =  "2";',
      "allow.raw_sockets;",
      'devfs_ruleset       =  "50";',
      "allow.sysvipc;",
      "allow.quotas;",
      'enforce_statfs      =  "1";',
      "allow.mount;",
      "allow.mount.tmpfs;",
      "allow.mount.nullfs;",
      "allow.mount.zfs;",
      'exec.start          =  "/bin/sh /etc/rc";',
      'exec.stop           =  "/bin/sh /etc/rc.shutdown";',
      "}",
      "",
    ].join("\n"),
  );
});

test("a vnet jail: the helper's commands written into the block, masks on the addresses, exec.stop (P3, P17)", () => {
  const r = { ...www(), ip4: "", interface: "", vnet: "be|ipfw|3", vinterface: "em0" };
  const text = renderJailConf(r);
  assert.equal(
    text,
    [
      "www { ",
      'host.hostname       =  "www";',
      'path                =  "/usr/jails/www";',
      'mount.fstab         =  "/usr/local/etc/qjail.fstab/www";',
      'exec.consolelog     =  "/var/log/qjail.www.console.log";',
      "mount.devfs;",
      'devfs_ruleset       =  "4";',
      "vnet;",
      'vnet.interface      =  "epair3b";',
      'exec.prestart  =  "/sbin/ifconfig bridge0 >/dev/null 2>&1 || { /sbin/ifconfig bridge0 create && /sbin/ifconfig bridge0 addm em0 up; }";',
      'exec.prestart +=  "/sbin/ifconfig bridge0 inet | /usr/bin/grep -qw 10.3.0.1 || /sbin/ifconfig bridge0 inet 10.3.0.1/24 alias";',
      'exec.prestart +=  "/sbin/ifconfig epair3a >/dev/null 2>&1 || { /sbin/ifconfig epair3 create && /sbin/ifconfig bridge0 addm epair3a; }";',
      'exec.prestart +=  "/sbin/ifconfig epair3a up";',
      'exec.prestart +=  "/sbin/kldload -n ipfw";',
      'exec.prestart +=  "/sbin/sysctl net.inet.ip.forwarding=1";',
      'exec.start     =  "ifconfig lo0 127.0.0.1 up";',
      'exec.start    +=  "ifconfig epair3b 10.3.0.2/24";',
      'exec.start    +=  "route add default 10.3.0.1";',
      'exec.start    +=  "/bin/echo epair3b > /etc/epair";',
      'exec.start    +=  "/bin/sh /etc/rc";',
      'exec.start    +=  "/bin/sh /etc/ipfw.vnet.rules";',
      'exec.poststop  =  "/sbin/ifconfig epair3a destroy";',
      'exec.poststop +=  "/sbin/ifconfig bridge0 inet 10.3.0.1 -alias";',
      'exec.stop           =  "/bin/sh /etc/rc.shutdown";',
      "}",
      "",
    ].join("\n"),
  );
  // nothing names a helper no package installs
  assert.ok(!text.includes("qjail.vnet.be"));
  // qjail's own reader takes the block back, every exec line as one value
  const conf = parseJailConf(text);
  assert.equal(conf.params.filter((p) => p.key === "exec.prestart").length, 6);
});

test("parseJailConf reads a rendered block back", () => {
  const conf = parseJailConf(renderJailConf({ ...www(), nullfs: "allow.mount.nullfs", ip6: "fd00::5" }));
  assert.equal(conf.name, "www");
  assert.equal(jailConfValue(conf, "path"), "/usr/jails/www");
  assert.equal(jailConfValue(conf, "ip4.addr"), "10.0.0.5");
  assert.equal(jailConfValue(conf, "ip6.addr"), "fd00::5");
  assert.equal(jailConfValue(conf, "enforce_statfs"), "1");
  assert.equal(jailConfValue(conf, "allow.mount.nullfs"), "");
  assert.equal(jailConfValue(conf, "allow.raw_sockets"), undefined);
  assert.throws(() => parseJailConf('www {\npath = "/x";\n'), /QJ1040|no complete/);
});

test("the fstab is qjail's one line", () => {
  assert.equal(
    renderFstab(layout, "/usr/jails/www"),
    "/usr/jails/sharedfs /usr/jails/www/sharedfs nullfs ro 0 0\n",
  );
  assert.equal(
    renderFstab(hostLayout("lab"), "/usr/jails.lab/db"),
    "/usr/jails.lab/sharedfs /usr/jails.lab/db/sharedfs nullfs ro 0 0\n",
  );
  assert.deepEqual(parseFstab("# c\n/usr/jails/sharedfs /usr/jails/www/sharedfs nullfs ro 0 0\n"), [
    { device: "/usr/jails/sharedfs", mountPoint: "/usr/jails/www/sharedfs", type: "nullfs", options: "ro" },
  ]);
});

test("a new jail's definition record: every key, qjail's order", () => {
  const expected = [
    'name="www"',
    'ip4="10.0.0.5"',
    'ip6=""',
    'path="/usr/jails/www"',
    'interface="lo1"',
    'fstab="/usr/local/etc/qjail.fstab/www"',
    'securelevel=""',
    'cpuset=""',
    'fib=""',
    'vnet=""',
    'vinterface=""',
    'rsockets=""',
    'ruleset=""',
    'sysvipc=""',
    'quotas=""',
    'nullfs=""',
    'tmpfs=""',
    'zfs=""',
    'poststartssh=""',
    'deffile="/usr/local/etc/qjail.local/www"',
    'image=""',
    'imagetype=""',
    'imageblockcount=""',
    'imagedevice=""',
    "",
  ].join("\n");
  assert.equal(formatRecord(www()), expected);
  const back = parseRecord(expected);
  assert.deepEqual(back.problems, []);
  assert.equal(formatRecord(back.record), expected);
});

test("an image jail's record and a manual-status record's deffile", () => {
  const img = newJailRecord(layout, {
    name: "db",
    ip4: "10.0.0.7",
    ip6: "",
    interface: "em0",
    oneTimeSsh: true,
    imageMiB: 2048,
  });
  assert.equal(img.image, "/usr/jails/db/db.img");
  assert.equal(img.imagetype, "simple");
  assert.equal(img.imageblockcount, "2048");
  assert.equal(img.poststartssh, "yes");
  const steps = writeRecordSteps({ name: "db", status: "man", layout, record: img });
  const first = steps[0];
  assert.ok(first?.kind === "writeFile");
  assert.equal(first.path, "/usr/local/etc/qjail.local/db.man");
  assert.match(first.content, /^deffile="\/usr\/local\/etc\/qjail\.local\/db\.man"$/m);
  assert.equal(steps[1]?.kind === "writeFile" ? steps[1].content : "", first.content);
});
