/**
 * Cold start: `qjail --version` as a fresh child process, 20 runs. This is
 * the floor under every figure an admin sees from a shell (node start-up and
 * loading qjail's modules), so it is measured on its own.
 */
import { spawnSync } from "node:child_process";
import { performance } from "node:perf_hooks";
import { type BenchContext, type Figure, qjailBinArgv, summarize, timingFigure } from "./lib.js";

export const COLD_START_GOAL = { max: 150, text: "< 150 ms" };

export async function bench(ctx: BenchContext): Promise<Figure[]> {
  const runs = ctx.quick ? 3 : 20;
  const [node, ...pre] = qjailBinArgv();
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    const r = spawnSync(node as string, [...pre, "--version"], { encoding: "utf8" });
    samples.push(performance.now() - t0);
    if (r.status !== 0 || !/^qjail \d/.test(r.stdout)) throw new Error(`qjail --version failed: ${r.stderr}`);
  }
  ctx.log(`cold start: ${runs} runs`);
  return [timingFigure("cold start: qjail --version", `child process (node ${process.version} + bin/qjail.js), ${runs} runs`, summarize(samples), COLD_START_GOAL)];
}
