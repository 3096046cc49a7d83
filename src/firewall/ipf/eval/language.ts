/**
 * Adapter from the language module (src/firewall/ipf/index.ts: parseIpf,
 * parseIpnat, printIpf, printIpnat) to what ipftest emulation and the
 * conformance runner need. Loaded lazily so the evaluator builds and runs its
 * own tests while the parser is developed beside it.
 */
import type { FilterRule, NatRule } from "../ast.js";
import type { ConformanceLanguage } from "../../../../scripts/conformance.js";

type AnyFn = (...args: unknown[]) => unknown;

interface Diagnostic {
  severity?: string;
  message?: string;
  code?: string;
  line?: number;
}

function errorsOf(result: unknown): string[] {
  const diags = (result as { diagnostics?: Diagnostic[] }).diagnostics ?? [];
  return diags.filter((d) => d.severity !== "warning").map((d) => `${d.code ?? ""} line ${d.line ?? "?"}: ${d.message ?? ""}`);
}

export async function languageAdapter(): Promise<ConformanceLanguage | undefined> {
  let mod: Record<string, unknown>;
  try {
    mod = (await import(new URL("../index.js", import.meta.url).href)) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  const parseIpf = mod.parseIpf as AnyFn | undefined;
  const parseIpnat = mod.parseIpnat as AnyFn | undefined;
  const printIpf = mod.printIpf as AnyFn | undefined;
  const printIpnat = mod.printIpnat as AnyFn | undefined;
  if (!parseIpf || !parseIpnat || !printIpf || !printIpnat) return undefined;
  const printRule = (fn: AnyFn, r: unknown): string => String(fn([r])).replace(/\n$/, "");
  return {
    parseIpf(text) {
      const r = parseIpf(text) as { rules?: FilterRule[] };
      return { rules: r.rules ?? [], errors: errorsOf(r) };
    },
    parseIpnat(text) {
      const r = parseIpnat(text) as { rules?: NatRule[] };
      return { rules: r.rules ?? [], errors: errorsOf(r) };
    },
    printFilterRule: (r) => printRule(printIpf, r),
    printNatRule: (r) => printRule(printIpnat, r),
    listIpf(text) {
      const r = parseIpf(text) as { rules?: FilterRule[] };
      return String(printIpf(r.rules ?? []));
    },
    listIpnat(text) {
      const r = parseIpnat(text) as { rules?: NatRule[] };
      return String(printIpnat(r.rules ?? []));
    },
  };
}
