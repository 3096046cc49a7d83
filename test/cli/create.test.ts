import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { runCli, tempDir, treeDigest } from "../helpers/cli.js";
import { buildBaseTxz } from "../helpers/base-txz.js";

let base: { dir: string; cleanup: () => void };
let root: { dir: string; cleanup: () => void };
const qjail = (cmd: string, ...args: string[]) =>
  runCli([cmd, "--root", root.dir, "--platform", "freebsd", ...args]);
const read = (p: string): string => readFileSync(join(root.dir, p), "utf8");
before(async () => {
  base = buildBaseTxz();
  root = tempDir(`qjail-create-${process.pid}-`);
  assert.equal((await qjail("install", "-f", base.dir)).code, 0);
});
after(() => {
  base?.cleanup();
  root?.cleanup();
});

test("-d makes numbered copies with consecutive addresses", async () => {
  const r = await qjail("create", "-n", "lo1", "-4", "10.0.0.10", "-d", "3", "web");
  assert.equal(r.code, 0, r.stderr);
  assert.equal(
    r.stdout,
    "Successfully created  web-001\nSuccessfully created  web-002\nSuccessfully created  web-003\n",
  );
  assert.match(read("usr/local/etc/qjail.local/web-003"), /^ip4="10.0.0.12"$/m);
  assert.equal(
    read("usr/local/etc/qjail.fstab/web-002"),
    "/usr/jails/sharedfs /usr/jails/web-002/sharedfs nullfs ro 0 0\n",
  );
  assert.ok(!existsSync(join(root.dir, "usr/jails/web")), "no source jail is left behind");
});

test("-f ssh-default, IPv6 with nic|ip, and --force for a shared address", async () => {
  const r = await qjail("create", "-n", "lo1", "-6", "lo1|fd00::5", "-f", "ssh-default", "sshbox");
  assert.equal(r.code, 0, r.stderr);
  assert.match(read("usr/jails/sshbox/etc/rc.conf"), /sshd_enable="YES"/);
  assert.match(read("usr/jails/sshbox/etc/ssh/sshd_config"), /^UseDNS no$/m);
  assert.ok(existsSync(join(root.dir, "usr/jails/sshbox/firstboot")));
  assert.match(read("usr/local/etc/qjail.config/sshbox"), /^ip6.addr {12}= {2}lo1\|fd00::5;$/m);
  const f = await qjail("create", "-n", "lo1", "-4", "10.0.0.10", "--force", "twin");
  assert.equal(f.code, 0, f.stderr);
  assert.equal(f.stderr, "Warning: Existing jail web-001 is already assigned IP address 10.0.0.10\n");
});

test("-i under --root: --dry-run shows the FreeBSD image plan and changes nothing", async () => {
  const before = treeDigest(root.dir);
  const r = await qjail("create", "--dry-run", "-n", "lo1", "-4", "10.0.0.30", "-i", "2g", "img");
  assert.equal(r.code, 0, r.stderr);
  for (const line of [
    "/bin/dd if=/dev/zero of=/usr/jails/img-img/img.img bs=1m count=0 seek=2048",
    "/sbin/mdconfig -a -t vnode -f /usr/jails/img-img/img.img",
    "/sbin/newfs -U /dev/%MD_UNIT%",
    "/sbin/mount /dev/%MD_UNIT% /usr/jails/img-img",
    "/sbin/umount /usr/jails/img-img",
    "mv /usr/jails/img-img /usr/jails/img",
  ]) {
    assert.ok(r.stdout.includes(`${line}\n`), line);
  }
  assert.match(r.stdout, /imagetype="simple"/);
  assert.match(r.stdout, /imageblockcount="2048"/);
  assert.deepEqual(treeDigest(root.dir), before);
});
