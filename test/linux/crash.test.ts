import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { jailProcesses, survivors } from "./helpers/host.js";
import { canRunCrash, crashHost } from "./helpers/crash.js";

/**
 * Crash recovery: a jail's init killed from outside, a PID reused, delete
 * after a crash. What is left must be reported truthfully and repaired by
 * start/stop/delete with no manual step. (qjail itself killed at every step
 * of start and of stop: crash-start.test.ts, crash-stop.test.ts.)
 */
describe("Linux crash recovery", { skip: !canRunCrash && "needs root on Linux" }, () => {
  const c = crashHost("crash", "crash");
  const { ok, assertClean } = c;
  const live = async (): Promise<Record<string, unknown>> => {
    // the platform's liveJails through the driver: the one query start/stop/list rely on
    const r = await c.host.qjail(["live"]);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as Record<string, unknown>;
  };

  it("an init killed from outside: reported stopped, start repairs, stop cleans", async () => {
    await ok(["start", "crash"]);
    const state = c.host.runState("crash");
    assert.ok(state);
    const procs = jailProcesses(state.pid);
    process.kill(state.pid, "SIGKILL");
    for (let i = 0; i < 50 && survivors(procs).length > 0; i++) await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(survivors(procs), [], "the kernel ended the jail with its init");
    assert.equal("crash" in (await live()), false, "a dead init is not a running jail, state file or not");
    assert.match(await ok(["list", "crash"]), /^DS\s+N\/A\s.*crash$/m, "list shows it stopped");
    assert.ok(c.host.runState("crash"), "the stale state file is still there to be repaired");
    await ok(["start", "crash"]);
    const again = c.host.runState("crash");
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
    const state = c.host.runState("crash");
    assert.ok(state);
    await ok(["stop", "crash"]);
    // plant the old state back: same PID number, but the start time cannot match a new process
    const { writeFileSync, mkdirSync } = await import("node:fs");
    mkdirSync(c.host.path("/var/db/qjail/run"), { recursive: true });
    writeFileSync(
      c.host.path("/var/db/qjail/run/crash"),
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
    const state = c.host.runState("crash");
    assert.ok(state);
    process.kill(state.pid, "SIGKILL");
    await new Promise((r) => setTimeout(r, 300));
    const refused = await c.host.qjail(["delete", "crash"]);
    assert.equal(refused.code, 0, `delete of a crashed (stopped) jail proceeds:\n${refused.stderr}`);
    assert.equal(existsSync(c.host.path("/usr/jails/crash")), false);
    await assertClean("crash");
  });
});
