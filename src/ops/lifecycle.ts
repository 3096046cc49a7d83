import { promises as fsp } from "node:fs";
import { UsageError } from "../core/errors.js";
import { physical, type HostLayout } from "../core/paths.js";
import { formatPlan } from "../core/plan.js";
import { decideLifecycle, planClearPoststartssh, type LifecycleVerb } from "../core/plan-start.js";
import type { JailSpec } from "../core/jail.js";
import type { PlatformChoice } from "../platform/index.js";
import type { Platform } from "../platform/types.js";
import { assertZoneKnown, readJails, selectJails } from "../store/jails.js";
import { writeLine as write, type OpsIo } from "./io.js";
import { openJailRuntime } from "./jail-runtime.js";

/**
 * Start one jail (for start, restart and apply): the platform starts it;
 * the first start of a `create -c` jail adds the one-time user, so that
 * set-up is then taken out of the record and the jail.conf block.
 */
export async function startJail(platform: Platform, root: string, jail: JailSpec): Promise<void> {
  await platform.start(jail);
  await clearOneTimeSsh(platform, root, jail);
}

/** After a successful start: the one-time `create -c` user set-up leaves the record and jail.conf. */
async function clearOneTimeSsh(platform: Platform, root: string, jail: JailSpec): Promise<void> {
  if (jail.record.poststartssh !== "") {
    const conf = await fsp.readFile(physical(root, jail.confPath), "utf8").catch(() => undefined);
    const clear = conf === undefined ? undefined : planClearPoststartssh(jail, conf);
    if (clear) await platform.apply(clear);
  }
}

/** What became of one jail of start/stop/restart (one line of their `--json` report). */
export interface JailOutcome {
  name: string;
  result: "started" | "stopped" | "restarted" | "skipped" | "failed" | "planned";
  message: string;
  plan?: string[];
}

export interface LifecycleRequest {
  layout: HostLayout;
  /** Jail names or prefixes (`web=`); none: every jail of the zone. */
  names: readonly string[];
  dryRun: boolean;
}

/**
 * start, stop and restart share one loop (docs/qjail-5.md §4.4): select jails,
 * look at the running ones once, decide per jail (src/core/plan-start.ts),
 * then plan (--dry-run) or act under the host lock. A failing jail is
 * reported and the loop carries on with the next one, as qjail does. Each
 * outcome goes to `report` as it happens (with the plans' text under
 * --dry-run); all of them are returned. `platform` replaces the one `choice`
 * names (tests answer jail(8) through it).
 */
export async function changeJailStates(
  verb: LifecycleVerb,
  choice: PlatformChoice,
  io: OpsIo,
  req: LifecycleRequest,
  report: (o: JailOutcome, planText?: string) => void,
  platformOverride?: Platform,
): Promise<JailOutcome[]> {
  const { layout } = req;
  await assertZoneKnown(choice.root, layout);
  const { jails: all, problems } = await readJails(choice.root, layout);
  for (const p of problems) write(io.stderr, `qjail: warning: ${p.file}: ${p.message}`);
  const selected = selectJails(all, req.names);
  const rt = openJailRuntime(choice, io, layout);
  const platform = platformOverride ?? rt.platform;
  const live = await platform.liveJails();
  const decisions = decideLifecycle(verb, selected, live);
  const outcomes: JailOutcome[] = [];
  const done = (o: JailOutcome, planText?: string): void => {
    outcomes.push(o);
    report(o, planText);
  };

  if (req.dryRun) {
    for (const d of decisions) {
      if (d.action === "skip") {
        done({ name: d.jail.name, result: "skipped", message: d.message });
        continue;
      }
      const plans = [
        ...(d.action !== "start" ? [platform.planStop(d.jail)] : []),
        ...(d.action !== "stop" ? [platform.planStart(d.jail)] : []),
      ];
      const text = plans.map(formatPlan).join("");
      done(
        {
          name: d.jail.name,
          result: "planned",
          message: plans.map((p) => p.title).join(", "),
          plan: text.trimEnd().split("\n"),
        },
        text,
      );
    }
    return outcomes;
  }
  await rt.locked(async () => {
    for (const d of decisions) {
      if (d.action === "skip") {
        done({ name: d.jail.name, result: "skipped", message: d.message });
        continue;
      }
      const outcome = await act(platform, choice.root, d.action, d.jail);
      // Under --root the FreeBSD backend only prints jail(8)'s commands: say so on the success line.
      if (platform.simulated && outcome.result !== "failed")
        outcome.message += "   (simulated: not run under --root)";
      done(outcome);
    }
  });
  return outcomes;
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
