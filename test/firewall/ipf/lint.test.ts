import { test, after } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parseIpf, parseIpnat } from "../../../src/firewall/ipf/index.js";
import { lintRules, type LintFinding } from "../../../src/firewall/ipf/lint.js";
import { runCli, SHARED, testdir, treeDigest } from "../../helpers/cli.js";

const lint = (ipf: string[], nat: string[], hostPorts: number[] = []) =>
  lintRules({
    ipf: parseIpf(ipf.join("\n"), { recover: true }).rules,
    ipnat: parseIpnat(nat.join("\n"), { recover: true }).rules,
    hostPorts,
  });
const codesAt = (findings: LintFinding[]) => findings.map((f) => `${f.code} ${f.file}:${f.line}`);

const JAIL_NAT = [
  "map rl0 10.0.10.0/24 -> 0/32",
  "rdr rl0 0/0 port 6122 -> 10.0.10.2 port 22 tcp",
  "rdr rl0 0/0 port 6188 -> 10.0.10.3 port 80 tcp",
];
const JAIL_IPF = [
  "block in on rl0 all",
  "pass in quick on rl0 proto tcp from any to any port = 22 flags S keep state",
  "pass in quick on rl0 proto tcp from any to any port = 80 flags S keep state",
];

test("the corrected howto set-up lints clean", () => {
  assert.deepEqual(lint(JAIL_IPF, JAIL_NAT, [22, 80]), []);
});

test("(a) a pass rule on the public port of an rdr never sees the forwarded traffic", () => {
  const f = lint(["pass in quick on rl0 proto tcp from any to any port = 6188 flags S keep state"], JAIL_NAT);
  assert.deepEqual(codesAt(f), ["QJ4101 ipf:1"]);
  assert.equal(f[0]?.severity, "error");
  assert.match(f[0]?.fix ?? "", /to 10\.0\.10\.3 port = 80/);
  assert.deepEqual(f[0]?.related, [{ file: "ipnat", line: 3 }]);
});

test("(b) an rdr without a target address", () => {
  assert.deepEqual(codesAt(lint([], ["rdr rl0 0/0 port 6122 -> port 22 tcp"])), ["QJ4102 ipnat:1"]);
});

test("(c) a public port forwarded twice, but not round-robin pools", () => {
  assert.deepEqual(codesAt(lint([], [...JAIL_NAT, "rdr rl0 0/0 port 6122 -> 10.0.10.9 port 22 tcp"])), [
    "QJ4103 ipnat:4",
  ]);
  // A range that overlaps a single forward still gets the rest of its ports.
  assert.deepEqual(lint([], [...JAIL_NAT, "rdr rl0 0/0 port 6100-6150 -> 10.0.10.9 port 22 tcp"]), []);
  const pool = [
    "rdr le0 0/0 port 80 -> 10.1.1.252 port 3128 tcp round-robin",
    "rdr le0 0/0 port 80 -> 10.1.2.252 port 3128 tcp round-robin",
  ];
  assert.deepEqual(lint([], pool), []);
});

test("(c) ipnat tries rdr rules by netmask, most specific first: a later /32 is not dead", () => {
  const order = [
    "rdr em0 0/0 port 80 -> 10.0.0.1 port 80 tcp",
    "rdr em0 198.51.100.1/32 port 80 -> 10.0.0.2 port 80 tcp",
  ];
  assert.deepEqual(lint([], order), []);
  assert.deepEqual(lint([], [...order].reverse()), []);
  // Within one netmask the earlier rule wins: the second /32 for the same address is dead.
  const same = [
    "rdr em0 198.51.100.1/32 port 80 -> 10.0.0.2 port 80 tcp",
    "rdr em0 0/0 port 80 -> 10.0.0.1 port 80 tcp",
    "rdr em0 198.51.100.1/32 port 80 -> 10.0.0.3 port 80 tcp",
  ];
  const f = lint([], same);
  assert.deepEqual(codesAt(f), ["QJ4103 ipnat:3"]);
  assert.deepEqual(f[0]?.related, [{ file: "ipnat", line: 1 }]);
  assert.match(f[0]?.message ?? "", /same netmask \/32, earlier in the file/);
});

test("(c) each dead rdr is reported once, naming the first rule that takes its traffic", () => {
  const triple = [
    "rdr em0 0/0 port 80 -> 10.0.0.1 port 80 tcp",
    "rdr em0 0/0 port 80 -> 10.0.0.2 port 80 tcp",
    "rdr em0 0/0 port 80 -> 10.0.0.3 port 80 tcp",
  ];
  const f = lint([], triple);
  assert.deepEqual(codesAt(f), ["QJ4103 ipnat:2", "QJ4103 ipnat:3"]);
  assert.deepEqual(
    f.map((x) => x.related),
    [[{ file: "ipnat", line: 1 }], [{ file: "ipnat", line: 1 }]],
  );
});

test("(d) forwarded traffic blocked after translation by a default block", () => {
  const f = lint(
    ["block in on rl0 all", "pass in quick on rl0 proto tcp from any to any port = 22 flags S keep state"],
    JAIL_NAT,
  );
  assert.deepEqual(codesAt(f), ["QJ4104 ipnat:3"]);
  assert.match(f[0]?.fix ?? "", /pass in quick on rl0 proto tcp from any to 10\.0\.10\.3 port = 80/);
  assert.deepEqual(lint(["pass in on rl0 proto tcp from any to any port = 22"], JAIL_NAT.slice(0, 2)), []);
});

test("(e) a rule an earlier quick rule always decides first", () => {
  const f = lint(
    [
      "block in quick on rl0 proto tcp from any to any",
      "pass in on rl0 proto tcp from any to 10.0.0.0/8 port = 22",
    ],
    [],
  );
  assert.deepEqual(codesAt(f), ["QJ4105 ipf:2"]);
  assert.equal(f[0]?.severity, "warning");
  assert.deepEqual(
    lint(["block in quick on rl0 proto udp all", "pass in on rl0 proto tcp from any to any port = 22"], []),
    [],
  );
});

test("(f) a host service on a forwarded port", () => {
  assert.deepEqual(codesAt(lint([], ["rdr rl0 0/0 port 22 -> 10.0.10.2 port 22 tcp"], [22, 80])), [
    "QJ4106 ipnat:1",
  ]);
  assert.deepEqual(lint([], ["rdr rl0 0/0 port 2222 -> 10.0.10.2 port 22 tcp"], [22]), []);
});

/**
 * The rules exactly as qjail-howto(8) prints them. The seed copy of the page
 * runs comments and rules together on one line, so pull each rule out of it.
 */
function howtoRules(): { ipf: string[]; nat: string[] } | undefined {
  const page = join(SHARED, "seed", "000_0fb7c053f0d46586.txt");
  if (!existsSync(page)) return undefined;
  const text = readFileSync(page, "utf8");
  const ipf = [
    ...text.matchAll(/pass in quick rl0 tcp from any to (?:any )?port = \d+ flags S keep state/g),
  ].map((m) => m[0]);
  const nat = [...text.matchAll(/map rl0 -> 0\/32|rdr rl0 port \d+ -> port \d+ tcp/g)].map((m) => m[0]);
  return { ipf, nat };
}

const howto = howtoRules();
const dirs: { cleanup: () => void }[] = [];
after(() => dirs.forEach((d) => d.cleanup()));

test(
  "qjail fw lint on the howto's rules reports the syntax and the forwarding mistakes",
  { skip: howto ? false : "qjail-howto seed page not found" },
  async () => {
    assert.ok(howto);
    assert.equal(howto.ipf.length, 4);
    assert.equal(howto.nat.length, 3);
    const t = testdir({
      "ipf.rules": howto.ipf.join("\n") + "\n",
      "ipnat.rules": howto.nat.join("\n") + "\n",
    });
    dirs.push(t);
    const before = treeDigest(t.dir);
    const r = await runCli(["fw", "lint", "--host-ports", "22,80", "ipf.rules", "ipnat.rules"], {
      cwd: t.dir,
    });
    assert.equal(r.code, 1);
    assert.match(
      r.stdout,
      /ipf\.rules:1:15: error QJ4009: interface "rl0" needs "on" before it: write "on rl0"\n {2}1 \| pass in quick rl0 tcp/,
    );
    assert.match(r.stdout, /\n {4}\| {15}\^\^\^\n/);
    assert.match(r.stdout, /ipf\.rules:1:19: error QJ4010: protocol "tcp" needs "proto"/);
    assert.match(r.stdout, /ipnat\.rules:2:9: error QJ4014: rdr needs the public address/);
    assert.match(r.stdout, /ipnat\.rules:2:1: error QJ4102: rdr on rl0 has no address to forward to/);
    assert.match(
      r.stdout,
      /ipf\.rules:1:32: error QJ4101: "pass in" on port 6188 never sees forwarded traffic/,
    );
    assert.match(r.stdout, /\n {2}fix: /);
    assert.match(r.stderr, /qjail fw lint: \d+ errors, 0 warnings/);
    assert.deepEqual(treeDigest(t.dir), before);
  },
);

test("qjail fw lint --json on the corrected rules: one document, exit 0", async () => {
  const t = testdir({ "ipf.rules": JAIL_IPF.join("\n") + "\n", "nat.conf": JAIL_NAT.join("\n") + "\n" });
  dirs.push(t);
  const r = await runCli(["fw", "lint", "--json", "--host-ports", "22,80", "ipf.rules", "nat.conf"], {
    cwd: t.dir,
  });
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const doc = JSON.parse(r.stdout) as {
    files: { path: string; language: string }[];
    diagnostics: unknown[];
    findings: unknown[];
    errors: number;
  };
  assert.deepEqual(doc.files, [
    { path: "ipf.rules", language: "ipf" },
    { path: "nat.conf", language: "ipnat" },
  ]);
  assert.deepEqual(doc.diagnostics, []);
  assert.deepEqual(doc.findings, []);
  assert.equal(doc.errors, 0);
});

test("qjail fw lint --json carries line and column of every diagnostic", async () => {
  const t = testdir({ rules: "rdr rl0 port 6122 -> port 22 tcp\n" });
  dirs.push(t);
  const r = await runCli(["fw", "lint", "--json", "--nat", "rules"], { cwd: t.dir });
  assert.equal(r.code, 1);
  const doc = JSON.parse(r.stdout) as {
    diagnostics: { code: string; line: number; column: number; file: string }[];
    findings: { code: string; line: number }[];
  };
  assert.deepEqual(
    doc.diagnostics.map((d) => `${d.file}:${d.line}:${d.column} ${d.code}`),
    ["rules:1:9 QJ4014", "rules:1:22 QJ4014"],
  );
  assert.deepEqual(
    doc.findings.map((f) => `${f.code}:${f.line}`),
    ["QJ4102:1"],
  );
});

test("qjail fw lint refuses usage problems with exit 3", async () => {
  const t = testdir({ "a.rules": "pass in all\n", "b.rules": "block in all\n" });
  dirs.push(t);
  assert.equal((await runCli(["fw", "lint"], { cwd: t.dir })).code, 3);
  const missing = await runCli(["fw", "lint", "nope.rules"], { cwd: t.dir });
  assert.equal(missing.code, 3);
  assert.match(missing.stderr, /"nope\.rules"/);
  assert.equal((await runCli(["fw", "lint", "a.rules", "b.rules"], { cwd: t.dir })).code, 3);
  assert.equal((await runCli(["fw", "lint", "--host-ports", "22,x", "a.rules"], { cwd: t.dir })).code, 3);
});
