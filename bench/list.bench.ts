/**
 * `list` and `list --json` at 10, 100 and 1,000 jails. The records are laid
 * out directly (bench/lib.ts layOutJails) and the command is timed through
 * the real CLI both as a child process (what an admin's shell pays, cold
 * start included) and in-process (qjail's own work).
 */
import {
  type BenchContext,
  type Figure,
  cliChild,
  cliInProcess,
  expectOk,
  hasCommand,
  layOutJails,
  makeTempRoot,
  measure,
  notMeasured,
  timingFigure,
} from "./lib.js";

export const LIST_GOAL = { max: 150, text: "< 150 ms (1,000 jails)" };
const SIZES = [10, 100, 1000] as const;

export async function bench(ctx: BenchContext): Promise<Figure[]> {
  const figures: Figure[] = [];
  if (!hasCommand("list")) {
    for (const n of SIZES)
      figures.push(
        notMeasured(
          `list (${n} jails)`,
          "list / list --json",
          "the list command is not registered in this build",
          n === 1000 ? LIST_GOAL : undefined,
        ),
      );
    return figures;
  }
  for (const n of SIZES) {
    const tmp = makeTempRoot(`list${n}`);
    try {
      layOutJails(tmp.dir, n);
      const goal = n === 1000 ? LIST_GOAL : undefined;
      for (const json of [false, true]) {
        const argv = ["list", "--root", tmp.dir, ...(json ? ["--json"] : [])];
        const label = `list${json ? " --json" : ""} (${n} jails)`;
        const workload = `${n} stopped directory jails laid out under --root; qjail ${argv.slice(0, 1).join(" ")}${json ? " --json" : ""}`;
        // One checked run first: a failing command must not be timed as a fast one.
        const first = expectOk(cliChild(argv), argv);
        if (json) JSON.parse(first.stdout);
        const childRuns = ctx.quick ? 2 : n === 1000 ? 10 : 15;
        const child = await measure(() => void expectOk(cliChild(argv), argv), { runs: childRuns });
        figures.push(timingFigure(`${label}, child process`, workload, child, goal));
        const inRuns = ctx.quick ? 3 : 20;
        const inProc = await measure(async () => void expectOk(await cliInProcess(argv), argv), {
          runs: inRuns,
          warmup: 2,
        });
        figures.push(timingFigure(`${label}, in-process`, workload, inProc, goal));
        ctx.log(
          `${label}: child median ${child.medianMs.toFixed(1)} ms, in-process ${inProc.medianMs.toFixed(1)} ms`,
        );
      }
    } finally {
      tmp.cleanup();
    }
  }
  return figures;
}
