import { promises as fsp, readFileSync } from "node:fs";
import { UsageError, shown } from "../core/errors.js";
import { formatHostConfig } from "../core/hostconfig.js";
import { physical } from "../core/paths.js";
import type { Plan, Step } from "../core/plan.js";
import { applyEdits, sectionEdits, type Edit } from "../firewall/managed-section.js";
import { IPFW_ACTIVE_SET, IPFW_BLOCK_SIZE, IPFW_STAGING_SET } from "../firewall/ipfw/generate.js";
import { pfAnchorHooks } from "../firewall/pf/generate.js";
import { formatPfDiagnostic } from "../firewall/pf/index.js";
import { checkPfConfEdits, pfHookEdits } from "../firewall/pf/setup.js";
import { applyFreebsdSetup, freebsdSetupSteps } from "../platform/freebsd/setup.js";
import { platformFor, type PlatformChoice } from "../platform/index.js";
import { runProgram } from "../platform/run.js";
import { checkThenLocked, loadExposeState } from "./expose-state.js";
import type { OpsIo } from "./io.js";
import { reconcile } from "./reconcile.js";
import { shouldRunCommands } from "./sync.js";
import { readHostFile } from "../store/jails.js";

/** What `fw setup` found and did (its `--json` document). */
export interface FwSetupReport {
  firewall: string;
  advice: string[];
  edits: { path: string; edits: Edit[] }[];
  written: boolean;
  notes: string[];
}

/**
 * `fw setup [--write]`: what the host's firewall needs so qjail's rules
 * load (pf: the anchor hooks in pf.conf, checked to parse; ipf: qjail's
 * sections in ipnat.rules and ipf.rules; ipfw: its rule range and
 * one_pass=0), and qjail.host when it is missing, as one plan. With `write`
 * (and not dry run) the plan is applied under the host lock and qjail's
 * rules are loaded into the new sections (`warnings`: what the reconciler
 * found).
 */
export async function setupFirewall(
  choice: PlatformChoice & { dryRun: boolean },
  io: OpsIo,
  req: { write: boolean },
): Promise<{ plan: Plan; report: FwSetupReport; warnings: string[] }> {
  return checkThenLocked(
    choice,
    () => loadExposeState(choice),
    async (state) => {
      const { host, layout, root } = state;
      const edits: { path: string; original: string; edits: Edit[] }[] = [];
      const advice: string[] = [];
      let steps: Step[] = [];
      if (host.firewall === "pf") {
        const hooks = pfAnchorHooks(host.pfAnchor);
        const original = (await readHostFile(root, host.pfConf)) ?? "";
        const hookEdits = pfHookEdits(original, host.pfAnchor);
        if (hookEdits.length === 0)
          // Already there: say so, and how pf loads the file if it has not since (doctor QJ5319 checks).
          advice.push(
            `${host.pfConf} already calls qjail's anchor: ${[...hooks.translation, ...hooks.filter].join(", ")}.`,
            `If pf has not loaded it since: pfctl -nf ${host.pfConf} && pfctl -f ${host.pfConf}`,
          );
        else
          advice.push(
            `Add to ${host.pfConf}, in the translation section (after nat/rdr rules):`,
            ...hooks.translation.map((h) => `  ${h}`),
            "and at the end of the filter rules:",
            ...hooks.filter.map((h) => `  ${h}`),
            `then check and load it: pfctl -nf ${host.pfConf} && pfctl -f ${host.pfConf} (--write does both).`,
          );
        // Parse the edited file back: the edit must not make pfctl refuse it.
        const edited = applyEdits(original, hookEdits);
        const readFile = (p: string): string | undefined => {
          try {
            return readFileSync(physical(root, p.startsWith("/") ? p : `/${p}`), "utf8");
          } catch {
            return undefined;
          }
        };
        const check = checkPfConfEdits(original, edited, host.pfAnchor, { readFile });
        if (check.introduced.length > 0)
          throw new UsageError(
            "QJ4801",
            `adding the hooks would make ${shown(host.pfConf)} fail to load:\n${check.introduced
              .map((d) => formatPfDiagnostic(d, edited, host.pfConf))
              .join("\n")}`,
            `Nothing was written. Add the lines by hand where pf.conf's order allows them (run 'qjail fw lint --pf ${host.pfConf}' to check).`,
          );
        // (the edits themselves, with the pfctl -nf check and the load, come from freebsdSetupSteps below)
      } else if (host.firewall === "ipf") {
        advice.push(
          `qjail keeps its rules between its markers in ${host.ipnatRules} and ${host.ipfRules}; --write adds empty sections at the end, move them if you like.`,
        );
        for (const path of [host.ipnatRules, host.ipfRules]) {
          const original = (await readHostFile(root, path)) ?? "";
          edits.push({
            path,
            original,
            edits: /^# BEGIN qjail managed section/m.test(original) ? [] : sectionEdits(original, ""),
          });
        }
        steps = [];
        for (const e of edits.filter((x) => x.edits.length > 0)) {
          // the admin's file keeps its own mode (an ipf.rules made 0600 stays 0600)
          const mode = await fsp
            .stat(physical(root, e.path))
            .then((st) => st.mode & 0o7777)
            .catch(() => 0o644);
          steps.push({ kind: "writeFile", path: e.path, content: applyEdits(e.original, e.edits), mode });
        }
      } else if (host.firewall === "ipfw") {
        advice.push(
          `qjail owns ipfw rules ${host.ipfwRuleBase}-${host.ipfwRuleBase + IPFW_BLOCK_SIZE - 1} (sets ${IPFW_ACTIVE_SET} and ${IPFW_STAGING_SET}) and nat instance ${host.ipfwNatInstance}.`,
          "Keep your own rules outside that range. qjail needs net.inet.ip.fw.one_pass=0: with the default 1, its nat rule accepts every inbound packet and neither your rules nor --from limits apply; 'qjail fw sync' refuses to load until it is 0 (--write sets it now and in /etc/sysctl.conf).",
        );
      } else
        advice.push("Nothing to set up: qjail loads its own table inet qjail and touches no other table.");
      if (host.firewall === "pf" || host.firewall === "ipfw") {
        const fb = await freebsdSetupSteps(host, root);
        edits.push(...fb.edits);
        steps = fb.steps;
      }
      const hostConfigExists = (await readHostFile(root, layout.hostConfig)) !== undefined;
      if (!hostConfigExists)
        steps.push({
          kind: "writeFile",
          path: layout.hostConfig,
          content: formatHostConfig(host),
          mode: 0o644,
        });
      const plan: Plan = { title: `set up ${host.firewall} for qjail`, steps };
      const report = {
        firewall: host.firewall,
        advice,
        edits: edits.map((e) => ({ path: e.path, edits: e.edits })),
        written: false,
        notes: [] as string[],
      };
      const warnings: string[] = [];
      if (req.write && !choice.dryRun) {
        const runCommands = shouldRunCommands(host.firewall, root, io.env, false);
        const done = await applyFreebsdSetup(plan.steps, {
          root,
          runCommands,
          run: (argv) => runProgram(argv),
        });
        report.notes = done.notes;
        report.written = true;
        // the new sections (or host config) get qjail's rules right away
        const platform = platformFor(choice, io);
        const outcome = await reconcile(
          { root, platform: platform.name, apply: (p) => platform.apply(p) },
          io,
        );
        warnings.push(...outcome.warnings);
      }
      return { plan, report, warnings };
    },
  );
}
