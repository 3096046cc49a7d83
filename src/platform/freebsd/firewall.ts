import { promises as fsp } from "node:fs";
import type { FirewallModel } from "../../core/exposure.js";
import type { HostConfig } from "../../core/hostconfig.js";
import { physical } from "../../core/paths.js";
import type { Plan, Step } from "../../core/plan.js";
import {
  FirewallLoadError,
  type FirewallLoader,
  type LoadContext,
  type LoadResult,
  type RenderedRules,
} from "../firewall-loader.js";
import { applyEdits, readSection, sectionEdits, type Edit } from "../../firewall/managed-section.js";
import { generateIpf, generateIpnat } from "../../firewall/ipf/generate.js";
import { generatePf, pfAnchorHooks, pfAnchorPath } from "../../firewall/pf/generate.js";
import { countPfRules, parsePf } from "../../firewall/pf/index.js";
import {
  formatIpfw,
  generateIpfw,
  ipfwLoadSequence,
  IPFW_ACTIVE_SET,
  IPFW_BLOCK_SIZE,
  IPFW_STAGING_SET,
  type IpfwRules,
} from "../../firewall/ipfw/generate.js";
import { parseIpfw } from "../../firewall/ipfw/parse.js";
import { parseIpf, parseIpnat } from "../../firewall/ipf/index.js";
import { applyPlan, applyStep, StepFailedError } from "../apply.js";
import { runProgram, type RunResult } from "../run.js";
import { parseIpnatList } from "./parsers/ipnat.js";
import { parseIpfwNatConfig, parseIpfwShow, sameRedirects } from "./parsers/ipfw.js";
import { FREEBSD } from "../../core/freebsd/programs.js";
import { freebsdPublicAddress } from "./facts.js";
import { parseRouteGetInterface } from "./route.js";

/**
 * The FreeBSD loaders for IPFilter, pf and ipfw. Each renders a *script*: the
 * files to write (staged as `<file>.qjail-new`), the refusals to check first,
 * the firewall's own dry-run, the atomic load, the verification of what the
 * kernel then holds, and how to go back. {@link runScript} runs any of them
 * the same way, so the order and the rollback are written once:
 *
 *   precheck (read-only: ipfw's one_pass) → stage files → validate (parse
 *   back, then `ipf -n`/`ipnat -n`/`pfctl -n`/`ipfw -n`) → prune (IPFilter:
 *   `ipnat -rp` of the forwards that go away, with their sessions) → load
 *   (IPFilter: inactive list then swap `ipf -I -Fa -f` + `ipf -s`,
 *   `ipnat -C -f`; pf: `pfctl -o none -a qjail/expose -f`; ipfw: staged rule
 *   set and `set swap`) → rename the staged files into place → verify what is
 *   live.
 *
 * A failure at load or verify runs the rollback commands (the previous files
 * are still in place until the rename) and removes the staged files.
 *
 * The verifications read the kernel's own listing the way FreeBSD prints it,
 * not the way qjail sent it: ipfw lists a NAT instance's redirects in reverse
 * (ip_fw_nat.c inserts each at the head of its list), so they are compared as
 * a multiset; pfctl expands `{ a b }` lists into one rule each, so the
 * expected counts are counted after expansion, and the anchor is loaded with
 * `-o none` so that the optimizer cannot merge or drop rules (pf.conf(5):
 * duplicates and subsets are removed by the default `basic` optimizer).
 *
 * There is no FreeBSD kernel on the machines qjail's tests run on: the
 * loaders are tested through their exact scripts and files, against fakes of
 * ipfw, pfctl, ipf and ipnat that keep state and print it as FreeBSD does
 * (test/helpers/freebsd-host.ts, test/expose/freebsd-loader.test.ts).
 */

export type Runner = (argv: readonly string[]) => Promise<RunResult>;

/** A query of the running host whose output qjail judges: `check` says what is wrong, or nothing. */
export interface ScriptCheck {
  argv: string[];
  why: string;
  check: (stdout: string) => string | undefined;
  /** A non-zero exit is for `check` to judge (from what was printed), not a failure by itself. */
  mayFail?: boolean;
}

export interface ScriptFile {
  /** Logical path. */
  path: string;
  /** Full new content (the admin's file with qjail's section replaced, or qjail's own file). */
  content: string;
  /** The file's mode: the admin's file keeps its own, qjail's files are 0644. */
  mode: number;
  edits?: Edit[];
  original?: string;
  language: "ipf" | "ipnat" | "pf" | "ipfw";
  generated: string;
}

/** A load command and what takes it back if a later step fails (run latest first, as the applier does). */
export interface LoadCommand {
  argv: string[];
  undo?: string[][];
}

/**
 * One firewall load, described per firewall ({@link ipfScript},
 * {@link pfScript}, {@link ipfwScript}) and turned into one plan for the
 * applier by {@link scriptPlan}.
 */
export interface FreebsdScript {
  files: ScriptFile[];
  /** Refusals checked before anything is written (read-only). */
  precheck: ScriptCheck[];
  /** Files the load reads once and removes afterwards (IPFilter's removed rdr rules). */
  scratch: { path: string; content: string }[];
  /** Scratch files a killed earlier load left behind, removed with this load's commit. */
  leftovers?: string[];
  validate: string[][];
  /** Run before the load; a failure is not fatal (what they remove may already be gone). */
  prune: string[][];
  load: LoadCommand[];
  verify: ScriptCheck[];
}

/** After a verified load: the commands that put the previous rules back (every load command's undo, latest first). */
export function restoreCommands(script: FreebsdScript): string[][] {
  return [...script.load].reverse().flatMap((c) => c.undo ?? []);
}

const NEW = ".qjail-new";

async function readText(root: string, logical: string): Promise<string | undefined> {
  try {
    return await fsp.readFile(physical(root, logical), "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw e;
  }
}

/** The mode an admin's file has now (qjail keeps it when it rewrites the file), 0644 when new. */
async function modeOf(root: string, logical: string): Promise<number> {
  try {
    return (await fsp.stat(physical(root, logical))).mode & 0o7777;
  } catch {
    return 0o644;
  }
}

export type LoadStage = FirewallLoadError["stage"];

/**
 * A script as one plan for the applier (src/platform/apply.ts), as
 * docs/ARCHITECTURE.md describes it: prechecks with named checks, the
 * staged files, the validators (the first one's undo removes the staged
 * files), the prune, the loads (each with its undo: what puts the previous
 * rules back from that point), the checks of what is live, then one commit
 * that renames every staged file into place. A failure runs the undo steps of
 * what was done, latest first. `stages[i]` says which stage step i is.
 */
export function scriptPlan(
  script: FreebsdScript,
  title: string,
): {
  plan: Plan;
  stages: (LoadStage | undefined)[];
  checks: Record<string, (stdout: string) => string | undefined>;
} {
  const steps: Step[] = [];
  const stages: (LoadStage | undefined)[] = [];
  const checks: Record<string, (stdout: string) => string | undefined> = {};
  const add = (step: Step, stage?: LoadStage): void => {
    steps.push(step);
    stages.push(stage);
  };
  const checked = (c: ScriptCheck, name: string, stage: LoadStage): void => {
    checks[name] = c.check;
    add(
      { kind: "run", argv: c.argv, why: c.why, check: name, ...(c.mayFail ? { mayFail: true } : {}) },
      stage,
    );
  };
  script.precheck.forEach((c, i) => checked(c, `freebsd:precheck:${i}`, "validate"));
  for (const f of script.files)
    add({ kind: "writeFile", path: f.path + NEW, content: f.content, mode: f.mode });
  for (const f of script.scratch) add({ kind: "writeFile", path: f.path, content: f.content, mode: 0o600 });
  const unstage: Step[] = [
    ...script.files.map((f): Step => ({ kind: "remove", path: f.path + NEW })),
    ...script.scratch.map((f): Step => ({ kind: "remove", path: f.path })),
  ];
  script.validate.forEach((argv, i) =>
    add({ kind: "run", argv, why: "dry-run check", ...(i === 0 ? { undo: unstage } : {}) }, "validate"),
  );
  for (const argv of script.prune)
    add({ kind: "run", argv, why: "drop the removed forwards and their sessions", mayFail: true }, "load");
  for (const c of script.load)
    add(
      {
        kind: "run",
        argv: c.argv,
        ...(c.undo ? { undo: c.undo.map((u): Step => ({ kind: "run", argv: u, mayFail: true })) } : {}),
      },
      "load",
    );
  script.verify.forEach((c, i) => checked(c, `freebsd:verify:${i}`, "verify"));
  // The scratch files go in the same unit that puts the rule files in place:
  // a kill right after it must not leave one that the next run (with
  // nothing left to remove) would never take away.
  add({
    kind: "commit",
    steps: [
      ...script.files.map((f): Step => ({ kind: "rename", from: f.path + NEW, to: f.path })),
      ...[...script.scratch.map((f) => f.path), ...(script.leftovers ?? [])].map((path): Step => ({
        kind: "remove",
        path,
      })),
    ],
  });
  return { plan: { title, steps }, stages, checks };
}

// ---------------------------------------------------------------------------
// IPFilter
// ---------------------------------------------------------------------------

/** Where the rdr rules that an IPFilter load removes are written for `ipnat -rp -f`. */
export function ipnatRemovedFile(stateDir: string): string {
  return `${stateDir}/ipnat.removed.rules`;
}

/** The `rdr` lines of qjail's previous section that the new one no longer has. */
function removedRdrLines(previousSection: string | undefined, generated: string): string[] {
  if (previousSection === undefined) return [];
  const keep = new Set(generated.split("\n").map((l) => l.trim()));
  return previousSection
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => /^rdr\s/.test(l) && !keep.has(l));
}

export async function ipfScript(
  model: FirewallModel,
  ctx: LoadContext,
  extAddressChanged: boolean,
): Promise<FreebsdScript> {
  const { host } = model;
  const ipnatOriginal = (await readText(ctx.root, host.ipnatRules)) ?? "";
  const ipfOriginal = (await readText(ctx.root, host.ipfRules)) ?? "";
  const ipnatBody = generateIpnat(model);
  const ipfBody = generateIpf(model);
  const ipnatEdits = sectionEdits(ipnatOriginal, ipnatBody);
  const ipfEdits = sectionEdits(ipfOriginal, ipfBody);
  const nat = host.ipnatRules;
  const filt = host.ipfRules;
  const rdrCount = model.exposures.reduce((n, e) => n + Math.max(1, e.sources.length), 0);
  // ipnat(8): -C deletes the NAT rules, -F the active translations. Flushing
  // the translations on every change would break every connection in use
  // (outbound map sessions get new ports); they are flushed only when the
  // public address changed, as the howto does next to `ipf -y`. The forwards
  // that go away are removed first with their own sessions (-r -p), so an
  // unexposed port does not stay reachable through an established session.
  const removed = removedRdrLines(readSection(ipnatOriginal), ipnatBody);
  const removedFile = ipnatRemovedFile(ctx.layout.stateDir);
  const natFlush = extAddressChanged ? "-CF" : "-C";
  return {
    files: [
      {
        path: nat,
        content: applyEdits(ipnatOriginal, ipnatEdits),
        mode: await modeOf(ctx.root, nat),
        edits: ipnatEdits,
        original: ipnatOriginal,
        language: "ipnat",
        generated: ipnatBody,
      },
      {
        path: filt,
        content: applyEdits(ipfOriginal, ipfEdits),
        mode: await modeOf(ctx.root, filt),
        edits: ipfEdits,
        original: ipfOriginal,
        language: "ipf",
        generated: ipfBody,
      },
    ],
    precheck: [],
    scratch: removed.length > 0 ? [{ path: removedFile, content: removed.join("\n") + "\n" }] : [],
    ...(removed.length === 0 && (await readText(ctx.root, removedFile)) !== undefined
      ? { leftovers: [removedFile] }
      : {}),
    validate: [
      [FREEBSD.ipnat, "-n", "-f", nat + NEW],
      [FREEBSD.ipf, "-n", "-f", filt + NEW],
    ],
    prune: removed.length > 0 ? [[FREEBSD.ipnat, "-r", "-p", "-f", removedFile]] : [],
    load: [
      // Only the inactive list changes here; from the swap on, the previous
      // files (still in place until the commit) are loaded back the same way.
      {
        argv: [FREEBSD.ipf, "-I", "-Fa", "-f", filt + NEW],
        undo: [
          [FREEBSD.ipf, "-I", "-Fa", "-f", filt],
          [FREEBSD.ipf, "-s"],
          [FREEBSD.ipnat, "-C", "-f", nat],
        ],
      },
      { argv: [FREEBSD.ipf, "-s"] },
      { argv: [FREEBSD.ipnat, natFlush, "-f", nat + NEW] },
      // The howto's resync: rules naming rl0 or 0/32 took the old address at load.
      ...(extAddressChanged ? [{ argv: [FREEBSD.ipf, "-y"] }] : []),
    ],
    verify: [
      {
        argv: [FREEBSD.ipnat, "-l"],
        why: "verify what is live",
        check: (out) => {
          const live = parseIpnatList(out).rules.filter((x) => x.kind === "rdr").length;
          return live >= rdrCount
            ? undefined
            : `ipnat -l lists ${live} rdr rules, expected at least ${rdrCount}`;
        },
      },
    ],
  };
}

// ---------------------------------------------------------------------------
// pf
// ---------------------------------------------------------------------------

export function pfRulesFile(host: HostConfig, stateDir: string): string {
  return `${stateDir}/pf.${host.pfAnchor}.expose.rules`;
}

/** Translation and filter rules of pfctl's `-s nat` / `-s rules` listing (one rule per line). */
function pfListed(text: string, kinds: RegExp): number {
  return text.split("\n").filter((l) => kinds.test(l.trim())).length;
}

export async function pfScript(model: FirewallModel, ctx: LoadContext): Promise<FreebsdScript> {
  const anchor = pfAnchorPath(model);
  const file = pfRulesFile(model.host, ctx.layout.stateDir);
  const text = generatePf(model);
  const previous = await readText(ctx.root, file);
  const hadPrevious = previous !== undefined;
  // The rules pf loads from the file (after list expansion): the module parses its own printer's output.
  const counts = countPfRules(parsePf(text));
  const natCount = counts.nat + counts.rdr + counts.binat;
  const passCount = counts.filter;
  const count = (what: string, out: string, kinds: RegExp, expected: number): string | undefined => {
    const live = pfListed(out, kinds);
    return live === expected ? undefined : `${what} shows ${live} rules, expected ${expected}`;
  };
  return {
    files: [{ path: file, content: text, mode: 0o644, original: previous, language: "pf", generated: text }],
    precheck: [],
    scratch: [],
    // -o none: the basic optimizer (pfctl's default) would drop duplicate and
    // subset pass rules and fold six or more into a table, so what is live
    // would no longer be what qjail wrote, rule for rule (the labels qjail
    // puts on its pass rules are optimization barriers too).
    validate: [[FREEBSD.pfctl, "-o", "none", "-a", anchor, "-n", "-f", file + NEW]],
    prune: [],
    // pfctl loads an anchor as one transaction: a failed load leaves the old one.
    load: [
      {
        argv: [FREEBSD.pfctl, "-o", "none", "-a", anchor, "-f", file + NEW],
        undo: [
          hadPrevious
            ? [FREEBSD.pfctl, "-o", "none", "-a", anchor, "-f", file]
            : [FREEBSD.pfctl, "-a", anchor, "-F", "all"],
        ],
      },
    ],
    verify: [
      {
        argv: [FREEBSD.pfctl, "-P", "-a", anchor, "-s", "nat"],
        why: "verify what is live",
        check: (out) => count("pfctl -s nat", out, /^(nat|rdr|binat)\b/, natCount),
      },
      {
        argv: [FREEBSD.pfctl, "-P", "-a", anchor, "-s", "rules"],
        why: "verify what is live",
        check: (out) => count("pfctl -s rules", out, /^(pass|block|match)\b/, passCount),
      },
    ],
  };
}

/** Does pf.conf call qjail's anchors? Without the hooks the anchor loads but nothing evaluates it. */
export function missingPfHooks(pfConf: string, anchor: string): string[] {
  const hooks = pfAnchorHooks(anchor);
  return [...hooks.translation, ...hooks.filter].filter(
    (h) => !pfConf.split("\n").some((l) => l.trim() === h),
  );
}

/**
 * The hooks the *running* main ruleset lacks, from `pfctl -s nat` and
 * `pfctl -s rules` (pfctl prints them as `nat-anchor "qjail/*" all`). A
 * pf.conf that has them but was not reloaded leaves qjail's anchor unused.
 */
export function missingLiveHooks(sNat: string, sRules: string, anchor: string): string[] {
  const hooks = pfAnchorHooks(anchor);
  const has = (listing: string, hook: string): boolean =>
    listing.split("\n").some((l) => l.trim() === hook || l.trim() === `${hook} all`);
  return [...hooks.translation.filter((h) => !has(sNat, h)), ...hooks.filter.filter((h) => !has(sRules, h))];
}

// ---------------------------------------------------------------------------
// ipfw
// ---------------------------------------------------------------------------

export function ipfwRulesFile(stateDir: string): string {
  return `${stateDir}/ipfw.rules`;
}

export const ONE_PASS_SYSCTL = "net.inet.ip.fw.one_pass";

/**
 * The refusal that protects the host's own rules: with the default
 * `net.inet.ip.fw.one_pass=1`, a packet that matches a `nat` rule leaves the
 * firewall accepted (ip_fw_pfil.c: "honor one-pass in case of successful
 * nat"), so rule 1000 `nat … in recv em0` would accept every inbound packet
 * on the public interface and neither the admin's rules nor qjail's own
 * `--from` limits would ever see it.
 */
export function onePassCheck(): ScriptCheck {
  return {
    argv: [FREEBSD.sysctl, "-n", ONE_PASS_SYSCTL],
    why: "ipfw nat needs one_pass=0, or it accepts every inbound packet",
    // sysctl prints nothing (and exits 1, "unknown oid") while ipfw.ko is not loaded
    mayFail: true,
    check: (out) => {
      const v = out.trim();
      if (v === "")
        return `${ONE_PASS_SYSCTL} cannot be read (sysctl: unknown oid): ipfw is not loaded; start it with 'service ipfw start'`;
      if (v !== "0")
        return `${ONE_PASS_SYSCTL} is ${v}: ipfw would accept every inbound packet on the public interface at qjail's nat rule, so your own rules and --from limits would never apply. Set it to 0 with 'qjail fw setup --write' (now and in /etc/sysctl.conf), then run this again`;
      return undefined;
    },
  };
}

export async function ipfwScript(
  model: FirewallModel,
  ctx: LoadContext,
): Promise<{ script: FreebsdScript; rules: IpfwRules }> {
  const rules = generateIpfw(model);
  const file = ipfwRulesFile(ctx.layout.stateDir);
  const previous = await readText(ctx.root, file);
  const previousNat = previous === undefined ? undefined : parseIpfw(previous).rules?.natConfig;
  const nat = model.host.ipfwNatInstance;
  const base = model.host.ipfwRuleBase;
  const ipfw = FREEBSD.ipfw;
  const staging = String(IPFW_STAGING_SET);
  const previousNatCommand = previousNat
    ? [ipfw, "-q", ...previousNat]
    : [ipfw, "-q", "nat", String(nat), "delete"];
  // Before the swap the new block only sits, disabled, in the staging set
  // (dropped again); the nat instance goes back to the previous config; after
  // the swap the staging set holds the previous block: swap back. Undone
  // latest first: swap back, previous nat, drop the staging set.
  const load: LoadCommand[] = ipfwLoadSequence(rules)
    .slice(0, -1)
    .map((a, i): LoadCommand => {
      const argv = [ipfw, ...a];
      if (i === 0) return { argv, undo: [[ipfw, "-q", "delete", "set", staging]] };
      if (a[1] === "nat") return { argv, undo: [previousNatCommand] };
      if (a[1] === "set" && a[2] === "swap")
        return { argv, undo: [[ipfw, "-q", "set", "swap", String(IPFW_ACTIVE_SET), staging]] };
      return { argv };
    });
  const wantedRedirects = parseIpfwNatConfig(rules.natConfig.join(" ")).redirects;
  const wantedNumbers = new Map<number, number>();
  for (const r of rules.rules) wantedNumbers.set(Number(r[0]), (wantedNumbers.get(Number(r[0])) ?? 0) + 1);
  const range = `${base}-${base + IPFW_BLOCK_SIZE - 1}`;
  return {
    rules,
    script: {
      files: [
        {
          path: file,
          content: formatIpfw(rules),
          mode: 0o644,
          original: previous,
          language: "ipfw",
          generated: formatIpfw(rules),
        },
      ],
      precheck: [onePassCheck()],
      scratch: [],
      validate: rules.rules.map(([num, ...rest]) => [ipfw, "-n", "add", num as string, ...rest]),
      prune: [],
      // The last step of ipfwLoadSequence (deleting the staging set) is left to
      // the next load: until then the staging set holds the previous block,
      // disabled, so a restore after a verified load can still swap it back.
      load,
      verify: [
        {
          argv: [ipfw, "nat", String(nat), "show", "config"],
          why: "verify what is live (the kernel lists redirects in reverse)",
          check: (out) => {
            const d = sameRedirects(wantedRedirects, parseIpfwNatConfig(out).redirects);
            if (d.missing.length === 0 && d.extra.length === 0) return undefined;
            return `ipfw nat ${nat} show config does not hold the redirects sent (missing: ${d.missing.join(", ") || "none"}; unexpected: ${d.extra.join(", ") || "none"})`;
          },
        },
        {
          // Rules of the disabled staging set are not listed (ipfw show hides
          // disabled sets), so this is the active block alone.
          argv: [ipfw, "show", range],
          why: "verify what is live",
          // exit 69 (EX_UNAVAILABLE) with "no rules in range": an empty block, nothing listed
          mayFail: true,
          check: (out) => {
            const live = new Map<number, number>();
            for (const x of parseIpfwShow(out)) live.set(x.number, (live.get(x.number) ?? 0) + 1);
            const wrong = [...new Set([...wantedNumbers.keys(), ...live.keys()])]
              .sort((a, b) => a - b)
              .filter((n) => (wantedNumbers.get(n) ?? 0) !== (live.get(n) ?? 0))
              .map((n) => `${n}: ${live.get(n) ?? 0} of ${wantedNumbers.get(n) ?? 0}`);
            return wrong.length === 0
              ? undefined
              : `ipfw show ${range} does not list the rules loaded (rule: live of expected ${wrong.join(", ")})`;
          },
        },
      ],
    },
  };
}

// ---------------------------------------------------------------------------
// Running a script
// ---------------------------------------------------------------------------

/**
 * Apply a script's plan ({@link scriptPlan}) with the one applier: precheck,
 * stage, validate, prune, load, verify, commit; a failure runs the undo
 * steps of what was done (the previous rules back, the staged files gone)
 * and becomes a {@link FirewallLoadError} naming the stage. Without
 * `runCommands` only the files are written (the load stays pending, `qjail
 * fw sync` on the host does the rest).
 */
export async function runScript(script: FreebsdScript, ctx: LoadContext, runner: Runner): Promise<void> {
  const { plan, stages, checks } = scriptPlan(script, "load firewall rules");
  try {
    await applyPlan(plan, {
      root: ctx.root,
      runCommands: ctx.runCommands,
      runner: (argv) => runner(argv),
      checks,
    });
  } catch (e) {
    if (!(e instanceof StepFailedError) || e.step.kind !== "run") throw e;
    // the undo steps ran (the previous rules are back); the staged files go
    // too, also when the failing step was the first validator (not yet done,
    // so its own undo did not run)
    const fileOpts = { root: ctx.root, runCommands: false };
    for (const f of script.files) await applyStep({ kind: "remove", path: f.path + NEW }, fileOpts);
    for (const f of script.scratch) await applyStep({ kind: "remove", path: f.path }, fileOpts);
    const stage = stages[e.index] ?? "load";
    const said = (e.result?.stderr || e.result?.stdout || "").trim();
    const message =
      e.step.check !== undefined
        ? e.message
        : stage === "validate"
          ? `${e.step.argv.join(" ")} rejected the rules: ${said}`
          : `${e.step.argv.join(" ")} failed: ${said}`;
    throw new FirewallLoadError(
      stage === "validate" ? message : `${message}; the previous rules were loaded again`,
      stage,
    );
  }
}

/** The read-only queries a render makes of the running host, shown first in the plan. */
function publicAddressRead(extIf: string): ScriptCheck {
  return { argv: [FREEBSD.ifconfig, extIf, "inet"], why: "read the public address", check: () => undefined };
}

function pfHookReads(): ScriptCheck[] {
  return [
    { argv: [FREEBSD.pfctl, "-s", "nat"], why: "are the anchor hooks loaded?", check: () => undefined },
    { argv: [FREEBSD.pfctl, "-s", "rules"], why: "are the anchor hooks loaded?", check: () => undefined },
  ];
}

export function createFreebsdFirewallLoader(
  kind: "ipf" | "pf" | "ipfw",
  runner: Runner = (argv) => runProgram(argv),
): FirewallLoader {
  const scripts = new WeakMap<RenderedRules, { script: FreebsdScript; extAddress: string | null }>();
  return {
    kind,
    async render(model: FirewallModel, ctx: LoadContext): Promise<RenderedRules> {
      const reads: ScriptCheck[] = [publicAddressRead(model.host.extIf)];
      const extAddress = ctx.runCommands
        ? ((await freebsdPublicAddress(model.host.extIf, runner)) ?? null)
        : null;
      const changed =
        extAddress !== null && ctx.previousExtAddress !== null && extAddress !== ctx.previousExtAddress;
      const warnings: string[] = [];
      let script: FreebsdScript;
      if (kind === "ipf") script = await ipfScript(model, ctx, changed);
      else if (kind === "pf") {
        script = await pfScript(model, ctx);
        const pfConf = await readText(ctx.root, model.host.pfConf);
        const missing = missingPfHooks(pfConf ?? "", model.host.pfAnchor);
        if (missing.length > 0)
          warnings.push(
            `QJ3051: ${model.host.pfConf} lacks ${missing.join(", ")}; pf will not evaluate qjail's rules until 'qjail fw setup --write' adds them`,
          );
        reads.push(...pfHookReads());
        if (missing.length === 0 && ctx.runCommands) {
          const [sNat, sRules] = await Promise.all(pfHookReads().map((c) => runner(c.argv)));
          const live =
            sNat && sRules && sNat.code === 0 && sRules.code === 0
              ? missingLiveHooks(sNat.stdout, sRules.stdout, model.host.pfAnchor)
              : [];
          if (live.length > 0)
            warnings.push(
              `QJ3053: ${model.host.pfConf} has qjail's hooks but the running pf ruleset lacks ${live.join(", ")}: pf will not evaluate qjail's rules until pf.conf is loaded again ('service pf reload')`,
            );
        }
      } else {
        const r = await ipfwScript(model, ctx);
        script = r.script;
        for (const u of r.rules.unsupported)
          warnings.push(`QJ3052: not forwarded by ipfw: ${u.exposure}: ${u.reason}`);
      }
      const plan: Plan = {
        title: `load ${kind} rules for ${model.exposures.length} forwarded port rule(s)`,
        // what render read first (it is not read again), then the load as the applier runs it
        steps: [
          ...reads.map((c): Step => ({ kind: "run", argv: c.argv, why: c.why })),
          ...scriptPlan(script, "").plan.steps,
        ],
        warnings,
      };
      const rendered: RenderedRules = {
        kind,
        rules: Object.fromEntries(script.files.map((f) => [f.path, f.content])),
        plan,
        warnings,
      };
      scripts.set(rendered, { script, extAddress });
      return rendered;
    },
    async isLive(host: HostConfig): Promise<boolean> {
      if (kind === "pf") {
        const r = await runner([FREEBSD.pfctl, "-a", `${host.pfAnchor}/expose`, "-s", "nat"]);
        return r.code === 0 && r.stdout.trim() !== "";
      }
      if (kind === "ipfw") {
        // The NAT instance outlives `ipfw -f flush` (service ipfw restart):
        // qjail's rules are live only if the block's nat rule is there too.
        const nat = await runner([FREEBSD.ipfw, "nat", String(host.ipfwNatInstance), "show", "config"]);
        const rule = await runner([FREEBSD.ipfw, "show", String(host.ipfwRuleBase)]);
        return nat.code === 0 && /redirect_port/.test(nat.stdout) && rule.code === 0;
      }
      const r = await runner([FREEBSD.ipnat, "-l"]);
      return r.code === 0 && parseIpnatList(r.stdout).rules.length > 0;
    },
    async load(
      rendered: RenderedRules,
      ctx: LoadContext,
    ): Promise<LoadResult & { restore: () => Promise<void> }> {
      const s = scripts.get(rendered);
      if (!s) throw new Error("internal: load() of rules this loader did not render");
      validateParseBack(s.script);
      await runScript(s.script, ctx, runner);
      return {
        active: ctx.runCommands,
        extAddress: s.extAddress,
        // After a verified load the staged files are in place: put the previous
        // ones back, then load them with the rollback commands.
        restore: async () => {
          const fileOpts = { root: ctx.root, runCommands: false };
          for (const f of s.script.files) {
            if (f.original !== undefined)
              await applyStep(
                { kind: "writeFile", path: f.path, content: f.original, mode: f.mode },
                fileOpts,
              );
            else await applyStep({ kind: "remove", path: f.path }, fileOpts);
          }
          if (ctx.runCommands) for (const argv of restoreCommands(s.script)) await runner(argv);
        },
      };
    },
  };
}

/**
 * The generated text must read back with the project's parsers (the IPFilter
 * language module for ipf/ipnat, qjail's own readers for pf and ipfw) before
 * any firewall sees it. Only qjail's part is checked: the admin's own lines
 * are theirs, and the firewall's dry-run judges the whole file.
 */
export function validateParseBack(script: FreebsdScript): void {
  for (const f of script.files) {
    const diags: { line: number; message: string }[] =
      f.language === "pf"
        ? parsePf(f.generated).diagnostics
        : f.language === "ipfw"
          ? parseIpfw(f.generated).diagnostics
          : f.language === "ipf"
            ? parseIpf(f.generated).diagnostics.map((d) => ({ line: d.line, message: d.message }))
            : parseIpnat(f.generated).diagnostics.map((d) => ({ line: d.line, message: d.message }));
    const d = diags[0];
    if (d)
      throw new FirewallLoadError(
        `generated ${f.language} rules for ${f.path} do not parse back: line ${d.line}: ${d.message}`,
        "validate",
      );
  }
}

/**
 * Defaults for the host config on FreeBSD: the default route's interface and
 * the firewalls enabled in rc.conf (`sysrc -n`), in the order pf, IPFilter, ipfw.
 */
export async function detectFreebsdHostFacts(
  runner: Runner = (argv) => runProgram(argv),
): Promise<import("../../core/hostconfig.js").HostFacts> {
  const facts: import("../../core/hostconfig.js").HostFacts = {};
  const route = await runner([FREEBSD.route, "-n", "get", "-inet", "default"]).catch(() => undefined);
  const dev = route && route.code === 0 ? parseRouteGetInterface(route.stdout) : undefined;
  if (dev) facts.defaultRouteIf = dev;
  const enabled: ("pf" | "ipf" | "ipfw")[] = [];
  for (const [kind, knob] of [
    ["pf", "pf_enable"],
    ["ipf", "ipnat_enable"],
    ["ipfw", "firewall_enable"],
  ] as const) {
    const r = await runner([FREEBSD.sysrc, "-n", knob]).catch(() => undefined);
    if (r && r.code === 0 && /^yes$/i.test(r.stdout.trim())) enabled.push(kind);
  }
  if (enabled.length > 0) facts.enabledFirewalls = enabled;
  return facts;
}
