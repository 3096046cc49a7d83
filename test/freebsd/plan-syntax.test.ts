import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { writeFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { runCli, tempDir } from "../helpers/cli.js";
import { buildBaseTxz } from "../helpers/base-txz.js";
import { FakeFreebsdHost } from "../helpers/freebsd-host.js";
import { checkArgv, shellCommands, FREEBSD_SYNTAX } from "../helpers/freebsd-syntax.js";
import { howtoHost, model, exposure, HOWTO_EXPOSURES } from "../firewall/model-fixture.js";
import { emptyRecord } from "../../src/core/record.js";
import { hostLayout } from "../../src/core/paths.js";
import { specFromRecord } from "../../src/core/jail.js";
import { renderJailConf, parseJailConf } from "../../src/core/jailconf.js";
import { defaultHostConfig } from "../../src/core/hostconfig.js";
import type { Step } from "../../src/core/plan.js";
import {
  planFreebsdConsole,
  planFreebsdStart,
  planFreebsdStop,
  planRemoveJailTree,
} from "../../src/core/freebsd/lifecycle.js";
import { freebsdSetupSteps } from "../../src/platform/freebsd/setup.js";
import { createFreebsdFirewallLoader } from "../../src/platform/freebsd/firewall.js";
import { gatherFreebsdFacts } from "../../src/platform/freebsd/facts.js";
import { FREEBSD } from "../../src/core/freebsd/programs.js";

/**
 * Every command line qjail can run on FreeBSD, checked against what the
 * program accepts (test/helpers/freebsd-syntax.ts, written from the manual
 * pages): the --dry-run plans of every command and flag (under --root, with
 * a recorded jls document), what runs under --root without --dry-run (the
 * "(not run under --root)" lines), the platform's own plans (start, stop,
 * console, tree removal), fw setup, the firewall loaders' scripts including
 * their rollbacks (run against FakeFreebsdHost with failures injected), the
 * fact gathering of status/doctor, and the host-side commands of the vnet
 * jail.conf block. No FreeBSD machine runs any of it here: this checks the
 * lines, not their effect.
 */

const cleanups: (() => void)[] = [];
after(() => cleanups.forEach((c) => c()));

/** Words of a plan line as formatStep printed it (q() quotes with single quotes). */
function words(line: string): string[] {
  const out: string[] = [];
  let cur = "";
  let quoted = false;
  let inWord = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i] as string;
    if (quoted) {
      if (c === "'") quoted = false;
      else cur += c;
    } else if (c === "'") {
      quoted = true;
      inWord = true;
    } else if (c === "\\" && line[i + 1] === "'") {
      cur += "'";
      i++;
    } else if (c === " ") {
      if (inWord) out.push(cur);
      cur = "";
      inWord = false;
    } else {
      cur += c;
      inWord = true;
    }
  }
  if (inWord) out.push(cur);
  return out;
}

const BARE = new RegExp(
  `^(${Object.keys(FREEBSD_SYNTAX)
    .map((p) => p.split("/").pop())
    .join("|")}|portsnap|tar) `,
);

/**
 * Every argv line of a command's output: `/prog args` plan lines and
 * `(not run under --root) …` lines. The rule texts a firewall --dry-run
 * prints after its plan (`# --- NAME ---`, the files' content) are not
 * command lines and end the scan of stdout.
 */
function runLines(text: string): { lines: string[][]; bare: string[] } {
  const lines: string[][] = [];
  const bare: string[] = [];
  const plan = text.split("\n# --- ")[0] as string;
  for (const raw of plan.split("\n")) {
    const line = raw.replace(/^\(not run under --root\) /, "");
    if (line.startsWith("/")) lines.push(words(line));
    else if (BARE.test(line)) bare.push(line);
  }
  return { lines, bare };
}

const seen = new Map<string, string>(); // argv line → where
const problems: string[] = [];
function check(argv: readonly string[], where: string): void {
  const line = argv.join(" ");
  if (seen.has(line)) return;
  seen.set(line, where);
  const p = checkArgv(argv);
  if (p) problems.push(`${where}: ${line}\n    ${p}`);
}

let base: { dir: string; cleanup: () => void };
let root: string;
let env: Record<string, string>;
const outputs: string[] = []; // every command's stdout + stderr
const refused: string[] = []; // commands expected to succeed that did not
let lastCode = 0;

async function qjail(args: string[], more: Record<string, string> = {}): Promise<string> {
  const r = await runCli([...args, "--root", root, "--platform", "freebsd"], { env: { ...env, ...more } });
  const text = `${r.stdout}\n${r.stderr}`;
  outputs.push(text);
  lastCode = r.code;
  const out = runLines(r.stdout);
  const err = runLines(r.stderr);
  const lines = [...out.lines, ...err.lines];
  const bare = [...out.bare, ...err.bare];
  for (const b of bare) problems.push(`qjail ${args.join(" ")}: a bare program name in the plan: ${b}`);
  for (const l of lines) check(l, `qjail ${args.join(" ")}`);
  return text;
}

/** A command whose plan must be checked: a refusal would check nothing, so it fails the test. */
async function qjailOk(args: string[]): Promise<string> {
  const text = await qjail(args);
  if (lastCode !== 0)
    refused.push(`qjail ${args.join(" ")} exited ${lastCode}: ${text.trim().split("\n")[0]}`);
  return text;
}

function writeHostConfig(firewall: string): void {
  writeFileSync(
    join(root, "usr/local/etc/qjail.host"),
    `ext_if="em0"\nfirewall="${firewall}"\njail_subnet="10.0.0.0/24"\nhost_services="22/tcp"\n`,
  );
}

before(async () => {
  base = buildBaseTxz();
  const t = tempDir(`qjail-plan-syntax-${process.pid}-`);
  cleanups.push(t.cleanup, () => base.cleanup());
  root = t.dir;
  writeFileSync(
    join(root, "jls.json"),
    JSON.stringify({
      __version: "2",
      "jail-information": {
        jail: [
          { jid: 3, name: "www", path: "/usr/jails/www", ipv4_addrs: ["10.0.0.3"], ipv6_addrs: [] },
          { jid: 4, name: "db", path: "/usr/jails/db", ipv4_addrs: ["10.0.0.4"], ipv6_addrs: [] },
        ],
      },
    }),
  );
  writeFileSync(join(root, "route.txt"), "   route to: default\n  interface: em0\n");
  env = { QJAIL_JLS_JSON: join(root, "jls.json"), QJAIL_ROUTE_DEFAULT: join(root, "route.txt") };
  // a real install and jails under --root: what runs on "/" is echoed as "(not run under --root)"
  await qjail(["install", "--dry-run", "-f", base.dir]);
  await qjail(["install", "-l", "-f", base.dir]);
  // again, now that there is a template: its flags are cleared before it goes
  await qjail(["install", "--dry-run", "-f", base.dir]);
  for (const [name, ip] of [
    ["www", "10.0.0.3"],
    ["ssh", "10.0.0.2"],
    ["db", "10.0.0.4"],
  ] as const)
    await qjail(["create", "-n", "lo1", "-4", ip, name]);
  // an image jail record (create -i refuses to run under --root)
  const rec = join(root, "usr/local/etc/qjail.local/db");
  const { readFileSync } = await import("node:fs");
  const text = readFileSync(rec, "utf8").replace('imagetype=""', 'imagetype="simple"');
  writeFileSync(rec, text);
  writeFileSync(join(root, "usr/local/etc/qjail.global/db"), text);
  mkdirSync(join(root, "etc"), { recursive: true });
  writeFileSync(join(root, "etc/pf.conf"), "block in all\npass out all keep state\n");
});

test("every plan line of every FreeBSD command and flag is a command line its program accepts", async (t) => {
  // create: each flag, dry-run
  for (const args of [
    ["-4", "10.0.0.9", "new1"],
    ["-n", "em0", "-4", "10.0.0.9", "-c", "new2"],
    ["-n", "lo1", "-4", "10.0.0.9", "-i", "2g", "img2"],
    ["-n", "lo1", "-4", "10.0.0.9", "-d", "2", "many"],
    ["-n", "lo1", "-4", "10.0.0.9", "-f", "ssh-default", "flav"],
    ["-n", "lo1", "-6", "lo1|fd00::9", "v6"],
  ])
    await qjail(["create", "--dry-run", ...args]);
  // lifecycle, dry-run and under --root
  for (const cmd of ["start", "stop", "restart"]) {
    for (const jail of ["www", "ssh", "db"]) await qjail([cmd, "--dry-run", jail]);
  }
  await qjail(["start", "ssh"]);
  await qjail(["stop", "db"]);
  // console, every form (the test runner's stdin is no terminal; the terminal form is checked below)
  for (const args of [[], ["-u", "admin"], ["-c", "service nginx status"], ["-u", "admin", "-c", "id"]])
    await qjail(["console", "--dry-run", ...args, "www"]);
  // config: every option
  for (const args of [
    ["-k"],
    ["-K"],
    ["-y"],
    ["-Y"],
    ["-q"],
    ["-Q"],
    ["-l"],
    ["-L"],
    ["-t"],
    ["-T"],
    ["-x"],
    ["-X"],
    ["-f", "2"],
    ["-F"],
    ["-s", "2"],
    ["-S"],
    ["-b", "50"],
    ["-B"],
    ["-c", "lo1"],
    ["-4", "10.0.0.8"],
    ["-6", "fd00::8"],
    ["-h"],
    ["-r"],
    ["-R"],
    ["-m"],
    ["-M"],
    ["-w", "em0"],
  ])
    // prettier-ignore
    await qjail(["config", "--dry-run", ...args, "ssh"]);
  for (const fw of ["ipf", "pf", "ipfw", "none"]) {
    await qjail(["config", "--dry-run", "-w", "em0", "ssh"]);
    await qjail(["config", "-w", "em0", "ssh"]);
    await qjail(["config", "--dry-run", "-v", fw, "ssh"]);
  }
  await qjail(["config", "--dry-run", "-n", "ssh2", "ssh"]);
  // -P needs a package list (written here as 'config -p' would) and a running jail
  mkdirSync(join(root, "usr/local/etc/qjail.packages"), { recursive: true });
  writeFileSync(join(root, "usr/local/etc/qjail.packages/www"), "nginx\ncurl\n");
  await qjailOk(["config", "--dry-run", "-P", "www"]);
  // config forms the loops above do not reach
  await qjailOk(["config", "-d", "ssh"]);
  await qjailOk(["config", "--dry-run", "-4", "em0|10.0.0.8,10.0.0.18", "ssh"]);
  await qjailOk(["config", "--dry-run", "-6", "lo1|fd00::8", "ssh"]);
  await qjailOk(["config", "--dry-run", "-A", "-q"]);
  await qjailOk(["config", "--dry-run", "-p", "--packages", "nginx,curl", "ssh"]);
  for (const lim of [
    ["--memoryuse", "512m"],
    ["--maxproc", "100"],
    ["--pcpu", "50"],
    ["--openfiles", "4096"],
  ])
    await qjailOk(["config", "--dry-run", ...lim, "ssh"]);
  // a jail with limits: rctl rules at start
  await qjailOk(["config", "--memoryuse", "512m", "ssh"]);
  await qjailOk(["start", "--dry-run", "ssh"]);
  await qjailOk(["config", "--memoryuse", "default", "ssh"]);
  // a vnet jail, then vnet and its NIC off again
  await qjailOk(["config", "-v", "pf", "ssh"]);
  await qjailOk(["start", "--dry-run", "ssh"]);
  await qjailOk(["config", "--dry-run", "-V", "ssh"]);
  await qjailOk(["config", "-V", "ssh"]);
  await qjailOk(["config", "--dry-run", "-W", "ssh"]);
  await qjailOk(["config", "-W", "ssh"]);
  await qjailOk(["config", "-4", "10.0.0.2", "ssh"]);
  // a dual-stack jail for the IPv6 exposures below
  await qjailOk(["create", "-n", "lo1", "-4", "10.0.0.6", "-6", "lo1|fd00::6", "dual"]);
  // boot: what rc.d/qjail runs at start and shutdown, and the rc.d files themselves
  await qjailOk(["boot", "start", "--dry-run"]);
  await qjailOk(["boot", "stop", "--dry-run"]);
  await qjailOk(["boot", "install", "--dry-run"]);
  // delete, archive, restore, update
  await qjail(["delete", "--dry-run", "ssh"]);
  await qjail(["delete", "--dry-run", "-A"]);
  await qjail(["archive", "--dry-run", "www"]);
  await qjail(["restore", "--dry-run", "www"]);
  await qjailOk(["archive", "--dry-run", "-A"]);
  await qjailOk(["archive", "--dry-run", "-s"]);
  await qjailOk(["archive", "-s"]);
  await qjailOk(["restore", "--dry-run", "-s"]);
  await qjailOk(["archive", "ssh"]);
  await qjailOk(["config", "-n", "sshx", "ssh"]); // the archive's jail gone: restore has somewhere to go
  await qjailOk(["restore", "--dry-run", "ssh"]);
  await qjailOk(["create", "--dry-run", "-n", "lo1", "-4", "10.0.0.19", "-a", "ssh", "fromarch"]);
  for (const args of [["-b"], ["-p"], ["-P"], ["-S"], ["-l", "on"], ["-l", "off"]])
    await qjail(["update", "--dry-run", ...args]);
  // the firewalls: setup, expose, sync, unexpose, for each
  for (const fw of ["ipf", "pf", "ipfw"]) {
    writeHostConfig(fw);
    await qjail(["fw", "setup", "--write", "--dry-run"]);
    await qjail(["expose", "--dry-run", "www", "tcp", "6188:80"]);
    await qjail(["expose", "--dry-run", "www", "tcp", "6122:22", "--from", "198.51.100.0/24", "--from", "203.0.113.7"]);
    await qjail(["expose", "--dry-run", "www", "udp", "27000-27010:27000-27010", "--on", "em0"]);
    await qjail(["expose", "--dry-run", "dual", "tcp", "8443:443"]);
    await qjail(["expose", "www", "tcp", "6188:80"]);
    await qjailOk(["fw", "sync", "--dry-run"]);
    {
      // fw show prints rules, not a plan: ipfw's are in the rc-script form (`ipfw -q add …`,
      // as in /etc/ipfw.rules), each checked as the /sbin/ipfw command line it stands for
      const shown = await runCli(["fw", "show", "--root", root, "--platform", "freebsd"], { env });
      assert.equal(shown.code, 0, shown.stderr);
      for (const l of shown.stdout.split("\n").filter((x) => x.startsWith("ipfw ")))
        check(["/sbin/ipfw", ...words(l).slice(1)], "qjail fw show");
      if (fw === "ipfw") assert.match(shown.stdout, /^ipfw -q add 1001 allow tcp /m);
    }
    await qjailOk(["fw", "watch", "--once"]);
    await qjail(["ports"]);
    await qjail(["status"]);
    await qjail(["doctor", "--repair", "--dry-run"]);
    await qjail(["unexpose", "--dry-run", "www", "tcp", "6188"]);
    await qjail(["unexpose", "www", "tcp", "6188"]);
  } // prettier-ignore

  assert.deepEqual(problems, []);
  assert.deepEqual(refused, []);
  // plans show every step that really runs (P19)
  const all = outputs.join("\n");
  for (const must of [
    "/bin/chflags -x -R 0 /usr/jails/template",
    "/bin/chflags -R noschg,nosunlink /usr/jails/template",
    "/usr/bin/tar -xJpf",
    "/sbin/mount -p",
    "/bin/chflags -x -R 0 /usr/jails/ssh",
    "/sbin/mdconfig -l -v",
    "/usr/sbin/jls -d -j db jid",
    "/sbin/sysctl -n net.inet.ip.fw.one_pass",
    "/sbin/sysctl net.inet.ip.fw.one_pass=0",
    "/sbin/pfctl -n -f /etc/pf.conf.qjail-new",
    "/sbin/pfctl -f /etc/pf.conf",
    "/sbin/ifconfig em0 inet",
    "/usr/sbin/pkg -j 3 install -y nginx",
    `/usr/bin/tar -xJpf ${base.dir}/base.txz -C /usr/jails/template`,
    "/usr/bin/rctl -a jail:ssh:memoryuse:deny=536870912",
  ])
    assert.ok(all.includes(must), `no plan shows ${must}`);
  // every plan names the host's paths as they are on the host, never --root's directory (P19)
  const physical = [...seen.keys()].filter((l) => l.includes(root));
  assert.deepEqual(physical, [], "plan lines with --root's physical paths");
  assert.ok(seen.size > 60, `only ${seen.size} distinct command lines were checked`);
  t.diagnostic(`${seen.size} distinct command lines checked, from ${outputs.length} qjail runs`);
});

test("the platform's own plans, fw setup, the loaders' rollbacks, fact gathering and the vnet block's host commands", async () => {
  const layout = hostLayout();
  const spec = (name: string, extra: Partial<ReturnType<typeof emptyRecord>> = {}) =>
    specFromRecord(layout, name, "normal", { ...emptyRecord(), name, path: `/usr/jails/${name}`, ...extra });
  const steps: Step[] = [
    ...planFreebsdStart(spec("a", { tmpfs: "allow.mount.tmpfs", zfs: "allow.mount.zfs" })).steps,
    ...planFreebsdStart(spec("r", { rctl: "memoryuse=512m,maxproc=100,pcpu=50" })).steps,
    ...planFreebsdStop(spec("r", { rctl: "memoryuse=512m,maxproc=100,pcpu=50" })).steps,
    ...planFreebsdStart(spec("b", { imagetype: "simple" })).steps,
    ...planFreebsdStop(spec("b", { imagetype: "simple" }), "md3").steps,
    ...planRemoveJailTree("/usr/jails/b"),
  ];
  for (const terminal of [true, false])
    for (const req of [{}, { user: "bob" }, { command: ["ls", "-l"] }, { user: "bob", command: ["id"] }])
      steps.push(...planFreebsdConsole(spec("c", { fib: "1" }), req, terminal).steps);
  for (const fw of ["pf", "ipfw"] as const)
    steps.push(
      ...(await freebsdSetupSteps({ ...defaultHostConfig("freebsd"), extIf: "em0", firewall: fw }, root))
        .steps,
    );
  for (const s of steps) if (s.kind === "run") check(s.argv, "platform plan");

  // The loaders against a fake host, each command failing once so every rollback runs too.
  const t = tempDir(`qjail-plan-syntax-fw-${process.pid}-`);
  cleanups.push(t.cleanup);
  mkdirSync(join(t.dir, "etc"), { recursive: true });
  mkdirSync(join(t.dir, "var/db/qjail"), { recursive: true });
  writeFileSync(join(t.dir, "etc/pf.conf"), 'nat-anchor "qjail/*"\nrdr-anchor "qjail/*"\nanchor "qjail/*"\n');
  const ctx = { root: t.dir, layout, runCommands: true, previousExtAddress: "192.0.2.1" };
  const exps = [
    ...HOWTO_EXPOSURES,
    exposure("ssh", "tcp", [7022, 7022], [22, 22], { from: ["198.51.100.0/24", "203.0.113.7"] }),
  ];
  for (const kind of ["ipf", "pf", "ipfw"] as const) {
    const m = model(howtoHost("freebsd", "em0", { firewall: kind }), exps);
    const host = new FakeFreebsdHost(t.dir);
    host.sysctls.set("net.inet.ip.fw.one_pass", "0");
    const loader = createFreebsdFirewallLoader(kind, host.run);
    await loader.load(await loader.render(m, ctx), ctx);
    await loader.load(await loader.render(model(m.host, exps.slice(1)), ctx), ctx);
    const ran = [...host.calls];
    for (const failing of ran) {
      const h2 = new FakeFreebsdHost(t.dir);
      h2.sysctls.set("net.inet.ip.fw.one_pass", "0");
      h2.fail = (l) => l === failing;
      const l2 = createFreebsdFirewallLoader(kind, h2.run);
      await l2.load(await l2.render(m, ctx), ctx).catch(() => undefined);
      for (const c of h2.calls) check(c.split(" "), `${kind} loader, ${failing} failing`);
    }
    await loader.isLive(m.host);
    for (const c of host.calls) check(c.split(" "), `${kind} loader`);
    const facts = new FakeFreebsdHost(t.dir);
    await gatherFreebsdFacts(
      {
        root: t.dir,
        layout,
        config: { ...defaultHostConfig("freebsd"), extIf: "em0", firewall: kind },
        configExists: true,
        jails: [spec("www", { ip4: "10.0.0.3" })],
        live: new Map([["www", { name: "www", jid: 3, path: "/usr/jails/www", ip4: ["10.0.0.3"], ip6: [] }]]),
        exposures: [],
      },
      facts.run,
    );
    for (const c of facts.calls) check(c.split(" "), `facts (${kind})`);
  }

  // jail(8) runs exec.prestart/exec.poststop on the host: every command there is a host program
  for (const fw of ["ipf", "pf", "ipfw", "none"]) {
    const block = renderJailConf({ ...emptyRecord(), name: "v", path: "/usr/jails/v", vnet: `be|${fw}|4`, vinterface: "em0" });
    for (const p of parseJailConf(block).params.filter((x) => x.key === "exec.prestart" || x.key === "exec.poststop"))
      for (const argv of shellCommands(p.value)) check(argv, `vnet block (${fw}) ${p.key}`);
  } // prettier-ignore

  assert.deepEqual(problems, []);
  // every program qjail names is in the table
  for (const path of Object.values(FREEBSD)) assert.ok(FREEBSD_SYNTAX[path], `${path} has no syntax entry`);
});

test("the syntax table refuses what the manual pages do not allow (it can fail)", () => {
  for (const [argv, why] of [
    [["ipfw", "-q", "add", "1000", "allow", "tcp", "from", "any", "to", "any"], /bare name/],
    [["/sbin/ipfw", "-q", "add", "1000", "alow", "tcp", "from", "any", "to", "any"], /unknown action/],
    [
      ["/sbin/ipfw", "-q", "nat", "80", "config", "if", "em0", "redirect_port", "tcp", "10.0.0.2", "6122"],
      /bad target/,
    ],
    [["/sbin/pfctl", "-o", "fast", "-a", "x", "-f", "/f"], /-o fast/],
    [["/sbin/pfctl", "-s", "everything"], /-s everything/],
    [["/sbin/ipnat", "-p", "-f", "/f"], /-p only with -r/],
    [["/bin/chflags", "-R", "noschgg", "/usr/jails/x"], /bad flags/],
    [["/usr/sbin/jexec", "-x", "www", "id"], /unknown option -x/],
    [["/sbin/mdconfig", "-a", "-f", "/img"], /-a -t vnode -f FILE/],
    [["/usr/sbin/portsnap", "fetch"], /not in the table/],
    [["/usr/sbin/setfib", "1", "jexec", "www", "id"], /bare name/],
  ] as const)
    // prettier-ignore
    assert.match(checkArgv(argv) ?? "accepted", why, argv.join(" "));
});
