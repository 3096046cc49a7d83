import { test } from "node:test";
import assert from "node:assert/strict";
import { buildStatus, formatStatus, type DiagFacts, type JailFacts } from "../../src/core/status.js";
import { diagnose, formatFindings, type Finding } from "../../src/core/doctor.js";
import { defaultHostConfig } from "../../src/core/hostconfig.js";
import { resolveExposures, type Exposure } from "../../src/core/exposure.js";
import { exposureKey } from "../../src/core/exposure.js";
import { parseSockstat } from "../../src/platform/freebsd/parsers/sockstat.js";
import { parseIpfstat } from "../../src/platform/freebsd/parsers/ipfstat.js";
import { parseIpnatList } from "../../src/platform/freebsd/parsers/ipnat.js";
import { parseNftJson } from "../../src/platform/linux/parsers/nft.js";
import { ruleVerdicts, strayForwards, type RuleCounters } from "../../src/platform/rule-counters.js";

/** The howto's host as facts: ssh jail 10.0.0.2 (6122 → 22), www jail 10.0.0.3 (6188 → 80), IPFilter on em0. */
function howtoFacts(
  over: Partial<DiagFacts> & { counters?: RuleCounters } = {},
  jailOver: Partial<Record<string, Partial<JailFacts>>> = {},
): DiagFacts {
  const hostConfig = {
    ...defaultHostConfig("freebsd"),
    extIf: "em0",
    hostServices: [
      { port: 22, proto: "tcp" as const },
      { port: 80, proto: "tcp" as const },
    ],
  };
  const exposure = (jail: string, pub: number, port: number): Exposure => ({
    jail,
    proto: "tcp",
    public: { low: pub, high: pub },
    jailPort: { low: port, high: port },
    from: [],
    on: undefined,
    comment: "",
  });
  const exposures = [exposure("ssh", 6122, 22), exposure("www", 6188, 80)];
  const base: JailFacts[] = [
    {
      name: "ssh",
      status: "normal",
      ip4: ["10.0.0.2"],
      ip6: [],
      jid: 1,
      resolvConf: "nameserver 192.0.2.53\n",
      listening: parseSockstat("root     sshd       812   4  tcp4   10.0.0.2:22           *:*\n"),
    },
    {
      name: "www",
      status: "normal",
      ip4: ["10.0.0.3"],
      ip6: [],
      jid: 2,
      resolvConf: "nameserver 192.0.2.53\n",
      listening: parseSockstat("www      httpd      901   3  tcp4   10.0.0.3:80           *:*\n"),
    },
  ];
  const jails = base.map((j): JailFacts => ({ ...j, ...jailOver[j.name] }));
  const { resolved, dropped } = resolveExposures(exposures, jails);
  const { counters = howtoCounters(), ...rest } = over;
  return {
    platform: "freebsd",
    hostConfig,
    hostConfigExists: true,
    extAddress: "198.51.100.1",
    jails,
    exposures,
    resolved,
    dropped,
    syncedExposures: exposures.map(exposureKey),
    syncedAddress: "198.51.100.1",
    hostListening: parseSockstat(
      "root     sshd       668   4  tcp4   *:22                  *:*\nwww      httpd      700   4  tcp4   198.51.100.1:80       *:*\n",
    ),
    firewall: { available: true, enabled: true, running: true, qjailRulesLoaded: true },
    ruleVerdicts: ruleVerdicts(counters, resolved),
    strayForwards:
      strayForwards(counters, rest.resolved ?? resolved, new Set(["10.0.0.2", "10.0.0.3"])) ?? [],
    forwarding: true,
    jailSubnetRouted: { ok: true, detail: "lo1 carries 10.0.0.2" },
    ...rest,
  };
}

/** The howto's live IPFilter listings: both rdr rules and the pass rules that admit each jail's port. */
function howtoCounters(): RuleCounters {
  return {
    kind: "ipf",
    filterIn: parseIpfstat(
      [
        "0 @1 pass in quick on em0 proto tcp from any to any port = 6122 flags S/FSRPAU keep state",
        "17 @2 pass in quick on em0 proto tcp from any to 10.0.0.2/32 port = 22 flags S/FSRPAU keep state",
        "42 @3 pass in quick on em0 proto tcp from any to 10.0.0.3/32 port = 80 flags S/FSRPAU keep state",
        "9 @4 block in log quick on em0 all",
      ].join("\n"),
    ),
    nat: parseIpnatList(
      [
        "List of active MAP/Redirect filters:",
        "5 map em0 10.0.0.0/24 -> 0.0.0.0/32 portmap tcp/udp auto",
        "17 rdr em0 0.0.0.0/0 port 6122 -> 10.0.0.2 port 22 tcp",
        "42 rdr em0 0.0.0.0/0 port 6188 -> 10.0.0.3 port 80 tcp",
        "",
        "List of active sessions:",
      ].join("\n"),
    ),
  };
}

const codes = (f: readonly Finding[]): string[] => f.map((x) => x.code).sort();

test("status: per jail state, JID, addresses, listeners, and hits from the rule that admits the jail's port", () => {
  const doc = buildStatus(howtoFacts());
  assert.equal(doc.jails.length, 2);
  const www = doc.jails[1]!;
  assert.deepEqual(
    { name: www.name, state: www.state, jid: www.jid, ipv4: www.ipv4 },
    { name: "www", state: "running", jid: 2, ipv4: ["10.0.0.3"] },
  );
  assert.deepEqual(www.listening, [
    { proto: "tcp4", address: "10.0.0.3", port: 80, command: "httpd", pid: 901 },
  ]);
  assert.deepEqual(www.exposures[0], {
    proto: "tcp",
    public: "6188",
    jail_port: "80",
    target: "10.0.0.3",
    family: 4,
    hits: 42,
    counted_by: "ipf pass rule @3",
    live: true,
    listening: true,
  });
  // not the public-port rule @1 (0 hits): the page's note about forwarded ports
  assert.equal(doc.jails[0]?.exposures[0]?.hits, 17);
  assert.equal(doc.host.ext_address, "198.51.100.1");
  assert.equal(buildStatus(howtoFacts(), "ssh").jails.length, 1);
  assert.match(formatStatus(doc), /exposed {3}tcp 6188 -> 10\.0\.0\.3:80 {2}42 hits \(ipf pass rule @3\)/);
});

test("status on nftables: dnat counters attributed by what the rule matches", () => {
  const ruleset = parseNftJson(
    JSON.stringify({
      nftables: [
        { table: { family: "inet", name: "qjail" } },
        {
          rule: {
            family: "inet",
            table: "qjail",
            chain: "pre",
            handle: 3,
            expr: [
              { match: { op: "==", left: { payload: { protocol: "tcp", field: "dport" } }, right: 6188 } },
              { counter: { packets: 7, bytes: 420 } },
              { dnat: { family: "ip", addr: "10.0.0.3", port: 80 } },
            ],
          },
        },
      ],
    }),
  );
  const doc = buildStatus(
    howtoFacts({ platform: "linux", counters: { kind: "nft", ruleset, table: "qjail" } }),
  );
  assert.equal(doc.jails[1]?.exposures[0]?.hits, 7);
  assert.equal(doc.jails[1]?.exposures[0]?.counted_by, "nft dnat");
  assert.equal(doc.jails[0]?.exposures[0]?.live, false, "no dnat rule for 6122");
  // a dnat rule without a counter statement: live, but no count rather than a made-up 0
  const noCounter = parseNftJson(
    JSON.stringify({
      nftables: [
        {
          rule: {
            family: "inet",
            table: "qjail",
            chain: "pre",
            handle: 3,
            expr: [
              { match: { op: "==", left: { payload: { protocol: "tcp", field: "dport" } }, right: 6188 } },
              { dnat: { family: "ip", addr: "10.0.0.3", port: 80 } },
            ],
          },
        },
      ],
    }),
  );
  const bare = buildStatus(
    howtoFacts({ platform: "linux", counters: { kind: "nft", ruleset: noCounter, table: "qjail" } }),
  );
  assert.deepEqual([bare.jails[1]?.exposures[0]?.hits, bare.jails[1]?.exposures[0]?.live], [null, true]);
});

test("doctor: a healthy howto host has only the host-service finding it really has", () => {
  // the host's httpd on 198.51.100.1:80 does not collide: 80 is not an exposed public port
  assert.deepEqual(diagnose(howtoFacts()), []);
  assert.equal(formatFindings([]), "doctor: no problems found\n");
});

test("doctor: rules flushed behind qjail's back → QJ5304 with 'qjail fw sync', repairable", () => {
  const f = diagnose(
    howtoFacts({ firewall: { available: true, enabled: true, running: true, qjailRulesLoaded: false } }),
  );
  assert.deepEqual(codes(f), ["QJ5304"]);
  assert.equal(f[0]?.fix, "qjail fw sync");
  assert.equal(f[0]?.repair, "fw-sync");
});

test("doctor: one rdr missing from the live rules → out of sync, naming the exposure", () => {
  const counters = howtoCounters();
  if (counters.kind === "ipf") counters.nat.rules = counters.nat.rules.filter((r) => r.publicPort !== 6122);
  const f = diagnose(howtoFacts({ counters }));
  assert.deepEqual(codes(f), ["QJ5305"]);
  assert.match(f[0]?.message ?? "", /tcp 6122 -> ssh:22/);
});

test("doctor: an exposure added but never synced is pending", () => {
  const f = diagnose(howtoFacts({ syncedExposures: [] }));
  assert.deepEqual(codes(f), ["QJ5305"]);
});

test("doctor: a stopped jail that should run, and an exposure nothing listens on", () => {
  const f = diagnose(howtoFacts({}, { www: { jid: undefined }, ssh: { listening: [] } }));
  assert.deepEqual(codes(f), ["QJ5310", "QJ5313"]);
  const stopped = f.find((x) => x.code === "QJ5310");
  assert.equal(stopped?.fix, "qjail start www");
  assert.match(
    f.find((x) => x.code === "QJ5313")?.message ?? "",
    /nothing in jail "ssh" listens on 10\.0\.0\.2:22\/tcp/,
  );
  // a .man jail that is stopped is fine
  assert.deepEqual(codes(diagnose(howtoFacts({}, { www: { jid: undefined, status: "man" } }))), []);
});

test("doctor: host service on an exposed public port, forwarding off, address changed, firewall down", () => {
  const facts = howtoFacts({
    platform: "linux",
    forwarding: false,
    extAddress: "203.0.113.9",
    firewall: { available: true, enabled: true, running: false, qjailRulesLoaded: true },
  });
  facts.hostListening = parseSockstat("root     nc         700   4  tcp4   *:6188                *:*\n");
  const f = diagnose(facts);
  assert.deepEqual(codes(f), ["QJ5303", "QJ5306", "QJ5307", "QJ5314"]);
  assert.equal(f.find((x) => x.code === "QJ5307")?.fix, "sysctl -w net.ipv4.ip_forward=1");
  assert.match(f.find((x) => x.code === "QJ5314")?.fix ?? "", /^qjail unexpose www tcp 6188/);
  assert.match(formatFindings(f), /^error: QJ5303: firewall: /m);
  assert.match(formatFindings(f), /doctor: 4 errors, 0 other findings/);
});

test("doctor: resolv.conf missing and an outbound probe failing", () => {
  const f = diagnose(
    howtoFacts(
      {},
      {
        ssh: {
          resolvConf: undefined,
          outbound: [{ target: "198.51.100.2:43", ok: false, detail: "timed out" }],
        },
      },
    ),
  );
  assert.deepEqual(codes(f), ["QJ5311", "QJ5312"]);
  // written from inside the jail, where a link the jail planted resolves inside the jail
  assert.equal(f[0]?.fix, "qjail console -c 'tee /etc/resolv.conf' ssh < /etc/resolv.conf");
});

test("doctor: a resolv.conf link planted in the jail is reported, never followed; zone and stopped jails get their command", () => {
  const f = diagnose(
    howtoFacts(
      {},
      {
        ssh: {
          resolvConf: undefined,
          resolvConfProblem: "its /etc/resolv.conf (or /etc) is a symbolic link, which qjail does not follow",
        },
        www: { resolvConf: "search example.org\n", jid: undefined, zone: "lab" },
      },
    ),
  ).filter((x) => x.code === "QJ5311");
  assert.match(
    f[0]?.message ?? "",
    /"ssh" has no readable \/etc\/resolv\.conf \(its \/etc\/resolv\.conf \(or \/etc\) is a symbolic link/,
  );
  assert.ok(!/\bcp\b/.test(f.map((x) => x.fix).join("\n")), "no host-side cp into a jail");
  assert.equal(
    f[1]?.fix,
    "qjail start -z lab www && qjail console -z lab -c 'tee /etc/resolv.conf' www < /etc/resolv.conf",
  );
});

test("doctor: ipfw with one_pass=1 (QJ5318) and pf hooks missing from the running ruleset (QJ5319)", () => {
  const ipfw = diagnose(
    howtoFacts({
      hostConfig: { ...defaultHostConfig("freebsd"), extIf: "em0", firewall: "ipfw" },
      firewall: { available: true, enabled: true, running: true, qjailRulesLoaded: true, onePass: 1 },
    }),
  ).find((x) => x.code === "QJ5318");
  assert.match(
    ipfw?.message ?? "",
    /one_pass is 1: every inbound packet on em0 is accepted at qjail's nat rule 1000/,
  );
  assert.match(ipfw?.fix ?? "", /^qjail fw setup --write/);
  const pf = diagnose(
    howtoFacts({
      hostConfig: { ...defaultHostConfig("freebsd"), extIf: "em0", firewall: "pf" },
      firewall: {
        available: true,
        enabled: true,
        running: true,
        qjailRulesLoaded: true,
        hooksMissingLive: ['anchor "qjail/*"'],
      },
    }),
  ).find((x) => x.code === "QJ5319");
  assert.match(pf?.message ?? "", /running pf ruleset lacks anchor "qjail\/\*"/);
});

test("doctor: enabling ipfw is suggested with a type that keeps the host reachable, never the deny-all default", () => {
  const f = diagnose(
    howtoFacts({
      hostConfig: { ...defaultHostConfig("freebsd"), extIf: "em0", firewall: "ipfw" },
      firewall: { available: true, enabled: false, running: false },
    }),
  ).find((x) => x.code === "QJ5303");
  assert.match(f?.fix ?? "", /firewall_type=open/);
  assert.match(f?.fix ?? "", /qjail fw setup --write/);
  assert.match(f?.fix ?? "", /cuts this SSH session/);
});

test("doctor and status: a forward to a jail that no exposure asks for is reported both ways (QJ5309), repairable", () => {
  const counters = howtoCounters();
  if (counters.kind === "ipf")
    counters.nat.rules.push(
      ...parseIpnatList(
        "List of active MAP/Redirect filters:\n3 rdr em0 0.0.0.0/0 port 6199 -> 10.0.0.3 port 80 tcp\n",
      ).rules,
    );
  const facts = howtoFacts({ counters });
  const f = diagnose(facts);
  assert.deepEqual(codes(f), ["QJ5309"]);
  assert.match(f[0]?.message ?? "", /tcp 6199 -> 10\.0\.0\.3:80 \(ipnat rdr\)/);
  assert.equal(f[0]?.repair, "fw-sync");
  // in a listing the admin shares (ipnat), a warning; the admin's rdr to a host that is not a jail is not ours
  assert.equal(f[0]?.severity, "warning");
  const doc = buildStatus(facts);
  assert.deepEqual(doc.host.stray_forwards, [
    { proto: "tcp", public: "6199", target: "10.0.0.3:80", by: "ipnat rdr" },
  ]);
  assert.match(formatStatus(doc), /STRAY forward tcp 6199 -> 10\.0\.0\.3:80/);
  const admin = howtoCounters();
  if (admin.kind === "ipf")
    admin.nat.rules.push(
      ...parseIpnatList(
        "List of active MAP/Redirect filters:\n3 rdr em0 0.0.0.0/0 port 8080 -> 192.0.2.80 port 80 tcp\n",
      ).rules,
    );
  assert.deepEqual(codes(diagnose(howtoFacts({ counters: admin }))), []);
});

test("doctor: with no exposure at all, a dnat left in table inet qjail is an error (the deleted jail's forward)", () => {
  const ruleset = parseNftJson(
    JSON.stringify({
      nftables: [
        {
          rule: {
            family: "inet",
            table: "qjail",
            chain: "prerouting",
            handle: 7,
            comment: "gone",
            expr: [
              { match: { op: "==", left: { payload: { protocol: "tcp", field: "dport" } }, right: 6188 } },
              { dnat: { family: "ip", addr: "10.0.0.3", port: 80 } },
            ],
          },
        },
      ],
    }),
  );
  const f = diagnose(
    howtoFacts({
      platform: "linux",
      exposures: [],
      resolved: [],
      syncedExposures: [],
      counters: { kind: "nft", ruleset, table: "qjail" },
    }),
  );
  const stray = f.find((x) => x.code === "QJ5309");
  assert.equal(stray?.severity, "error");
  assert.match(
    stray?.message ?? "",
    /tcp 6188 -> 10\.0\.0\.3:80 \(nft dnat in table inet qjail \("gone"\)\)/,
  );
});
