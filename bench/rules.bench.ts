/**
 * Rule generation + validation (+ load where the backend can) for 10, 100 and
 * 1,000 exposures, one load each, through the expose developer's generators.
 */
import { type BenchContext, type Figure, hasCommand, notMeasured } from "./lib.js";

export const EXPOSURES_GOAL = { max: 1000, text: "< 1 s (1,000 exposures)" };

export async function bench(_ctx: BenchContext): Promise<Figure[]> {
  const figures: Figure[] = [];
  for (const n of [10, 100, 1000]) {
    const goal = n === 1000 ? EXPOSURES_GOAL : undefined;
    figures.push(
      notMeasured(
        `rules: generate + validate (${n} exposures)`,
        `${n} exposures, one rule set`,
        hasCommand("expose") ? "the rule generators' API is not wired into this benchmark yet" : "the expose command and its rule generators are not in this build",
        goal,
      ),
    );
  }
  return figures;
}
