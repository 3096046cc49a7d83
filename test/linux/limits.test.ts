import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { chmodSync, copyFileSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runProgram } from "../../src/platform/run.js";
import { netnsName } from "../../src/core/linux/lifecycle.js";
import { detectCgroups } from "../../src/platform/linux/index.js";
import { REPO_ROOT } from "../helpers/cli.js";
import { makeTestHost, type TestHost } from "./helpers/host.js";

/**
 * Resource limits of a Linux jail (isolation-2.md M1): processes, memory,
 * the tmpfs mounts, open files, CPU, the console log. Set with the rctl-named
 * `config` options; what the jail's root can take is measured from inside.
 */
const canRun = process.platform === "linux" && process.getuid?.() === 0;

function result(out: string, probe: string): { allowed: boolean; detail: string } | undefined {
  const m = new RegExp(`RESULT ${probe} (ALLOWED|DENIED) ?(.*)$`, "m").exec(out);
  return m ? { allowed: m[1] === "ALLOWED", detail: m[2] ?? "" } : undefined;
}

describe(
  "resource limits of a Linux jail (isolation-2.md M1)",
  { skip: !canRun && "needs root on Linux" },
  () => {
    let host: TestHost;
    let work: string;
    const configured: { code: number; stdout: string; stderr: string }[] = [];
    const ok = async (args: string[]): Promise<string> => {
      const r = await host.qjail(args);
      assert.equal(r.code, 0, `qjail ${args.join(" ")} exited ${r.code}\n${r.stdout}\n${r.stderr}`);
      return r.stdout;
    };
    const probe = (args: string): Promise<{ code: number; stdout: string; stderr: string }> =>
      host.qjail(["console", "-c", `/root/probe ${args}`, "lim"]);

    before(async () => {
      work = mkdtempSync(join(tmpdir(), "qjail-limits-"));
      const cc = await runProgram([
        "cc",
        "-O1",
        "-o",
        join(work, "probe"),
        join(REPO_ROOT, "test/linux/attacks/probe.c"),
      ]);
      assert.equal(cc.code, 0, cc.stderr);
      host = await makeTestHost("lim");
      await ok(["install"]);
      await ok(["create", "-4", "10.0.0.51", "lim"]);
      // checked by the first test, so that the others still measure a qjail without these options
      for (const [opt, v] of [
        ["--maxproc", "64"],
        ["--memoryuse", "64M"],
        ["--pcpu", "50"],
        ["--openfiles", "256"],
      ] as const)
        configured.push(await host.qjail(["config", opt, v, "lim"]));
      copyFileSync(join(work, "probe"), host.path("/usr/jails/lim/root/probe"));
      chmodSync(host.path("/usr/jails/lim/root/probe"), 0o755);
      await ok(["start", "lim"]);
    });
    after(async () => {
      await host?.cleanup();
      if (work) rmSync(work, { recursive: true, force: true });
    });

    it("the limits are in the jail's record under their rctl names", () => {
      for (const c of configured) assert.equal(c.code, 0, `${c.stdout}${c.stderr}`);
      assert.match(
        readFileSync(host.path("/usr/local/etc/qjail.local/lim"), "utf8"),
        /^rctl="memoryuse=67108864,maxproc=64,pcpu=50,openfiles=256"$/m,
      );
    });

    it("maxproc: the jail's root cannot fork past its process limit", async () => {
      const r = result((await probe("forks 300")).stdout, "forks");
      assert.ok(r, "the probe ran");
      assert.equal(r.allowed, false, `the jail forked ${r.detail} processes`);
      assert.ok(Number(r.detail) < 64, `forked ${r.detail}`);
    });

    it("memoryuse: the jail cannot take more memory than its limit", async () => {
      const r = await probe("alloc 200");
      assert.equal(
        result(r.stdout, "alloc")?.allowed ?? false,
        false,
        "the jail touched 200 MiB with a 64M limit",
      );
    });

    it("/dev/shm and /run are sized tmpfs, not half of the host's RAM", async () => {
      for (const [dir, max] of [
        ["/dev/shm", 64 * 1024 * 1024],
        ["/run", 32 * 1024 * 1024],
      ] as const) {
        const r = result((await probe(`fssize ${dir}`)).stdout, "fssize");
        assert.ok(r, `the probe ran on ${dir}`);
        assert.ok(Number(r.detail) <= max, `${dir} is ${r.detail} bytes`);
      }
    });

    it("openfiles and pcpu reach the jail's processes and its cgroup", async () => {
      assert.equal(result((await probe("nofile")).stdout, "nofile")?.detail, "256");
      const layout = detectCgroups();
      const id = netnsName(host.root, "lim");
      if (layout.kind === "v1" && layout.cpu)
        assert.equal(readFileSync(`${layout.cpu}/qjail/${id}/cpu.cfs_quota_us`, "utf8").trim(), "50000");
      else if (layout.kind === "v2")
        assert.equal(readFileSync(`${layout.root}/qjail/${id}/cpu.max`, "utf8").trim(), "50000 100000");
      else assert.fail("this host has no cpu controller for the test to read");
    });

    it("the console log is capped: the jail cannot grow it through /proc/1/fd/1", async () => {
      const r = result((await probe("flood /proc/1/fd/1 3")).stdout, "flood");
      assert.ok(r, "the probe ran");
      await new Promise((res) => setTimeout(res, 500));
      const log = host.path("/var/log/qjail.lim.console.log");
      const size = statSync(log).size + (statSync(`${log}.0`, { throwIfNoEntry: false })?.size ?? 0);
      assert.ok(size <= 2 * 1024 * 1024, `the console log holds ${size} bytes after 3 MiB from the jail`);
    });

    it("status shows the jail's limits and what it uses from its cgroup, as text and JSON", async () => {
      const text = await ok(["status", "lim"]);
      assert.match(
        text,
        /^ {2}limits {4}memoryuse 64M, maxproc 64, pcpu 50, openfiles 256, shmsize 64M$/m,
        text,
      );
      const using = /^ {2}using {5}memory (\S+) of 64M, (\d+) of 64 processes, cpu time (\S+) s$/m.exec(text);
      assert.ok(using, `a usage line in:\n${text}`);
      assert.ok(Number(using[2]) >= 1, "the jail's init counts as a task");
      const doc = JSON.parse(await ok(["status", "--json", "lim"])) as {
        jails: {
          limits: Record<string, unknown>;
          usage: { memoryuse: number | null; maxproc: number | null; cputime: number | null } | null;
        }[];
      };
      const j = doc.jails[0];
      assert.ok(j);
      assert.deepEqual(j.limits, {
        memoryuse: 64 * 1024 * 1024,
        maxproc: 64,
        pcpu: 50,
        openfiles: 256,
        shmsize: 64 * 1024 * 1024,
        readbps: "unlimited",
        writebps: "unlimited",
        readiops: "unlimited",
        writeiops: "unlimited",
      });
      assert.ok(j.usage, "usage of a running jail");
      // what the kernel reports for the jail's group, read here the same way
      const layout = detectCgroups();
      const id = netnsName(host.root, "lim");
      const tasks =
        layout.kind === "v2"
          ? readFileSync(`${layout.root}/qjail/${id}/pids.current`, "utf8")
          : layout.kind === "v1" && layout.pids
            ? readFileSync(`${layout.pids}/qjail/${id}/pids.current`, "utf8")
            : "";
      assert.equal(j.usage.maxproc, Number(tasks.trim()));
      assert.ok(
        (j.usage.memoryuse ?? 0) > 0 && (j.usage.memoryuse ?? 0) <= 64 * 1024 * 1024,
        `memory ${j.usage.memoryuse}`,
      );
      assert.ok(j.usage.cputime !== null && j.usage.cputime > 0, `cpu time ${j.usage.cputime}`);
    });

    it("stop removes the jail's cgroups", async () => {
      await ok(["stop", "lim"]);
      const layout = detectCgroups();
      const id = netnsName(host.root, "lim");
      const dirs =
        layout.kind === "v2"
          ? [`${layout.root}/qjail/${id}`]
          : layout.kind === "v1"
            ? [layout.memory, layout.pids, layout.cpu].filter((d) => d).map((d) => `${d}/qjail/${id}`)
            : [];
      for (const d of dirs) assert.equal(statSync(d, { throwIfNoEntry: false }), undefined, `${d} is gone`);
    });
  },
);
