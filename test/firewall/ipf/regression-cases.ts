/**
 * IPFilter's own regression cases (../shared/corpus/ipfilter, read at run
 * time) as the evaluator tests use them: each case's packets and its parsed
 * filter and NAT rules. Cases whose packets or rules qjail does not read are
 * left out, as the conformance runner leaves them out.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { SHARED } from "../../helpers/cli.js";
import { parseIpf, parseIpnat } from "../../../src/firewall/ipf/index.js";
import { readHexPackets, readTextPackets, type Packet } from "../../../src/firewall/ipf/eval/packet.js";
import type { FilterRule, NatRule } from "../../../src/firewall/ipf/ast.js";

export const CORPUS = join(SHARED, "corpus", "ipfilter");
/** The `skip` option of a test that needs the corpus. */
export const skipWithoutCorpus = existsSync(join(CORPUS, "test.format"))
  ? false
  : `ipfilter corpus not found at ${CORPUS}`;

export interface RegressionCase {
  name: string;
  packets: Packet[];
  /** undefined: the case has no filter (or no NAT) rules. */
  filter: FilterRule[] | undefined;
  nat: NatRule[] | undefined;
}

export function* regressionCases(): Generator<RegressionCase> {
  const read = (f: string): string | undefined =>
    existsSync(join(CORPUS, f)) ? readFileSync(join(CORPUS, f), "utf8") : undefined;
  for (const line of readFileSync(join(CORPUS, "test.format"), "utf8").split("\n")) {
    const [name, input] = line.trim().split(/\s+/);
    if (!name || name.startsWith("#") || !/^(f|n|ni|p|ipv6\.)\d/.test(name)) continue;
    const packetText = read(`input/${name}`);
    if (packetText === undefined) continue;
    let packets: Packet[];
    try {
      packets = input === "hex" ? readHexPackets(packetText) : readTextPackets(packetText);
    } catch {
      continue;
    }
    const ipfText =
      read(`regress/${name}.ipf`) ?? (name.startsWith("n") ? undefined : read(`regress/${name}`));
    const natText =
      read(`regress/${name}.nat`) ?? (name.startsWith("n") ? read(`regress/${name}`) : undefined);
    const family = name.startsWith("ipv6") || name.endsWith("_6") ? "inet6" : undefined;
    const ipf = ipfText ? parseIpf(ipfText, family ? { family } : {}) : undefined;
    const nat = natText ? parseIpnat(natText) : undefined;
    if ([ipf, nat].some((r) => r?.diagnostics.some((d) => d.severity === "error"))) continue;
    yield { name, packets, filter: ipf?.rules, nat: nat?.rules };
  }
}
