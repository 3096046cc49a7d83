import { defineCommand, refuseOperands } from "../command.js";
import { write } from "../context.js";
import { exposureFamilies, formatRange, sortExposures } from "../../core/exposure.js";
import { readFirewallState } from "../../store/exposures.js";
import { exposureKey } from "../../core/exposure.js";
import { hairpinSupport, loaderFor, shouldRunCommands } from "../../ops/sync.js";
import { loadExposeState } from "../../ops/expose-state.js";
import { pfSkipsLoopback } from "../../firewall/pf/setup.js";
import { physical } from "../../core/paths.js";
import { readFile } from "node:fs/promises";

export const portsCommand = defineCommand({
  path: ["ports"],
  summary:
    "List every forwarded public port: jail, protocol, sources, whether it is live, and hairpin support.",
  usage: ["ports [--json]"],
  details: `
One line per exposure: the public port or range (and the address or
interface it is bound to, "*" for every address of ext_if), protocol, the
jail and its port, the jail addresses it goes to, the allowed sources ("any"
without --from), and its state: "active" when the last verified firewall load
contained it, "pending" when it is recorded but not yet loaded (after
--no-load, under --root, or after a firewall restart: run 'qjail fw sync').

Below the table, for each firewall, whether a forwarded port also works from
the host itself and from other jails (hairpin), and if not, why. Damaged
lines in exposure files are listed, not fatal. --json prints one document
with the same fields.`,
  examples: [
    { command: "qjail ports", description: "what is forwarded where" },
    { command: "qjail ports --json", description: "the same for scripts" },
  ],
  options: {},
  json: true,
  async run(inv) {
    refuseOperands(inv.positionals, "ports", "QJ3019", "Run 'qjail ports' (it lists every exposure).");
    const state = await loadExposeState(inv.global);
    const fw = await readFirewallState(state.root, state.layout);
    const problems: string[] = [];
    let active = new Set(fw && fw.firewall === state.host.firewall ? fw.active : []);
    if (active.size > 0 && shouldRunCommands(state.host.firewall, state.root, inv.ctx.env, false)) {
      if (!(await loaderFor(state.host.firewall, inv.ctx.env).isLive(state.host))) {
        active = new Set();
        problems.push(
          `qjail's ${state.host.firewall} rules are not in the running firewall (restarted or flushed?): run 'qjail fw sync'`,
        );
      }
    }
    const hairpin = hairpinSupport();
    if (state.host.firewall === "pf") {
      const pfConf = await readFile(physical(state.root, state.host.pfConf), "utf8").catch(() => "");
      if (pfSkipsLoopback(pfConf)) {
        hairpin.pf = {
          works: false,
          why: `${state.host.pfConf} has 'set skip on lo0', so pf never sees local connections and qjail's rdr on lo0 cannot apply; take lo0 out of 'set skip' or connect to the jail's own address`,
        };
      }
    }
    const rows = sortExposures(state.exposures).map((e) => {
      const jail = state.jails.find((j) => j.name === e.jail);
      const targets = jail
        ? exposureFamilies(e, jail).map((f) => (f === 4 ? jail.ip4[0] : jail.ip6[0]) as string)
        : [];
      return {
        jail: e.jail,
        proto: e.proto,
        public: e.public,
        jailPort: e.jailPort,
        on: e.on === undefined ? null : e.on.kind === "address" ? e.on.address : e.on.name,
        targets,
        sources: e.from,
        comment: e.comment,
        state: active.has(exposureKey(e)) ? "active" : "pending",
        problem:
          jail === undefined
            ? `jail ${e.jail} does not exist`
            : targets.length === 0
              ? "the jail has no address of the needed family"
              : state.host.firewall === "ipfw" && targets.some((t) => t.includes(":"))
                ? "the IPv6 part is not forwarded: ipfw nat translates IPv4 only"
                : state.host.firewall === "ipfw" &&
                    e.on?.kind === "interface" &&
                    e.on.name !== state.host.extIf
                  ? `not forwarded: qjail's ipfw nat instance serves ${state.host.extIf} only`
                  : null,
      };
    });
    problems.push(
      ...state.hostProblems,
      ...state.exposureProblems.map((p) => `${p.file} line ${p.line}: ${p.message}`),
    );
    if (inv.global.json) {
      write(
        inv.ctx.stdout,
        JSON.stringify({
          firewall: state.host.firewall,
          extIf: state.host.extIf,
          exposures: rows,
          hairpin,
          problems,
        }),
      );
      return 0;
    }
    const table: string[][] = [["PUBLIC", "PROTO", "ON", "JAIL:PORT", "TO", "SOURCES", "STATE"]];
    for (const r of rows) {
      table.push([
        formatRange(r.public),
        r.proto,
        r.on ?? "*",
        `${r.jail}:${formatRange(r.jailPort)}`,
        r.targets.join(",") || "-",
        r.sources.join(",") || "any",
        r.problem ? `${r.state} (${r.problem})` : r.state,
      ]);
    }
    const widths = table[0]!.map((_, c) => Math.max(...table.map((row) => (row[c] as string).length)));
    const out = table.map((row) =>
      row.map((cell, c) => (c === row.length - 1 ? cell : cell.padEnd(widths[c] as number))).join("  "),
    );
    if (rows.length === 0) out.push("(no exposures; add one with 'qjail expose JAIL tcp PUBLIC:JAILPORT')");
    // Only the firewall in use matters here; --json carries all four.
    const mine = hairpin[state.host.firewall];
    out.push(
      "",
      `firewall: ${state.host.firewall} on ${state.host.extIf}; hairpin (from the host and other jails): ${mine.works ? "yes" : "no"}`,
      `  ${mine.why}`,
    );
    for (const p of problems) out.push(`problem: ${p}`);
    write(inv.ctx.stdout, out.join("\n"));
    return 0;
  },
});
