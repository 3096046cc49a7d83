/**
 * ipftest(1) emulation: load rules, replay packets, print what ipftest -b
 * prints (verdicts, or translated packets under -N), then the -D dump.
 *
 * The rule text is parsed and printed by the language module
 * (src/firewall/ipf/index.ts); it is passed in as {@link RuleLanguage} so this
 * file stays independent of how the parser reports errors.
 */
import type { FilterRule, InlinePool, NatRule } from "../ast.js";
import type { AddressTable, DestinationList } from "./address.js";
import { IpfEngine } from "./engine.js";
import { clonePacket, formatPacketHex, formatPacketLine, packetBytes, type Packet } from "./packet.js";
import type { StateEntry } from "./state.js";
import type { GroupMap } from "./pools.js";
import { formatAddr, IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP } from "./packet.js";

/** Parse and print functions of the rule languages, supplied by the caller. */
export interface RuleLanguage {
  /** Parse ipf.conf text; throws or returns errors for text ipf would refuse. */
  /** `family` is what `ipftest -6` imposes on every rule (ipf_y.y newrule). */
  parseIpf(text: string, family?: "inet" | "inet6"): { rules: FilterRule[]; errors: string[] };
  parseIpnat(text: string): { rules: NatRule[]; errors: string[] };
  /**
   * One rule in the canonical form ipftest -D prints; `inlineNumbers` gives
   * the numbers inline `pool=(…)`/`hash=(…)` tables got when loaded.
   */
  printFilterRule(rule: FilterRule, inlineNumbers?: ReadonlyMap<InlinePool, string>): string;
  printNatRule(rule: NatRule): string;
}

export interface IpftestOptions {
  /** -r: ipf rules (already parsed). */
  filterRules?: readonly FilterRule[];
  /** -N: NAT rules; also switches output to translated packets (OPT_NAT). */
  natRules?: readonly NatRule[];
  /** -P: lookup tables, by `pool/NAME` / `hash/NAME` key, and their dump lines. */
  tables?: ReadonlyMap<string, AddressTable>;
  dstlists?: ReadonlyMap<string, DestinationList>;
  groupMaps?: ReadonlyMap<string, GroupMap>;
  poolDump?: readonly string[];
  hashDump?: readonly string[];
  /** -T name=value. */
  tunables?: ReadonlyMap<string, number>;
  /** -D. */
  dump?: boolean;
  /** -x: print packets as hex bytes (NAT mode). */
  hexOutput?: boolean;
  /**
   * -b: brief output, only the verdict (or, with NAT, the packet). Without it
   * ipftest prints the verdict, the packet and a line of dashes. Default true
   * (every test driver runs with -b).
   */
  brief?: boolean;
  /** -S ADDR: a packet whose IPv4 source is ADDR is inbound, every other IPv4 packet outbound. */
  sourceAddress?: bigint;
  language: Pick<RuleLanguage, "printFilterRule" | "printNatRule">;
}

/** Run one ipftest invocation over the packets; returns stdout. */
export function runIpftest(packets: readonly Packet[], opts: IpftestOptions): string {
  const natMode = opts.natRules !== undefined;
  // Interfaces learn addresses from the input as it is read (`[out,le0=192.168.1.188]`).
  const interfaces = new Map<string, bigint>();
  const engine = new IpfEngine(opts.filterRules ?? [], opts.natRules ?? [], {
    interfaces,
    ...(opts.tables ? { tables: opts.tables } : {}),
    ...(opts.dstlists ? { dstlists: opts.dstlists } : {}),
    ...(opts.groupMaps ? { groupMaps: opts.groupMaps } : {}),
    ...(opts.tunables ? { tunables: opts.tunables } : {}),
  });
  let out = "";
  // update_ipid=1: fil.c ipf_check gives every IPv4 packet it passes out
  // (ipf_updateipid, after ipf_nat_checkout unless NAT dropped it) a fresh IP
  // id, counting from 0 - translated or not.
  let nextId = 0;
  const renumber = opts.tunables?.get("update_ipid") === 1;
  const brief = opts.brief !== false;
  for (const given of packets) {
    let original = given;
    if (opts.sourceAddress !== undefined && given.family === 4) {
      const dir = given.src === opts.sourceAddress ? "in" : "out";
      if (dir !== given.dir) original = { ...given, dir };
    }
    const p = clonePacket(original);
    if (p.ifAddress !== undefined) interfaces.set(p.ifname, p.ifAddress);
    const r = engine.process(p);
    const passedOut = p.dir === "out" && (r.verdict === "pass" || r.verdict === "nomatch");
    if (renumber && p.family === 4 && passedOut && !r.natRejected && !r.routed) p.id = nextId++ & 0xffff;
    const natRule = (r.natOut ?? r.natIn)?.session?.rule.ast;
    const show = (q: Packet): string => {
      const bytes = opts.hexOutput
        ? packetBytes(q, original, natRule?.options.mssclamp ?? undefined)
        : undefined;
      return bytes ? formatPacketHex(bytes) : `${formatPacketLine(q)}\n`;
    };
    // A routed packet left through ipf_fastroute, which prints it as it goes; the caller's mbuf is gone.
    if (r.routed) out += show(r.routed);
    if (!brief) {
      // ipftest.c: the verdict word (not under -N), a space, printpacket, 14 dashes, a newline.
      out += `${natMode ? "" : r.verdict} ${show(r.routed ?? p)}--------------\n`;
    } else if (r.routed && natMode) out += "0\n";
    else if (!natMode) out += `${r.verdict}\n`;
    else if (r.verdict === "bad-packet") out += "1\n";
    else if (r.natRejected) out += `${p.family === 4 ? 15 : 16}\n`;
    else if (r.verdict === "pass" || r.verdict === "nomatch") out += show(p);
    else out += "0\n";
    engine.endOfPacket();
  }
  if (opts.dump) out += dump(engine, opts);
  return out;
}

/** Anonymous tables ipf creates for inline `hash=(…)` lists, numbered from 2^31+1 in load order. */
function anonymousTables(rules: readonly FilterRule[]): {
  numbers: Map<InlinePool, string>;
  hashDump: string[];
} {
  const numbers = new Map<InlinePool, string>();
  const hashDump: string[] = [];
  let next = 2147483649;
  for (const r of rules) {
    for (const a of [r.from.address, r.to.address]) {
      if (a.kind !== "inline-pool" || a.table !== "hash") continue;
      const number = String(next++);
      numbers.set(a, number);
      const entries = a.entries
        .map((e) => `${e.negated ? "! " : ""}${e.address.address}/${e.address.prefix ?? e.address.mask}; `)
        .join("");
      hashDump.unshift(
        "# 'anonymous' table refs 2",
        `table role=ipf type=hash number=${number} size=${a.entries.length + 1}`,
        `\t{ ${entries}};`,
      );
    }
  }
  return { numbers, hashDump };
}

function dump(engine: IpfEngine, opts: IpftestOptions): string {
  const lines: string[] = [];
  const anonymous = anonymousTables(engine.filters.rules.map((r) => r.ast));
  lines.push("List of active MAP/Redirect filters:");
  for (const r of engine.nat.rules) lines.push(opts.language.printNatRule(r.ast));
  lines.push("");
  lines.push("List of active sessions:");
  lines.push(...engine.nat.dumpSessions());
  lines.push("");
  lines.push("Hostmap table:");
  lines.push(...engine.nat.dumpHostmap());
  lines.push("List of active state sessions:");
  for (const e of engine.state.entries) lines.push(...dumpState(e));
  lines.push("List of configured pools");
  lines.push(...(opts.poolDump ?? []));
  lines.push("List of configured hash tables");
  lines.push(...anonymous.hashDump, ...(opts.hashDump ?? []));
  lines.push("List of groups configured (set 0)");
  lines.push(...dumpGroups(engine, opts, anonymous.numbers));
  lines.push("List of groups configured (set 1)");
  const rulesOf = (dir: "in" | "out", accounting: boolean): string[] =>
    engine.filters.rules
      .filter((r) => r.dir === dir && (r.ast.action.kind === "count") === accounting && r.ast.group === null)
      .map((r) => `${r.hits} ${opts.language.printFilterRule(r.ast, anonymous.numbers)}`);
  for (const set of [0, 1]) {
    for (const dir of ["in", "out"] as const) {
      lines.push(`Rules configured (set ${set}, ${dir})`);
      if (set === 0) lines.push(...rulesOf(dir, false));
    }
  }
  // ipftest's accounting listing swaps the set and direction indexes: the
  // "(set 1, in)" heading shows set 0's outbound rules (as expected/f18 records).
  for (const set of [0, 1]) {
    for (const dir of ["in", "out"] as const) {
      lines.push(`Accounting rules configured (set ${set}, ${dir})`);
      if (dir === "in") lines.push(...rulesOf(set === 0 ? "in" : "out", true));
    }
  }
  return lines.join("\n") + "\n";
}

/**
 * Rule groups with their rules and hit counts. "Ref" counts the group's rules
 * plus the group-map entries and head rules that send packets to it; the flags
 * are the direction (0x8000 in, 0x4000 out).
 */
function dumpGroups(
  engine: IpfEngine,
  opts: IpftestOptions,
  numbers: ReadonlyMap<InlinePool, string>,
): string[] {
  const lines: string[] = [];
  const order: string[] = [];
  for (const r of engine.filters.rules) {
    if (r.ast.group === null || r.ast.action.kind === "count") continue;
    const key = `${r.dir}:${r.ast.group}`;
    if (!order.includes(key)) order.push(key);
  }
  for (const key of order) {
    const [dir, name] = key.split(":") as [string, string];
    const members = engine.filters.groups.get(key) ?? [];
    let refs = members.length;
    for (const m of opts.groupMaps?.values() ?? [])
      if (m.dir === dir) refs += m.entries.filter((e) => e.group === name).length;
    refs += engine.filters.rules.filter((r) => r.dir === dir && r.ast.head === name).length;
    lines.push(`Dev.0. Group ${name} Ref ${refs} Flags 0x${dir === "in" ? "8000" : "4000"}`);
    for (const r of members) lines.push(`${r.hits} ${opts.language.printFilterRule(r.ast, numbers)}`);
  }
  return lines;
}

/** ip_state.c ipf_state_print, for the entries ipftest leaves behind. */
function dumpState(e: StateEntry): string[] {
  const ports = e.proto === IPPROTO_TCP || e.proto === IPPROTO_UDP;
  const name =
    e.proto === IPPROTO_TCP
      ? "tcp"
      : e.proto === IPPROTO_UDP
        ? "udp"
        : e.proto === IPPROTO_ICMP
          ? "icmp"
          : String(e.proto);
  const end = (a: bigint, port: number): string => `${formatAddr(e.family, a)}${ports ? `,${port}` : ""}`;
  let head = `${e.family}:${name} src:${end(e.src, e.sport)} dst:${end(e.dst, e.dport)}`;
  const lines: string[] = [];
  if (e.proto === IPPROTO_TCP) {
    head += ` state:${e.tcpState[0]}/${e.tcpState[1]} 864000`;
    lines.push(head);
  } else {
    const age = e.proto === IPPROTO_UDP ? (e.sawReply ? 24 : 240) : e.sawReply ? 12 : 120;
    lines.push(`${head} ${age}`);
  }
  const [fi, fo, ri, ro] = e.pkts;
  const [bfi, bfo, bri, bro] = e.bytes;
  lines.push(`\tFWD: IN pkts ${fi} bytes ${bfi} OUT pkts ${fo} bytes ${bfo}`);
  lines.push(`\tREV: IN pkts ${ri} bytes ${bri} OUT pkts ${ro} bytes ${bro}`);
  const act = e.verdict === "pass" ? 2 : 1;
  const flags = 0x2008000 | (e.dir === "in" ? 0x400 : 0x800) | act;
  lines.push(
    `\ttag 0 pass 0x${flags.toString(16)} = ${e.verdict === "pass" ? "pass" : "block"} ${e.dir} keep state`,
  );
  const [a, b, c, d] = e.ifnames;
  lines.push(`\tinterfaces: in X[${a}],X[${b}] out X[${c}],X[${d}]`);
  lines.push("\tSync status: not synchronized");
  return lines;
}
