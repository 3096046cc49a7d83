import type { ResolvedExposure } from "../core/exposure.js";
import { verdictKey, type RuleVerdict, type StrayForward } from "../core/status.js";
import type { IpfstatRule } from "./freebsd/parsers/ipfstat.js";
import type { IpnatListing } from "./freebsd/parsers/ipnat.js";
import type { PfRule } from "./freebsd/parsers/pfctl.js";
import type { NftRuleset } from "./linux/parsers/nft.js";
import { nftExposureCounter, ownsDnat } from "./linux/parsers/nft.js";
import type { IpfwRule, IpfwRedirect } from "./freebsd/parsers/ipfw.js";
import { ipfwAllowFor } from "./freebsd/parsers/ipfw.js";
import { ruleMatchesDestination } from "./freebsd/parsers/ipfstat.js";
import { rdrFor } from "./freebsd/parsers/ipnat.js";
import { passLabel } from "../firewall/pf/generate.js";

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
      // qjail labels its pass rules per exposure (one rule per interface and
      // source): sum them, this family's only; a rule without the label (an
      // older load) is found by its destination, with numeric ports (-P).
      const label = passLabel(e);
      const fam = e.family === 4 ? " inet " : " inet6 ";
      const labelled = counters.rules.filter((r) => r.label === label && r.text.includes(fam));
      if (labelled.length > 0)
        return {
          hits: labelled.reduce((n, r) => n + (r.packets ?? 0), 0),
          by: `pf label "${label}"`,
          live: true,
        };
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
      // Live needs both: the NAT instance survives `ipfw -f flush`, the rules do not.
      const live = redirect !== undefined && allow !== undefined;
      if (!allow) return { hits: null, by: null, live };
      return { hits: allow.packets, by: `ipfw rule ${allow.number}`, live };
    }
    case "unavailable":
      return { hits: null, by: null, live: null };
  }
}

/**
 * Forwards live in the firewall that no exposure in the records accounts for
 * (a rule planted by hand, or left by a change that did not re-sync):
 * undefined when the listings could not be read. In qjail's own table, anchor
 * or nat instance every forward is qjail's; IPFilter lists the admin's rdr
 * rules with qjail's, so there only forwards to a jail's address count.
 */
export function strayForwards(
  counters: RuleCounters,
  resolved: readonly ResolvedExposure[],
  jailAddresses: ReadonlySet<string>,
): StrayForward[] | undefined {
  const range = (low: number, high?: number): string =>
    high === undefined || high === low ? String(low) : `${low}-${high}`;
  const seen = new Map<string, StrayForward>();
  const add = (f: StrayForward): void => {
    seen.set(`${f.proto} ${f.public} ${f.target}`, f);
  };
  switch (counters.kind) {
    case "nft":
      for (const r of counters.ruleset.rules) {
        if (r.table !== counters.table || r.dnat === undefined || r.dport === undefined) continue;
        if (resolved.some((e) => ownsDnat(r, e))) continue;
        add({
          proto: r.dport.proto,
          public: range(r.dport.low, r.dport.high),
          target: `${r.dnat.addr}${r.dnat.port !== undefined ? `:${r.dnat.port}` : ""}`,
          by: `nft dnat in table inet ${counters.table}${r.comment ? ` ("${r.comment}")` : ""}`,
          qjailOnly: true,
        });
      }
      return [...seen.values()];
    case "ipf":
      for (const r of counters.nat.rules) {
        if (r.kind !== "rdr" || r.publicPort === undefined || r.target === undefined) continue;
        const target = r.target.replace(/\/32$/, "");
        if (!jailAddresses.has(target)) continue;
        const owned = resolved.some(
          (e) =>
            e.target === target &&
            e.public.low === r.publicPort &&
            (r.proto === undefined || r.proto.split("/").includes(e.proto)),
        );
        if (owned) continue;
        add({
          proto: r.proto ?? "tcp",
          public: range(r.publicPort, r.publicPortHigh),
          target: `${target}${r.targetPort !== undefined ? `:${r.targetPort}` : ""}`,
          by: "ipnat rdr",
          qjailOnly: false,
        });
      }
      return [...seen.values()];
    case "pf":
      for (const r of counters.rules) {
        const m = /\bto ([0-9a-fA-F.:]+)(?:\/\d+)? port = (\d+)/.exec(r.text);
        if (r.action !== "pass" || !m) continue;
        const [target, port] = [m[1] as string, Number(m[2])];
        if (resolved.some((e) => e.target === target && e.jailPort.low === port)) continue;
        add({
          proto: /\budp\b/.test(r.text) ? "udp" : "tcp",
          public: "?",
          target: `${target}:${port}`,
          by: `pf rule @${r.number} in qjail's anchor`,
          qjailOnly: true,
        });
      }
      return [...seen.values()];
    case "ipfw":
      for (const r of counters.redirects) {
        const owned = resolved.some(
          (e) => e.proto === r.proto && e.target === r.target && e.public.low === r.publicPort,
        );
        if (owned) continue;
        add({
          proto: r.proto,
          public: range(r.publicPort, r.publicPortHigh),
          target: `${r.target}:${range(r.targetPort, r.targetPortHigh)}`,
          by: "ipfw nat redirect_port in qjail's nat instance",
          qjailOnly: true,
        });
      }
      return [...seen.values()];
    case "unavailable":
      return undefined;
  }
}
