import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { makeTestHost, type TestHost } from "../linux/helpers/host.js";
import { treeDigest } from "../helpers/cli.js";

/**
 * Security check (issue 7 §4) on the Linux backend with a running jail: the
 * jail's root user plants links from inside (through `qjail console -c`),
 * aiming at host files, then the admin runs host-side commands on that jail.
 * The links' targets are canary files under this test's --root, so a
 * command that followed one would change a canary and never a real host file.
 * Runs in the network namespaces test/linux/helpers/host.ts creates.
 */
const canRun = process.platform === "linux" && process.getuid?.() === 0;

describe(
  "Linux backend: links planted inside a running jail",
  { skip: !canRun && "needs root on Linux" },
  () => {
    let host: TestHost;
    let canaries: string;
    const canaryFiles: Record<string, string> = {
      "rc.conf": 'hostname="host"\n',
      passwd: "root:x:0:0:root:/root:/bin/sh\n",
      shadow: "root:$6$host-secret:19000:0:99999:7:::\n",
      fstab: "/dev/vda / ext4 rw 0 1\n",
      hosts: "127.0.0.1 localhost host\n",
      sshd_config: "PermitRootLogin no\n",
    };
    const digest = (): Map<string, string> => treeDigest(canaries);
    const qjail = async (args: string[]): Promise<{ code: number; out: string }> => {
      const r = await host.qjail(args);
      return { code: r.code, out: `${r.stdout}${r.stderr}` };
    };
    const ok = async (args: string[]): Promise<void> => {
      const r = await qjail(args);
      assert.equal(r.code, 0, `qjail ${args.join(" ")}:\n${r.out}`);
    };
    /** One command as the jail's root user; words are split at blanks (no shell). */
    const inJail = async (cmd: string): Promise<void> => {
      const r = await qjail(["console", "-c", cmd, "www"]);
      assert.equal(r.code, 0, `in the jail: ${cmd}\n${r.out}`);
    };

    before(async () => {
      host = await makeTestHost("seclinks");
      canaries = host.path("/hostcanary");
      mkdirSync(canaries, { recursive: true });
      for (const [f, c] of Object.entries(canaryFiles)) writeFileSync(join(canaries, f), c, { mode: 0o644 });
      await ok(["install"]);
      await ok(["create", "-4", "10.0.0.30", "www"]);
      await ok(["start", "www"]);
      // The jail's root user replaces its own files with links to the host's.
      // passwd goes last: 'console' looks up the jail's root user in it.
      for (const f of ["rc.conf", "fstab", "hosts", "resolv.conf", "shadow", "passwd"]) {
        await inJail(`ln -sf ${join(canaries, f === "resolv.conf" ? "hosts" : f)} /etc/${f}`);
        if (f === "shadow") {
          await inJail("rm -rf /etc/ssh");
          await inJail(`ln -s ${canaries} /etc/ssh`);
          await inJail(`ln -s ${canaries} /root/hostdir`);
          await inJail(`ln -s ${canaries} /tmp/hostdir`);
        }
      }
    });
    after(async () => {
      await host?.cleanup();
    });

    // Each step is a host-side command on the jail whose tree holds the links; none may touch a canary.
    const steps: { what: string; args: string[] }[] = [
      { what: "restart (stop, then start: the start writes the jail's run files)", args: ["restart", "www"] },
      { what: "stop", args: ["stop", "www"] },
      { what: "start again", args: ["start", "www"] },
      { what: "stop before changing the jail", args: ["stop", "www"] },
      {
        what: "config -h (one-time ssh: appends to etc/rc.conf and etc/ssh/sshd_config)",
        args: ["config", "-h", "www"],
      },
      {
        what: "start with the one-time ssh user (writes passwd and shadow in the jail)",
        args: ["start", "www"],
      },
      { what: "stop", args: ["stop", "www"] },
      { what: "config -n (rename)", args: ["config", "-n", "web", "www"] },
      { what: "archive", args: ["archive", "web"] },
      { what: "delete", args: ["delete", "web"] },
    ];
    for (const s of steps) {
      it(`${s.what} leaves every host file alone`, async () => {
        const before = digest();
        const r = await qjail(s.args);
        process.stderr.write(`linux planted links: qjail ${s.args.join(" ")} exited ${r.code}\n`);
        assert.deepEqual(
          digest(),
          before,
          `a host file changed after 'qjail ${s.args.join(" ")}':\n${r.out}`,
        );
        assert.ok(
          r.code === 0 || r.code === 3,
          `exit ${r.code}: a failure must be a clear refusal, not an internal error:\n${r.out}`,
        );
      });
    }
  },
);
