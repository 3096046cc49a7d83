/**
 * The evaluator's per-packet path (rule lists compiled once, IPv4 as 32-bit
 * numbers, rules indexed by the host they require, NAT rules indexed by
 * port, hashed state and session tables) against its explaining path (the
 * one `fw trace` uses: every rule looked at in order, with reasons). Both
 * must decide every packet the same way — verdict, deciding rule, the packet
 * as NAT leaves it, state created — on IPFilter's own regression rules and
 * packets (../shared/corpus/ipfilter, read at run time) and on the bench's
 * many-jail rule set.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { regressionCases, skipWithoutCorpus } from "./regression-cases.js";
import { parseIpf, parseIpnat } from "../../../src/firewall/ipf/index.js";
import { IpfEngine } from "../../../src/firewall/ipf/eval/engine.js";
import {
  clonePacket,
  formatPacketLine,
  parseV4,
  type Packet,
} from "../../../src/firewall/ipf/eval/packet.js";
import type { FilterRule, NatRule } from "../../../src/firewall/ipf/ast.js";
import { generatePackets, generateRules } from "../../../bench/ipf-eval.bench.js";

const skip = skipWithoutCorpus;

/** What one packet came to, in a form two runs can be compared by. */
function outcomeKey(e: IpfEngine, p: Packet): string {
  const o = e.process(p);
  e.endOfPacket();
  const state = o.trace?.stateCreated ?? o.trace?.stateMatched?.entry;
  return [
    o.verdict,
    o.decidedBy?.number ?? "-",
    o.natRejected,
    formatPacketLine(o.packet),
    o.routed ? formatPacketLine(o.routed) : "-",
    state ? `${state.rule.number}` : "",
  ].join(" | ");
}

/** Run the packets through a fast and an explaining engine; return the first difference. */
function compareEngines(
  ipf: readonly FilterRule[],
  nat: readonly NatRule[],
  packets: readonly Packet[],
  interfaces = new Map<string, bigint>(),
): string | undefined {
  const fast = new IpfEngine(ipf, nat, { interfaces });
  const slow = new IpfEngine(ipf, nat, { interfaces, trace: true });
  for (const [i, p] of packets.entries()) {
    const a = outcomeKey(fast, clonePacket(p));
    // The explaining engine's outcome has a trace; the state part is read from it, so
    // the fast engine's state is checked through its table below instead.
    const b = outcomeKey(slow, clonePacket(p));
    const strip = (k: string): string => k.slice(0, k.lastIndexOf(" | "));
    if (strip(a) !== strip(b)) return `packet ${i + 1} (${formatPacketLine(p)}):\n  fast: ${a}\n  slow: ${b}`;
  }
  const dump = (e: IpfEngine): string =>
    JSON.stringify({
      hits: e.filters.rules.map((r) => r.hits),
      nat: e.nat.rules.map((r) => r.hits),
      state: e.state.entries.map((s) => [s.rule.number, s.pkts, s.tcpState]),
      sessions: e.nat.sessions.map((s) => [s.rule.number, s.original, s.translated].map(String)),
    });
  const [fa, sl] = [dump(fast), dump(slow)];
  return fa === sl ? undefined : `hit counters, state or sessions differ:\n  fast: ${fa}\n  slow: ${sl}`;
}

test("fast path = explaining path on IPFilter's regression rules and packets", { skip }, () => {
  let compared = 0;
  for (const { name, packets, filter, nat } of regressionCases()) {
    // Whole files (rule interplay: quick, groups, skip, state) and each rule alone, as the per-line drivers run them.
    const sets: [FilterRule[], NatRule[]][] = [[filter ?? [], nat ?? []]];
    for (const r of filter ?? []) sets.push([[r], nat ?? []]);
    for (const r of nat ?? []) sets.push([filter ?? [], [r]]);
    for (const [fr, nr] of sets) {
      if (fr.length === 0 && nr.length === 0) continue;
      const diff = compareEngines(fr, nr, packets);
      assert.equal(diff, undefined, `${name}: ${diff}`);
      compared++;
    }
  }
  assert.ok(compared >= 100, `only ${compared} rule sets compared`);
});

test("fast path = explaining path on the bench's 100- and 1,000-rule sets", () => {
  for (const n of [100, 1000]) {
    const { ipf, ipnat, jails } = generateRules(n);
    const packets = generatePackets(jails, 2000);
    const interfaces = new Map([["em0", parseV4("198.51.100.1") as bigint]]);
    const diff = compareEngines(parseIpf(ipf).rules, parseIpnat(ipnat).rules, packets, interfaces);
    assert.equal(diff, undefined, `${n} rules: ${diff}`);
  }
});
