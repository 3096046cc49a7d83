import { test, after } from "node:test";
import assert from "node:assert/strict";
import { runCli, testdir, treeDigest } from "../../helpers/cli.js";
import { parseIpf, parseIpnat } from "../../../src/firewall/ipf/index.js";
import { tracePacket, parseFriendlyPacket } from "../../../src/firewall/ipf/eval/trace.js";
import { parseV4 } from "../../../src/firewall/ipf/eval/packet.js";

/** The howto's corrected rules: jails 10.0.0.2 (ssh) and 10.0.0.3 (www) behind em0. */
const IPNAT = [
  "map em0 10.0.0.0/24 -> 0/32 portmap tcp/udp auto",
  "rdr em0 0/0 port 6188 -> 10.0.0.3 port 80 tcp",
  "rdr em0 0/0 port 6122 -> 10.0.0.2 port 22 tcp",
].join("\n");
const IPF = [
  "block in all",
  "block out all",
  "pass in quick on lo0 all",
  "pass out quick on lo0 all",
  "pass out quick on em0 proto tcp from any to any flags S keep state",
  "pass out quick on em0 proto udp from any to any keep state",
  "pass in quick on em0 proto tcp from any to 10.0.0.3/32 port = 80 flags S keep state",
  "pass in quick on em0 proto tcp from any to 10.0.0.2/32 port = 22 flags S keep state",
].join("\n");

const fixture = testdir(
  { "rules/ipf.rules": IPF + "\n", "rules/ipnat.rules": IPNAT + "\n" },
  `qjail-trace-${process.pid}-`,
);
after(() => fixture.cleanup());
const ruleArgs = [
  "--ipf",
  `${fixture.dir}/rules/ipf.rules`,
  "--nat",
  `${fixture.dir}/rules/ipnat.rules`,
  "--if-addr",
  "em0=198.51.100.1",
];

function assertTrace(words: string[], verdict: string, decidingLine: number): ReturnType<typeof tracePacket> {
  const ifs = new Map([["em0", parseV4("198.51.100.1")!]]);
  const ipf = parseIpf(IPF);
  const nat = parseIpnat(IPNAT);
  assert.deepEqual(
    ipf.diagnostics.filter((d) => d.severity === "error"),
    [],
  );
  const r = tracePacket(
    {
      ipf: { file: "ipf.rules", text: IPF, rules: ipf.rules },
      nat: { file: "ipnat.rules", text: IPNAT, rules: nat.rules },
      interfaces: ifs,
    },
    parseFriendlyPacket(words, { interfaces: ifs }),
  );
  assert.equal(r.verdict, verdict);
  assert.equal(r.filter.decidedBy?.line, decidingLine);
  return r;
}

test("a packet to public port 6188 is redirected to 10.0.0.3:80 and passed by the jail's rule", () => {
  const r = assertTrace(["tcp", "203.0.113.9:40000", "->", ":6188", "on", "em0"], "pass", 7);
  const natIn = r.nat[0]!;
  assert.equal(natIn.applied?.rule.line, 2);
  assert.deepEqual(natIn.after.dst, { address: "10.0.0.3", port: 80 });
  assert.deepEqual(natIn.before.dst, { address: "198.51.100.1", port: 6188 });
  assert.match(r.stateCreated ?? "", /203\.0\.113\.9,40000 -> 10\.0\.0\.3,80/);
  const blockAll = r.filter.considered.find((c) => c.rule.line === 1);
  assert.equal(blockAll?.matched, true);
});

test("a packet to an unexposed port is blocked by the default rule", () => {
  const r = assertTrace(["tcp", "203.0.113.9:40000", "->", ":6189", "on", "em0"], "block", 1);
  assert.equal(r.nat[0]?.applied, null);
  assert.match(r.nat[0]?.considered.find((c) => c.rule.line === 2)?.why ?? "", /destination port 6189/);
  const jailRule = r.filter.considered.find((c) => c.rule.line === 7);
  assert.equal(jailRule?.matched, false);
  assert.match(jailRule?.why ?? "", /destination is not 10\.0\.0\.3\/32/);
  assert.equal(r.stateCreated, null);
});

test("outbound jail traffic is filtered before map rewrites its source to em0's address", () => {
  const r = assertTrace(["tcp", "10.0.0.2:5555", "->", "192.0.2.80:443", "on", "em0", "out"], "pass", 5);
  const natOut = r.nat.find((n) => n.stage.startsWith("outbound"))!;
  assert.equal(natOut.after.src.address, "198.51.100.1");
  assert.equal(natOut.before.src.address, "10.0.0.2");
});

test("qjail fw trace prints the path in words", async () => {
  const before = treeDigest(fixture.dir);
  const r = await runCli([
    "fw",
    "trace",
    ...ruleArgs,
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
    /translated by .*ipnat\.rules:2 \(new session\): 203\.0\.113\.9,40000 > 198\.51\.100\.1,6188 {2}=> {2}203\.0\.113\.9,40000 > 10\.0\.0\.3,80/,
  );
  assert.match(r.stdout, /decided by .*ipf\.rules:7 \(quick\): pass/);
  assert.match(r.stdout, /state entry created: tcp 203\.0\.113\.9,40000 -> 10\.0\.0\.3,80/);
  assert.deepEqual(treeDigest(fixture.dir), before);
});

test("qjail fw trace --json is one JSON document; the ipftest packet form works", async () => {
  const r = await runCli([
    "fw",
    "trace",
    "--json",
    ...ruleArgs,
    "--packet",
    "in on em0 tcp 203.0.113.9,40000 198.51.100.1,6122 S",
  ]);
  assert.equal(r.code, 0, r.stderr);
  const doc = JSON.parse(r.stdout) as {
    verdict: string;
    nat: { after: { dst: { address: string; port: number } } }[];
    filter: { decidedBy: { line: number } };
  };
  assert.equal(doc.verdict, "pass");
  assert.deepEqual(doc.nat[0]?.after.dst, { address: "10.0.0.2", port: 22 });
  assert.equal(doc.filter.decidedBy.line, 8);
});

test("a rule file named with --ipf or --nat that does not exist is refused, not traced as an empty rule set", async () => {
  for (const [option, other] of [
    ["--ipf", "--nat"],
    ["--nat", "--ipf"],
  ] as const) {
    const r = await runCli([
      "fw",
      "trace",
      option,
      `${fixture.dir}/rules/no-such.rules`,
      other,
      `${fixture.dir}/rules/${other === "--ipf" ? "ipf" : "ipnat"}.rules`,
      "--if-addr",
      "em0=198.51.100.1",
      "tcp",
      "203.0.113.9:40000",
      "to",
      ":6188",
      "on",
      "em0",
    ]);
    assert.equal(r.code, 3, r.stdout);
    assert.match(r.stderr, /QJ4505: cannot read ".*no-such\.rules"/);
    assert.match(r.stderr, new RegExp(`name another with ${option}`));
    assert.equal(r.stdout, "");
  }
});

test("bad packets and unknown interface addresses are refused with the value and a hint", async () => {
  const noAddr = await runCli([
    "fw",
    "trace",
    "--ipf",
    `${fixture.dir}/rules/ipf.rules`,
    "--nat",
    `${fixture.dir}/rules/ipnat.rules`,
    "tcp",
    "1.2.3.4:1",
    "to",
    ":80",
    "on",
    "em0",
  ]);
  assert.equal(noAddr.code, 3);
  assert.match(noAddr.stderr, /QJ4501.*":80" means em0's own address/);
  assert.match(noAddr.stderr, /--if-addr em0=ADDRESS/);
  const badProto = await runCli(["fw", "trace", ...ruleArgs, "sctp", "1.2.3.4:1", "to", ":80", "on", "em0"]);
  assert.match(badProto.stderr, /QJ4501.*"sctp"/);
  const badIf = await runCli(["fw", "trace", "--if-addr", "em0=nope", "--packet", "in 1.1.1.1 2.2.2.2"]);
  assert.match(badIf.stderr, /QJ4504.*"em0=nope"/);
  const json = await runCli(["fw", "trace", "--json", ...ruleArgs]);
  assert.equal(json.code, 3);
  assert.equal((JSON.parse(json.stdout) as { error: { code: string } }).error.code, "QJ4503");
});
