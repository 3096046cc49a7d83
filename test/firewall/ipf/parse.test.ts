import { test } from "node:test";
import assert from "node:assert/strict";
import {
  formatDiagnostic,
  IpfDiagnosticCode,
  listIpf,
  listIpnat,
  parseIpf,
  parseIpnat,
  printIpf,
  printIpnat,
  type IpfDiagnostic,
} from "../../../src/firewall/ipf/index.js";

const assertParse = (text: string, expected: string[]) => {
  const r = parseIpf(text);
  assert.deepEqual(r.diagnostics, [], `unexpected diagnostics for ${JSON.stringify(text)}`);
  assert.equal(printIpf(r.rules), expected.map((l) => l + "\n").join(""));
};
const assertNat = (text: string, expected: string[]) => {
  const r = parseIpnat(text);
  assert.deepEqual(
    r.diagnostics.filter((d) => d.severity === "error"),
    [],
    `unexpected diagnostics for ${JSON.stringify(text)}`,
  );
  assert.equal(printIpnat(r.rules), expected.map((l) => l + "\n").join(""));
};
const findDiag = (list: IpfDiagnostic[], code: IpfDiagnosticCode, line: number, column: number) =>
  list.find((d) => d.code === code && d.line === line && d.column === column);
const assertDiag = (text: string, code: IpfDiagnosticCode, line: number, column: number) => {
  const list = parseIpf(text).diagnostics;
  assert.ok(
    findDiag(list, code, line, column),
    `expected ${code} at ${line}:${column}, got ${JSON.stringify(list)}`,
  );
};
const assertNatDiag = (text: string, code: IpfDiagnosticCode, line: number, column: number) => {
  const list = parseIpnat(text).diagnostics;
  assert.ok(
    findDiag(list, code, line, column),
    `expected ${code} at ${line}:${column}, got ${JSON.stringify(list)}`,
  );
};

test("canonical filter rules", () => {
  assertParse("pass in quick on em0 proto tcp from any to 10.0.0.2 port = 80 flags S keep state", [
    "pass in quick on em0(!) inet proto tcp from any to 10.0.0.2/32 port = 80 flags S/FSRPAU keep state # count 0",
  ]);
  assertParse("block return-icmp(port-unr) in log body quick on em0 proto udp all", [
    "block return-icmp(port-unr) in log body quick on em0(!) proto udp from any to any",
  ]);
  assertParse("pass out on em0 all head 10", ["pass out on em0(!) all head 10"]);
  assertParse("pass in proto tcp from 10.1.2.3/8 port gt 1023 to any port 6000 <> 6009", [
    "pass in inet proto tcp from 10.0.0.0/8 port > 1023 to any port 6000 <> 6009",
  ]);
});

test("ipf's grammar details: routing before family/proto, family keyword, rule-ttl, default log facility", () => {
  assertParse("pass in quick to qe1 proto tcp from any to any port = 22", [
    "pass in quick to qe1(!) proto tcp from any to any port = 22",
  ]);
  assertParse("pass in proto tcp to any port = 22", ["pass in proto tcp from any to any port = 22"]);
  assertParse("pass in family inet6 proto udp all", ["pass in inet6 proto udp from any to any"]);
  assertParse("pass in proto tcp all flags S keep state rule-ttl 30", [
    "pass in proto tcp from any to any flags S/FSRPAU keep state # count 0 rule-ttl 30",
  ]);
  assertParse("block in all rule-ttl 30", ["block in all # rule-ttl 30"]);
  assertParse("log level warn in all", ["log level local0.warn in all"]);
});

test("IPv6 rules, ICMPv6 names and interface addresses", () => {
  assertParse("pass in proto ipv6-icmp from 2001:db8::/32 to any icmp-type echo", [
    "pass in inet6 proto ipv6-icmp from 2001:db8::/32 to any icmp-type echo",
  ]);
  assertParse("pass in on ed0 from ed0/32 to any", ["pass in on ed0(!) inet from ed0/32 to any"]);
  assertParse("pass in on ed0 from any to ed0/net", ["pass in on ed0(!) inet from any to ed0/net"]);
});

test("a group rule takes family and protocol from its head rule", () => {
  assertParse(
    [
      "block in quick proto tcp from 10.0.0.0/8 to any head 100",
      "pass in quick from any to any group 100",
    ].join("\n"),
    [
      "block in quick inet proto tcp from 10.0.0.0/8 to any head 100",
      "pass in quick inet proto tcp from any to any group 100",
    ],
  );
});

test("rules ipf refuses: flags, ports and sequence tracking on the wrong protocol", () => {
  assertDiag("pass in proto udp all flags S", IpfDiagnosticCode.InvalidFlags, 1, 23);
  assertDiag("pass in proto icmp from any to any port = 5", IpfDiagnosticCode.InvalidPort, 1, 36);
  assertDiag("pass in proto udp all keep state (strict)", IpfDiagnosticCode.InvalidValue, 1, 35);
  assertDiag("pass in proto tcp all icmp-type echo", IpfDiagnosticCode.UnknownIcmp, 1, 23);
  // "kernel" is no word of ipf's log dictionary: a syntax error, as ipf reports it.
  assertDiag("block in log level kernel.loud all", IpfDiagnosticCode.UnexpectedToken, 1, 20);
});

test("lists expand into one rule each, first list fastest", () => {
  assertParse("pass in proto tcp from {1.1.1.1,2.2.2.2} to any port = {22,80}", [
    "pass in inet proto tcp from 1.1.1.1/32 to any port = 22",
    "pass in inet proto tcp from 2.2.2.2/32 to any port = 22",
    "pass in inet proto tcp from 1.1.1.1/32 to any port = 80",
    "pass in inet proto tcp from 2.2.2.2/32 to any port = 80",
  ]);
});

test("on {a b} makes one rule per interface; a comma inside pairs the in and out interfaces", () => {
  assertParse("pass in on {ed0 vx0} proto tcp from {1.1.1.1,2.2.2.2} to any", [
    "pass in on ed0(!) inet proto tcp from 1.1.1.1/32 to any",
    "pass in on vx0(!) inet proto tcp from 1.1.1.1/32 to any",
    "pass in on ed0(!) inet proto tcp from 2.2.2.2/32 to any",
    "pass in on vx0(!) inet proto tcp from 2.2.2.2/32 to any",
  ]);
  // ipf_y.y onname is `interfacename [',' interfacename]` and yacc shifts the
  // comma: `{ed0, vx0}` is one member naming both interfaces.
  assertParse("pass in on {ed0, vx0} all", ["pass in on ed0(!),vx0(!) all"]);
});

test("variables, predefined variables and continuation lines", () => {
  assertParse(['ext = "em0";', "pass in on $ext \\", "  proto udp all"].join("\n"), [
    "pass in on em0(!) proto udp from any to any",
  ]);
  const r = parseIpf("pass in on $IF all", { variables: { IF: "vtnet0" } });
  assert.equal(printIpf(r.rules), "pass in on vtnet0(!) all\n");
});

test("a semicolon ends a rule, so one line may hold two", () => {
  assertParse("pass in all; block out all;", ["pass in all", "block out all"]);
  assert.deepEqual(
    parseIpf("pass in all; block out all").rules.map((r) => `${r.span.line}:${r.span.column}`),
    ["1:1", "1:14"],
  );
});

test("a bad line is reported and the next line still parses", () => {
  const r = parseIpf(["pass in all", "pass sideways all", "block out all"].join("\n"));
  assert.equal(printIpf(r.rules), "pass in all\nblock out all\n");
  assert.equal(r.diagnostics.length, 1);
  assert.equal(r.diagnostics[0]?.line, 2);
  assert.equal(r.diagnostics[0]?.column, 6);
});

test("listIpf stops at the first syntax error, as ipf exits there", () => {
  assert.equal(listIpf(["pass in all", "pass sideways all", "block out all"].join("\n")), "pass in all\n");
  assert.equal(
    listIpnat(
      [
        "map em0 10.0.0.0/8 -> 0/32",
        "rdr em0 0/0 port 80 -> 10.0.0.0/24 port 80 tcp",
        "map em1 10.0.0.0/8 -> 0/32",
      ].join("\n"),
    ),
    "map em0 10.0.0.0/8 -> 0/32\n",
  );
});

test("diagnostics carry codes and positions", () => {
  assertDiag("pass in quick rl0 proto tcp all", IpfDiagnosticCode.MissingOn, 1, 15);
  assertDiag("pass in on rl0 tcp all", IpfDiagnosticCode.MissingProto, 1, 16);
  assertDiag("pass in from www.example.org to any", IpfDiagnosticCode.UnknownHost, 1, 14);
  assertDiag("\n\npass in on $nope all", IpfDiagnosticCode.UndefinedVariable, 3, 12);
  assertDiag("pass in proto tcp from any to any port = 70000", IpfDiagnosticCode.InvalidPort, 1, 42);
  assertDiag("pass in proto tcp all flags XYZ", IpfDiagnosticCode.InvalidFlags, 1, 29);
  assertDiag("pass in from 1.2.3.4 to ::1", IpfDiagnosticCode.FamilyMismatch, 1, 25);
});

test("recover keeps the rule ipf would reject, with its diagnostics", () => {
  const text = "pass in quick rl0 tcp from any to any port = 6188 flags S keep state";
  assert.equal(parseIpf(text).rules.length, 0);
  const r = parseIpf(text, { recover: true });
  assert.equal(r.diagnostics.length, 2);
  assert.equal(
    printIpf(r.rules),
    "pass in quick on rl0(!) proto tcp from any to any port = 6188 flags S/FSRPAU keep state # count 0\n",
  );
});

test("the caret excerpt points at the offending token", () => {
  const text = "pass in all\npass in quick rl0 proto tcp all\n";
  const d = parseIpf(text).diagnostics[0];
  assert.ok(d);
  assert.equal(
    formatDiagnostic(d, text, "ipf.rules"),
    [
      `ipf.rules:2:15: error QJ4009: interface "rl0" needs "on" before it: write "on rl0"`,
      "  2 | pass in quick rl0 proto tcp all",
      "    |               ^^^",
      '    = ipf stops here with "syntax error error at "rl0", line 2"',
    ].join("\n"),
  );
});

test("canonical NAT rules", () => {
  assertNat("map em0 10.0.0.0/24 -> 0/32 portmap tcp/udp 40000:60000", [
    "map em0 10.0.0.0/24 -> 0/32 portmap tcp/udp 40000:60000",
  ]);
  assertNat("rdr em0 0/0 port 8080 -> 10.0.0.2 port 80 tcp", [
    "rdr em0 0/0 port 8080 -> 10.0.0.2/32 port 80 tcp",
  ]);
  assertNat("rdr em0 0/0 port 80 -> 10.0.0.2 port 80 ip", ["rdr em0 0/0 -> 10.0.0.2/32 ip"]);
  assertNat("bimap em0 10.0.0.2 -> 203.0.113.5", ["bimap em0 10.0.0.2/32 -> 203.0.113.5/32"]);
  assertNat("rdr em0 from any to 1.2.3.4 port = 22 -> 10.0.0.3 port 22 tcp round-robin", [
    "rdr em0 from 0/0 to 1.2.3.4/32 port = 22 -> 10.0.0.3/32 port 22 tcp round-robin",
  ]);
});

test("NAT ranges on rdr, exception rules, two interfaces", () => {
  assertNat("rdr le0 1.1.1.1 port 80 -> 10.0.0.1-10.0.0.5 port 80 tcp", [
    "rdr le0 1.1.1.1/32 port 80 -> 10.0.0.1-10.0.0.5 port 80 tcp",
  ]);
  assertNat("no map le0 10.0.0.1;", ["no map le0 10.0.0.1/32 ip;"]);
  assertNat("no rdr le0 1.1.1.1 port 80 tcp;", ["no rdr le0 1.1.1.1/32 port 80 tcp;"]);
  assertNat("map in0,out0 10.0.0.0/8 -> 1.1.1.1", ["map in0,out0 10.0.0.0/8 -> 1.1.1.1/32"]);
  assertNat("rdr le0 1.1.1.1 port 80 -> 10.0.0.1 port 80", [
    "rdr le0 1.1.1.1/32 port 80 -> 10.0.0.1/32 port 80 tcp/udp",
  ]);
});

test("NAT diagnostics: missing addresses and an ignored sticky", () => {
  assertNatDiag("rdr rl0 port 6122 -> port 22 tcp", IpfDiagnosticCode.MissingAddress, 1, 9);
  assertNatDiag("rdr rl0 port 6122 -> port 22 tcp", IpfDiagnosticCode.MissingAddress, 1, 22);
  assertNatDiag("map rl0 -> 0/32", IpfDiagnosticCode.MissingAddress, 1, 9);
  const sticky = parseIpnat("rdr em0 0/0 port 80 -> 10.0.0.2 port 80 tcp sticky");
  assert.equal(sticky.diagnostics[0]?.code, IpfDiagnosticCode.StickyIgnored);
  assert.equal(sticky.diagnostics[0]?.severity, "warning");
  assert.equal(sticky.rules.length, 1);
});
