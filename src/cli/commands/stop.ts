import { defineCommand } from "../command.js";
import { LIFECYCLE_OPTIONS, runLifecycle } from "./start.js";

export const stopCommand = defineCommand({
  path: ["stop"],
  summary: "Stop jails: every jail of the zone, the named ones, or a group prefix.",
  usage: ["stop [-z zone] [jailname... | pfx=]"],
  details: `
Stops each selected running jail with
'/usr/sbin/jail -q -f /usr/local/etc/qjail.config/NAME -r NAME' (exec.stop, the
unmounts and the address aliases are jail(8)'s work) and removes
/var/run/qjail.NAME.pid. An image jail is then unmounted and its md device
detached; the unit is read from the NAME.device link, not from the record, whose
imagedevice may be stale in qjail 5.x.

A stopped jail gets "Jail already stopped.      NAME"; norun jails are bypassed.
A jail that fails to stop is reported and the next one is stopped; the exit status
is then 3 (changed on purpose: qjail exits 0).`,
  examples: [
    { command: "qjail stop", description: "stop every jail of the default zone" },
    { command: "qjail stop www db", description: "stop two jails" },
    { command: "qjail --json stop web=", description: "stop the web* jails and report each as JSON" },
  ],
  options: LIFECYCLE_OPTIONS,
  json: true,
  mutates: true,
  run: (inv) => runLifecycle("stop", inv),
});
