import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, writeFileSync, chmodSync } from "node:fs";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import { COMMANDS, findCommand } from "../../src/cli/index.js";
import { GLOBAL_OPTIONS } from "../../src/cli/command.js";
import { REPO_ROOT, tempDir } from "../helpers/cli.js";

const read = (rel: string): string => readFileSync(join(REPO_ROOT, rel), "utf8");

/** The qjail invocations in a script: words after the program up to a shell operator or quote. */
function qjailCalls(text: string, program: RegExp): string[][] {
  const calls: string[][] = [];
  for (const line of text.split("\n")) {
    if (/^\s*#/.test(line)) continue;
    for (const m of line.matchAll(
      new RegExp(`${program.source}((?:\\s+(?:--?[A-Za-z][\\w-]*|[a-z]+|"[^"]*"|\\$\\{?\\w+\\}?))*)`, "g"),
    )) {
      calls.push(
        (m[1] ?? "")
          .trim()
          .split(/\s+/)
          .filter((w) => w !== ""),
      );
    }
  }
  return calls;
}

/** Every call names a registered command and only options it (or the globals) accept. */
function assertCallsValid(calls: string[][], where: string): void {
  assert.ok(calls.length > 0, `${where}: no qjail call found`);
  for (const call of calls) {
    const found = findCommand(call);
    assert.ok(
      found,
      `${where}: 'qjail ${call.join(" ")}' is not a qjail command (have: ${COMMANDS.map((c) => c.path.join(" ")).join(", ")})`,
    );
    for (const word of found.rest) {
      const flag = /^--([\w-]+)$/.exec(word)?.[1];
      if (flag === undefined) continue;
      assert.ok(
        flag in found.def.options || flag in GLOBAL_OPTIONS,
        `${where}: 'qjail ${found.def.path.join(" ")}' has no --${flag}`,
      );
    }
  }
}

function unitSection(text: string, section: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  let current = "";
  for (const line of text.split("\n")) {
    const head = /^\[(\w+)\]$/.exec(line.trim());
    if (head) current = head[1] as string;
    else if (current === section && /^\w+=/.test(line)) {
      const key = line.slice(0, line.indexOf("="));
      out.set(key, [...(out.get(key) ?? []), line.slice(line.indexOf("=") + 1)]);
    }
  }
  return out;
}

test("rc.d/qjail: rc.subr script, qjail_enable, after the firewalls and NETWORKING, valid qjail calls", () => {
  const text = read("etc/rc.d/qjail");
  assert.match(text, /^# PROVIDE: qjail$/m);
  const require = /^# REQUIRE: (.*)$/m.exec(text)?.[1]?.split(/\s+/) ?? [];
  for (const dep of ["NETWORKING", "ipfilter", "ipnat", "pf", "ipfw", "LOGIN"])
    assert.ok(require.includes(dep), `REQUIRE lacks ${dep}`);
  assert.match(text, /^# KEYWORD: nojail shutdown$/m);
  assert.match(text, /^\. \/etc\/rc\.subr$/m);
  assert.match(text, /^rcvar="qjail_enable"$/m);
  assert.match(text, /^run_rc_command "\$1"$/m);
  const calls = qjailCalls(text, /\$\{qjail_program\}/);
  assert.deepEqual(
    calls.map((c) => c[0] + " " + (c[1] ?? "")),
    ["boot start", "boot stop"],
  );
  assertCallsValid(calls, "etc/rc.d/qjail");
  assert.equal(spawnSync("sh", ["-n", join(REPO_ROOT, "etc/rc.d/qjail")]).status, 0, "sh -n");
});

test("rc.d/qjail_watch: daemon(8) around 'qjail fw watch', after qjail", () => {
  const text = read("etc/rc.d/qjail_watch");
  assert.match(text, /^# REQUIRE: qjail NETWORKING$/m);
  assert.match(text, /^rcvar="qjail_watch_enable"$/m);
  assert.match(text, /^command="\/usr\/sbin\/daemon"$/m);
  assertCallsValid(qjailCalls(text, /\$\{qjail_program\}/), "etc/rc.d/qjail_watch");
  const example = /^#\s+qjail_watch_flags="(.*)"$/m.exec(text)?.[1] ?? "";
  assert.match(example, /--dyndns-password-file/);
  assertCallsValid([["fw", "watch", ...example.split(/\s+/)]], "etc/rc.d/qjail_watch flags example");
  assert.equal(spawnSync("sh", ["-n", join(REPO_ROOT, "etc/rc.d/qjail_watch")]).status, 0);
});

test("rc.d/qjail start/stop run 'qjail boot start' / 'boot stop' (against a stub rc.subr)", () => {
  const t = tempDir("qjail-rcd-");
  try {
    const log = join(t.dir, "calls");
    writeFileSync(join(t.dir, "qjail"), `#!/bin/sh\necho "$*" >> ${log}\n`);
    chmodSync(join(t.dir, "qjail"), 0o755);
    writeFileSync(
      join(t.dir, "rc.subr"),
      [
        "load_rc_config() { qjail_enable=YES; qjail_program=" + join(t.dir, "qjail") + "; }",
        'warn() { echo "warning: $*" >&2; }',
        'run_rc_command() { case "$1" in start) $start_cmd;; stop) $stop_cmd;; esac; }',
      ].join("\n") + "\n",
    );
    const script = read("etc/rc.d/qjail").replace(". /etc/rc.subr", `. ${join(t.dir, "rc.subr")}`);
    writeFileSync(join(t.dir, "rc.qjail"), script);
    const r = spawnSync("sh", [join(t.dir, "rc.qjail"), "start"], { encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    spawnSync("sh", [join(t.dir, "rc.qjail"), "stop"]);
    assert.deepEqual(readFileSync(log, "utf8").trim().split("\n"), ["boot start", "boot stop"]);
  } finally {
    t.cleanup();
  }
});

test("systemd qjail.service: after network-online and nftables, boot start / boot stop; restarting nftables does not stop jails", () => {
  const text = read("etc/systemd/qjail.service");
  const unit = unitSection(text, "Unit");
  const service = unitSection(text, "Service");
  const after = (unit.get("After") ?? []).join(" ").split(/\s+/);
  assert.ok(after.includes("network-online.target") && after.includes("nftables.service"));
  assert.deepEqual(unit.get("Wants"), ["network-online.target"]);
  // PartOf=nftables.service would stop every jail whenever nftables restarts.
  assert.equal(unit.get("PartOf"), undefined);
  assert.deepEqual(service.get("Type"), ["oneshot"]);
  assert.deepEqual(service.get("ExecStart"), ["/usr/local/bin/qjail boot start"]);
  assert.deepEqual(service.get("ExecStop"), ["/usr/local/bin/qjail boot stop"]);
  assertCallsValid(
    [
      ...qjailCalls((service.get("ExecStart") ?? []).join("\n"), /\/usr\/local\/bin\/qjail/),
      ...qjailCalls((service.get("ExecStop") ?? []).join("\n"), /\/usr\/local\/bin\/qjail/),
    ],
    "qjail.service",
  );
});

test("systemd qjail-fw.service: part of nftables.service, reloads qjail's rules with fw sync", () => {
  const text = read("etc/systemd/qjail-fw.service");
  const unit = unitSection(text, "Unit");
  const service = unitSection(text, "Service");
  assert.deepEqual(unit.get("PartOf"), ["nftables.service"]);
  assert.ok((unit.get("After") ?? []).join(" ").includes("nftables.service"));
  assert.deepEqual(service.get("ExecStart"), ["/usr/local/bin/qjail fw sync"]);
  assert.deepEqual(unitSection(text, "Install").get("WantedBy"), ["nftables.service"]);
  assertCallsValid(qjailCalls(text, /\/usr\/local\/bin\/qjail/), "qjail-fw.service");
});

test("systemd qjail-watch.service: runs fw watch, does not restart after a refused account (exit 3)", () => {
  const text = read("etc/systemd/qjail-watch.service");
  const service = unitSection(text, "Service");
  assert.ok((unitSection(text, "Unit").get("After") ?? []).join(" ").includes("qjail.service"));
  assertCallsValid(
    qjailCalls((service.get("ExecStart") ?? []).join("\n"), /\/usr\/local\/bin\/qjail/),
    "qjail-watch.service",
  );
  assert.deepEqual(service.get("RestartPreventExitStatus"), ["3"]);
  const example = /^# Environment=QJAIL_WATCH_FLAGS=(.*)$/m.exec(text)?.[1] ?? "";
  assertCallsValid([["fw", "watch", ...example.split(/\s+/)]], "qjail-watch.service example flags");
});
