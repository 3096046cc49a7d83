import { defineCommand } from "../../command.js";
import { write } from "../../context.js";
import { UsageError, shown } from "../../../core/errors.js";
import {
  parseTextPacket,
  parseV4,
  PacketSyntaxError,
  type Packet,
} from "../../../firewall/ipf/eval/packet.js";
import { formatTrace, parseFriendlyPacket, tracePacket } from "../../../firewall/ipf/eval/trace.js";
import { hostUsesPf } from "../../../ops/pf-rules.js";
import { loadIpfRuleFiles } from "../../../ops/ipf-rules.js";
import { runPfTrace } from "./pf.js";

/** Message codes of this command (QJ45xx: IPFilter evaluation). */
const E = {
  badPacket: "QJ4501",
  twoPacketForms: "QJ4502",
  noPacket: "QJ4503",
  badIfAddr: "QJ4504",
} as const;

function parseIfAddrs(values: readonly string[]): Map<string, bigint> {
  const map = new Map<string, bigint>();
  for (const v of values) {
    const m = /^([A-Za-z][A-Za-z0-9_.]{0,14})=(.+)$/.exec(v);
    const addr = m ? parseV4(m[2] ?? "") : undefined;
    if (!m || addr === undefined) {
      throw new UsageError(
        E.badIfAddr,
        `--if-addr wants IFACE=IPV4ADDRESS, got ${shown(v)}`,
        "Example: --if-addr em0=198.51.100.1",
      );
    }
    map.set(m[1] as string, addr);
  }
  return map;
}

export const fwTraceCommand = defineCommand({
  path: ["fw", "trace"],
  summary:
    "Explain one packet's path through the IPFilter or pf rules: NAT, each filter rule, the decision, the state entry.",
  usage: [
    "fw trace [--ipf file] [--nat file] [--if-addr iface=address ...] [--dst-ip address] [--flags FSRPAU] tcp|udp|icmp SRC[:PORT] to [DST]:PORT on IFACE [in|out]",
    "fw trace [options] tcp|udp|icmp SRC[:PORT] '->' [DST]:PORT on IFACE [in|out]",
    "fw trace [--ipf file] [--nat file] [--if-addr iface=address ...] --packet 'in on em0 tcp 1.1.1.1,40000 2.2.2.2,6188 S'",
    "fw trace --pf file [--anchor-file file] [--if-addr iface=address ...] [--flags FSRPAUEW] tcp|udp|icmp|icmp6 SRC[:PORT] to [DST]:PORT on IFACE [in|out]",
  ],
  details: `
Runs one packet through qjail's IPFilter evaluator in the order the kernel uses
(fil.c ipf_check): inbound packets are translated by ipnat (rdr, replies to map
sessions) before the filter rules see them; outbound packets are filtered first
and translated by map afterwards. It prints the NAT rule that translated the
packet with the addresses before and after, every filter rule considered with
"matches" or the reason it does not, the rule that decided (the first 'quick'
match, else the last match), and the state entry a 'keep state' rule creates.

Rules come from --ipf and --nat, by default the host config's ipf_rules and
ipnat_rules (/etc/ipf.rules, /etc/ipnat.rules). A missing host file counts as
empty; a file named with --ipf or --nat must exist.
Nothing is loaded into the kernel and nothing is changed.

The packet is given in one of two forms. The friendly form names the protocol,
SOURCE:PORT to DEST:PORT and the interface. '->' works in place of 'to', but
quote it: a shell reads an unquoted > as a redirection into a file. A
destination written ':PORT' means the interface's own address, taken from
--dst-ip or --if-addr IFACE=ADDRESS (the same address '0/32' in a map rule
stands for). TCP packets carry SYN unless --flags says otherwise; the
direction is 'in' unless 'out' is given.
The second form is ipftest(1)'s text input line, given with --packet.

pf (--pf FILE, or by default when the host config says firewall="pf": the
host's pf.conf and the rules qjail loaded into its anchor): the packet goes
through pf's order: rdr then binat for inbound packets, binat then nat for
outbound ones (the first match translates); then the filter rules on the
translated packet (the last match decides unless a quick rule matches;
anchors, tables and 'set skip' as pf has them); the state entry a pass
creates. Interface addresses ((em0), em0 as an address, a ':PORT'
destination) come from --if-addr, IPv4 or IPv6; IPv6 endpoints are written
[ADDRESS]:PORT.

With --json the trace is printed as one JSON document.`,
  examples: [
    {
      command: "qjail fw trace --if-addr em0=198.51.100.1 tcp 203.0.113.9:40000 to :6188 on em0",
      description: "is a connection to the public port 6188 redirected to the jail and let in?",
    },
    {
      command:
        "qjail fw trace --ipf ./ipf.rules --nat ./ipnat.rules --packet 'in on em0 tcp 1.1.1.1,40000 198.51.100.1,6122 S'",
      description: "trace an ipftest-style packet through rule files under test",
    },
    {
      command:
        "qjail fw trace --pf ./pf.conf --if-addr em0=198.51.100.7 tcp 203.0.113.9:40000 to :6188 on em0",
      description: "the same question on a pf host",
    },
  ],
  options: {
    ipf: { type: "string" },
    nat: { type: "string" },
    packet: { type: "string" },
    "if-addr": { type: "string", multiple: true },
    "dst-ip": { type: "string" },
    flags: { type: "string" },
    pf: { type: "string" },
    "anchor-file": { type: "string" },
  },
  json: true,
  async run(inv) {
    const { ctx, values, positionals, global } = inv;
    if (
      values.pf !== undefined ||
      (values.ipf === undefined && values.nat === undefined && (await hostUsesPf(global)))
    )
      return runPfTrace(inv, {
        pf: values.pf as string | undefined,
        anchorFile: values["anchor-file"] as string | undefined,
        packet: values.packet as string | undefined,
        ifAddrs: (values["if-addr"] as string[] | undefined) ?? [],
        dstIp: values["dst-ip"] as string | undefined,
        flags: values.flags as string | undefined,
      });
    // 1. validate input
    const interfaces = parseIfAddrs((values["if-addr"] as string[] | undefined) ?? []);
    const packetText = values.packet as string | undefined;
    if (packetText !== undefined && positionals.length > 0) {
      throw new UsageError(
        E.twoPacketForms,
        `give the packet once: --packet ${shown(packetText)} and ${shown(positionals.join(" "))}`,
        "Use either --packet or the friendly form, not both.",
      );
    }
    if (packetText === undefined && positionals.length === 0) {
      throw new UsageError(
        E.noPacket,
        "no packet to trace",
        "Example: qjail fw trace --if-addr em0=198.51.100.1 tcp 203.0.113.9:40000 to :6188 on em0",
      );
    }
    const dstIp = values["dst-ip"] as string | undefined;
    if (dstIp !== undefined && parseV4(dstIp) === undefined) {
      throw new UsageError(
        E.badPacket,
        `--dst-ip must be an IPv4 address, got ${shown(dstIp)}`,
        "Example: --dst-ip 198.51.100.1",
      );
    }
    let packet: Packet;
    try {
      if (packetText !== undefined) {
        const p = parseTextPacket(packetText);
        if (!p) throw new PacketSyntaxError("the packet line is empty");
        packet = p;
      } else {
        const flags = values.flags as string | undefined;
        packet = parseFriendlyPacket(positionals, {
          interfaces,
          ...(dstIp !== undefined ? { dstIp } : {}),
          ...(flags !== undefined ? { flags } : {}),
        });
      }
    } catch (e) {
      if (!(e instanceof PacketSyntaxError)) throw e;
      const given = packetText ?? positionals.join(" ");
      throw new UsageError(
        E.badPacket,
        `cannot read the packet ${shown(given)}: ${e.message}`,
        "Friendly form: tcp SRC:PORT to [DST]:PORT on IFACE [in|out]; ipftest form: --packet 'in on em0 tcp 1.1.1.1,1 2.2.2.2,80 S'.",
      );
    }
    // 2. load state: the rule files
    const files = await loadIpfRuleFiles(global, ctx.cwd, {
      ipf: values.ipf as string | undefined,
      nat: values.nat as string | undefined,
    });
    // 3. the pure part: evaluate and describe
    const report = tracePacket(
      {
        ipf: files.ipf,
        nat: files.nat,
        interfaces,
      },
      packet,
    );
    // 4. report
    if (global.json) {
      write(ctx.stdout, JSON.stringify(report));
    } else {
      write(ctx.stdout, formatTrace(report));
    }
    return 0;
  },
});
