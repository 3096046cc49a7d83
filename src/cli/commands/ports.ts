import { defineCommand, refuseOperands } from "../command.js";
import { write } from "../context.js";
import { formatRange } from "../../core/exposure.js";
import { portsReport } from "../../ops/ports.js";

export const portsCommand = defineCommand({
  path: ["ports"],
  summary:
    "List every forwarded public port: jail, protocol, sources, whether it is live, and hairpin support.",
  usage: ["ports [--json]"],
  details: `
One line per exposure: the public port or range (and the address or
interface it is bound to, "*" for every address of ext_if), protocol, the
jail and its port, the jail addresses it goes to, the allowed sources ("any"
without --from), and its state: "active" when the last verified firewall load
contained it, "pending" when it is recorded but not yet loaded (after
--no-load, under --root, or after a firewall restart: run 'qjail fw sync').

Below the table, for each firewall, whether a forwarded port also works from
the host itself and from other jails (hairpin), and if not, why. Damaged
lines in exposure files are listed, not fatal. --json prints one document
with the same fields.`,
  examples: [
    { command: "qjail ports", description: "what is forwarded where" },
    { command: "qjail ports --json", description: "the same for scripts" },
  ],
  options: {},
  json: true,
  async run(inv) {
    refuseOperands(inv.positionals, "ports", "QJ3019", "Run 'qjail ports' (it lists every exposure).");
    const report = await portsReport(inv.global, { stderr: inv.ctx.stderr, env: inv.ctx.env });
    const rows = report.exposures;
    if (inv.global.json) {
      write(
        inv.ctx.stdout,
        JSON.stringify({
          firewall: report.firewall,
          extIf: report.extIf,
          exposures: rows,
          hairpin: report.hairpin,
          problems: report.problems,
        }),
      );
      return 0;
    }
    const table: string[][] = [["PUBLIC", "PROTO", "ON", "JAIL:PORT", "TO", "SOURCES", "STATE"]];
    for (const r of rows) {
      table.push([
        formatRange(r.public),
        r.proto,
        r.on ?? "*",
        `${r.jail}:${formatRange(r.jailPort)}`,
        r.targets.join(",") || "-",
        r.sources.join(",") || "any",
        r.problem ? `${r.state} (${r.problem})` : r.state,
      ]);
    }
    const widths = table[0]!.map((_, c) => Math.max(...table.map((row) => (row[c] as string).length)));
    const out = table.map((row) =>
      row.map((cell, c) => (c === row.length - 1 ? cell : cell.padEnd(widths[c] as number))).join("  "),
    );
    if (rows.length === 0) out.push("(no exposures; add one with 'qjail expose JAIL tcp PUBLIC:JAILPORT')");
    // Only the firewall in use matters here; --json carries all four.
    const mine = report.hairpin[report.firewall];
    out.push(
      "",
      `firewall: ${report.firewall} on ${report.extIf}; hairpin (from the host and other jails): ${mine.works ? "yes" : "no"}`,
      `  ${mine.why}`,
    );
    for (const p of report.problems) out.push(`problem: ${p}`);
    write(inv.ctx.stdout, out.join("\n"));
    return 0;
  },
});
