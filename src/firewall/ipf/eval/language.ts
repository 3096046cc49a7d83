/**
 * The language module (src/firewall/ipf/index.ts) seen through what ipftest
 * emulation and the conformance runner need: parse with errors as strings,
 * print one rule the way ipftest -D lists it, list whole files as
 * `ipf -Rnvf` / `ipnat -Rnvf` do.
 */
import {
  listIpf,
  listIpnat,
  parseIpf,
  parseIpnat,
  printIpfRule,
  printIpnatRule,
  type IpfDiagnostic,
} from "../index.js";
import type { RuleLanguage } from "./ipftest.js";

/** Every interface "exists" inside ipftest, so its -D listing has no `(!)` marks. */
const EVERY_INTERFACE: ReadonlySet<string> = new (class extends Set<string> {
  override has(): boolean {
    return true;
  }
})();

function errorsOf(diags: readonly IpfDiagnostic[]): string[] {
  return diags.filter((d) => d.severity === "error").map((d) => `${d.code} line ${d.line}: ${d.message}`);
}

export interface FullLanguage extends RuleLanguage {
  listIpf(text: string): string;
  listIpnat(text: string): string;
}

/**
 * The host name the regression files use (i1, in2) and the address the
 * machine that recorded the expected output resolved it to; qjail never asks
 * DNS, so the runner supplies it the way /etc/hosts did there.
 */
export const CORPUS_HOSTS: Readonly<Record<string, string>> = { "test.host.dots": "254.220.186.152" };

export const ipfLanguage: FullLanguage = {
  parseIpf(text, family) {
    const r = parseIpf(text, family ? { family } : {});
    return { rules: r.rules, errors: errorsOf(r.diagnostics) };
  },
  parseIpnat(text) {
    const r = parseIpnat(text);
    return { rules: r.rules, errors: errorsOf(r.diagnostics) };
  },
  printFilterRule: (rule, inlineNumbers) =>
    printIpfRule(rule, {
      verbose: false,
      interfaces: EVERY_INTERFACE,
      inlinePoolTables: false,
      inlinePoolNumber: (pool) => inlineNumbers?.get(pool) ?? "0",
    }),
  printNatRule: (rule) => printIpnatRule(rule),
  listIpf: (text) => listIpf(text, { hosts: { ...CORPUS_HOSTS } }),
  listIpnat: (text) => listIpnat(text, { hosts: { ...CORPUS_HOSTS } }),
};
