import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { SHARED } from "../helpers/cli.js";
import { parseSockstat, listenersOn } from "../../src/platform/freebsd/parsers/sockstat.js";
import {
  parseIpfstat,
  ruleMatchesDestination,
  parseIpfstatLine,
} from "../../src/platform/freebsd/parsers/ipfstat.js";
import { parseIpnatList, rdrFor } from "../../src/platform/freebsd/parsers/ipnat.js";
import {
  parsePfInfo,
  parsePfRules,
  parsePfNat,
  pfRuleCounters,
} from "../../src/platform/freebsd/parsers/pfctl.js";
import { parseNetstatRoutes, routeFor } from "../../src/platform/freebsd/parsers/netstat.js";
import { parseUname, parseFreebsdVersion } from "../../src/platform/freebsd/parsers/uname.js";
import { parseIpfwShow, parseIpfwNatConfig, ipfwAllowFor } from "../../src/platform/freebsd/parsers/ipfw.js";

const fixture = (name: string): string => readFileSync(join(SHARED, "fixtures/freebsd", name), "utf8");

test("sockstat -4 -l (9.3): the dual-stack 'tcp4 6' PROTO becomes tcp46, five listeners", () => {
  const rows = parseSockstat(fixture("sockstat-4l-metin2-1.txt"));
  assert.equal(rows.length, 5);
  const mysql = rows.find((r) => r.command === "mysqld");
  assert.deepEqual(mysql, {
    user: "mysql",
    command: "mysqld",
    pid: 1567,
    fd: 10,
    proto: "tcp46",
    local: { address: "*", port: 3306 },
    foreign: { address: "*", port: null },
  });
  assert.deepEqual(rows[3]?.local, { address: "*", port: 22 });
  assert.equal(rows[4]?.proto, "udp4");
  assert.equal(rows[2]?.local.address, "127.0.0.1");
});

test("sockstat -4 -l (9.3): thirteen rows, truncated command names kept as printed", () => {
  const rows = parseSockstat(fixture("sockstat-4l-metin2-2.txt"));
  assert.equal(rows.length, 13);
  assert.equal(rows.filter((r) => r.command === "game_r4002").length, 8);
  assert.deepEqual(rows[0]?.local, { address: "192.168.100.156", port: 13999 });
  const onGameAddress = listenersOn(rows, "192.168.100.156");
  // its own 8 sockets plus the 4 wildcard listeners (sendmail is on 127.0.0.1 only)
  assert.equal(onGameAddress.length, 12);
  assert.equal(listenersOn(rows, "10.9.9.9").length, 4);
});

test("sockstat -4 inside a jail: unbound on the jail's address, udp and tcp", () => {
  const rows = parseSockstat(fixture("sockstat-4-jail-bastille-readme-1.txt"));
  assert.equal(rows.length, 2);
  assert.deepEqual(
    rows.map((r) => [r.proto, r.local.address, r.local.port, r.pid]),
    [
      ["udp4", "10.0.0.10", 53, 9639],
      ["tcp4", "10.0.0.10", 53, 9639],
    ],
  );
});

test("sockstat -46l: IPv6 wildcard and a socket with no owning process", () => {
  const rows = parseSockstat(fixture("sockstat-46l-inspec-1.txt"));
  assert.equal(rows.length, 4);
  assert.equal(rows[1]?.proto, "tcp6");
  const orphan = rows[3];
  assert.equal(orphan?.user, "?");
  assert.equal(orphan?.pid, null);
  assert.equal(orphan?.fd, null);
  assert.deepEqual(orphan?.local, { address: "*", port: 2049 });
});

test("sockstat splits IPv6 addresses on the last colon", () => {
  const rows = parseSockstat("root     ntpd       812   21 udp6   fe80::1%lo0:123       *:*\n");
  assert.deepEqual(rows[0]?.local, { address: "fe80::1%lo0", port: 123 });
});

test("ipfstat -io: 35 rules, directions, interfaces, port matches by service name", () => {
  const rules = parseIpfstat(fixture("ipfstat-io-inspec-1.txt"));
  assert.equal(rules.length, 35);
  assert.equal(rules.filter((r) => r.direction === "out").length, 11);
  assert.equal(rules.filter((r) => r.direction === "in").length, 24);
  const http = rules[2];
  assert.equal(http?.action, "pass");
  assert.equal(http?.quick, true);
  assert.equal(http?.interface, "dc0");
  assert.equal(http?.proto, "tcp");
  assert.deepEqual(http?.to, { negated: false, address: "any", port: { op: "=", value: "http" } });
  assert.equal(http?.keepState, true);
  assert.equal(http?.hits, undefined);
  // the fixture's typo survives: the parser reports what ipfstat printed
  assert.equal(rules[7]?.interface, "d0c0");
  assert.equal(rules[10]?.action, "block");
  assert.equal(rules[10]?.log, true);
  assert.deepEqual(rules[13]?.from, { negated: false, address: "192.168.0.0/16" });
  assert.equal(rules[34]?.text, "block in log first quick on dc0 all");
  assert.ok(ruleMatchesDestination(http!, "10.0.0.3", 80, "http"));
  assert.ok(!ruleMatchesDestination(http!, "10.0.0.3", 443, "https"));
});

test("ipfstat -hni: hit count and rule number before the rule", () => {
  const r = parseIpfstatLine(
    "1523 @3 pass in quick on em0 proto tcp from any to 10.0.0.2/32 port = 80 flags S/FSRPAU keep state",
  );
  assert.equal(r?.hits, 1523);
  assert.equal(r?.number, 3);
  assert.ok(ruleMatchesDestination(r!, "10.0.0.2", 80));
  assert.ok(!ruleMatchesDestination(r!, "10.0.0.3", 80));
  const range = parseIpfstatLine(
    "0 @4 pass in quick on em0 proto tcp from any to 10.0.0.2/32 port 8000 >< 8010 keep state",
  );
  assert.deepEqual(range?.to?.port, { op: "><", value: "8000", high: "8010" });
  assert.ok(ruleMatchesDestination(range!, "10.0.0.2", 8005));
  assert.ok(!ruleMatchesDestination(range!, "10.0.0.2", 8010));
});

test("ipnat -l: four map rules, no sessions", () => {
  const listing = parseIpnatList(fixture("ipnat-l-inspec-1.txt"));
  assert.equal(listing.rules.length, 4);
  assert.equal(listing.sessions.length, 0);
  assert.deepEqual(
    listing.rules.map((r) => [r.kind, r.interface, r.target]),
    [
      ["map", "en0", "10.9.0.1/32"],
      ["map", "en0", "10.9.0.1/32"],
      ["map", "en0", "10.9.0.1/32"],
      ["map", "net1", "0/32"],
    ],
  );
  assert.equal(
    listing.rules[1]?.text,
    "map en0 192.0.0.0/8 -> 10.9.0.1/32 portmap tcp/udp 20000:40000 mssclamp 1452",
  );
});

test("ipnat -lhd: hit counts on rules, RDR and MAP sessions", () => {
  const text = [
    "List of active MAP/Redirect filters:",
    "3 map em0 10.0.0.0/24 -> 0.0.0.0/32 portmap tcp/udp auto",
    "12 rdr em0 0.0.0.0/0 port 6188 -> 10.0.0.3 port 80 tcp",
    "0 rdr em0 0.0.0.0/0 port 6122 -> 10.0.0.2 port 22 tcp",
    "",
    "List of active sessions:",
    "RDR 10.0.0.3        80    <- -> 198.51.100.1    6188  [203.0.113.9 51234]",
    "MAP 10.0.0.2        41234 <- -> 198.51.100.1    41234 [203.0.113.9 43]",
  ].join("\n");
  const listing = parseIpnatList(text);
  assert.equal(listing.rules.length, 3);
  assert.equal(listing.rules[1]?.hits, 12);
  assert.equal(rdrFor(listing.rules, 6188, "tcp")?.target, "10.0.0.3");
  assert.equal(rdrFor(listing.rules, 6188, "tcp")?.targetPort, 80);
  assert.equal(rdrFor(listing.rules, 6122, "tcp")?.hits, 0);
  assert.equal(rdrFor(listing.rules, 6122, "udp"), undefined);
  assert.deepEqual(listing.sessions[0], {
    type: "RDR",
    inside: { address: "10.0.0.3", port: 80 },
    outside: { address: "198.51.100.1", port: 6188 },
    remote: { address: "203.0.113.9", port: 51234 },
  });
  assert.equal(listing.sessions[1]?.type, "MAP");
});

test("pfctl -s info: enabled 26 minutes, state table and counters", () => {
  const info = parsePfInfo(fixture("pfctl-s-info-telegraf-1.txt"));
  assert.ok(info);
  assert.equal(info.enabled, true);
  assert.equal(info.uptimeSeconds, 26 * 60 + 5);
  assert.equal(info.debug, "Urgent");
  assert.equal(info.stateTable.get("current entries"), 2);
  assert.equal(info.stateTable.get("searches"), 11325);
  assert.equal(info.counters.get("match"), 11226);
  assert.equal(info.counters.size, 15);
  assert.equal(info.loginterface, undefined);
});

test("pfctl -s info with a loginterface: interface stats for re1", () => {
  const info = parsePfInfo(fixture("pfctl-s-info-telegraf-2.txt"));
  assert.ok(info);
  assert.equal(info.uptimeSeconds, 161 * 86400 + 21 * 3600 + 24 * 60 + 45);
  assert.equal(info.loginterface, "re1");
  assert.deepEqual(info.interfaceStats.get("Bytes In"), { ipv4: 2585823744614, ipv6: 1059233657221 });
  assert.deepEqual(info.interfaceStats.get("Packets In Blocked"), { ipv4: 392835739, ipv6: 48609 });
  assert.deepEqual(info.interfaceStats.get("Packets Out Passed"), { ipv4: 1649146326, ipv6: 2605569054 });
  assert.equal(info.stateTable.get("current entries"), 649);
  assert.equal(info.counters.get("state-mismatch"), 24393);
});

test("pfctl -vvvsr (pfSense 2.1 / FreeBSD 8.3): rules with counters and uid/pid", () => {
  const rules = parsePfRules(fixture("pfctl-vvvsr-pfsense21-1.txt"));
  assert.ok(rules.length > 100);
  const first = rules[0];
  assert.equal(first?.text, "scrub on vr2 all fragment reassemble");
  assert.equal(first?.evaluations, 12882073);
  assert.equal(first?.packets, 5093291);
  assert.equal(first?.bytes, 1673472449);
  assert.equal(first?.insertedUid, 0);
  assert.equal(first?.insertedPid, 51319);
  const blockV6 = rules.find((r) => r.number === 3 && r.section === 1);
  assert.equal(blockV6?.label, "Block all IPv6");
  assert.equal(blockV6?.packets, 1170);
  assert.ok(
    rules.every((r) => r.evaluations !== undefined),
    "every rule has its counter line",
  );
  assert.equal(pfRuleCounters(rules).get("Block all IPv6"), 1170);
});

test("pfctl -vvvsr (pfSense 2.2 / FreeBSD 10.1): @N(ridentifier) and State Creations", () => {
  const rules = parsePfRules(fixture("pfctl-vvvsr-pfsense22-1.txt"));
  assert.ok(rules.length > 100);
  const http = rules.find((r) => r.label === "USER_RULE: NAT http");
  assert.equal(http?.number, 112);
  assert.equal(http?.ridentifier, 1425232590);
  assert.equal(http?.packets, 4973);
  assert.equal(http?.bytes, 2411487);
  assert.equal(http?.states, 1);
  assert.equal(http?.insertedPid, 30414);
  assert.equal(http?.insertedUid, undefined);
  assert.equal(http?.stateCreations, 3306980248);
  const last = rules[rules.length - 1];
  assert.equal(last?.text, 'anchor "tftp-proxy/*" all');
  assert.equal(last?.action, "anchor");
});

test("pfctl -sn: nat with an interface address and static-port", () => {
  const rules = parsePfNat(fixture("pfctl-sn-iocage-issue1081-1.txt"));
  assert.equal(rules.length, 1);
  assert.deepEqual(rules[0], {
    text: "nat on bridge0 inet from 172.16.0.0/24 to any -> (bridge0:0) static-port",
    kind: "nat",
    pass: false,
    interface: "bridge0",
    family: "inet",
    from: "172.16.0.0/24",
    to: "any",
    target: "(bridge0:0)",
    staticPort: true,
  });
});

test("pfctl -sn: rdr with ports as pfctl normalises it", () => {
  const [rdr] = parsePfNat(
    "rdr pass on em0 inet proto tcp from any to (em0) port = 6188 -> 10.0.0.3 port 80\n",
  );
  assert.equal(rdr?.kind, "rdr");
  assert.equal(rdr?.pass, true);
  assert.equal(rdr?.toPort, "6188");
  assert.equal(rdr?.target, "10.0.0.3");
  assert.equal(rdr?.targetPort, "80");
});

test("netstat -r: IPv4 and IPv6 tables with resolved names", () => {
  const routes = parseNetstatRoutes(fixture("netstat-r-jc-1.txt"));
  assert.equal(routes.filter((r) => r.family === "inet").length, 4);
  assert.equal(routes.filter((r) => r.family === "inet6").length, 9);
  assert.deepEqual(routeFor(routes, "default"), {
    family: "inet",
    destination: "default",
    gateway: "192.168.71.2",
    flags: "UGS",
    netif: "em0",
    expire: "",
  });
  assert.equal(routeFor(routes, "192.168.71.0/24")?.gateway, "link#1");
  assert.equal(routes.find((r) => r.destination === "fe80::20c:29ff:fe1")?.netif, "lo0");
});

test("uname -a: 12.1-RELEASE GENERIC amd64", () => {
  const u = parseUname(fixture("uname-a-jc-1.txt"));
  assert.equal(u?.sysname, "FreeBSD");
  assert.equal(u?.hostname, "freebsd");
  assert.equal(u?.release, "12.1-RELEASE");
  assert.equal(u?.major, 12);
  assert.equal(u?.patch, 0);
  assert.equal(u?.version, "FreeBSD 12.1-RELEASE r354233 GENERIC");
  assert.equal(u?.machine, "amd64");
});

test("uname -a: a freebsd-update patched 10.1 kernel", () => {
  const u = parseUname(fixture("uname-a-jc-2.txt"));
  assert.equal(u?.release, "10.1-RELEASE-p10");
  assert.equal(u?.major, 10);
  assert.equal(u?.patch, 10);
  assert.equal(u?.machine, "amd64");
  assert.match(u?.version ?? "", /daemonology\.net/);
});

test("freebsd-version inside a jail: 11.1-RELEASE-p9", () => {
  assert.deepEqual(parseFreebsdVersion(fixture("freebsd-version-jail-bastille-readme-1.txt")), {
    release: "11.1-RELEASE-p9",
    major: 11,
    minor: 1,
    branch: "RELEASE",
    patch: 9,
  });
});

test("ipfw show and nat show config (no real capture exists; lines per ipfw(8)): counters and redirects", () => {
  const rules = parseIpfwShow(
    [
      "01000     120     9012 nat 80 ip4 from any to any in recv em0",
      "01001      17     1020 allow tcp from any to 10.0.0.2 22 in recv em0",
      "01002      42     2520 allow tcp from any to 10.0.0.3 80 in recv em0",
      "65535 1048576 99999999 deny ip from any to any",
    ].join("\n"),
  );
  assert.equal(rules.length, 4);
  assert.deepEqual(rules[1], {
    number: 1001,
    packets: 17,
    bytes: 1020,
    text: "allow tcp from any to 10.0.0.2 22 in recv em0",
    action: "allow",
  });
  assert.equal(ipfwAllowFor(rules, "tcp", "10.0.0.3", 80)?.packets, 42);
  assert.equal(ipfwAllowFor(rules, "tcp", "10.0.0.3", 8080), undefined);
  assert.equal(ipfwAllowFor(rules, "udp", "10.0.0.2", 22), undefined);
  const nat = parseIpfwNatConfig(
    "ipfw nat 80 config if em0 same_ports unreg_only reset redirect_port tcp 10.0.0.2:22 6122 redirect_port tcp 10.0.0.3:8000-8010 8000-8010\n",
  );
  assert.equal(nat.interface, "em0");
  assert.deepEqual(nat.redirects, [
    { proto: "tcp", target: "10.0.0.2", targetPort: 22, publicPort: 6122 },
    {
      proto: "tcp",
      target: "10.0.0.3",
      targetPort: 8000,
      targetPortHigh: 8010,
      publicPort: 8000,
      publicPortHigh: 8010,
    },
  ]);
});
