import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { runProgram, type RunResult } from "../../src/platform/run.js";
import { qjailArgv, REPO_ROOT } from "../helpers/cli.js";
import { makeTestHost, type TestHost } from "./helpers/host.js";

/**
 * The attacks of ../shared/reviews/isolation-2.md, run as the jail's root the
 * way the review ran them. Each `it` is one finding: it fails when the attack
 * works (the code before the native helper: C1, C2, H1, H2, H3, M4) and passes
 * when qjail holds. The attack programs are compiled here with the host's cc
 * (test/linux/attacks/*.c) and copied into the jail.
 *
 * qjail runs with systemd's PATH (the review's setting: the boot unit's), so a
 * program qjail looked up by name inside the jail's tree would be the jail's.
 */
const canRun = process.platform === "linux" && process.getuid?.() === 0;
const SYSTEMD_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
const CAP_SYS_ADMIN = 21n;
const LEAK_FD = 300;

function results(out: string): Map<string, { allowed: boolean; detail: string }> {
  const m = new Map<string, { allowed: boolean; detail: string }>();
  for (const [, probe, verdict, detail] of out.matchAll(/RESULT (\S+) (ALLOWED|DENIED) ?(.*)$/gm))
    m.set(probe as string, { allowed: verdict === "ALLOWED", detail: detail ?? "" });
  return m;
}

/** Lines of the jail's /tmp/planted.log (written by the planted setpriv/umount) that held CAP_SYS_ADMIN. */
function escalations(text: string): string[] {
  return text
    .split("\n")
    .filter((l) => l.trim() !== "")
    .filter((l) => {
      const hex = /([0-9a-f]{16})\s*$/.exec(l)?.[1];
      return hex === undefined || ((BigInt(`0x${hex}`) >> CAP_SYS_ADMIN) & 1n) === 1n;
    });
}

const PLANTED = (what: string, real: string): string => `#!/bin/sh
# planted by the jail's root: whoever runs this by name inside the jail's tree runs the jail's code
echo "${what} $(sed -n 's/^CapEff:[[:space:]]*//p' /proc/self/status)" >>/tmp/planted.log
exec ${real} "$@"
`;

describe(
  "attacks from inside a Linux jail (isolation-2.md)",
  { skip: !canRun && "needs root on Linux" },
  () => {
    let host: TestHost;
    let work: string;
    let canaryDir: string;
    const tag = randomBytes(4).toString("hex");
    const keyName = `qjail-test-${tag}`;
    const jailRoot = (): string => host.path("/usr/jails/atk");

    const qjail = (args: string[], timeoutMs = 120_000): Promise<RunResult> =>
      host.qjail(args, timeoutMs, { PATH: SYSTEMD_PATH });
    const ok = async (args: string[]): Promise<string> => {
      const r = await qjail(args);
      assert.equal(r.code, 0, `qjail ${args.join(" ")} exited ${r.code}\n${r.stdout}\n${r.stderr}`);
      return r.stdout;
    };
    /** qjail under bash with a directory descriptor left open at LEAK_FD (a wrapper script, socket activation...). */
    const withLeakedFd = (args: string[]): Promise<RunResult> => {
      const q = [
        ...qjailArgv(),
        ...args.slice(0, 1),
        "--root",
        host.root,
        "--platform",
        "linux",
        ...args.slice(1),
      ];
      const script = `exec ${LEAK_FD}<"$1"; shift; exec "$@"`;
      return runProgram(
        ["nsenter", `--net=/run/netns/${host.hostNs}`, "--", "bash", "-c", script, "bash", canaryDir, ...q],
        { timeoutMs: 120_000, env: { ...process.env, PATH: SYSTEMD_PATH } },
      );
    };
    const inJail = async (cmd: string): Promise<Map<string, { allowed: boolean; detail: string }>> => {
      const r = await qjail(["console", "-c", cmd, "atk"]);
      const m = results(r.stdout);
      assert.ok(m.size > 0, `the probe ran: ${cmd}\n${r.stdout}\n${r.stderr}`);
      return m;
    };
    const planted = (): string => {
      try {
        return readFileSync(join(jailRoot(), "tmp/planted.log"), "utf8");
      } catch {
        return "";
      }
    };
    const preloadLog = (): string => {
      try {
        return readFileSync(join(jailRoot(), "tmp/preload-escalation.log"), "utf8");
      } catch {
        return "";
      }
    };

    before(async () => {
      work = mkdtempSync(join(tmpdir(), "qjail-attacks-"));
      const src = join(REPO_ROOT, "test/linux/attacks");
      const cc = async (argv: string[]): Promise<void> => {
        const r = await runProgram(["cc", ...argv]);
        assert.equal(r.code, 0, `cc ${argv.join(" ")}: ${r.stderr}`);
      };
      await cc(["-O1", "-o", join(work, "probe"), join(src, "probe.c")]);
      await cc(["-O1", "-shared", "-fPIC", "-o", join(work, "qjpre.so"), join(src, "preload.c")]);
      // a host directory outside every jail, on the same filesystem as the jail trees
      canaryDir = mkdtempSync(join(tmpdir(), "qjail-canary-"));
      writeFileSync(join(canaryDir, "host-canary.txt"), `HOST-CANARY-${tag}\n`, { mode: 0o600 });

      host = await makeTestHost("atk");
      await ok(["install"]);
      await ok(["create", "-4", "10.0.0.30", "atk"]);
      const J = jailRoot();
      copyFileSync(join(work, "probe"), join(J, "root/probe"));
      chmodSync(join(J, "root/probe"), 0o755);
      // C2: what the review planted before a routine console/stop/restart
      mkdirSync(join(J, "usr/local/lib"), { recursive: true });
      copyFileSync(join(work, "qjpre.so"), join(J, "usr/local/lib/qjpre.so"));
      writeFileSync(join(J, "etc/ld.so.preload"), "/usr/local/lib/qjpre.so\n");
      writeFileSync(join(J, "usr/local/bin/setpriv"), PLANTED("setpriv", "/sharedfs/usr/bin/setpriv"), {
        mode: 0o755,
      });
      writeFileSync(join(J, "usr/local/bin/umount"), PLANTED("umount", "/sharedfs/usr/bin/umount"), {
        mode: 0o755,
      });
      // H2: the start is run by a caller that left a directory descriptor open
      const r = await withLeakedFd(["start", "atk"]);
      assert.equal(r.code, 0, `start: ${r.stdout}\n${r.stderr}`);
    });
    after(async () => {
      await runProgram([join(work, "probe"), "delkey", keyName]).catch(() => undefined);
      await host?.cleanup();
      rmSync(work, { recursive: true, force: true });
      rmSync(canaryDir, { recursive: true, force: true });
    });

    it("C1: open_by_handle_at with a guessed handle does not reach a host file", async () => {
      const h = await runProgram([join(work, "probe"), "handle", join(canaryDir, "host-canary.txt")]);
      assert.equal(h.code, 0, h.stderr);
      const [type, hex] = h.stdout.trim().split(" ");
      const m = await inJail(`/root/probe shocker ${type} ${hex}`);
      assert.equal(
        m.get("shocker")?.allowed,
        false,
        `the jail opened a host file by handle: ${m.get("shocker")?.detail}`,
      );
      assert.equal(readFileSync(join(canaryDir, "host-canary.txt"), "utf8"), `HOST-CANARY-${tag}\n`);
      const caps = await qjail(["console", "-c", "grep CapBnd /proc/self/status", "atk"]);
      const bnd = BigInt(`0x${/CapBnd:\s*([0-9a-f]+)/.exec(caps.stdout)?.[1] ?? "ffffffffff"}`);
      const CAP_DAC_READ_SEARCH = 2n;
      assert.equal(
        (bnd >> CAP_DAC_READ_SEARCH) & 1n,
        0n,
        "no CAP_DAC_READ_SEARCH in the jail's bounding set",
      );
    });

    it("C2: console runs nothing from the jail's tree with host privileges (planted setpriv, ld.so.preload)", async () => {
      const m = await inJail("/root/probe caps");
      assert.equal(m.get("caps")?.allowed, false, "the console itself has no CAP_SYS_ADMIN");
      assert.deepEqual(escalations(planted()), [], `a planted program ran with CAP_SYS_ADMIN:\n${planted()}`);
      assert.equal(preloadLog(), "", "the jail's ld.so.preload ran inside a privileged program");
    });

    it("H2: a descriptor the caller of start left open does not reach the jail's init", async () => {
      const m = await inJail(`/root/probe fd 1 ${LEAK_FD}`);
      assert.equal(
        m.get("fd")?.allowed,
        false,
        `the jail read ${m.get("fd")?.detail} through /proc/1/fd/${LEAK_FD}`,
      );
    });

    it("H2: a descriptor the caller of console left open does not reach the console's processes", async () => {
      const r = await withLeakedFd(["console", "-c", `/root/probe fd self ${LEAK_FD}`, "atk"]);
      const m = results(r.stdout);
      assert.ok(m.has("fd"), `${r.stdout}\n${r.stderr}`);
      assert.equal(m.get("fd")?.allowed, false, `the console's process read ${m.get("fd")?.detail}`);
    });

    it("H3: the host's kernel keyring is out of reach", async () => {
      const add = await runProgram([join(work, "probe"), "addkey", keyName, `HOST-SECRET-${tag}`]);
      assert.equal(add.code, 0, add.stderr);
      const m = await inJail(`/root/probe readkey ${keyName}`);
      assert.equal(
        m.get("readkey")?.allowed,
        false,
        `the jail read the host's key: ${m.get("readkey")?.detail}`,
      );
      const p = await inJail("/root/probe plantkey");
      assert.equal(p.get("plantkey")?.allowed, false, "the jail added a key to the shared uid-0 keyring");
    });

    it("M4: user namespaces, io_uring, perf, userfaultfd, bpf and file handles are filtered", async () => {
      const probes = ["userns", "io_uring", "perf", "userfaultfd", "bpf", "name_to_handle"];
      writeFileSync(join(jailRoot(), "root/m4.sh"), probes.map((p) => `/root/probe ${p}\n`).join(""));
      const m = await inJail("/bin/sh /root/m4.sh");
      for (const p of probes)
        assert.equal(m.get(p)?.allowed, false, `${p} is open to the jail: ${m.get(p)?.detail}`);
    });

    it("H1: console gives the jail no handle on the admin's terminal (TIOCSTI, /proc/PID/fd)", async () => {
      // the admin's terminal: script(1) on the host runs qjail in a pty, then reads what arrives on it
      const q = [...qjailArgv(), "console", "--root", host.root, "--platform", "linux", "-c"].join(" ");
      const shell =
        `${q} '/root/probe tiocsti QJAIL-INJECTED-${tag}' atk; ` +
        `${q} '/root/probe tty' atk; ` +
        `read -t 2 line; echo "ADMIN-SHELL-READ:$line"`;
      const r = await runProgram(
        [
          "nsenter",
          `--net=/run/netns/${host.hostNs}`,
          "--",
          "script",
          "-qec",
          `bash -c "${shell}"`,
          "/dev/null",
        ],
        { timeoutMs: 60_000, env: { ...process.env, PATH: SYSTEMD_PATH } },
      );
      const m = results(r.stdout.replace(/\r/g, ""));
      assert.ok(m.has("tiocsti") && m.has("tty"), `${r.stdout}\n${r.stderr}`);
      assert.equal(
        m.get("tty")?.allowed,
        false,
        `a jail process holds a host terminal: ${m.get("tty")?.detail}`,
      );
      assert.doesNotMatch(
        r.stdout,
        new RegExp(`ADMIN-SHELL-READ:QJAIL-INJECTED-${tag}`),
        "the jail typed into the admin's shell",
      );
      assert.match(r.stdout, /ADMIN-SHELL-READ:/);
    });

    it("L1: status prints a process name the jail chose escaped, not as terminal control", async () => {
      // ^ becomes ESC and ~ BEL in the probe: clear the screen, set the window title
      const m = await inJail("/root/probe listen ^[2J^]0;PWN~ 8099");
      assert.equal(m.get("listen")?.allowed, true);
      let out = "";
      for (let i = 0; i < 20 && !out.includes("8099"); i++) {
        out = (await qjail(["status", "atk"])).stdout;
        if (!out.includes("8099")) await new Promise((r) => setTimeout(r, 100));
      }
      assert.match(out, /:8099 /, out);
      assert.doesNotMatch(
        out,
        // eslint-disable-next-line no-control-regex -- the control characters are what is looked for
        /[\u001b\u0007]/,
        "a terminal escape from the jail reached the admin's terminal",
      );
      assert.match(out, /\\x1b\[2J\\x1b\]0;PWN\\x07/, "shown escaped instead");
    });

    it("L2: the host's keys, boot line, kernel internals, firmware and disks are masked in /proc and /sys", async () => {
      // what the host has of each (a kernel without one of them has nothing to hide there)
      const files = [
        "/proc/cmdline",
        "/proc/keys",
        "/proc/key-users",
        "/proc/kallsyms",
        "/proc/kcore",
        "/proc/timer_list",
        "/proc/sched_debug",
        "/proc/slabinfo",
        "/proc/iomem",
        "/proc/vmallocinfo",
      ].filter((f) => existsSync(f));
      const dirs = [
        "/sys/block",
        "/sys/class/block",
        "/sys/dev/block",
        "/sys/firmware",
        "/sys/class/dmi",
      ].filter((d) => existsSync(d));
      assert.ok(
        files.includes("/proc/cmdline") && dirs.includes("/sys/block"),
        "the host has a boot line and disks",
      );
      writeFileSync(
        join(jailRoot(), "root/l2.sh"),
        files.map((f) => `echo "FILE ${f} $(head -c 64 ${f} 2>/dev/null | wc -c)"\n`).join("") +
          dirs.map((d) => `echo "DIR ${d} $(ls -A ${d} 2>/dev/null | wc -l)"\n`).join("") +
          'echo "NET $(ls /sys/class/net | wc -l)"\n',
      );
      const r = await qjail(["console", "-c", "/bin/sh /root/l2.sh", "atk"]);
      assert.equal(r.code, 0, r.stderr);
      for (const f of files)
        assert.match(r.stdout, new RegExp(`^FILE ${f} 0$`, "m"), `${f} reads empty in the jail`);
      for (const d of dirs)
        assert.match(r.stdout, new RegExp(`^DIR ${d} 0$`, "m"), `${d} is empty in the jail`);
      assert.match(r.stdout, /^NET 2$/m, "the jail still sees its own lo and veth");
    });

    it("C2: stop and a restart run no planted program with host privileges", async () => {
      await ok(["stop", "atk"]);
      await ok(["start", "atk"]);
      assert.deepEqual(escalations(planted()), [], `a planted program ran with CAP_SYS_ADMIN:\n${planted()}`);
      assert.equal(preloadLog(), "", "the jail's ld.so.preload ran inside a privileged program");
      const init = host.runState("atk");
      assert.ok(init);
      const status = readFileSync(`/proc/${init.pid}/status`, "utf8");
      const eff = BigInt(`0x${/CapEff:\s*([0-9a-f]+)/.exec(status)?.[1] ?? "ffffffffff"}`);
      assert.equal((eff >> CAP_SYS_ADMIN) & 1n, 0n, "the jail's init runs without CAP_SYS_ADMIN");
      assert.ok(existsSync(join(jailRoot(), "etc/ld.so.preload")));
    });
  },
);
