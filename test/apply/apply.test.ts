import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runCli, tempDir, treeDigest } from "../helpers/cli.js";
import { buildBaseTxz } from "../helpers/base-txz.js";
import type { ApplyReport } from "../../src/ops/apply.js";

/**
 * `qjail apply` and `qjail export` through the real CLI, in-process, under a
 * temporary --root as a FreeBSD host with IPFilter: every record, jail.conf
 * block, fstab line, exposure file and rule file is written, no program runs.
 * (The Linux backend with jails really running is the fleet test's.)
 */

let base: { dir: string; cleanup: () => void };
let root: { dir: string; cleanup: () => void };
const specs = tempDir(`qjail-apply-specs-${process.pid}-`);
const qj = (...args: string[]) => runCli([...args, "--root", root.dir, "--platform", "freebsd"]);
const read = (p: string): string => readFileSync(join(root.dir, p), "utf8");
let n = 0;
function specFile(text: string): string {
  const f = join(specs.dir, `spec-${++n}.yml`);
  writeFileSync(f, text);
  return f;
}
async function applyJson(...args: string[]): Promise<{ code: number; report: ApplyReport; stderr: string }> {
  const r = await qj("apply", "--json", ...args);
  return { code: r.code, report: JSON.parse(r.stdout) as ApplyReport, stderr: r.stderr };
}

const HOWTO = `version: 1
host:
  firewall: ipf
  ext_if: rl0
  jail_subnet: 10.0.0.0/24
  host_services: [22/tcp, 80/tcp]
jails:
  ssh:
    ip4: 10.0.0.2
    nic: lo1
    state: stopped
    ssh_user: true
    expose:
      - {proto: tcp, public: 6122, port: 22}
  www:
    ip4: 10.0.0.3
    nic: lo1
    state: stopped
    options: {raw_sockets: true, securelevel: 2}
    expose:
      - {proto: tcp, public: 6188, port: 80, from: [198.51.100.0/24], comment: apache}
`;

before(async () => {
  base = buildBaseTxz();
  root = tempDir(`qjail-apply-${process.pid}-`);
  assert.equal((await qj("install", "-f", base.dir)).code, 0);
  mkdirSync(join(root.dir, "etc"), { recursive: true });
  writeFileSync(join(root.dir, "etc/ipf.rules"), "# admin\nblock in on rl0 all\n");
});
after(() => {
  base?.cleanup();
  root?.cleanup();
  specs.cleanup();
});

test("--check --diff shows records, jail.conf, fstab, exposures, host settings and rules, and changes nothing", async () => {
  const before = treeDigest(root.dir);
  const r = await qj("apply", "--check", "--diff", specFile(HOWTO));
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(treeDigest(root.dir), before, "--check wrote nothing");
  assert.match(
    r.stdout,
    /^www: create 10\.0\.0\.3 on lo1, config raw_sockets on, config securelevel 2, expose tcp 6188 -> www:80$/m,
  );
  assert.match(
    r.stdout,
    /^ssh: create 10\.0\.0\.2 on lo1 with the one-time ssh user, expose tcp 6122 -> ssh:22$/m,
  );
  assert.match(r.stdout, /^\+\+\+ b\/usr\/local\/etc\/qjail\.local\/www$/m);
  assert.match(r.stdout, /^\+securelevel="2"$/m);
  assert.match(r.stdout, /^\+\+\+ b\/usr\/local\/etc\/qjail\.config\/www$/m);
  assert.match(r.stdout, /^\+allow\.raw_sockets;$/m);
  assert.match(r.stdout, /^\+\/usr\/jails\/sharedfs \/usr\/jails\/www\/sharedfs nullfs ro 0 0$/m);
  assert.match(
    r.stdout,
    /^\+proto="tcp" public="6188" jail_port="80" from="198\.51\.100\.0\/24" on="" comment="apache"$/m,
  );
  assert.match(r.stdout, /^\+host_services="22\/tcp,80\/tcp"$/m);
  assert.match(
    r.stdout,
    /^\+rdr rl0 from 198\.51\.100\.0\/24 to \S+ port = 6188 -> 10\.0\.0\.3(\/32)? port 80 tcp/m,
  );
  assert.match(r.stdout, /--check: nothing was changed/);
});

test("apply builds the host; the same spec again is changed: false and writes no byte", async () => {
  const file = specFile(HOWTO);
  const first = await applyJson(file);
  assert.equal(first.code, 0, first.stderr);
  assert.equal(first.report.changed, true);
  assert.deepEqual(
    first.report.jails.map((j) => [j.name, j.result]),
    [
      ["ssh", "done"],
      ["www", "done"],
    ],
  );
  assert.equal(first.report.firewall.result, "done");
  assert.match(read("usr/local/etc/qjail.local/ssh"), /^poststartssh="yes"$/m);
  assert.match(read("usr/local/etc/qjail.local/www"), /^rsockets="allow\.raw_sockets"$/m);
  assert.match(read("usr/local/etc/qjail.config/www"), /^securelevel {9}= {2}"2";$/m);
  assert.match(read("etc/ipnat.rules"), /^rdr rl0 0\/0 port 6122 -> 10\.0\.0\.2(\/32)? port 22 tcp/m);
  assert.ok(read("etc/ipf.rules").startsWith("# admin\nblock in on rl0 all\n"), "the admin's rules stay");
  const digest = treeDigest(root.dir);
  const second = await applyJson(file);
  assert.equal(second.code, 0, second.stderr);
  assert.equal(second.report.changed, false);
  assert.deepEqual(second.report.jails, []);
  assert.deepEqual(treeDigest(root.dir), digest, "the second apply changed no byte");
});

test("export | apply is changed: false, in YAML and in JSON", async () => {
  const yaml = await qj("export");
  assert.equal(yaml.code, 0, yaml.stderr);
  assert.match(yaml.stdout, /^ {2}www:\n {4}ip4: 10\.0\.0\.3\n {4}nic: lo1\n {4}state: stopped\n/m);
  assert.match(yaml.stdout, /^ {4}options: \{raw_sockets: true, securelevel: 2\}$/m);
  const digest = treeDigest(root.dir);
  for (const text of [yaml.stdout, (await qj("export", "--json")).stdout]) {
    const r = await applyJson("--check", specFile(text));
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.report.changed, false, JSON.stringify(r.report));
  }
  assert.deepEqual(treeDigest(root.dir), digest);
});

test("an edited spec: settings, a replaced exposure, a new jail; --check --diff first, then apply", async () => {
  const edited = HOWTO.replace("options: {raw_sockets: true, securelevel: 2}", "options: {securelevel: 1}")
    .replace("public: 6188, port: 80,", "public: 6188, port: 8080,")
    .concat("  db:\n    ip4: 10.0.0.4\n    nic: lo1\n    state: stopped\n    norun: true\n");
  const file = specFile(edited);
  const digest = treeDigest(root.dir);
  const check = await qj("apply", "--check", "--diff", file);
  assert.equal(check.code, 0, check.stderr);
  assert.deepEqual(treeDigest(root.dir), digest);
  assert.match(
    check.stdout,
    /^www: config raw_sockets off, config securelevel 1, unexpose tcp 6188 -> www:80, expose tcp 6188 -> www:8080$/m,
  );
  assert.match(check.stdout, /^db: create 10\.0\.0\.4 on lo1, config norun$/m);
  assert.match(check.stdout, /^-rsockets="allow\.raw_sockets"$/m);
  assert.match(
    check.stdout,
    /^\+rdr rl0 from 198\.51\.100\.0\/24 to \S+ port = 6188 -> 10\.0\.0\.3(\/32)? port 8080 tcp/m,
  );
  assert.match(check.stdout, /^\+\+\+ b\/usr\/local\/etc\/qjail\.local\/db\.norun$/m);
  const r = await applyJson(file);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(existsSync(join(root.dir, "usr/local/etc/qjail.local/db.norun")));
  assert.match(read("usr/local/etc/qjail.expose/www"), /jail_port="8080"/);
  assert.doesNotMatch(read("usr/local/etc/qjail.local/www"), /allow\.raw_sockets/);
  assert.equal((await applyJson(file)).report.changed, false);
});

test("a conflicting spec is refused with qjail's own message and changes nothing", async () => {
  const digest = treeDigest(root.dir);
  const hostPort = await applyJson(
    specFile(HOWTO.replace("public: 6122, port: 22}", "public: 22, port: 22}")),
  );
  assert.equal(hostPort.code, 3, JSON.stringify(hostPort.report));
  assert.equal((hostPort.report as unknown as { error: { code: string } }).error.code, "QJ3023");
  const human = await qj("apply", specFile(HOWTO.replace("ip4: 10.0.0.3", "ip4: 10.0.0.4")));
  assert.equal(human.code, 3);
  assert.match(human.stderr, /^qjail: QJ1302: address "10\.0\.0\.4" is already assigned to jail "db"/m);
  const badZone = await qj("apply", specFile("version: 1\nzone: nosuch\njails: {}\n"));
  assert.equal(badZone.code, 3);
  assert.match(badZone.stderr, /QJ1116: Un-known zone/);
  assert.deepEqual(treeDigest(root.dir), digest);
});

test("jails the spec does not name are left alone without --prune and deleted with it", async () => {
  const onlyWww = `version: 1
jails:
  www:
    ip4: 10.0.0.3
    nic: lo1
    state: stopped
    options: {securelevel: 1}
    expose:
      - {proto: tcp, public: 6188, port: 8080, from: [198.51.100.0/24], comment: apache}
`;
  const file = specFile(onlyWww);
  const keep = await applyJson(file);
  assert.equal(keep.code, 0, keep.stderr);
  assert.equal(keep.report.changed, false);
  assert.deepEqual(
    keep.report.untouched.map((u) => u.name),
    ["db", "ssh"],
  );
  const pruned = await applyJson("--prune", file);
  assert.equal(pruned.code, 0, pruned.stderr);
  assert.deepEqual(
    pruned.report.jails.map((j) => [j.name, j.actions.join(", ")]),
    [
      ["db", "delete (--prune)"],
      ["ssh", "unexpose tcp 6122 -> ssh:22, delete (--prune)"],
    ],
  );
  assert.ok(!existsSync(join(root.dir, "usr/local/etc/qjail.local/ssh")));
  assert.ok(!existsSync(join(root.dir, "usr/jails/ssh")));
  assert.ok(!existsSync(join(root.dir, "usr/local/etc/qjail.expose/ssh")));
  assert.doesNotMatch(read("etc/ipnat.rules"), /6122/, "the pruned jail's forward is gone from the rules");
  assert.equal((await applyJson("--prune", file)).report.changed, false);
  const absent = await applyJson(specFile("version: 1\njails:\n  www: {state: absent}\n"));
  assert.equal(absent.code, 0, absent.stderr);
  assert.deepEqual(absent.report.jails[0]?.actions, ["unexpose tcp 6188 -> www:8080", "delete"]);
  assert.doesNotMatch(read("etc/ipnat.rules"), /6188/);
});

test("apply refuses a missing file, extra operands, and apply --schema prints the schema", async () => {
  const r = await qj("apply", join(specs.dir, "nope.yml"));
  assert.equal(r.code, 3);
  assert.match(r.stderr, /QJ7007: cannot read the spec .*nope\.yml.*ENOENT/);
  assert.equal((await qj("apply", "a", "b")).code, 3);
  const s = await qj("apply", "--schema");
  assert.equal(s.code, 0);
  assert.equal(JSON.parse(s.stdout).title, "qjail host spec, version 1");
});
