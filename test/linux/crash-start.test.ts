import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { startTimeOf } from "./helpers/host.js";
import { canRunCrash, crashHost } from "./helpers/crash.js";

/**
 * Crash recovery, `start`: qjail SIGKILLed (QJAIL_CRASH_AT) before each step of
 * start in turn. Its own file so the whole loop has the file's time budget (every
 * boundary runs start, list, start and stop: ~4 qjail runs per step).
 */
describe("Linux crash recovery: start", { skip: !canRunCrash && "needs root on Linux" }, () => {
  const c = crashHost("crstart", "crash");

  it("qjail killed at every step boundary of start: start, stop and list stay truthful and repair it", async () => {
    // the kill-point loop: SIGKILL before step K for K = 0, 1, … until start runs to the end
    let boundary = 0;
    for (; boundary < 100; boundary++) {
      const r = await c.host.qjail(["start", "crash"], 120_000, { QJAIL_CRASH_AT: `step:${boundary}` });
      if (r.code === 0) break;
      const running = await c.listIsTruthful("crash", `after a kill at step ${boundary}`);
      if (!running) await c.ok(["start", "crash"]);
      const repaired = c.host.runState("crash");
      assert.ok(
        repaired && startTimeOf(repaired.pid) === repaired.starttime,
        `start repaired a kill at step ${boundary}`,
      );
      await c.ok(["stop", "crash"]);
      await c.assertClean("crash");
    }
    assert.ok(
      boundary > 8 && boundary < 100,
      `start ran to the end once every boundary was tried (${boundary})`,
    );
    await c.ok(["stop", "crash"]);
    await c.assertClean("crash");
  });
});
