/**
 * pf conformance runner: replays FreeBSD's pfctl regression data
 * (../shared/corpus/pfctl, see ../shared/reference/pfctl-corpus.md) through
 * qjail's pf parser and printer, the way FreeBSD's pfctl_test.sh runs it:
 *
 * - `pfNNNN`: `pfctl -o none -nvf - < pfNNNN.in` must print pfNNNN.ok exactly;
 * - `selfpfNNNN`: the same with pfNNNN.ok as input (the printed form is a fixed point).
 *
 * `include` paths resolve against the files/ directory, as the driver runs
 * there. The OpenBSD 4.4 set (openbsd-4.4/, pfN and pfailN) runs after it
 * for information only: it never decides the exit status.
 *
 *   node dist/scripts/conformance-pf.js --corpus DIR [--check FILE | --update FILE] [--only NAME,...] [--no-openbsd]
 *
 * Prints `pass NAME` / `fail NAME: first differing line N` per test, then
 * `N passed, N failed` for each run. With --check the exit status is 1 only
 * when a test listed in FILE no longer passes.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { listPf, parsePf, printPfListing } from "../src/firewall/pf/index.js";

export interface PfTestResult {
  name: string;
  set: "freebsd" | "openbsd";
  status: "pass" | "fail";
  detail: string;
}

export function firstDifference(actual: string, expected: string): number {
  const a = actual.split("\n");
  const e = expected.split("\n");
  for (let i = 0; i < Math.max(a.length, e.length); i++) if (a[i] !== e[i]) return i + 1;
  return 0;
}

function reader(dir: string): (path: string) => string | undefined {
  return (path) => {
    const full = resolve(dir, path);
    try {
      return readFileSync(full, "utf8");
    } catch {
      return undefined;
    }
  };
}

function compare(name: string, set: PfTestResult["set"], actual: string, expected: string): PfTestResult {
  if (actual === expected) return { name, set, status: "pass", detail: "" };
  return { name, set, status: "fail", detail: `first differing line ${firstDifference(actual, expected)}` };
}

/** The FreeBSD set: pfNNNN and selfpfNNNN for every pfNNNN.in with a .ok beside it. */
export function runFreebsd(dir: string, only?: ReadonlySet<string>): PfTestResult[] {
  const ids = readdirSync(dir)
    .filter((f) => /^pf\d{4}\.in$/.test(f))
    .map((f) => f.slice(0, -3))
    .sort();
  const readFile = reader(dir);
  const results: PfTestResult[] = [];
  for (const id of ids) {
    const okPath = join(dir, `${id}.ok`);
    if (!existsSync(okPath)) continue;
    const expected = readFileSync(okPath, "utf8");
    if (!only || only.has(id)) {
      const input = readFileSync(join(dir, `${id}.in`), "utf8");
      results.push(run(id, "freebsd", () => listPf(input, { readFile }), expected));
    }
    if (!only || only.has(`self${id}`))
      results.push(run(`self${id}`, "freebsd", () => listPf(expected, { readFile }), expected));
  }
  return results;
}

function run(name: string, set: PfTestResult["set"], produce: () => string, expected: string): PfTestResult {
  try {
    return compare(name, set, produce(), expected);
  } catch (e) {
    return { name, set, status: "fail", detail: `engine error: ${(e as Error).message.split("\n")[0]}` };
  }
}

/**
 * pfctl's stderr line for a diagnostic, as OpenBSD's pfail tests record it
 * (`stdin:3: port only applies to tcp/udp`).
 */
function pfctlError(message: string, line: number): string {
  return `stdin:${line}: ${message.startsWith("syntax error") ? "syntax error" : message}\n`;
}

/** The OpenBSD 4.4 set: pfN (.in → .ok), selfpfN, and the pfailN negative tests (stdout and stderr together). */
export function runOpenbsd(dir: string, only?: ReadonlySet<string>): PfTestResult[] {
  const results: PfTestResult[] = [];
  const readFile = reader(dir);
  const files = readdirSync(dir);
  const ids = files
    .filter((f) => /^(pf|pfail)\d+\.in$/.test(f))
    .map((f) => f.slice(0, -3))
    .sort((a, b) => a.localeCompare(b, "en", { numeric: true }));
  for (const id of ids) {
    const okPath = join(dir, `${id}.ok`);
    if (!existsSync(okPath)) continue;
    const expected = readFileSync(okPath, "utf8");
    const input = readFileSync(join(dir, `${id}.in`), "utf8");
    if (id.startsWith("pfail")) {
      if (only && !only.has(id)) continue;
      results.push(
        run(
          id,
          "openbsd",
          () => {
            const r = parsePf(input, { readFile });
            let out = printPfListing(r);
            for (const d of r.diagnostics) if (d.severity === "error") out += pfctlError(d.message, d.line);
            return out;
          },
          expected,
        ),
      );
      continue;
    }
    if (!only || only.has(`obsd-${id}`))
      results.push(run(`obsd-${id}`, "openbsd", () => listPf(input, { readFile }), expected));
    if (!only || only.has(`obsd-self${id}`))
      results.push(run(`obsd-self${id}`, "openbsd", () => listPf(expected, { readFile }), expected));
  }
  return results;
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

function summary(results: readonly PfTestResult[], io: CliIo, title: string): void {
  const runs: [string, (r: PfTestResult) => boolean][] = [
    [
      "pfNNNN (.in → .ok)",
      (r) => !r.name.startsWith("self") && !r.name.startsWith("obsd-self") && !r.name.startsWith("pfail"),
    ],
    ["selfpfNNNN (.ok → .ok)", (r) => r.name.startsWith("self") || r.name.startsWith("obsd-self")],
    ["pfailN (errors)", (r) => r.name.startsWith("pfail")],
  ];
  io.out(`${title}:`);
  for (const [label, pick] of runs) {
    const rs = results.filter(pick);
    if (rs.length === 0) continue;
    const passed = rs.filter((r) => r.status === "pass").length;
    io.out(`  ${label}: ${passed} passed, ${rs.length - passed} failed`);
  }
}

export async function main(argv: readonly string[], io: CliIo): Promise<number> {
  let corpus = "";
  let check: string | undefined;
  let update: string | undefined;
  let only: Set<string> | undefined;
  let openbsd = true;
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
    } else if (a === "--no-openbsd") openbsd = false;
    else {
      io.out(`conformance-pf: unknown argument ${JSON.stringify(a)}`);
      io.out(
        "usage: conformance-pf --corpus DIR [--check FILE | --update FILE] [--only NAME,...] [--no-openbsd]",
      );
      return 2;
    }
  }
  const root = resolve(corpus || ".");
  const freebsdDir = existsSync(join(root, "files")) ? join(root, "files") : root;
  if (!corpus || !existsSync(join(freebsdDir, "pf0001.in"))) {
    io.out(
      `conformance-pf: no pfctl corpus (files/pf0001.in) under ${JSON.stringify(corpus)}; give --corpus DIR (e.g. ../shared/corpus/pfctl)`,
    );
    return 2;
  }
  const results = runFreebsd(freebsdDir, only);
  for (const r of results) io.out(r.status === "pass" ? `pass ${r.name}` : `fail ${r.name}: ${r.detail}`);
  const obsdDir = join(root, "openbsd-4.4");
  let obsd: PfTestResult[] = [];
  if (openbsd && existsSync(obsdDir)) {
    obsd = runOpenbsd(obsdDir, only);
    io.out("");
    io.out("OpenBSD 4.4 set (information only, never a failure):");
    for (const r of obsd) io.out(r.status === "pass" ? `pass ${r.name}` : `fail ${r.name}: ${r.detail}`);
  }
  io.out("");
  summary(results, io, "FreeBSD set (files/)");
  if (obsd.length > 0) summary(obsd, io, "OpenBSD 4.4 set (information)");
  const pick = (self: boolean): PfTestResult[] => results.filter((r) => r.name.startsWith("self") === self);
  for (const [label, rs] of [
    ["pfNNNN", pick(false)],
    ["selfpfNNNN", pick(true)],
  ] as const) {
    const passed = rs.filter((r) => r.status === "pass").length;
    io.out(`${label}: ${passed} passed, ${rs.length - passed} failed`);
  }
  const passing = new Set(results.filter((r) => r.status === "pass").map((r) => r.name));
  if (update) {
    writeFileSync(
      update,
      "# FreeBSD pfctl regression tests qjail's pf engine passes; `npm run conformance:pf -- --check` fails if one stops passing.\n" +
        "# Regenerate with: npm run build && npm run conformance:pf -- --corpus ../shared/corpus/pfctl --update test/conformance/pf-expected-passes.txt\n" +
        [...passing].map((n) => `${n}\n`).join(""),
    );
  }
  const passedAll = results.filter((r) => r.status === "pass").length;
  io.out(`${passedAll} passed, ${results.length - passedAll} failed`);
  if (check) {
    const lost = readNameList(check).filter((n) => !passing.has(n));
    if (lost.length > 0) {
      io.out(`regression: ${lost.length} test(s) listed in ${check} no longer pass: ${lost.join(" ")}`);
      return 1;
    }
    io.out(`check: every test listed in ${check} still passes (no regression)`);
  }
  return 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2), { out: (l) => process.stdout.write(l + "\n") }).then(
    (code) => process.exit(code),
    (e: unknown) => {
      process.stderr.write(`conformance-pf: ${(e as Error).stack ?? String(e)}\n`);
      process.exit(70);
    },
  );
}
