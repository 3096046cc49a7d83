import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { SHARED, testdir } from "../helpers/cli.js";
import { gatherFreebsdFacts, freebsdPublicAddress } from "../../src/platform/freebsd/facts.js";
import { buildStatus } from "../../src/core/status.js";
import { diagnose } from "../../src/core/doctor.js";
import { hostLayout } from "../../src/core/paths.js";
import { defaultHostConfig } from "../../src/core/hostconfig.js";
import { emptyRecord } from "../../src/core/record.js";
import { specFromRecord } from "../../src/core/jail.js";
import type { RunResult } from "../../src/platform/run.js";
import { FakeFreebsdHost } from "../helpers/freebsd-host.js";
import { createFreebsdFirewallLoader } from "../../src/platform/freebsd/firewall.js";
import { resolveExposures } from "../../src/core/exposure.js";

/** A FreeBSD host as recorded command outputs: what each argv would print. */
function recordedHost(outputs: Record<string, string>, missing: string[] = []) {
  const calls: string[] = [];
  const runner = async (argv: readonly string[]): Promise<RunResult> => {
    const key = argv.join(" ");
    calls.push(key);
    if (missing.includes(argv[0] as string)) return { code: 127, stdout: "", stderr: "not found" };
    const out = outputs[key];
    return out === undefined
      ? { code: 1, stdout: "", stderr: `no recording for ${key}` }
      : { code: 0, stdout: out, stderr: "" };
  };
  return { runner, calls };
}

const layout = hostLayout();
function spec(name: string, ip: string) {
  const r = emptyRecord();
  r.name = name;
  r.ip4 = ip;
  r.path = `/usr/jails/${name}`;
  return specFromRecord(layout, name, "normal", r);
}

const IFCONFIG =
  "em0: flags=8843<UP,BROADCAST,RUNNING,SIMPLEX,MULTICAST> metric 0 mtu 1500\n\tinet 198.51.100.1 netmask 0xffffff00 broadcast 198.51.100.255\n";

test("FreeBSD facts from the page's debug commands: per-jail sockstat, ipfstat -hni, ipnat -lhd, sysrc, netstat", async () => {
  const t = testdir({ "usr/jails/www/etc/resolv.conf": "nameserver 192.0.2.53\n" });
  try {
    const host = recordedHost({
      "/usr/bin/sockstat -46l -j 2": readFileSync(
        join(SHARED, "fixtures/freebsd/sockstat-4-jail-bastille-readme-1.txt"),
        "utf8",
      ).replace(/10\.0\.0\.10:53/g, "10.0.0.3:80"),
      "/usr/bin/sockstat -46l": readFileSync(
        join(SHARED, "fixtures/freebsd/sockstat-46l-inspec-1.txt"),
        "utf8",
      ),
      "/usr/sbin/sysrc -n ipfilter_enable": "YES\n",
      "/usr/sbin/sysrc -n ipnat_enable": "NO\n",
      "/sbin/ipf -V": "ipf: IP Filter: v5.1.2 (592)\nKernel: IP Filter: v5.1.2\nRunning: yes\n",
      "/sbin/ipfstat -R -hni":
        "31 @1 pass in quick on em0 proto tcp from any to 10.0.0.3/32 port = 80 flags S/FSRPAU keep state\n",
      "/sbin/ipnat -lhd":
        "List of active MAP/Redirect filters:\n31 rdr em0 0.0.0.0/0 port 6188 -> 10.0.0.3 port 80 tcp\n\nList of active sessions:\n",
      "/sbin/sysctl -n net.inet.ip.forwarding": "0\n",
      "/usr/bin/netstat -rn -f inet": readFileSync(
        join(SHARED, "fixtures/freebsd/netstat-r-jc-1.txt"),
        "utf8",
      ),
      "/sbin/ifconfig em0 inet": IFCONFIG,
    });
    const facts = await gatherFreebsdFacts(
      {
        root: t.dir,
        layout,
        config: { ...defaultHostConfig("freebsd"), extIf: "em0", jailIf: "lo1" },
        configExists: true,
        jails: [spec("www", "10.0.0.3")],
        live: new Map([["www", { name: "www", jid: 2, path: "/usr/jails/www", ip4: ["10.0.0.3"], ip6: [] }]]),
        exposures: [
          {
            jail: "www",
            proto: "tcp",
            public: { low: 6188, high: 6188 },
            jailPort: { low: 80, high: 80 },
            from: [],
            on: undefined,
            comment: "",
          },
        ],
        synced: {
          active: ['www proto="tcp" public="6188" jail_port="80" from="" on="" comment=""'],
          extAddress: "198.51.100.1",
        },
      },
      host.runner,
    );
    assert.equal(facts.extAddress, "198.51.100.1");
    assert.deepEqual(facts.firewall, {
      available: true,
      enabled: false,
      running: true,
      qjailRulesLoaded: true,
    });
    assert.equal(facts.forwarding, false);
    assert.equal(facts.jailSubnetRouted?.ok, false, "the recorded table has no route on lo1");
    // the host's sockstat: sendmail, sshd twice, the orphan udp6 socket
    assert.equal(facts.hostListening?.length, 4);
    const status = buildStatus(facts);
    assert.deepEqual(status.jails[0]?.exposures[0], {
      proto: "tcp",
      public: "6188",
      jail_port: "80",
      target: "10.0.0.3",
      family: 4,
      hits: 31,
      counted_by: "ipf pass rule @1",
      live: true,
      listening: true,
    });
    const codes = diagnose(facts)
      .map((f) => f.code)
      .sort();
    // ipnat_enable="NO" and lo1 unrouted; forwarding is not needed for jails on the host's own lo1
    assert.deepEqual(codes, ["QJ5303", "QJ5308"]);
    assert.ok(host.calls.includes("/usr/bin/sockstat -46l -j 2"));
  } finally {
    t.cleanup();
  }
});

test("FreeBSD facts without IPFilter installed: doctor says to install/enable it", async () => {
  const host = recordedHost({}, ["/sbin/ipf", "/sbin/ipfstat", "/sbin/ipnat"]);
  const facts = await gatherFreebsdFacts(
    {
      root: "/nonexistent-qjail-root",
      layout,
      config: defaultHostConfig("freebsd"),
      configExists: false,
      jails: [],
      live: new Map(),
      exposures: [],
    },
    host.runner,
  );
  assert.equal(facts.firewall.available, false);
  const f = diagnose(facts);
  assert.deepEqual(f.map((x) => x.code).sort(), ["QJ5301", "QJ5302"]);
  assert.match(f.find((x) => x.code === "QJ5302")?.fix ?? "", /sysrc ipfilter_enable=YES ipnat_enable=YES/);
});

test("FreeBSD facts on ipfw: allow-rule packets attributed to the exposure, a missing redirect is not live", async () => {
  const host = recordedHost({
    "/usr/sbin/sysrc -n firewall_enable": "YES\n",
    "/usr/sbin/sysrc -n firewall_nat_enable": "YES\n",
    "/sbin/sysctl -n net.inet.ip.fw.one_pass": "0\n",
    "/sbin/ipfw nat 80 show config":
      "ipfw nat 80 config if em0 same_ports unreg_only reset redirect_port tcp 10.0.0.3:80 6188\n",
    "/sbin/ipfw show 1000-1099":
      "01000 9 540 nat 80 ip4 from any to any in recv em0\n01001 0 0 allow tcp from any to 10.0.0.2 22 in recv em0\n01002 42 2520 allow tcp from any to 10.0.0.3 80 in recv em0\n",
    "/sbin/ifconfig em0 inet": IFCONFIG,
  });
  const exposure = (jail: string, pub: number, port: number) => ({
    jail,
    proto: "tcp" as const,
    public: { low: pub, high: pub },
    jailPort: { low: port, high: port },
    from: [],
    on: undefined,
    comment: "",
  });
  const facts = await gatherFreebsdFacts(
    {
      root: "/nonexistent-qjail-root",
      layout,
      config: { ...defaultHostConfig("freebsd"), extIf: "em0", firewall: "ipfw" },
      configExists: true,
      jails: [spec("ssh", "10.0.0.2"), spec("www", "10.0.0.3")],
      live: new Map(),
      exposures: [exposure("ssh", 6122, 22), exposure("www", 6188, 80)],
    },
    host.runner,
  );
  assert.equal(facts.firewall.qjailRulesLoaded, true);
  const status = buildStatus(facts);
  assert.deepEqual(
    status.jails.map((j) => [j.name, j.exposures[0]?.hits, j.exposures[0]?.counted_by, j.exposures[0]?.live]),
    [
      ["ssh", 0, "ipfw rule 1001", false],
      ["www", 42, "ipfw rule 1002", true],
    ],
  );
  assert.ok(diagnose(facts).some((f) => f.code === "QJ5305" && /tcp 6122 -> ssh:22/.test(f.message)));
});

test("the public address from ifconfig, and none when the interface has no inet line", async () => {
  assert.equal(
    await freebsdPublicAddress("em0", recordedHost({ "/sbin/ifconfig em0 inet": IFCONFIG }).runner),
    "198.51.100.1",
  );
  assert.equal(
    await freebsdPublicAddress(
      "em1",
      recordedHost({ "/sbin/ifconfig em1 inet": "em1: flags=8802<BROADCAST> mtu 1500\n" }).runner,
    ),
    undefined,
  );
});

// The same facts from FakeFreebsdHost (test/helpers/freebsd-host.ts), whose
// ipfw and pfctl keep state and print it as FreeBSD does.

test("facts from a FreeBSD-like host: ipfw after 'service ipfw restart' is not loaded (P12); one_pass=1 is an error (P6)", async () => {
  const t = testdir({ "var/db/qjail/.keep": "" }, "qjail-facts-fake-");
  try {
    const host = new FakeFreebsdHost(t.dir);
    host.sysctls.set("net.inet.ip.fw.one_pass", "0");
    const cfg = { ...defaultHostConfig("freebsd"), extIf: "em0", firewall: "ipfw" as const };
    const exps = [
      {
        jail: "www",
        proto: "tcp" as const,
        public: { low: 6188, high: 6188 },
        jailPort: { low: 80, high: 80 },
        from: [],
        on: undefined,
        comment: "",
      },
    ];
    const jails = [spec("www", "10.0.0.3")];
    const ctx = { root: t.dir, layout, runCommands: true, previousExtAddress: null };
    const loader = createFreebsdFirewallLoader("ipfw", host.run);
    const m = {
      host: cfg,
      exposures: resolveExposures(exps, [{ name: "www", ip4: ["10.0.0.3"], ip6: [] }]).resolved,
    };
    await loader.load(await loader.render(m, ctx), ctx);
    const gather = () =>
      gatherFreebsdFacts(
        { root: t.dir, layout, config: cfg, configExists: true, jails, live: new Map(), exposures: exps },
        host.run,
      );
    let facts = await gather();
    assert.equal(facts.firewall.qjailRulesLoaded, true);
    assert.equal(buildStatus(facts).jails[0]?.exposures[0]?.live, true);
    await host.run(["/sbin/ipfw", "-q", "-f", "flush"]);
    facts = await gather();
    assert.equal(facts.firewall.qjailRulesLoaded, false, "the NAT instance alone is not a loaded rule set");
    assert.ok(diagnose(facts).some((f) => f.code === "QJ5304"));
    host.sysctls.set("net.inet.ip.fw.one_pass", "1");
    assert.ok(diagnose(await gather()).some((f) => f.code === "QJ5318"));
  } finally {
    t.cleanup();
  }
});

test("facts from a FreeBSD-like host: pf counters found by qjail's label (P13); hooks not in the running ruleset (P10)", async () => {
  const t = testdir(
    {
      "var/db/qjail/.keep": "",
      "etc/pf.conf": 'nat-anchor "qjail/*"\nrdr-anchor "qjail/*"\nanchor "qjail/*"\n',
    },
    "qjail-facts-fake-",
  );
  try {
    const host = new FakeFreebsdHost(t.dir);
    const cfg = { ...defaultHostConfig("freebsd"), extIf: "em0", firewall: "pf" as const };
    const exps = [
      {
        jail: "www",
        proto: "tcp" as const,
        public: { low: 6188, high: 6188 },
        jailPort: { low: 80, high: 80 },
        from: [],
        on: undefined,
        comment: "",
      },
    ];
    const jails = [spec("www", "10.0.0.3")];
    const ctx = { root: t.dir, layout, runCommands: true, previousExtAddress: null };
    const loader = createFreebsdFirewallLoader("pf", host.run);
    const m = {
      host: cfg,
      exposures: resolveExposures(exps, [{ name: "www", ip4: ["10.0.0.3"], ip6: [] }]).resolved,
    };
    await loader.load(await loader.render(m, ctx), ctx);
    const gather = () =>
      gatherFreebsdFacts(
        { root: t.dir, layout, config: cfg, configExists: true, jails, live: new Map(), exposures: exps },
        host.run,
      );
    let facts = await gather();
    const e = buildStatus(facts).jails[0]?.exposures[0];
    assert.equal(e?.counted_by, 'pf label "qjail:tcp/6188:www"');
    assert.equal(e?.live, true);
    assert.ok(
      diagnose(facts).some((f) => f.code === "QJ5319"),
      "pf.conf not loaded: the running ruleset has no hooks",
    );
    await host.run(["/sbin/pfctl", "-f", "/etc/pf.conf"]);
    facts = await gather();
    assert.ok(!diagnose(facts).some((f) => f.code === "QJ5319"));
  } finally {
    t.cleanup();
  }
});

test("facts: a resolv.conf (or etc) the jail made a link to a host file is never read through; doctor's fix writes inside the jail (P14)", async () => {
  // The canary stands for a host file with a nameserver line: read through the
  // link, doctor would see a working resolv.conf and say nothing.
  const t = testdir({
    "host-etc/resolv.conf": "nameserver 192.0.2.99\n",
    "usr/jails/www/etc/rc.conf": "",
    "usr/jails/db/.keep": "",
    "usr/jails/ok/etc/resolv.conf": "nameserver 192.0.2.53\n",
  });
  try {
    symlinkSync(join(t.dir, "host-etc/resolv.conf"), join(t.dir, "usr/jails/www/etc/resolv.conf"));
    symlinkSync(join(t.dir, "host-etc"), join(t.dir, "usr/jails/db/etc"));
    const host = recordedHost({});
    const facts = await gatherFreebsdFacts(
      {
        root: t.dir,
        layout,
        config: { ...defaultHostConfig("freebsd"), extIf: "em0", jailIf: "lo1" },
        configExists: true,
        jails: [spec("www", "10.0.0.3"), spec("db", "10.0.0.4"), spec("ok", "10.0.0.5")],
        live: new Map([
          ["www", { name: "www", jid: 2, path: "/usr/jails/www", ip4: ["10.0.0.3"], ip6: [] }],
          ["db", { name: "db", jid: 3, path: "/usr/jails/db", ip4: ["10.0.0.4"], ip6: [] }],
        ]),
        exposures: [],
      },
      host.runner,
    );
    const byName = new Map(facts.jails.map((j) => [j.name, j]));
    for (const name of ["www", "db"]) {
      assert.equal(byName.get(name)?.resolvConf, undefined, `${name}: read through the jail's link`);
      assert.match(byName.get(name)?.resolvConfProblem ?? "", /symbolic link, which qjail does not follow/);
    }
    assert.equal(byName.get("ok")?.resolvConf, "nameserver 192.0.2.53\n");
    const fixes = diagnose(facts)
      .filter((f) => f.code === "QJ5311")
      .map((f) => [f.subject, f.fix]);
    assert.deepEqual(fixes, [
      ["www", "qjail console -c 'tee /etc/resolv.conf' www < /etc/resolv.conf"],
      ["db", "qjail console -c 'tee /etc/resolv.conf' db < /etc/resolv.conf"],
    ]);
    // nothing was written through the links
    assert.equal(readFileSync(join(t.dir, "host-etc/resolv.conf"), "utf8"), "nameserver 192.0.2.99\n");
  } finally {
    t.cleanup();
  }
});

test("facts from a FreeBSD-like host: IPFilter hits from ipfstat -R, whose ports are numbers (P13)", async () => {
  const t = testdir({ "etc/.keep": "", "var/db/qjail/.keep": "" }, "qjail-facts-fake-");
  try {
    const host = new FakeFreebsdHost(t.dir);
    const cfg = { ...defaultHostConfig("freebsd"), extIf: "em0", firewall: "ipf" as const };
    const exps = [
      {
        jail: "www",
        proto: "tcp" as const,
        public: { low: 6188, high: 6188 },
        jailPort: { low: 80, high: 80 },
        from: [],
        on: undefined,
        comment: "",
      },
    ];
    const ctx = { root: t.dir, layout, runCommands: true, previousExtAddress: null };
    const loader = createFreebsdFirewallLoader("ipf", host.run);
    const m = {
      host: cfg,
      exposures: resolveExposures(exps, [{ name: "www", ip4: ["10.0.0.3"], ip6: [] }]).resolved,
    };
    await loader.load(await loader.render(m, ctx), ctx);
    const pass = host.ipfActive.find((l) => /10\.0\.0\.3\S* port = 80\b/.test(l));
    assert.ok(pass, host.ipfActive.join("\n"));
    host.ipfHits.set(pass, 17);
    // without -R this host prints "port = http", which is not the port qjail looks for
    assert.match((await host.run(["/sbin/ipfstat", "-hni"])).stdout, /port = http/);
    const facts = await gatherFreebsdFacts(
      {
        root: t.dir,
        layout,
        config: cfg,
        configExists: true,
        jails: [spec("www", "10.0.0.3")],
        live: new Map(),
        exposures: exps,
      },
      host.run,
    );
    const e = buildStatus(facts).jails[0]?.exposures[0];
    assert.equal(e?.hits, 17);
    assert.match(e?.counted_by ?? "", /^ipf pass rule @\d+$/);
  } finally {
    t.cleanup();
  }
});
