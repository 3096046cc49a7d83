import { fileOverlay, type Plan } from "../core/plan.js";
import { filesUnchanged, readExposures, readFirewallState, readWrittenRules } from "../store/exposures.js";
import type { PlatformName } from "../platform/index.js";
import type { RenderedRules } from "../platform/firewall-loader.js";
import { loadExposeState, type ExposeState } from "./expose-state.js";
import { buildModel, loadJailAddresses, runSync, shouldRunCommands } from "./sync.js";
import { exposureKey } from "../core/exposure.js";
import type { OpsIo } from "./io.js";

/**
 * The reconciler: qjail's firewall rules are *derived* from its records (the
 * exposures and every jail's addresses), so every change to the records goes
 * through here and the rules follow in the same locked operation.
 *
 * Order, so that a refusal or a kill never leaves live rules for a jail that
 * is gone: the records are read as the plan will leave them (the plan's file
 * steps laid over the disk, core/plan.ts fileOverlay), the rules of that
 * state are rendered, validated, loaded and verified (src/ops/sync.ts), and
 * only then is the plan applied, with the firewall state record inside its
 * commit. A failing plan puts the previous rules back. A kill between the
 * load and the commit leaves the records as they were with the new (smaller
 * or equal) rule set live, which `doctor` reports and the next change or
 * `fw sync` completes; it never leaves a forward to an address whose jail is
 * gone.
 *
 * When the change leaves the firewall model (host config, exposures resolved
 * to addresses) as it is and firewall.state records a verified load of
 * exactly these exposures, nothing is reloaded: the rules would be the same.
 * Where rules are only written (--root, loading off), firewall.written plays
 * that part: same model, files untouched since → nothing is rendered again.
 * Drift in the live rules is doctor's to find (QJ5305, QJ5309).
 *
 * A host where qjail never forwarded anything (no exposures before or after,
 * no firewall.state) is left alone: the plan is applied and no firewall is
 * touched.
 */

export interface ReconcileTarget {
  root: string;
  platform: PlatformName;
  /** The platform's apply (the one applier). */
  apply(plan: Plan): Promise<void>;
}

export interface ReconcileOutcome {
  /** False when the firewall was left alone (not in use, or qjail's state is damaged: see warnings). */
  synced: boolean;
  /** The rules are loaded and verified live (false: files written / not loaded here). */
  active: boolean;
  warnings: string[];
  rendered?: RenderedRules;
}

/**
 * Apply `plan` (a change to qjail's records) and recompute, load (or, under
 * --root, write) qjail's firewall rules for the state it leaves. The caller
 * holds the host lock.
 */
export async function applyReconciled(
  target: ReconcileTarget,
  plan: Plan,
  io: OpsIo,
  opts: { noLoad?: boolean } = {},
): Promise<ReconcileOutcome> {
  const state = await loadExposeState({ root: target.root, platform: target.platform });
  const overlay = fileOverlay(plan.steps);
  const after = await readExposures(state.root, state.layout, overlay);
  const inUse =
    state.exposures.length > 0 ||
    after.exposures.length > 0 ||
    (await readFirewallState(state.root, state.layout)) !== undefined;
  if (!inUse) {
    await target.apply(plan);
    return { synced: false, active: false, warnings: [] };
  }
  const damaged = state.hostProblems[0] ?? problemText(after.problems[0]);
  if (damaged !== undefined) {
    await target.apply(plan);
    return {
      synced: false,
      active: false,
      warnings: [
        `QJ3060: qjail's firewall rules were not recomputed: ${damaged}; fix that, then run 'qjail fw sync'`,
      ],
    };
  }
  const jailsAfter = await loadJailAddresses(state.root, state.layout, overlay);
  // The rules are a function of the model: when the change leaves it as it is and the last
  // verified load was of exactly these exposures, the live rules are already the right ones.
  const modelAfter = JSON.stringify(buildModel(state.host, after.exposures, jailsAfter).model);
  const same = JSON.stringify(buildModel(state.host, state.exposures, state.jails).model) === modelAfter;
  const previous = await readFirewallState(state.root, state.layout);
  if (await writtenAsIs(state, plan, modelAfter, io, opts.noLoad ?? false)) {
    await target.apply(plan);
    return { synced: true, active: false, warnings: [] };
  }
  if (
    same &&
    previous !== undefined &&
    previous.firewall === state.host.firewall &&
    JSON.stringify(previous.active) === JSON.stringify(after.exposures.map(exposureKey))
  ) {
    await target.apply(plan);
    return { synced: true, active: true, warnings: [] };
  }
  const out = await runSync({
    root: state.root,
    layout: state.layout,
    host: state.host,
    exposures: after.exposures,
    jails: jailsAfter,
    statePlan: plan,
    env: io.env,
    noLoad: opts.noLoad ?? false,
    apply: (p) => target.apply(p),
  });
  return { synced: true, active: out.active, warnings: out.warnings, rendered: out.rendered };
}

/** Recompute and load qjail's rules from the records as they are (no change to apply). */
export function reconcile(target: ReconcileTarget, io: OpsIo): Promise<ReconcileOutcome> {
  return applyReconciled(target, { title: "recompute qjail's firewall rules", steps: [] }, io);
}

/**
 * Under --root or with loading off: the rule files on disk are exactly what
 * qjail last rendered (each file's hash as recorded in firewall.written), from
 * the very model this change leaves, and the change does not touch them —
 * rendering again would write the same bytes.
 */
async function writtenAsIs(
  state: ExposeState,
  plan: Plan,
  modelAfter: string,
  io: OpsIo,
  noLoad: boolean,
): Promise<boolean> {
  if (shouldRunCommands(state.host.firewall, state.root, io.env, noLoad)) return false;
  const written = await readWrittenRules(state.root, state.layout);
  if (written === undefined || written.firewall !== state.host.firewall) return false;
  if (written.model !== modelAfter) return false;
  const touched = fileOverlay(plan.steps);
  if (Object.keys(written.files).some((p) => touched.has(p))) return false;
  return filesUnchanged(state.root, written.files);
}

function problemText(p: { file: string; line: number; message: string } | undefined): string | undefined {
  return p === undefined ? undefined : `${p.file} line ${p.line}: ${p.message}`;
}
