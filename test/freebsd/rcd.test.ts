import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, writeFileSync, chmodSync } from "node:fs";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import { REPO_ROOT, tempDir } from "../helpers/cli.js";

/**
 * The rc.d scripts run as rc(8) and service(8) run them: `env -i` with
 * PATH=/sbin:/bin:/usr/sbin:/usr/bin (libexec/rc/rc, usr.sbin/service). qjail
 * is `#!/usr/bin/env node` and node lives in /usr/local/bin on FreeBSD, so
 * whatever the script runs must see /usr/local/bin on its PATH. There is no
 * /etc/rc.subr here: a stand-in with the functions the scripts call records
 * what would run (load_rc_config reads the test's rc.conf; run_rc_command
 * runs start_cmd, or reports command/command_args as daemon(8) would get them).
 */

const RC_SUBR = (rcConf: string, log: string): string => `
load_rc_config() { . "${rcConf}"; }
warn() { echo "warn: $*" >> "${log}"; }
run_rc_command() {
	case "$1" in
	start)
		if [ -n "\${start_cmd}" ]; then eval "\${start_cmd}"
		else echo "daemon PATH=$PATH: \${command} \${command_args}" >> "${log}"; fi ;;
	stop) eval "\${stop_cmd:-:}" ;;
	esac
}
`;

function runScript(script: string, rcConf: string): { log: string; status: number | null; stderr: string } {
  const t = tempDir(`qjail-rcd-${process.pid}-`);
  try {
    const log = join(t.dir, "log");
    writeFileSync(log, "");
    const fakeQjail = join(t.dir, "qjail");
    writeFileSync(fakeQjail, `#!/bin/sh\necho "qjail PATH=$PATH: $*" >> "${log}"\n`);
    chmodSync(fakeQjail, 0o755);
    writeFileSync(join(t.dir, "rc.conf"), rcConf.replace("@QJAIL@", fakeQjail).replace("@DIR@", t.dir));
    writeFileSync(join(t.dir, "rc.subr"), RC_SUBR(join(t.dir, "rc.conf"), log));
    const text = readFileSync(join(REPO_ROOT, script), "utf8");
    assert.match(text, /^\. \/etc\/rc\.subr$/m);
    writeFileSync(
      join(t.dir, "script"),
      text.replace(/^\. \/etc\/rc\.subr$/m, `. "${join(t.dir, "rc.subr")}"`),
    );
    const r = spawnSync(
      "/usr/bin/env",
      ["-i", "PATH=/sbin:/bin:/usr/sbin:/usr/bin", "/bin/sh", join(t.dir, "script"), "start"],
      { encoding: "utf8" },
    );
    return { log: readFileSync(log, "utf8"), status: r.status, stderr: r.stderr };
  } finally {
    t.cleanup();
  }
}

test("rc.d/qjail under rc's PATH: every qjail call sees /usr/local/bin (where node is) after the base directories", () => {
  const r = runScript(
    "etc/rc.d/qjail",
    'qjail_enable="YES"\nqjail_program="@QJAIL@"\nqjail_records="@DIR@/none"\n',
  );
  assert.equal(r.status, 0, r.stderr);
  const calls = r.log.split("\n").filter((l) => l.startsWith("qjail "));
  assert.ok(calls.length > 0, r.log);
  for (const c of calls)
    assert.match(c, /^qjail PATH=\/sbin:\/bin:\/usr\/sbin:\/usr\/bin:\/usr\/local\/sbin:\/usr\/local\/bin: /);
});

test("rc.d/qjail_watch under rc's PATH: daemon(8) and its qjail child get /usr/local/bin", () => {
  const r = runScript("etc/rc.d/qjail_watch", 'qjail_watch_enable="YES"\nqjail_program="@QJAIL@"\n');
  assert.equal(r.status, 0, r.stderr);
  assert.match(
    r.log,
    /^daemon PATH=\/sbin:\/bin:\/usr\/sbin:\/usr\/bin:\/usr\/local\/sbin:\/usr\/local\/bin: \/usr\/sbin\/daemon -P /m,
  );
});

test("rc.d/qjail runs after sysctl_lastload, so ipfw's one_pass=0 from /etc/sysctl.conf is set before fw sync", () => {
  const text = readFileSync(join(REPO_ROOT, "etc/rc.d/qjail"), "utf8");
  const require = /^# REQUIRE: (.*)$/m.exec(text)?.[1]?.split(/\s+/) ?? [];
  assert.ok(require.includes("sysctl_lastload"), require.join(" "));
});
