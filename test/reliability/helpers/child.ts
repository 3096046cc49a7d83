/**
 * A small program the reliability tests run as a child process, so that a
 * SIGKILL (QJAIL_CRASH_AT), a full filesystem or a private mount hits a real
 * process and not the test runner. Arguments are a list of operations
 * separated by `--then`, done in order; the first failing one stops the run.
 *
 *   --tmpfs DIR SIZE           mount a tmpfs of SIZE (e.g. 256k) on DIR
 *   --bind SRC DST             bind-mount SRC on DST (a nullfs mount inside a jail, on Linux)
 *   apply ROOT PLANS.json      apply plans (src/platform/apply.ts) under a physical root
 *   write FILE BYTES...        writeFileAtomic() BYTES bytes of "x" to FILE, once per size
 *   fill DIR                   create DIR/.filler taking every free block of DIR's filesystem
 *   exec PROGRAM ARGS...       run a program (the real qjail) and report its exit status
 *   digest DIR                 print the tree digest (test/helpers/cli.ts treeDigest) of DIR as JSON
 *
 * Mounts are meant for `unshare -m --propagation private`: they vanish with
 * the process and never touch the host's mount table. Each operation prints
 * one line: `ok OP`, `error OP CODE MESSAGE`, `exit OP STATUS`, `digest {...}`,
 * and the run ends with `done BOUNDARIES` (step boundaries passed, see
 * src/platform/apply.ts crashPoint).
 */
import { readFileSync, openSync, writeSync, closeSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { applyPlan, stepBoundariesPassed } from "../../../src/platform/apply.js";
import { writeFileAtomic } from "../../../src/store/atomic.js";
import type { Plan } from "../../../src/core/plan.js";
import { treeDigest } from "../../helpers/cli.js";

function say(line: string): void {
  process.stdout.write(line + "\n");
}

function mount(args: string[]): void {
  const r = spawnSync("mount", args, { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`mount ${args.join(" ")} failed: ${r.stderr}`);
}

function fill(dir: string): void {
  const fd = openSync(join(dir, ".filler"), "w");
  const chunk = Buffer.alloc(4096, 0x66);
  try {
    for (;;) writeSync(fd, chunk);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOSPC") throw e;
  } finally {
    closeSync(fd);
  }
}

async function runOp(words: string[]): Promise<boolean> {
  const [op, ...args] = words;
  try {
    switch (op) {
      case "--tmpfs":
        mount(["-t", "tmpfs", "-o", `size=${args[1]}`, "tmpfs", args[0] as string]);
        break;
      case "--bind":
        mount(["--bind", args[0] as string, args[1] as string]);
        break;
      case "apply":
        for (const plan of JSON.parse(readFileSync(args[1] as string, "utf8")) as Plan[]) {
          await applyPlan(plan, { root: args[0] as string, runCommands: false });
        }
        break;
      case "write":
        for (const size of args.slice(1)) {
          try {
            await writeFileAtomic(args[0] as string, "x".repeat(Number(size)));
            say(`ok write ${size}`);
          } catch (e) {
            const err = e as NodeJS.ErrnoException;
            say(`error write ${err.code ?? "-"} ${err.message}`);
          }
        }
        return true;
      case "fill":
        fill(args[0] as string);
        break;
      case "exec": {
        const r = spawnSync(args[0] as string, args.slice(1), { stdio: ["ignore", "inherit", "inherit"] });
        say(`exit exec ${r.status ?? `signal ${r.signal}`}`);
        return true;
      }
      case "digest":
        say(`digest ${JSON.stringify(Object.fromEntries(treeDigest(args[0] as string)))}`);
        return true;
      default:
        process.stderr.write(`child: unknown operation ${JSON.stringify(op)}\n`);
        return false;
    }
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    say(`error ${op} ${err.code ?? "-"} ${err.message}`);
    return false;
  }
  say(`ok ${op}`);
  return true;
}

async function main(argv: string[]): Promise<number> {
  const ops: string[][] = [[]];
  for (const a of argv) {
    const current = ops[ops.length - 1] as string[];
    const mountDone = (current[0] === "--tmpfs" || current[0] === "--bind") && current.length === 3;
    if (a === "--then") ops.push([]);
    else if (mountDone || ((a === "--tmpfs" || a === "--bind") && current.length > 0)) ops.push([a]);
    else current.push(a);
  }
  for (const op of ops) {
    if (op.length === 0) continue;
    if (!(await runOp(op))) return 3;
  }
  say(`done ${stepBoundariesPassed()}`);
  return 0;
}

process.exitCode = await main(process.argv.slice(2));
