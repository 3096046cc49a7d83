import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { makeTestHost, jailProcesses, survivors, type TestHost } from "./helpers/host.js";
import { netnsName } from "../../src/core/linux/lifecycle.js";

/**
 * Crash recovery: a jail's init killed from outside, and qjail itself killed
 * (SIGKILL, QJAIL_CRASH_AT) at points of `start`. What is left must be
 * reported truthfully and repaired by start/stop/delete with no manual step.
 */
const canRun = process.platform === "linux" && process.getuid?.() === 0;

describe("Linux crash recovery", { skip: !canRun && "needs root on Linux" }, () => {
  let host: TestHost;
  const ok = async (args: string[]): Promise<string> => {
    const r = await host.qjail(args);
    assert.equal(r.code, 0, `qjail ${args.join(" ")} exited ${r.code}\n${r.stdout}\n${r.stderr}`);
    return r.stdout;
  };
  const live = async (): Promise<Record<string, unknown>> => {
    // the platform's liveJails through the driver: the one query start/stop/list rely on
    const r = await host.qjail(["live"]);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as Record<string, unknown>;
  };
  const assertClean = async (name: string): Promise<void> => {
    assert.equal(existsSync(`/run/netns/${netnsName(host.root, name)}`), false, "no namespace left");
    const links = await host.inHost(["ip", "-o", "link", "show"]);
    assert.doesNotMatch(links.stdout, /qjh\d+/, "no veth left on the host");
  };

  before(async () => {
    host = await makeTestHost("crash");
    await ok(["install"]);
    await ok(["create", "-4", "10.0.0.30", "crash"]);
  });
  after(async () => {
    await host?.cleanup();
  });

  it("an init killed from outside: reported stopped, start repairs, stop cleans", async () => {
    await ok(["start", "crash"]);
    const state = host.runState("crash");
    assert.ok(state);
    const procs = jailProcesses(state.pid);
    process.kill(state.pid, "SIGKILL");
    for (let i = 0; i < 50 && survivors(procs).length > 0; i++) await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(survivors(procs), [], "the kernel ended the jail with its init");
    assert.equal("crash" in (await live()), false, "a dead init is not a running jail, state file or not");
    assert.match(await ok(["list", "crash"]), /^DS\s+N\/A\s.*crash$/m, "list shows it stopped");
    assert.ok(host.runState("crash"), "the stale state file is still there to be repaired");
    await ok(["start", "crash"]);
    const again = host.runState("crash");
    assert.ok(again && again.pid !== state.pid);
    assert.equal("crash" in (await live()), true);
    assert.match(
      await ok(["list", "crash"]),
      new RegExp(`^DR\\s+${again.jid}\\s.*crash$`, "m"),
      "list shows it running with its JID",
    );
    await ok(["stop", "crash"]);
    await assertClean("crash");
  });

  it("a PID reused by another process is never taken for the jail", async () => {
    await ok(["start", "crash"]);
    const state = host.runState("crash");
    assert.ok(state);
    await ok(["stop", "crash"]);
    // plant the old state back: same PID number, but the start time cannot match a new process
    const { writeFileSync, mkdirSync } = await import("node:fs");
    mkdirSync(host.path("/var/db/qjail/run"), { recursive: true });
    writeFileSync(
      host.path("/var/db/qjail/run/crash"),
      `jid=${state.jid}\npid=${process.pid}\nstarttime=1\nnetns=${state.netns}\nhostif=${state.hostIf}\njailif=${state.jailIf}\npath=${state.path}\nip4=\nip6=\n`,
    );
    assert.equal("crash" in (await live()), false);
    await ok(["start", "crash"]);
    assert.equal(
      process.kill(process.pid, 0),
      true,
      "the test process (whose PID the stale file named) was not signalled",
    );
    await ok(["stop", "crash"]);
    await assertClean("crash");
  });

  it("delete after a crash leaves nothing behind", async () => {
    await ok(["start", "crash"]);
    const state = host.runState("crash");
    assert.ok(state);
    process.kill(state.pid, "SIGKILL");
    await new Promise((r) => setTimeout(r, 300));
    const refused = await host.qjail(["delete", "crash"]);
    assert.equal(refused.code, 0, `delete of a crashed (stopped) jail proceeds:\n${refused.stderr}`);
    assert.equal(existsSync(host.path("/usr/jails/crash")), false);
    await assertClean("crash");
  });
});
