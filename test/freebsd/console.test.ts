import { test } from "node:test";
import assert from "node:assert/strict";
import { PassThrough } from "node:stream";
import { spawnSync } from "node:child_process";
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runConsole, consoleEnv } from "../../src/platform/freebsd/index.js";
import { programEnv } from "../../src/platform/freebsd/query.js";

/**
 * The console without a terminal, run for real on this (Linux) machine:
 * runConsole starts the command in its own session with pipes, so whatever
 * runs in the jail has no controlling terminal and none of the caller's
 * descriptors or environment. (FreeBSD's jexec cannot run here; /bin/sh
 * stands in for it. The terminal path goes through FreeBSD's script(1),
 * whose syntax util-linux's script does not share, so it is checked by its
 * plan in platform.test.ts.)
 */
test("console without a terminal: own session, no controlling terminal, pipes only, no inherited environment", async () => {
  const stdin = new PassThrough();
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = "";
  stdout.on("data", (d: Buffer) => (out += d.toString()));
  process.env.QJAIL_CONSOLE_TEST_SECRET = "leaked";
  try {
    const script = [
      "read line",
      'echo "got:$line"',
      'echo "fd0:$(readlink /proc/self/fd/0) fd1:$(readlink /proc/self/fd/1) fd2:$(readlink /proc/self/fd/2)"',
      "set -- $(cut -d' ' -f6,7 /proc/$$/stat)",
      'echo "sid:$1 self:$$ tty:$2"',
      'echo "secret:${QJAIL_CONSOLE_TEST_SECRET:-none} path:$PATH"',
      // every descriptor above 2 is /dev/null: none of the caller's reaches the jail
      'ls -l /proc/self/fd | sed -n "s/.* \\([0-9][0-9]*\\) -> \\(.*\\)/fd:\\1:\\2/p"',
      "exit 7",
    ].join("; ");
    stdin.end("hello\n");
    const code = await runConsole(["/bin/sh", "-c", script], false, { stdin, stdout, stderr });
    assert.equal(code, 7);
    assert.match(out, /^got:hello$/m);
    // node's pipes are socketpairs on Linux; fd 1 here is the $(...) substitution's pipe
    assert.match(out, /^fd0:(pipe|socket):\[\d+\] fd1:\S+ fd2:(pipe|socket):\[\d+\]$/m);
    const m = /^sid:(\d+) self:(\d+) tty:(\d+)$/m.exec(out);
    assert.ok(m, out);
    assert.equal(m[1], m[2], "the shell leads its own session (setsid)");
    assert.equal(m[3], "0", "no controlling terminal");
    assert.match(out, /^secret:none path:\/sbin:\/bin:\/usr\/sbin:\/usr\/bin$/m);
    const fds = [...out.matchAll(/^fd:(\d+):(.*)$/gm)].filter((f) => Number(f[1]) > 2);
    // what ls opens itself (its /proc/N/fd directory) aside, every descriptor above 2 is /dev/null
    for (const f of fds.filter((x) => !/^\/proc\/\d+\/fd$/.test(x[2] as string)))
      assert.equal(f[2], "/dev/null", `fd ${f[1]}`);
  } finally {
    delete process.env.QJAIL_CONSOLE_TEST_SECRET;
  }
  assert.deepEqual(Object.keys(consoleEnv({ TERM: "xterm", SSH_AUTH_SOCK: "/tmp/agent" })).sort(), [
    "PATH",
    "TERM",
  ]);
});

test("console: a descriptor qjail's caller left open (not close-on-exec) never reaches the jail", async () => {
  const dir = mkdtempSync(join(tmpdir(), `qjail-console-${process.pid}-`));
  try {
    const secret = join(dir, "secret");
    writeFileSync(secret, "host secret\n");
    const fd = openSync(secret, "r");
    const moduleUrl = new URL("../../src/platform/freebsd/index.js", import.meta.url).href;
    // A qjail process started with fd 3 = the secret file, as a shell's `exec 3< secret` would leave it.
    const helper = `import { runConsole } from ${JSON.stringify(moduleUrl)};
      process.exitCode = await runConsole(["/bin/sh", "-c", "ls -l /proc/self/fd; cat <&3 || echo no-fd-3-content"], false);`;
    const r = spawnSync(process.execPath, ["--input-type=module", "-e", helper], {
      stdio: ["ignore", "pipe", "pipe", fd],
      encoding: "utf8",
    });
    closeSync(fd);
    assert.equal(r.status, 0, r.stderr);
    assert.ok(!r.stdout.includes("host secret"), r.stdout);
    assert.ok(!r.stdout.includes(secret), r.stdout);
    assert.match(r.stdout, / 3 -> \/dev\/null$/m);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("jail(8) starts with a clean environment (its exec.start inherits it), other programs keep qjail's", () => {
  assert.deepEqual(programEnv(["/usr/sbin/jail", "-q", "-f", "/usr/local/etc/qjail.config/www", "-c"]), {
    env: { PATH: "/sbin:/bin:/usr/sbin:/usr/bin" },
  });
  assert.deepEqual(programEnv(["/usr/sbin/jls", "-j", "www", "jid"]), {});
});

test("pkg -j (config -P) runs in the jail with a clean environment: the proxy variables only, never the admin's secrets", () => {
  const admin = {
    PATH: "/home/admin/bin:/usr/bin",
    SSH_AUTH_SOCK: "/tmp/ssh-XXXX/agent.1",
    AWS_SECRET_ACCESS_KEY: "s3cr3t",
    HTTP_PROXY: "http://proxy.example:3128",
  };
  assert.deepEqual(programEnv(["/usr/sbin/pkg", "-j", "3", "install", "-y", "nginx"], admin), {
    env: {
      PATH: "/sbin:/bin:/usr/sbin:/usr/bin:/usr/local/sbin:/usr/local/bin",
      HTTP_PROXY: "http://proxy.example:3128",
    },
  });
  // pkg on the host itself (not -j) is not qjail's to clean
  assert.deepEqual(programEnv(["/usr/sbin/pkg", "info"], admin), {});
});
