/**
 * A tiny program the reliability tests run as a child process, so that a
 * SIGKILL (QJAIL_CRASH_AT) or a full filesystem hits a real process and not
 * the test runner:
 *
 *   child [mounts] apply <root> <plan.json>   apply plans (src/platform/apply.ts) under a physical root
 *   child [mounts] write <file> <bytes>       writeFileAtomic() <bytes> bytes of "x" to a host-side file
 *   child [mounts] exec PROGRAM ARGS...       run a program (the real qjail) with the mounts in place
 *
 * mounts, done first and only meaningful inside `unshare -m --propagation private`
 * (so they vanish with the process and never touch the host's mount table):
 *   --tmpfs DIR SIZE    a tmpfs of SIZE (e.g. 64k) on DIR, to fill a disk on purpose
 *   --bind SRC DST      a bind mount, standing in for a nullfs mount inside a jail
 *
 * It prints "done <boundaries>" when it completes; any error is printed as
 * "error <code> <message>" with exit status 3.
 */
import { readFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { applyPlan, stepBoundariesPassed } from "../../../src/platform/apply.js";
import { writeFileAtomic } from "../../../src/store/atomic.js";
import type { Plan } from "../../../src/core/plan.js";

function mount(args: string[]): void {
  const r = spawnSync("mount", args, { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`mount ${args.join(" ")} failed: ${r.stderr}`);
}

async function main(argv: string[]): Promise<number> {
  let rest = argv;
  while (rest[0] === "--tmpfs" || rest[0] === "--bind") {
    const [flag, x, y] = rest;
    if (x === undefined || y === undefined) throw new Error(`${flag} needs two arguments`);
    if (flag === "--tmpfs") mount(["-t", "tmpfs", "-o", `size=${y}`, "tmpfs", x]);
    else mount(["--bind", x, y]);
    rest = rest.slice(3);
  }
  const [op, a, b] = rest;
  if (op === "exec" && a !== undefined) {
    const r = spawnSync(a, rest.slice(2), { stdio: "inherit" });
    return r.status ?? 128;
  }
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
