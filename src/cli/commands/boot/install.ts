import { defineCommand, refuseOperands } from "../../command.js";
import { write } from "../../context.js";
import { physical } from "../../../core/paths.js";
import { formatPlan } from "../../../core/plan.js";
import { installBootFiles } from "../../../ops/boot.js";

export const bootInstallCommand = defineCommand({
  path: ["boot", "install"],
  summary: "Install the boot files: rc.d scripts on FreeBSD, systemd units on Linux.",
  usage: ["boot install [--force]"],
  details: `
Copies the start-up files shipped in qjail's package to where the init system
reads them, naming the installed qjail command in them:

  FreeBSD: /usr/local/etc/rc.d/qjail and /usr/local/etc/rc.d/qjail_watch
  Linux:   /etc/systemd/system/qjail.service and qjail-watch.service
           (then systemctl daemon-reload)

It does not enable them; the last lines say how (sysrc qjail_enable=YES, or
systemctl enable qjail.service). At boot, the qjail script or unit runs
'qjail boot start': the firewall rules are loaded first, then every jail of
every zone is started, except norun and manual (.man) ones.

Run it again after upgrading qjail: files it wrote before are replaced, files
already up to date are left alone. A file at the same place that qjail did not
write is refused unless --force. --dry-run prints the files.`,
  examples: [
    { command: "qjail boot install", description: "install the rc.d scripts or systemd units" },
    { command: "qjail boot install --dry-run", description: "show the files and where they go" },
  ],
  options: { force: { type: "boolean" } },
  json: true,
  mutates: true,
  async run({ ctx, values, positionals, global }) {
    refuseOperands(positionals, "boot install", "QJ1802", "Run 'qjail boot install'.");
    const { plan, init, program } = await installBootFiles(global, {
      force: values.force === true,
      dryRun: global.dryRun,
    });
    if (global.dryRun) write(global.json ? ctx.stderr : ctx.stdout, formatPlan(plan));
    else for (const m of plan.messages ?? []) write(global.json ? ctx.stderr : ctx.stdout, m);
    if (global.json)
      write(
        ctx.stdout,
        JSON.stringify({
          init,
          program,
          dryRun: global.dryRun,
          written: plan.steps.flatMap((s) => (s.kind === "writeFile" ? [physical("/", s.path)] : [])),
        }),
      );
    return 0;
  },
});
