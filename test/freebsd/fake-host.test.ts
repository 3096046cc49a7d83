import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { SHARED, testdir } from "../helpers/cli.js";
import { FakeFreebsdHost } from "../helpers/freebsd-host.js";
import { parsePfInfo, parsePfRules } from "../../src/platform/freebsd/parsers/pfctl.js";
import { parseIpnatList } from "../../src/platform/freebsd/parsers/ipnat.js";
import { parseIpfstat, parseIpfstatLine } from "../../src/platform/freebsd/parsers/ipfstat.js";
import { parseIpfwNatConfig } from "../../src/platform/freebsd/parsers/ipfw.js";

/**
 * FakeFreebsdHost stands in for FreeBSD's programs in the loader, facts and
 * plan-syntax tests. Where an output recorded on a real host exists
 * (../shared/fixtures/freebsd), the fake's answer must have that output's
 * form: same header lines, same line shapes, and qjail's parsers must read
 * both the same way. A fake that drifts from what FreeBSD prints fails here.
 */

const fixture = (name: string): string => readFileSync(join(SHARED, "fixtures/freebsd", name), "utf8");

/** A line's shape: numbers become N, runs of blanks one blank, none before "]" (printf padding). */
const shape = (line: string): string =>
  line
    .replace(/\d+(\.\d+)?/g, "N")
    .replace(/[ \t]+/g, " ")
    .replace(/ \]/g, "]")
    .trimEnd();

function loadedHost(files: Record<string, string>): { host: FakeFreebsdHost; cleanup: () => void } {
  const t = testdir(files, `qjail-fakehost-${process.pid}-`);
  return { host: new FakeFreebsdHost(t.dir), cleanup: t.cleanup };
}

test("fake pfctl -s info: the first lines have the recorded form, and parsePfInfo reads both alike", async () => {
  const { host, cleanup } = loadedHost({});
  try {
    const fake = (await host.run(["/sbin/pfctl", "-s", "info"])).stdout;
    const real = fixture("pfctl-s-info-telegraf-1.txt");
    assert.deepEqual(fake.split("\n").slice(0, 4).map(shape), real.split("\n").slice(0, 4).map(shape));
    assert.equal(parsePfInfo(fake)?.enabled, true);
    assert.equal(parsePfInfo(real)?.enabled, true);
    host.pfEnabled = false;
    assert.equal(parsePfInfo((await host.run(["/sbin/pfctl", "-s", "info"])).stdout)?.enabled, false);
  } finally {
    cleanup();
  }
});

test("fake pfctl -vvsr: '@N(0) rule' and the counter lines of a recorded -vvsr; names for ports unless -P", async () => {
  const { host, cleanup } = loadedHost({
    "anchor.rules":
      'pass in quick on em0 inet proto tcp from any to 10.0.0.3 port 80 flags S/SA keep state label "qjail:www:tcp:6188"\n',
  });
  try {
    assert.equal((await host.run(["/sbin/pfctl", "-a", "qjail/expose", "-f", "/anchor.rules"])).code, 0);
    const fake = (await host.run(["/sbin/pfctl", "-a", "qjail/expose", "-vvsr"])).stdout;
    const real = fixture("pfctl-vvvsr-pfsense22-1.txt");
    // the counter lines: the same shapes as the recorded ones
    const counterShapes = new Set(
      real
        .split("\n")
        .filter((l) => l.startsWith("  ["))
        .map(shape),
    );
    // (the recorded host is FreeBSD 10.1; current pfctl.c also prints the creator's uid
    // in the Inserted line: "Inserted: uid N pid N State Creations: N")
    for (const l of fake.split("\n").filter((x) => x.startsWith("  [")))
      assert.ok(
        counterShapes.has(shape(l.replace(/Inserted: uid \d+ /, "Inserted: "))),
        `no recorded counter line looks like ${JSON.stringify(l)}`,
      );
    const rules = parsePfRules(fake);
    assert.equal(rules.length, 1);
    assert.equal(rules[0]?.insertedUid, 0);
    assert.equal(rules[0]?.evaluations, 0);
    assert.equal(rules[0]?.label, "qjail:www:tcp:6188");
    assert.equal(rules[0]?.packets, 0);
    assert.match(rules[0]?.text ?? "", /port = http /, "pfctl prints service names without -P");
    const numeric = parsePfRules(
      (await host.run(["/sbin/pfctl", "-P", "-a", "qjail/expose", "-vvsr"])).stdout,
    );
    assert.match(numeric[0]?.text ?? "", /port = 80 /);
  } finally {
    cleanup();
  }
});

test("fake ipnat -l: the recorded headers, rules in ipnat's form, read alike by parseIpnatList", async () => {
  const { host, cleanup } = loadedHost({
    "ipnat.rules":
      "map em0 10.0.0.0/24 -> 0/32 portmap tcp/udp auto\nrdr em0 0/0 port 6188 -> 10.0.0.3 port 80 tcp\n",
  });
  try {
    assert.equal((await host.run(["/sbin/ipnat", "-C", "-f", "/ipnat.rules"])).code, 0);
    const fake = (await host.run(["/sbin/ipnat", "-l"])).stdout;
    const real = fixture("ipnat-l-inspec-1.txt");
    const headers = (t: string) => t.split("\n").filter((l) => /^List of /.test(l));
    assert.deepEqual(headers(fake), headers(real));
    assert.equal(parseIpnatList(real).rules.length, 4);
    const listed = parseIpnatList(fake).rules;
    assert.equal(listed.length, 2);
    // the recorded map line's form: "map IF NET/N -> ADDR/32 …"
    assert.match(real, /^map net1 192\.168\.0\.0\/24 -> 0\/32$/m);
    assert.match(fake, /^map em0 10\.0\.0\.0\/24 -> 0\/32 portmap tcp\/udp auto$/m);
  } finally {
    cleanup();
  }
});

test("fake ipfstat -hni: 'HITS @N rule' in ipf's form, service names unless -R, as the recorded listing", async () => {
  const { host, cleanup } = loadedHost({
    "ipf.rules":
      "pass in quick on em0 proto tcp from any to 10.0.0.3/32 port = 80 flags S keep state\nblock in on em0 all\npass out quick on em0 all\n",
  });
  try {
    assert.equal((await host.run(["/sbin/ipf", "-Fa", "-f", "/ipf.rules"])).code, 0);
    host.ipfHits.set(host.ipfActive[0] as string, 31);
    const named = (await host.run(["/sbin/ipfstat", "-hni"])).stdout.split("\n").filter(Boolean);
    assert.deepEqual(named, [
      "31 @1 pass in quick on em0 inet proto tcp from any to 10.0.0.3/32 port = http flags S/FSRPAU keep state",
      "0 @2 block in on em0 all",
    ]);
    // without "N @M ", each line is a line the recorded ipfstat listing could hold: parsed alike
    const real = parseIpfstat(fixture("ipfstat-io-inspec-1.txt"));
    const recordedHttp = real.find((r) => r.to?.port?.value === "http");
    const fakeHttp = parseIpfstatLine(named[0] as string);
    assert.equal(fakeHttp?.hits, 31);
    assert.equal(fakeHttp?.number, 1);
    assert.deepEqual(fakeHttp?.to?.port, recordedHttp?.to?.port);
    assert.equal(fakeHttp?.keepState, recordedHttp?.keepState);
    const numeric = (await host.run(["/sbin/ipfstat", "-R", "-hni"])).stdout;
    assert.match(numeric, /port = 80 flags/);
    assert.equal(
      (await host.run(["/sbin/ipfstat", "-R", "-hno"])).stdout,
      "0 @1 pass out quick on em0 all\n",
    );
  } finally {
    cleanup();
  }
});

test("fake ipfw: the kernel's reversed redirect list and its printed form read back by parseIpfwNatConfig", async () => {
  const { host, cleanup } = loadedHost({});
  try {
    const sent = [
      "redirect_port tcp 10.0.0.2:22 6122",
      "redirect_port tcp 10.0.0.3:80 6188",
      "redirect_port udp 10.0.0.4:27000-27010 203.0.113.10:27000-27010",
    ];
    const argv = [
      "/sbin/ipfw",
      "-q",
      "nat",
      "80",
      "config",
      "if",
      "em0",
      "reset",
      "same_ports",
      "unreg_only",
    ];
    for (const r of sent) argv.push(...r.split(" "));
    assert.equal((await host.run(argv)).code, 0);
    const shown = (await host.run(["/sbin/ipfw", "nat", "80", "show", "config"])).stdout;
    // nat.c prints the modes in its own order, and the redirects as the kernel's list holds them: last first
    assert.equal(
      shown,
      `ipfw nat 80 config if em0 same_ports unreg_only reset ${[...sent].reverse().join(" ")}\n`,
    );
    assert.deepEqual(
      parseIpfwNatConfig(shown).redirects.map((r) => r.publicPort),
      [27000, 6188, 6122],
    );
    // ipfw prints a host address back without its /32 (ipfw-check-2), numbered and zero-padded
    assert.equal(
      (
        await host.run([
          "/sbin/ipfw",
          "-q",
          "add",
          "1002",
          "allow",
          "tcp",
          "from",
          "203.0.113.7/32",
          "to",
          "10.0.0.3",
          "22",
          "in",
          "recv",
          "em0",
        ])
      ).code,
      0,
    );
    assert.equal(
      (await host.run(["/sbin/ipfw", "show", "1000-1099"])).stdout,
      "01002 0 0 allow tcp from 203.0.113.7 to 10.0.0.3 22 in recv em0\n",
    );
    // a missing instance: FreeBSD's error text and exit status
    const missing = await host.run(["/sbin/ipfw", "nat", "81", "show", "config"]);
    assert.equal(missing.code, 71);
    assert.match(missing.stderr, /Error getting nat 81 instance info/);
  } finally {
    cleanup();
  }
});
