/**
 * Rule generation + validation + load for 10, 100 and 1,000 exposures, one
 * load each (never one per rule), through the expose developer's model and
 * generators (src/core/exposure.ts, src/firewall/*):
 *
 * - validate: every exposure checked against the ones before it
 *   (checkNewExposure, what `expose` does), then resolved to jail addresses;
 * - generate: the IPFilter (ipnat + ipf), pf, ipfw and nftables texts;
 * - parse back: the ipf rules through qjail's own IPFilter parser;
 * - load: the nftables transaction checked (`nft -c`) and loaded (`nft -f`)
 *   once, in a network namespace this benchmark creates and removes, so the
 *   host's own ruleset is never touched.
 */
import { spawnSync } from "node:child_process";
import { performance } from "node:perf_hooks";
import { randomBytes } from "node:crypto";
import { defaultHostConfig, type HostConfig } from "../src/core/hostconfig.js";
import {
  checkNewExposure,
  resolveExposures,
  type Exposure,
  type FirewallModel,
  type JailAddresses,
} from "../src/core/exposure.js";
import { generateIpf, generateIpnat } from "../src/firewall/ipf/generate.js";
import { generatePf } from "../src/firewall/pf/generate.js";
import { generateIpfw } from "../src/firewall/ipfw/generate.js";
import { generateNft, nftTransaction } from "../src/firewall/nft/generate.js";
import { parseIpfText } from "../src/firewall/ipf/impl/ipf-parser.js";
import { type BenchContext, type Figure, notMeasured, summarize, timingFigure } from "./lib.js";

export const EXPOSURES_GOAL = { max: 1000, text: "< 1 s (1,000 exposures)" };
const SIZES = [10, 100, 1000] as const;

/** `count` jails with one address each in 10.0.0.0/16 and one tcp exposure each on public ports from 20000. */
export function syntheticExposures(count: number): {
  host: HostConfig;
  jails: JailAddresses[];
  exposures: Exposure[];
} {
  const host: HostConfig = {
    ...defaultHostConfig("linux", { defaultRouteIf: "eth0" }),
    jailSubnet4: "10.0.0.0/16",
  };
  const jails: JailAddresses[] = [];
  const exposures: Exposure[] = [];
  for (let i = 0; i < count; i++) {
    const name = `j${String(i).padStart(4, "0")}`;
    jails.push({ name, ip4: [`10.0.${Math.floor(i / 250)}.${(i % 250) + 2}`], ip6: [] });
    exposures.push({
      jail: name,
      proto: i % 5 === 4 ? "udp" : "tcp",
      public: { low: 20000 + i, high: 20000 + i },
      jailPort: { low: 80, high: 80 },
      from: i % 10 === 3 ? ["198.51.100.0/24"] : [],
      on: undefined,
      comment: `svc${i}`,
    });
  }
  return { host, jails, exposures };
}

interface Generated {
  nft: string;
  ipfwNote: string | undefined;
}

/** Validate, resolve, generate every language and parse the ipf rules back; throws on any finding. */
export function generateAndValidate(input: ReturnType<typeof syntheticExposures>): Generated {
  const accepted: Exposure[] = [];
  for (const e of input.exposures) {
    checkNewExposure(e, { jails: input.jails, exposures: accepted, host: input.host });
    accepted.push(e);
  }
  const { resolved, dropped } = resolveExposures(accepted, input.jails);
  if (dropped.length > 0) throw new Error(`resolveExposures dropped ${dropped.length} exposures`);
  const model: FirewallModel = { host: input.host, exposures: resolved };
  generateIpnat(model);
  const ipf = generateIpf(model);
  const parsed = parseIpfText(ipf);
  if (parsed.diagnostics.length > 0)
    throw new Error(`qjail's ipf parser rejects the generated rules: ${parsed.diagnostics[0]?.message}`);
  generatePf(model);
  // Every exposure fits the ipfw block: past 98 they share rule numbers.
  generateIpfw(model);
  const ipfwNote: string | undefined = undefined;
  return { nft: nftTransaction(generateNft(model)), ipfwNote };
}

function haveNft(): string | undefined {
  const r = spawnSync("nft", ["--version"], { encoding: "utf8" });
  return r.status === 0 ? undefined : "nft is not installed (apt-get install nftables)";
}

/** A private network namespace for the load; removed by the returned cleanup. */
function privateNetns(): { name: string; cleanup: () => void } | string {
  const name = `qjb${process.pid}${randomBytes(2).toString("hex")}`;
  const r = spawnSync("ip", ["netns", "add", name], { encoding: "utf8" });
  if (r.status !== 0) return `cannot create a network namespace: ${r.stderr.trim()}`;
  return { name, cleanup: () => void spawnSync("ip", ["netns", "del", name]) };
}

function nftInNetns(ns: string, args: string[], input: string): void {
  const r = spawnSync("ip", ["netns", "exec", ns, "nft", ...args], { input, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`nft ${args.join(" ")} failed: ${r.stderr.trim()}`);
}

export async function bench(ctx: BenchContext): Promise<Figure[]> {
  const figures: Figure[] = [];
  const noNft = haveNft();
  const ns = noNft === undefined ? privateNetns() : noNft;
  try {
    for (const n of SIZES) {
      const goal = n === 1000 ? EXPOSURES_GOAL : undefined;
      const input = syntheticExposures(n);
      const runs = ctx.quick ? 2 : n === 1000 ? 5 : 10;
      const pure: number[] = [];
      const total: number[] = [];
      let note: string | undefined;
      for (let i = 0; i < runs; i++) {
        const t0 = performance.now();
        const g = generateAndValidate(input);
        const t1 = performance.now();
        pure.push(t1 - t0);
        note = g.ipfwNote;
        if (typeof ns !== "string") {
          nftInNetns(ns.name, ["-c", "-f", "-"], g.nft);
          nftInNetns(ns.name, ["-f", "-"], g.nft);
          total.push(performance.now() - t0);
        }
      }
      const workload = `${n} jails, one exposure each (every 5th udp, every 10th with --from)`;
      figures.push(
        timingFigure(
          `rules: validate + generate ipf/ipnat/pf/ipfw/nft + parse back (${n} exposures)`,
          workload,
          summarize(pure),
          undefined,
          note,
        ),
      );
      if (typeof ns === "string") {
        figures.push(
          notMeasured(`rules: generate + validate + load, nftables (${n} exposures)`, workload, ns, goal),
        );
      } else {
        figures.push(
          timingFigure(
            `rules: generate + validate + nft -c + nft -f, one transaction (${n} exposures)`,
            `${workload}; loaded into a private network namespace`,
            summarize(total),
            goal,
          ),
        );
      }
      ctx.log(`rules ${n}: pure median ${summarize(pure).medianMs.toFixed(1)} ms`);
    }
  } finally {
    if (typeof ns !== "string") ns.cleanup();
  }
  return figures;
}
