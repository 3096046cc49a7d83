import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { canRunCrash, crashHost } from "./helpers/crash.js";

/**
 * Crash recovery, `stop`: qjail SIGKILLed (QJAIL_CRASH_AT) before each step of
 * stop in turn. Its own file so the whole loop has the file's time budget.
 */
describe("Linux crash recovery: stop", { skip: !canRunCrash && "needs root on Linux" }, () => {
  const c = crashHost("crstop", "crash");

  it("qjail killed at every step boundary of stop: list stays truthful, and stop or start finishes it", async () => {
    let boundary = 0;
    for (; boundary < 100; boundary++) {
      await c.ok(["start", "crash"]);
      const r = await c.host.qjail(["stop", "crash"], 120_000, { QJAIL_CRASH_AT: `step:${boundary}` });
      if (r.code === 0) break;
      const running = await c.listIsTruthful("crash", `after a kill at step ${boundary}`);
      if (!running) await c.ok(["start", "crash"]);
      await c.ok(["stop", "crash"]);
      await c.assertClean("crash");
    }
    assert.ok(
      boundary > 3 && boundary < 100,
      `stop ran to the end once every boundary was tried (${boundary})`,
    );
    await c.assertClean("crash");
  });
});
