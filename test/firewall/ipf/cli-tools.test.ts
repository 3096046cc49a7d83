/**
 * `qjail fw lint --print` and `qjail fw ipftest`, run as the CLI runs them:
 * - --print writes exactly what real `ipf -Rnvf` / `ipnat -Rnvf` 5.1.2
 *   printed for files of ../shared/corpus/ipfilter-real (oracle/NAME.out),
 *   and nothing (exit 1) for a file real ipf refused;
 * - fw ipftest prints byte for byte IPFilter's expected output for
 *   whole-file tests of ../shared/corpus/ipfilter (the conformance runner
 *   drives every test through the same tool), and its own formats: the
 *   verdict-packet-dashes form without -b, -S, refusals with ipftest's
 *   exit statuses.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { runCli, SHARED, testdir } from "../../helpers/cli.js";

const REAL = join(SHARED, "corpus", "ipfilter-real");
const UPSTREAM = join(SHARED, "corpus", "ipfilter");
const skipReal = existsSync(join(REAL, "oracle")) ? false : `corpus not found at ${REAL}`;
const skipUp = existsSync(join(UPSTREAM, "test.format")) ? false : `corpus not found at ${UPSTREAM}`;

const oracle = (name: string, ext: "out" | "rc") =>
  readFileSync(join(REAL, "oracle", `${name}.${ext}`), "utf8");

test("fw lint --print prints what ipf -Rnvf / ipnat -Rnvf printed", { skip: skipReal }, async () => {
  for (const [file, flag] of [
    ["f-freebsd-ipf.conf.sample.ipf", "--ipf"],
    ["u-example.sr.ipf", "--ipf"],
    ["m-ipnat_5-L130.nat", "--nat"],
    ["f-handbook-ipnat.rules.nat", "--nat"],
    ["t-1h_ipnat_parse_001_v4.nat", "--nat"],
  ] as const) {
    assert.equal(oracle(file, "rc").trim(), "0");
    const r = await runCli(["fw", "lint", "--print", flag, join(REAL, "cases", file)]);
    assert.equal(r.stdout, oracle(file, "out"), file);
  }
  // `<thishost>` resolves to what --host says, as the oracle's machine resolved it.
  const puppet = "g-puppet-ipfilter-README.ipf";
  const r = await runCli([
    "fw",
    "lint",
    "--print",
    "--host",
    "<thishost>=127.0.0.1",
    join(REAL, "cases", puppet),
  ]);
  assert.equal(r.stdout, oracle(puppet, "out"));
});

test(
  "fw lint --print prints nothing for a file ipf refuses, and says where ipf stops",
  { skip: skipReal },
  async () => {
    const r = await runCli(["fw", "lint", "--print", "--ipf", join(REAL, "repro", "false-accept-order.ipf")]);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, "");
    assert.match(r.stderr, /false-accept-order\.ipf:1:\d+: error QJ4001: expected .*found "flags"/);
    assert.match(r.stderr, /= ipf stops here with "syntax error error at "flags", line 1"/);
  },
);

test("fw lint --print --interfaces leaves the (!) off interfaces that exist", async () => {
  const t = testdir({
    "ipf.rules": "pass in quick on em0 proto tcp from any to any port = 22 keep state\npass in on lo0 all\n",
  });
  try {
    const r = await runCli(["fw", "lint", "--print", "--interfaces", "em0", "ipf.rules"], { cwd: t.dir });
    assert.equal(r.code, 0);
    assert.equal(
      r.stdout,
      "pass in quick on em0 proto tcp from any to any port = 22 keep state # count 0\npass in on lo0(!) all\n",
    );
  } finally {
    t.cleanup();
  }
});

test("fw ipftest prints IPFilter's expected output for whole-file tests", { skip: skipUp }, async () => {
  // mtest f15 (`ipftest -F text -Rbr regress/f15 -i input/f15`) and natipftest multi
  // ni17 (`ipftest -R -F text -b -r regress/ni17.ipf -N regress/ni17.nat -i input/ni17`);
  // the Makefile adds its separator line after ipftest's output.
  const f15 = await runCli(["fw", "ipftest", "-F", "text", "-Rbr", "regress/f15", "-i", "input/f15"], {
    cwd: UPSTREAM,
  });
  assert.equal(f15.code, 0, f15.stderr);
  assert.equal(f15.stdout + "--------\n", readFileSync(join(UPSTREAM, "expected", "f15"), "utf8"));
  const ni17 = await runCli(
    [
      "fw",
      "ipftest",
      "-R",
      "-F",
      "text",
      "-b",
      "-r",
      "regress/ni17.ipf",
      "-N",
      "regress/ni17.nat",
      "-i",
      "input/ni17",
    ],
    { cwd: UPSTREAM },
  );
  assert.equal(ni17.code, 0, ni17.stderr);
  assert.equal(
    ni17.stdout + "-------------------------------\n",
    readFileSync(join(UPSTREAM, "expected", "ni17"), "utf8"),
  );
});

test("fw ipftest without -b: verdict, packet, dashes; -S sets the direction; -I the interface", async () => {
  const t = testdir({
    "ipf.rules": "pass in quick proto tcp from any to any port = 22 flags S keep state\nblock in all\n",
    "ipnat.rules": "rdr em0 0/0 port 6122 -> 10.0.0.2 port 22 tcp\n",
    "pkts.txt":
      "in on em0 tcp 198.51.100.7,40000 203.0.113.1,22 S\nin tcp 198.51.100.7,40000 203.0.113.1,23 S\n",
    "nat.txt": "in on em0 tcp 198.51.100.7,40000 203.0.113.1,6122 S\n",
    "dir.txt": "in tcp 10.0.0.2,22 198.51.100.7,40000 SA\n",
  });
  try {
    const r = await runCli(["fw", "ipftest", "-I", "vtnet0", "-r", "ipf.rules", "-i", "pkts.txt"], {
      cwd: t.dir,
    });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(
      r.stdout,
      [
        "pass < em0 ip #0 40(20) 6 198.51.100.7,40000 > 203.0.113.1,22 S",
        "--------------",
        "block < vtnet0 ip #0 40(20) 6 198.51.100.7,40000 > 203.0.113.1,23 S",
        "--------------",
        "",
      ].join("\n"),
    );
    const nat = await runCli(["fw", "ipftest", "-r", "ipf.rules", "-N", "ipnat.rules", "-i", "nat.txt"], {
      cwd: t.dir,
    });
    assert.equal(nat.stdout, " < em0 ip #0 40(20) 6 198.51.100.7,40000 > 10.0.0.2,22 S\n--------------\n");
    // -S 198.51.100.7: the reply from 10.0.0.2 is not from that address, so it goes out.
    const dir = await runCli(
      ["fw", "ipftest", "-b", "-S", "198.51.100.7", "-r", "ipf.rules", "-i", "dir.txt"],
      {
        cwd: t.dir,
      },
    );
    assert.equal(dir.stdout, "nomatch\n");
  } finally {
    t.cleanup();
  }
});

test("fw ipftest refuses as ipftest does: no rules (255), a rule file that does not load (1)", async () => {
  const t = testdir({
    "bad.rules": "pass in quick on em0 proto tcp from any to any keep state flags S\n",
    "pkts.txt": "in tcp 1.1.1.1,1 2.2.2.2,2 S\n",
  });
  try {
    const none = await runCli(["fw", "ipftest", "-i", "pkts.txt"], { cwd: t.dir });
    assert.equal(none.code, 255);
    assert.equal(none.stderr, "no rules loaded\n");
    const bad = await runCli(["fw", "ipftest", "-r", "bad.rules", "-i", "pkts.txt"], { cwd: t.dir });
    assert.equal(bad.code, 1);
    assert.equal(bad.stdout, "");
    assert.match(bad.stderr, /bad\.rules:1:\d+: error QJ4001: .*"flags"/);
    const pcap = await runCli(["fw", "ipftest", "-F", "pcap", "-r", "bad.rules"], { cwd: t.dir });
    assert.equal(pcap.code, 255);
  } finally {
    t.cleanup();
  }
});
