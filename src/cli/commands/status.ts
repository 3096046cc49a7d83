import { defineCommand } from "../command.js";
import { write } from "../context.js";
import { UsageError, shown } from "../../core/errors.js";
import { buildStatus, formatStatus } from "../../core/status.js";
import { gatherFacts } from "../../ops/gather-facts.js";

export const statusCommand = defineCommand({
  path: ["status"],
  summary: "Show each jail's state, addresses, listening sockets and exposures with rule hit counts.",
  usage: ["status [--json] [jailname]"],
  details: `
The page's host debug commands in one view. Per jail: running or stopped, JID,
addresses, the sockets it listens on (sockstat -46l -j JID on FreeBSD; ss in the
jail's network namespace on Linux), and each exposure with the packets counted by
the rule that owns it. On IPFilter the count is taken from the pass rule that
admits the jail's address and port (ipfstat -hni), falling back to the rdr's count
(ipnat -lhd): as qjail-howto(8) notes, the rule on the public port never counts a
forwarded packet. On nftables it is the sum of the exposure's DNAT rule
counters (from ext_if, other jails and the host): NAT sees a connection's first
packet only, so the count is connections. On pf the pass rule's packets in
qjail's anchor. "NOTHING LISTENS" marks an exposure whose jail
port has no listener. Read-only; safe at any time.`,
  examples: [
    { command: "qjail status", description: "every jail, with exposures and hit counts" },
    { command: "qjail status www --json", description: "one jail as a JSON document" },
  ],
  options: {},
  json: true,
  async run({ ctx, positionals, global }) {
    if (positionals.length > 1) {
      throw new UsageError(
        "QJ5201",
        `status takes at most one jail name, got ${positionals.map(shown).join(" ")}`,
        "Run 'qjail status' for every jail or 'qjail status NAME' for one.",
      );
    }
    const only = positionals[0];
    const facts = await gatherFacts(global, { stderr: ctx.stderr, env: ctx.env });
    if (only !== undefined && !facts.jails.some((j) => j.name === only)) {
      throw new UsageError("QJ5202", `no jail named ${shown(only)}`, "Run 'qjail list' to see the jails.");
    }
    const doc = buildStatus(facts, only);
    if (global.json) write(ctx.stdout, JSON.stringify(doc));
    else write(ctx.stdout, formatStatus(doc));
    return 0;
  },
});
