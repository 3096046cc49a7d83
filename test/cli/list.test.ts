import { test, after } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runCli, testdir, tempDir, treeDigest } from "../helpers/cli.js";

/**
 * An existing qjail 5.x host laid out by hand, files exactly as qjail writes
 * them (qjail-5.md §2): a normal jail with two IPv4 and one IPv6 address, a
 * .norun jail, a .man image jail, and a jail in zone "lab".
 */
function record(name: string, over: Record<string, string> = {}, zone = ""): string {
  const jaildir = zone ? `/usr/jails.${zone}` : "/usr/jails";
  const r: Record<string, string> = {
    name,
    ip4: "",
    ip6: "",
    path: `${jaildir}/${name}`,
    interface: "em0",
    fstab: `/usr/local/etc/qjail.fstab${zone ? `.${zone}` : ""}/${name}`,
    securelevel: "",
    cpuset: "",
    fib: "",
    vnet: "",
    vinterface: "",
    rsockets: "",
    ruleset: "",
    sysvipc: "",
    quotas: "",
    nullfs: "",
    tmpfs: "",
    zfs: "",
    poststartssh: "",
    deffile: `/usr/local/etc/qjail.local${zone ? `.${zone}` : ""}/${name}`,
    image: "",
    imagetype: "",
    imageblockcount: "",
    imagedevice: "",
    ...over,
  };
  return Object.entries(r)
    .map(([k, v]) => `${k}="${v}"\n`)
    .join("");
}
const web1Conf = [
  "web1 { ",
  'host.hostname       =  "web1";',
  'path                =  "/usr/jails/web1";',
  'mount.fstab         =  "/usr/local/etc/qjail.fstab/web1";',
  'exec.consolelog     =  "/var/log/qjail.web1.console.log";',
  "mount.devfs;",
  "ip4.addr            =  10.0.0.5,10.0.0.6;",
  "ip6.addr            =  fd00::5;",
  'interface           =  "em0";',
  'devfs_ruleset       =  "4";',
  'exec.start          =  "/bin/sh /etc/rc";',
  'exec.stop           =  "/bin/sh /etc/rc.shutdown";',
  "}",
  "",
].join("\n");
const web1 = record("web1", { ip4: "10.0.0.5,10.0.0.6", ip6: "fd00::5" });
const old1 = record("old1", { ip4: "10.0.0.7", deffile: "/usr/local/etc/qjail.local/old1.norun" });
const db = record("db", {
  ip4: "em0|10.0.0.8",
  imagetype: "simple",
  image: "/usr/jails/db/db.img",
  imageblockcount: "1024",
  deffile: "/usr/local/etc/qjail.local/db.man",
});
const labdb = record("labdb", { ip4: "10.0.1.5" }, "lab");
const host = testdir(
  {
    "usr/local/etc/qjail.local/web1": web1,
    "usr/local/etc/qjail.global/web1": web1,
    "usr/local/etc/qjail.config/web1": web1Conf,
    "usr/local/etc/qjail.fstab/web1": "/usr/jails/sharedfs /usr/jails/web1/sharedfs nullfs ro 0 0\n",
    "usr/local/etc/qjail.local/old1.norun": old1,
    "usr/local/etc/qjail.global/old1.norun": old1,
    "usr/local/etc/qjail.local/db.man": db,
    "usr/local/etc/qjail.global/db.man": db,
    "usr/local/etc/qjail.local.lab/labdb": labdb,
    "usr/local/etc/qjail.global/labdb": labdb,
    "usr/local/etc/qjail.vnetctl": 'count="0"\n',
    // The host lock's file persists after the first mutation; present from the start so digests compare state only.
    "var/run/qjail.lock": "",
    "usr/jails/sharedfs/bin/sh": "sh\n",
    "usr/jails/web1/etc/rc.conf": 'sshd_enable="NO"\n',
    "usr/jails/web1/sharedfs/.keep": "",
    "usr/jails/old1/etc/rc.conf": "\n",
    "usr/jails/db/db.img": "",
    "usr/jails.lab/sharedfs/.keep": "",
    "var/log/qjail.web1.console.log": "boot\n",
    "jls.json": JSON.stringify({
      __version: "2",
      "jail-information": {
        jail: [
          {
            jid: 12,
            name: "web1",
            path: "/usr/jails/web1",
            ipv4_addrs: ["10.0.0.5", "10.0.0.6"],
            ipv6_addrs: ["fd00::5"],
          },
        ],
      },
    }),
  },
  `qjail-compat-${process.pid}-`,
);
after(() => host.cleanup());

const env = { QJAIL_JLS_JSON: join(host.dir, "jls.json") };
const qjail = (cmd: string, ...args: string[]) =>
  runCli([cmd, "--root", host.dir, "--platform", "freebsd", ...args], { env });

test("list shows a qjail 5.x host exactly as qjail does", async () => {
  const r = await qjail("list");
  assert.equal(r.code, 0, r.stderr);
  assert.equal(
    r.stdout,
    [
      " ",
      "",
      "STA JID  NIC IP              Jailname",
      "--- ---- --- --------------- --------------------------------------------------",
      "ISM N/A  em0 10.0.0.8        db",
      "DSN N/A  em0 10.0.0.7        old1",
      "DR  12   em0 10.0.0.5        web1",
      "             10.0.0.6",
      "             fd00::5",
      " ",
      " ",
      "",
    ].join("\n"),
  );
  assert.equal(r.stderr, "");
  const z = await qjail("list", "-z", "lab");
  assert.match(z.stdout, /Jails in zone {2}lab\n[\s\S]*DS {2}N\/A {2}em0 10\.0\.1\.5 {8}labdb\n/);
});

test("list --json and group selection", async () => {
  const r = await qjail("list", "--json", "web=");
  assert.equal(r.code, 0);
  const doc = JSON.parse(r.stdout) as {
    __version: string;
    "qjail-information": { jail: Record<string, unknown>[] };
  };
  assert.equal(doc.__version, "1");
  assert.deepEqual(
    doc["qjail-information"].jail.map((j) => [j.name, j.state, j.jid, j.status]),
    [["web1", "running", 12, "normal"]],
  );
  const all = JSON.parse((await qjail("list", "--json")).stdout) as typeof doc;
  assert.deepEqual(
    all["qjail-information"].jail.map((j) => [j.name, j.status, j.type]),
    [
      ["db", "man", "image"],
      ["old1", "norun", "directory"],
      ["web1", "normal", "directory"],
    ],
  );
  const miss = await qjail("list", "--json", "zz=");
  assert.equal(miss.code, 3);
  assert.deepEqual(JSON.parse(miss.stdout), {
    error: {
      code: "QJ1114",
      message: 'No match for group prefix. "zz"',
      hint: "Run 'qjail list' to see the jail names.",
    },
  });
});

test("config, delete and archive skip a running jail, change nothing and exit 3 (C11)", async () => {
  const before = treeDigest(host.dir);
  const c = await qjail("config", "-k", "web1");
  assert.equal(c.code, 3, "a script's 'qjail config ... && ...' must not go on");
  assert.equal(c.stdout, "Bypassed running jail web1\n");
  const d = await qjail("delete", "web1");
  assert.equal(d.code, 3);
  assert.equal(d.stdout, "Bypassed running jail web1\n");
  const a = await qjail("archive", "web1");
  assert.equal(a.code, 3);
  assert.equal(a.stdout, "Bypassed running jail. web1\n");
  assert.deepEqual(treeDigest(host.dir), before);
});

test("a jail created by qjail is configured: record and block regenerated in qjail's format", async () => {
  const stopped = { QJAIL_JLS_JSON: join(host.dir, "none.json") };
  writeFileSync(stopped.QJAIL_JLS_JSON, JSON.stringify({ __version: "2", "jail-information": { jail: [] } }));
  const r = await runCli(["config", "--root", host.dir, "--platform", "freebsd", "-k", "web1"], {
    env: stopped,
  });
  assert.equal(r.code, 0, r.stderr);
  const conf = readFileSync(join(host.dir, "usr/local/etc/qjail.config/web1"), "utf8");
  assert.equal(conf, web1Conf.replace("devfs_ruleset  ", "allow.raw_sockets;\ndevfs_ruleset  "));
  assert.equal(
    readFileSync(join(host.dir, "usr/local/etc/qjail.local/web1"), "utf8"),
    web1.replace('rsockets=""', 'rsockets="allow.raw_sockets"'),
  );
  const norun = await runCli(["config", "--root", host.dir, "--platform", "freebsd", "-k", "old1"], {
    env: stopped,
  });
  assert.equal(norun.code, 3);
  assert.match(norun.stderr, /QJ1301: jail "old1" is in norun status/);

  const del = await runCli(["delete", "--root", host.dir, "--platform", "freebsd", "web1", "old1"], {
    env: stopped,
  });
  assert.equal(del.code, 0, del.stderr);
  assert.equal(del.stdout, "Successfully deleted  web1\nSuccessfully deleted  old1\n");
  for (const f of [
    "usr/jails/web1",
    "usr/jails/old1",
    "usr/local/etc/qjail.local/web1",
    "usr/local/etc/qjail.global/old1.norun",
    "usr/local/etc/qjail.config/web1",
    "usr/local/etc/qjail.fstab/web1",
    "var/log/qjail.web1.console.log",
  ]) {
    assert.ok(!existsSync(join(host.dir, f)), f);
  }
  assert.ok(existsSync(join(host.dir, "usr/local/etc/qjail.local/db.man")));
});

test("list of 1,000 jails lists every one, in name order", async () => {
  const big = tempDir(`qjail-list-big-${process.pid}-`);
  try {
    const dir = join(big.dir, "usr/local/etc/qjail.local");
    mkdirSync(dir, { recursive: true });
    mkdirSync(join(big.dir, "usr/jails"), { recursive: true });
    for (let i = 0; i < 1000; i++) {
      const name = `j${String(i).padStart(4, "0")}`;
      writeFileSync(join(dir, name), record(name, { ip4: `10.${i >> 8}.${i & 255}.1` }));
    }
    const r = await runCli(["list", "--root", big.dir, "--platform", "freebsd", "--json"]);
    assert.equal(r.code, 0);
    const jails = (JSON.parse(r.stdout) as { "qjail-information": { jail: { name: string }[] } })[
      "qjail-information"
    ].jail;
    assert.equal(jails.length, 1000);
    assert.deepEqual(
      jails.map((j) => j.name),
      Array.from({ length: 1000 }, (_, i) => `j${String(i).padStart(4, "0")}`),
    );
    // How fast this is, is measured by bench/ (list of 1,000 jails), not asserted here.
  } finally {
    big.cleanup();
  }
});
