import type { FirewallModel, ResolvedExposure } from "../../core/exposure.js";
import { describeExposure, formatRange } from "../../core/exposure.js";

/**
 * ipfw in-kernel NAT for qjail's exposures (ipfw(8), section NETWORK ADDRESS
 * TRANSLATION).
 *
 * `ipfw nat N config …` replaces the whole instance, so the line is always
 * regenerated with every `redirect_port`. The rules live in a numbered block
 * qjail owns (ipfw_rule_base … +99), kept in rule set {@link IPFW_ACTIVE_SET};
 * a reload builds the new block in {@link IPFW_STAGING_SET} (disabled) and
 * swaps the two sets, which ipfw does atomically.
 *
 * What ipfw cannot do here, reported instead of generated:
 * - IPv6: libalias (ipfw nat) translates IPv4 only;
 * - an exposure `--on` another interface: one NAT instance serves ext_if.
 * Hairpin is not possible: the nat rule only sees packets crossing ext_if, and
 * connections from the host or its jails to the public address stay local.
 */

export const IPFW_ACTIVE_SET = 20;
export const IPFW_STAGING_SET = 21;
export const IPFW_BLOCK_SIZE = 100;

export interface IpfwRules {
  /** The instance configuration, as ipfw's argv after "ipfw -q". */
  natConfig: string[];
  /** Rules of the block, each ipfw argv after "ipfw -q add" (number first, then "set N" is added by the loader). */
  rules: string[][];
  /** Exposures ipfw cannot express, with the reason. */
  unsupported: { exposure: string; reason: string }[];
}

/**
 * The rule number of the k-th of n exposures. Each exposure's rules (its
 * allow lines and the closing deny of a --from list) share one number;
 * ipfw keeps rules with the same number in the order they were added
 * (ipfw(8): several rules may have the same number), so the order of
 * evaluation stays the order written. Up to {@link IPFW_EXPOSURE_NUMBERS}
 * exposures each get their own number (base+1, base+2, ...); past that the
 * exposures share the numbers in order, so the block never outgrows the
 * range qjail owns and the admin's rules around it are never touched.
 */
export const IPFW_EXPOSURE_NUMBERS = IPFW_BLOCK_SIZE - 2;

export function ipfwExposureNumber(base: number, k: number, n: number): number {
  return base + 1 + Math.floor((k * IPFW_EXPOSURE_NUMBERS) / Math.max(n, IPFW_EXPOSURE_NUMBERS));
}

export function generateIpfw(model: FirewallModel): IpfwRules {
  const { host } = model;
  const base = host.ipfwRuleBase;
  const unsupported: IpfwRules["unsupported"] = [];
  const usable: ResolvedExposure[] = [];
  const v6: ResolvedExposure[] = [];
  for (const e of model.exposures) {
    if (e.family === 6) v6.push(e);
    else if (e.on?.kind === "interface" && e.on.name !== host.extIf) {
      unsupported.push({
        exposure: describeExposure(e),
        reason: `qjail's ipfw nat instance serves ${host.extIf} only, not ${e.on.name}`,
      });
    } else usable.push(e);
  }
  // A jail with both families gives one resolved exposure per family: say
  // that only the IPv6 half is missing, not the whole exposure.
  const forwarded4 = new Set(usable.map((e) => describeExposure(e)));
  for (const e of v6)
    unsupported.push({
      exposure: `${describeExposure(e)} (IPv6)`,
      reason: forwarded4.has(describeExposure(e))
        ? "ipfw nat (libalias) translates IPv4 only; its IPv4 half is forwarded"
        : "ipfw nat (libalias) translates IPv4 only",
    });
  const natConfig = [
    "nat",
    String(host.ipfwNatInstance),
    "config",
    "if",
    host.extIf,
    "same_ports",
    "unreg_only",
    "reset",
  ];
  for (const e of usable) {
    const alias =
      e.on?.kind === "address" ? `${e.on.address}:${formatRange(e.public)}` : formatRange(e.public);
    natConfig.push("redirect_port", e.proto, `${e.target}:${formatRange(e.jailPort)}`, alias);
  }
  const rules: string[][] = [];
  const nat = String(host.ipfwNatInstance);
  rules.push([String(base), "nat", nat, "ip4", "from", "any", "to", "any", "in", "recv", host.extIf]);
  usable.forEach((e, k) => {
    const num = String(ipfwExposureNumber(base, k, usable.length));
    const port = formatRange(e.jailPort);
    for (const src of e.sources.length === 0 ? ["any"] : e.sources)
      rules.push([num, "allow", e.proto, "from", src, "to", e.target, port, "in", "recv", host.extIf]);
    // A --from restriction must also refuse the others: after `nat` the packet
    // goes on through the admin's rules (one_pass=0), which may well allow it.
    if (e.sources.length > 0)
      rules.push([num, "deny", e.proto, "from", "any", "to", e.target, port, "in", "recv", host.extIf]);
  });
  if (host.jailSubnet4 !== undefined) {
    rules.push([
      String(base + IPFW_BLOCK_SIZE - 1),
      "nat",
      nat,
      "ip4",
      "from",
      host.jailSubnet4,
      "to",
      "any",
      "out",
      "xmit",
      host.extIf,
    ]);
  }
  return { natConfig, rules, unsupported };
}

/** The command sequence that replaces qjail's block atomically, each as ipfw's argv (without the program name). */
export function ipfwLoadSequence(r: IpfwRules): string[][] {
  const staging = String(IPFW_STAGING_SET);
  return [
    ["-q", "set", "disable", staging],
    ["-q", "delete", "set", staging],
    ...r.rules.map(([num, ...rest]) => ["-q", "add", num as string, "set", staging, ...rest]),
    ["-q", ...r.natConfig],
    ["-q", "set", "swap", String(IPFW_ACTIVE_SET), staging],
    ["-q", "set", "enable", String(IPFW_ACTIVE_SET)],
    ["-q", "delete", "set", staging],
  ];
}

/** Human-readable text (fw show, --dry-run): the sequence as ipfw commands, one per line. */
export function formatIpfw(r: IpfwRules): string {
  const lines = [
    `ipfw -q ${r.natConfig.join(" ")}`,
    ...r.rules.map((rule) => `ipfw -q add ${rule.join(" ")}`),
  ];
  for (const u of r.unsupported) lines.push(`# not forwarded by ipfw: ${u.exposure}: ${u.reason}`);
  return lines.join("\n") + "\n";
}

export function hairpinNote(): { works: boolean; why: string } {
  return {
    works: false,
    why: "ipfw nat only sees packets crossing the external interface; connections from the host or its jails to the public address are delivered locally without passing it. Connect to the jail's own address instead",
  };
}
