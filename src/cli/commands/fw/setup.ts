import { defineCommand, refuseOperands } from "../../command.js";
import { write } from "../../context.js";
import { formatPlan } from "../../../core/plan.js";
import { setupFirewall } from "../../../ops/fw-setup.js";

export const fwSetupCommand = defineCommand({
  path: ["fw", "setup"],
  summary: "Show (or with --write, make) the one-time host changes qjail's firewall rules need.",
  usage: ["fw setup [--write]"],
  details: `
Prints what the host needs once, for the firewall in /usr/local/etc/qjail.host:
pf: the three anchor hooks (nat-anchor and rdr-anchor "qjail/*" in the
translation section, anchor "qjail/*" at the end of the filter rules);
IPFilter: qjail's marked section in ipnat.rules and ipf.rules (qjail only
ever rewrites the lines between its markers; move them where you want them,
e.g. after your quick block rules); ipfw: the rule numbers and sets qjail
uses, and net.inet.ip.fw.one_pass=0 (with the default 1 the nat rule accepts
every inbound packet); nftables: nothing, qjail uses its own table inet qjail.

With --write, qjail makes those changes itself: the admin's text outside the
inserted lines is kept byte for byte, and so is the file's mode; hooks and
markers already present are not added twice. pf: the new pf.conf is checked
with 'pfctl -nf' before it replaces the old one (refused, file unchanged, if
pfctl rejects it) and loaded with 'pfctl -f', so the running ruleset calls
qjail's anchor. ipfw: one_pass=0 is set now with sysctl and at boot in
/etc/sysctl.conf. It also writes /usr/local/etc/qjail.host with the detected
settings when the file does not exist yet. Under --dry-run it prints every
step instead, commands included; under --root the commands are not run.`,
  examples: [
    { command: "qjail fw setup", description: "what to add to pf.conf / ipf.rules" },
    { command: "qjail fw setup --write", description: "add it, keeping everything else in the files" },
  ],
  options: { write: { type: "boolean" } },
  json: true,
  mutates: (v) => v.write === true,
  async run(inv) {
    refuseOperands(
      inv.positionals,
      "fw setup",
      "QJ3019",
      "Run 'qjail fw setup' or 'qjail fw setup --write'.",
    );
    const { plan, report, warnings } = await setupFirewall(
      inv.global,
      { stderr: inv.ctx.stderr, env: inv.ctx.env },
      { write: inv.values.write === true },
    );
    for (const w of warnings) write(inv.ctx.stderr, `qjail: warning: ${w}`);
    const { advice } = report;
    const steps = plan.steps;
    if (inv.global.json) write(inv.ctx.stdout, JSON.stringify(report));
    else {
      write(inv.ctx.stdout, advice.join("\n"));
      if (inv.global.dryRun || inv.values.write !== true)
        write(
          inv.ctx.stdout,
          steps.length > 0
            ? `\n${inv.values.write === true ? "Would write" : "With --write, qjail would write"}:\n${formatPlan(plan)}`
            : "\nNothing to write: the host is set up.",
        );
      else {
        const written = steps.flatMap((s) =>
          s.kind === "writeFile" && !s.path.endsWith(".qjail-new")
            ? [s.path]
            : s.kind === "rename"
              ? [s.to]
              : [],
        );
        write(
          inv.ctx.stdout,
          written.length > 0 ? `Wrote ${written.join(", ")}` : "Nothing to write: the host is set up.",
        );
        for (const n of report.notes) write(inv.ctx.stdout, n);
      }
    }
    return 0;
  },
});
