import { defineCommand, refuseOperands } from "../../command.js";
import { applyChange } from "../../expose-common.js";
import { loadExposeState, checkThenLocked, refuseBrokenState } from "../../../ops/expose-state.js";

export const fwSyncCommand = defineCommand({
  path: ["fw", "sync"],
  summary: "Regenerate and reload every firewall rule qjail manages (after a firewall restart or reboot).",
  usage: ["fw sync [--no-load]"],
  details: `
Rebuilds qjail's rules from the host config and every exposure, and loads
them the safe way: validate (parse back, then the firewall's own dry-run:
ipf -n / ipnat -n / pfctl -n / nft -c), load atomically (IPFilter's inactive
list and swap, ipnat -CF; a pf anchor; an ipfw rule set swap; one nft
transaction), verify what is live, and record it. A failure puts the previous
rules back and changes no record.

Run it after 'service pf restart', 'service ipfilter restart', an nftables
flush or a reboot (hook it into start-up: qjail's rc script calls it before
starting jails). With IPFilter, when ext_if's address changed since the last
load, it also runs the howto's 'ipf -y' resync. Exposures whose jail no
longer exists, or lost its address, are skipped with a warning.`,
  examples: [
    { command: "qjail fw sync", description: "reload qjail's rules after a firewall restart" },
    { command: "qjail fw sync --dry-run", description: "print the plan and the rules, change nothing" },
  ],
  options: { "no-load": { type: "boolean" } },
  json: true,
  mutates: true,
  async run(inv) {
    refuseOperands(inv.positionals, "fw sync", "QJ3019", "Run 'qjail fw sync'.");
    const check = async () => {
      const state = await loadExposeState(inv.global);
      refuseBrokenState(state);
      return state;
    };
    return checkThenLocked(inv.global, check, async (state) => {
      return applyChange(inv, state, {
        title: `sync ${state.exposures.length} exposure(s) into ${state.host.firewall}`,
        exposures: state.exposures,
        statePlan: undefined,
        noLoad: inv.values["no-load"] === true,
        warnings: [],
        report: { synced: state.exposures.length },
        done: `Synced ${state.exposures.length} exposure(s)`,
      });
    });
  },
});
