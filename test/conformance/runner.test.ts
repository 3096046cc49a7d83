import { test, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { testdir } from "../helpers/cli.js";
import { main, driverOf, classOf, firstDifference } from "../../scripts/conformance.js";

const SEP31 = "-------------------------------";
const EMPTY_DUMP_TAIL = [
  "List of active state sessions:",
  "List of configured pools",
  "List of configured hash tables",
  "List of groups configured (set 0)",
  "List of groups configured (set 1)",
  "Rules configured (set 0, in)",
  "Rules configured (set 0, out)",
  "Rules configured (set 1, in)",
  "Rules configured (set 1, out)",
  "Accounting rules configured (set 0, in)",
  "Accounting rules configured (set 0, out)",
  "Accounting rules configured (set 1, in)",
  "Accounting rules configured (set 1, out)",
];

/** A tiny corpus in the upstream layout, made up for these tests. */
const corpus = testdir(
  {
    "test.format": [
      "#test input-format output-format options",
      "f1 text text",
      "f2 text text",
      "f15 text text",
      "n1 text text",
      "i1 text ipf",
      "f12 hex hex",
      "n8 hex hex update_ipid=0",
      "n9 text hex",
      "l1 hex hex",
      "",
    ].join("\n"),
    // dotest: one ipftest run per rule line, 8 dashes after each
    "regress/f1": "block in all\npass in from 1.1.1.1 to any\n",
    "input/f1": "in 1.1.1.1 2.2.2.2\nin 3.3.3.3 2.2.2.2\nout 1.1.1.1 2.2.2.2\n",
    "expected/f1": [
      "block",
      "block",
      "nomatch",
      "--------",
      "pass",
      "nomatch",
      "nomatch",
      "--------",
      "",
    ].join("\n"),
    // the same rules with a wrong second line expected: must fail, naming line 2
    "regress/f2": "block in all\n",
    "input/f2": "in 1.1.1.1 2.2.2.2\nin 3.3.3.3 2.2.2.2\n",
    "expected/f2": ["block", "pass", "--------", ""].join("\n"),
    // mtest: the whole file at once, one separator at the end
    "regress/f15": "block in all\npass in from 1.1.1.1 to any\n",
    "input/f15": "in 1.1.1.1 2.2.2.2\nin 3.3.3.3 2.2.2.2\n",
    "expected/f15": ["pass", "block", "--------", ""].join("\n"),
    // nattest: per NAT rule line, -D dump, 31 dashes
    "regress/n1": "map zx0 10.1.1.1/32 -> 10.2.2.2/32\n",
    "input/n1": "out on zx0 255 10.1.1.1 10.3.3.3\nout on zx0 255 10.1.1.9 10.3.3.3\n",
    "expected/n1": [
      "> zx0 ip #0 20(20) 255 10.2.2.2 > 10.3.3.3",
      "> zx0 ip #0 20(20) 255 10.1.1.9 > 10.3.3.3",
      "List of active MAP/Redirect filters:",
      "map zx0 10.1.1.1/32 -> 10.2.2.2/32",
      "",
      "List of active sessions:",
      "MAP 10.1.1.1        <- -> 10.2.2.2        [10.3.3.3]",
      "",
      "Hostmap table:",
      "10.1.1.1,10.3.3.3 -> 10.2.2.2,0.0.0.0 (use = 1)",
      ...EMPTY_DUMP_TAIL,
      SEP31,
      "",
    ].join("\n"),
    // itest: ipf -Rnvf's canonical listing
    "regress/i1": "pass in from 10.0.0.5/8 to any\n",
    "expected/i1": "pass in inet from 10.0.0.0/8 to any\n",
    // hex input: one good packet, one with a broken IP header checksum
    "regress/f12": "pass in all\n",
    "input/f12":
      "[in,e0]\n4500 0014 0000 0000 3f00 75e5 0101 0101 0202 0202\n\n[in,e0]\n4500 0014 0000 0000 3f00 75e6 0101 0101 0202 0202\n",
    "expected/f12": "pass\nbad-packet\n--------\n",
    "regress/n8": "map icmp0 2.2.2.0/24 -> 10.10.10.0/24\n",
    "input/n8": "[out,icmp0]\n4500 0014 0000 0000 3f00 6fdf 0202 0202 0404 0404\n",
    // -x: the packet's bytes after NAT, IP checksum updated
    "expected/n8": [
      "4500 0014 0000 0000 3f00 5fd8 0a0a 0a01 0404 0404 ",
      "",
      "List of active MAP/Redirect filters:",
      "map icmp0 2.2.2.0/24 -> 10.10.10.0/24",
      "",
      "List of active sessions:",
      "MAP 2.2.2.2         <- -> 10.10.10.1      [4.4.4.4]",
      "",
      "Hostmap table:",
      "2.2.2.2,4.4.4.4 -> 10.10.10.1,0.0.0.0 (use = 1)",
      ...EMPTY_DUMP_TAIL,
      SEP31,
      "",
    ].join("\n"),
    "regress/n9": "map icmp0 2.2.2.0/24 -> 10.10.10.0/24\n",
    "input/n9": "out on icmp0 2.2.2.2 4.4.4.4\n",
    "expected/n9": "",
  },
  `qjail-conformance-${process.pid}-`,
);
after(() => corpus.cleanup());

async function runner(args: string[]): Promise<{ code: number; lines: string[] }> {
  const lines: string[] = [];
  const code = await main(["--corpus", corpus.dir, ...args], { out: (l) => lines.push(l) });
  return { code, lines };
}

test("each test is driven like its Makefile driver and compared byte for byte", async () => {
  const { code, lines } = await runner([]);
  assert.equal(code, 0);
  assert.ok(lines.includes("pass f1"), lines.join("\n"));
  assert.ok(lines.includes("fail f2: first differing line 2"), lines.join("\n"));
  assert.ok(lines.includes("pass f15"), lines.join("\n"));
  assert.ok(lines.includes("pass n1"), lines.join("\n"));
  assert.ok(lines.includes("pass i1"), lines.join("\n"));
  assert.ok(lines.includes("pass f12"), lines.join("\n"));
  assert.ok(lines.includes("pass n8"), lines.join("\n"));
  assert.match(lines.find((l) => l.startsWith("skip n9")) ?? "", /^skip n9: hex output of text input/);
  assert.match(lines.find((l) => l.startsWith("skip l1")) ?? "", /^skip l1: needs ipmon/);
  assert.equal(lines.at(-2), "2 skipped");
  assert.equal(lines.at(-1), "6 passed, 1 failed");
  assert.match(lines.join("\n"), /^f +text +2 +1 +0 +3$/m);
  assert.match(lines.join("\n"), /^f +hex +1 +0 +0 +1$/m);
});

test("--check fails only when a listed test stops passing; --update writes the passes", async () => {
  const lists = testdir(
    { "good.txt": "# comment\nf1\nn1  # trailing comment\n", "bad.txt": "f1\nf2\n" },
    `qjail-conformance-lists-${process.pid}-`,
  );
  try {
    const good = await runner(["--check", join(lists.dir, "good.txt")]);
    assert.equal(good.code, 0);
    assert.match(good.lines.at(-1) ?? "", /still passes \(no regression\)$/);
    assert.equal(good.lines.at(-2), "6 passed, 1 failed");
    const bad = await runner(["--check", join(lists.dir, "bad.txt")]);
    assert.equal(bad.code, 1);
    assert.match(bad.lines.at(-1) ?? "", /no longer pass: f2$/);
    await runner(["--update", join(lists.dir, "new.txt")]);
    const names = readFileSync(join(lists.dir, "new.txt"), "utf8")
      .split("\n")
      .filter((l) => l && !l.startsWith("#"));
    assert.deepEqual(names, ["f1", "f15", "n1", "i1", "f12", "n8"]);
  } finally {
    lists.cleanup();
  }
});

test("drivers and classes follow the corpus reference", () => {
  assert.equal(driverOf("f3"), "dotest");
  assert.equal(driverOf("f16"), "mtest");
  assert.equal(driverOf("f28"), "ptest");
  assert.equal(driverOf("n5_6"), "nattest");
  assert.equal(driverOf("ni2"), "natipftest-single");
  assert.equal(driverOf("ni23"), "natipftest-multi");
  assert.equal(driverOf("i17"), "itest-ipftest");
  assert.equal(driverOf("ipv6.3"), "dotest6");
  assert.equal(classOf("in100"), "in");
  assert.equal(classOf("ip2"), "ip");
  assert.equal(classOf("bpf-f1"), "bpf");
  assert.equal(firstDifference("a\nb\nc", "a\nx\nc"), 2);
});

test("a bad corpus path is refused with a hint", async () => {
  const lines: string[] = [];
  const code = await main(["--corpus", join(corpus.dir, "nope")], { out: (l) => lines.push(l) });
  assert.equal(code, 2);
  assert.match(lines[0] ?? "", /no test.format under .*give --corpus DIR/);
});
