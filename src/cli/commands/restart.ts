import { defineCommand } from "../command.js";
import { LIFECYCLE_OPTIONS, runLifecycle } from "./start.js";

export const restartCommand = defineCommand({
  path: ["restart"],
  summary: "Stop and start running jails; a stopped jail stays stopped.",
  usage: ["restart [-z zone] [jailname... | pfx=]"],
  details: `
For each selected jail that is running: stop it exactly as 'qjail stop' does, then
start it as 'qjail start' does. As in qjail, restart does not start a jail that is
not running: it prints "Jail already stopped.      NAME". Norun jails are bypassed.
A jail that fails is reported and the next one is restarted (exit status 3).`,
  examples: [
    { command: "qjail restart www", description: "restart www, e.g. so sshd comes up after create -c" },
    {
      command: "qjail --dry-run restart",
      description: "print the stop and start commands for every running jail",
    },
  ],
  options: LIFECYCLE_OPTIONS,
  json: true,
  mutates: true,
  run: (inv) => runLifecycle("restart", inv),
});
