/**
 * Agreement of qjail's IPFilter parser and printer with real ipf/ipnat 5.1.2
 * on ../shared/corpus/ipfilter-real (real-world rule files and what the real
 * tools did with each: oracle/NAME.rc, .out, .err).
 *
 *   node dist/scripts/ipfilter-real.js [--corpus DIR] [--json]
 *
 * For every `cases/*.ipf|*.nat` and `repro/*.ipf|*.nat` file:
 * - the verdict must match: qjail loads the file (no error) exactly when
 *   ipf/ipnat exited 0. A file the oracle loaded only after printing
 *   `unknown name "x"` / `Unknown host 'x'` (an unresolvable host name that
 *   ipf turns into a meaningless address) agrees when qjail refuses it with
 *   QJ4006, the host-name diagnostic;
 * - for files that load, qjail's print (`fw lint --print`) must equal the
 *   oracle's `ipf -Rnvf` / `ipnat -Rnvf` output line for line.
 *
 * Prints every disagreement (file:line and both sides) and the totals. The
 * corpus test (test/firewall/ipf/real-corpus.test.ts) runs the same
 * comparison in `npm test`.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { listLoaded, parseIpf, parseIpnat } from "../src/firewall/ipf/index.js";

/** What qjail makes of one file. */
export interface FileReading {
  /** True when qjail would let the file load (no error diagnostic). */
  loads: boolean;
  /** `fw lint --print` output: the rules as ipf -Rnvf prints them, "" when the file does not load. */
  printed: string;
  /** The first error, when the file does not load. */
  firstError?: { line: number; code: string; message: string };
}

export type Reader = (kind: "ipf" | "nat", text: string) => FileReading;

/**
 * The host names the machine that recorded the oracle resolved without DNS
 * (its /etc/hosts): `<thishost>` is gethostname(), which resolved to
 * 127.0.0.1 there (see the puppet-ipfilter files' .out).
 */
export const ORACLE_HOSTS: Readonly<Record<string, string>> = { "<thishost>": "127.0.0.1" };

/** The reading the language module gives: parse, and print only when the file loads. */
export const qjailReader: Reader = (kind, text) => {
  const opts = { hosts: { ...ORACLE_HOSTS } };
  const parsed = kind === "ipf" ? parseIpf(text, opts) : parseIpnat(text, opts);
  const first = parsed.diagnostics.find((d) => d.severity === "error");
  // The same listing `qjail fw lint --print` writes.
  const listing = listLoaded(parsed);
  if (first || listing === null)
    return {
      loads: false,
      printed: "",
      firstError: { line: first?.line ?? 0, code: first?.code ?? "", message: first?.message ?? "" },
    };
  return { loads: true, printed: listing };
};

export interface Disagreement {
  file: string;
  /** Line in the rule file (verdict) or in the oracle's output (print). */
  line: number;
  kind: "false-reject" | "false-accept" | "print";
  detail: string;
}

export interface CorpusReport {
  files: number;
  filesAgreeing: number;
  /** Oracle output lines of files both sides load. */
  lines: number;
  linesAgreeing: number;
  /** Files counted as agreeing by the host-name rule. */
  hostPolicy: string[];
  disagreements: Disagreement[];
}

/** The rule files of the corpus, as `cases/NAME` / `repro/NAME` with their oracle base name. */
export function corpusFiles(dir: string): { path: string; oracle: string; kind: "ipf" | "nat" }[] {
  const out: { path: string; oracle: string; kind: "ipf" | "nat" }[] = [];
  for (const sub of ["cases", "repro"]) {
    const folder = join(dir, sub);
    if (!existsSync(folder)) continue;
    for (const name of readdirSync(folder).sort()) {
      const m = /\.(ipf|nat)$/.exec(name);
      if (!m) continue;
      const oracle = sub === "repro" ? `repro-${name}` : name;
      if (!existsSync(join(dir, "oracle", `${oracle}.rc`))) continue;
      out.push({ path: `${sub}/${name}`, oracle, kind: m[1] as "ipf" | "nat" });
    }
  }
  return out;
}

/** Longest common subsequence of two line lists: which `a` lines are matched. */
function matchedLines(a: readonly string[], b: readonly string[]): boolean[] {
  const n = a.length;
  const m = b.length;
  const table = Array.from({ length: n + 1 }, () => new Uint16Array(m + 1));
  for (let i = n - 1; i >= 0; i--)
    for (let j = m - 1; j >= 0; j--)
      table[i]![j] =
        a[i] === b[j] ? table[i + 1]![j + 1]! + 1 : Math.max(table[i + 1]![j]!, table[i]![j + 1]!);
  const matched = new Array<boolean>(n).fill(false);
  let i = 0;
  let j = 0;
  while (i < n && j < m) {
    if (a[i] === b[j]) {
      matched[i] = true;
      i++;
      j++;
    } else if (table[i + 1]![j]! >= table[i]![j + 1]!) i++;
    else j++;
  }
  return matched;
}

const lines = (s: string): string[] => (s === "" ? [] : s.replace(/\n$/, "").split("\n"));

const HOST_MESSAGE = /^(unknown name "|Unknown host ')/m;

export function compareCorpus(dir: string, read: Reader = qjailReader): CorpusReport {
  const report: CorpusReport = {
    files: 0,
    filesAgreeing: 0,
    lines: 0,
    linesAgreeing: 0,
    hostPolicy: [],
    disagreements: [],
  };
  for (const f of corpusFiles(dir)) {
    report.files++;
    const text = readFileSync(join(dir, f.path), "utf8");
    const rc = Number(readFileSync(join(dir, "oracle", `${f.oracle}.rc`), "utf8").trim());
    const outPath = join(dir, "oracle", `${f.oracle}.out`);
    const errPath = join(dir, "oracle", `${f.oracle}.err`);
    const oracleOut = existsSync(outPath) ? readFileSync(outPath, "utf8") : "";
    const oracleErr = existsSync(errPath) ? readFileSync(errPath, "utf8") : "";
    const got = read(f.kind, text);
    if (rc === 0 && !got.loads) {
      if (HOST_MESSAGE.test(oracleErr) && got.firstError?.code === "QJ4006") {
        report.hostPolicy.push(f.path);
        report.filesAgreeing++;
        continue;
      }
      report.disagreements.push({
        file: f.path,
        line: got.firstError?.line ?? 0,
        kind: "false-reject",
        detail: `ipf/ipnat loads it; qjail: ${got.firstError?.code ?? "?"} ${got.firstError?.message ?? ""}`,
      });
      continue;
    }
    if (rc !== 0 && got.loads) {
      const why = oracleErr.split("\n").find((l) => / error at /.test(l)) ?? oracleErr.split("\n")[0] ?? "";
      const at = / line (\d+)$/.exec(why);
      report.disagreements.push({
        file: f.path,
        line: at ? Number(at[1]) : 0,
        kind: "false-accept",
        detail: `qjail loads it; ipf/ipnat: ${why.trim()}`,
      });
      continue;
    }
    if (rc !== 0) {
      report.filesAgreeing++;
      continue;
    }
    // Both load: the print must be the oracle's, line for line.
    const want = lines(oracleOut);
    const have = lines(got.printed);
    const matched = matchedLines(want, have);
    report.lines += want.length;
    let same = want.length === have.length;
    want.forEach((w, i) => {
      if (matched[i]) report.linesAgreeing++;
      else {
        same = false;
        report.disagreements.push({
          file: f.path,
          line: i + 1,
          kind: "print",
          detail: `ipf: ${w}\n    qjail: ${have[i] ?? "(nothing)"}`,
        });
      }
    });
    if (have.length > want.length && matched.every(Boolean))
      report.disagreements.push({
        file: f.path,
        line: want.length + 1,
        kind: "print",
        detail: `ipf prints nothing more; qjail: ${have[want.length] ?? ""}`,
      });
    if (same) report.filesAgreeing++;
  }
  return report;
}

export function formatReport(r: CorpusReport): string {
  const out: string[] = [];
  for (const d of r.disagreements) out.push(`${d.file}:${d.line}: ${d.kind}: ${d.detail}`);
  if (r.hostPolicy.length > 0)
    out.push(
      `host-name policy (ipf loads with "unknown name", qjail refuses with QJ4006): ${r.hostPolicy.join(" ")}`,
    );
  out.push(`files agreeing: ${r.filesAgreeing}/${r.files}`);
  out.push(`printed lines agreeing: ${r.linesAgreeing}/${r.lines}`);
  return out.join("\n");
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const argv = process.argv.slice(2);
  const i = argv.indexOf("--corpus");
  const dir = resolve(i >= 0 ? (argv[i + 1] ?? "") : "../shared/corpus/ipfilter-real");
  if (!existsSync(join(dir, "oracle"))) {
    process.stderr.write(`ipfilter-real: no oracle/ under ${dir}; give --corpus DIR\n`);
    process.exit(2);
  }
  const r = compareCorpus(dir);
  process.stdout.write((argv.includes("--json") ? JSON.stringify(r, null, 2) : formatReport(r)) + "\n");
}
