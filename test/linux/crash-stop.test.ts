import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { makeTestHost, startTimeOf, type TestHost } from "./helpers/host.js";
import { netnsName } from "../../src/core/linux/lifecycle.js";

/**
 * Crash recovery, `stop`: qjail SIGKILLed (QJAIL_CRASH_AT) before each step of
 * stop in turn. Its own file so the whole loop has the file's time budget.
 */
const canRun = process.platform === "linux" && process.getuid?.() === 0;

describe("Linux crash recovery", { skip: !canRun && "needs root on Linux" }, () => {
  let host: TestHost;
  const ok = async (args: string[]): Promise<string> => {
    const r = await host.qjail(args);
    assert.equal(r.code, 0, `qjail ${args.join(" ")} exited ${r.code}\n${r.stdout}\n${r.stderr}`);
    return r.stdout;
  };
  const assertClean = async (name: string): Promise<void> => {
    assert.equal(existsSync(`/run/netns/${netnsName(host.root, name)}`), false, "no namespace left");
    const links = await host.inHost(["ip", "-o", "link", "show"]);
    assert.doesNotMatch(links.stdout, /qjh\d+/, "no veth left on the host");
  };

  before(async () => {
    host = await makeTestHost("crstop");
    await ok(["install"]);
    await ok(["create", "-4", "10.0.0.30", "crash"]);
  });
  after(async () => {
    await host?.cleanup();
  });

  it("qjail killed at every step boundary of stop: list stays truthful, and stop or start finishes it", async () => {
    let boundary = 0;
    for (; boundary < 100; boundary++) {
      await ok(["start", "crash"]);
      const r = await host.qjail(["stop", "crash"], 120_000, { QJAIL_CRASH_AT: `step:${boundary}` });
      if (r.code === 0) break;
      const running = /^DR\s/m.test(await ok(["list", "crash"]));
      const state = host.runState("crash");
      assert.equal(
        running,
        state !== undefined && startTimeOf(state.pid) === state.starttime,
        `list tells the truth after a kill at step ${boundary}`,
      );
      if (!running) await ok(["start", "crash"]);
      await ok(["stop", "crash"]);
      await assertClean("crash");
    }
    assert.ok(
      boundary > 3 && boundary < 100,
      `stop ran to the end once every boundary was tried (${boundary})`,
    );
    await assertClean("crash");
  });
});
