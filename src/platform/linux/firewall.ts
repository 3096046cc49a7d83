import type { FirewallModel } from "../../core/exposure.js";
import {
  FirewallLoadError,
  type FirewallLoader,
  type LoadContext,
  type RenderedRules,
} from "../firewall-loader.js";
import { generateNft, nftTransaction, NFT_FAMILY, NFT_TABLE } from "../../firewall/nft/generate.js";
import { counterCounts, parseNft, ruleCounts } from "../../firewall/nft/parse.js";
import { runProgram } from "../run.js";

/**
 * The nftables loader: qjail's rules are one table, `table inet qjail`, and a
 * reload is one `nft -f -` transaction that deletes and recreates it, so the
 * kernel applies all of it or none of it.
 *
 * render → validate (parse back, then `nft -c -f -`, which the kernel checks
 * without committing) → load (`nft -f -`) → verify (`nft -j list table inet
 * qjail`: every chain holds the rules we sent, with their counters) → the
 * caller records state.
 * A failed verify loads the table text that was live before.
 *
 * Fault injection for the reliability tests: QJAIL_FAULT_NFT_RULE="RULE"
 * appends `add rule inet qjail prerouting RULE` to the load transaction only
 * (after validation), so a test can make the kernel refuse a load.
 */

const LIST = ["nft", "list", "table", NFT_FAMILY, NFT_TABLE];
const LIST_JSON = ["nft", "-j", "list", "table", NFT_FAMILY, NFT_TABLE];

export const NFT_RULES_NAME = `${NFT_FAMILY} ${NFT_TABLE}`;

async function nft(
  argv: string[],
  input?: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return runProgram(argv, input === undefined ? {} : { input });
}

export function createNftLoader(
  env: Readonly<Record<string, string | undefined>> = process.env,
): FirewallLoader {
  return {
    kind: "nft",
    async render(model: FirewallModel): Promise<RenderedRules> {
      const text = generateNft(model);
      return {
        kind: "nft",
        rules: { [NFT_RULES_NAME]: text },
        warnings: [],
        plan: {
          title: `load table ${NFT_RULES_NAME} (${model.exposures.length} forwarded port rule${model.exposures.length === 1 ? "" : "s"})`,
          steps: [
            {
              kind: "run",
              argv: ["nft", "-c", "-f", "-"],
              why: "the kernel checks the transaction below without committing it",
            },
            {
              kind: "run",
              argv: ["nft", "-f", "-"],
              why: `one transaction: delete and recreate table ${NFT_RULES_NAME}`,
            },
            { kind: "run", argv: LIST_JSON, why: "verify every chain holds the rules sent" },
          ],
        },
      };
    },

    async isLive(): Promise<boolean> {
      return (await nft(LIST)).code === 0;
    },

    async load(rendered: RenderedRules, ctx: LoadContext) {
      const text = rendered.rules[NFT_RULES_NAME] as string;
      const parsed = parseNft(text);
      if (!parsed.table || parsed.diagnostics.length > 0) {
        const d = parsed.diagnostics[0];
        throw new FirewallLoadError(
          `generated nftables text does not parse back: line ${d?.line}: ${d?.message}`,
          "validate",
        );
      }
      if (!ctx.runCommands) return { active: false, extAddress: null, restore: async () => undefined };
      const before = await nft(LIST);
      const previous = before.code === 0 ? before.stdout : undefined;
      const restore = async (): Promise<void> => {
        const back =
          previous === undefined
            ? `table ${NFT_FAMILY} ${NFT_TABLE} {}\ndelete table ${NFT_FAMILY} ${NFT_TABLE}\n`
            : nftTransaction(previous);
        await nft(["nft", "-f", "-"], back);
      };
      const transaction = nftTransaction(text);
      const check = await nft(["nft", "-c", "-f", "-"], transaction);
      if (check.code !== 0)
        throw new FirewallLoadError(`nft -c rejected the rules: ${check.stderr.trim()}`, "validate");
      const fault = env.QJAIL_FAULT_NFT_RULE;
      const loaded = await nft(
        ["nft", "-f", "-"],
        fault ? `${transaction}add rule ${NFT_FAMILY} ${NFT_TABLE} prerouting ${fault}\n` : transaction,
      );
      if (loaded.code !== 0) {
        // The transaction was refused as a whole: the previous table is still the live one.
        throw new FirewallLoadError(
          `nft -f refused the rules; the previous rules stay in force: ${loaded.stderr.trim()}`,
          "load",
        );
      }
      const live = await nft(LIST_JSON);
      const problem =
        live.code === 0
          ? compareLive(live.stdout, ruleCounts(parsed.table), counterCounts(parsed.table))
          : `nft -j list failed: ${live.stderr.trim()}`;
      if (problem) {
        await restore();
        throw new FirewallLoadError(
          `the loaded table does not match what was sent (${problem}); the previous rules were put back`,
          "verify",
        );
      }
      return { active: true, extAddress: null, restore };
    },
  };
}

/**
 * Compare `nft -j list table` output with the expected rule count per chain
 * and, when given, the expected number of rules carrying a counter object
 * (the hit counts `qjail status` reads); a message when they differ.
 */
export function compareLive(
  json: string,
  expected: Record<string, number>,
  expectedCounters?: Record<string, number>,
): string | undefined {
  let doc: {
    nftables?: Record<string, { chain?: string; name?: string; expr?: Record<string, unknown>[] }>[];
  };
  try {
    doc = JSON.parse(json) as typeof doc;
  } catch {
    return "nft -j output is not JSON";
  }
  const counts: Record<string, number> = {};
  const counters: Record<string, number> = {};
  const chains = new Set<string>();
  for (const item of doc.nftables ?? []) {
    const chain = item.chain;
    if (chain?.name) chains.add(chain.name);
    const rule = item.rule;
    if (rule?.chain) {
      counts[rule.chain] = (counts[rule.chain] ?? 0) + 1;
      if ((rule.expr ?? []).some((e) => "counter" in e))
        counters[rule.chain] = (counters[rule.chain] ?? 0) + 1;
    }
  }
  for (const [name, n] of Object.entries(expected)) {
    if (!chains.has(name)) return `chain ${name} is missing`;
    if ((counts[name] ?? 0) !== n) return `chain ${name} has ${counts[name] ?? 0} rules, expected ${n}`;
  }
  for (const [name, n] of Object.entries(expectedCounters ?? {}))
    if ((counters[name] ?? 0) !== n)
      return `chain ${name} has ${counters[name] ?? 0} rules with a counter, expected ${n}`;
  return undefined;
}

/** Defaults for the host config on Linux: the default route's interface (`ip -j route show default`). */
export async function detectLinuxHostFacts(): Promise<import("../../core/hostconfig.js").HostFacts> {
  const r = await runProgram(["ip", "-j", "route", "show", "default"]).catch(() => undefined);
  if (!r || r.code !== 0) return {};
  try {
    const routes = JSON.parse(r.stdout) as { dev?: string }[];
    const dev = routes.find((x) => typeof x.dev === "string")?.dev;
    return dev ? { defaultRouteIf: dev, enabledFirewalls: ["nft"] } : { enabledFirewalls: ["nft"] };
  } catch {
    return {};
  }
}
