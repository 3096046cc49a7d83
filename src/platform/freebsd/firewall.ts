import { promises as fsp, renameSync } from "node:fs";
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
import { applyEdits, sectionEdits, type Edit } from "../../firewall/managed-section.js";
import { generateIpf, generateIpnat } from "../../firewall/ipf/generate.js";
import { generatePf, pfAnchorHooks, pfAnchorPath } from "../../firewall/pf/generate.js";
import { countPfRules, parsePf } from "../../firewall/pf/index.js";
import {
  formatIpfw,
  generateIpfw,
  ipfwLoadSequence,
  IPFW_ACTIVE_SET,
  IPFW_STAGING_SET,
  type IpfwRules,
} from "../../firewall/ipfw/generate.js";
import { parseIpfw } from "../../firewall/ipfw/parse.js";
import { parseIpf, parseIpnat } from "../../firewall/ipf/index.js";
import { applyStep } from "../apply.js";
import { runProgram, type RunResult } from "../run.js";
import { parseIpnatList } from "./parsers/ipnat.js";
import { parsePfNat } from "./parsers/pfctl.js";
import { freebsdPublicAddress } from "./facts.js";
import { parseRouteGetInterface } from "./route.js";

/**
 * The FreeBSD loaders for IPFilter, pf and ipfw. Each renders a *script*: the
 * files to write (staged as `<file>.qjail-new`), the firewall's own dry-run,
 * the atomic load, the verification, and how to go back. {@link runScript}
 * runs any of them the same way, so the order and the rollback are written
 * once:
 *
 *   stage files → validate (parse back, then `ipf -n`/`ipnat -n`/`pfctl -n`)
 *   → load (IPFilter: inactive list then swap `ipf -I -Fa -f` + `ipf -s`,
 *   `ipnat -CF -f`; pf: `pfctl -a qjail/expose -f`; ipfw: staged rule set and
 *   `set swap`) → rename the staged files into place → verify what is live.
 *
 * A failure at load or verify runs the rollback commands (the previous files
 * are still in place until the rename) and removes the staged files.
 *
 * There is no FreeBSD kernel on the machines qjail's tests run on: the
 * loaders are tested through their exact scripts and files, and with an
 * injected runner that fails chosen commands (test/firewall/freebsd-loader.test.ts).
 */

export type Runner = (argv: readonly string[]) => Promise<RunResult>;

export interface FreebsdScript {
  /** Logical path → full new content (the admin's file with qjail's section replaced, or qjail's own file). */
  files: {
    path: string;
    content: string;
    edits?: Edit[];
    original?: string;
    language: "ipf" | "ipnat" | "pf" | "ipfw";
    generated: string;
  }[];
  validate: string[][];
  load: string[][];
  verify: { argv: string[]; check: (stdout: string) => string | undefined }[];
  /** How to go back, given how many load commands had succeeded (all of them after a failed verify). */
  rollback: (loadDone: number) => string[][];
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

function stagedPlanSteps(script: FreebsdScript): Step[] {
  return [
    ...script.files.map((f): Step => ({
      kind: "writeFile",
      path: f.path + NEW,
      content: f.content,
      mode: 0o644,
    })),
    ...script.validate.map((argv): Step => ({ kind: "run", argv, why: "dry-run check" })),
    ...script.load.map((argv): Step => ({ kind: "run", argv })),
    ...script.files.map((f): Step => ({ kind: "rename", from: f.path + NEW, to: f.path })),
    ...script.verify.map((v): Step => ({ kind: "run", argv: v.argv, why: "verify what is live" })),
  ];
}

// ---------------------------------------------------------------------------
// IPFilter
// ---------------------------------------------------------------------------

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
  return {
    files: [
      {
        path: nat,
        content: applyEdits(ipnatOriginal, ipnatEdits),
        edits: ipnatEdits,
        original: ipnatOriginal,
        language: "ipnat",
        generated: ipnatBody,
      },
      {
        path: filt,
        content: applyEdits(ipfOriginal, ipfEdits),
        edits: ipfEdits,
        original: ipfOriginal,
        language: "ipf",
        generated: ipfBody,
      },
    ],
    validate: [
      ["ipnat", "-n", "-f", nat + NEW],
      ["ipf", "-n", "-f", filt + NEW],
    ],
    load: [
      ["ipf", "-I", "-Fa", "-f", filt + NEW],
      ["ipf", "-s"],
      ["ipnat", "-CF", "-f", nat + NEW],
      // The howto's resync: rules naming rl0 or 0/32 took the old address at load.
      ...(extAddressChanged ? [["ipf", "-y"]] : []),
    ],
    verify: [
      {
        argv: ["ipnat", "-l"],
        check: (out) => {
          const live = parseIpnatList(out).rules.filter((r) => r.kind === "rdr").length;
          return live >= rdrCount
            ? undefined
            : `ipnat -l lists ${live} rdr rules, expected at least ${rdrCount}`;
        },
      },
    ],
    // The previous files are still in place: load them the same way.
    rollback: () => [
      ["ipf", "-I", "-Fa", "-f", filt],
      ["ipf", "-s"],
      ["ipnat", "-CF", "-f", nat],
    ],
  };
}

// ---------------------------------------------------------------------------
// pf
// ---------------------------------------------------------------------------

export function pfRulesFile(host: HostConfig, stateDir: string): string {
  return `${stateDir}/pf.${host.pfAnchor}.expose.rules`;
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
  return {
    files: [{ path: file, content: text, original: previous, language: "pf", generated: text }],
    validate: [["pfctl", "-a", anchor, "-n", "-f", file + NEW]],
    load: [["pfctl", "-a", anchor, "-f", file + NEW]],
    verify: [
      {
        argv: ["pfctl", "-a", anchor, "-s", "nat"],
        check: (out) => count("pfctl -s nat", parsePfNat(out).length, natCount),
      },
      // Plain `-s rules` prints one rule per line (parsePfRules reads the -vv form).
      {
        argv: ["pfctl", "-a", anchor, "-s", "rules"],
        check: (out) =>
          count("pfctl -s rules", out.split("\n").filter((l) => /^pass\b/.test(l.trim())).length, passCount),
      },
    ],
    rollback: () =>
      hadPrevious ? [["pfctl", "-a", anchor, "-f", file]] : [["pfctl", "-a", anchor, "-F", "all"]],
  };
}

function count(what: string, live: number, expected: number): string | undefined {
  return live === expected ? undefined : `${what} shows ${live} rules, expected ${expected}`;
}

/** Does pf.conf call qjail's anchors? Without the hooks the anchor loads but nothing evaluates it. */
export function missingPfHooks(pfConf: string, anchor: string): string[] {
  const hooks = pfAnchorHooks(anchor);
  return [...hooks.translation, ...hooks.filter].filter(
    (h) => !pfConf.split("\n").some((l) => l.trim() === h),
  );
}

// ---------------------------------------------------------------------------
// ipfw
// ---------------------------------------------------------------------------

export function ipfwRulesFile(stateDir: string): string {
  return `${stateDir}/ipfw.rules`;
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
  const load = ipfwLoadSequence(rules)
    .slice(0, -1)
    .map((a) => ["ipfw", ...a]);
  const swapAt = load.findIndex((a) => a[2] === "set" && a[3] === "swap");
  const staging = String(IPFW_STAGING_SET);
  const previousNatCommand = previousNat
    ? [["ipfw", "-q", ...previousNat]]
    : [["ipfw", "-q", "nat", String(nat), "delete"]];
  return {
    rules,
    script: {
      files: [
        {
          path: file,
          content: formatIpfw(rules),
          original: previous,
          language: "ipfw",
          generated: formatIpfw(rules),
        },
      ],
      validate: rules.rules.map(([num, ...rest]) => ["ipfw", "-n", "add", num as string, ...rest]),
      // The last step of ipfwLoadSequence (deleting the staging set) is left to
      // the next load: until then the staging set holds the previous block,
      // disabled, so a restore after a verified load can still swap it back.
      load,
      verify: [
        {
          argv: ["ipfw", "nat", String(nat), "show", "config"],
          check: (out) =>
            out.includes(rules.natConfig.slice(3).join(" "))
              ? undefined
              : `ipfw nat ${nat} show config does not show the redirects sent`,
        },
      ],
      // Before the swap the new block only sits, disabled, in the staging set;
      // after it the staging set holds the previous block: swap back.
      rollback: (done) =>
        done > swapAt
          ? [
              ["ipfw", "-q", "set", "swap", String(IPFW_ACTIVE_SET), staging],
              ...previousNatCommand,
              ["ipfw", "-q", "delete", "set", staging],
            ]
          : [["ipfw", "-q", "delete", "set", staging], ...previousNatCommand],
    },
  };
}

// ---------------------------------------------------------------------------
// Running a script
// ---------------------------------------------------------------------------

/**
 * Stage, validate, load, put files in place, verify; roll back on failure.
 * Without `runCommands` only the files are written (the load stays pending,
 * `qjail fw sync` on the host does the rest).
 */
export async function runScript(script: FreebsdScript, ctx: LoadContext, runner: Runner): Promise<void> {
  const fileOpts = { root: ctx.root, runCommands: false };
  const removeStaged = async (): Promise<void> => {
    for (const f of script.files) await applyStep({ kind: "remove", path: f.path + NEW }, fileOpts);
  };
  for (const f of script.files)
    await applyStep({ kind: "writeFile", path: f.path + NEW, content: f.content, mode: 0o644 }, fileOpts);
  if (!ctx.runCommands) {
    commitStaged(script, ctx.root);
    return;
  }
  for (const argv of script.validate) {
    const r = await runner(argv);
    if (r.code !== 0) {
      await removeStaged();
      throw new FirewallLoadError(
        `${argv.join(" ")} rejected the rules: ${(r.stderr || r.stdout).trim()}`,
        "validate",
      );
    }
  }
  let done = 0;
  const rollback = async (): Promise<void> => {
    for (const argv of script.rollback(done)) await runner(argv);
  };
  for (const argv of script.load) {
    const r = await runner(argv);
    if (r.code === 0) done++;
    else {
      await rollback();
      await removeStaged();
      throw new FirewallLoadError(
        `${argv.join(" ")} failed: ${(r.stderr || r.stdout).trim()}; the previous rules were loaded again`,
        "load",
      );
    }
  }
  for (const v of script.verify) {
    const r = await runner(v.argv);
    const problem = r.code !== 0 ? `${v.argv.join(" ")} failed: ${r.stderr.trim()}` : v.check(r.stdout);
    if (problem) {
      await rollback();
      await removeStaged();
      throw new FirewallLoadError(`${problem}; the previous rules were loaded again`, "verify");
    }
  }
  commitStaged(script, ctx.root);
}

/**
 * Put every staged file in place with back-to-back rename(2) calls and no
 * await between them, so a crash can split the set only inside a few
 * microseconds rather than across thread-pool round trips.
 */
function commitStaged(script: FreebsdScript, root: string): void {
  for (const f of script.files) renameSync(physical(root, f.path + NEW), physical(root, f.path));
}

export function createFreebsdFirewallLoader(
  kind: "ipf" | "pf" | "ipfw",
  runner: Runner = (argv) => runProgram(argv),
): FirewallLoader {
  const scripts = new WeakMap<RenderedRules, { script: FreebsdScript; extAddress: string | null }>();
  return {
    kind,
    async render(model: FirewallModel, ctx: LoadContext): Promise<RenderedRules> {
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
      } else {
        const r = await ipfwScript(model, ctx);
        script = r.script;
        for (const u of r.rules.unsupported)
          warnings.push(`QJ3052: not forwarded by ipfw: ${u.exposure}: ${u.reason}`);
      }
      const plan: Plan = {
        title: `load ${kind} rules for ${model.exposures.length} forwarded port rule(s)`,
        steps: stagedPlanSteps(script),
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
        const r = await runner(["pfctl", "-a", `${host.pfAnchor}/expose`, "-s", "nat"]);
        return r.code === 0 && r.stdout.trim() !== "";
      }
      if (kind === "ipfw")
        return (await runner(["ipfw", "nat", String(host.ipfwNatInstance), "show", "config"])).code === 0;
      const r = await runner(["ipnat", "-l"]);
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
                { kind: "writeFile", path: f.path, content: f.original, mode: 0o644 },
                fileOpts,
              );
            else await applyStep({ kind: "remove", path: f.path }, fileOpts);
          }
          if (ctx.runCommands) for (const argv of s.script.rollback(s.script.load.length)) await runner(argv);
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
  const route = await runner(["route", "-n", "get", "-inet", "default"]).catch(() => undefined);
  const dev = route && route.code === 0 ? parseRouteGetInterface(route.stdout) : undefined;
  if (dev) facts.defaultRouteIf = dev;
  const enabled: ("pf" | "ipf" | "ipfw")[] = [];
  for (const [kind, knob] of [
    ["pf", "pf_enable"],
    ["ipf", "ipnat_enable"],
    ["ipfw", "firewall_enable"],
  ] as const) {
    const r = await runner(["sysrc", "-n", knob]).catch(() => undefined);
    if (r && r.code === 0 && /^yes$/i.test(r.stdout.trim())) enabled.push(kind);
  }
  if (enabled.length > 0) facts.enabledFirewalls = enabled;
  return facts;
}
