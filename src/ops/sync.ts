import { UsageError } from "../core/errors.js";
import type { HostLayout } from "../core/paths.js";
import { fileOverlay, type FileOverlay, type Plan, type Step } from "../core/plan.js";
import type { FirewallKind, HostConfig } from "../core/hostconfig.js";
import {
  jailAddressesOf,
  resolveExposures,
  type Exposure,
  type FirewallModel,
  type JailAddresses,
} from "../core/exposure.js";
import { readGlobalJails } from "../store/jails.js";
import {
  firewallStatePath,
  formatFirewallState,
  formatWrittenRules,
  readFirewallState,
  sha256,
  writtenRulesPath,
  type FirewallState,
} from "../store/exposures.js";
import { exposureKey } from "../core/exposure.js";
import { applyPlan } from "../platform/apply.js";
import { hostWriteError } from "../platform/write-errors.js";
import {
  FirewallLoadError,
  type FirewallLoader,
  type LoadContext,
  type RenderedRules,
} from "../platform/firewall-loader.js";
import { createNftLoader } from "../platform/linux/firewall.js";
import { createFreebsdFirewallLoader } from "../platform/freebsd/firewall.js";
import { hairpinNote as pfHairpin } from "../firewall/pf/generate.js";
import { hairpinNote as ipfwHairpin } from "../firewall/ipfw/generate.js";
import { hairpinNote as nftHairpin } from "../firewall/nft/generate.js";

/**
 * The one path every exposure change and `fw sync` takes:
 *   resolve the model → render → (dry-run: stop) → load safely (validate,
 *   load, verify; the loader restores the previous rules on failure) → write
 *   the exposure files and the state record → on a failure there, restore.
 * The exposure files are written only after the rules are live, so a refused
 * load leaves qjail's state as it was (Bastille saved first and lost sync).
 */

export function loaderFor(
  kind: FirewallKind,
  env: Readonly<Record<string, string | undefined>>,
): FirewallLoader {
  return kind === "nft" ? createNftLoader(env) : createFreebsdFirewallLoader(kind);
}

/** Whether qjail runs the firewall's programs, and when not, why and how to make it. */
export interface LoadDecision {
  run: boolean;
  /** Why the rules are not loaded ("" when they are). */
  why: string;
  /** What to do to load them ("" when they are). */
  how: string;
}

/**
 * The one rule that decides whether firewall programs run (and so whether
 * rules are loaded): never with --no-load or QJAIL_FW_LOAD=0; never for a
 * firewall of another OS (pf/ipf/ipfw load only on FreeBSD, nft only on
 * Linux); on the host itself (--root /) always; under --root DIR only with
 * QJAIL_FW_LOAD=1, which loads into the firewall of the network namespace
 * qjail runs in (tests and `ip netns exec` set-ups). Every "not loaded"
 * message is built from this decision, so it says why and how.
 */
export function loadDecision(
  kind: FirewallKind,
  root: string,
  env: Readonly<Record<string, string | undefined>>,
  noLoad: boolean,
): LoadDecision {
  const os = kind === "nft" ? "linux" : "freebsd";
  if (noLoad)
    return { run: false, why: "--no-load", how: "run 'qjail fw sync' without --no-load to load them" };
  if (env.QJAIL_FW_LOAD === "0")
    return { run: false, why: "QJAIL_FW_LOAD=0", how: "unset QJAIL_FW_LOAD and run 'qjail fw sync'" };
  if (process.platform !== os)
    return {
      run: false,
      why: `${kind} rules load only on ${os === "linux" ? "Linux" : "FreeBSD"}`,
      how: `on the ${os === "linux" ? "Linux" : "FreeBSD"} host, run 'qjail fw sync'`,
    };
  if (root !== "/" && env.QJAIL_FW_LOAD !== "1")
    return {
      run: false,
      why: `--root ${root} is not the host`,
      how: `to load them into this network namespace's firewall, run 'QJAIL_FW_LOAD=1 qjail fw sync --root ${root}'`,
    };
  return { run: true, why: "", how: "" };
}

export function shouldRunCommands(
  kind: FirewallKind,
  root: string,
  env: Readonly<Record<string, string | undefined>>,
  noLoad: boolean,
): boolean {
  return loadDecision(kind, root, env, noLoad).run;
}

export async function loadJailAddresses(
  root: string,
  layout: HostLayout,
  overlay?: FileOverlay,
): Promise<JailAddresses[]> {
  // qjail.global holds every zone's jails: a public port is unique host-wide.
  const jails = await readGlobalJails(root, layout, overlay);
  return jails.map((j) => jailAddressesOf(j.name, j.record));
}

export function buildModel(
  host: HostConfig,
  exposures: readonly Exposure[],
  jails: readonly JailAddresses[],
): { model: FirewallModel; dropped: string[] } {
  const { resolved, dropped } = resolveExposures(exposures, jails);
  return {
    model: { host, exposures: resolved },
    dropped: dropped.map((d) => `QJ3031: not forwarded: ${d.reason}`),
  };
}

export interface SyncRequest {
  root: string;
  layout: HostLayout;
  host: HostConfig;
  /** The complete set of exposures after the change. */
  exposures: readonly Exposure[];
  jails: readonly JailAddresses[];
  /**
   * The change to qjail's records these rules belong to (exposure files, a
   * jail's records); applied only after a verified load, with the state
   * record in its commit. When it fails, the previous rules are put back.
   */
  statePlan: Plan | undefined;
  env: Readonly<Record<string, string | undefined>>;
  noLoad: boolean;
  /** How the state plan is applied (a platform's apply); host file steps only when not given. */
  apply?: (plan: Plan) => Promise<void>;
}

export interface SyncOutcome {
  rendered: RenderedRules;
  active: boolean;
  warnings: string[];
}

export async function renderSync(req: SyncRequest): Promise<{
  loader: FirewallLoader;
  rendered: RenderedRules;
  ctx: LoadContext;
  warnings: string[];
  previous: FirewallState | undefined;
  model: FirewallModel;
}> {
  const { model, dropped } = buildModel(req.host, req.exposures, req.jails);
  const previous = await readFirewallState(req.root, req.layout);
  const ctx: LoadContext = {
    root: req.root,
    layout: req.layout,
    runCommands: shouldRunCommands(req.host.firewall, req.root, req.env, req.noLoad),
    previousExtAddress: previous?.extAddress ?? null,
  };
  const loader = loaderFor(req.host.firewall, req.env);
  const rendered = await loader.render(model, ctx);
  return { loader, rendered, ctx, warnings: [...dropped, ...rendered.warnings], previous, model };
}

/** The whole plan --dry-run prints: qjail's own files, then the firewall's steps. */
export function combinedPlan(title: string, statePlan: Plan | undefined, rendered: RenderedRules): Plan {
  return {
    title,
    steps: [...rendered.plan.steps, ...(statePlan?.steps ?? [])],
    warnings: [...(statePlan?.warnings ?? []), ...rendered.warnings],
  };
}

export async function runSync(req: SyncRequest): Promise<SyncOutcome> {
  const { loader, rendered, ctx, warnings, previous, model } = await renderSync(req);
  let result;
  try {
    result = await loader.load(rendered, ctx);
  } catch (e) {
    if (e instanceof FirewallLoadError) {
      throw new UsageError(
        "QJ3040",
        `the ${req.host.firewall} rules were not loaded (${e.stage} failed): ${e.message}`,
        "Nothing qjail records was changed and the previous rules are in force. 'qjail fw show' prints the rules qjail generated.",
      );
    }
    throw hostWriteError(e, `writing the ${req.host.firewall} rules`);
  }
  const stateRecord: Step = result.active
    ? {
        kind: "writeFile",
        path: firewallStatePath(req.layout),
        content: formatFirewallState({
          firewall: req.host.firewall,
          active: req.exposures.map(exposureKey),
          extAddress: result.extAddress ?? previous?.extAddress ?? null,
          rules: rendered.rules,
        }),
        mode: 0o644,
      }
    : {
        // Written, not loaded: what the files were rendered from, so an unchanged model skips the render next time.
        kind: "writeFile",
        path: writtenRulesPath(req.layout),
        content: formatWrittenRules({
          firewall: req.host.firewall,
          model: JSON.stringify(model),
          // Each file as the plan leaves it (staged copies renamed into place).
          files: Object.fromEntries(
            [...fileOverlay(rendered.plan.steps)].flatMap(([path, v]) =>
              v !== null && "text" in v ? [[path, sha256(v.text)]] : [],
            ),
          ),
        }),
        mode: 0o644,
      };
  const plan = withStateRecord(req.statePlan, stateRecord);
  try {
    if (plan.steps.length > 0)
      await (req.apply ?? ((p: Plan) => applyPlan(p, { root: req.root, runCommands: false })))(plan);
  } catch (e) {
    await result.restore();
    throw e;
  }
  return { rendered, active: result.active, warnings };
}

/**
 * The records change with the firewall state record inside its commit, so
 * the records and the record of what is live change together: into the
 * plan's commit step, or, for a plan of host file steps only (the exposure
 * files), one commit of all of them.
 */
export function withStateRecord(plan: Plan | undefined, record: Step | undefined): Plan {
  const base: Plan = plan ?? { title: "record the firewall state", steps: [] };
  if (record === undefined) return base;
  const at = base.steps.findIndex((s) => s.kind === "commit");
  if (at >= 0) {
    const steps = [...base.steps];
    const c = steps[at] as Extract<Step, { kind: "commit" }>;
    steps[at] = { kind: "commit", steps: [...c.steps, record] };
    return { ...base, steps };
  }
  const hostFiles = base.steps.every(
    (s) => ["writeFile", "remove", "rename", "mkdir"].includes(s.kind) && !("inJail" in s && s.inJail),
  );
  if (hostFiles) return { ...base, steps: [{ kind: "commit", steps: [...base.steps, record] }] };
  return { ...base, steps: [...base.steps, { kind: "commit", steps: [record] }] };
}

/** Per firewall: can a forwarded port be reached from the host and from other jails, and why not. */
export function hairpinSupport(): Record<FirewallKind, { works: boolean; why: string }> {
  return {
    ipf: {
      works: false,
      why: "IPFilter's rdr only sees packets arriving on the named interface; connections from the host or its jails to the public address are delivered locally and never pass it. Connect to the jail's own address instead",
    },
    pf: pfHairpin(),
    ipfw: ipfwHairpin(),
    nft: nftHairpin(),
  };
}
