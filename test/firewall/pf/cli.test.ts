/**
 * `qjail fw lint --pf` and `qjail fw trace --pf` end to end (in-process CLI):
 * exit codes, --print, --json, and the defaults on a host whose config says
 * firewall="pf" (its pf.conf and the anchor rules qjail loaded).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { runCli, testdir } from "../../helpers/cli.js";

const PF_CONF = [
  'ext_if = "em0"',
  'nat-anchor "qjail/*"',
  'rdr-anchor "qjail/*"',
  "block in all",
  "pass out all",
  'anchor "qjail/*"',
  "",
].join("\n");
const ANCHOR = [
  "rdr on em0 inet proto tcp from any to (em0) port = 6188 -> 10.0.0.3 port 80",
  'pass in on em0 inet proto tcp from any to 10.0.0.3 port = http flags S/SA keep state label "qjail:tcp/6188:www"',
  "",
].join("\n");

function pfHost(pfConf = PF_CONF): { dir: string; cleanup: () => void } {
  return testdir({
    "usr/local/etc/qjail.host": 'ext_if="em0"\nfirewall="pf"\nhost_services="22/tcp"\n',
    "etc/pf.conf": pfConf,
    "var/db/qjail/pf.qjail.expose.rules": ANCHOR,
  });
}

test("fw lint --pf FILE: 0 when the file loads, 1 with the errors underlined, --print as pfctl -nv", async () => {
  const t = testdir({
    "good.conf": "block in all\npass out on em0 proto tcp to port 25 keep state\n",
    "bad.conf": 'ext_if = "em0"\npass in on $ext_if proto tcp to port sshh\n',
  });
  try {
    const good = await runCli(["fw", "lint", "--pf", join(t.dir, "good.conf"), "--print"]);
    assert.equal(good.code, 0, good.stderr);
    assert.equal(
      good.stdout,
      "block drop in all\npass out on em0 proto tcp from any to any port = smtp flags S/SA keep state\n",
    );
    assert.match(good.stderr, /qjail fw lint: 0 errors, 0 warnings in /);
    const bad = await runCli(["fw", "lint", "--pf", join(t.dir, "bad.conf")]);
    assert.equal(bad.code, 1);
    assert.match(
      bad.stdout,
      /bad\.conf:2:38: error QJ4604: unknown port sshh\n {2}2 \| pass in on \$ext_if proto tcp to port sshh\n {4}\| {38}\^{4}/,
    );
    const json = await runCli(["--json", "fw", "lint", "--pf", join(t.dir, "bad.conf")]);
    const doc = JSON.parse(json.stdout) as {
      language: string;
      errors: number;
      diagnostics: { code: string; line: number }[];
    };
    assert.equal(doc.language, "pf");
    assert.equal(doc.errors, 1);
    assert.deepEqual(
      doc.diagnostics.map((d) => [d.code, d.line]),
      [["QJ4604", 2]],
    );
    const missing = await runCli(["fw", "lint", "--pf", join(t.dir, "nowhere.conf")]);
    assert.equal(missing.code, 3);
    assert.match(missing.stderr, /QJ4803: cannot read pf rules/);
  } finally {
    t.cleanup();
  }
});

test("on a pf host, fw lint reads pf.conf and qjail's anchor by default and reports the pitfalls", async () => {
  const ok = pfHost();
  const broken = pfHost(PF_CONF.replace("block in all", "block in quick on em0 proto tcp to 10.0.0.0/24"));
  try {
    const good = await runCli(["--root", ok.dir, "--platform", "freebsd", "fw", "lint"]);
    assert.equal(good.code, 0, good.stdout + good.stderr);
    assert.match(
      good.stderr,
      /in \/etc\/pf\.conf, \/var\/db\/qjail\/pf\.qjail\.expose\.rules \(anchor qjail\/expose\)/,
    );
    const bad = await runCli(["--root", broken.dir, "--platform", "freebsd", "fw", "lint"]);
    assert.equal(bad.code, 1);
    assert.match(
      bad.stdout,
      /^\/etc\/pf\.conf:4:1: error QJ4704: forwarded traffic \(tcp 6188 on em0 -> 10\.0\.0\.3:80\) is dropped by a 'block … quick' rule before qjail's anchor is reached$/m,
    );
    assert.match(bad.stdout, /^ {2}fix: move the quick block after anchor "qjail\/\*"/m);
  } finally {
    ok.cleanup();
    broken.cleanup();
  }
});

test("on a pf host, fw trace follows a packet through pf.conf and qjail's anchor", async () => {
  const t = pfHost();
  try {
    const r = await runCli([
      "--root",
      t.dir,
      "--platform",
      "freebsd",
      "fw",
      "trace",
      "--if-addr",
      "em0=198.51.100.7",
      "--",
      "tcp",
      "203.0.113.9:40000",
      "->",
      ":6188",
      "on",
      "em0",
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stdout,
      /^ {2}translated by \/var\/db\/qjail\/pf\.qjail\.expose\.rules:1: 203\.0\.113\.9:40000 -> 198\.51\.100\.7:6188 {2}=> {2}203\.0\.113\.9:40000 -> 10\.0\.0\.3:80$/m,
    );
    assert.match(r.stdout, /^decided by \/var\/db\/qjail\/pf\.qjail\.expose\.rules:2 \(last match\): pass$/m);
    assert.match(
      r.stdout,
      /^state entry created: all tcp 10\.0\.0\.3:80 \(198\.51\.100\.7:6188\) <- 203\.0\.113\.9:40000$/m,
    );
    const json = await runCli([
      "--root",
      t.dir,
      "--platform",
      "freebsd",
      "--json",
      "fw",
      "trace",
      "--if-addr",
      "em0=198.51.100.7",
      "udp",
      "203.0.113.9:5353",
      "to",
      ":53",
      "on",
      "em0",
    ]);
    const doc = JSON.parse(json.stdout) as { verdict: string; filter: { decidedBy: { line: number } } };
    assert.equal(doc.verdict, "block");
    assert.equal(doc.filter.decidedBy.line, 4);
    const ipftest = await runCli([
      "--root",
      t.dir,
      "--platform",
      "freebsd",
      "fw",
      "trace",
      "--packet",
      "in on em0 tcp 1.1.1.1,1 2.2.2.2,80 S",
    ]);
    assert.equal(ipftest.code, 3);
    assert.match(ipftest.stderr, /QJ4807: --packet \(ipftest's input form\) is for IPFilter/);
  } finally {
    t.cleanup();
  }
});
