import { test, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runCli, testdir, treeDigest } from "../helpers/cli.js";
import { emptyRecord, formatRecord } from "../../src/core/record.js";

/** Runs against a temporary --root as FreeBSD with IPFilter: files are written, no firewall program runs. */

function record(name: string, ip4: string, ip6 = ""): string {
  const r = emptyRecord();
  r.name = name;
  r.ip4 = ip4;
  r.ip6 = ip6;
  r.path = `/usr/jails/${name}`;
  return formatRecord(r);
}

const ADMIN_IPF =
  "# my rules\nblock in log on rl0 all\npass in quick on rl0 proto tcp from any to any port = 22 flags S keep state\n";
const cleanups: (() => void)[] = [];
after(() => cleanups.forEach((c) => c()));

function host(extra: Record<string, string> = {}): string {
  const files: Record<string, string> = {
    "usr/local/etc/qjail.host":
      'ext_if="rl0"\nfirewall="ipf"\njail_subnet="10.0.0.0/24"\nhost_services="22/tcp,80/tcp"\n',
    "etc/ipf.rules": ADMIN_IPF,
    ...extra,
  };
  for (const [name, ip4, ip6] of [
    ["ssh", "10.0.0.2", ""],
    ["www", "10.0.0.3", "fd00:6a61:696c::3"],
    ["pub", "203.0.113.50", ""],
    ["noaddr", "", ""],
  ] as const) {
    files[`usr/local/etc/qjail.local/${name}`] = record(name, ip4, ip6);
    files[`usr/local/etc/qjail.global/${name}`] = record(name, ip4, ip6);
  }
  const t = testdir(files, "qjail-expose-");
  cleanups.push(t.cleanup);
  return t.dir;
}

const G = (root: string): string[] => ["--root", root, "--platform", "freebsd"];
const qj = (root: string, ...argv: string[]) => runCli([...argv, ...G(root)]);

test("expose writes the exposure file and qjail's sections; the admin's lines stay byte for byte", async () => {
  const root = host();
  let r = await qj(root, "expose", "ssh", "tcp", "6122:22");
  assert.equal(r.code, 0, r.stderr);
  r = await qj(root, "expose", "www", "tcp", "6188:80", "--comment", "apache");
  assert.equal(r.code, 0, r.stderr);
  assert.match(
    r.stdout,
    /Exposed tcp 6188 -> www:80 \(ipf rules files written, not loaded: ipf rules load only on FreeBSD; on the FreeBSD host, run 'qjail fw sync'\)/,
  );
  assert.equal(
    readFileSync(join(root, "usr/local/etc/qjail.expose/www"), "utf8"),
    'proto="tcp" public="6188" jail_port="80" from="" on="" comment="apache"\n',
  );
  const ipf = readFileSync(join(root, "etc/ipf.rules"), "utf8");
  assert.ok(ipf.startsWith(ADMIN_IPF), "the admin's rules come first, unchanged");
  assert.match(
    ipf,
    /pass in quick on rl0 inet proto tcp from any to 10\.0\.0\.3\/32 port = 80 flags S\/FSRPAU keep state/,
  );
  const ipnat = readFileSync(join(root, "etc/ipnat.rules"), "utf8");
  assert.match(ipnat, /rdr rl0 0\/0 port 6188 -> 10\.0\.0\.3\/32 port 80 tcp/);
  assert.ok(!existsSync(join(root, "etc/ipf.rules.qjail-new")));
});

test("ports lists both as pending (nothing loaded under --root) and --json parses", async () => {
  const root = host();
  await qj(root, "expose", "ssh", "tcp", "6122:22", "--from", "198.51.100.0/24");
  await qj(root, "expose", "www", "tcp", "6188:80");
  const r = await qj(root, "ports", "--json");
  assert.equal(r.code, 0);
  const doc = JSON.parse(r.stdout) as {
    firewall: string;
    exposures: { jail: string; state: string; sources: string[]; targets: string[] }[];
    hairpin: Record<string, { works: boolean; why: string }>;
  };
  assert.equal(doc.firewall, "ipf");
  assert.deepEqual(
    doc.exposures.map((e) => [e.jail, e.state, e.sources, e.targets]),
    [
      ["ssh", "pending", ["198.51.100.0/24"], ["10.0.0.2"]],
      ["www", "pending", [], ["10.0.0.3", "fd00:6a61:696c::3"]],
    ],
  );
  assert.equal(doc.hairpin.ipf!.works, false);
  assert.match(doc.hairpin.ipf!.why, /rdr only sees packets arriving/);
  assert.equal(doc.hairpin.nft!.works, true);
  const human = await qj(root, "ports");
  assert.match(human.stdout, /^6122\s+tcp\s+\*\s+ssh:22\s+10\.0\.0\.2\s+198\.51\.100\.0\/24\s+pending$/m);
});

/** Each refusal: exit 3, the code and the offending value in the message, and not one byte changed. */
async function assertRefused(root: string, argv: string[], code: string, message: RegExp): Promise<void> {
  const before = treeDigest(root);
  const r = await qj(root, ...argv);
  assert.equal(r.code, 3, `${argv.join(" ")}: ${r.stdout}${r.stderr}`);
  assert.match(r.stderr, new RegExp(`qjail: ${code}: `));
  assert.match(r.stderr, message);
  assert.deepEqual(treeDigest(root), before, `${argv.join(" ")} changed the state`);
}

test("refusals change nothing", async () => {
  const root = host();
  assert.equal((await qj(root, "expose", "www", "tcp", "6188:80")).code, 0);
  await assertRefused(
    root,
    ["expose", "ssh", "tcp", "6188:22"],
    "QJ3022",
    /public tcp port "6188" is already forwarded: tcp 6188 -> www:80/,
  );
  await assertRefused(root, ["expose", "ssh", "tcp", "6180-6190:22-32"], "QJ3022", /already forwarded/);
  await assertRefused(
    root,
    ["expose", "ssh", "tcp", "80:22"],
    "QJ3023",
    /public port 80\/tcp is used by a service of the host itself/,
  );
  await assertRefused(root, ["expose", "ghost", "tcp", "7000:22"], "QJ3020", /no jail named "ghost"/);
  await assertRefused(
    root,
    ["expose", "noaddr", "tcp", "7000:22"],
    "QJ3021",
    /jail "noaddr" has no IP address/,
  );
  await assertRefused(
    root,
    ["expose", "ssh", "tcp", "7000:22", "--on", "2001:db8::5"],
    "QJ3021",
    /has no IPv6 address/,
  );
  await assertRefused(
    root,
    ["expose", "ssh", "tcp", "7000:22", "--from", "2001:db8::/32"],
    "QJ3021",
    /--from "2001:db8::\/32" is IPv6/,
  );
  await assertRefused(root, ["expose", "ssh", "tcp", "0:22"], "QJ3012", /port 0 in "0:22" is out of range/);
  await assertRefused(root, ["expose", "ssh", "tcp", "70000:22"], "QJ3012", /port 70000/);
  await assertRefused(
    root,
    ["expose", "ssh", "tcp", "7000-7005:22-23"],
    "QJ3014",
    /port ranges in "7000-7005:22-23" differ in length \(6 public, 2 jail ports\)/,
  );
  await assertRefused(
    root,
    ["expose", "ssh", "tcp", "7005-7000:22-27"],
    "QJ3013",
    /port range "7005-7000" in "7005-7000:22-27" runs backwards/,
  );
  await assertRefused(root, ["expose", "ssh", "tcp", "7000"], "QJ3011", /malformed port mapping "7000"/);
  await assertRefused(root, ["expose", "ssh", "tcp", "70a0:22"], "QJ3011", /"70a0" is not a port number/);
  await assertRefused(root, ["expose", "ssh", "sctp", "7000:22"], "QJ3010", /unknown protocol "sctp"/);
  await assertRefused(
    root,
    ["expose", "ssh", "tcp", "7000:22", "--from", "10.0.0.0/33"],
    "QJ3015",
    /invalid --from "10\.0\.0\.0\/33"/,
  );
  await assertRefused(
    root,
    ["expose", "ssh", "tcp", "7000:22", "--on", "rl0; reboot"],
    "QJ3016",
    /--on "rl0; reboot"/,
  );
  await assertRefused(
    root,
    ["expose", "ssh", "tcp", "7000:22", "--comment", 'say "hi"'],
    "QJ3017",
    /comment/,
  );
  await assertRefused(
    root,
    ["unexpose", "www", "tcp", "6189"],
    "QJ3024",
    /jail "www" has no tcp exposure on public port 6189/,
  );
  await assertRefused(root, ["expose", "../etc", "tcp", "7000:22"], "QJ1010", /invalid jail name/);
});

test("the same public port on two host addresses (--on) is allowed; unqualified it conflicts with both", async () => {
  const root = host();
  assert.equal((await qj(root, "expose", "www", "tcp", "443:443", "--on", "192.0.2.5")).code, 0);
  assert.equal((await qj(root, "expose", "ssh", "tcp", "443:22", "--on", "192.0.2.6")).code, 0);
  await assertRefused(root, ["expose", "ssh", "tcp", "443:22"], "QJ3022", /already forwarded/);
  const ipnat = readFileSync(join(root, "etc/ipnat.rules"), "utf8");
  assert.match(ipnat, /rdr rl0 192\.0\.2\.5\/32 port 443 -> 10\.0\.0\.3\/32 port 443 tcp/);
  assert.match(ipnat, /rdr rl0 192\.0\.2\.6\/32 port 443 -> 10\.0\.0\.2\/32 port 22 tcp/);
  await assertRefused(
    root,
    ["unexpose", "www", "tcp", "443", "--on", "192.0.2.6"],
    "QJ3024",
    /no tcp exposure/,
  );
});

test("a jail address outside RFC 1918 gives a warning, not a refusal", async () => {
  const root = host();
  const r = await qj(root, "expose", "pub", "tcp", "7000:7000");
  assert.equal(r.code, 0);
  assert.match(r.stderr, /warning: QJ3030: jail "pub" address 203\.0\.113\.50 is not private/);
});

test("--dry-run prints the plan and the rule text and changes nothing; --json gives one document", async () => {
  const root = host();
  const before = treeDigest(root);
  const r = await qj(root, "expose", "www", "tcp", "6188:80", "--dry-run");
  assert.equal(r.code, 0);
  assert.match(r.stdout, /^# expose tcp 6188 -> www:80$/m);
  assert.match(r.stdout, /^\/sbin\/ipf -I -Fa -f \/etc\/ipf\.rules\.qjail-new$/m);
  assert.match(r.stdout, /^write \/usr\/local\/etc\/qjail\.expose\/www mode 644$/m);
  assert.match(r.stdout, /^# --- \/etc\/ipnat\.rules ---$/m);
  assert.deepEqual(treeDigest(root), before);
  const j = await qj(root, "expose", "www", "tcp", "6188:80", "--json");
  const doc = JSON.parse(j.stdout) as { exposed: { jail: string }; state: string; firewall: string };
  assert.equal(doc.exposed.jail, "www");
  assert.equal(doc.state, "pending");
  const err = await qj(root, "expose", "www", "tcp", "6188:80", "--json");
  assert.equal(err.code, 3);
  assert.equal((JSON.parse(err.stdout) as { error: { code: string } }).error.code, "QJ3022");
});

test("unexpose removes the line, and the file with the last one; fw sync rewrites qjail's section only", async () => {
  const root = host();
  await qj(root, "expose", "www", "tcp", "6188:80");
  await qj(root, "expose", "www", "udp", "6188:80");
  let r = await qj(root, "unexpose", "www", "tcp", "6188");
  assert.equal(r.code, 0, r.stderr);
  assert.equal(
    readFileSync(join(root, "usr/local/etc/qjail.expose/www"), "utf8"),
    'proto="udp" public="6188" jail_port="80" from="" on="" comment=""\n',
  );
  r = await qj(root, "unexpose", "www", "udp", "6188", "--json");
  assert.equal((JSON.parse(r.stdout) as { unexposed: { proto: string } }).unexposed.proto, "udp");
  assert.ok(!existsSync(join(root, "usr/local/etc/qjail.expose/www")));
  const ipnat = readFileSync(join(root, "etc/ipnat.rules"), "utf8");
  assert.doesNotMatch(ipnat, /rdr/);
  const s = await qj(root, "fw", "sync", "--json");
  assert.equal(s.code, 0);
  assert.equal((JSON.parse(s.stdout) as { synced: number }).synced, 0);
  assert.ok(readFileSync(join(root, "etc/ipf.rules"), "utf8").startsWith(ADMIN_IPF));
});

test("a damaged host config or exposure file refuses changes but ports still lists", async () => {
  const root = host({
    "usr/local/etc/qjail.expose/ssh": 'proto="tcp" public="6122" jail_port="22"\nthis is not an exposure\n',
  });
  await assertRefused(
    root,
    ["expose", "www", "tcp", "6188:80"],
    "QJ3002",
    /qjail\.expose\/ssh line 2: not an exposure line/,
  );
  const p = await qj(root, "ports");
  assert.equal(p.code, 0);
  assert.match(p.stdout, /problem: \/usr\/local\/etc\/qjail\.expose\/ssh line 2/);
  const bad = host({ "usr/local/etc/qjail.host": 'firewall="iptables"\n' });
  await assertRefused(
    bad,
    ["fw", "sync"],
    "QJ3001",
    /qjail\.host line 1: firewall="iptables" is not one of ipf, pf, ipfw, nft/,
  );
});

test("fw show prints all four languages; fw setup --write adds pf hooks and the host config", async () => {
  const root = host({
    "usr/local/etc/qjail.host": 'ext_if="rl0"\nfirewall="pf"\nhost_services="22/tcp,80/tcp"\n',
    "etc/pf.conf": "block in all\npass out all\n",
  });
  await qj(root, "expose", "www", "tcp", "6188:80");
  const show = await qj(root, "fw", "show", "--firewall", "all", "--json");
  const doc = JSON.parse(show.stdout) as { rules: Record<string, Record<string, string>> };
  assert.deepEqual(Object.keys(doc.rules), ["ipf", "pf", "ipfw", "nft"]);
  assert.match(
    doc.rules.pf!["anchor qjail/expose"]!,
    /rdr on rl0 inet proto tcp from any to \(rl0\) port = 6188 -> 10\.0\.0\.3 port 80/,
  );
  assert.match(
    readFileSync(join(root, "var/db/qjail/pf.qjail.expose.rules"), "utf8"),
    /pass in on rl0 inet proto tcp from any to 10\.0\.0\.3 port = http flags S\/SA keep state label "qjail:tcp\/6188:www"/,
  );
  const dry = await qj(root, "fw", "setup");
  assert.match(dry.stdout, /nat-anchor "qjail\/\*"/);
  assert.equal(readFileSync(join(root, "etc/pf.conf"), "utf8"), "block in all\npass out all\n");
  const w = await qj(root, "fw", "setup", "--write");
  assert.equal(w.code, 0, w.stderr);
  assert.equal(
    readFileSync(join(root, "etc/pf.conf"), "utf8"),
    '# qjail: forwarded ports (see \'qjail ports\')\nnat-anchor "qjail/*"\nrdr-anchor "qjail/*"\n\nblock in all\npass out all\nanchor "qjail/*"\n',
  );
  const ports = JSON.parse((await qj(root, "ports", "--json")).stdout) as {
    hairpin: { pf: { works: boolean } };
  };
  assert.equal(ports.hairpin.pf.works, true);
  writeFileSync(
    join(root, "etc/pf.conf"),
    "set skip on lo0\n" + readFileSync(join(root, "etc/pf.conf"), "utf8"),
  );
  const skipped = JSON.parse((await qj(root, "ports", "--json")).stdout) as {
    hairpin: { pf: { works: boolean; why: string } };
  };
  assert.equal(skipped.hairpin.pf.works, false);
  assert.match(skipped.hairpin.pf.why, /has 'set skip on lo0'/);
  const again = await qj(root, "fw", "setup", "--write", "--json");
  assert.deepEqual((JSON.parse(again.stdout) as { edits: { edits: unknown[] }[] }).edits[0]!.edits, []);
});

test("ports says what ipfw cannot forward: the IPv6 part of a dual-stack jail", async () => {
  const root = host({
    "usr/local/etc/qjail.host": 'ext_if="rl0"\nfirewall="ipfw"\nhost_services="22/tcp"\n',
  });
  const e = await qj(root, "expose", "www", "tcp", "6188:80");
  assert.equal(e.code, 0, e.stderr);
  assert.match(
    e.stderr,
    /QJ3052: not forwarded by ipfw: tcp 6188 -> www:80 \(IPv6\): ipfw nat \(libalias\) translates IPv4 only; its IPv4 half is forwarded/,
  );
  const doc = JSON.parse((await qj(root, "ports", "--json")).stdout) as {
    exposures: { problem: string | null }[];
  };
  assert.equal(doc.exposures[0]!.problem, "the IPv6 part is not forwarded: ipfw nat translates IPv4 only");
  assert.match(
    readFileSync(join(root, "var/db/qjail/ipfw.rules"), "utf8"),
    /redirect_port tcp 10\.0\.0\.3:80 6188/,
  );
});

test("two concurrent exposes of the same port: the host lock and the second check let only one through", async () => {
  const root = host();
  const [a, b] = await Promise.all([
    qj(root, "expose", "ssh", "tcp", "7000:22"),
    qj(root, "expose", "www", "tcp", "7000:80"),
  ]);
  assert.deepEqual([a.code, b.code].sort(), [0, 3]);
  assert.match(a.code === 3 ? a.stderr : b.stderr, /QJ3022: public tcp port "7000" is already forwarded/);
  const doc = JSON.parse((await qj(root, "ports", "--json")).stdout) as { exposures: unknown[] };
  assert.equal(doc.exposures.length, 1);
});
