import { promises as fsp } from "node:fs";
import { UsageError, shown } from "../core/errors.js";
import { hostLayout, physical } from "../core/paths.js";
import { readHostConfig } from "../store/exposures.js";
import {
  formatDiagnostic,
  parseIpf,
  parseIpnat,
  type FilterRule,
  type NatRule,
} from "../firewall/ipf/index.js";
import type { PlatformChoice } from "../platform/index.js";

/** One IPFilter rule file as `fw trace` evaluates it: where it came from, its text and its rules. */
export interface IpfRuleFile<R> {
  file: string;
  text: string;
  rules: R[];
}

/** Message codes of reading IPFilter rule files for evaluation (QJ45xx). */
const E = { unreadable: "QJ4505", badRules: "QJ4506" } as const;

/**
 * A rule file's text. The host's own files (`typed` false) may be missing: a
 * host without IPFilter rules has none, and that is an empty rule set. A file
 * named with --ipf/--nat must exist: a mistyped name would otherwise trace
 * the packet through no rules at all and report IPFilter's default.
 */
async function readRules(root: string, logical: string, option: string, typed: boolean): Promise<string> {
  try {
    return await fsp.readFile(physical(root, logical), "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT" && !typed) return "";
    throw new UsageError(
      E.unreadable,
      `cannot read ${shown(logical)}: ${(e as Error).message}`,
      `Check the file, or name another with ${option}.`,
    );
  }
}

/**
 * The ipf.rules and ipnat.rules `fw trace` runs a packet through: --ipf/--nat
 * as typed (relative to `cwd`, never relocated under --root), otherwise the
 * host config's ipf_rules/ipnat_rules under --root. A missing host file counts
 * as empty, a missing file named with --ipf/--nat is refused; a file that does not parse is refused with its first error.
 */
export async function loadIpfRuleFiles(
  choice: PlatformChoice,
  cwd: string,
  given: { ipf?: string | undefined; nat?: string | undefined },
): Promise<{ ipf: IpfRuleFile<FilterRule>; nat: IpfRuleFile<NatRule> }> {
  let ipfPath = given.ipf;
  let natPath = given.nat;
  if (ipfPath === undefined || natPath === undefined) {
    const { config } = await readHostConfig(choice.root, hostLayout(), choice.platform ?? "freebsd");
    ipfPath ??= config.ipfRules;
    natPath ??= config.ipnatRules;
  }
  const typed = (p: string): string => (p.startsWith("/") ? p : `${cwd}/${p}`);
  const ipfText =
    given.ipf !== undefined
      ? await readRules("/", typed(ipfPath), "--ipf", true)
      : await readRules(choice.root, ipfPath, "--ipf", false);
  const natText =
    given.nat !== undefined
      ? await readRules("/", typed(natPath), "--nat", true)
      : await readRules(choice.root, natPath, "--nat", false);
  const ipf = parseIpf(ipfText);
  const nat = parseIpnat(natText);
  for (const [file, text, diags] of [
    [ipfPath, ipfText, ipf.diagnostics],
    [natPath, natText, nat.diagnostics],
  ] as const) {
    const first = diags.find((d) => d.severity === "error");
    if (first) {
      throw new UsageError(
        E.badRules,
        `${shown(file)} does not parse:\n${formatDiagnostic(first, text, file)}`,
        `Fix the rule (qjail fw lint lists every problem), or name another file with --ipf/--nat.`,
      );
    }
  }
  return {
    ipf: { file: ipfPath, text: ipfText, rules: ipf.rules },
    nat: { file: natPath, text: natText, rules: nat.rules },
  };
}
