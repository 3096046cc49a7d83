import { defineCommand } from "../command.js";
import { write } from "../context.js";
import { refuseOperands } from "../command.js";
import { validateZoneName } from "../../core/validate.js";
import { VERSION } from "../../version.js";

export const exportCommand = defineCommand({
  path: ["export"],
  summary: "Print the host (settings, jails, exposures) as a spec that 'qjail apply' reads back unchanged.",
  usage: ["export [-z zone] [--json]"],
  details: `
Prints the zone's jails as a version 1 host spec (YAML): each jail's
addresses, interface, state (running or stopped), norun/manual status,
one-time ssh user when it is still pending, its jail.conf options that are
not the defaults, and its exposures; then the keys /usr/local/etc/qjail.host
sets. 'qjail export | qjail apply -' reports no change.

-z ZONE exports that zone (the spec's zone:). Vnet jails cannot be described
by the spec and are left out with a warning on stderr; apply never prunes them.
--json prints the same spec as one JSON document (which apply also reads).`,
  examples: [
    { command: "qjail export > host.yml", description: "save this host's spec" },
    { command: "qjail export | qjail apply --check -", description: "prove the round trip changes nothing" },
    { command: "qjail export -z lab --json", description: "zone lab as JSON" },
  ],
  options: {
    zone: { type: "string", short: "z" },
  },
  json: true,
  async run(inv) {
    refuseOperands(inv.positionals, "qjail export", "QJ7005", "Syntax: qjail export [-z zone] [--json]");
    // Loaded on use, like apply's: YAML and the schema cost other commands nothing.
    const { formatSpecYaml } = await import("../../core/spec-export.js");
    const { exportHost } = await import("../../ops/export.js");
    const zone = inv.values.zone === undefined ? undefined : validateZoneName(String(inv.values.zone));
    const { spec, skipped } = await exportHost(inv.global, zone, {
      stderr: inv.ctx.stderr,
      env: inv.ctx.env,
    });
    for (const s of skipped) write(inv.ctx.stderr, `qjail: warning: jail ${s.name} left out: ${s.why}`);
    if (inv.global.json) write(inv.ctx.stdout, JSON.stringify(spec));
    else
      write(
        inv.ctx.stdout,
        formatSpecYaml(
          spec,
          `qjail ${VERSION} host spec${zone ? ` (zone ${zone})` : ""}: apply with 'qjail apply FILE'`,
        ),
      );
    return 0;
  },
});
