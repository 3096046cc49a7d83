import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { runDemo, teardownDemo, demoQjail, type DemoReport } from "../../src/demo/run.js";
import { DEMO_STEPS, DEMO_NET } from "../../src/demo/steps.js";
import { nodeIn, HTTP_GET_SCRIPT } from "../../src/demo/netns.js";

/**
 * The howto end to end on a real kernel: `qjail demo --keep`'s system, every
 * step asserted, then broken on purpose (rules flushed behind qjail's back, a
 * jail stopped, an exposure to a port nothing listens on) for doctor to name.
 * Everything runs in the demo's own namespaces; `after` removes them.
 */

const canRun =
  process.platform === "linux" &&
  process.getuid?.() === 0 &&
  spawnSync("nft", ["--version"]).status === 0 &&
  spawnSync("ssh", ["-V"]).status === 0 &&
  spawnSync("nsenter", ["--version"]).status === 0;
const skip =
  !canRun && "needs root on Linux with nftables, openssh-client and util-linux (bash scripts/setup.sh)";

let report: DemoReport | undefined;
const printed: string[] = [];

before(async () => {
  if (canRun) report = await runDemo({ keep: true, print: (l) => printed.push(l) });
});

after(async () => {
  if (report) await teardownDemo(report);
});

interface Finding {
  code: string;
  subject: string;
  fix: string;
  message: string;
}

async function doctor(): Promise<Finding[]> {
  const r = await demoQjail(report!, ["doctor", "--json"]);
  return (JSON.parse(r.stdout) as { findings: Finding[] }).findings;
}

test("qjail demo: every step of the page passes, printed as the page names it", { skip }, () => {
  assert.ok(report);
  assert.deepEqual(
    report.steps.map((s) => s.id),
    DEMO_STEPS.map((s) => s.id),
  );
  for (const s of report.steps) assert.equal(s.status, "pass", `${s.title}\n  ${s.status}: ${s.detail}`);
  assert.ok(printed.includes("Step 3. qjail create -4 10.0.0.2 -c ssh"));
  assert.ok(printed.some((l) => /^ {2}pass: the client got HTTP 200: .*It worked/.test(l)));
  assert.ok(printed.some((l) => /^ {2}pass: password changed at first login/.test(l)));
  assert.ok(
    printed.some(
      (l) => l === `  pass: the client's whois server saw "qjail-demo.example" from ${DEMO_NET.hostPublic}`,
    ),
  );
});

test(
  "status --json on the demo system: both jails running with their listeners and exposures",
  { skip },
  async () => {
    const r = await demoQjail(report!, ["status", "--json"]);
    assert.equal(r.code, 0, r.stderr);
    const doc = JSON.parse(r.stdout) as {
      host: { ext_address: string; qjail_rules_loaded: boolean; forwarding: boolean };
      jails: {
        name: string;
        state: string;
        jid: number;
        ipv4: string[];
        listening: { port: number }[];
        exposures: { public: string; jail_port: string; live: boolean; listening: boolean }[];
      }[];
    };
    assert.equal(doc.host.ext_address, DEMO_NET.hostPublic);
    assert.equal(doc.host.qjail_rules_loaded, true);
    assert.equal(doc.host.forwarding, true);
    const byName = new Map(doc.jails.map((j) => [j.name, j]));
    assert.equal(byName.get("ssh")?.state, "running");
    assert.ok(byName.get("ssh")?.listening.some((l) => l.port === 22));
    assert.deepEqual(
      byName.get("ssh")?.exposures.map((e) => [e.public, e.jail_port, e.live, e.listening]),
      [["6122", "22", true, true]],
    );
    assert.deepEqual(
      byName.get("www")?.exposures.map((e) => [e.public, e.jail_port, e.live, e.listening]),
      [["6188", "80", true, true]],
    );
  },
);

test(
  "a broken host: doctor names each fault with its fix, and qjail fw sync repairs the flushed rules",
  { skip },
  async () => {
    const rep = report!;
    // an exposure to a port nothing in the ssh jail listens on (this loads rules, so it goes first)
    const exposed = await demoQjail(rep, ["expose", "ssh", "tcp", "6123:2222"]);
    assert.equal(exposed.code, 0, exposed.stderr);
    // a jail stopped that should run
    assert.equal((await demoQjail(rep, ["stop", "www"])).code, 0);
    // the rules flushed behind qjail's back
    assert.equal(
      spawnSync("ip", ["netns", "exec", rep.net.hostNs, "nft", "flush", "table", "inet", "qjail"]).status,
      0,
    );

    const broken = await doctor();
    const codes = broken.map((f) => `${f.code} ${f.subject}`);
    assert.ok(codes.includes("QJ5304 firewall"), codes.join(", "));
    assert.equal(broken.find((f) => f.code === "QJ5304")?.fix, "qjail fw sync");
    assert.ok(codes.includes("QJ5310 www"), codes.join(", "));
    assert.equal(broken.find((f) => f.code === "QJ5310")?.fix, "qjail start www");
    const deaf = broken.find((f) => f.code === "QJ5313");
    assert.equal(deaf?.subject, "ssh tcp 6123");
    assert.match(deaf?.message ?? "", /nothing in jail "ssh" listens on 10\.0\.0\.2:2222\/tcp/);
    const human = await demoQjail(rep, ["doctor"]);
    assert.equal(human.code, 1);
    assert.match(human.stdout, /^error: QJ5304: firewall: qjail's rules are not loaded/m);
    assert.match(human.stdout, /^ {2}fix: qjail fw sync {3}\(qjail doctor --repair does this\)$/m);

    // with the rules gone the client cannot reach the ssh jail; fw sync brings them back
    const synced = await demoQjail(rep, ["fw", "sync"]);
    assert.equal(synced.code, 0, synced.stderr);
    const after = (await doctor()).map((f) => f.code);
    assert.ok(!after.includes("QJ5304") && !after.includes("QJ5305"), after.join(", "));
    assert.ok(
      after.includes("QJ5310") && after.includes("QJ5313"),
      "the other two faults are still reported",
    );

    // doctor --repair on a flushed table does the same
    spawnSync("ip", ["netns", "exec", rep.net.hostNs, "nft", "flush", "table", "inet", "qjail"]);
    const repaired = await demoQjail(rep, ["doctor", "--repair", "--json"]);
    const doc = JSON.parse(repaired.stdout) as { repaired: string[]; findings: Finding[] };
    assert.deepEqual(doc.repaired, ["qjail fw sync"]);
    assert.ok(!doc.findings.some((f) => f.code === "QJ5304"));

    // and the repaired rules carry traffic again: start www, the client gets its page
    assert.equal((await demoQjail(rep, ["start", "www"])).code, 0);
    let page = "";
    for (let i = 0; i < 20 && !page.includes("It worked"); i++) {
      page = (
        await nodeIn(rep.net.clientNs, HTTP_GET_SCRIPT, [
          `http://${DEMO_NET.hostPublic}:${DEMO_NET.wwwPublic}/`,
        ])
      ).stdout;
      if (!page.includes("It worked")) await new Promise((r) => setTimeout(r, 500));
    }
    assert.match(page, /^200 .*It worked/);
  },
);

test("teardown removes the namespaces, the jails and the temporary root", { skip }, async () => {
  const rep = report!;
  report = undefined;
  await teardownDemo(rep);
  const namespaces = spawnSync("ip", ["netns", "list"], { encoding: "utf8" }).stdout;
  assert.ok(!namespaces.includes(rep.net.hostNs) && !namespaces.includes(rep.net.clientNs), namespaces);
  assert.equal(existsSync(rep.root), false);
});
