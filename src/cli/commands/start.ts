import { defineCommand, type Invocation } from "../command.js";
import { write } from "../context.js";
import { hostLayout } from "../../core/paths.js";
import { validateZoneName } from "../../core/validate.js";
import type { LifecycleVerb } from "../../core/plan-start.js";
import { changeJailStates } from "../../ops/lifecycle.js";
import type { Platform } from "../../platform/types.js";

/**
 * start, stop and restart (and boot start/stop, per zone): the use case
 * (src/ops/lifecycle.ts) decides and acts per jail; this prints each
 * outcome as it comes. The exit status is 3 when any jail failed, so
 * scripts can notice (qjail exits 0).
 */
export async function runLifecycle(
  verb: LifecycleVerb,
  { ctx, values, positionals, global }: Invocation,
  platformOverride?: Platform,
): Promise<number> {
  const zone = typeof values.zone === "string" ? validateZoneName(values.zone) : undefined;
  const human = global.json ? ctx.stderr : ctx.stdout;
  const outcomes = await changeJailStates(
    verb,
    global,
    { stderr: ctx.stderr, env: ctx.env },
    { layout: hostLayout(zone), names: positionals, dryRun: global.dryRun },
    (o, planText) => {
      if (planText !== undefined) human.write(planText);
      else if (o.result === "skipped") write(human, global.dryRun ? `# ${o.message}` : o.message);
      else write(o.result === "failed" ? ctx.stderr : human, o.message);
    },
    platformOverride,
  );
  if (global.json)
    write(ctx.stdout, JSON.stringify({ command: verb, dryRun: global.dryRun, jails: outcomes }));
  return outcomes.some((o) => o.result === "failed") ? 3 : 0;
}

export const LIFECYCLE_OPTIONS = { zone: { type: "string", short: "z" } } as const;

export const startCommand = defineCommand({
  path: ["start"],
  summary: "Start jails: every jail of the zone, the named ones, or a group prefix.",
  usage: ["start [-z zone] [jailname... | pfx=]"],
  details: `
Starts each selected jail with '/usr/sbin/jail -q -f /usr/local/etc/qjail.config/NAME -c'
and records its JID in /var/run/qjail.NAME.pid (mode 555). Image jails are attached
first (mdconfig -a, mount, NAME.device link). Without names every jail of the zone is
started in 'ls' order; 'pfx=' selects every jail whose name starts with pfx.

Jails in norun status are bypassed; manual (.man) jails are started, only the boot
script skips them. A running jail gets "Jail already running.      NAME". A jail that
fails to start is reported and the next one is started. After the first start of a
jail created with 'create -c', the one-time user set-up is removed from its record
and jail.conf, as qjail does.

Changed on purpose: the exit status is 3 when any jail failed (qjail exits 0).
--dry-run prints the exact commands; --json prints one result per jail.`,
  examples: [
    { command: "qjail start", description: "start every jail of the default zone" },
    {
      command: "qjail start -z test web=",
      description: "start the jails of zone 'test' whose names start with 'web'",
    },
    { command: "qjail --dry-run start www", description: "print the commands that would start www" },
  ],
  options: LIFECYCLE_OPTIONS,
  json: true,
  mutates: true,
  run: (inv) => runLifecycle("start", inv),
});
