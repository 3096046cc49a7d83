import { readFileSync, statSync } from "node:fs";
import { resolve } from "node:path";
import { defineCommand } from "../../command.js";
import { UsageError, shown } from "../../../core/errors.js";
import { ipftest, type IpftestArgs } from "../../../firewall/ipf/ipftest-tool.js";

/** Message codes of this command (QJ45xx: IPFilter evaluation). */
const E = { unreadable: "QJ4507", stdinTwice: "QJ4508" } as const;

export const fwIpftestCommand = defineCommand({
  path: ["fw", "ipftest"],
  summary: "ipftest(1): run packets through IPFilter rule files and print exactly what ipftest prints.",
  usage: [
    "fw ipftest [-6bCdDRvx] [-F text|hex] [-i file] [-I iface] [-S addr] [-T name=value] [-P poolfile] [-r ipffile] [-N natfile]",
  ],
  details: `
IPFilter's ipftest(1) for testing rule sets before loading them: the same
options, and on standard output byte for byte what ipftest 5.1.2 prints. Rules
are read with the grammar of ipf(8) and ipnat(8) and run through qjail's
evaluator (the one behind 'qjail fw trace'); nothing is loaded.

-r FILE loads ipf rules, -N FILE ipnat rules (which also switches the output
to the packets as they leave, after NAT), -P FILE an ippool configuration;
each may be given more than once, and '-' is standard input. Packets come from
-i FILE (default standard input) in the format of -F: text (the default: one
packet per line, 'in on em0 tcp 1.1.1.1,1025 2.2.2.2,80 S') or hex. A packet
without an interface arrives on -I IFACE (default anon0); -S ADDR makes IPv4
packets from ADDR inbound and all others outbound.

For each packet ipftest prints the verdict (pass, block, nomatch, bad-packet,
block return-rst, …), the packet and a line of dashes; -b prints the verdict
alone (with -N: the packet, or the number of the reason it was dropped); -x
prints packets in hex; -D dumps the NAT rules and sessions, the state table,
pools and the rules with their hit counts after the input. -T name=value sets
a tunable (state_max, update_ipid); -6 reads every rule as IPv6; -C computes
the IPv4 header checksum of hex input afresh. -R, -v, -d and -X are accepted;
qjail never resolves names. Not provided: -F pcap, -l (ipmon log files), -o.

Exit status 0; 1 when a rule file does not load (the first problem is printed
as ipf reports it, with its line and column); 255 when no rules were given or
the packet input cannot be read, as ipftest.`,
  examples: [
    {
      command: "qjail fw ipftest -r /etc/ipf.rules -N /etc/ipnat.rules -i packets.txt",
      description: "each packet with its verdict and how it leaves",
    },
    {
      command:
        "echo 'in on em0 tcp 198.51.100.7,40000 203.0.113.1,6188 S' | qjail fw ipftest -b -r ipf.rules -N ipnat.rules",
      description: "one packet from standard input, brief output",
    },
  ],
  options: {
    inet6: { type: "boolean", short: "6" },
    brief: { type: "boolean", short: "b" },
    checksums: { type: "boolean", short: "C" },
    debug: { type: "boolean", short: "d" },
    dump: { type: "boolean", short: "D" },
    format: { type: "string", short: "F" },
    input: { type: "string", short: "i" },
    interface: { type: "string", short: "I" },
    logfile: { type: "string", short: "l" },
    nat: { type: "string", short: "N", multiple: true },
    "save-output": { type: "boolean", short: "o" },
    pool: { type: "string", short: "P", multiple: true },
    rules: { type: "string", short: "r", multiple: true },
    "no-resolve": { type: "boolean", short: "R" },
    source: { type: "string", short: "S" },
    tunable: { type: "string", short: "T", multiple: true },
    verbose: { type: "boolean", short: "v" },
    hex: { type: "boolean", short: "x" },
    X: { type: "boolean", short: "X" },
  },
  json: false,
  async run(inv) {
    const { ctx } = inv;
    const v = inv.values;
    const str = (k: string) => (typeof v[k] === "string" ? (v[k] as string) : undefined);
    const list = (k: string) => (Array.isArray(v[k]) ? (v[k] as string[]) : []);
    if (inv.positionals.length > 0)
      throw new UsageError(
        "QJ1002",
        `qjail fw ipftest: unexpected argument ${shown(inv.positionals[0] ?? "")}`,
        "Packets come from -i FILE or standard input; rules from -r/-N/-P FILE.",
      );
    const args: IpftestArgs = {
      v6: v.inet6 === true,
      brief: v.brief === true,
      checksums: v.checksums === true,
      dump: v.dump === true,
      hex: v.hex === true,
      saveOutput: v["save-output"] === true,
      nat: list("nat"),
      pools: list("pool"),
      rules: list("rules"),
      tunables: list("tunable"),
    };
    for (const [k, key] of [
      ["format", "format"],
      ["input", "input"],
      ["interface", "iface"],
      ["logfile", "log"],
      ["source", "source"],
    ] as const) {
      const s = str(k);
      if (s !== undefined) args[key] = s;
    }
    const stdinUsers = [...list("rules"), ...list("nat"), ...list("pool"), args.input ?? "-"].filter(
      (f) => f === "-",
    );
    if (stdinUsers.length > 1)
      throw new UsageError(
        E.stdinTwice,
        "qjail fw ipftest: standard input ('-') can feed only one of -r, -N, -P and the packets",
        "Give the packets with -i FILE when the rules come from standard input.",
      );
    let stdin: string | undefined;
    const run = ipftest(args, {
      read: (path) => {
        if (path === "-") return (stdin ??= readFileSync(0, "utf8"));
        const full = resolve(ctx.cwd, path);
        try {
          if (!statSync(full).isFile() && path !== "/dev/null") throw new Error("not a regular file");
          return readFileSync(full, "utf8");
        } catch (e) {
          throw new UsageError(
            E.unreadable,
            `qjail fw ipftest: cannot read ${shown(path)}: ${(e as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : (e as Error).message}`,
            "Check the path given to -r, -N, -P or -i.",
          );
        }
      },
    });
    ctx.stdout.write(run.stdout);
    if (run.stderr !== "") ctx.stderr.write(run.stderr);
    return run.status;
  },
});
