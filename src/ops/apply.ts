import type { Writable } from "node:stream";
import { createTwoFilesPatch } from "diff";
import { UsageError, shown } from "../core/errors.js";
import { ETC, hostLayout, type HostLayout } from "../core/paths.js";
import { flatSteps, type Plan, type Step } from "../core/plan.js";
import { parseRecord, statusFromFileName, type JailStatus } from "../core/record.js";
import { specFromRecord, type HostState, type JailSpec } from "../core/jail.js";
import { planCreate } from "../core/plan-create.js";
import { planConfig } from "../core/plan-config.js";
import { planDelete, type DeletePlan } from "../core/plan-delete.js";
import { defaultHostConfig, parseHostConfig, type HostConfig } from "../core/hostconfig.js";
import {
  checkNewExposure,
  describeExposure,
  jailAddressesOf,
  planExposureFile,
  type Exposure,
} from "../core/exposure.js";
import { planIntents, updateHostFile, type CurrentJail, type JailIntent } from "../core/apply-plan.js";
import { hostFileValues } from "../core/spec-export.js";
import type { DesiredSpec } from "../core/spec.js";
import type { Platform } from "../platform/types.js";
import { detectHostFacts, platformFor, type PlatformChoice } from "../platform/index.js";
import { applyPlan } from "../platform/apply.js";
import { assertInstalled, assertZoneKnown, loadHostState, readHostFile } from "../store/jails.js";
import { readExposures, refuseDamaged } from "../store/exposures.js";
import { withHostLock } from "../store/lock.js";
import { renderSync } from "./sync.js";
import { openJailRuntime } from "./jail-runtime.js";
import { loadCreateState } from "./create.js";
import { applyDeletePlan } from "./delete.js";
import { startJail } from "./lifecycle.js";
import type { OpsIo } from "./io.js";

/**
 * Use case `qjail apply`: one spec, the whole host brought to it under one
 * host lock.
 *
 *   load every zone the spec names (records, running jails, exposures,
 *   qjail.host) → what to do per jail (src/core/apply-plan.ts) → each step
 *   as the plan of the command's own planner (create, config, delete), run
 *   in memory one after the other so each sees the records the one before
 *   writes → refusals now, before anything changes → --check: report and
 *   diffs, done → else, locked: qjail.host, each jail (stop, plans, start),
 *   then the exposure files and the firewall rules in one reconcile.
 *
 * A failure part-way stops there: every jail finished stays finished, the
 * firewall is reconciled with what the records now say, and the report
 * names what was not done.
 */

export interface ApplyOptions {
  check: boolean;
  prune: boolean;
}

interface ApplyContext {
  root: string;
  /** --platform (undefined: the OS qjail runs on). */
  platformName: "freebsd" | "linux" | undefined;
  platform: Platform;
  env: Readonly<Record<string, string | undefined>>;
  stderr: Writable;
  /** Progress lines ("www: create …") while applying; not used by --check. */
  progress?(line: string): void;
}

export type StepResult = "planned" | "done" | "failed" | "not done";

export interface ApplyErrorInfo {
  code: string;
  message: string;
  hint: string | null;
}

export interface JailReport {
  name: string;
  zone: string | null;
  actions: string[];
  result: StepResult;
  error?: ApplyErrorInfo;
}

export interface ApplyReport {
  changed: boolean;
  check: boolean;
  host: { changes: { key: string; from: string | null; to: string }[]; result: StepResult | "unchanged" };
  jails: JailReport[];
  firewall: { kind: string; changed: boolean; result: StepResult | "unchanged"; active: boolean | null };
  untouched: { name: string; why: string }[];
  warnings: string[];
  diffs: { path: string; diff: string }[];
  error?: ApplyErrorInfo;
}

/** One jail's work, planned: what runs, in order. */
type Work =
  | { kind: "stop"; jail: JailSpec }
  | { kind: "create"; plan: Plan }
  | { kind: "config"; plan: Plan }
  | { kind: "delete"; plan: DeletePlan; jail: JailSpec }
  | { kind: "start"; jail: JailSpec };

interface PlannedJail {
  intent: JailIntent;
  layout: HostLayout;
  work: Work[];
}

interface Planned {
  report: ApplyReport;
  jails: PlannedJail[];
  hostFile: { path: string; content: string } | undefined;
  exposures: { final: Exposure[]; files: Plan; changed: boolean };
  host: HostConfig;
  jailAddresses: ReturnType<typeof jailAddressesOf>[];
  /** Final content of every host file the plans write (null: removed), for --diff. */
  overlay: Map<string, string | null>;
  firewallBefore: Record<string, string>;
  firewallAfter: Record<string, string>;
}

function errorInfo(e: unknown): ApplyErrorInfo {
  if (e instanceof UsageError) return { code: e.code, message: e.message, hint: e.hint ?? null };
  return { code: "QJ0000", message: (e as Error).message ?? String(e), hint: null };
}

/** The record a plan leaves for `name` (any status), read back from its write step. */
function recordAfter(
  plan: Plan,
  layout: HostLayout,
  name: string,
): { status: JailStatus; spec: JailSpec } | undefined {
  let found: { status: JailStatus; spec: JailSpec } | undefined;
  for (const s of flatSteps(plan.steps)) {
    if (s.kind !== "writeFile" || !s.path.startsWith(`${layout.local}/`)) continue;
    const file = s.path.slice(layout.local.length + 1);
    const st = statusFromFileName(file);
    if (st.name !== name) continue;
    const rec = parseRecord(s.content).record;
    found = { status: st.status, spec: specFromRecord(layout, name, st.status, rec) };
  }
  return found;
}

/** Host files (not inside a jail tree) a plan writes or removes, in order, onto the overlay. */
function overlaySteps(
  overlay: Map<string, string | null>,
  steps: readonly Step[],
  base: (p: string) => string | null,
): void {
  for (const s of steps) {
    if ("inJail" in s && s.inJail) continue;
    if (s.kind === "writeFile") overlay.set(s.path, s.content);
    else if (s.kind === "appendFile") {
      const before = overlay.has(s.path) ? overlay.get(s.path) : base(s.path);
      overlay.set(s.path, (before ?? "") + s.content);
    } else if (s.kind === "remove" && !s.recursive) overlay.set(s.path, null);
  }
}

/** Files --diff shows: qjail's records and settings under /usr/local/etc, and /etc/devfs.rules. */
function diffable(path: string): boolean {
  // qjail.global mirrors qjail.local byte for byte: its diff would only repeat the record's.
  if (path.startsWith(`${ETC}/qjail.global/`)) return false;
  return path.startsWith(`${ETC}/qjail.`) || path === "/etc/devfs.rules";
}

async function loadAndPlan(ctx: ApplyContext, spec: DesiredSpec, opts: ApplyOptions): Promise<Planned> {
  const { root, platform } = ctx;
  const zones = [...new Set([spec.zone, ...spec.jails.map((j) => j.zone)])];
  const live = await platform.liveJails();
  const states = new Map<string | undefined, HostState>();
  for (const zone of zones) {
    const layout = hostLayout(zone);
    await assertZoneKnown(root, layout);
    states.set(zone, await loadHostState(root, layout, async () => live));
  }
  const defaultLayout = hostLayout();
  const [exp, hostText] = await Promise.all([
    readExposures(root, defaultLayout),
    readHostFile(root, defaultLayout.hostConfig),
  ]);
  refuseDamaged(exp.problems);
  const current: CurrentJail[] = [];
  for (const [zone, st] of states)
    for (const j of st.jails)
      current.push({ name: j.name, zone, status: j.status, record: j.record, running: live.has(j.name) });
  const intents = planIntents(spec, current, exp.exposures, hostFileValues(hostText), { prune: opts.prune });

  // qjail.host first: the exposures below are checked against the settings the spec asks for.
  const newHostText = intents.host.length > 0 ? updateHostFile(hostText, spec.host) : hostText;
  const parsedHost = parseHostConfig(newHostText ?? "", await hostDefaults(root, platform.name));
  if (parsedHost.problems.length > 0) {
    const p = parsedHost.problems[0]!;
    throw new UsageError(
      "QJ3001",
      `${defaultLayout.hostConfig} line ${p.line}: ${p.message}`,
      `Fix that line of ${defaultLayout.hostConfig} (or set the key in the spec's host:).`,
    );
  }
  const host = parsedHost.config;

  const overlay = new Map<string, string | null>();
  const baseCache = new Map<string, string | null>();
  const readBase = async (p: string): Promise<void> => {
    if (!baseCache.has(p)) baseCache.set(p, (await readHostFile(root, p)) ?? null);
  };
  const base = (p: string): string | null => baseCache.get(p) ?? null;
  const hostFile =
    newHostText !== hostText && newHostText !== undefined
      ? { path: defaultLayout.hostConfig, content: newHostText }
      : undefined;
  if (hostFile) overlay.set(hostFile.path, hostFile.content);

  // In-memory state the plans chain through: running jails, every zone's records, devfs.rules.
  const running = new Map(live);
  const global = [...(states.get(zones[0]) as HostState).global];
  let devfsRules = (await readHostFile(root, defaultLayout.devfsRules)) ?? undefined;
  const byName = new Map<string, JailSpec>();
  for (const st of states.values()) for (const j of st.jails) byName.set(j.name, j);
  const setGlobal = (j: JailSpec): void => {
    const i = global.findIndex((g) => g.name === j.name);
    const entry = { name: j.name, status: j.status, record: j.record };
    if (i >= 0) global[i] = entry;
    else global.push(entry);
  };
  const stateFor = (zone: string | undefined, layout: HostLayout): HostState => ({
    layout,
    jails: [...byName.values()].filter((j) => j.layout.zone === zone),
    global,
    live: running,
  });
  const after = async (plan: Plan): Promise<void> => {
    const steps = flatSteps(plan.steps);
    for (const s of steps)
      if (
        (s.kind === "writeFile" || s.kind === "appendFile" || (s.kind === "remove" && !s.recursive)) &&
        diffable(s.path)
      )
        await readBase(s.path);
    overlaySteps(overlay, steps, base);
    for (const s of steps)
      if ((s.kind === "writeFile" || s.kind === "appendFile") && s.path === defaultLayout.devfsRules)
        devfsRules = overlay.get(s.path) ?? undefined;
  };

  const planned: PlannedJail[] = [];
  for (const intent of intents.jails) {
    const layout = hostLayout(intent.zone);
    const work: Work[] = [];
    let jail = byName.get(intent.name);
    if (intent.stopFirst && jail) {
      work.push({ kind: "stop", jail });
      running.delete(intent.name);
    }
    if (intent.delete && jail) {
      const plan = planDelete(stateFor(intent.zone, layout), [jail], { all: false });
      await after(plan);
      work.push({ kind: "delete", plan, jail });
      byName.delete(intent.name);
      const gi = global.findIndex((g) => g.name === intent.name);
      if (gi >= 0) global.splice(gi, 1);
      planned.push({ intent, layout, work });
      continue;
    }
    if (intent.create) {
      await assertInstalled(root, layout);
      const st = stateFor(intent.zone, layout);
      const inputs = await loadCreateState(root, layout, st, {
        names: [intent.name],
        flavor: "default",
        oneTimeSsh: intent.create.oneTimeSsh,
        fromArchive: undefined,
      });
      const plan = planCreate(inputs, {
        name: intent.name,
        ip4: intent.create.ip4,
        ip6: intent.create.ip6,
        nic: intent.create.nic ?? (await platform.defaultJailInterface()),
        flavor: "default",
        oneTimeSsh: intent.create.oneTimeSsh,
        duplicates: 0,
        force: false,
      });
      await after(plan);
      work.push({ kind: "create", plan });
      jail = recordAfter(plan, layout, intent.name)?.spec;
      if (!jail) throw new Error(`internal: the create plan of ${intent.name} writes no record`);
      byName.set(jail.name, jail);
      setGlobal(jail);
    }
    for (const change of intent.changes) {
      if (!jail) break;
      const plan = planConfig(
        {
          ...stateFor(intent.zone, layout),
          devfsRules,
          vnetCount: 0,
          exposures: new Set(),
          packages: new Map(),
        },
        [jail],
        { change, force: false, freebsd: platform.name === "freebsd" },
      );
      await after(plan);
      work.push({ kind: "config", plan });
      const next = recordAfter(plan, layout, intent.name);
      if (next) {
        jail = next.spec;
        byName.set(jail.name, jail);
        setGlobal(jail);
      }
    }
    if (intent.stopAfter && jail) {
      work.push({ kind: "stop", jail });
      running.delete(intent.name);
    }
    if (intent.startAfter && jail) {
      work.push({ kind: "start", jail });
      running.set(intent.name, { name: intent.name, jid: 0, path: jail.rootPath, ip4: [], ip6: [] });
    }
    planned.push({ intent, layout, work });
  }

  // Exposures: the final set, each new one checked as `qjail expose` checks it.
  const removed = new Set(intents.jails.flatMap((i) => i.exposeRemove));
  const deleted = new Set(intents.jails.filter((i) => i.delete).map((i) => i.name));
  let final = exp.exposures.filter((e) => !removed.has(e) && !deleted.has(e.jail));
  const jailAddresses = global.map((g) => jailAddressesOf(g.name, g.record));
  const warnings = [...intents.warnings];
  for (const intent of intents.jails)
    for (const e of intent.exposeAdd) {
      try {
        warnings.push(...checkNewExposure(e, { jails: jailAddresses, exposures: final, host }).warnings);
      } catch (err) {
        if (err instanceof UsageError)
          throw new UsageError(
            err.code,
            `jail ${intent.name}: expose ${describeExposure(e)}: ${err.message}`,
            err.hint,
          );
        throw err;
      }
      final = [...final, e];
    }
  const changedJails = new Set(
    intents.jails
      .filter((i) => i.exposeAdd.length > 0 || (i.exposeRemove.length > 0 && !i.delete))
      .map((i) => i.name),
  );
  const files: Plan = {
    title: "record the exposures",
    steps: [...changedJails].flatMap(
      (name) =>
        planExposureFile(
          defaultLayout,
          name,
          final.filter((e) => e.jail === name),
          `exposures of ${name}`,
        ).steps,
    ),
  };
  await after(files);

  // The firewall rules before and after, rendered as `fw show` renders them.
  const syncReq = (exposures: readonly Exposure[], jails: typeof jailAddresses, h: HostConfig) => ({
    root,
    layout: defaultLayout,
    host: h,
    exposures,
    jails,
    statePlan: undefined,
    env: ctx.env,
    noLoad: true,
  });
  const beforeHost = parseHostConfig(hostText ?? "", await hostDefaults(root, platform.name)).config;
  const beforeJails = (states.get(zones[0]) as HostState).global.map((g) =>
    jailAddressesOf(g.name, g.record),
  );
  const [rb, ra] = await Promise.all([
    renderSync(syncReq(exp.exposures, beforeJails, beforeHost)),
    renderSync(syncReq(final, jailAddresses, host)),
  ]);
  const firewallBefore = rb.loader.kind === ra.loader.kind ? rb.rendered.rules : {};
  const firewallAfter = ra.rendered.rules;
  const fwChanged = JSON.stringify(firewallBefore) !== JSON.stringify(firewallAfter);
  warnings.push(...ra.warnings.filter((w) => !rb.warnings.includes(w)));

  const report: ApplyReport = {
    changed: false,
    check: opts.check,
    host: {
      changes: intents.host.map((h) => ({ key: h.key, from: h.from ?? null, to: h.to })),
      result: intents.host.length > 0 ? "planned" : "unchanged",
    },
    jails: planned.map((p) => ({
      name: p.intent.name,
      zone: p.intent.zone ?? null,
      actions: p.intent.actions,
      result: "planned",
    })),
    firewall: {
      kind: host.firewall,
      changed: fwChanged,
      result: fwChanged || changedJails.size > 0 ? "planned" : "unchanged",
      active: null,
    },
    untouched: intents.untouched,
    warnings,
    diffs: [],
  };
  report.changed =
    report.jails.length > 0 || report.host.changes.length > 0 || report.firewall.result !== "unchanged";
  return {
    report,
    jails: planned,
    hostFile,
    exposures: { final, files, changed: changedJails.size > 0 || deleted.size > 0 },
    host,
    jailAddresses,
    overlay: new Map([...overlay].filter(([p]) => diffable(p))),
    firewallBefore,
    firewallAfter,
  };
}

/** Unified diffs: every host file the plans change, then each firewall rule set. */
async function diffsOf(root: string, p: Planned): Promise<{ path: string; diff: string }[]> {
  const out: { path: string; diff: string }[] = [];
  const paths = [...p.overlay.keys()].sort();
  for (const path of paths) {
    const before = (await readHostFile(root, path)) ?? null;
    const afterText = p.overlay.get(path) ?? null;
    if (before === afterText) continue;
    out.push({
      path,
      diff: createTwoFilesPatch(
        before === null ? "/dev/null" : `a${path}`,
        afterText === null ? "/dev/null" : `b${path}`,
        before ?? "",
        afterText ?? "",
        undefined,
        undefined,
        { context: 3 },
      ),
    });
  }
  const names = [...new Set([...Object.keys(p.firewallBefore), ...Object.keys(p.firewallAfter)])].sort();
  for (const name of names) {
    const b = p.firewallBefore[name] ?? "";
    const a = p.firewallAfter[name] ?? "";
    if (a === b) continue;
    out.push({
      path: `firewall: ${name}`,
      diff: createTwoFilesPatch(
        `a${name.startsWith("/") ? "" : "/"}${name}`,
        `b${name.startsWith("/") ? "" : "/"}${name}`,
        b,
        a,
        "live (as qjail generates it)",
        "after apply",
        {
          context: 3,
        },
      ),
    });
  }
  return out;
}

/**
 * Bring the host to `spec`. Refusals found while planning throw (nothing
 * changed). Once work has begun, a failure is recorded in the report
 * (`error`, the jail's `result: "failed"`, the rest "not done") and returned.
 */
export async function applySpec(
  choice: PlatformChoice,
  io: OpsIo & { progress?(line: string): void },
  spec: DesiredSpec,
  opts: ApplyOptions & { diff: boolean },
): Promise<ApplyReport> {
  const ctx: ApplyContext = {
    root: choice.root,
    platformName: choice.platform,
    platform: platformFor(choice, io),
    env: io.env,
    stderr: io.stderr,
    ...(io.progress ? { progress: io.progress } : {}),
  };
  if (opts.check) {
    const p = await loadAndPlan(ctx, spec, opts);
    if (opts.diff) p.report.diffs = await diffsOf(ctx.root, p);
    return p.report;
  }
  return withHostLock(ctx.root, async () => {
    const p = await loadAndPlan(ctx, spec, opts);
    if (opts.diff) p.report.diffs = await diffsOf(ctx.root, p);
    if (!p.report.changed) return p.report;
    await execute(ctx, p);
    return p.report;
  });
}

async function execute(ctx: ApplyContext, p: Planned): Promise<void> {
  const { report } = p;
  const say = (line: string): void => ctx.progress?.(line);
  const fail = (e: unknown): void => {
    report.error = errorInfo(e);
  };
  if (p.hostFile) {
    try {
      await applyPlan(
        {
          title: "host settings",
          steps: [{ kind: "writeFile", path: p.hostFile.path, content: p.hostFile.content, mode: 0o644 }],
        },
        { root: ctx.root, runCommands: false },
      );
      report.host.result = "done";
      say(`host: ${report.host.changes.map((c) => `${c.key}="${c.to}"`).join(" ")}`);
    } catch (e) {
      report.host.result = "failed";
      fail(e);
    }
  }
  let stopped = report.error !== undefined;
  const done = new Set<string>();
  for (const [i, pj] of p.jails.entries()) {
    const jr = report.jails[i] as JailReport;
    if (stopped) {
      jr.result = "not done";
      continue;
    }
    const rt = openJailRuntime(
      { root: ctx.root, platform: ctx.platformName },
      { stderr: ctx.stderr, env: ctx.env },
      pj.layout,
    );
    try {
      for (const w of pj.work) {
        if (w.kind === "stop") await ctx.platform.stop(w.jail);
        else if (w.kind === "create" || w.kind === "config") await rt.apply(w.plan);
        else if (w.kind === "delete") await applyDeletePlan(rt, w.plan, [w.jail]);
        else await startJail(ctx.platform, ctx.root, w.jail);
      }
      jr.result = "done";
      done.add(pj.intent.name);
      say(
        `${pj.intent.name}: ${pj.intent.actions.filter((a) => !/^(un)?expose /.test(a)).join(", ") || "exposures"}`,
      );
    } catch (e) {
      jr.result = "failed";
      jr.error = errorInfo(e);
      fail(
        new UsageError(
          (e instanceof UsageError ? e.code : "QJ7020") as `QJ${number}`,
          `jail ${shown(pj.intent.name)}: ${(e as Error).message}`,
          e instanceof UsageError ? e.hint : undefined,
        ),
      );
      stopped = true;
    }
  }
  // One reconcile: the exposures of every jail that finished, and the rules from the records.
  if (report.firewall.result === "unchanged" && !p.exposures.changed) return;
  // The exposure files of the jails that finished, then the reconciler: rules from the records (src/ops/reconcile.ts).
  const unfinished = new Set(p.jails.filter((pj) => !done.has(pj.intent.name)).map((pj) => pj.intent.name));
  const files: Plan = {
    title: p.exposures.files.title,
    steps: p.exposures.files.steps.filter(
      (s) =>
        s.kind === "mkdir" || !("path" in s) || !unfinished.has(s.path.slice(s.path.lastIndexOf("/") + 1)),
    ),
  };
  const rt = openJailRuntime(
    { root: ctx.root, platform: ctx.platformName },
    { stderr: ctx.stderr, env: ctx.env },
    hostLayout(),
  );
  try {
    const outcome = await rt.applyReconciled(files);
    report.firewall.result = outcome.synced || files.steps.length > 0 ? "done" : "unchanged";
    report.firewall.active = outcome.synced ? outcome.active : null;
    report.warnings.push(...outcome.warnings.filter((w) => !report.warnings.includes(w)));
    if (outcome.synced)
      say(
        `firewall: ${p.host.firewall} rules ${outcome.active ? "loaded and verified" : "written (not loaded here)"}`,
      );
  } catch (e) {
    report.firewall.result = "failed";
    if (report.error === undefined) fail(e);
  }
}

/** The defaults qjail.host's keys fall back to, as expose reads them: detected only on the real host. */
async function hostDefaults(root: string, platformName: "freebsd" | "linux"): Promise<HostConfig> {
  return defaultHostConfig(platformName, root === "/" ? await detectHostFacts(platformName) : {});
}
