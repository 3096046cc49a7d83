import { promises as fsp, readFileSync } from "node:fs";
import { defineCommand, refuseOperands } from "../../command.js";
import { write } from "../../context.js";
import { physical } from "../../../core/paths.js";
import { formatHostConfig } from "../../../core/hostconfig.js";
import { formatPlan, type Plan, type Step } from "../../../core/plan.js";
import { freebsdSetupSteps, applyFreebsdSetup } from "../../../platform/freebsd/setup.js";
import { runProgram } from "../../../platform/run.js";
import { shouldRunCommands } from "../../../ops/sync.js";
import { platformFor } from "../../../platform/index.js";
import { reconcile } from "../../../ops/reconcile.js";
import { applyEdits, sectionEdits, type Edit } from "../../../firewall/managed-section.js";
import { pfAnchorHooks } from "../../../firewall/pf/generate.js";
import { checkPfConfEdits, pfHookEdits } from "../../../firewall/pf/setup.js";
import { formatPfDiagnostic } from "../../../firewall/pf/index.js";
import { UsageError, shown } from "../../../core/errors.js";
import { IPFW_ACTIVE_SET, IPFW_BLOCK_SIZE, IPFW_STAGING_SET } from "../../../firewall/ipfw/generate.js";
import { loadExposeState, checkThenLocked } from "../../../ops/expose-state.js";

async function readText(path: string): Promise<string | undefined> {
  try {
    return await fsp.readFile(path, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw e;
  }
}

export const fwSetupCommand = defineCommand({
  path: ["fw", "setup"],
  summary: "Show (or with --write, make) the one-time host changes qjail's firewall rules need.",
  usage: ["fw setup [--write]"],
  details: `
Prints what the host needs once, for the firewall in /usr/local/etc/qjail.host:
pf: the three anchor hooks (nat-anchor and rdr-anchor "qjail/*" in the
translation section, anchor "qjail/*" at the end of the filter rules);
IPFilter: qjail's marked section in ipnat.rules and ipf.rules (qjail only
ever rewrites the lines between its markers; move them where you want them,
e.g. after your quick block rules); ipfw: the rule numbers and sets qjail
uses, and net.inet.ip.fw.one_pass=0 (with the default 1 the nat rule accepts
every inbound packet); nftables: nothing, qjail uses its own table inet qjail.

With --write, qjail makes those changes itself: the admin's text outside the
inserted lines is kept byte for byte, and so is the file's mode; hooks and
markers already present are not added twice. pf: the new pf.conf is checked
with 'pfctl -nf' before it replaces the old one (refused, file unchanged, if
pfctl rejects it) and loaded with 'pfctl -f', so the running ruleset calls
qjail's anchor. ipfw: one_pass=0 is set now with sysctl and at boot in
/etc/sysctl.conf. It also writes /usr/local/etc/qjail.host with the detected
settings when the file does not exist yet. Under --dry-run it prints every
step instead, commands included; under --root the commands are not run.`,
  examples: [
    { command: "qjail fw setup", description: "what to add to pf.conf / ipf.rules" },
    { command: "qjail fw setup --write", description: "add it, keeping everything else in the files" },
  ],
  options: { write: { type: "boolean" } },
  json: true,
  mutates: (v) => v.write === true,
  async run(inv) {
    refuseOperands(
      inv.positionals,
      "fw setup",
      "QJ3019",
      "Run 'qjail fw setup' or 'qjail fw setup --write'.",
    );
    return checkThenLocked(
      inv.global,
      () => loadExposeState(inv.global),
      async (state) => {
        const { host, layout, root } = state;
        const edits: { path: string; original: string; edits: Edit[] }[] = [];
        const advice: string[] = [];
        let steps: Step[] = [];
        if (host.firewall === "pf") {
          const hooks = pfAnchorHooks(host.pfAnchor);
          const original = (await readText(physical(root, host.pfConf))) ?? "";
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
            const original = (await readText(physical(root, path))) ?? "";
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
        const hostConfigExists = (await readText(physical(root, layout.hostConfig))) !== undefined;
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
        if (inv.values.write === true && !inv.global.dryRun) {
          const runCommands = shouldRunCommands(host.firewall, root, inv.ctx.env, false);
          const done = await applyFreebsdSetup(plan.steps, {
            root,
            runCommands,
            run: (argv) => runProgram(argv),
          });
          report.notes = done.notes;
          report.written = true;
          // the new sections (or host config) get qjail's rules right away
          const platform = platformFor(inv.global, { stderr: inv.ctx.stderr, env: inv.ctx.env });
          const outcome = await reconcile(
            { root, platform: platform.name, apply: (p) => platform.apply(p) },
            { stderr: inv.ctx.stderr, env: inv.ctx.env },
          );
          for (const w of outcome.warnings) write(inv.ctx.stderr, `qjail: warning: ${w}`);
        }
        if (inv.global.json) write(inv.ctx.stdout, JSON.stringify(report));
        else {
          write(inv.ctx.stdout, advice.join("\n"));
          if (inv.global.dryRun || inv.values.write !== true)
            write(
              inv.ctx.stdout,
              steps.length > 0
                ? `\n${inv.values.write === true ? "Would write" : "With --write, qjail would write"}:\n${formatPlan(plan)}`
                : "\nNothing to write: the host is set up.",
            );
          else {
            const written = steps.flatMap((s) =>
              s.kind === "writeFile" && !s.path.endsWith(".qjail-new")
                ? [s.path]
                : s.kind === "rename"
                  ? [s.to]
                  : [],
            );
            write(
              inv.ctx.stdout,
              written.length > 0 ? `Wrote ${written.join(", ")}` : "Nothing to write: the host is set up.",
            );
            for (const n of report.notes) write(inv.ctx.stdout, n);
          }
        }
        return 0;
      },
    );
  },
});
