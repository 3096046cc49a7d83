import { existsSync } from "node:fs";
import { physical } from "../../core/paths.js";
import { defineCommand } from "../command.js";
import { write } from "../context.js";
import { formatListTable, listDocument, listRows } from "../../core/list.js";
import { assertZoneKnown, readJails, selectJails } from "../../store/jails.js";
import { liveJailsOf } from "../../platform/live-jails.js";
import { zoneLayout } from "../zone.js";

export const listCommand = defineCommand({
  path: ["list"],
  summary: "Show the jails with their state, JID, interface and addresses (qjail list).",
  usage: ["list [-z zone] [jailname... | prefix=] [--json]"],
  details: `
Prints qjail 5.x's table, one row per jail:

  STA JID  NIC IP              Jailname

STA is D (directory jail) or I (image jail), then R (running) or S
(stopped), then N for a norun jail or M for a manual-start jail. JID is N/A
when stopped. NIC is the alias interface (for a vnet jail, the bridged NIC).
IP is the first address; every further IPv4 and IPv6 address gets a line of
its own; "none" when the jail has none.

Running state comes from one query of the kernel's jail list, not one per
jail, and the records are read in parallel, so large hosts list quickly.

--json prints one document instead:
  {"__version":"1","qjail-information":{"jail":[{"name","status","state","type",
   "jid","interface","ipv4_addrs","ipv6_addrs","vnet","path","zone"}]}}
status is normal, norun or man; state running or stopped; type directory or
image; jid and vnet are null when not applicable. New fields may be added;
existing ones keep their meaning.`,
  examples: [
    { command: "qjail list", description: "every jail of the default zone" },
    { command: "qjail list web=", description: "jails whose names start with web" },
    { command: "qjail list -z lab --json", description: "zone lab as JSON" },
  ],
  options: {
    zone: { type: "string", short: "z" },
  },
  json: true,
  async run(inv) {
    const layout = zoneLayout(inv.values.zone);
    // Only the running jails are asked of the platform: list loads no backend (src/platform/live-jails.ts).
    const root = inv.global.root;
    await assertZoneKnown(root, layout);
    const [{ jails, problems }, live] = await Promise.all([
      readJails(root, layout),
      liveJailsOf(inv.global, { stderr: inv.ctx.stderr, env: inv.ctx.env }),
    ]);
    const rows = listRows(selectJails(jails, inv.positionals), live);
    for (const p of problems) write(inv.ctx.stderr, `Warning: ${p.file}: ${p.message}`);
    // An empty table on a host where qjail was never installed says nothing useful (P17).
    if (jails.length === 0 && !existsSync(physical(root, layout.sharedfs)))
      write(
        inv.ctx.stderr,
        `qjail: qjail is not installed here (no ${layout.sharedfs}): run 'qjail install${layout.zone ? ` -z ${layout.zone}` : ""}' first`,
      );
    if (inv.global.json) write(inv.ctx.stdout, JSON.stringify(listDocument(rows)));
    else write(inv.ctx.stdout, formatListTable(rows, layout.zone));
    return 0;
  },
});
