/**
 * Cold start: `qjail --version` as a fresh child process, 20 runs. This is
 * the floor under every figure an admin sees from a shell (node start-up and
 * loading qjail's modules), so it is measured on its own.
 */
import { spawnSync } from "node:child_process";
import { performance } from "node:perf_hooks";
import { type BenchContext, type Figure, qjailBinArgv, summarize, timingFigure } from "./lib.js";

export const COLD_START_GOAL = { max: 150, text: "< 150 ms" };

function timeChild(argv: string[], runs: number, check: (stdout: string) => boolean): number[] {
  const [cmd, ...args] = argv;
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    const r = spawnSync(cmd as string, args, { encoding: "utf8" });
    samples.push(performance.now() - t0);
    if (r.status !== 0 || !check(r.stdout)) throw new Error(`${argv.join(" ")} failed: ${r.stderr}`);
  }
  return samples;
}

export async function bench(ctx: BenchContext): Promise<Figure[]> {
  const runs = ctx.quick ? 3 : 20;
  const qjail = timeChild([...qjailBinArgv(), "--version"], runs, (out) => /^qjail \d/.test(out));
  // The floor no node program can go below on this machine, to show how much of cold start is qjail's own.
  const bare = timeChild([process.execPath, "-e", "0"], runs, () => true);
  ctx.log(`cold start: ${runs} runs each`);
  return [
    timingFigure(
      "cold start: qjail --version",
      `child process (node ${process.version} + bin/qjail.js, the bundled build), ${runs} runs`,
      summarize(qjail),
      COLD_START_GOAL,
    ),
    timingFigure(
      "baseline: node -e 0",
      `child process, the same node, no qjail code, ${runs} runs`,
      summarize(bare),
      undefined,
      "the part of cold start qjail cannot remove",
    ),
  ];
}
