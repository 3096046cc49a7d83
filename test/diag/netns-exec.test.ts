/**
 * B5: qjail run under `ip netns exec` (the usual way to try it in a test
 * namespace) gets a private mount namespace per command, so the jail
 * namespaces' /run/netns names one command binds are invisible to the next.
 * status and doctor must still see inside the jails: they enter each jail's
 * network namespace through its init process, not through the name.
 */
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { appendFileSync } from "node:fs";
import { makeTestHost, PUBLIC_CLIENT, type TestHost } from "../linux/helpers/host.js";
import { runProgram } from "../../src/platform/run.js";
import { qjailArgv } from "../helpers/cli.js";

const canRun = process.platform === "linux" && process.getuid?.() === 0;

describe("status and doctor under ip netns exec (B5)", { skip: !canRun && "needs root on Linux" }, () => {
  let host: TestHost;
  /** qjail through `ip netns exec`, every call in a fresh private mount namespace. */
  const viaIpNetnsExec = (args: string[]) =>
    runProgram(
      [
        "ip",
        "netns",
        "exec",
        host.hostNs,
        ...qjailArgv(),
        ...args,
        "--root",
        host.root,
        "--platform",
        "linux",
      ],
      { timeoutMs: 120_000, env: { ...process.env, QJAIL_FW_LOAD: "1" } },
    );
  const ok = async (args: string[]): Promise<string> => {
    const r = await viaIpNetnsExec(args);
    assert.equal(r.code, 0, `qjail ${args.join(" ")}: ${r.stderr}`);
    return r.stdout;
  };

  before(async () => {
    host = await makeTestHost("nsx");
    await ok(["install"]);
    await ok(["create", "-4", "10.0.0.30", "web"]);
    // busybox httpd on :80 from the jail's own rc.conf, as the howto's step 8 does
    appendFileSync(host.path("/usr/jails/web/etc/rc.conf"), 'apache24_enable="YES"\n');
    await ok(["start", "web"]);
  });
  after(async () => {
    if (host) {
      await viaIpNetnsExec(["stop", "web"]).catch(() => undefined);
      await host.cleanup();
    }
  });

  it("status shows the jail's listener although the command cannot see its /run/netns name", async () => {
    let listening: { port: number | null }[] = [];
    // the web server starts in the background inside the jail: give it a moment
    for (let i = 0; i < 50 && !listening.some((l) => l.port === 80); i++) {
      const doc = JSON.parse(await ok(["status", "--json", "web"])) as {
        jails: { listening: { port: number | null }[]; listening_unknown: string | null }[];
      };
      assert.equal(doc.jails[0]?.listening_unknown, null);
      listening = doc.jails[0]?.listening ?? [];
      if (!listening.some((l) => l.port === 80)) await new Promise((r) => setTimeout(r, 200));
    }
    assert.ok(
      listening.some((l) => l.port === 80),
      JSON.stringify(listening),
    );
  });

  it("doctor sees that nothing listens behind an exposure (QJ5313), and a refused probe is not a NAT fault", async () => {
    await ok(["expose", "web", "tcp", "6199:81"]);
    const r = await viaIpNetnsExec(["doctor", "--probe", `${PUBLIC_CLIENT}:9`]);
    assert.match(r.stdout, /QJ5313: web tcp 6199: .*nothing in jail "web" listens on 10\.0\.0\.30:81/);
    assert.doesNotMatch(r.stdout, /QJ5316|setting the network namespace/);
    // port 9 on the client: closed, so the jail gets a refusal back through NAT (C12)
    assert.match(r.stdout, /info: QJ5317: web: .*answered "connection refused"/);
    assert.doesNotMatch(r.stdout, /QJ5312/);
  });
});
