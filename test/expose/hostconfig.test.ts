import { test } from "node:test";
import assert from "node:assert/strict";
import {
  defaultHostConfig,
  parseHostConfig,
  formatHostConfig,
  loadHostConfig,
  jailGateway,
  parseCidr,
} from "../../src/core/hostconfig.js";

const defaults = defaultHostConfig("freebsd", { defaultRouteIf: "rl0", enabledFirewalls: ["ipf"] });

test("defaults come from the detected facts", () => {
  assert.equal(defaults.extIf, "rl0");
  assert.equal(defaults.firewall, "ipf");
  // no jail yet: create puts jails on the default route's interface (qjail 5.x), so jail_if is that
  assert.equal(defaults.jailIf, "rl0");
  assert.deepEqual(defaultHostConfig("linux", {}).firewall, "nft");
  assert.deepEqual(defaultHostConfig("linux", {}).jailIf, "qjail0");
  assert.deepEqual(defaultHostConfig("freebsd", { enabledFirewalls: ["pf"] }).firewall, "pf");
  assert.deepEqual(
    defaultHostConfig("freebsd", {
      listening: [
        { port: 80, proto: "tcp" },
        { port: 22, proto: "tcp" },
        { port: 22, proto: "tcp" },
      ],
    }).hostServices,
    [
      { port: 22, proto: "tcp" },
      { port: 80, proto: "tcp" },
    ],
  );
  // nothing detected on FreeBSD: the howto's host keeps 22 and 80 (C3); Linux keeps 22
  assert.deepEqual(defaultHostConfig("freebsd", {}).hostServices, [
    { port: 22, proto: "tcp" },
    { port: 80, proto: "tcp" },
  ]);
  assert.deepEqual(defaultHostConfig("linux", {}).hostServices, [{ port: 22, proto: "tcp" }]);
});

test("jail_if and jail_subnet come from the jails that exist (C5)", () => {
  const onLo1 = defaultHostConfig("freebsd", {
    defaultRouteIf: "em0",
    jails: [
      { interface: "lo1", ip4: "10.1.2.3" },
      { interface: "lo1", ip4: "10.1.2.4" },
      { interface: "em0", ip4: "em0|10.1.2.5" },
    ],
  });
  assert.equal(onLo1.extIf, "em0");
  assert.equal(onLo1.jailIf, "lo1");
  assert.equal(onLo1.jailSubnet4, "10.1.2.0/24");
  const spread = defaultHostConfig("linux", { jails: [{ interface: "br7", ip4: "10.0.0.2,192.168.5.2" }] });
  assert.equal(spread.jailIf, "br7");
  assert.equal(spread.jailSubnet4, "10.0.0.0/24", "two /24s: the default");
});

test("a full file reads back and writes out byte for byte", () => {
  const text = [
    'ext_if="em0"',
    'firewall="pf"',
    'jail_if="lo1"',
    'jail_subnet="10.0.0.0/24,fd00:6a61:696c::/64"',
    'host_services="22/tcp,53/udp,80/tcp"',
    'ipf_rules="/etc/ipf.rules"',
    'ipnat_rules="/etc/ipnat.rules"',
    'pf_conf="/etc/pf.conf"',
    'pf_anchor="qjail"',
    'ipfw_nat_instance="80"',
    'ipfw_rule_base="1000"',
    "",
  ].join("\n");
  const { config, problems } = parseHostConfig(text, defaults);
  assert.deepEqual(problems, []);
  assert.equal(config.jailSubnet6, "fd00:6a61:696c::/64");
  assert.deepEqual(config.hostServices, [
    { port: 22, proto: "tcp" },
    { port: 53, proto: "udp" },
    { port: 80, proto: "tcp" },
  ]);
  assert.equal(formatHostConfig(config), text);
});

test("every bad line is reported with its line number", () => {
  const { problems } = parseHostConfig(
    [
      'firewall="iptables"',
      'jail_subnet="10.0.0.5/24"',
      'host_services="22/sctp"',
      "ext_if=em0",
      'bogus="1"',
      'ipfw_rule_base="70000"',
    ].join("\n"),
    defaults,
  );
  assert.deepEqual(
    problems.map((p) => p.line),
    [1, 2, 3, 4, 5, 6],
  );
  assert.match(problems[1]!.message, /did you mean 10\.0\.0\.0\/24/);
});

test("loadHostConfig refuses with QJ3001 naming the file and line", () => {
  assert.throws(
    () => loadHostConfig('ext_if="em0; rm -rf /"\n', defaults, "/usr/local/etc/qjail.host"),
    (e: Error & { code?: string }) =>
      e.code === "QJ3001" && /qjail\.host line 1: ext_if="em0; rm -rf \/"/.test(e.message),
  );
  assert.equal(loadHostConfig(undefined, defaults, "/x"), defaults);
});

test("address helpers", () => {
  assert.equal(jailGateway("10.0.0.0/24"), "10.0.0.1");
  assert.equal(jailGateway("fd00::/64"), "fd00::1");
  assert.equal(typeof parseCidr("10"), "string");
  assert.equal(typeof parseCidr("10.0.0.1/33"), "string");
  const ok = parseCidr("2001:DB8::1");
  assert.ok(typeof ok !== "string" && ok.cidr === "2001:db8::1/128");
});
