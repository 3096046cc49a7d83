import { before, after } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { makeTestHost, startTimeOf, type TestHost } from "./host.js";
import { netnsName } from "../../../src/core/linux/lifecycle.js";

export const canRunCrash = process.platform === "linux" && process.getuid?.() === 0;

/** What the crash-recovery files share: one test host with one installed, created jail. */
export interface CrashHost {
  /** The host (set once `before` has run). */
  readonly host: TestHost;
  /** Runs qjail and asserts it exited 0; its stdout. */
  ok(args: string[]): Promise<string>;
  /** No namespace and no veth of `name` is left. */
  assertClean(name: string): Promise<void>;
  /** `list` says running exactly when the recorded init still runs; whether it does. */
  listIsTruthful(name: string, after: string): Promise<boolean>;
}

/**
 * Call inside a describe(): registers before/after that make a test host
 * (network namespaces named after `label`), install, and create `jail` at
 * 10.0.0.30; the host is removed after.
 */
export function crashHost(label: string, jail: string): CrashHost {
  let host: TestHost | undefined;
  const h = (): TestHost => {
    assert.ok(host, "the test host was made in before()");
    return host;
  };
  const ok = async (args: string[]): Promise<string> => {
    const r = await h().qjail(args);
    assert.equal(r.code, 0, `qjail ${args.join(" ")} exited ${r.code}\n${r.stdout}\n${r.stderr}`);
    return r.stdout;
  };
  before(async () => {
    host = await makeTestHost(label);
    await ok(["install"]);
    await ok(["create", "-4", "10.0.0.30", jail]);
  });
  after(async () => {
    await host?.cleanup();
  });
  return {
    get host() {
      return h();
    },
    ok,
    async assertClean(name) {
      assert.equal(existsSync(`/run/netns/${netnsName(h().root, name)}`), false, "no namespace left");
      const links = await h().inHost(["ip", "-o", "link", "show"]);
      assert.doesNotMatch(links.stdout, /qjh\d+/, "no veth left on the host");
    },
    async listIsTruthful(name, what) {
      // list asks liveJails; the truth is whether the recorded init still runs
      const running = /^DR\s/m.test(await ok(["list", name]));
      const state = h().runState(name);
      assert.equal(
        running,
        state !== undefined && startTimeOf(state.pid) === state.starttime,
        `list tells the truth ${what}`,
      );
      return running;
    },
  };
}
