import { defineCommand, type Invocation } from "../command.js";
import { UsageError } from "../../core/errors.js";
import { write } from "../context.js";
import { formatPlan } from "../../core/plan.js";
import { hostLayout } from "../../core/paths.js";
import { validateZoneName } from "../../core/validate.js";
import { decideLifecycle, type LifecycleVerb } from "../../core/plan-start.js";
import { clearOneTimeSsh } from "../../ops/lifecycle.js";
import { assertZoneKnown, readJails, selectJails } from "../../store/jails.js";
import { withHostLock } from "../../store/lock.js";
import { platformFor } from "../../platform/index.js";
import type { Platform } from "../../platform/types.js";
import type { JailSpec } from "../../core/jail.js";

/** One line of start/stop/restart's `--json` report. */
interface JailOutcome {
  name: string;
  result: "started" | "stopped" | "restarted" | "skipped" | "failed" | "planned";
  message: string;
  plan?: string[];
}

/**
 * start, stop and restart share one loop (docs/qjail-5.md §4.4): select jails,
 * look at the running ones once, decide per jail (src/core/plan-start.ts),
 * then print the plans (--dry-run) or act. A failing jail is reported and
 * the loop carries on with the next one, as qjail does; the exit status is 3
 * when any jail failed, so scripts can notice (qjail exits 0).
 */
export async function runLifecycle(
  verb: LifecycleVerb,
  { ctx, values, positionals, global }: Invocation,
  platformOverride?: Platform,
): Promise<number> {
  const zone = typeof values.zone === "string" ? validateZoneName(values.zone) : undefined;
  const layout = hostLayout(zone);
  const human = global.json ? ctx.stderr : ctx.stdout;
  await assertZoneKnown(global.root, layout);
  const { jails: all, problems } = await readJails(global.root, layout);
  for (const p of problems) write(ctx.stderr, `qjail: warning: ${p.file}: ${p.message}`);
  const selected = selectJails(all, positionals);
  const platform = platformOverride ?? platformFor(global, { stderr: ctx.stderr, env: ctx.env });
  const live = await platform.liveJails();
  const decisions = decideLifecycle(verb, selected, live);
  const outcomes: JailOutcome[] = [];

  if (global.dryRun) {
    for (const d of decisions) {
      if (d.action === "skip") {
        write(human, `# ${d.message}`);
        outcomes.push({ name: d.jail.name, result: "skipped", message: d.message });
        continue;
      }
      const plans = [
        ...(d.action !== "start" ? [platform.planStop(d.jail)] : []),
        ...(d.action !== "stop" ? [platform.planStart(d.jail)] : []),
      ];
      const text = plans.map(formatPlan).join("");
      human.write(text);
      outcomes.push({
        name: d.jail.name,
        result: "planned",
        message: plans.map((p) => p.title).join(", "),
        plan: text.trimEnd().split("\n"),
      });
    }
  } else {
    await withHostLock(global.root, async () => {
      for (const d of decisions) {
        if (d.action === "skip") {
          write(human, d.message);
          outcomes.push({ name: d.jail.name, result: "skipped", message: d.message });
          continue;
        }
        const outcome = await act(platform, global.root, d.action, d.jail);
        // Under --root the FreeBSD backend only prints jail(8)'s commands: say so on the success line.
        if (platform.simulated && outcome.result !== "failed")
          outcome.message += "   (simulated: not run under --root)";
        write(outcome.result === "failed" ? ctx.stderr : human, outcome.message);
        outcomes.push(outcome);
      }
    });
  }
  if (global.json)
    write(ctx.stdout, JSON.stringify({ command: verb, dryRun: global.dryRun, jails: outcomes }));
  return outcomes.some((o) => o.result === "failed") ? 3 : 0;
}

async function act(
  platform: Platform,
  root: string,
  action: "start" | "stop" | "restart",
  jail: JailSpec,
): Promise<JailOutcome> {
  if (action !== "start") {
    try {
      await platform.stop(jail);
    } catch (e) {
      return {
        name: jail.name,
        result: "failed",
        message: `Error: failed to stop jail ${jail.name}: ${(e as Error).message}`,
      };
    }
    if (action === "stop")
      return { name: jail.name, result: "stopped", message: `Jail successfully stopped  ${jail.name}` };
  }
  try {
    await platform.start(jail);
  } catch (e) {
    return { name: jail.name, result: "failed", message: startFailure(platform, jail, e) };
  }
  await clearOneTimeSsh(platform, root, jail);
  return {
    name: jail.name,
    result: action === "start" ? "started" : "restarted",
    // qjail 5.x's restart reports both halves (docs/qjail-5.md §4.4).
    message:
      action === "start"
        ? `Jail successfully started  ${jail.name}`
        : `Jail successfully stopped  ${jail.name}\nJail successfully started  ${jail.name}`,
  };
}

/**
 * Why a jail did not start: a refusal keeps its code and its fix; only
 * jail(8) failing on FreeBSD points at the jail.conf block it read.
 */
export function startFailure(platform: Platform, jail: JailSpec, e: unknown): string {
  if (e instanceof UsageError)
    return `qjail: ${e.code}: failed to start jail ${jail.name}: ${e.message}${e.hint ? `\n  ${e.hint}` : ""}`;
  const why = (e as Error).message;
  return platform.name === "freebsd"
    ? `Error: failed to start jail ${jail.name}: ${why}\n  jail(8) read ${jail.confPath}; check it with 'qjail config -d ${jail.name}'.`
    : `Error: failed to start jail ${jail.name}: ${why}`;
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
