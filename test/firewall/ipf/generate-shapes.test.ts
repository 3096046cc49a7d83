/**
 * Every exposure shape qjail generates for IPFilter — tcp/udp, one port and
 * ranges, --from (one and several sources), --on an interface or an address,
 * IPv4-only, IPv6-only and dual-stack jails, with and without an IPv6 jail
 * network — must be text real ipf/ipnat 5.1.2 loads:
 *
 * - the grammar-true parser reads it with zero diagnostics (the parser agrees
 *   with real ipf/ipnat on ../shared/corpus/ipfilter-real, see
 *   real-corpus.test.ts, including the IPv6 rdr form ipnat refuses);
 * - the file is its own print: what qjail loads is the printer's form
 *   (the generator builds trees and prints them);
 * - no IPv6 NAT rule puts an address right after the interface (ipnat reads
 *   the family first; `rdr em0 ::0/0 …` is "syntax error at ":"");
 * - the IPv4 rules work: a client's SYN to the public port is translated to
 *   the jail's address and port and passed, by qjail's evaluator.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { generateIpf, generateIpnat } from "../../../src/firewall/ipf/generate.js";
import { parseIpf, parseIpnat, printIpfRule, printIpnatRule } from "../../../src/firewall/ipf/index.js";
import { tracePacket, parseFriendlyPacket } from "../../../src/firewall/ipf/eval/trace.js";
import { parseV4 } from "../../../src/firewall/ipf/eval/packet.js";
import type { Exposure, JailAddresses } from "../../../src/core/exposure.js";
import { exposure, howtoHost, model } from "../model-fixture.js";

const JAILS: JailAddresses[] = [
  { name: "v4", ip4: ["10.0.0.2"], ip6: [] },
  { name: "v6", ip4: [], ip6: ["fd00:6a61:696c::6"] },
  { name: "dual", ip4: ["10.0.0.3"], ip6: ["fd00:6a61:696c::3"] },
];

const PORTS: [[number, number], [number, number]][] = [
  [
    [6122, 6122],
    [22, 22],
  ],
  [
    [8000, 8002],
    [9000, 9002],
  ],
];

interface Shape {
  name: string;
  exposure: Exposure;
}

function shapes(): Shape[] {
  const out: Shape[] = [];
  for (const jail of JAILS)
    for (const proto of ["tcp", "udp"] as const)
      for (const [pub, priv] of PORTS) {
        const fromSets: string[][] = [[], ["198.51.100.0/24"], ["198.51.100.0/24", "203.0.113.7/32"]];
        if (jail.ip6.length > 0) fromSets.push(["2001:db8::/32"], ["2001:db8::/32", "198.51.100.0/24"]);
        const ons: Exposure["on"][] = [undefined, { kind: "interface", name: "em1" }];
        if (jail.ip4.length > 0) ons.push({ kind: "address", address: "192.0.2.5", family: 4 });
        if (jail.ip6.length > 0) ons.push({ kind: "address", address: "2001:db8:1::5", family: 6 });
        for (const from of fromSets)
          for (const on of ons)
            out.push({
              name: `${jail.name} ${proto} ${pub.join("-")} from=[${from.join(",")}] on=${on ? (on.kind === "address" ? on.address : on.name) : "-"}`,
              exposure: exposure(jail.name, proto, pub, priv, { from, on }),
            });
      }
  return out;
}

const rulesOnly = (text: string) => text.split("\n").filter((l) => l !== "" && !l.startsWith("#"));

test("every exposure shape: zero diagnostics, the file is its own print, IPv6 NAT says inet6", () => {
  let checked = 0;
  for (const subnet6 of [undefined, "fd00:6a61:696c::/64"]) {
    const host = howtoHost("freebsd", "em0", { jailSubnet6: subnet6 });
    for (const s of shapes()) {
      const m = model(host, [s.exposure], JAILS);
      const ipnat = generateIpnat(m);
      const ipf = generateIpf(m);
      const nat = parseIpnat(ipnat);
      const filt = parseIpf(ipf);
      assert.deepEqual(nat.diagnostics, [], `${s.name}\n${ipnat}`);
      assert.deepEqual(filt.diagnostics, [], `${s.name}\n${ipf}`);
      assert.deepEqual(
        nat.rules.map((r) => printIpnatRule(r)),
        rulesOnly(ipnat),
        `${s.name}: ipnat text is not its own print`,
      );
      assert.deepEqual(
        filt.rules.map((r) => printIpfRule(r, { interfaces: "all", verbose: false })),
        rulesOnly(ipf),
        `${s.name}: ipf text is not its own print`,
      );
      for (const line of rulesOnly(ipnat)) {
        if (/ inet6 /.test(line) || !/[0-9a-f]*:[0-9a-f:]*\//.test(line)) continue;
        assert.fail(`${s.name}: IPv6 NAT rule without inet6: ${line}`);
      }
      // Each resolved exposure has its rdr rules and its pass rules, one per source.
      const resolved = m.exposures;
      const expectRules = resolved.reduce((n, e) => n + Math.max(1, e.sources.length), 0);
      assert.equal(nat.rules.filter((r) => r.kind === "rdr").length, expectRules, s.name);
      assert.equal(filt.rules.length, expectRules, s.name);
      checked++;
    }
  }
  assert.ok(checked >= 100, `only ${checked} shapes`);
});

test("the IPv4 shapes work: a SYN to the public port is redirected to the jail and passed", () => {
  const host = howtoHost("freebsd", "em0");
  const interfaces = new Map([
    ["em0", parseV4("192.0.2.1") as bigint],
    ["em1", parseV4("192.0.2.9") as bigint],
  ]);
  let traced = 0;
  for (const s of shapes()) {
    const m = model(host, [s.exposure], JAILS);
    for (const e of m.exposures) {
      if (e.family !== 4) continue;
      const ipnat = generateIpnat(m);
      const ipf = generateIpf(m) + "block in quick all\n";
      const iface = e.on?.kind === "interface" ? e.on.name : "em0";
      const dst = e.on?.kind === "address" ? e.on.address : iface === "em1" ? "192.0.2.9" : "192.0.2.1";
      const src = e.sources[0]
        ? e.sources[0].replace(/\.0\/24$/, ".7").replace(/\/32$/, "")
        : "203.0.113.200";
      const port = e.public.high;
      const r = tracePacket(
        {
          ipf: { file: "ipf.rules", text: ipf, rules: parseIpf(ipf).rules },
          nat: { file: "ipnat.rules", text: ipnat, rules: parseIpnat(ipnat).rules },
          interfaces,
        },
        parseFriendlyPacket(`${e.proto} ${src}:40000 -> ${dst}:${port} on ${iface}`.split(" "), {
          interfaces,
        }),
      );
      assert.equal(r.nat[0]?.after.dst.address, e.target, `${s.name}: not redirected`);
      assert.equal(r.nat[0]?.after.dst.port, e.jailPort.low + (port - e.public.low), s.name);
      assert.equal(r.verdict, "pass", `${s.name}: ${JSON.stringify(r.filter.decidedBy)}`);
      traced++;
    }
  }
  assert.ok(traced >= 40, `only ${traced} traced`);
});
