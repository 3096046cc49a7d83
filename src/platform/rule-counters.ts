import type { ResolvedExposure } from "../core/exposure.js";
import { verdictKey, type RuleVerdict } from "../core/status.js";
import type { IpfstatRule } from "./freebsd/parsers/ipfstat.js";
import type { IpnatListing } from "./freebsd/parsers/ipnat.js";
import type { PfRule } from "./freebsd/parsers/pfctl.js";
import type { NftRuleset } from "./linux/parsers/nft.js";
import { nftExposureCounter } from "./linux/parsers/nft.js";
import type { IpfwRule, IpfwRedirect } from "./freebsd/parsers/ipfw.js";
import { ipfwAllowFor } from "./freebsd/parsers/ipfw.js";
import { ruleMatchesDestination } from "./freebsd/parsers/ipfstat.js";
import { rdrFor } from "./freebsd/parsers/ipnat.js";

/**
 * Matching live firewall listings to exposures, for status and doctor: the
 * fact gatherers (./freebsd/facts.ts, ./linux/facts.ts) read the listings,
 * and {@link ruleVerdicts} turns them into one {@link RuleVerdict} per
 * resolved exposure, so core works on plain data.
 */

/** Live rule listings with counters, as each firewall reports them. */
export type RuleCounters =
  | { kind: "ipf"; filterIn: IpfstatRule[]; nat: IpnatListing }
  | { kind: "pf"; rules: PfRule[] }
  | { kind: "ipfw"; rules: IpfwRule[]; redirects: IpfwRedirect[] }
  | { kind: "nft"; ruleset: NftRuleset; table: string }
  | { kind: "unavailable"; reason: string };

/** The verdict on every resolved exposure, keyed by {@link verdictKey}. */
export function ruleVerdicts(
  counters: RuleCounters,
  resolved: readonly ResolvedExposure[],
): Record<string, RuleVerdict> {
  const out: Record<string, RuleVerdict> = {};
  for (const e of resolved) out[verdictKey(e)] = exposureCounter(counters, e);
  return out;
}

/** Hit count of the rule(s) that own one exposure, found by what the rule matches, not by its position. */
export function exposureCounter(counters: RuleCounters, e: ResolvedExposure): RuleVerdict {
  switch (counters.kind) {
    case "ipf": {
      // The page's note: the pass rule for the public port never counts a forwarded packet (rdr ran first);
      // the rule that admits the jail's address and port does, so that is the one reported.
      const pass = counters.filterIn.find(
        (r) => r.action === "pass" && ruleMatchesDestination(r, e.target, e.jailPort.low),
      );
      const rdr = rdrFor(counters.nat.rules, e.public.low, e.proto);
      const live = rdr !== undefined && rdr.target === e.target;
      if (pass?.hits !== undefined)
        return {
          hits: pass.hits,
          by: `ipf pass rule${pass.number !== undefined ? ` @${pass.number}` : ""}`,
          live,
        };
      if (rdr?.hits !== undefined) return { hits: rdr.hits, by: "ipnat rdr", live };
      return { hits: null, by: null, live };
    }
    case "nft": {
      // DNAT counters (prerouting + output) count each connection once, by its first packet
      const c = nftExposureCounter(counters.ruleset, counters.table, e);
      // a rule without a `counter` statement has no count; say so rather than print 0
      if (!c.connections) return { hits: null, by: null, live: c.live };
      return { hits: c.connections.packets, by: "nft dnat", live: c.live };
    }
    case "pf": {
      const rule = counters.rules.find(
        (r) =>
          r.action === "pass" &&
          new RegExp(`\\bto ${e.target.replace(/\./g, "\\.")}(/32)? port = ${e.jailPort.low}\\b`).test(
            r.text,
          ),
      );
      if (!rule) return { hits: null, by: null, live: null };
      return { hits: rule.packets ?? null, by: `pf rule @${rule.number}`, live: true };
    }
    case "ipfw": {
      const redirect = counters.redirects.find(
        (r) => r.proto === e.proto && r.target === e.target && r.publicPort === e.public.low,
      );
      const allow = ipfwAllowFor(counters.rules, e.proto, e.target, e.jailPort.low);
      if (!allow) return { hits: null, by: null, live: redirect !== undefined };
      return { hits: allow.packets, by: `ipfw rule ${allow.number}`, live: redirect !== undefined };
    }
    case "unavailable":
      return { hits: null, by: null, live: null };
  }
}
