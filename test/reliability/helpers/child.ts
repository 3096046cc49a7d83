/**
 * A tiny program the reliability tests run as a child process, so that a
 * SIGKILL (QJAIL_CRASH_AT) or a full filesystem hits a real process and not
 * the test runner:
 *
 *   child apply <root> <plan.json>       apply a plan (src/platform/apply.ts) under a physical root
 *   child write <file> <bytes>           writeFileAtomic() <bytes> bytes of "x" to a host-side file
 *
 * It prints "done <boundaries>" when it completes; any error is printed as
 * "error <code> <message>" with exit status 3.
 */
import { readFileSync } from "node:fs";
import { applyPlan, stepBoundariesPassed } from "../../../src/platform/apply.js";
import { writeFileAtomic } from "../../../src/store/atomic.js";
import type { Plan } from "../../../src/core/plan.js";

async function main(argv: string[]): Promise<number> {
  const [op, a, b] = argv;
  try {
    if (op === "apply" && a !== undefined && b !== undefined) {
      const plans = JSON.parse(readFileSync(b, "utf8")) as Plan[];
      for (const plan of plans) await applyPlan(plan, { root: a, runCommands: false });
    } else if (op === "write" && a !== undefined && b !== undefined) {
      await writeFileAtomic(a, "x".repeat(Number(b)));
    } else {
      process.stderr.write(`usage: child apply ROOT PLANS.json | child write FILE BYTES\n`);
      return 2;
    }
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { code?: string };
    process.stdout.write(`error ${err.code ?? "-"} ${err.message}\n`);
    return 3;
  }
  process.stdout.write(`done ${stepBoundariesPassed()}\n`);
  return 0;
}

process.exitCode = await main(process.argv.slice(2));
