import { performance } from "node:perf_hooks";

// Timing statistics with no other import, so a benchmark of one language module
// can use them without loading the whole CLI (bench/lib.ts does).

export interface Timing {
  runs: number;
  medianMs: number;
  minMs: number;
  maxMs: number;
}

/** Median, min and max of samples (ms). The median of an even count is the mean of the middle two. */
export function summarize(samples: readonly number[]): Timing {
  if (samples.length === 0) throw new Error("internal: no samples");
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const median =
    sorted.length % 2 === 1
      ? (sorted[mid] as number)
      : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
  return {
    runs: sorted.length,
    medianMs: median,
    minMs: sorted[0] as number,
    maxMs: sorted[sorted.length - 1] as number,
  };
}

/** Runs `fn` once to warm up, then `runs` times; the timings of those runs. */
export function time(fn: () => void, runs: number): Timing {
  fn();
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    fn();
    samples.push(performance.now() - t0);
  }
  return summarize(samples);
}
