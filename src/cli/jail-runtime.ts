import type { Invocation } from "./command.js";
import { write } from "./context.js";
import { formatPlan, type Plan } from "../core/plan.js";
import type { ReconcileOutcome } from "../ops/reconcile.js";

export { zoneLayout } from "./zone.js";

/**
 * The cli side of the jail commands: the zone option and printing what a use
 * case returns (plans, messages, the reconciler's warnings). The runtime
 * itself (platform, host lock, applier) is opened by the use cases in
 * src/ops/ (src/ops/jail-runtime.ts).
 */

/** --dry-run output: the plan on stdout (stderr under --json, where stdout is the JSON document). */
export function printPlan(inv: Invocation, plan: Plan): void {
  write(inv.global.json ? inv.ctx.stderr : inv.ctx.stdout, formatPlan(plan));
}

/** Warnings on stderr first, then qjail's messages ("Successfully created  www") on stdout. */
/**
 * Print a plan's warnings and messages; the exit status is 3 when a jail was
 * bypassed because of its state ("Bypassed running jail NAME"): the request
 * was not done for it, as a start that failed (C11; qjail 5.x exited 0).
 */
export function reportPlan(inv: Invocation, plan: Plan): number {
  for (const w of plan.warnings ?? []) write(inv.ctx.stderr, `Warning: ${w}`);
  for (const m of plan.messages ?? []) write(inv.ctx.stdout, m);
  return (plan.messages ?? []).some((m) => BYPASSED_FOR_STATE.test(m)) ? 3 : 0;
}

/** The messages of a jail left alone because it runs (or, for config -P, does not). */
export const BYPASSED_FOR_STATE = /^Bypassed (running|stopped) jail\b/;

/** What the reconciler found worth saying (exposures it cannot forward, rules it could not recompute). */
export function reportReconcile(inv: Invocation, outcome: ReconcileOutcome): void {
  for (const w of outcome.warnings) write(inv.ctx.stderr, `qjail: warning: ${w}`);
}
