/**
 * IPFilter 5.1.2 conformance runner: replays the upstream regression suite
 * (../shared/corpus/ipfilter: test.format, regress/, input/, expected/) through
 * qjail's parser, printer and evaluator, driving each test the way its
 * Makefile driver (dotest, mtest, ptest, nattest, natipftest, itest, intest)
 * drives ipftest/ipf/ipnat, and compares stdout byte for byte.
 *
 *   node dist/scripts/conformance.js --corpus DIR [--check FILE | --update FILE] [--only NAME,...]
 *
 * Prints `pass NAME` / `fail NAME: first differing line N` / `skip NAME: reason`,
 * a per-class table, then `N skipped` and `N passed, N failed`. With --check
 * the exit status is 1 only when a test listed in FILE no longer passes.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import type { RuleLanguage } from "../src/firewall/ipf/eval/ipftest.js";
import { PacketSyntaxError } from "../src/firewall/ipf/eval/packet.js";
import { PoolSyntaxError } from "../src/firewall/ipf/eval/pools.js";
import { ipftest, parseIpftestArgv } from "../src/firewall/ipf/ipftest-tool.js";
import { ipfLanguage } from "../src/firewall/ipf/eval/language.js";
import { IppoolSyntaxError, listIppool } from "../src/firewall/ipf/impl/ippool.js";

export type Driver =
  | "dotest"
  | "mtest"
  | "ptest"
  | "nattest"
  | "natipftest-single"
  | "natipftest-multi"
  | "itest"
  | "itest-ipftest"
  | "intest"
  | "iptest"
  | "dotest6"
  | "logtest"
  | "bpftest";

export interface TestSpec {
  name: string;
  cls: string;
  inputFormat: string;
  outputFormat: string;
  extras: string[];
  driver: Driver;
}

export interface TestResult {
  spec: TestSpec;
  status: "pass" | "fail" | "skip";
  detail: string;
}

/** The language module's parse/print functions plus whole-file listings for the i/in classes. */
export interface ConformanceLanguage extends RuleLanguage {
  /** What `ipf -Rnvf FILE` prints (stderr discarded). */
  listIpf(text: string): string;
  /** What `ipnat -Rnvf FILE` prints. */
  listIpnat(text: string): string;
}

const SEP8 = "--------\n";
const SEP31 = "-------------------------------\n";

export function classOf(name: string): string {
  const m = /^(bpf|ipv6|in|ip|ni|[a-z])/.exec(name);
  return m?.[1] ?? name;
}

const range = (lo: number, hi: number): number[] => Array.from({ length: hi - lo + 1 }, (_, i) => lo + i);
const MTEST_F = new Set([15, 16, 17, 18, 20, 21, 22, 24, 25]);
const PTEST_F = new Set([28, 29]);
const NI_MULTI = new Set([1, 6, 17, 18, 21, 23]);
const NI_SINGLE = new Set([...range(2, 5), ...range(7, 16), 19, 20]);

/** Which Makefile driver runs a test (ipfilter-corpus.md §2). */
export function driverOf(name: string): Driver | undefined {
  const cls = classOf(name);
  const num = Number(/(\d+)/.exec(name.replace(/^(ipv6\.)/, ""))?.[1] ?? NaN);
  switch (cls) {
    case "f":
      return PTEST_F.has(num) ? "ptest" : MTEST_F.has(num) ? "mtest" : "dotest";
    case "n":
      return "nattest";
    case "ni":
      return NI_MULTI.has(num) ? "natipftest-multi" : NI_SINGLE.has(num) ? "natipftest-single" : undefined;
    case "p":
      return "ptest";
    case "i":
      return num === 17 ? "itest-ipftest" : "itest";
    case "in":
      return "intest";
    case "ip":
      return "iptest";
    case "ipv6":
      return "dotest6";
    case "l":
      return "logtest";
    case "bpf":
      return name === "bpf-f1" ? "bpftest" : "itest";
    default:
      return undefined;
  }
}

export function readTestFormat(corpus: string): TestSpec[] {
  const specs: TestSpec[] = [];
  for (const raw of readFileSync(join(corpus, "test.format"), "utf8").split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const [name, inputFormat, outputFormat, ...extras] = line.split(/\s+/);
    if (!name || !inputFormat || !outputFormat) continue;
    const driver = driverOf(name);
    if (!driver) continue;
    specs.push({ name, cls: classOf(name), inputFormat, outputFormat, extras, driver });
  }
  return specs;
}

/** Why a test cannot be run by this engine yet, or undefined. */
function unsupported(spec: TestSpec): string | undefined {
  switch (spec.driver) {
    case "logtest":
      return "needs ipmon's log formatter (text and binary), out of scope";
    case "bpftest":
      return "needs BPF filter expressions, out of scope";
    default:
      break;
  }
  if (spec.name === "bpf1") return "needs BPF filter expressions, out of scope";
  if (spec.outputFormat === "hex" && spec.inputFormat !== "hex")
    return "hex output of text input packets is not produced";
  return undefined;
}

function ruleLines(text: string): string[] {
  const lines = text.split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  return lines;
}

class RuleError extends Error {}

/**
 * Run `ipftest ARGV` the way the Makefile driver does, through the same tool
 * `qjail fw ipftest` runs: file names are read from the corpus (relative to
 * its test directory, as the drivers run there), "-" is the rule line the
 * per-line drivers pipe in, /dev/null is empty.
 */
function ipftestRun(corpus: string, argv: readonly string[], stdin = ""): string {
  const args = parseIpftestArgv(argv);
  if ("error" in args) throw new Error(`bad ipftest arguments ${argv.join(" ")}: ${args.error}`);
  const run = ipftest(args, {
    read: (path) =>
      path === "-" ? stdin : path === "/dev/null" ? "" : readFileSync(join(corpus, path), "utf8"),
  });
  if (run.status !== 0) {
    const first = run.stderr.split("\n")[0] ?? "";
    if (run.status === 1) throw new RuleError(first);
    if (/packet|input/.test(first) && !/^[^:]*\.pool:/.test(first)) throw new PacketSyntaxError(first);
    if (/\.pool:|pool|whois/.test(first)) throw new PoolSyntaxError(first);
    throw new Error(first);
  }
  return run.stdout;
}

/** The extra words of test.format as ipftest options: `-T name=value` for tunables, flags as they are. */
function extraArgs(extras: readonly string[]): string[] {
  return extras.flatMap((e) => (e.startsWith("-") ? [e] : e.includes("=") ? ["-T", e] : []));
}

/** Produce the stdout the driver would have written for this test. */
export function runTest(corpus: string, spec: TestSpec, lang: ConformanceLanguage): string {
  const regress = (suffix = ""): string => readFileSync(join(corpus, "regress", spec.name + suffix), "utf8");
  const F = ["-F", spec.inputFormat];
  const input = ["-i", `input/${spec.name}`];
  const extra = extraArgs(spec.extras);
  // Only the NAT drivers pass -x; the filter drivers print verdicts whatever the column says.
  const x = spec.outputFormat === "hex" ? ["-x"] : [];
  const has = (suffix: string) => existsSync(join(corpus, "regress", `${spec.name}${suffix}`));
  switch (spec.driver) {
    case "itest":
      return lang.listIpf(regress());
    case "intest":
      return lang.listIpnat(regress());
    case "iptest":
      // `file://input/…` lists are read relative to the test directory, as ippool ran there.
      return listIppool(regress(), (file) => readFileSync(join(corpus, file), "utf8"));
    case "itest-ipftest":
      return ipftestRun(corpus, ["-D", "-r", `regress/${spec.name}`, "-i", "/dev/null"]);
    case "dotest":
      return ruleLines(regress())
        .map((line) => ipftestRun(corpus, [...F, "-Rbr", "-", ...input, ...extra], line) + SEP8)
        .join("");
    case "dotest6":
      return ruleLines(regress())
        .map((line) => ipftestRun(corpus, [...F, "-6br", "-", ...input, ...extra], line) + SEP8)
        .join("");
    case "mtest":
      return ipftestRun(corpus, [...F, ...extra, "-Rbr", `regress/${spec.name}`, ...input]) + SEP8;
    case "ptest": {
      const pool = has(".pool") ? ["-P", `regress/${spec.name}.pool`] : [];
      const nat = has(".nat") ? ["-N", `regress/${spec.name}.nat`] : [];
      const ipf = has(".ipf") ? ["-r", `regress/${spec.name}.ipf`] : [];
      return ipftestRun(corpus, ["-RD", "-b", ...pool, ...ipf, ...nat, ...input]) + SEP31;
    }
    case "nattest":
      return ruleLines(regress())
        .map((line) => ipftestRun(corpus, [...extra, ...x, ...F, "-DRbN", "-", ...input], line) + SEP31)
        .join("");
    case "natipftest-single":
      return ruleLines(regress(".nat"))
        .map(
          (line) =>
            ipftestRun(
              corpus,
              ["-R", ...x, ...F, ...extra, "-b", "-r", `regress/${spec.name}.ipf`, "-N", "-", ...input],
              line,
            ) + SEP31,
        )
        .join("");
    case "natipftest-multi":
      return (
        ipftestRun(corpus, [
          "-R",
          ...x,
          ...F,
          ...extra,
          "-b",
          "-r",
          `regress/${spec.name}.ipf`,
          "-N",
          `regress/${spec.name}.nat`,
          ...input,
        ]) + SEP31
      );
    default:
      throw new Error(`driver ${spec.driver} has no runner`);
  }
}

export function firstDifference(actual: string, expected: string): number {
  const a = actual.split("\n");
  const e = expected.split("\n");
  for (let i = 0; i < Math.max(a.length, e.length); i++) if (a[i] !== e[i]) return i + 1;
  return 0;
}

export function runOne(corpus: string, spec: TestSpec, lang: ConformanceLanguage | undefined): TestResult {
  const why = unsupported(spec);
  if (why) return { spec, status: "skip", detail: why };
  if (!lang)
    return {
      spec,
      status: "skip",
      detail: "the ipf/ipnat parser and printer (src/firewall/ipf/index.ts) are not available",
    };
  const expectedPath = join(corpus, "expected", spec.name);
  const distPath = `${expectedPath}.dist`;
  if (!existsSync(expectedPath) && !existsSync(distPath))
    return { spec, status: "skip", detail: "no expected output in the corpus" };
  let actual: string;
  try {
    actual = runTest(corpus, spec, lang);
  } catch (e) {
    const kind =
      e instanceof RuleError
        ? "rule parse error"
        : e instanceof PacketSyntaxError
          ? "packet input error"
          : e instanceof PoolSyntaxError || e instanceof IppoolSyntaxError
            ? "pool config"
            : "engine error";
    return { spec, status: "fail", detail: `${kind}: ${(e as Error).message.split("\n")[0]}` };
  }
  // i19's expected output is a template the Makefile adapts to the host's
  // syslog facility names; on FreeBSD only LOG_LOGALERT is rewritten.
  const expected = existsSync(expectedPath)
    ? readFileSync(expectedPath, "utf8")
    : readFileSync(distPath, "utf8").replace(/LOG_LOGALERT/g, "!!!");
  if (actual === expected) return { spec, status: "pass", detail: "" };
  return { spec, status: "fail", detail: `first differing line ${firstDifference(actual, expected)}` };
}

export function formatResult(r: TestResult): string {
  if (r.status === "pass") return `pass ${r.spec.name}`;
  return `${r.status} ${r.spec.name}: ${r.detail}`;
}

/** The per-class table, text-input and hex-input tests counted separately. */
export function summaryTable(results: readonly TestResult[]): string {
  const rows = new Map<string, { pass: number; fail: number; skip: number }>();
  for (const r of results) {
    const key = `${r.spec.cls}\t${r.spec.inputFormat}`;
    const row = rows.get(key) ?? { pass: 0, fail: 0, skip: 0 };
    row[r.status]++;
    rows.set(key, row);
  }
  const lines = ["class  input  pass  fail  skip  total"];
  for (const [key, row] of [...rows].sort(([a], [b]) => a.localeCompare(b))) {
    const [cls, fmt] = key.split("\t");
    const total = row.pass + row.fail + row.skip;
    lines.push(
      `${(cls ?? "").padEnd(6)} ${(fmt ?? "").padEnd(6)} ${String(row.pass).padStart(4)}  ${String(row.fail).padStart(4)}  ${String(row.skip).padStart(4)}  ${String(total).padStart(5)}`,
    );
  }
  return lines.join("\n");
}

export function readNameList(file: string): string[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, "utf8")
    .split("\n")
    .map((l) => l.replace(/#.*/, "").trim())
    .filter((l) => l !== "");
}

export interface CliIo {
  out: (line: string) => void;
}

export async function main(
  argv: readonly string[],
  io: CliIo,
  langOverride?: ConformanceLanguage,
): Promise<number> {
  let corpus = "";
  let check: string | undefined;
  let update: string | undefined;
  let only: Set<string> | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = argv[i + 1];
    if (a === "--corpus" && v) {
      corpus = v;
      i++;
    } else if (a === "--check" && v) {
      check = v;
      i++;
    } else if (a === "--update" && v) {
      update = v;
      i++;
    } else if (a === "--only" && v) {
      only = new Set(v.split(","));
      i++;
    } else {
      io.out(`conformance: unknown argument ${JSON.stringify(a)}`);
      io.out("usage: conformance --corpus DIR [--check FILE | --update FILE] [--only NAME,...]");
      return 2;
    }
  }
  if (!corpus || !existsSync(join(corpus, "test.format"))) {
    io.out(
      `conformance: no test.format under ${JSON.stringify(corpus)}; give --corpus DIR (e.g. ../shared/corpus/ipfilter)`,
    );
    return 2;
  }
  corpus = resolve(corpus);
  const lang = langOverride ?? ipfLanguage;
  const results: TestResult[] = [];
  for (const spec of readTestFormat(corpus)) {
    if (only && !only.has(spec.name)) continue;
    const r = runOne(corpus, spec, lang);
    results.push(r);
    io.out(formatResult(r));
  }
  io.out("");
  io.out(summaryTable(results));
  const count = (s: TestResult["status"]): number => results.filter((r) => r.status === s).length;
  io.out(`${count("skip")} skipped`);
  io.out(`${count("pass")} passed, ${count("fail")} failed`);
  const passing = new Set(results.filter((r) => r.status === "pass").map((r) => r.spec.name));
  if (update) {
    const names = [...passing];
    writeFileSync(
      update,
      "# IPFilter 5.1.2 regression tests qjail's engine passes; `npm run conformance -- --check` fails if one stops passing.\n" +
        "# Regenerate with: npm run build && npm run conformance -- --corpus ../shared/corpus/ipfilter --update test/conformance/ipfilter-expected-passes.txt\n" +
        names.map((n) => `${n}\n`).join(""),
    );
  }
  if (check) {
    const lost = readNameList(check).filter((n) => !passing.has(n));
    if (lost.length > 0) {
      io.out(`regression: ${lost.length} test(s) listed in ${check} no longer pass: ${lost.join(" ")}`);
      return 1;
    }
    // CI reads the verdict from this line: the known failures above are not regressions.
    io.out(`check: every test listed in ${check} still passes (no regression)`);
  }
  return 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2), { out: (l) => process.stdout.write(l + "\n") }).then(
    (code) => process.exit(code),
    (e: unknown) => {
      process.stderr.write(`conformance: ${(e as Error).stack ?? String(e)}\n`);
      process.exit(70);
    },
  );
}
