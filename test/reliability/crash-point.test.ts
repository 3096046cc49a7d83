import { test, after } from "node:test";
import assert from "node:assert/strict";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Plan } from "../../src/core/plan.js";
import { tempDir } from "../helpers/cli.js";
import { childArgv, killed, runSync } from "./helpers/index.js";

// The crash-point mechanism itself (src/platform/apply.ts): QJAIL_CRASH_AT=step:K
// must stop a process exactly before its K-th step boundary, counting across plans.

const tmp = tempDir(`qjail-crash-${process.pid}-`);
after(() => tmp.cleanup());

function writes(names: string[]): Plan {
  return {
    title: "test",
    steps: names.map((n) => ({ kind: "writeFile", path: `/state/${n}`, content: `${n}\n` })),
  };
}

function applyInChild(
  label: string,
  plans: Plan[],
  crashAt?: string,
): { killed: boolean; present: string[]; stdout: string } {
  const root = join(tmp.dir, label);
  const planFile = join(tmp.dir, `${label}.json`);
  writeFileSync(planFile, JSON.stringify(plans));
  const r = runSync(
    [...childArgv(), "apply", root, planFile],
    crashAt === undefined ? {} : { QJAIL_CRASH_AT: crashAt },
  );
  const all = plans.flatMap((p) => p.steps.map((s) => (s.kind === "writeFile" ? s.path : "")));
  const lastLine = r.stdout.trim().split("\n").pop() ?? "";
  return { killed: killed(r), present: all.filter((p) => existsSync(join(root, p))), stdout: lastLine };
}

test("step:K kills the process before step K of a single plan, for every K", () => {
  const plan = writes(["a", "b", "c", "d"]);
  for (let k = 0; k <= 4; k++) {
    const r = applyInChild(`single-${k}`, [plan], `step:${k}`);
    assert.equal(r.killed, true, `step:${k} should kill`);
    assert.deepEqual(r.present, ["/state/a", "/state/b", "/state/c", "/state/d"].slice(0, k), `step:${k}`);
  }
  const done = applyInChild("single-5", [plan], "step:5");
  assert.equal(done.killed, false);
  assert.equal(done.stdout, "done 5");
});

test("step boundaries count on across plans applied by one process", () => {
  const plans = [writes(["a", "b"]), writes(["c", "d"])];
  // Plan 1 has boundaries 0,1,2; plan 2 continues with 3,4,5.
  assert.deepEqual(applyInChild("multi-3", plans, "step:3").present, ["/state/a", "/state/b"]);
  assert.deepEqual(applyInChild("multi-4", plans, "step:4").present, ["/state/a", "/state/b", "/state/c"]);
  const done = applyInChild("multi-6", plans, "step:6");
  assert.equal(done.killed, false);
  assert.equal(done.stdout, "done 6");
});

test("QJAIL_CRASH_AT takes a comma-separated list and the first point reached wins", () => {
  const r = applyInChild("list", [writes(["a", "b", "c"])], "records-written, step:2 ,step:1");
  assert.equal(r.killed, true);
  assert.deepEqual(r.present, ["/state/a"]);
});

test("without QJAIL_CRASH_AT, or with a point never reached, the plan completes", () => {
  assert.equal(applyInChild("unset", [writes(["a"])]).stdout, "done 2");
  assert.equal(applyInChild("elsewhere", [writes(["a"])], "step:99").stdout, "done 2");
});
