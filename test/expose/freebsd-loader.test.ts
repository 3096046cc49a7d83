import { test, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, existsSync, statSync, chmodSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { testdir, treeDigest } from "../helpers/cli.js";
import { FakeFreebsdHost } from "../helpers/freebsd-host.js";
import { hostLayout } from "../../src/core/paths.js";
import { createFreebsdFirewallLoader } from "../../src/platform/freebsd/firewall.js";
import { parseIpfwNatConfig } from "../../src/platform/freebsd/parsers/ipfw.js";
import { FirewallLoadError, type LoadContext } from "../../src/platform/firewall-loader.js";
import { exposure, howtoHost, model, HOWTO_EXPOSURES, HOWTO_JAILS } from "../firewall/model-fixture.js";

/**
 * There is no FreeBSD kernel here: the loaders run against FakeFreebsdHost
 * (test/helpers/freebsd-host.ts), whose ipfw, pfctl, ipf and ipnat keep the
 * kernel's state and print it as FreeBSD does (redirects in reverse, lists
 * expanded, the optimizer on unless -o none, service names unless -P). A
 * loader that judged the live state by the text it sent fails here.
 */

const cleanups: (() => void)[] = [];
after(() => cleanups.forEach((c) => c()));

const ADMIN_IPF =
  "block in log on rl0 all\npass in quick on rl0 proto tcp from any to any port = 22 flags S keep state\n";
const ADMIN_IPNAT = "map rl0 192.168.1.0/24 -> 0/32\n";

function setup(files: Record<string, string> = {}): {
  root: string;
  ctx: LoadContext;
  host: FakeFreebsdHost;
} {
  const t = testdir(
    { "etc/ipf.rules": ADMIN_IPF, "etc/ipnat.rules": ADMIN_IPNAT, "var/db/qjail/.keep": "", ...files },
    "qjail-fbsd-",
  );
  cleanups.push(t.cleanup);
  const host = new FakeFreebsdHost(t.dir);
  host.interfaces = new Map([["rl0", "203.0.113.9"]]);
  host.defaultIf = "rl0";
  return {
    root: t.dir,
    host,
    ctx: { root: t.dir, layout: hostLayout(), runCommands: true, previousExtAddress: "203.0.113.9" },
  };
}

async function load(
  host: FakeFreebsdHost,
  kind: "ipf" | "pf" | "ipfw",
  m: ReturnType<typeof model>,
  ctx: LoadContext,
): Promise<string[]> {
  const loader = createFreebsdFirewallLoader(kind, host.run);
  const rendered = await loader.render(m, ctx);
  await loader.load(rendered, ctx);
  return rendered.warnings;
}

const howto = model(howtoHost("freebsd", "rl0"), HOWTO_EXPOSURES);

// ---------------------------------------------------------------------------
// IPFilter

test("IPFilter: dry-run checks, inactive list then swap, ipnat -C (sessions kept), files into place, verify", async () => {
  const { root, ctx, host } = setup();
  await load(host, "ipf", howto, ctx);
  assert.deepEqual(host.calls, [
    "/sbin/ifconfig rl0 inet",
    "/sbin/ipnat -n -f /etc/ipnat.rules.qjail-new",
    "/sbin/ipf -n -f /etc/ipf.rules.qjail-new",
    "/sbin/ipf -I -Fa -f /etc/ipf.rules.qjail-new",
    "/sbin/ipf -s",
    "/sbin/ipnat -C -f /etc/ipnat.rules.qjail-new",
    "/sbin/ipnat -l",
  ]);
  const ipf = readFileSync(join(root, "etc/ipf.rules"), "utf8");
  assert.ok(ipf.startsWith(ADMIN_IPF));
  assert.match(
    ipf,
    /pass in quick on rl0 inet proto tcp from any to 10\.0\.0\.3\/32 port = 80 flags S\/FSRPAU keep state\n# END qjail/,
  );
  assert.ok(readFileSync(join(root, "etc/ipnat.rules"), "utf8").startsWith(ADMIN_IPNAT));
  assert.ok(!existsSync(join(root, "etc/ipf.rules.qjail-new")));
  assert.equal(host.ipnatRules.filter((r) => r.startsWith("rdr ")).length, 2);
});

test("IPFilter: a change keeps every translation in use; an unexposed forward loses its own sessions (ipnat -r -p)", async () => {
  const { root, ctx, host } = setup();
  await load(host, "ipf", howto, ctx);
  const ssh = host.ipnatRules.find((r) => / port 6122 /.test(r)) as string;
  const www = host.ipnatRules.find((r) => / port 6188 /.test(r)) as string;
  host.addIpnatSession(ssh, "198.51.100.7");
  host.addIpnatSession(www, "198.51.100.8");
  host.calls.length = 0;
  // unexpose www 6188: the ssh session must live on, the www one must go
  await load(host, "ipf", model(howtoHost("freebsd", "rl0"), HOWTO_EXPOSURES.slice(0, 1)), ctx);
  assert.deepEqual(
    host.ipnatSessions.map((s) => s.rule),
    [ssh],
  );
  assert.ok(host.calls.includes("/sbin/ipnat -r -p -f /var/db/qjail/ipnat.removed.rules"));
  assert.ok(host.calls.includes("/sbin/ipnat -C -f /etc/ipnat.rules.qjail-new"));
  assert.ok(!host.calls.some((c) => /ipnat -CF/.test(c)), "no -F without an address change");
  assert.ok(!existsSync(join(root, "var/db/qjail/ipnat.removed.rules")), "the scratch file is removed");
});

test("IPFilter: a changed public address flushes the translations with -CF and adds the howto's ipf -y", async () => {
  const { ctx, host } = setup();
  const loader = createFreebsdFirewallLoader("ipf", host.run);
  const rendered = await loader.render(howto, { ...ctx, previousExtAddress: "198.51.100.77" });
  const result = await loader.load(rendered, ctx);
  assert.ok(host.calls.includes("/sbin/ipnat -CF -f /etc/ipnat.rules.qjail-new"));
  assert.ok(host.calls.includes("/sbin/ipf -y"));
  assert.equal(result.extAddress, "203.0.113.9");
});

for (const [failing, stage, rollback] of [
  ["/sbin/ipnat -n", "validate", false],
  ["/sbin/ipf -s", "load", true],
  ["/sbin/ipnat -C -f /etc/ipnat.rules.qjail-new", "load", true],
  ["/sbin/ipnat -l", "verify", true],
] as const) {
  test(`IPFilter: a failing '${failing}' restores the previous rules and leaves every file as it was`, async () => {
    const { root, ctx, host } = setup();
    const before = treeDigest(root);
    host.fail = (l) => l.startsWith(failing);
    const loader = createFreebsdFirewallLoader("ipf", host.run);
    const rendered = await loader.render(howto, ctx);
    await assert.rejects(
      loader.load(rendered, ctx),
      (e: FirewallLoadError) => e instanceof FirewallLoadError && e.stage === stage,
    );
    assert.deepEqual(treeDigest(root), before);
    const back = ["/sbin/ipf -I -Fa -f /etc/ipf.rules", "/sbin/ipf -s", "/sbin/ipnat -C -f /etc/ipnat.rules"];
    if (rollback) assert.deepEqual(host.calls.slice(-3), back);
    else
      assert.ok(
        !host.calls.some((c) => c.startsWith("/sbin/ipf -I")),
        "nothing loaded after a failed dry-run",
      );
  });
}

test("IPFilter: the admin's file keeps its mode (0600 stays 0600)", async () => {
  const { root, ctx, host } = setup();
  chmodSync(join(root, "etc/ipf.rules"), 0o600);
  await load(host, "ipf", howto, ctx);
  assert.equal(statSync(join(root, "etc/ipf.rules")).mode & 0o777, 0o600);
});

// ---------------------------------------------------------------------------
// pf

const PF_CONF_HOOKED =
  'ext_if="rl0"\nnat-anchor "qjail/*"\nrdr-anchor "qjail/*"\nblock in all\npass out all keep state\nanchor "qjail/*"\n';

test("pf: loaded into qjail/expose with -o none and verified after pfctl's list expansion", async () => {
  const { root, ctx, host } = setup({ "etc/pf.conf": PF_CONF_HOOKED });
  host.run(["/sbin/pfctl", "-f", "/etc/pf.conf"]);
  // --from twice (a list pfctl expands into 2 rules per line), two exposures to
  // the same jail port (identical pass rules the default optimizer drops), and
  // a --from exposure beside an open one (a subset it drops too).
  const exps = [
    exposure("ssh", "tcp", [6122, 6122], [22, 22], { from: ["198.51.100.0/24", "203.0.113.7"] }),
    exposure("www", "tcp", [8080, 8080], [80, 80]),
    exposure("www", "tcp", [8081, 8081], [80, 80]),
    exposure("www", "tcp", [8443, 8443], [443, 443], { from: ["192.0.2.1"] }),
    exposure("www", "tcp", [9443, 9443], [443, 443]),
  ];
  const m = model(howtoHost("freebsd", "rl0", { firewall: "pf" }), exps);
  const warnings = await load(host, "pf", m, ctx);
  assert.deepEqual(warnings, []);
  assert.deepEqual(
    host.calls.filter((c) => c.includes("qjail/expose")),
    [
      "/sbin/pfctl -o none -a qjail/expose -n -f /var/db/qjail/pf.qjail.expose.rules.qjail-new",
      "/sbin/pfctl -o none -a qjail/expose -f /var/db/qjail/pf.qjail.expose.rules.qjail-new",
      "/sbin/pfctl -P -a qjail/expose -s nat",
      "/sbin/pfctl -P -a qjail/expose -s rules",
    ],
  );
  // 1 nat + 2x2 rdr for ssh + 2 per other exposure; pass rules: 2x2 + 2 per other exposure
  assert.equal(host.pfAnchors.get("qjail/expose")?.nat.length, 1 + 4 + 8);
  assert.equal(host.pfAnchors.get("qjail/expose")?.rules.length, 4 + 8);
  assert.match(
    readFileSync(join(root, "var/db/qjail/pf.qjail.expose.rules"), "utf8"),
    /^rdr on rl0 inet proto tcp from any to \(rl0\) port = 8080 -> 10\.0\.0\.3 port 80$/m,
  );
  // Without qjail's labels (optimization barriers) pfctl's default optimizer
  // would hold fewer rules than qjail wrote: a count check would roll it back.
  writeFileSync(
    join(root, "var/db/qjail/unlabelled.rules"),
    readFileSync(join(root, "var/db/qjail/pf.qjail.expose.rules"), "utf8").replace(/ label "[^"]*"/g, ""),
  );
  await host.run(["/sbin/pfctl", "-a", "qjail/optimised", "-f", "/var/db/qjail/unlabelled.rules"]);
  assert.ok((host.pfAnchors.get("qjail/optimised")?.rules.length ?? 0) < 12);
  // -P: the verify reads numeric ports; without it pfctl prints service names
  const named = await host.run(["/sbin/pfctl", "-a", "qjail/expose", "-s", "rules"]);
  assert.match(named.stdout, /port = http /);
});

test("pf: a failed verify goes back to the previous anchor file; a first load is flushed with -F all", async () => {
  const { ctx, host } = setup({ "etc/pf.conf": PF_CONF_HOOKED });
  const pfModel = model(howtoHost("freebsd", "rl0", { firewall: "pf" }), HOWTO_EXPOSURES);
  host.fail = (l) => l.endsWith("-s rules");
  const loader = createFreebsdFirewallLoader("pf", host.run);
  await assert.rejects(
    loader.load(await loader.render(pfModel, ctx), ctx),
    /previous rules were loaded again/,
  );
  assert.equal(host.calls[host.calls.length - 1], "/sbin/pfctl -a qjail/expose -F all");
  assert.equal(host.pfAnchors.get("qjail/expose"), undefined);
  host.fail = () => false;
  await load(host, "pf", pfModel, ctx);
  host.fail = (l) => l.endsWith("-s rules");
  const loader2 = createFreebsdFirewallLoader("pf", host.run);
  await assert.rejects(
    loader2.load(
      await loader2.render(
        model(howtoHost("freebsd", "rl0", { firewall: "pf" }), HOWTO_EXPOSURES.slice(1)),
        ctx,
      ),
      ctx,
    ),
    /previous rules were loaded again/,
  );
  assert.equal(
    host.calls[host.calls.length - 1],
    "/sbin/pfctl -o none -a qjail/expose -f /var/db/qjail/pf.qjail.expose.rules",
  );
  assert.equal(host.pfAnchors.get("qjail/expose")?.rules.length, 4, "the howto's 4 pass rules are back");
});

test("pf: hooks in pf.conf but not in the running ruleset are reported (QJ3053); missing in the file, QJ3051", async () => {
  const { ctx, host } = setup({ "etc/pf.conf": PF_CONF_HOOKED });
  const pfModel = model(howtoHost("freebsd", "rl0", { firewall: "pf" }), HOWTO_EXPOSURES);
  let warnings = await load(host, "pf", pfModel, ctx);
  assert.equal(warnings.length, 1);
  assert.match(
    warnings[0] as string,
    /^QJ3053: .*lacks nat-anchor "qjail\/\*", rdr-anchor "qjail\/\*", anchor "qjail\/\*".*service pf reload/,
  );
  host.run(["/sbin/pfctl", "-f", "/etc/pf.conf"]);
  warnings = await load(host, "pf", pfModel, ctx);
  assert.deepEqual(warnings, []);
  const bare = setup({ "etc/pf.conf": "block in all\n" });
  warnings = await load(bare.host, "pf", pfModel, bare.ctx);
  assert.match(warnings[0] as string, /^QJ3051: \/etc\/pf\.conf lacks nat-anchor "qjail\/\*"/);
});

// ---------------------------------------------------------------------------
// ipfw

const ipfwHost = howtoHost("freebsd", "rl0", { firewall: "ipfw" });

test("ipfw: refused while net.inet.ip.fw.one_pass=1 (FreeBSD's default); nothing is written or loaded", async () => {
  const { root, ctx, host } = setup();
  const before = treeDigest(root);
  const loader = createFreebsdFirewallLoader("ipfw", host.run);
  await assert.rejects(
    loader.load(await loader.render(model(ipfwHost, HOWTO_EXPOSURES), ctx), ctx),
    (e: FirewallLoadError) =>
      e.stage === "validate" &&
      /one_pass is 1: ipfw would accept every inbound packet.*qjail fw setup --write/.test(e.message),
  );
  assert.deepEqual(host.calls, ["/sbin/ifconfig rl0 inet", "/sbin/sysctl -n net.inet.ip.fw.one_pass"]);
  assert.deepEqual(treeDigest(root), before);
  assert.equal(host.ipfwRules.length, 0);
  host.ipfwLoaded = false;
  await assert.rejects(
    loader.load(await loader.render(model(ipfwHost, HOWTO_EXPOSURES), ctx), ctx),
    /one_pass cannot be read \(sysctl: unknown oid\): ipfw is not loaded; start it with 'service ipfw start'/,
  );
});

test("ipfw: staged in set 21, swapped in; the kernel's reversed redirect list and the rule counts verify", async () => {
  const { ctx, host } = setup();
  host.sysctls.set("net.inet.ip.fw.one_pass", "0");
  await load(host, "ipfw", model(ipfwHost, HOWTO_EXPOSURES), ctx);
  assert.deepEqual(host.calls.slice(2), [
    "/sbin/ipfw -n add 1000 nat 80 ip4 from any to any in recv rl0",
    "/sbin/ipfw -n add 1001 allow tcp from any to 10.0.0.2 22 in recv rl0",
    "/sbin/ipfw -n add 1002 allow tcp from any to 10.0.0.3 80 in recv rl0",
    "/sbin/ipfw -n add 1099 nat 80 ip4 from 10.0.0.0/24 to any out xmit rl0",
    "/sbin/ipfw -q set disable 21",
    "/sbin/ipfw -q delete set 21",
    "/sbin/ipfw -q add 1000 set 21 nat 80 ip4 from any to any in recv rl0",
    "/sbin/ipfw -q add 1001 set 21 allow tcp from any to 10.0.0.2 22 in recv rl0",
    "/sbin/ipfw -q add 1002 set 21 allow tcp from any to 10.0.0.3 80 in recv rl0",
    "/sbin/ipfw -q add 1099 set 21 nat 80 ip4 from 10.0.0.0/24 to any out xmit rl0",
    "/sbin/ipfw -q nat 80 config if rl0 same_ports unreg_only reset redirect_port tcp 10.0.0.2:22 6122 redirect_port tcp 10.0.0.3:80 6188",
    "/sbin/ipfw -q set swap 20 21",
    "/sbin/ipfw -q set enable 20",
    "/sbin/ipfw nat 80 show config",
    "/sbin/ipfw show 1000-1099",
  ]);
  // What the kernel shows is not the text sent: the old substring check fails on it.
  const shown = (await host.run(["/sbin/ipfw", "nat", "80", "show", "config"])).stdout;
  assert.ok(!shown.includes("redirect_port tcp 10.0.0.2:22 6122 redirect_port tcp 10.0.0.3:80 6188"));
  assert.deepEqual(
    parseIpfwNatConfig(shown).redirects.map((r) => r.publicPort),
    [6188, 6122],
  );
});

test("ipfw: many exposures share rule numbers in order and all fit the block; --on and ranges verify", async () => {
  const { ctx, host } = setup();
  host.sysctls.set("net.inet.ip.fw.one_pass", "0");
  const jails = Array.from({ length: 150 }, (_, i) => ({
    name: `j${i}`,
    ip4: [`10.0.${Math.floor(i / 200)}.${(i % 200) + 2}`],
    ip6: [],
  }));
  const exps = jails.map((j, i) =>
    exposure(
      j.name,
      "tcp",
      [20000 + i * 3, 20002 + i * 3],
      [9000, 9002],
      i % 10 === 0 ? { from: ["192.0.2.0/24"] } : {},
    ),
  );
  exps.push(
    exposure("j1", "udp", [53, 53], [53, 53], {
      on: { kind: "address", address: "203.0.113.10", family: 4 },
    }),
  );
  await load(host, "ipfw", model(ipfwHost, exps, [...jails, ...HOWTO_JAILS]), ctx);
  const numbers = host.ipfwRules.filter((r) => r.set === 20).map((r) => r.num);
  assert.ok(Math.max(...numbers) <= 1099 && Math.min(...numbers) >= 1000);
  assert.deepEqual(
    numbers,
    [...numbers].sort((a, b) => a - b),
    "kept in order",
  );
  assert.equal(host.nat.get(80)?.redirects.length, 151);
});

test("ipfw: a failed verify swaps back and restores the previous NAT config; before the swap the active set is untouched", async () => {
  const { ctx, host } = setup();
  host.sysctls.set("net.inet.ip.fw.one_pass", "0");
  await load(host, "ipfw", model(ipfwHost, HOWTO_EXPOSURES), ctx);
  const changed = model(ipfwHost, HOWTO_EXPOSURES.slice(1));
  host.fail = (l) => l.startsWith("/sbin/ipfw nat 80 show");
  const loader2 = createFreebsdFirewallLoader("ipfw", host.run);
  await assert.rejects(loader2.load(await loader2.render(changed, ctx), ctx), FirewallLoadError);
  assert.deepEqual(host.calls.slice(-3), [
    "/sbin/ipfw -q set swap 20 21",
    "/sbin/ipfw -q nat 80 config if rl0 same_ports unreg_only reset redirect_port tcp 10.0.0.2:22 6122 redirect_port tcp 10.0.0.3:80 6188",
    "/sbin/ipfw -q delete set 21",
  ]);
  assert.equal(host.ipfwRules.filter((r) => r.set === 20).length, 4, "the howto's block is active again");
  host.fail = (l) => l.startsWith("/sbin/ipfw -q nat 80 config");
  const loader3 = createFreebsdFirewallLoader("ipfw", host.run);
  await assert.rejects(
    loader3.load(await loader3.render(changed, ctx), ctx),
    /the previous rules were loaded again/,
  );
  assert.ok(!host.calls.slice(-6).includes("/sbin/ipfw -q set swap 20 21"));
  assert.equal(host.ipfwRules.filter((r) => r.set === 20).length, 4);
});

test("isLive: after 'service ipfw restart' (ipfw -f flush) the NAT instance remains but qjail's rules are gone", async () => {
  const { ctx, host } = setup();
  host.sysctls.set("net.inet.ip.fw.one_pass", "0");
  await load(host, "ipfw", model(ipfwHost, HOWTO_EXPOSURES), ctx);
  const loader = createFreebsdFirewallLoader("ipfw", host.run);
  assert.equal(await loader.isLive(ipfwHost), true);
  await host.run(["/sbin/ipfw", "-q", "-f", "flush"]);
  assert.ok(host.nat.has(80), "flush keeps NAT instances");
  assert.equal(await loader.isLive(ipfwHost), false);
  const ipf = setup();
  const ipfLoader = createFreebsdFirewallLoader("ipf", ipf.host.run);
  assert.equal(await ipfLoader.isLive(ipfwHost), false);
  await load(ipf.host, "ipf", howto, ipf.ctx);
  assert.equal(await ipfLoader.isLive(ipfwHost), true);
  const pf = setup({ "etc/pf.conf": PF_CONF_HOOKED });
  const pfLoader = createFreebsdFirewallLoader("pf", pf.host.run);
  assert.equal(await pfLoader.isLive(ipfwHost), false);
  await load(pf.host, "pf", model(howtoHost("freebsd", "rl0", { firewall: "pf" }), HOWTO_EXPOSURES), pf.ctx);
  assert.equal(await pfLoader.isLive(ipfwHost), true);
});
