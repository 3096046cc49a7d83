/**
 * NAT rule matching: the per-packet test (rule tests read as numbers, no
 * reasons) must agree with the explaining one `fw trace` uses
 * (whyNatNoMatch) for every rule shape — simple rdr/map, `port 0`, port
 * ranges, every port operator of the full form, `!` on either side, `any`,
 * `0/0`, host and network addresses, IPv6, every protocol form — on packets
 * that hit and miss each test. The engine-level comparisons (eval-fast,
 * eval-reference) only see the rule shapes of the corpus and the bench.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { parseIpnat } from "../../../src/firewall/ipf/index.js";
import { compileNatRule, natRuleMatches, whyNatNoMatch } from "../../../src/firewall/ipf/eval/nat.js";
import { parseTextPacket, parseV4, type Packet } from "../../../src/firewall/ipf/eval/packet.js";

const RULES = `map em0 from 10.0.0.0/8 port > 1024 to any -> 0/32
map em0 from 10.0.0.0/8 port != 53 to 192.0.2.0/24 port = 53 -> 198.51.100.7
map em0 from any port 100 <> 200 to 192.0.2.1 port 10 >< 20 -> 198.51.100.8 tcp
map em0 from 10.1.0.0/16 to 0/0 port 1000:2000 -> 198.51.100.9 udp
map em0 from 10.2.0.0/16 to any port <= 80 -> 198.51.100.10
map em0 from 10.0.0.0/8 port < 1000 ! to 192.0.2.0/24 port >= 50 -> 198.51.100.12 tcp/udp
map em0 from 10.0.0.0/8 to !192.0.2.7 -> 198.51.100.13
map em0 from any ! to any -> 198.51.100.14
rdr em0 from any to 198.51.100.1 port >= 8000 -> 10.0.0.5 port 80 tcp
rdr em0 0/0 port 0 -> 10.0.0.6 tcp
rdr em0 198.51.100.1/32 port 2000-2010 -> 10.0.0.7 port 22 tcp
rdr em0 0/0 port 443 -> 10.0.0.8 port 443 tcp/udp
rdr em1 0/0 port 25 -> 10.0.0.9 port 25
rdr em0 1.2.3.4/0 port 53 -> 10.0.0.10 port 53 udp
map em0 10.3.0.0/16 -> 0/32 portmap tcp/udp auto
map em0 10.4.0.0/16 -> 198.51.100.11
map em0 from any to any -> 198.51.100.15 icmp
map em0 inet6 fd00::/64 -> 2001:db8::1/128
rdr em0 inet6 any port 8443 -> fd00::4 port 443 tcp
map * from 10.0.0.0/8 to any -> 198.51.100.16
`;

const SOURCES = ["10.0.0.5", "10.1.2.3", "10.2.0.9", "10.3.4.5", "10.4.0.1", "192.0.2.1", "203.0.113.9"];
const DESTINATIONS = ["192.0.2.1", "192.0.2.7", "192.0.2.53", "198.51.100.1", "8.8.8.8"];
const PORTS = [0, 10, 15, 20, 25, 50, 53, 80, 99, 150, 443, 999, 1000, 1500, 2000, 2005, 2011, 8000, 9000];

function packets(): Packet[] {
  const out: Packet[] = [];
  let n = 0;
  for (const dir of ["in", "out"])
    for (const ifname of ["em0", "em1"])
      for (const proto of ["tcp", "udp", "icmp"])
        for (const src of SOURCES)
          for (const dst of DESTINATIONS) {
            // A rotating pair of ports keeps the set small while every port meets every rule.
            const sport = PORTS[n % PORTS.length] as number;
            const dport = PORTS[(n * 7 + 3) % PORTS.length] as number;
            n++;
            const line =
              proto === "icmp"
                ? `${dir} on ${ifname} icmp ${src} ${dst} echo`
                : `${dir} on ${ifname} ${proto} ${src},${sport} ${dst},${dport}`;
            out.push(parseTextPacket(line) as Packet);
          }
  // Packets aimed at the narrower tests (`<>`/`><` together, `! to`, `port >=`).
  for (const line of [
    "out on em0 tcp 10.0.0.5,50 192.0.2.1,15",
    "out on em0 tcp 10.0.0.5,150 192.0.2.1,15",
    "out on em0 udp 10.0.0.5,999 198.51.100.1,60",
    "in on em0 tcp 203.0.113.9,40000 198.51.100.1,8080",
  ])
    out.push(parseTextPacket(line) as Packet);
  for (const dir of ["in", "out"])
    for (const dport of [443, 8443, 80]) {
      out.push(parseTextPacket(`${dir}6 on em0 tcp fd00::5,40000 2001:db8::9,${dport}`) as Packet);
      out.push(parseTextPacket(`${dir}6 on em0 udp 2001:db8::9,40000 fd00::4,${dport}`) as Packet);
    }
  return out;
}

test("natRuleMatches agrees with whyNatNoMatch on every rule shape", () => {
  const parsed = parseIpnat(RULES);
  assert.deepEqual(
    parsed.diagnostics.filter((d) => d.severity === "error").map((d) => `${d.line}: ${d.message}`),
    [],
  );
  const ctx = {
    interfaces: new Map([["em0", parseV4("198.51.100.1") as bigint]]),
    tables: new Map(),
  };
  const rules = parsed.rules.map((r, i) => compileNatRule(r, i + 1, ctx));
  const all = packets();
  assert.ok(all.length > 400);
  const matchedBy = new Map<number, number>();
  for (const r of rules)
    for (const p of all) {
      const why = whyNatNoMatch(r, p);
      assert.equal(
        natRuleMatches(r, p),
        why === undefined,
        `rule ${r.number} on ${JSON.stringify(p.dir)} ${p.ifname} proto ${p.proto} ${p.sport}->${p.dport}: ${why}`,
      );
      if (why === undefined) matchedBy.set(r.number, (matchedBy.get(r.number) ?? 0) + 1);
    }
  // Every rule but `! to any` (which nothing matches) meets packets it matches, so both answers are exercised.
  for (const r of rules)
    if (r.number !== 8) assert.ok(matchedBy.has(r.number), `rule ${r.number} never matched`);
});
