/**
 * The findings of the second newcomer review (../shared/reviews/newcomer-2.md)
 * that are not covered next to their command's own tests: each test names
 * the finding it pins.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runCli, tempDir, treeDigest } from "../helpers/cli.js";
import { buildBaseTxz } from "../helpers/base-txz.js";
import { formatListTable, type ListRow } from "../../src/core/list.js";
import { startFailure } from "../../src/ops/lifecycle.js";
import { UsageError } from "../../src/core/errors.js";
import { formatStatus, type StatusDoc } from "../../src/core/status.js";
import type { Platform } from "../../src/platform/types.js";
import type { JailSpec } from "../../src/core/jail.js";

/** A FreeBSD scratch host: installed, jails ssh (10.0.0.2) and www (10.0.0.3) on em0. */
const t = tempDir(`qjail-review2-${process.pid}-`);
const FB = ["--root", t.dir, "--platform", "freebsd"];
const fb = (...args: string[]) => runCli([...args, ...FB]);

before(async () => {
  const base = buildBaseTxz();
  try {
    const install = await fb("install", "-f", base.dir);
    assert.equal(install.code, 0, install.stderr);
    // P10: under --root the host's resolv.conf and localtime are missing: install says what that means
    assert.match(install.stderr, /warning: \/etc\/resolv\.conf does not exist here, .*QJ5311/);
    for (const [ip, name] of [
      ["10.0.0.2", "ssh"],
      ["10.0.0.3", "www"],
    ] as const) {
      const r = await fb("create", "-n", "em0", "-4", ip, name);
      assert.equal(r.code, 0, r.stderr);
    }
    await fb("install", "-z", "lab", "-f", base.dir);
  } finally {
    base.cleanup();
  }
});
after(() => t.cleanup());

test("P3: a long NIC or IPv6 address widens its column instead of breaking the row; 5.x's layout otherwise", () => {
  const row = (name: string, nic: string, ip4: string[], ip6: string[] = []): ListRow =>
    ({ name, nic, ip4, ip6, vnet: "", status: "normal", running: false, image: false }) as unknown as ListRow;
  const short = formatListTable([row("ssh", "em0", ["10.0.0.2"])], undefined);
  assert.equal(
    short,
    " \n\nSTA JID  NIC IP              Jailname\n--- ---- --- --------------- --------------------------------------------------\nDS  N/A  em0 10.0.0.2        ssh\n \n \n",
  );
  const long = formatListTable(
    [
      row("ssh", "qjail0", ["10.0.0.2"]),
      row("v6", "em0", [], ["fd00:6a61:696c::11"]),
      row("two", "em0", ["10.0.0.4", "10.0.0.5"]),
    ],
    undefined,
  ).split("\n");
  const col = (line: string, word: string): number => line.indexOf(word);
  const header = long[2] as string;
  // every row's name starts under "Jailname", every address under "IP"
  for (const [line, ip, name] of [
    [long[4], "10.0.0.2", "ssh"],
    [long[5], "fd00:6a61:696c::11", "v6"],
    [long[6], "10.0.0.4", "two"],
  ] as const) {
    assert.equal(col(line as string, ip), col(header, "IP"), line);
    assert.equal((line as string).lastIndexOf(name), col(header, "Jailname"), line);
  }
  assert.equal(col(long[7] as string, "10.0.0.5"), col(header, "IP"), "a second address lines up too");
});

test("P4: restart prints both halves, as qjail 5.x did", async () => {
  const jls = join(t.dir, "jls-ssh.json");
  writeFileSync(
    jls,
    JSON.stringify({
      __version: "2",
      "jail-information": { jail: [{ jid: 3, name: "ssh", path: "/usr/jails/ssh" }] },
    }),
  );
  const r = await runCli(["restart", "ssh", ...FB], { env: { QJAIL_JLS_JSON: jls } });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^Jail successfully stopped {2}ssh\nJail successfully started {2}ssh/);
});

test("P5: status says 1 hit / 2 hits, 'not counted' when the rules are not loaded, and --json is one line", async () => {
  const doc = (hits: number | null, loaded: boolean): StatusDoc => ({
    __version: "1",
    host: {
      platform: "freebsd",
      firewall: "ipf",
      ext_if: "em0",
      ext_address: null,
      firewall_running: loaded,
      qjail_rules_loaded: loaded,
      forwarding: null,
      stray_forwards: [],
    },
    jails: [
      {
        name: "www",
        status: "normal",
        state: "running",
        jid: 1,
        ipv4: ["10.0.0.3"],
        ipv6: [],
        listening: [],
        listening_unknown: null,
        exposures: [
          {
            proto: "tcp",
            public: "6188",
            jail_port: "80",
            target: "10.0.0.3",
            family: 4,
            hits,
            counted_by: hits === null ? null : "ipnat rdr",
            live: true,
            listening: true,
          },
        ],
        limits: {},
        usage: null,
      },
    ],
  });
  assert.match(formatStatus(doc(1, true)), /6188 -> 10\.0\.0\.3:80 {2}1 hit \(ipnat rdr\)/);
  assert.match(formatStatus(doc(2, true)), /2 hits \(ipnat rdr\)/);
  assert.match(formatStatus(doc(2, true)), /Hit counts start again from 0 whenever qjail reloads its rules/);
  assert.match(formatStatus(doc(null, false)), /not counted \(qjail's rules are not loaded here\)/);
  assert.match(formatStatus(doc(null, true)), / no counter$/m);
  const json = await fb("status", "--json");
  assert.equal(json.code, 0, json.stderr);
  assert.equal(json.stdout.trim().split("\n").length, 1, "one line, as list --json and ports --json");
});

test("P7/P9: -d with only -6 and a name taken in another zone say what to do", async () => {
  const d6 = await fb("create", "-n", "em0", "-6", "fd00::5", "-d", "3", "dd");
  assert.equal(d6.code, 3);
  assert.match(d6.stderr, /QJ1207: -d 3 numbers IPv4 addresses and cannot be used with -6 alone/);
  const lab = await runCli(["create", "-z", "lab", "-n", "em0", "-4", "10.0.1.2", "labj", ...FB]);
  assert.equal(lab.code, 0, lab.stderr);
  const taken = await fb("create", "-n", "em0", "-4", "10.0.0.9", "labj");
  assert.equal(taken.code, 3);
  assert.match(taken.stderr, /QJ1205: Jailname already exists\. "labj" \(in zone "lab"\)/);
  assert.match(taken.stderr, /qjail delete -z lab labj/);
});

test("P8: -a with -d or -i says what to do instead of pointing at a copy command that does not exist", async () => {
  const d = await fb("create", "-n", "em0", "-4", "10.0.0.20", "-a", "www", "-d", "2", "w");
  assert.match(d.stderr, /QJ1213: .*\n {2}Run 'qjail create -a ARCHIVE -4 ADDRESS NAME' once per copy/);
  const i = await fb("create", "-n", "em0", "-4", "10.0.0.20", "-a", "www", "-i", "100m", "w");
  assert.match(i.stderr, /QJ1213: .*\n {2}An image jail cannot be filled from an archive/);
  assert.doesNotMatch(d.stderr + i.stderr, /copy or convert/);
});

test("P11: ports explains hairpin for the firewall in use only", async () => {
  const r = await fb("ports");
  assert.equal(r.code, 0, r.stderr);
  assert.match(
    r.stdout,
    /firewall: ipf on em0; hairpin \(from the host and other jails\): no\n {2}IPFilter's rdr/,
  );
  assert.doesNotMatch(r.stdout, /^ {2}(pf|ipfw|nft) /m);
});

test("P17: list and doctor on a host where qjail was never installed say so", async () => {
  const empty = tempDir(`qjail-review2-empty-${process.pid}-`);
  try {
    const g = ["--root", empty.dir, "--platform", "freebsd"];
    const list = await runCli(["list", ...g]);
    assert.equal(list.code, 0);
    assert.match(
      list.stderr,
      /qjail is not installed here \(no \/usr\/jails\/sharedfs\): run 'qjail install' first/,
    );
    const doctor = await runCli(["doctor", ...g]);
    assert.match(doctor.stdout, /error: QJ5300: host: qjail is not installed here/);
    assert.match(doctor.stdout, /fix: qjail install/);
  } finally {
    empty.cleanup();
  }
});

test("C2: every 'not loaded' message says why and how to load (FreeBSD rules on Linux; nft under --root)", async () => {
  const r = await fb("expose", "www", "tcp", "6188:80");
  assert.equal(r.code, 0, r.stderr);
  assert.match(
    r.stdout,
    /ipf rules files written, not loaded: ipf rules load only on FreeBSD; on the FreeBSD host, run 'qjail fw sync'/,
  );
  const lx = tempDir(`qjail-review2-lx-${process.pid}-`);
  try {
    mkdirSync(join(lx.dir, "usr/local/etc/qjail.local"), { recursive: true });
    mkdirSync(join(lx.dir, "usr/local/etc/qjail.global"), { recursive: true });
    const sync = await runCli(["fw", "sync", "--root", lx.dir, "--platform", "linux"], {
      env: { QJAIL_FW_LOAD: undefined },
    });
    assert.equal(sync.code, 0, sync.stderr);
    assert.ok(
      sync.stdout.includes(
        `nft rules generated, not loaded: --root ${lx.dir} is not the host; to load them into this network namespace's firewall, run 'QJAIL_FW_LOAD=1 qjail fw sync --root ${lx.dir}'`,
      ),
      sync.stdout,
    );
    assert.doesNotMatch(sync.stdout, /run 'qjail fw sync' on the host/, "P12: no longer points at itself");
  } finally {
    lx.cleanup();
  }
});

test("C3: on the FreeBSD scratch tree the howto's host ports 22 and 80 stay the host's", async () => {
  const before = treeDigest(t.dir);
  const r = await fb("expose", "www", "tcp", "80:80");
  assert.equal(r.code, 3);
  assert.match(r.stderr, /QJ3023: public port 80\/tcp is used by a service of the host itself/);
  assert.deepEqual(treeDigest(t.dir), before);
  const setup = await fb("fw", "setup", "--dry-run", "--write");
  assert.match(setup.stdout, /host_services="22\/tcp,80\/tcp"/);
});

test("C13: pf fw setup --write says how pf.conf is loaded; run again, it says the hooks are there instead of asking to add them", async () => {
  const p = tempDir(`qjail-review2-pf-${process.pid}-`);
  try {
    mkdirSync(join(p.dir, "etc"), { recursive: true });
    mkdirSync(join(p.dir, "usr/local/etc"), { recursive: true });
    writeFileSync(join(p.dir, "etc/pf.conf"), 'ext_if="em0"\nset skip on lo0\npass in all\n');
    writeFileSync(join(p.dir, "usr/local/etc/qjail.host"), 'firewall="pf"\next_if="em0"\n');
    const g = ["--root", p.dir, "--platform", "freebsd"];
    const w = await runCli(["fw", "setup", "--write", ...g]);
    assert.equal(w.code, 0, w.stderr);
    assert.match(w.stdout, /Wrote \/etc\/pf\.conf/);
    assert.match(w.stdout, /pfctl -f \/etc\/pf\.conf/);
    const again = await runCli(["fw", "setup", ...g]);
    assert.equal(again.code, 0, again.stderr);
    assert.doesNotMatch(again.stdout, /Add to/);
    assert.match(
      again.stdout,
      /\/etc\/pf\.conf already calls qjail's anchor: nat-anchor "qjail\/\*", rdr-anchor "qjail\/\*", anchor "qjail\/\*"\./,
    );
    assert.match(
      again.stdout,
      /If pf has not loaded it since: pfctl -nf \/etc\/pf\.conf && pfctl -f \/etc\/pf\.conf/,
    );
    assert.match(again.stdout, /Nothing to write: the host is set up\./);
  } finally {
    p.cleanup();
  }
});

test("C17: fw watch --once says it checks once and, with no address, that there is nothing to do (no 'every 60 s', no 'waiting')", async () => {
  const r = await fb("fw", "watch", "--once");
  assert.equal(r.code, 0, r.stderr);
  const out = r.stdout + r.stderr;
  assert.match(out, /fw watch: checking em0 once/);
  assert.match(out, /no IPv4 address on the external interface; nothing to do/);
  assert.doesNotMatch(out, /every \d+ s|waiting/);
});

test("P6: update names its flags by letter, not by internal names, and changes nothing", async () => {
  const before = treeDigest(t.dir);
  const two = await fb("update", "-b", "-p");
  assert.equal(two.code, 3);
  assert.match(two.stderr, /QJ1701: only one option at a time, got -b and -p/);
  assert.doesNotMatch(two.stderr, /binaries|portsnap/);
  assert.deepEqual(treeDigest(t.dir), before);
});

test("C4: QJ1404 under --root says route(8) cannot be asked, and how to name the interface", async () => {
  const r = await fb("create", "-4", "10.0.0.30", "nonic");
  assert.equal(r.code, 3);
  assert.match(r.stderr, /QJ1404: under --root qjail cannot ask route\(8\) for the default route/);
  assert.match(
    r.stderr,
    /-n nic \(e\.g\. -n em0\), set jail_if in \/usr\/local\/etc\/qjail\.host, or point QJAIL_ROUTE_DEFAULT/,
  );
  assert.doesNotMatch(r.stderr, /the host has no IPv4 default route/);
});

test("C5: create, fw setup and doctor agree on where the jails are", async () => {
  // fw setup derives jail_if and jail_subnet from the jails that exist (ssh, www on em0 in 10.0.0.0/24)
  const setup = await fb("fw", "setup", "--dry-run", "--write");
  assert.match(setup.stdout, /jail_if="em0"/);
  assert.match(setup.stdout, /jail_subnet="10\.0\.0\.0\/24"/);
  // with a qjail.host naming jail_if, create without -n puts the jail there
  const host = join(t.dir, "usr/local/etc/qjail.host");
  writeFileSync(host, 'jail_if="lo1"\n');
  try {
    const c = await fb("create", "-4", "10.0.0.31", "onlo1");
    assert.equal(c.code, 0, c.stderr);
    assert.match(readFileSync(join(t.dir, "usr/local/etc/qjail.local/onlo1"), "utf8"), /^interface="lo1"$/m);
    await fb("delete", "onlo1");
  } finally {
    writeFileSync(host, "");
  }
});

test("C7: a path typed on the command line is used as given under --root; a bare archive name is looked up", async () => {
  const a = await fb("archive", "www");
  assert.equal(a.code, 0, a.stderr);
  const { readdirSync } = await import("node:fs");
  const name = readdirSync(join(t.dir, "usr/jails/archive")).find((f) => f.startsWith("www@")) as string;
  assert.ok(name, a.stdout);
  await fb("delete", "www");
  const logical = await fb("restore", `/usr/jails/archive/${name}`);
  assert.equal(logical.code, 3);
  assert.match(logical.stderr, /QJ1626: archive "\/usr\/jails\/archive\/www@.*" does not exist/);
  assert.match(logical.stderr, /A path you type is used as given, not under --root/);
  const real = await fb("restore", join(t.dir, "usr/jails/archive", name));
  assert.equal(real.code, 0, real.stderr);
  assert.match(real.stdout, /Successfully restored/);
  assert.ok(existsSync(join(t.dir, "usr/local/etc/qjail.local/www")));
});

test("C8: console's help says to pipe a script, not to pass it to sh -c", async () => {
  const r = await runCli(["help", "console"]);
  assert.match(
    r.stdout,
    /pipe it into the jail's shell instead:\n {2}printf 'id; hostname\\n' \| qjail console NAME/,
  );
  assert.doesNotMatch(r.stdout, /run 'sh -c' inside the jail/);
});

test("C10: a refused start keeps its code and fix; only jail(8) failing points at jail.conf", () => {
  const jail = { name: "nwcgw", confPath: "/usr/local/etc/qjail.config/nwcgw" } as JailSpec;
  const linux = { name: "linux" } as Platform;
  const refused = startFailure(
    linux,
    jail,
    new UsageError(
      "QJ2002",
      'jail "nwcgw" has the address "10.0.0.1", which is the jail network\'s gateway on the host',
      "Give the jail another address: qjail config -4 <address> nwcgw",
    ),
  );
  assert.equal(
    refused,
    'qjail: QJ2002: failed to start jail nwcgw: jail "nwcgw" has the address "10.0.0.1", which is the jail network\'s gateway on the host\n  Give the jail another address: qjail config -4 <address> nwcgw',
  );
  assert.doesNotMatch(refused, /jail\.conf/);
  const jailFailed = startFailure(
    { name: "freebsd" } as Platform,
    jail,
    new Error("jail: nwcgw: mount.fstab: no such file"),
  );
  assert.match(jailFailed, /jail\(8\) read \/usr\/local\/etc\/qjail\.config\/nwcgw/);
});
