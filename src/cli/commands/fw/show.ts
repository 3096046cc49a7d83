import { defineCommand, refuseOperands } from "../../command.js";
import { write } from "../../context.js";
import { UsageError, shown } from "../../../core/errors.js";
import { FIREWALL_KINDS, type FirewallKind } from "../../../core/hostconfig.js";
import { buildModel } from "../../../ops/sync.js";
import { generateIpf, generateIpnat } from "../../../firewall/ipf/generate.js";
import { generatePf, pfAnchorPath } from "../../../firewall/pf/generate.js";
import { formatIpfw, generateIpfw } from "../../../firewall/ipfw/generate.js";
import { generateNft, NFT_FAMILY, NFT_TABLE } from "../../../firewall/nft/generate.js";
import { loadExposeState } from "../../../ops/expose-state.js";

export const fwShowCommand = defineCommand({
  path: ["fw", "show"],
  summary: "Print the firewall rules qjail manages, for the configured firewall or any of the four.",
  usage: ["fw show [--firewall ipf|pf|ipfw|nft|all]"],
  details: `
Prints what qjail generates from the host config and the exposures: for
IPFilter the body of qjail's marked section in ipnat.rules and ipf.rules, for
pf the text of anchor qjail/expose, for ipfw the nat instance line and the
numbered rule block, for nftables table inet qjail. Without --firewall, the
firewall named in /usr/local/etc/qjail.host; '--firewall all' prints all four
(useful before switching firewalls). Nothing is loaded or written.`,
  examples: [
    { command: "qjail fw show", description: "the rules of the configured firewall" },
    { command: "qjail fw show --firewall all", description: "the same exposures in all four languages" },
  ],
  options: { firewall: { type: "string" } },
  json: true,
  async run(inv) {
    refuseOperands(
      inv.positionals,
      "fw show",
      "QJ3019",
      "Run 'qjail fw show' or 'qjail fw show --firewall all'.",
    );
    const state = await loadExposeState(inv.global);
    const wanted = typeof inv.values.firewall === "string" ? inv.values.firewall : state.host.firewall;
    if (wanted !== "all" && !(FIREWALL_KINDS as readonly string[]).includes(wanted)) {
      throw new UsageError(
        "QJ3018",
        `unknown firewall ${shown(wanted)}`,
        `Give one of ${FIREWALL_KINDS.join(", ")} or all.`,
      );
    }
    const kinds = wanted === "all" ? FIREWALL_KINDS : [wanted as FirewallKind];
    const { model, dropped } = buildModel(state.host, state.exposures, state.jails);
    const out: Record<string, Record<string, string>> = {};
    for (const k of kinds) {
      if (k === "ipf")
        out.ipf = {
          [`${state.host.ipnatRules} (qjail section)`]: generateIpnat(model),
          [`${state.host.ipfRules} (qjail section)`]: generateIpf(model),
        };
      if (k === "pf") out.pf = { [`anchor ${pfAnchorPath(model)}`]: generatePf(model) };
      if (k === "ipfw")
        out.ipfw = {
          [`nat ${state.host.ipfwNatInstance}, rules ${state.host.ipfwRuleBase}-${state.host.ipfwRuleBase + 99}`]:
            formatIpfw(generateIpfw(model)),
        };
      if (k === "nft") out.nft = { [`table ${NFT_FAMILY} ${NFT_TABLE}`]: generateNft(model) };
    }
    if (inv.global.json) {
      write(inv.ctx.stdout, JSON.stringify({ firewall: state.host.firewall, rules: out, warnings: dropped }));
      for (const d of dropped) write(inv.ctx.stderr, `qjail: warning: ${d}`);
      return 0;
    }
    for (const d of dropped) write(inv.ctx.stderr, `qjail: warning: ${d}`);
    const text: string[] = [];
    for (const [k, files] of Object.entries(out))
      for (const [name, body] of Object.entries(files)) text.push(`# === ${k}: ${name} ===\n${body}`);
    write(inv.ctx.stdout, text.join("\n"));
    return 0;
  },
});
