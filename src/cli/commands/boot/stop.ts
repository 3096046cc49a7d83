import { defineCommand, refuseOperands } from "../../command.js";
import { runLifecycle } from "../start.js";
import { eachZone } from "./start.js";

export const bootStopCommand = defineCommand({
  path: ["boot", "stop"],
  summary: "At shutdown: stop every zone's running jails.",
  usage: ["boot stop"],
  details: `
What the rc.d script and qjail.service run at shutdown: 'qjail stop' for
every zone, the default zone first. The firewall rules are left as they are.
The exit status is 3 when a jail failed to stop; the others are still stopped.`,
  examples: [{ command: "qjail boot stop --dry-run", description: "show what shutdown would stop" }],
  options: {},
  json: false,
  mutates: true,
  async run(inv) {
    refuseOperands(inv.positionals, "boot stop", "QJ1802", "Run 'qjail boot stop'.");
    return eachZone(inv, (zone) =>
      runLifecycle("stop", { ...inv, values: zone === undefined ? {} : { zone }, positionals: [] }),
    );
  },
});
