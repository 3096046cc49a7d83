import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync, chmodSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { REPO_ROOT, treeDigest } from "../helpers/cli.js";
import { netnsName } from "../../src/core/linux/lifecycle.js";
import { linuxHelperDir } from "../../src/platform/linux/index.js";

/**
 * The fleet test: three jail hosts driven by Ansible with the qjail.qjail
 * collection, as an admin with many hosts would.
 *
 * Each host is a network namespace this test creates, running the test's
 * own sshd (key authentication set up here) on its public address, with
 * qjail installed from the tarball `npm pack` makes (by the playbook, with
 * npm install -g --offline into the host's own prefix) and its own qjail
 * root. The controller (ansible-playbook) and the outside client are one
 * more namespace on the same bridge. No packet leaves these namespaces.
 *
 *   1. the playbook brings each host to its host_vars spec: jails really
 *      start (Linux backend) and a forwarded port answers from the client;
 *   2. the same playbook again: changed=0 on every host;
 *   3. --check --diff with an edited spec shows qjail's diff, changes nothing;
 *   4. a conflicting spec on one host fails that host only, with qjail's
 *      message; the others are unchanged;
 *   5. the inventory plugin lists every host's jails with addresses and state.
 */

const need = (argv: string[]): boolean => spawnSync(argv[0] as string, argv.slice(1)).status === 0;
const hasSshd = spawnSync("/usr/sbin/sshd", ["-V"]).error === undefined;
const skip =
  process.platform !== "linux" || process.getuid?.() !== 0
    ? "needs root on Linux"
    : !need(["ansible-playbook", "--version"])
      ? "ansible-core is not installed (scripts/setup.sh installs it)"
      : !hasSshd
        ? "openssh-server is not installed"
        : false;

const HOSTS = [1, 2, 3] as const;
const hostAddr = (n: number): string => `198.51.100.${10 + n}`;
const CLIENT = "198.51.100.1";

interface Fleet {
  tag: string;
  dir: string;
  ctl: string;
  ns: (n: number) => string;
  root: (n: number) => string;
  sshd: ChildProcess[];
}

function sh(
  argv: readonly string[],
  opts: { input?: string; env?: NodeJS.ProcessEnv; timeout?: number } = {},
) {
  const r = spawnSync(argv[0] as string, argv.slice(1), {
    encoding: "utf8",
    input: opts.input,
    env: opts.env ?? process.env,
    timeout: opts.timeout ?? 60_000,
  });
  return { code: r.status ?? -1, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
}

function must(argv: readonly string[]): string {
  const r = sh(argv);
  assert.equal(r.code, 0, `${argv.join(" ")} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

/** One spec per host: an ssh jail (sshd on, one-time user) forwarded on 6122, and a stopped www jail. */
function specFor(n: number, edit: "none" | "edited" | "conflict" = "none"): Record<string, unknown> {
  const www: Record<string, unknown> = {
    ip4: "10.0.0.3",
    state: "stopped",
    options: edit === "edited" ? { raw_sockets: false, securelevel: 1 } : { raw_sockets: true },
    expose: [{ proto: "tcp", public: 6180 + n, port: 80, comment: `www on host${n}` }],
  };
  const ssh: Record<string, unknown> = {
    ip4: "10.0.0.2",
    ssh_user: true,
    expose: [{ proto: "tcp", public: edit === "conflict" ? 22 : 6122, port: 22 }],
  };
  return {
    version: 1,
    host: { firewall: "nft", ext_if: "pub0", jail_subnet: "10.0.0.0/24", host_services: ["22/tcp"] },
    jails: n === 2 ? { ssh } : { ssh, www },
  };
}

const PLAYBOOK = `---
- name: Jail hosts as their specs say
  hosts: qjail_hosts
  gather_facts: false
  environment: "{{ qjail_environment }}"
  tasks:
    - name: qjail from the npm package
      ansible.builtin.command:
        argv: [npm, install, -g, --prefix, "{{ qjail_prefix }}", --offline, --no-audit, --no-fund, "{{ qjail_tarball }}"]
        creates: "{{ qjail_prefix }}/bin/qjail"
    - name: qjail's shared base
      ansible.builtin.command:
        argv: ["{{ qjail_prefix }}/bin/qjail", install, --root, "{{ qjail_root }}", --platform, linux]
        creates: "{{ qjail_root }}/usr/jails/sharedfs"
    - name: The host as its spec says
      tags: [apply]
      qjail.qjail.apply:
        spec: "{{ qjail_spec }}"
        root: "{{ qjail_root }}"
        platform: linux
        executable: "{{ qjail_prefix }}/bin/qjail"
`;

/** PLAY RECAP counters per host. */
function recap(out: string): Map<string, Record<string, number>> {
  const m = new Map<string, Record<string, number>>();
  const start = out.lastIndexOf("PLAY RECAP");
  for (const line of out.slice(start).split("\n").slice(1)) {
    const hm = /^(\S+)\s+:\s+(.*)$/.exec(line.trim());
    if (!hm) continue;
    const counts: Record<string, number> = {};
    for (const kv of (hm[2] as string).trim().split(/\s+/)) {
      const [k, v] = kv.split("=");
      counts[k as string] = Number(v);
    }
    m.set(hm[1] as string, counts);
  }
  return m;
}

describe("fleet: three hosts brought to their specs by Ansible", { skip }, () => {
  const f: Fleet = {
    tag: `${process.pid.toString(36)}${randomBytes(2).toString("hex")}`,
    dir: "",
    ctl: "",
    ns: () => "",
    root: () => "",
    sshd: [],
  };
  let env: NodeJS.ProcessEnv = {};
  const started = Date.now();

  const inCtl = (argv: readonly string[], timeout = 300_000) =>
    sh(["nsenter", `--net=/run/netns/${f.ctl}`, "--", ...argv], { env, timeout });
  const playbook = (extra: string[] = []) =>
    inCtl(["ansible-playbook", "-i", join(f.dir, "inventory.yml"), ...extra, join(f.dir, "site.yml")]);
  const hostVars = (n: number, spec: Record<string, unknown>): void => {
    writeFileSync(
      join(f.dir, "host_vars", `host${n}.yml`),
      JSON.stringify({
        ansible_host: hostAddr(n),
        qjail_root: f.root(n),
        qjail_prefix: join(f.dir, `host${n}`, "prefix"),
        qjail_tarball: join(f.dir, "qjail.tgz"),
        qjail_environment: { QJAIL_FW_LOAD: "1", PATH: process.env.PATH },
        qjail_spec: spec,
      }),
    );
  };
  const qjailOn = (n: number, args: string[]) =>
    sh([
      "nsenter",
      `--net=/run/netns/${f.ns(n)}`,
      "--",
      join(f.dir, `host${n}`, "prefix", "bin", "qjail"),
      ...args,
      "--root",
      f.root(n),
      "--platform",
      "linux",
    ]);

  before(() => {
    f.dir = mkdtempSync(join(tmpdir(), `qjail-fleet-${f.tag}-`));
    chmodSync(f.dir, 0o755);
    f.ctl = `qjf-${f.tag}-ctl`;
    f.ns = (n) => `qjf-${f.tag}-h${n}`;
    f.root = (n) => join(f.dir, `host${n}`, "root");
    env = {
      PATH: process.env.PATH,
      HOME: f.dir,
      ANSIBLE_HOME: join(f.dir, ".ansible"),
      ANSIBLE_COLLECTIONS_PATH: REPO_ROOT,
      ANSIBLE_HOST_KEY_CHECKING: "False",
      ANSIBLE_PIPELINING: "True",
      ANSIBLE_NOCOLOR: "1",
      ANSIBLE_FORCE_COLOR: "0",
      ANSIBLE_RETRY_FILES_ENABLED: "False",
      ANSIBLE_LOCAL_TEMP: join(f.dir, ".ansible", "tmp"),
      ANSIBLE_REMOTE_TEMP: join(f.dir, ".ansible", "remote"),
      ANSIBLE_PYTHON_INTERPRETER: "/usr/bin/python3",
      ANSIBLE_DEPRECATION_WARNINGS: "False",
      ANSIBLE_FORKS: "3",
    };

    // The package, as `npm pack` makes it (npm test built dist/ first).
    const pack = sh(["npm", "pack", "--ignore-scripts", "--json", "--pack-destination", f.dir], {
      env: { ...process.env, npm_config_loglevel: "error" },
      timeout: 120_000,
    });
    assert.equal(pack.code, 0, pack.stderr);
    const file = (JSON.parse(pack.stdout) as { filename: string }[])[0]?.filename as string;
    must(["mv", join(f.dir, file), join(f.dir, "qjail.tgz")]);

    // The network: a bridge in the controller/client namespace, one veth to each host.
    must(["ip", "netns", "add", f.ctl]);
    must(["ip", "-n", f.ctl, "link", "add", "br0", "type", "bridge"]);
    must(["ip", "-n", f.ctl, "addr", "add", `${CLIENT}/24`, "dev", "br0"]);
    must(["ip", "-n", f.ctl, "link", "set", "br0", "up"]);
    must(["ip", "-n", f.ctl, "link", "set", "lo", "up"]);
    // A client key pair, authorized on every host.
    must(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", join(f.dir, "id_ed25519")]);
    for (const n of HOSTS) {
      const ns = f.ns(n);
      const hd = join(f.dir, `host${n}`);
      mkdirSync(hd, { recursive: true });
      mkdirSync(f.root(n), { recursive: true });
      must(["ip", "netns", "add", ns]);
      must([
        "ip",
        "link",
        "add",
        "name",
        `h${n}`,
        "netns",
        f.ctl,
        "type",
        "veth",
        "peer",
        "name",
        "pub0",
        "netns",
        ns,
      ]);
      must(["ip", "-n", f.ctl, "link", "set", `h${n}`, "master", "br0", "up"]);
      must(["ip", "-n", ns, "addr", "add", `${hostAddr(n)}/24`, "dev", "pub0"]);
      must(["ip", "-n", ns, "link", "set", "pub0", "up"]);
      must(["ip", "-n", ns, "link", "set", "lo", "up"]);
      must(["ip", "-n", ns, "route", "add", "default", "via", CLIENT]);
      must(["ip", "netns", "exec", ns, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1"]);
      must(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", join(hd, "ssh_host_ed25519_key")]);
      writeFileSync(
        join(hd, "sshd_config"),
        [
          `ListenAddress ${hostAddr(n)}:22`,
          `HostKey ${join(hd, "ssh_host_ed25519_key")}`,
          `PidFile ${join(hd, "sshd.pid")}`,
          `AuthorizedKeysFile ${join(f.dir, "id_ed25519.pub")}`,
          "PermitRootLogin prohibit-password",
          "PasswordAuthentication no",
          "KbdInteractiveAuthentication no",
          "UsePAM no",
          "StrictModes no",
          "Subsystem sftp internal-sftp",
          "",
        ].join("\n"),
      );
      mkdirSync("/run/sshd", { recursive: true });
      const d = spawn(
        "nsenter",
        [`--net=/run/netns/${ns}`, "--", "/usr/sbin/sshd", "-D", "-e", "-f", join(hd, "sshd_config")],
        {
          stdio: ["ignore", "ignore", "pipe"],
        },
      );
      d.stderr?.resume();
      f.sshd.push(d);
    }
    mkdirSync(join(f.dir, "host_vars"));
    writeFileSync(
      join(f.dir, "inventory.yml"),
      JSON.stringify({
        all: {
          children: { qjail_hosts: { hosts: { host1: null, host2: null, host3: null } } },
          vars: {
            ansible_user: "root",
            ansible_ssh_private_key_file: join(f.dir, "id_ed25519"),
            ansible_ssh_common_args: "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null",
          },
        },
      }),
    );
    writeFileSync(join(f.dir, "site.yml"), PLAYBOOK);
    for (const n of HOSTS) hostVars(n, specFor(n));
    // sshd takes a moment to listen
    for (const n of HOSTS) {
      const deadline = Date.now() + 10_000;
      while (Date.now() < deadline) {
        const r = inCtl(["ssh-keyscan", "-T", "1", hostAddr(n)], 5_000);
        if (r.stdout.includes("ssh-ed25519")) break;
      }
    }
  });

  after(() => {
    for (const n of HOSTS) {
      const prefix = netnsName(f.root(n), "");
      let names: string[] = [];
      try {
        names = readdirSync("/run/netns").filter((x) => x.startsWith(prefix));
      } catch {
        names = [];
      }
      for (const ns of names) {
        sh(["/bin/sh", join(linuxHelperDir(), "jail-reap.sh"), ns]);
        sh(["ip", "netns", "delete", ns]);
      }
    }
    for (const d of f.sshd) d.kill("SIGTERM");
    for (const n of HOSTS) sh(["ip", "netns", "delete", f.ns(n)]);
    if (f.ctl) sh(["ip", "netns", "delete", f.ctl]);
    if (f.dir) rmSync(f.dir, { recursive: true, force: true });
    process.stderr.write(`# fleet test wall time: ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
  });

  it("the playbook brings each host to its spec; jails run; a forwarded port answers from the client", () => {
    const r = playbook();
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    const rc = recap(r.stdout);
    for (const n of HOSTS) {
      const c = rc.get(`host${n}`);
      assert.ok(c, `host${n} in the recap:\n${r.stdout}`);
      assert.equal(c.failed, 0, r.stdout);
      assert.ok(
        (c.changed ?? 0) >= 3,
        `host${n}: npm install, qjail install and apply changed:\n${r.stdout}`,
      );
      const list = JSON.parse(qjailOn(n, ["list", "--json"]).stdout) as {
        "qjail-information": { jail: { name: string; state: string }[] };
      };
      const states = Object.fromEntries(list["qjail-information"].jail.map((j) => [j.name, j.state]));
      assert.deepEqual(states, n === 2 ? { ssh: "running" } : { ssh: "running", www: "stopped" });
      // From the client namespace: the host's public port 6122 reaches sshd in the ssh jail.
      const banner = inCtl(
        [
          process.execPath,
          "-e",
          `const s=require("net").connect(6122,"${hostAddr(n)}");s.setTimeout(10000,()=>{console.log("timeout");process.exit(1)});s.once("data",d=>{console.log(String(d).trim());s.destroy()});s.on("error",e=>{console.log(e.message);process.exit(1)})`,
        ],
        20_000,
      );
      assert.match(
        banner.stdout,
        /^SSH-2\.0-/,
        `host${n}: 6122 -> ssh jail: ${banner.stdout}${banner.stderr}`,
      );
    }
  });

  it("the same playbook again: changed=0 on every host", () => {
    const r = playbook();
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    const rc = recap(r.stdout);
    for (const n of HOSTS) assert.equal(rc.get(`host${n}`)?.changed, 0, `host${n}:\n${r.stdout}`);
  });

  it("--check --diff with an edited spec shows qjail's diff and changes nothing", () => {
    const before = treeDigest(join(f.root(1), "usr/local/etc"));
    hostVars(1, specFor(1, "edited"));
    const r = playbook(["--check", "--diff", "--tags", "apply"]);
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /\+\+\+ b\/usr\/local\/etc\/qjail\.config\/www/);
    assert.match(r.stdout, /^-allow\.raw_sockets;$/m);
    assert.match(r.stdout, /^\+securelevel {9}= {2}"1";$/m);
    const rc = recap(r.stdout);
    assert.equal(rc.get("host1")?.changed, 1, r.stdout);
    assert.equal(rc.get("host2")?.changed, 0, r.stdout);
    assert.deepEqual(
      treeDigest(join(f.root(1), "usr/local/etc")),
      before,
      "--check changed nothing on host1",
    );
    hostVars(1, specFor(1));
  });

  it("a conflicting spec fails that host only, with qjail's message", () => {
    const before = treeDigest(join(f.root(3), "usr/local/etc"));
    hostVars(3, specFor(3, "conflict"));
    const r = playbook(["--tags", "apply"]);
    assert.notEqual(r.code, 0, r.stdout);
    const rc = recap(r.stdout);
    assert.equal(rc.get("host3")?.failed, 1, r.stdout);
    assert.equal(rc.get("host1")?.failed, 0, r.stdout);
    assert.equal(rc.get("host2")?.failed, 0, r.stdout);
    assert.equal(rc.get("host1")?.changed, 0, r.stdout);
    assert.match(
      r.stdout,
      /qjail: QJ3023: jail ssh: expose tcp 22 -> ssh:22: public port 22\/tcp is used by a service of the host itself/,
    );
    assert.deepEqual(
      treeDigest(join(f.root(3), "usr/local/etc")),
      before,
      "the refusal changed nothing on host3",
    );
    hostVars(3, specFor(3));
  });

  it("the inventory plugin lists every host's jails with their addresses and state", () => {
    const ssh = `-i ${join(f.dir, "id_ed25519")} -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null`;
    writeFileSync(
      join(f.dir, "fleet.qjail.yml"),
      JSON.stringify({
        plugin: "qjail.qjail.jails",
        hosts: HOSTS.map((n) => `root@${hostAddr(n)}`),
        ssh_args: ssh.split(" "),
        host_options: Object.fromEntries(
          HOSTS.map((n) => [
            `root@${hostAddr(n)}`,
            {
              root: f.root(n),
              platform: "linux",
              executable: join(f.dir, `host${n}`, "prefix", "bin", "qjail"),
            },
          ]),
        ),
      }),
    );
    const r = inCtl(["ansible-inventory", "-i", join(f.dir, "fleet.qjail.yml"), "--list"]);
    assert.equal(r.code, 0, r.stderr);
    const inv = JSON.parse(r.stdout) as {
      _meta: { hostvars: Record<string, Record<string, unknown>> };
      qjail_running: { hosts: string[] };
    };
    const hv = inv._meta.hostvars;
    assert.equal(hv[`${hostAddr(1)}_ssh`]?.ansible_host, "10.0.0.2");
    assert.equal(hv[`${hostAddr(1)}_ssh`]?.qjail_state, "running");
    assert.equal(hv[`${hostAddr(3)}_www`]?.qjail_state, "stopped");
    assert.deepEqual(hv[`${hostAddr(3)}_www`]?.qjail_ip4, ["10.0.0.3"]);
    assert.deepEqual(inv.qjail_running.hosts.sort(), HOSTS.map((n) => `${hostAddr(n)}_ssh`).sort());
  });

  it("a failure part-way leaves the finished jails finished and says what was not done", () => {
    // On host2, through qjail itself: the second jail's interface is a NIC, not a bridge, so
    // its start fails (QJ2004) after it was created; the third is not begun.
    const spec = join(f.dir, "partial.yml");
    writeFileSync(
      spec,
      [
        "version: 1",
        "jails:",
        "  first: {ip4: 10.0.0.20, state: stopped}",
        "  second: {ip4: 10.0.0.21, nic: pub0, state: running}",
        "  third: {ip4: 10.0.0.22, state: stopped}",
        "",
      ].join("\n"),
    );
    const r = qjailOn(2, ["apply", "--json", spec]);
    assert.equal(r.code, 3, r.stdout + r.stderr);
    const doc = JSON.parse(r.stdout) as {
      jails: { name: string; result: string; error?: { code: string } }[];
      error: { code: string; message: string };
    };
    assert.deepEqual(
      doc.jails.map((j) => [j.name, j.result]),
      [
        ["first", "done"],
        ["second", "failed"],
        ["third", "not done"],
      ],
    );
    assert.equal(doc.error.code, "QJ2004", doc.error.message);
    const list = JSON.parse(qjailOn(2, ["list", "--json"]).stdout) as {
      "qjail-information": { jail: { name: string; state: string }[] };
    };
    assert.deepEqual(list["qjail-information"].jail.map((j) => `${j.name}:${j.state}`).sort(), [
      "first:stopped",
      "second:stopped",
      "ssh:running",
    ]);
  });
});
