import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { formatPlan, type Step } from "../../src/core/plan.js";
import { hostLayout } from "../../src/core/paths.js";
import { emptyRecord, type JailRecord } from "../../src/core/record.js";
import { UsageError } from "../../src/core/errors.js";
import { planLinuxInstall, parseBaseManifest, hostBaseBinds } from "../../src/core/linux/install.js";
import {
  planLinuxStart,
  planLinuxStop,
  planLinuxConsole,
  jailNetwork,
  jailCapabilities,
  netnsName,
  parseRunState,
  stableMac,
  newJailMac,
  parseJailMac,
  type LinuxJail,
  type LinuxStartFacts,
  type RunState,
  groupsOf,
} from "../../src/core/linux/lifecycle.js";
import { cgroupPlan, linuxDefaultLimits } from "../../src/core/limits.js";
import { guardTransaction } from "../../src/firewall/nft/guard.js";
import { sha512Crypt, addOneTimeUser, jailUidBase } from "../../src/core/linux/sshuser.js";
import { templateEtcFiles } from "../../src/core/linux/template.js";

/** Pure Linux planners: the exact commands --dry-run shows, and the files install writes. */

const layout = hostLayout();

function jail(over: Partial<JailRecord> = {}): LinuxJail {
  const record = {
    ...emptyRecord(),
    name: "www",
    ip4: "10.0.0.2",
    path: "/usr/jails/www",
    interface: "qjail0",
    ...over,
  };
  return { name: "www", record, layout, rootPath: "/usr/jails/www" };
}

/** The MAC qjail keeps for www in these tests. */
const MAC = "02:1a:2b:3c:4d:5e";

function startFacts(over: Partial<LinuxStartFacts> = {}): LinuxStartFacts {
  return {
    root: "/",
    helperDir: "/usr/local/share/qjail/linux",
    helper: "/usr/local/share/qjail/linux/bin/linux-x64/qjail-helper",
    jid: 3,
    network: jailNetwork("www", jail().record, { bridge: "qjail0" }),
    bridge: { exists: true, up: false, addresses: [] },
    forwarding: { v4: false, v6: false },
    baseBinds: [{ source: "/usr", target: "usr" }],
    procKnobs: ["sys", "sysrq-trigger"],
    leftover: { netns: false, state: undefined, hostIfs: [] },
    firstStartSteps: [],
    readyTimeout: 30,
    limits: linuxDefaultLimits(8 * 1024 ** 3),
    cgroups: cgroupPlan({ kind: "none" }, "qjail-www", linuxDefaultLimits(8 * 1024 ** 3)),
    guard: guardTransaction({
      bridges: ["qjail0"],
      ports: [{ hostIf: "qjh3", mac: MAC, ip4: ["10.0.0.2"], ip6: [] }],
      hostServicesForJails: [],
    }),
    mac: { address: MAC, persisted: true },
    ...over,
  };
}

const runs = (steps: readonly Step[]): string[] =>
  steps.filter((s) => s.kind === "run").map((s) => (s.kind === "run" ? s.argv.join(" ") : ""));

test("start: the jail's network namespace carries exactly its address, then init is launched", () => {
  const plan = planLinuxStart(jail(), startFacts());
  const r = runs(plan.steps);
  assert.deepEqual(r.slice(0, 14), [
    "ip addr replace 10.0.0.1/24 dev qjail0",
    "ip link set qjail0 up",
    "sysctl -q -w net.ipv4.ip_forward=1",
    "ip netns add qjail-www",
    `ip link add qjh3 type veth peer name qjj3 address ${MAC} netns qjail-www`,
    "ip link set qjh3 master qjail0 up",
    "nft -f /var/db/qjail/run/.guard.nft",
    "ip -n qjail-www link set lo up",
    "ip netns exec qjail-www sysctl -q -w net.ipv6.conf.qjj3.accept_ra=0 net.ipv6.conf.qjj3.disable_ipv6=1",
    "ip -n qjail-www addr add 10.0.0.2/24 dev qjj3",
    "ip -n qjail-www link set qjj3 up",
    `ip neigh replace 10.0.0.2 lladdr ${MAC} dev qjail0 nud reachable`,
    "ip -n qjail-www route add default via 10.0.0.1",
    [
      "/bin/sh /usr/local/share/qjail/linux/jail-launch.sh /var/log/qjail.www.console.log /var/db/qjail/run/www 30 --",
      "/usr/local/share/qjail/linux/bin/linux-x64/qjail-helper launch --netns /run/netns/qjail-www",
      "--log /var/log/qjail.www.console.log --log-max 1048576 --",
      "/bin/sh /usr/local/share/qjail/linux/jail-init.sh /usr/jails/www /var/db/qjail/run/www.fstab www /var/db/qjail/run/www 3 qjail-www qjh3 qjj3",
      "chown,dac_override,fowner,fsetid,kill,setgid,setuid,net_bind_service,sys_chroot,audit_write",
      "/usr/jails/www 10.0.0.2  /usr/local/share/qjail/linux/bin/linux-x64/qjail-helper qjail0 67108864 ",
    ].join(" "),
  ]);
  // the MAC is the kept one, whatever the name or address: a kept MAC is not written again
  const renamed = planLinuxStart(
    { ...jail({ ip4: "10.0.0.9" }), name: "web" },
    startFacts({ network: jailNetwork("web", jail({ ip4: "10.0.0.9" }).record, { bridge: "qjail0" }) }),
  );
  assert.ok(runs(renamed.steps).some((l) => l.includes(`address ${MAC} netns`)));
  assert.ok(!renamed.steps.some((s) => s.kind === "writeFile" && s.path.startsWith("/var/db/qjail/mac/")));
  const last = plan.steps.at(-1);
  assert.deepEqual(last, { kind: "writeFile", path: "/var/run/qjail.www.pid", content: "3\n", mode: 0o555 });
  assert.match(formatPlan(plan), /^# Start jail www \(jid 3\)$/m);
});

test("start: the jail's mounts are one fstab, base and kernel knobs read-only, paths escaped", () => {
  const plan = planLinuxStart(jail(), startFacts());
  const fstab = plan.steps.find((s) => s.kind === "writeFile" && s.path === "/var/db/qjail/run/www.fstab");
  assert.ok(fstab && fstab.kind === "writeFile");
  assert.deepEqual(fstab.content.split("\n").slice(1, -1), [
    "/usr/jails/sharedfs /usr/jails/www/sharedfs none bind,ro 0 0",
    "/usr /usr/jails/www/sharedfs/usr none bind,ro 0 0",
    "proc /usr/jails/www/proc proc nosuid,nodev,noexec 0 0",
    "/usr/jails/www/proc/sys /usr/jails/www/proc/sys none bind,ro 0 0",
    "/usr/jails/www/proc/sysrq-trigger /usr/jails/www/proc/sysrq-trigger none bind,ro 0 0",
    "sysfs /usr/jails/www/sys sysfs ro,nosuid,nodev,noexec 0 0",
    "tmpfs /usr/jails/www/dev tmpfs mode=755,size=64k,nosuid,noexec 0 0",
    "tmpfs /usr/jails/www/run tmpfs mode=755,nosuid,nodev,size=32m 0 0",
  ]);
  const spaced = planLinuxStart(jail(), startFacts({ root: "/tmp/my root" }));
  const f2 = spaced.steps.find((s) => s.kind === "writeFile" && s.path.endsWith(".fstab"));
  assert.match(
    f2 && f2.kind === "writeFile" ? f2.content : "",
    /^\/tmp\/my\\040root\/usr\/jails\/sharedfs \/tmp\/my\\040root\/usr\/jails\/www\/sharedfs none bind,ro 0 0$/m,
  );
});

test("start: a missing bridge is created with a stable MAC; sysvipc shares IPC; rsockets adds net_raw only", () => {
  const plan = planLinuxStart(
    jail({ sysvipc: "allow.sysvipc", rsockets: "allow.raw_sockets" }),
    startFacts({ bridge: { exists: false, up: false, addresses: [] } }),
  );
  const r = runs(plan.steps);
  assert.equal(r[0], `ip link add qjail0 address ${stableMac("/", "bridge:qjail0")} type bridge`);
  const launch = r.find((l) => l.includes("jail-launch.sh")) ?? "";
  assert.match(launch, / --share-ipc /, "config -y: the host's IPC namespace");
  assert.match(launch, /,audit_write,net_raw /);
  assert.doesNotMatch(launch, /dac_read_search/, "no open_by_handle_at (review C1)");
  assert.deepEqual(
    jailCapabilities({ rsockets: "", ruleset: "50" }).at(-1),
    "net_raw",
    "devfs ruleset 50 (capture) also grants it",
  );
  assert.ok(!jailCapabilities({ rsockets: "", ruleset: "" }).includes("net_raw"));
  assert.ok(
    !jailCapabilities({ rsockets: "allow.raw_sockets", ruleset: "" }).some((c) =>
      ["sys_admin", "net_admin", "mknod", "sys_module"].includes(c),
    ),
  );
});

test("start: a bridge already up with the gateway, and forwarding already on, add no steps", () => {
  const plan = planLinuxStart(
    jail(),
    startFacts({
      bridge: { exists: true, up: true, addresses: ["10.0.0.1/24"] },
      forwarding: { v4: true, v6: false },
    }),
  );
  assert.equal(runs(plan.steps)[0], "ip netns add qjail-www");
  const guard = plan.steps.find((s) => s.kind === "writeFile" && s.path === "/var/db/qjail/run/.guard.nft");
  assert.ok(guard && guard.kind === "writeFile");
  assert.match(guard.content, /^delete table bridge qjail_guard$/m, "the guard is replaced whole");
  assert.match(guard.content, /"qjh3" \. 02:[0-9a-f:]+ \. 10\.0\.0\.2/);
});

test("start after a crash removes what the earlier run left first", () => {
  const state: RunState = {
    jid: 1,
    pid: 4242,
    starttime: "999",
    netns: "qjail-www",
    hostIf: "qjh1",
    jailIf: "qjj1",
    bridge: "qjail0",
    path: "/usr/jails/www",
    ip4: [],
    ip6: [],
  };
  const plan = planLinuxStart(jail(), startFacts({ leftover: { netns: true, state, hostIfs: ["qjh1"] } }));
  assert.deepEqual(runs(plan.steps).slice(0, 3), [
    "/bin/sh /usr/local/share/qjail/linux/jail-reap.sh qjail-www 4242 999",
    "ip netns delete qjail-www",
    "ip link delete qjh1",
  ]);
  assert.deepEqual(
    plan.steps.filter((s) => s.kind === "remove").map((s) => (s.kind === "remove" ? s.path : "")),
    ["/var/run/qjail.www.pid", "/var/db/qjail/run/www", "/var/db/qjail/run/www.fstab"],
  );
});

test("stop: rc.shutdown inside the jail, then every process ended and the namespace removed", () => {
  const state: RunState = {
    jid: 3,
    pid: 5000,
    starttime: "77",
    netns: "qjail-www",
    hostIf: "qjh3",
    jailIf: "qjj3",
    bridge: "qjail0",
    path: "/usr/jails/www",
    ip4: ["10.0.0.2"],
    ip6: [],
  };
  const plan = planLinuxStop(jail(), {
    root: "/",
    helperDir: "/h",
    helper: "/h/qjh",
    state,
    hostIfs: ["qjh3"],
  });
  const r = runs(plan.steps);
  assert.equal(
    r[0] ?? "",
    "/h/qjh enter --pid 5000 --starttime 77 --ipc --caps chown,dac_override,fowner,fsetid,kill,setgid,setuid,net_bind_service,sys_chroot,audit_write --uid 0 --gid 0 --groups 0 --cwd / " +
      "--env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin --env HOME=/ -- /bin/sh /etc/rc.shutdown",
    "the helper enters the jail and drops to its capabilities before the jail's rc.shutdown runs (review C2)",
  );
  assert.deepEqual(r.slice(1), [
    "/bin/sh /h/jail-reap.sh qjail-www 5000 77",
    "ip netns delete qjail-www",
    "ip link delete qjh3",
  ]);
});

test("console: the helper enters as the user with the jail's capabilities, then the command or a login shell", () => {
  const state: RunState = {
    jid: 3,
    pid: 5000,
    starttime: "77",
    netns: "qjail-www",
    hostIf: "qjh3",
    jailIf: "qjj3",
    bridge: "qjail0",
    path: "/usr/jails/www",
    ip4: [],
    ip6: [],
  };
  const user = { name: "ssh", uid: 1001, gid: 10, groups: [10, 20], home: "/usr/home/ssh", shell: "/bin/sh" };
  const cmd = planLinuxConsole(jail(), state, user, ["ls", "-l"], "xterm", false, "/h/qjh");
  const argv = cmd.steps[0]?.kind === "run" ? cmd.steps[0].argv : [];
  assert.deepEqual(argv.slice(0, 6), ["/h/qjh", "enter", "--pid", "5000", "--starttime", "77"]);
  assert.deepEqual(argv.slice(argv.indexOf("--uid"), argv.indexOf("--uid") + 8), [
    "--uid",
    "1001",
    "--gid",
    "10",
    "--groups",
    "10,20",
    "--cwd",
    "/usr/home/ssh",
  ]);
  assert.deepEqual(argv.slice(-3), ["--", "ls", "-l"]);
  const login = planLinuxConsole(jail(), state, user, undefined, "xterm", false, "/h/qjh");
  const largv = login.steps[0]?.kind === "run" ? login.steps[0].argv : [];
  assert.deepEqual(largv.slice(-2), ["/bin/sh", "-l"]);
  assert.ok(largv.includes("HOME=/usr/home/ssh"));
  const tty = planLinuxConsole(jail(), state, user, undefined, "xterm", true, "/h/qjh");
  const targv = tty.steps[0]?.kind === "run" ? tty.steps[0].argv : [];
  assert.deepEqual(
    targv.slice(-5),
    ["--env", "ENV=/etc/profile", "--", "/bin/sh", "-l"],
    "a login shell; the helper gives it a terminal of the jail's own devpts",
  );
  assert.ok(
    !targv.some((a) => a.includes("script")),
    "no program of the jail's runs before the helper confines it",
  );
  assert.deepEqual(
    groupsOf("wheel:x:10:root,ssh\nstaff:x:20:ssh\nother:x:30:root\n", "ssh", 1001),
    [1001, 10, 20],
  );
});

test("network: gateway from the host config or the jail's /24; bad bridge names and the gateway address refused", () => {
  assert.deepEqual(
    jailNetwork("a", { ip4: "192.168.5.7", ip6: "", interface: "" }, { bridge: "qjail0" }).gateway4,
    { address: "192.168.5.1", prefix: 24 },
  );
  assert.deepEqual(
    jailNetwork(
      "a",
      { ip4: "10.1.2.3", ip6: "", interface: "" },
      { bridge: "qjail0", subnet4: { gateway: "10.1.0.1", prefix: 16 } },
    ).gateway4,
    { address: "10.1.0.1", prefix: 16 },
  );
  assert.deepEqual(
    jailNetwork("a", { ip4: "", ip6: "fd00:1:2:3::5", interface: "" }, { bridge: "qjail0" }).gateway6,
    { address: "fd00:1:2:3::1", prefix: 64 },
  );
  assert.deepEqual(
    jailNetwork("a", { ip4: "em0|10.0.0.9", ip6: "", interface: "br0" }, { bridge: "qjail0" }).ip4,
    ["10.0.0.9"],
  );
  assert.throws(
    () =>
      jailNetwork(
        "a",
        { ip4: "10.0.0.2", ip6: "", interface: "a-very-long-interface-name" },
        { bridge: "qjail0" },
      ),
    (e: unknown) =>
      e instanceof UsageError && e.code === "QJ2001" && e.message.includes('"a-very-long-interface-name"'),
  );
  assert.throws(
    () => jailNetwork("a", { ip4: "10.0.0.1", ip6: "", interface: "" }, { bridge: "qjail0" }),
    (e: unknown) => e instanceof UsageError && e.code === "QJ2002",
  );
});

test("netns names: the real root keeps plain names, a relocated root gets its own prefix", () => {
  assert.equal(netnsName("/", "www"), "qjail-www");
  assert.match(netnsName("/tmp/x", "www"), /^qjail-[0-9a-f]{8}-www$/);
  assert.notEqual(netnsName("/tmp/x", "www"), netnsName("/tmp/y", "www"));
  assert.match(stableMac("/", "jail:www"), /^02(:[0-9a-f]{2}){5}$/);
});

test("start: a jail's first start writes its new MAC to the file rename and delete carry", () => {
  const plan = planLinuxStart(
    jail(),
    startFacts({ mac: { address: "02:00:00:00:00:07", persisted: false } }),
  );
  const i = plan.steps.findIndex((s) => s.kind === "writeFile" && s.path === "/var/db/qjail/mac/www");
  assert.ok(i >= 0, formatPlan(plan));
  assert.deepEqual(plan.steps[i], {
    kind: "writeFile",
    path: "/var/db/qjail/mac/www",
    content: "02:00:00:00:00:07\n",
    mode: 0o644,
  });
  // written before the veth that carries it exists
  const veth = plan.steps.findIndex((s) => s.kind === "run" && s.argv.includes("veth"));
  assert.ok(i < veth);
  assert.equal(newJailMac(new Uint8Array([1, 2, 3, 4, 255])), "02:01:02:03:04:ff");
  assert.equal(parseJailMac("02:01:02:03:04:FF\n"), "02:01:02:03:04:ff");
  assert.equal(parseJailMac("01:01:02:03:04:05"), undefined, "a multicast MAC is not a jail's");
  assert.equal(parseJailMac("00:01:02:03:04:05"), undefined, "a universally administered MAC is not qjail's");
  assert.equal(parseJailMac("nonsense"), undefined);
});

test("run state: parsed back; damaged files are not mistaken for a running jail", () => {
  const s = parseRunState(
    "jid=2\npid=100\nstarttime=55\nnetns=qjail-www\nhostif=qjh2\njailif=qjj2\npath=/usr/jails/www\nip4=10.0.0.2,10.0.0.3\nip6=\n",
  );
  assert.deepEqual(s?.ip4, ["10.0.0.2", "10.0.0.3"]);
  assert.equal(
    parseRunState("jid=2\npid=1\nstarttime=55\nnetns=x\n"),
    undefined,
    "pid 1 is never a jail's init",
  );
  assert.equal(parseRunState("garbage"), undefined);
});

test("install from the host: sharedfs holds mount points and a manifest, never a copy of /usr", () => {
  const plan = planLinuxInstall({ layout, root: "/", base: { kind: "host" } });
  const manifest = plan.steps.find(
    (s) => s.kind === "writeFile" && s.path === "/usr/jails/sharedfs/qjail.base",
  );
  assert.ok(manifest && manifest.kind === "writeFile");
  assert.deepEqual(
    parseBaseManifest(manifest.content),
    hostBaseBinds().map(({ source, target }) => ({ source, target })),
  );
  assert.ok(
    !plan.steps.some((s) => s.kind === "copyTree" || (s.kind === "run" && s.argv[0] === "cp")),
    "nothing copied from the host",
  );
  const written = new Map(
    plan.steps.flatMap((s) => (s.kind === "writeFile" ? [[s.path, s.content] as const] : [])),
  );
  assert.doesNotMatch(written.get("/usr/jails/template/etc/shadow") ?? "", /\$/);
  assert.match(
    written.get("/usr/jails/template/etc/rc.d/apache24") ?? "",
    /exec \/bin\/sh \/etc\/rc.d\/httpd "\$@"/,
  );
  assert.match(written.get("/usr/jails/template/usr/local/www/index.html") ?? "", /It worked/);
  assert.ok(
    plan.steps.some(
      (s) =>
        s.kind === "symlink" && s.path === "/usr/jails/template/usr/bin" && s.target === "/sharedfs/usr/bin",
    ),
  );
});

test("install -f: a tarball is unpacked into sharedfs; saved flavors follow qjail", () => {
  const plan = planLinuxInstall({
    layout,
    root: "/tmp/r",
    base: { kind: "tarball", path: "/srv/rootfs.tar.xz" },
    existingFlavors: ["default", "mine"],
  });
  assert.ok(
    runs(plan.steps).includes(
      "tar -x -p --numeric-owner --exclude=./dev/* -f /srv/rootfs.tar.xz -C /tmp/r/usr/jails/sharedfs",
    ),
  );
  assert.ok(
    plan.steps.some(
      (s) =>
        s.kind === "rename" &&
        s.from === "/usr/jails/flavors/default" &&
        s.to === "/usr/jails/flavors/users.saved.default",
    ),
  );
  assert.ok(!plan.steps.some((s) => s.kind === "rename" && s.from.endsWith("/mine")));
});

test("manifest lines with .. or a relative source are ignored", () => {
  assert.deepEqual(parseBaseManifest("/usr usr\nusr usr\n/etc ../etc\n/etc/x etc/../../x\n# c\n"), [
    { source: "/usr", target: "usr" },
  ]);
});

test("sha512 crypt matches glibc (mkpasswd) for the one-time password", () => {
  // known answer computed with `mkpasswd -m sha-512 -S abcdefgh12345678 ssh`
  assert.equal(
    sha512Crypt("ssh", "abcdefgh12345678"),
    "$6$abcdefgh12345678$HSEtLrIhZccFsqHeECLYgT2CxD7izS/cLDMU6mCVDW3odWt21hZUKfmGchqTqnBCnKOvEQPGwBrRQ8lMpRoEL0",
  );
  const mk = spawnSync("mkpasswd", ["-m", "sha-512", "-S", "QjailSalt0123456", "www-jail-pass"], {
    encoding: "utf8",
  });
  if (mk.status === 0) assert.equal(sha512Crypt("www-jail-pass", "QjailSalt0123456"), mk.stdout.trim());
});

test("the one-time user: name = password = jail name, group wheel, change forced, idempotent", () => {
  const base = Object.fromEntries(
    templateEtcFiles("")
      .filter((f) => /etc\/(passwd|group|shadow)$/.test(f.path))
      .map((f) => [f.path.slice(4), f.content]),
  ) as { passwd: string; group: string; shadow: string };
  const once = addOneTimeUser(base, "ssh", "saltsaltsaltsalt");
  assert.match(once.passwd, /^ssh:x:1001:10:Jail:\/usr\/home\/ssh:\/bin\/sh$/m);
  assert.match(
    once.shadow,
    new RegExp(
      `^ssh:${sha512Crypt("ssh", "saltsaltsaltsalt").replace(/[$/.]/g, "\\$&")}:0:0:99999:7:::$`,
      "m",
    ),
  );
  assert.match(once.group, /^wheel:x:10:root,ssh$/m);
  const twice = addOneTimeUser(once, "ssh", "othersaltothersa");
  assert.equal(twice.passwd, once.passwd);
  assert.equal(twice.shadow, once.shadow);
});

test("Linux: each jail's one-time user has its own kernel uid, not 1001 in every jail (isolation-2.md L4)", () => {
  const base = {
    passwd: "root:x:0:0::/root:/bin/sh\n",
    group: "wheel:x:10:root\n",
    shadow: "root:*:0::::::\n",
  };
  const uids = ["10.0.0.2", "10.0.0.3", "10.0.1.2", "fd00::2", "fd00::3"].map(
    (a) => addOneTimeUser(base, "ssh", "saltsaltsaltsalt", jailUidBase(a)).uid,
  );
  assert.deepEqual(uids, [1_000_032, 1_000_048, 1_004_128, 1_000_032, 1_000_048]);
  assert.equal(new Set(uids.slice(0, 3)).size, 3, "three jails, three kernel uids");
  assert.ok(jailUidBase("10.0.255.255") + 15 < 2_097_151, "fits a ustar header");
  // a uid the jail already uses is skipped
  const taken = { ...base, passwd: base.passwd + "admin:x:1000032:10::/home/admin:/bin/sh\n" };
  assert.equal(addOneTimeUser(taken, "ssh", "saltsaltsaltsalt", jailUidBase("10.0.0.2")).uid, 1_000_033);
});
