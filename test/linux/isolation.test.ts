import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readlinkSync, writeFileSync } from "node:fs";
import { makeTestHost, type TestHost } from "./helpers/host.js";

/**
 * Root in a jail is not root on the host: as the jail's root, every way out
 * this probe knows is refused; `config -k` (allow.raw_sockets) and a restart
 * open raw sockets and nothing else.
 */
const canRun = process.platform === "linux" && process.getuid?.() === 0;

/** One line per probe: "PROBE <name> allowed|denied". Runs inside the jail as its root. */
function probeScript(hostPid: number): string {
  return `#!/bin/sh
probe() { name=$1; shift; if "$@" >/dev/null 2>&1; then echo "PROBE $name allowed"; else echo "PROBE $name denied"; fi; }
probe mount mount -t tmpfs none /mnt
probe module modprobe dummy
probe address ip addr add 10.0.0.99/24 dev lo
probe route ip route add 10.9.9.0/24 dev lo
probe mknod mknod /tmp/disk b 8 0
probe procsys sh -c 'echo 1 >/proc/sys/net/ipv4/ip_forward'
probe sysfs sh -c 'echo 1 >/sys/kernel/mm/ksm/run'
probe hostsignal kill -0 ${hostPid}
probe hostdevice test -e /dev/sda -o -e /dev/mem -o -e /dev/kmsg
probe rawsocket perl -e 'use Socket; socket(my $s, PF_INET, SOCK_RAW, 1) or die "$!"'
probe capture perl -e 'use Socket; socket(my $s, 17, SOCK_RAW, 0) or die "$!"'
probe whoami test "$(id -u)" = 0
`;
}

function parseProbes(out: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const [, name, verdict] of out.matchAll(/^PROBE (\S+) (allowed|denied)$/gm))
    m.set(name as string, verdict as string);
  return m;
}

describe("Linux jail isolation", { skip: !canRun && "needs root on Linux" }, () => {
  let host: TestHost;
  const ok = async (args: string[]): Promise<string> => {
    const r = await host.qjail(args);
    assert.equal(r.code, 0, `qjail ${args.join(" ")} exited ${r.code}\n${r.stdout}\n${r.stderr}`);
    return r.stdout;
  };
  const probe = async (): Promise<Map<string, string>> => {
    writeFileSync(host.path("/usr/jails/iso/root/probe.sh"), probeScript(process.pid));
    const r = await host.qjail(["console", "-c", "/bin/sh /root/probe.sh", "iso"]);
    const m = parseProbes(r.stdout);
    assert.equal(m.size, 12, `every probe ran:\n${r.stdout}\n${r.stderr}`);
    return m;
  };
  const EXPECT_DENIED = [
    "mount",
    "module",
    "address",
    "route",
    "mknod",
    "procsys",
    "sysfs",
    "hostsignal",
    "hostdevice",
  ];

  before(async () => {
    host = await makeTestHost("iso");
    await ok(["install"]);
    await ok(["create", "-4", "10.0.0.20", "iso"]);
    await ok(["start", "iso"]);
  });
  after(async () => {
    await host?.cleanup();
  });

  it("as the jail's root, every way out is refused and raw sockets are closed", async () => {
    const m = await probe();
    assert.equal(m.get("whoami"), "allowed", "the probes ran as uid 0");
    for (const p of EXPECT_DENIED) assert.equal(m.get(p), "denied", `${p} must be refused`);
    assert.equal(m.get("rawsocket"), "denied");
    assert.equal(m.get("capture"), "denied", "no packet capture (AF_PACKET) with devfs ruleset 4");
    const caps = await host.qjail(["console", "-c", "grep CapBnd /proc/self/status", "iso"]);
    const bnd = BigInt(`0x${/CapBnd:\s*([0-9a-f]+)/.exec(caps.stdout)?.[1] ?? "ffffffffff"}`);
    // linux/capability.h bit numbers
    for (const [name, bit] of [
      ["net_admin", 12n],
      ["net_raw", 13n],
      ["sys_module", 16n],
      ["sys_rawio", 17n],
      ["sys_ptrace", 19n],
      ["sys_admin", 21n],
      ["mknod", 27n],
    ] as const) {
      assert.equal((bnd >> bit) & 1n, 0n, `the jail's root has no CAP_${name.toUpperCase()}`);
    }
    assert.equal(readFileSync("/proc/sys/net/ipv4/ip_forward", "utf8").length > 0, true);
  });

  it("config -k and a restart grant raw sockets and nothing else", async () => {
    await ok(["stop", "iso"]);
    await ok(["config", "-k", "iso"]);
    assert.match(
      readFileSync(host.path("/usr/local/etc/qjail.local/iso"), "utf8"),
      /^rsockets="allow.raw_sockets"$/m,
    );
    await ok(["start", "iso"]);
    const m = await probe();
    assert.equal(m.get("rawsocket"), "allowed");
    for (const p of EXPECT_DENIED) assert.equal(m.get(p), "denied", `${p} must still be refused`);
    const caps = await host.qjail(["console", "-c", "grep CapBnd /proc/self/status", "iso"]);
    const bnd = BigInt(`0x${/CapBnd:\s*([0-9a-f]+)/.exec(caps.stdout)?.[1] ?? "0"}`);
    const CAP_SYS_ADMIN = 21n;
    const CAP_NET_ADMIN = 12n;
    const CAP_NET_RAW = 13n;
    assert.equal((bnd >> CAP_SYS_ADMIN) & 1n, 0n);
    assert.equal((bnd >> CAP_NET_ADMIN) & 1n, 0n);
    assert.equal((bnd >> CAP_NET_RAW) & 1n, 1n);
  });
  it("config -y (allow.sysvipc) shares the host's System V IPC and nothing more", async () => {
    const before = host.runState("iso");
    assert.ok(before);
    assert.notEqual(
      readlinkSync(`/proc/${before.pid}/ns/ipc`),
      readlinkSync("/proc/self/ns/ipc"),
      "an IPC namespace of its own by default",
    );
    await ok(["stop", "iso"]);
    await ok(["config", "-y", "iso"]);
    await ok(["start", "iso"]);
    const after = host.runState("iso");
    assert.ok(after);
    assert.equal(
      readlinkSync(`/proc/${after.pid}/ns/ipc`),
      readlinkSync("/proc/self/ns/ipc"),
      "the host's IPC namespace",
    );
    for (const kind of ["mnt", "pid", "net", "uts"]) {
      assert.notEqual(
        readlinkSync(`/proc/${after.pid}/ns/${kind}`),
        readlinkSync(`/proc/self/ns/${kind}`),
        `still its own ${kind} namespace`,
      );
    }
  });
  it("config -b 50 (the howto's bpf ruleset for tcpdump) allows packet capture and nothing else", async () => {
    await ok(["stop", "iso"]);
    await ok(["config", "-K", "iso"]);
    await ok(["config", "-b", "50", "iso"]);
    assert.match(readFileSync(host.path("/usr/local/etc/qjail.local/iso"), "utf8"), /^ruleset="50"$/m);
    await ok(["start", "iso"]);
    const m = await probe();
    assert.equal(m.get("capture"), "allowed");
    for (const p of EXPECT_DENIED) assert.equal(m.get(p), "denied", `${p} must still be refused`);
  });
});
