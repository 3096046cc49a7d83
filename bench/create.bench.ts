/**
 * `create` of a directory jail on the shared base: time per jail and disk per
 * jail. The host is installed first from a small base.txz with FreeBSD's
 * layout that this benchmark builds itself (bench/lib.ts buildBaseTxz).
 */
import { join } from "node:path";
import { mkdirSync } from "node:fs";
import { hostLayout, jailRootPath, physical } from "../src/core/paths.js";
import {
  type BenchContext,
  type Figure,
  buildBaseTxz,
  cliChild,
  cliInProcess,
  diskUsageBytes,
  expectOk,
  hasCommand,
  makeTempRoot,
  notMeasured,
  round,
  summarize,
  timingFigure,
} from "./lib.js";
import { performance } from "node:perf_hooks";

export const CREATE_TIME_GOAL = { max: 100, text: "< 100 ms per jail" };
export const CREATE_DISK_GOAL = { max: 5, text: "< 5 MiB per jail" };

export async function bench(ctx: BenchContext): Promise<Figure[]> {
  const workload =
    "directory jail on the shared base (create -4 <ip> <name>) under --root, installed from a synthetic base.txz";
  if (!hasCommand("install") || !hasCommand("create")) {
    const why = `the ${hasCommand("install") ? "create" : "install"} command is not registered in this build`;
    return [
      notMeasured("create: time per jail", workload, why, CREATE_TIME_GOAL),
      notMeasured("create: disk per jail", workload, why, CREATE_DISK_GOAL),
    ];
  }
  const tmp = makeTempRoot("create");
  try {
    const dist = join(tmp.dir, "dist");
    mkdirSync(dist);
    buildBaseTxz(dist);
    const root = join(tmp.dir, "root");
    mkdirSync(root);
    const installArgv = ["install", "--root", root, "-f", dist];
    expectOk(await cliInProcess(installArgv), installArgv);
    const layout = hostLayout();
    const perJail = ctx.quick ? 3 : 20;
    const childSamples: number[] = [];
    const inSamples: number[] = [];
    const disk: number[] = [];
    for (let i = 0; i < perJail * 2; i++) {
      const name = `bench${i}`;
      const argv = ["create", "--root", root, "-4", `10.77.${Math.floor(i / 250)}.${(i % 250) + 1}`, name];
      const viaChild = i % 2 === 0;
      const t0 = performance.now();
      expectOk(viaChild ? cliChild(argv) : await cliInProcess(argv), argv);
      (viaChild ? childSamples : inSamples).push(performance.now() - t0);
      disk.push(diskUsageBytes(physical(root, jailRootPath(layout, name))));
    }
    ctx.log(`create: ${perJail * 2} jails`);
    const mib = disk.map((b) => b / 2 ** 20);
    const diskT = summarize(mib);
    const diskFigure: Figure = {
      what: "create: disk per jail",
      workload: `${workload}; du -s of the jail root`,
      value: round(diskT.medianMs),
      unit: "MiB",
      min: round(diskT.minMs),
      max: round(diskT.maxMs),
      runs: diskT.runs,
      goal: CREATE_DISK_GOAL,
      status: diskT.maxMs < CREATE_DISK_GOAL.max ? "pass" : "miss",
    };
    return [
      timingFigure(
        "create: time per jail, child process",
        workload,
        summarize(childSamples),
        CREATE_TIME_GOAL,
      ),
      timingFigure("create: time per jail, in-process", workload, summarize(inSamples), CREATE_TIME_GOAL),
      diskFigure,
    ];
  } finally {
    tmp.cleanup();
  }
}
