/**
 * ipftest(1) as a tool: its options (getopt "6bCdDF:i:I:l:N:P:or:RS:T:vxX"),
 * what it loads and in which order, and byte for byte what it prints on
 * stdout — built on the language module's parsers and the evaluator. The CLI
 * (`qjail fw ipftest`) and the conformance runner both drive this function;
 * they only supply the files.
 *
 * What ipftest does, and so what this does:
 * - `-P` pool files, `-r` ipf rule files, `-N` ipnat rule files are loaded
 *   (`-` is standard input); a syntax error stops it with ipf's message and
 *   exit status 1; with nothing loaded it says "no rules loaded" (status 255);
 * - packets are read from `-i FILE` (default standard input) in the `-F`
 *   format (text, the default, or hex); a packet with no interface arrives on
 *   `-I IF` (default anon0); `-S ADDR` makes IPv4 packets from ADDR inbound
 *   and every other one outbound;
 * - per packet it prints the verdict (pass, block, nomatch, bad-packet,
 *   block return-rst, …), a space, the packet as printpacket() shows it and
 *   14 dashes; with `-b` only the verdict; with `-N` the packet as it leaves
 *   (after NAT) instead of the verdict, or the drop reason number under `-b`;
 *   `-x` prints packets as hex; `-D` dumps NAT rules, sessions, state, pools,
 *   groups and rules with hit counts after the input;
 * - `-T name=value` sets a tunable (state_max, update_ipid, …); `-6` reads
 *   every rule as IPv6 (ipf_y.y use_inet6); `-R`, `-v`, `-d`, `-C`, `-X` are
 *   accepted (qjail never resolves names; text input always gets checksums).
 *
 * Not provided, and refused with the reason: `-F pcap`, `-l logfile` (ipmon's
 * binary log), `-o` (per-interface output files).
 */
import {
  formatDiagnostic,
  parseIpf,
  parseIpnat,
  printIpfRule,
  printIpnatRule,
  type ParseOptions,
} from "./index.js";
import type { FilterRule, NatRule } from "./ast.js";
import { runIpftest } from "./eval/ipftest.js";
import { loadPools, PoolSyntaxError, type LoadedPools } from "./eval/pools.js";
import { PacketSyntaxError, parseV4, readHexPackets, readTextPackets } from "./eval/packet.js";

/** ipftest's options; lists keep the order they were given in. */
export interface IpftestArgs {
  /** -6 */
  v6?: boolean;
  /** -b */
  brief?: boolean;
  /** -C: recompute checksums of hex input. */
  checksums?: boolean;
  /** -d */
  debug?: boolean;
  /** -D */
  dump?: boolean;
  /** -F text|hex|pcap */
  format?: string;
  /** -i FILE (default "-", standard input) */
  input?: string;
  /** -I IF */
  iface?: string;
  /** -l FILE */
  log?: string;
  /** -N FILE … */
  nat?: string[];
  /** -o */
  saveOutput?: boolean;
  /** -P FILE … */
  pools?: string[];
  /** -r FILE … */
  rules?: string[];
  /** -R */
  noResolve?: boolean;
  /** -S ADDR */
  source?: string;
  /** -T name=value … */
  tunables?: string[];
  /** -v */
  verbose?: boolean;
  /** -x */
  hex?: boolean;
}

export interface IpftestIo {
  /** The contents of a file named on the command line; "-" is standard input. */
  read(path: string): string;
  /** Host names for rule files (`<thishost>`, /etc/hosts entries); qjail never asks DNS. */
  hosts?: Record<string, string>;
}

export interface IpftestRun {
  stdout: string;
  stderr: string;
  /** ipftest's exit status: 0, 1 (a rule file did not load), 255 (nothing loaded / bad input file). */
  status: number;
}

/** ipftest's stdout, exactly. Never throws for bad input: problems go to stderr with ipftest's status. */
export function ipftest(args: IpftestArgs, io: IpftestIo): IpftestRun {
  const fail = (stderr: string, status: number): IpftestRun => ({ stdout: "", stderr, status });
  if (args.format !== undefined && !/^(text|hex|pcap)$/i.test(args.format))
    return fail(`-F ${args.format}: the input format is text or hex\n`, 255);
  if (args.format?.toLowerCase() === "pcap")
    return fail("-F pcap: qjail reads text and hex packet files only\n", 255);
  if (args.log !== undefined) return fail("-l: qjail does not write ipmon log files\n", 255);
  if (args.saveOutput) return fail("-o: qjail does not write per-interface output files\n", 255);

  const tunables = new Map<string, number>();
  for (const t of args.tunables ?? []) {
    const m = /^([A-Za-z_][A-Za-z0-9_]*)=(\d+)$/.exec(t);
    if (!m) return fail(`-T ${t}: a tunable is NAME=NUMBER, e.g. -T state_max=3\n`, 255);
    tunables.set(m[1] as string, Number(m[2]));
  }
  let source: bigint | undefined;
  if (args.source !== undefined) {
    source = parseV4(args.source);
    if (source === undefined) return fail(`-S ${args.source}: not an IPv4 address\n`, 255);
  }

  let loaded = false;
  let pools: LoadedPools | undefined;
  for (const file of args.pools ?? []) {
    try {
      pools = loadPools(io.read(file), (p) => io.read(p));
    } catch (e) {
      if (e instanceof PoolSyntaxError) return fail(`${file}: ${e.message}\n`, 255);
      throw e;
    }
    loaded = true;
  }
  const parseOpts: ParseOptions = {
    ...(args.v6 ? { family: "inet6" } : {}),
    ...(io.hosts ? { hosts: io.hosts } : {}),
  };
  let filterRules: FilterRule[] | undefined;
  for (const file of args.rules ?? []) {
    const text = io.read(file);
    const r = parseIpf(text, parseOpts);
    const first = r.diagnostics.find((d) => d.severity === "error");
    if (first) return fail(formatDiagnostic(first, text, file === "-" ? "<stdin>" : file) + "\n", 1);
    filterRules = [...(filterRules ?? []), ...r.rules];
    loaded = true;
  }
  let natRules: NatRule[] | undefined;
  for (const file of args.nat ?? []) {
    const text = io.read(file);
    const r = parseIpnat(text, parseOpts);
    const first = r.diagnostics.find((d) => d.severity === "error");
    if (first) return fail(formatDiagnostic(first, text, file === "-" ? "<stdin>" : file) + "\n", 1);
    natRules = [...(natRules ?? []), ...r.rules];
    loaded = true;
  }
  if (!loaded) return fail("no rules loaded\n", 255);

  const input = args.input ?? "-";
  let packets;
  try {
    const text = io.read(input);
    const iface = args.iface ?? "anon0";
    packets =
      args.format?.toLowerCase() === "hex"
        ? readHexPackets(text, iface, args.checksums === true)
        : readTextPackets(text, iface);
  } catch (e) {
    if (e instanceof PacketSyntaxError) return fail(`${input}: ${e.message}\n`, 255);
    throw e;
  }
  const stdout = runIpftest(packets, {
    ...(filterRules ? { filterRules } : {}),
    ...(natRules ? { natRules } : {}),
    ...(pools
      ? {
          tables: pools.tables,
          dstlists: pools.dstlists,
          groupMaps: pools.groupMaps,
          poolDump: pools.poolDump,
          hashDump: pools.hashDump,
        }
      : {}),
    tunables,
    dump: args.dump === true,
    hexOutput: args.hex === true,
    brief: args.brief === true,
    ...(source !== undefined ? { sourceAddress: source } : {}),
    language: IPFTEST_PRINTERS,
  });
  return { stdout, stderr: "", status: 0 };
}

/** Every interface "exists" inside ipftest, so its -D listing has no `(!)` marks. */
const EVERY_INTERFACE: ReadonlySet<string> = new (class extends Set<string> {
  override has(): boolean {
    return true;
  }
})();

/** How ipftest -D prints rules: ipf's print without `(!)` and without ipf -v's `# count`. */
export const IPFTEST_PRINTERS = {
  printFilterRule: (rule: FilterRule, inlineNumbers?: ReadonlyMap<unknown, string>) =>
    printIpfRule(rule, {
      verbose: false,
      interfaces: EVERY_INTERFACE,
      inlinePoolTables: false,
      inlinePoolNumber: (pool) => inlineNumbers?.get(pool) ?? "0",
    }),
  printNatRule: (rule: NatRule) => printIpnatRule(rule),
};

/**
 * ipftest's command line as getopt reads it: `-Rbr rules -F hex -i input`.
 * Unknown letters and missing values are reported as ipftest's usage error.
 */
export function parseIpftestArgv(argv: readonly string[]): IpftestArgs | { error: string } {
  const withValue = new Set(["F", "i", "I", "l", "N", "P", "r", "S", "T"]);
  const flags = new Set(["6", "b", "C", "d", "D", "o", "R", "v", "x", "X"]);
  const a: IpftestArgs = {};
  const push = (k: "nat" | "pools" | "rules" | "tunables", v: string) => (a[k] = [...(a[k] ?? []), v]);
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (!/^-[^-]/.test(arg)) return { error: `unexpected argument ${JSON.stringify(arg)}` };
    for (let j = 1; j < arg.length; j++) {
      const c = arg[j] as string;
      if (flags.has(c)) {
        if (c === "6") a.v6 = true;
        else if (c === "b") a.brief = true;
        else if (c === "C") a.checksums = true;
        else if (c === "d") a.debug = true;
        else if (c === "D") a.dump = true;
        else if (c === "o") a.saveOutput = true;
        else if (c === "R") a.noResolve = true;
        else if (c === "v") a.verbose = true;
        else if (c === "x") a.hex = true;
        continue;
      }
      if (!withValue.has(c)) return { error: `unknown option -${c}` };
      let v = arg.slice(j + 1);
      if (v === "") {
        const next = argv[i + 1];
        if (next === undefined) return { error: `option -${c} needs a value` };
        v = next;
        i++;
      }
      if (c === "F") a.format = v;
      else if (c === "i") a.input = v;
      else if (c === "I") a.iface = v;
      else if (c === "l") a.log = v;
      else if (c === "N") push("nat", v);
      else if (c === "P") push("pools", v);
      else if (c === "r") push("rules", v);
      else if (c === "S") a.source = v;
      else if (c === "T") push("tunables", v);
      break;
    }
  }
  return a;
}
