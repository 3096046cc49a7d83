import { test, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runCli, testdir, treeDigest } from "../helpers/cli.js";
import { formatRecord } from "../../src/core/record.js";
import { newJailRecord } from "../../src/core/jail.js";
import { renderJailConf } from "../../src/core/jailconf.js";
import { hostLayout } from "../../src/core/paths.js";

function jailFiles(name: string, ip: string, zone?: string): Record<string, string> {
  const layout = hostLayout(zone);
  const r = newJailRecord(layout, { name, ip4: ip, ip6: "", interface: "lo1", oneTimeSsh: false });
  const z = zone ? `.${zone}` : "";
  return {
    [`usr/local/etc/qjail.local${z}/${name}`]: formatRecord(r),
    [`usr/local/etc/qjail.global/${name}`]: formatRecord(r),
    [`usr/local/etc/qjail.config/${name}`]: renderJailConf(r),
    [`usr/local/etc/qjail.fstab${z}/${name}`]: `/usr/jails${z}/sharedfs /usr/jails${z}/${name}/sharedfs nullfs ro 0 0\n`,
    [`usr/jails${z}/${name}/etc/rc.conf`]: "\n",
    [`usr/jails${z}/${name}/sharedfs/.keep`]: "",
  };
}
const host = testdir(
  {
    ...jailFiles("www", "10.0.0.5"),
    ...jailFiles("app", "10.0.0.6"),
    ...jailFiles("labdb", "10.0.1.5", "lab"),
    "usr/local/etc/qjail.vnetctl": 'count="4"\n',
    "var/run/qjail.lock": "",
  },
  `qjail-delete-${process.pid}-`,
);
const mounted: string[] = [];
after(() => {
  for (const m of mounted) execFileSync("umount", [m]);
  host.cleanup();
});
const qjail = (...args: string[]) => runCli(["delete", "--root", host.dir, "--platform", "freebsd", ...args]);

test("delete refuses while something is mounted inside the jail, and changes nothing", async () => {
  const mp = join(host.dir, "usr/jails/www/sharedfs");
  execFileSync("mount", ["-t", "tmpfs", "-o", "size=1m", `qjail-test-${process.pid}`, mp]);
  mounted.push(mp);
  writeFileSync(join(mp, "source-data"), "must survive\n");
  const before = treeDigest(host.dir);
  const r = await qjail("www");
  assert.equal(r.code, 3);
  assert.match(
    r.stderr,
    /QJ1121: refusing to remove "\/usr\/jails\/www": "\/usr\/jails\/www\/sharedfs" is still mounted/,
  );
  assert.deepEqual(treeDigest(host.dir), before);
  assert.equal(readFileSync(join(mp, "source-data"), "utf8"), "must survive\n");
  execFileSync("umount", [mounted.pop() as string]);
});

test("--dry-run shows records first and the tree last", async () => {
  const before = treeDigest(host.dir);
  const r = await qjail("--dry-run", "www");
  assert.equal(r.code, 0);
  assert.equal(
    r.stdout,
    [
      "# delete jail www",
      "rm -f /usr/local/etc/qjail.local/www",
      "rm -f /usr/local/etc/qjail.global/www",
      "rm -f /usr/local/etc/qjail.fstab/www",
      "rm -f /var/log/qjail.www.console.log",
      "rm -f /usr/local/etc/qjail.config/www",
      "rm -f /usr/local/etc/qjail.expose/www",
      "rm -f /var/db/qjail/mac/www",
      // what removing the tree runs on FreeBSD, not only the rm (P19)
      "/sbin/mount -p",
      "/bin/chflags -x -R 0 /usr/jails/www",
      "rm -rf /usr/jails/www",
      "",
    ].join("\n"),
  );
  assert.deepEqual(treeDigest(host.dir), before);
});

test("delete -A empties the zone but keeps the vnet counter while other zones have jails", async () => {
  const r = await qjail("-A");
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, "Successfully deleted  app\nSuccessfully deleted  www\n");
  assert.ok(!existsSync(join(host.dir, "usr/jails/www")) && !existsSync(join(host.dir, "usr/jails/app")));
  assert.ok(existsSync(join(host.dir, "usr/local/etc/qjail.global/labdb")));
  assert.equal(readFileSync(join(host.dir, "usr/local/etc/qjail.vnetctl"), "utf8"), 'count="4"\n');
  const z = await qjail("-z", "lab", "-A");
  assert.equal(z.code, 0, z.stderr);
  assert.equal(readFileSync(join(host.dir, "usr/local/etc/qjail.vnetctl"), "utf8"), 'count="0"\n');
});

test("a record naming a host path as the jail's tree or fstab is refused, not followed", async () => {
  const layout = hostLayout();
  const evil = {
    ...newJailRecord(layout, {
      name: "evil",
      ip4: "10.0.0.66",
      ip6: "",
      interface: "lo1",
      oneTimeSsh: false,
    }),
    fstab: "/etc/master.passwd",
  };
  const t = testdir(
    {
      "usr/local/etc/qjail.local/evil": formatRecord(evil),
      "usr/local/etc/qjail.global/evil": formatRecord(evil),
      "etc/master.passwd": "root:*:0:0::0:0:Charlie &:/root:/bin/csh\n",
      "usr/jails/evil/etc/rc.conf": "\n",
      "var/run/qjail.lock": "",
    },
    `qjail-delete-evil-${process.pid}-`,
  );
  try {
    const before = treeDigest(t.dir);
    const r = await runCli(["delete", "--root", t.dir, "--platform", "freebsd", "evil"]);
    assert.equal(r.code, 3);
    assert.match(
      r.stderr,
      /QJ1123: the record of jail "evil" names fstab="\/etc\/master.passwd", not "\/usr\/local\/etc\/qjail.fstab\/evil"/,
    );
    assert.deepEqual(treeDigest(t.dir), before);
    const n = await runCli(["config", "--root", t.dir, "--platform", "freebsd", "-n", "good", "evil"]);
    assert.equal(n.code, 3);
    assert.match(n.stderr, /QJ1123/);
    assert.deepEqual(treeDigest(t.dir), before);
  } finally {
    t.cleanup();
  }
});
