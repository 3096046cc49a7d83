import { physical, hostLayout, type HostLayout } from "../core/paths.js";
import { UsageError } from "../core/errors.js";
import type { HostConfig, HostFacts } from "../core/hostconfig.js";
import type { Exposure, JailAddresses } from "../core/exposure.js";
import { formatPlan, type Plan } from "../core/plan.js";
import {
  readExposures,
  readHostConfig,
  refuseDamaged,
  type ExposureStoreProblem,
} from "../store/exposures.js";
import { withHostLock } from "../store/lock.js";
import { loadJailAddresses, runSync, renderSync, combinedPlan, type SyncOutcome } from "../firewall/sync.js";
import { detectLinuxHostFacts } from "../platform/linux/firewall.js";
import { detectFreebsdHostFacts } from "../platform/freebsd/firewall.js";
import type { Invocation } from "./command.js";
import { write } from "./context.js";

/**
 * What expose, unexpose, ports and the fw commands share: loading the host
 * config, jails and exposures, and running a firewall sync with the dry-run /
 * report conventions. Exposures are host-wide (one public port space), so they
 * use the default layout whatever the zone.
 */

export interface ExposeState {
  root: string;
  layout: HostLayout;
  platformName: "freebsd" | "linux";
  host: HostConfig;
  hostProblems: string[];
  exposures: Exposure[];
  exposureProblems: ExposureStoreProblem[];
  jails: JailAddresses[];
}

export async function loadExposeState(inv: Invocation): Promise<ExposeState> {
  const root = inv.global.root;
  const layout = hostLayout();
  const platformName = inv.global.platform ?? (process.platform === "freebsd" ? "freebsd" : "linux");
  // Detect defaults only on the real host; under --root they would describe the wrong machine.
  let facts: HostFacts = {};
  if (root === "/")
    facts = platformName === "linux" ? await detectLinuxHostFacts() : await detectFreebsdHostFacts();
  const hc = await readHostConfig(root, layout, platformName, facts);
  const { exposures, problems } = await readExposures(root, layout);
  const jails = await loadJailAddresses(root, layout);
  return {
    root,
    layout,
    platformName,
    host: hc.config,
    hostProblems: hc.problems.map((p) => `${layout.hostConfig} line ${p.line}: ${p.message}`),
    exposures,
    exposureProblems: problems,
    jails,
  };
}

/** Commands that change the firewall refuse while the host config or an exposure file is damaged. */
export function refuseBrokenState(state: ExposeState): void {
  const first = state.hostProblems[0];
  if (first)
    throw new UsageError(
      "QJ3001",
      first,
      `Fix that line of ${state.layout.hostConfig}; its keys are described in qjail-fw-setup(8).`,
    );
  refuseDamaged(state.exposureProblems);
}

/**
 * Load state and check the request (`check` throws the refusal), then do it
 * under the host lock, checking again there because another qjail may have
 * changed the state meanwhile. The first check runs before the lock so a
 * refusal does not even create the lock file: a refusal changes nothing on disk.
 */
export async function checkThenLocked<C, T>(
  inv: Invocation,
  check: () => Promise<C>,
  fn: (checked: C) => Promise<T>,
): Promise<T> {
  const first = await check();
  if (inv.global.dryRun) return fn(first);
  return withHostLock(physical(inv.global.root, hostLayout().lockFile), async () => fn(await check()));
}

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
    `${req.done} (${state.host.firewall} rules ${outcome.active ? "loaded and verified" : `${state.host.firewall === "nft" ? "generated" : "files written"}; not loaded here: run 'qjail fw sync' on the host`})`,
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
