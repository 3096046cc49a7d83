import { promises as fsp } from "node:fs";
import type { HostConfig } from "../../core/hostconfig.js";
import { physical } from "../../core/paths.js";
import type { Step } from "../../core/plan.js";
import { UsageError, shown } from "../../core/errors.js";
import { applyEdits, type Edit } from "../../firewall/managed-section.js";
import { pfHookEdits } from "../../firewall/pf/setup.js";
import { sysctlConfEdits } from "../../firewall/ipfw/setup.js";
import { applyStep } from "../apply.js";
import type { RunResult } from "../run.js";
import { ONE_PASS_SYSCTL } from "./firewall.js";
import { FREEBSD } from "../../core/freebsd/programs.js";

/**
 * `qjail fw setup --write` on FreeBSD: the one-time host changes, as plan
 * steps, every command that runs included.
 *
 * pf: the hooks go into a staged copy of pf.conf, `pfctl -nf` checks the
 * whole file (a pf.conf pf would reject is refused now, not found at the
 * next boot, when rc.d/pf would come up with an empty ruleset that passes
 * everything), the copy replaces pf.conf keeping its mode, and
 * `pfctl -f pf.conf` loads it: until the running main ruleset has the
 * hooks, pf never evaluates qjail's anchor.
 *
 * ipfw: net.inet.ip.fw.one_pass=0, now (`sysctl`) and at boot
 * (/etc/sysctl.conf): with one_pass=1 qjail's nat rule would accept every
 * inbound packet and no later rule would ever see it.
 */

export interface SetupEdit {
  path: string;
  original: string;
  edits: Edit[];
}

export const SYSCTL_CONF = "/etc/sysctl.conf";
const NEW = ".qjail-new";

async function readText(root: string, logical: string): Promise<string | undefined> {
  try {
    return await fsp.readFile(physical(root, logical), "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw e;
  }
}

async function modeOf(root: string, logical: string): Promise<number> {
  try {
    return (await fsp.stat(physical(root, logical))).mode & 0o7777;
  } catch {
    return 0o644;
  }
}

/** Marks the step whose failure means "pf is not running", not "setup failed". */
const PF_LOAD_WHY = "load pf.conf so the running ruleset calls qjail's anchor";
const PF_CHECK_WHY = "check the whole pf.conf before it replaces the old one";

export async function freebsdSetupSteps(
  host: HostConfig,
  root: string,
): Promise<{ steps: Step[]; edits: SetupEdit[] }> {
  const steps: Step[] = [];
  const edits: SetupEdit[] = [];
  if (host.firewall === "pf") {
    const original = (await readText(root, host.pfConf)) ?? "";
    const e = pfHookEdits(original, host.pfAnchor);
    edits.push({ path: host.pfConf, original, edits: e });
    if (e.length > 0) {
      const staged = host.pfConf + NEW;
      steps.push(
        {
          kind: "writeFile",
          path: staged,
          content: applyEdits(original, e),
          mode: await modeOf(root, host.pfConf),
        },
        { kind: "run", argv: [FREEBSD.pfctl, "-n", "-f", staged], why: PF_CHECK_WHY },
        { kind: "rename", from: staged, to: host.pfConf },
        { kind: "run", argv: [FREEBSD.pfctl, "-f", host.pfConf], why: PF_LOAD_WHY, mayFail: true },
      );
    }
  } else if (host.firewall === "ipfw") {
    const original = (await readText(root, SYSCTL_CONF)) ?? "";
    const e = sysctlConfEdits(
      original,
      ONE_PASS_SYSCTL,
      "0",
      "qjail: packets go on to the rules after ipfw's nat (one_pass=1 accepts them all at the nat rule)",
    );
    edits.push({ path: SYSCTL_CONF, original, edits: e });
    if (e.length > 0)
      steps.push({
        kind: "writeFile",
        path: SYSCTL_CONF,
        content: applyEdits(original, e),
        mode: await modeOf(root, SYSCTL_CONF),
      });
    steps.push({
      kind: "run",
      argv: [FREEBSD.sysctl, `${ONE_PASS_SYSCTL}=0`],
      why: "now, not only from the next boot",
      mayFail: true,
    });
  }
  return { steps, edits };
}

/**
 * Apply the setup steps. Commands run only when `runCommands` (on the host
 * itself); otherwise the files are written and the commands are returned
 * for the admin to run. A pf.conf that `pfctl -nf` rejects is removed again
 * and refused; a load that fails because pf is not running is reported,
 * with how to start it.
 */
export async function applyFreebsdSetup(
  steps: readonly Step[],
  opts: { root: string; runCommands: boolean; run: (argv: readonly string[]) => Promise<RunResult> },
): Promise<{ notes: string[] }> {
  const notes: string[] = [];
  const fileOpts = { root: opts.root, runCommands: false };
  for (const step of steps) {
    if (step.kind !== "run") {
      await applyStep(step, fileOpts);
      continue;
    }
    if (!opts.runCommands) {
      notes.push(`run on the host: ${step.argv.join(" ")}`);
      continue;
    }
    const r = await opts.run(step.argv);
    if (r.code === 0) continue;
    const why = (r.stderr || r.stdout).trim();
    if (step.why === PF_CHECK_WHY) {
      const staged = step.argv[step.argv.length - 1] as string;
      await applyStep({ kind: "remove", path: staged }, fileOpts);
      throw new UsageError(
        "QJ3026",
        `pfctl rejects ${shown(staged.slice(0, -NEW.length))} with qjail's hooks added: ${shown(why)}`,
        "The file was not changed. Fix the line pfctl names (pfctl -nf FILE), then run 'qjail fw setup --write' again.",
      );
    }
    if (step.why === PF_LOAD_WHY)
      notes.push(`pf did not load it (${why}); if pf is not running, start it with 'service pf start'`);
    else
      notes.push(
        `${step.argv.join(" ")} failed (${why}); run it again once ipfw is loaded ('service ipfw start')`,
      );
  }
  return { notes };
}
