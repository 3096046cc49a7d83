import { test, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { testdir, treeDigest } from "../helpers/cli.js";
import { hostLayout } from "../../src/core/paths.js";
import { createFreebsdFirewallLoader, type Runner } from "../../src/platform/freebsd/firewall.js";
import { FirewallLoadError, type LoadContext } from "../../src/platform/firewall-loader.js";
import { howtoHost, model, HOWTO_EXPOSURES } from "../firewall/model-fixture.js";

/**
 * There is no FreeBSD kernel here: the loaders are tested through their exact
 * command sequences and the files they leave, with a runner that records every
 * argv and fails the commands a test chooses.
 */

const cleanups: (() => void)[] = [];
after(() => cleanups.forEach((c) => c()));

const ADMIN_IPF =
  "block in log on rl0 all\npass in quick on rl0 proto tcp from any to any port = 22 flags S keep state\n";
const ADMIN_IPNAT = "map rl0 192.168.1.0/24 -> 0/32\n";
const IPNAT_LIST =
  "List of active MAP/Redirect filters:\nrdr rl0 0.0.0.0/0 port 6122 -> 10.0.0.2 port 22 tcp\nrdr rl0 0.0.0.0/0 port 6188 -> 10.0.0.3 port 80 tcp\n\nList of active sessions:\n";
const IFCONFIG =
  "rl0: flags=8843<UP,BROADCAST,RUNNING,SIMPLEX,MULTICAST> metric 0 mtu 1500\n\tinet 203.0.113.9 netmask 0xffffff00 broadcast 203.0.113.255\n";

function fakeRunner(
  fail: (argv: string) => boolean,
  outputs: Record<string, string> = {},
): { runner: Runner; calls: string[] } {
  const calls: string[] = [];
  const runner: Runner = async (argv) => {
    const line = argv.join(" ");
    calls.push(line);
    if (fail(line)) return { code: 1, stdout: "", stderr: `${argv[0]}: injected failure` };
    const key = Object.keys(outputs).find((k) => line.startsWith(k));
    return { code: 0, stdout: key ? (outputs[key] as string) : "", stderr: "" };
  };
  return { runner, calls };
}

function setup(): { root: string; ctx: LoadContext } {
  const t = testdir({ "etc/ipf.rules": ADMIN_IPF, "etc/ipnat.rules": ADMIN_IPNAT }, "qjail-fbsd-");
  cleanups.push(t.cleanup);
  return {
    root: t.dir,
    ctx: { root: t.dir, layout: hostLayout(), runCommands: true, previousExtAddress: "203.0.113.9" },
  };
}

const howto = model(howtoHost("freebsd", "rl0"), HOWTO_EXPOSURES);

test("IPFilter: dry-run checks, inactive list then swap, ipnat -CF, files into place, verify", async () => {
  const { root, ctx } = setup();
  const { runner, calls } = fakeRunner(() => false, { "ipnat -l": IPNAT_LIST, ifconfig: IFCONFIG });
  const loader = createFreebsdFirewallLoader("ipf", runner);
  const rendered = await loader.render(howto, ctx);
  const result = await loader.load(rendered, ctx);
  assert.equal(result.active, true);
  assert.deepEqual(calls, [
    "ifconfig rl0 inet",
    "ipnat -n -f /etc/ipnat.rules.qjail-new",
    "ipf -n -f /etc/ipf.rules.qjail-new",
    "ipf -I -Fa -f /etc/ipf.rules.qjail-new",
    "ipf -s",
    "ipnat -CF -f /etc/ipnat.rules.qjail-new",
    "ipnat -l",
  ]);
  const ipf = readFileSync(join(root, "etc/ipf.rules"), "utf8");
  assert.ok(ipf.startsWith(ADMIN_IPF));
  assert.match(
    ipf,
    /pass in quick on rl0 inet proto tcp from any to 10\.0\.0\.3\/32 port = 80 flags S\/FSRPAU keep state\n# END qjail/,
  );
  assert.ok(readFileSync(join(root, "etc/ipnat.rules"), "utf8").startsWith(ADMIN_IPNAT));
  assert.ok(!existsSync(join(root, "etc/ipf.rules.qjail-new")));
});

test("IPFilter: a changed public address adds the howto's ipf -y resync", async () => {
  const { ctx } = setup();
  const { runner, calls } = fakeRunner(() => false, { "ipnat -l": IPNAT_LIST, ifconfig: IFCONFIG });
  const loader = createFreebsdFirewallLoader("ipf", runner);
  const rendered = await loader.render(howto, { ...ctx, previousExtAddress: "198.51.100.77" });
  const result = await loader.load(rendered, ctx);
  assert.ok(calls.includes("ipf -y"));
  assert.equal(result.extAddress, "203.0.113.9");
});

for (const [failing, stage, rollback] of [
  ["ipnat -n", "validate", false],
  ["ipf -s", "load", true],
  ["ipnat -CF", "load", true],
  ["ipnat -l", "verify", true],
] as const) {
  test(`IPFilter: a failing '${failing}' restores the previous rules and leaves every file as it was`, async () => {
    const { root, ctx } = setup();
    const before = treeDigest(root);
    const { runner, calls } = fakeRunner((l) => l.startsWith(failing), { ifconfig: IFCONFIG });
    const loader = createFreebsdFirewallLoader("ipf", runner);
    const rendered = await loader.render(howto, ctx);
    await assert.rejects(
      loader.load(rendered, ctx),
      (e: FirewallLoadError) => e instanceof FirewallLoadError && e.stage === stage,
    );
    assert.deepEqual(treeDigest(root), before);
    const back = ["ipf -I -Fa -f /etc/ipf.rules", "ipf -s", "ipnat -CF -f /etc/ipnat.rules"];
    if (rollback) assert.deepEqual(calls.slice(-3), back);
    else assert.ok(!calls.some((c) => c.startsWith("ipf -I")), "nothing loaded after a failed dry-run");
  });
}

test("pf: anchor file checked with pfctl -n, loaded into qjail/expose, verified; first load rolls back with -F all", async () => {
  const { root, ctx } = setup();
  const pfModel = model(howtoHost("freebsd", "rl0", { firewall: "pf" }), HOWTO_EXPOSURES);
  const nat =
    "nat on rl0 inet from 10.0.0.0/24 to any -> (rl0:0) round-robin\n" +
    [
      "rl0 inet proto tcp from any to (rl0) port = 6122 -> 10.0.0.2 port 22",
      "lo0 inet proto tcp from any to (rl0) port = 6122 -> 10.0.0.2 port 22",
      "rl0 inet proto tcp from any to (rl0) port = 6188 -> 10.0.0.3 port 80",
      "lo0 inet proto tcp from any to (rl0) port = 6188 -> 10.0.0.3 port 80",
    ]
      .map((r) => `rdr on ${r}\n`)
      .join("");
  const rules = ["rl0", "lo0"]
    .flatMap((i) => [
      `pass in on ${i} inet proto tcp from any to 10.0.0.2 port = ssh flags S/SA keep state\n`,
      `pass in on ${i} inet proto tcp from any to 10.0.0.3 port = http flags S/SA keep state\n`,
    ])
    .join("");
  const ok = fakeRunner(() => false, {
    "pfctl -a qjail/expose -s nat": nat,
    "pfctl -a qjail/expose -s rules": rules,
  });
  let loader = createFreebsdFirewallLoader("pf", ok.runner);
  let rendered = await loader.render(pfModel, ctx);
  assert.match(rendered.warnings[0] ?? "", /QJ3051: \/etc\/pf\.conf lacks nat-anchor "qjail\/\*"/);
  await loader.load(rendered, ctx);
  assert.deepEqual(
    ok.calls.filter((c) => !c.startsWith("ifconfig")),
    [
      "pfctl -a qjail/expose -n -f /var/db/qjail/pf.qjail.expose.rules.qjail-new",
      "pfctl -a qjail/expose -f /var/db/qjail/pf.qjail.expose.rules.qjail-new",
      "pfctl -a qjail/expose -s nat",
      "pfctl -a qjail/expose -s rules",
    ],
  );
  assert.match(
    readFileSync(join(root, "var/db/qjail/pf.qjail.expose.rules"), "utf8"),
    /^rdr on rl0 inet proto tcp from any to \(rl0\) port = 6188 -> 10\.0\.0\.3 port 80$/m,
  );
  // A second load whose verify fails goes back to the previous anchor file.
  const bad = fakeRunner((l) => l.endsWith("-s rules"), { "pfctl -a qjail/expose -s nat": nat });
  loader = createFreebsdFirewallLoader("pf", bad.runner);
  rendered = await loader.render(pfModel, ctx);
  await assert.rejects(loader.load(rendered, ctx), /previous rules were loaded again/);
  assert.equal(
    bad.calls[bad.calls.length - 1],
    "pfctl -a qjail/expose -f /var/db/qjail/pf.qjail.expose.rules",
  );
});

test("ipfw: rules staged in set 21, nat instance replaced, sets swapped; rollback swaps back", async () => {
  const { ctx } = setup();
  const m = model(howtoHost("freebsd", "rl0", { firewall: "ipfw" }), HOWTO_EXPOSURES);
  const cfg =
    "ipfw nat 80 config if rl0 same_ports unreg_only reset redirect_port tcp 10.0.0.2:22 6122 redirect_port tcp 10.0.0.3:80 6188\n";
  const ok = fakeRunner(() => false, { "ipfw nat 80 show config": cfg });
  const loader = createFreebsdFirewallLoader("ipfw", ok.runner);
  await loader.load(await loader.render(m, ctx), ctx);
  assert.deepEqual(ok.calls.slice(5), [
    "ipfw -q set disable 21",
    "ipfw -q delete set 21",
    "ipfw -q add 1000 set 21 nat 80 ip4 from any to any in recv rl0",
    "ipfw -q add 1001 set 21 allow tcp from any to 10.0.0.2 22 in recv rl0",
    "ipfw -q add 1002 set 21 allow tcp from any to 10.0.0.3 80 in recv rl0",
    "ipfw -q add 1099 set 21 nat 80 ip4 from 10.0.0.0/24 to any out xmit rl0",
    "ipfw -q nat 80 config if rl0 same_ports unreg_only reset redirect_port tcp 10.0.0.2:22 6122 redirect_port tcp 10.0.0.3:80 6188",
    "ipfw -q set swap 20 21",
    "ipfw -q set enable 20",
    "ipfw nat 80 show config",
  ]);
  // The first load wrote ipfw.rules: its nat line is what a later rollback restores.
  const changed = model(howtoHost("freebsd", "rl0", { firewall: "ipfw" }), HOWTO_EXPOSURES.slice(1));
  const bad = fakeRunner((l) => l.startsWith("ipfw nat 80 show"));
  const loader2 = createFreebsdFirewallLoader("ipfw", bad.runner);
  await assert.rejects(loader2.load(await loader2.render(changed, ctx), ctx), FirewallLoadError);
  assert.deepEqual(bad.calls.slice(-3), [
    "ipfw -q set swap 20 21",
    "ipfw -q nat 80 config if rl0 same_ports unreg_only reset redirect_port tcp 10.0.0.2:22 6122 redirect_port tcp 10.0.0.3:80 6188",
    "ipfw -q delete set 21",
  ]);
  // A failure before the swap leaves the active set alone and drops the staged block.
  const early = fakeRunner((l) => l.startsWith("ipfw -q nat 80 config"));
  const loader3 = createFreebsdFirewallLoader("ipfw", early.runner);
  await assert.rejects(
    loader3.load(await loader3.render(changed, ctx), ctx),
    /the previous rules were loaded again/,
  );
  assert.ok(!early.calls.includes("ipfw -q set swap 20 21"));
  assert.equal(early.calls[early.calls.length - 2], "ipfw -q delete set 21");
});

test("isLive: qjail's rules present in the running firewall or not (after a restart or flush)", async () => {
  const host = howtoHost("freebsd", "rl0");
  assert.equal(
    await createFreebsdFirewallLoader(
      "ipf",
      fakeRunner(() => false, { "ipnat -l": IPNAT_LIST }).runner,
    ).isLive(host),
    true,
  );
  assert.equal(
    await createFreebsdFirewallLoader(
      "ipf",
      fakeRunner(() => false, {
        "ipnat -l": "List of active MAP/Redirect filters:\n\nList of active sessions:\n",
      }).runner,
    ).isLive(host),
    false,
  );
  assert.equal(await createFreebsdFirewallLoader("pf", fakeRunner(() => false).runner).isLive(host), false);
  assert.equal(
    await createFreebsdFirewallLoader(
      "pf",
      fakeRunner(() => false, {
        pfctl: "rdr on rl0 inet proto tcp from any to (rl0) port = 6188 -> 10.0.0.3 port 80\n",
      }).runner,
    ).isLive(host),
    true,
  );
  assert.equal(
    await createFreebsdFirewallLoader(
      "ipfw",
      fakeRunner((l) => l.startsWith("ipfw nat 80 show")).runner,
    ).isLive(host),
    false,
  );
});
