/**
 * `npm run bench`: build qjail, then measure it on a synthetic host and write
 * bench/results/latest.json and latest.md (git-ignored), printing the table.
 *
 *   node dist/bench/run.js [--quick] [--only list,create,...]
 *
 * --quick runs every module with few repetitions (a smoke test of the
 * harness, not figures to quote). Modules other developers own
 * (bench/linux-lifecycle, the IPFilter evaluator's bench) are loaded when
 * present; a missing one is reported as "not measured" with the reason.
 */
import { existsSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import {
  type BenchContext,
  type Figure,
  machineInfo,
  notMeasured,
  writeResults,
  RESULTS_DIR,
} from "./lib.js";
import * as startup from "./startup.bench.js";
import * as installed from "./installed.bench.js";
import * as list from "./list.bench.js";
import * as create from "./create.bench.js";
import * as rules from "./rules.bench.js";
import * as mutations from "./mutations.bench.js";
import * as apply from "./apply.bench.js";
import * as pfParse from "./pf-parse.bench.js";

const HERE = dirname(fileURLToPath(import.meta.url));

interface Section {
  name: string;
  run(ctx: BenchContext): Promise<Figure[]>;
}

/**
 * A module another developer owns, found by file name next to this one. Its
 * export is called if it has the agreed shape (`bench(ctx) → Figure[]`);
 * anything else is reported, not guessed at.
 */
function optionalModule(
  name: string,
  candidates: readonly string[],
  what: string,
  workload: string,
  goal?: { max: number; text: string },
): Section {
  return {
    name,
    async run(ctx) {
      const file = candidates.map((c) => join(HERE, `${c}.js`)).find((p) => existsSync(p));
      if (file === undefined) {
        return [
          notMeasured(
            what,
            workload,
            `no ${candidates.map((c) => `bench/${c}.ts`).join(" or ")} in this build`,
            goal,
          ),
        ];
      }
      const mod = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
      const fn = mod.bench;
      if (typeof fn !== "function")
        return [notMeasured(what, workload, `${file} exports no bench(ctx) function`, goal)];
      return (await (fn as (c: BenchContext) => Promise<Figure[]>)(ctx)) ?? [];
    },
  };
}

function ipfEvaluatorCandidates(): string[] {
  const named = ["ipf-eval.bench", "ipf.bench", "ipf-evaluator.bench", "evaluator.bench"];
  const found = existsSync(HERE)
    ? readdirSync(HERE)
        .filter((f) => /ipf.*\.bench\.js$/.test(f))
        .map((f) => f.replace(/\.js$/, ""))
    : [];
  return [...new Set([...named, ...found])];
}

const SECTIONS: Section[] = [
  { name: "installed", run: installed.bench },
  { name: "startup", run: startup.bench },
  { name: "list", run: list.bench },
  { name: "create", run: create.bench },
  { name: "rules", run: rules.bench },
  { name: "mutations", run: mutations.bench },
  { name: "apply", run: apply.bench },
  { name: "pf", run: pfParse.bench },
  optionalModule(
    "ipf",
    ipfEvaluatorCandidates(),
    "IPFilter engine: packets/s",
    "the evaluator developer's benchmark",
  ),
  optionalModule(
    "linux",
    ["linux-lifecycle", "linux-lifecycle.bench"],
    "start/stop on the Linux backend",
    "start+stop per jail, and 100 jails together",
    { max: 150, text: "start < 150 ms per jail" },
  ),
];

async function main(argv: string[]): Promise<number> {
  const quick = argv.includes("--quick");
  const onlyArg = argv.indexOf("--only");
  const only = onlyArg >= 0 ? new Set((argv[onlyArg + 1] ?? "").split(",")) : undefined;
  const ctx: BenchContext = { quick, log: (l) => process.stderr.write(`bench: ${l}\n`) };
  // Taken before any work, so the load average is the machine's, not the benchmark's.
  const machine = machineInfo();
  const figures: Figure[] = [];
  let failed = false;
  for (const s of SECTIONS) {
    if (only && !only.has(s.name)) continue;
    ctx.log(`-- ${s.name}`);
    try {
      figures.push(...(await s.run(ctx)));
    } catch (e) {
      // A section that breaks is reported in the table and fails the run; the other sections still run.
      failed = true;
      const msg = (e as Error).message.split("\n").slice(0, 3).join(" ");
      ctx.log(`${s.name} failed: ${(e as Error).stack ?? msg}`);
      figures.push(notMeasured(`${s.name} section`, "", `the benchmark failed: ${msg}`));
    }
  }
  const md = writeResults(figures, machine);
  process.stdout.write(md);
  process.stderr.write(`bench: wrote ${join(RESULTS_DIR, "latest.json")} and latest.md\n`);
  return failed ? 1 : 0;
}

process.exitCode = await main(process.argv.slice(2));
