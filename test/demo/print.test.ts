import { test } from "node:test";
import assert from "node:assert/strict";
import { runCli } from "../helpers/cli.js";
import { parseIpf, parseIpnat } from "../../src/firewall/ipf/index.js";

test("demo --print: every step of the page in order, as FreeBSD commands", async () => {
  const r = await runCli(["demo", "--print"]);
  assert.equal(r.code, 0, r.stderr);
  const titles = r.stdout
    .split("\n")
    .filter((l) => /^Step \d\. /.test(l))
    .map((l) => l.slice(0, 7));
  assert.deepEqual(titles, [
    "Step 1.",
    "Step 2.",
    "Step 3.",
    "Step 4.",
    "Step 5.",
    "Step 6.",
    "Step 7.",
    "Step 8.",
    "Step 9.",
  ]);
  for (const cmd of [
    "npm install -g qjail-",
    "qjail install",
    "qjail fw setup --write",
    "qjail create -4 10.0.0.2 -c ssh",
    "qjail create -4 10.0.0.3 www",
    "qjail restart www",
    "qjail expose ssh tcp 6122:22",
    "qjail expose www tcp 6188:80",
    "qjail fw sync",
    "ipf -y",
  ]) {
    assert.ok(r.stdout.includes(cmd), `missing ${cmd}`);
  }
  assert.match(r.stdout, /echo 'apache24_enable="YES"' >> \/etc\/rc\.conf/);
  // C1: the page's 'pkg install qjail' installs qjail 5.x; the print says so instead of repeating it
  assert.doesNotMatch(r.stdout, /^ {2}pkg install qjail$/m);
  // P19: fw setup before the first expose; the reload order is fw sync's own (ipf, then ipnat, then ipf -y)
  const at = (s: string): number => r.stdout.indexOf(s);
  assert.ok(at("\n  qjail fw setup --write") < at("\n  qjail expose ssh tcp 6122:22"));
  assert.ok(at("#   ipf -I -Fa -f") < at("#   ipnat -CF -f") && at("#   ipnat -CF -f") < at("#   ipf -y"));
  // C5: the header's jail interface is where create (no -n) puts the jails
  assert.match(r.stdout, /jails on em0/);
});

test("demo --keep --print is refused: there is nothing to keep (P18)", async () => {
  const r = await runCli(["demo", "--keep", "--print"]);
  assert.equal(r.code, 3);
  assert.match(r.stderr, /QJ5406: --keep has nothing to keep with --print/);
});

test("demo --print: the IPFilter rules it shows are the generated ones, and they parse cleanly", async () => {
  const r = await runCli(["demo", "--print"]);
  const block = (after: string): string => {
    const lines = r.stdout.split("\n");
    const start = lines.findIndex((l) => l.includes(after));
    const body: string[] = [];
    for (const l of lines.slice(start + 1)) {
      if (!l.startsWith("    ")) break;
      body.push(l.slice(4));
    }
    return body.join("\n") + "\n";
  };
  const nat = block("/etc/ipnat.rules:");
  const filter = block("/etc/ipf.rules");
  assert.match(nat, /^rdr em0 0\/0 port 6188 -> 10\.0\.0\.3\/32 port 80 tcp$/m);
  assert.match(nat, /^rdr em0 0\/0 port 6122 -> 10\.0\.0\.2\/32 port 22 tcp$/m);
  assert.match(nat, /^map em0 10\.0\.0\.0\/24 -> 0\/32 portmap tcp\/udp auto$/m);
  assert.match(
    filter,
    /^pass in quick on em0 inet proto tcp from any to 10\.0\.0\.3\/32 port = 80 flags S\/FSRPAU keep state$/m,
  );
  assert.deepEqual(parseIpnat(nat).diagnostics, []);
  assert.deepEqual(parseIpf(filter).diagnostics, []);
});

test("demo --print --json: one JSON document with the steps and the generated rule files", async () => {
  const r = await runCli(["demo", "--print", "--json"]);
  assert.equal(r.code, 0, r.stderr);
  const doc = JSON.parse(r.stdout) as {
    steps: { id: string; title: string; freebsd: string[] }[];
    rules: Record<string, string>;
  };
  assert.equal(doc.steps.length, 17);
  assert.deepEqual(doc.steps.find((s) => s.id === "step3")?.freebsd, ["qjail create -4 10.0.0.2 -c ssh"]);
  assert.match(doc.rules["ipnat.rules"] ?? "", /rdr em0 0\/0 port 6122 -> 10\.0\.0\.2\/32 port 22 tcp/);
  assert.match(doc.rules["ipf.rules"] ?? "", /to 10\.0\.0\.2\/32 port = 22 flags S\/FSRPAU keep state/);
});

test("demo refuses --root and extra arguments, with what to run instead", async () => {
  const extra = await runCli(["demo", "now"]);
  assert.equal(extra.code, 3);
  assert.match(extra.stderr, /QJ5401/);
  if (process.platform === "linux" && process.getuid?.() === 0) {
    const rooted = await runCli(["demo", "--root", "/tmp/x"]);
    assert.equal(rooted.code, 3);
    assert.match(rooted.stderr, /QJ5404: .*--root "\/tmp\/x"/);
  }
});
