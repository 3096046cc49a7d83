import type { Exposure } from "../core/exposure.js";
import { formatPlan, type Plan } from "../core/plan.js";
import { runSync, renderSync, combinedPlan, loadDecision, type SyncOutcome } from "../ops/sync.js";
import type { ExposeState } from "../ops/expose-state.js";
import type { Invocation } from "./command.js";
import { write } from "./context.js";

/**
 * The cli half of the firewall commands (expose, unexpose, fw sync): the
 * dry-run print and the report after a sync. State loading and the locked
 * check are src/ops/expose-state.ts.
 */

/** Print the plan and every generated rule text (--dry-run), human text to stderr under --json. */
export function printDryRun(inv: Invocation, plan: Plan, rules: Record<string, string>): void {
  const text =
    formatPlan(plan) +
    Object.entries(rules)
      .map(([name, body]) => `# --- ${name} ---\n${body}`)
      .join("");
  if (inv.global.json)
    write(
      inv.ctx.stdout,
      JSON.stringify({
        dryRun: true,
        plan: { title: plan.title, steps: plan.steps, warnings: plan.warnings ?? [] },
        rules,
      }),
    );
  else write(inv.ctx.stdout, text);
}

export interface ChangeRequest {
  title: string;
  exposures: readonly Exposure[];
  statePlan: Plan | undefined;
  noLoad: boolean;
  warnings: string[];
  /** Extra fields for the --json report. */
  report: Record<string, unknown>;
  done: string;
}

/** "files written, not loaded: WHY; HOW" — the second half of every report of a sync that did not load. */
function notLoaded(state: ExposeState, inv: Invocation, noLoad: boolean): string {
  const d = loadDecision(state.host.firewall, state.root, inv.ctx.env, noLoad);
  return `${state.host.firewall === "nft" ? "generated" : "files written"}, not loaded: ${d.why}; ${d.how}`;
}

/** Dry-run or sync, then report: the shared tail of expose, unexpose and fw sync. */
export async function applyChange(inv: Invocation, state: ExposeState, req: ChangeRequest): Promise<number> {
  const syncReq = {
    root: state.root,
    layout: state.layout,
    host: state.host,
    exposures: req.exposures,
    jails: state.jails,
    statePlan: req.statePlan,
    env: inv.ctx.env,
    noLoad: req.noLoad,
  };
  if (inv.global.dryRun) {
    const { rendered, warnings } = await renderSync(syncReq);
    const plan = combinedPlan(req.title, req.statePlan, rendered);
    plan.warnings = [...req.warnings, ...warnings];
    printDryRun(inv, plan, rendered.rules);
    return 0;
  }
  const outcome: SyncOutcome = await runSync(syncReq);
  const warnings = [...req.warnings, ...outcome.warnings];
  const status = outcome.active ? "active" : "pending";
  const human = [
    ...warnings.map((w) => `qjail: warning: ${w}`),
    `${req.done} (${state.host.firewall} rules ${outcome.active ? "loaded and verified" : notLoaded(state, inv, req.noLoad)})`,
  ];
  if (inv.global.json) {
    write(
      inv.ctx.stdout,
      JSON.stringify({
        ...req.report,
        firewall: state.host.firewall,
        state: status,
        warnings,
        rules: outcome.rendered.rules,
      }),
    );
    for (const l of human) write(inv.ctx.stderr, l);
  } else {
    for (const l of human.slice(0, -1)) write(inv.ctx.stderr, l);
    write(inv.ctx.stdout, human[human.length - 1] as string);
  }
  return 0;
}
