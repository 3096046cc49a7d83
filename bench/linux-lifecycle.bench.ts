/**
 * The Linux backend's jail lifecycle: create, start and stop for 1, 10 and
 * 100 jails (all 100 running at once), with medians/min/max per jail and the
 * disk each jail tree uses. Runs as root in a network namespace it creates
 * (the "host") under a temporary --root, and removes both afterwards; nothing
 * touches the machine's own network or /usr/jails.
 *
 *   npm run bench:linux            (or as the "linux" section of npm run bench)
 *
 * The measuring happens in a worker process inside the host namespace
 * (nsenter --net), calling the qjail CLI in-process, so the figures are
 * qjail's own cost and not node's start-up.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import { performance } from "node:perf_hooks";
import { join } from "node:path";
import {
  cliInProcess,
  diskUsageBytes,
  hasCommand,
  makeTempRoot,
  notMeasured,
  round,
  summarize,
  timingFigure,
  type BenchContext,
  type Figure,
  type Timing,
} from "./lib.js";
import { hostLayout, jailRootPath, physical } from "../src/core/paths.js";
import { netnsName } from "../src/core/linux/lifecycle.js";
import { planLinuxInstall } from "../src/core/linux/install.js";
import { createLinuxPlatform, linuxHelperDir } from "../src/platform/linux/index.js";

export const START_GOAL = { max: 150, text: "start < 150 ms per jail" };

interface SizeResult {
  jails: number;
  create: Timing;
  start: Timing;
  stop: Timing;
  /** Bytes per jail tree (du), median over the jails. */
  diskMedianBytes: number;
  diskMaxBytes: number;
  running: number;
}

const SELF = fileURLToPath(import.meta.url);

/** qjail through the CLI in this process; a failure stops the benchmark rather than timing an error. */
async function qjail(root: string, words: string[], rest: string[]): Promise<void> {
  const argv = [...words, "--root", root, "--platform", "linux", ...rest];
  const r = await cliInProcess(argv);
  if (r.code !== 0) throw new Error(`qjail ${argv.join(" ")} exited ${r.code}: ${r.stderr}${r.stdout}`);
}

async function timeEach(names: readonly string[], fn: (name: string) => Promise<void>): Promise<Timing> {
  const samples: number[] = [];
  for (const n of names) {
    const t0 = performance.now();
    await fn(n);
    samples.push(performance.now() - t0);
  }
  return summarize(samples);
}

/** Runs inside the host namespace: install once, then each size in turn. */
async function worker(root: string, sizes: number[]): Promise<SizeResult[]> {
  const layout = hostLayout();
  const install = await cliInProcess(["install", "--root", root, "--platform", "linux"]);
  if (install.code !== 0) {
    // install's Linux path may not be wired to planLinuxInstall yet; the planner is the same either way
    await createLinuxPlatform(root).apply(planLinuxInstall({ layout, root, base: { kind: "host" } }));
  }
  const results: SizeResult[] = [];
  for (const size of sizes) {
    const names = Array.from({ length: size }, (_, i) => `lc${size}-${String(i + 1).padStart(3, "0")}`);
    const ip = (i: number): string => `10.0.0.${i + 2}`;
    const create = await timeEach(names, (n) => qjail(root, ["create"], ["-4", ip(names.indexOf(n)), n]));
    const start = await timeEach(names, (n) => qjail(root, ["start"], [n]));
    const running = (await createLinuxPlatform(root).liveJails()).size;
    const disks = names
      .map((n) => diskUsageBytes(physical(root, jailRootPath(layout, n))))
      .sort((a, b) => a - b);
    const stop = await timeEach(names, (n) => qjail(root, ["stop"], [n]));
    for (const n of names) await qjail(root, ["delete"], [n]);
    results.push({
      jails: size,
      create,
      start,
      stop,
      diskMedianBytes: disks[Math.floor(disks.length / 2)] ?? 0,
      diskMaxBytes: disks.at(-1) ?? 0,
      running,
    });
  }
  return results;
}

export async function bench(ctx: BenchContext): Promise<Figure[]> {
  const workload =
    "create -4 / start / stop / delete per jail, on the host's shared /usr, in a private host netns";
  if (process.platform !== "linux" || process.getuid?.() !== 0)
    return [notMeasured("Linux jail lifecycle", workload, "needs root on Linux")];
  for (const words of [["create"], ["start"], ["stop"], ["delete"]]) {
    if (!hasCommand(...words))
      return [
        notMeasured(
          "Linux jail lifecycle",
          workload,
          `qjail ${words.join(" ")} is not registered in this build`,
        ),
      ];
  }
  const sizes = ctx.quick ? [1, 10] : [1, 10, 100];
  const ns = `qjb-lin-${process.pid.toString(36)}${randomBytes(2).toString("hex")}`;
  const tmp = makeTempRoot("linux");
  mkdirSync(join(tmp.dir, "usr/local/etc"), { recursive: true });
  writeFileSync(join(tmp.dir, "usr/local/etc/qjail.host"), 'jail_if="qjail0"\njail_subnet="10.0.0.0/24"\n');
  try {
    const add = spawnSync("ip", ["netns", "add", ns], { encoding: "utf8" });
    if (add.status !== 0)
      return [
        notMeasured(
          "Linux jail lifecycle",
          workload,
          `cannot create a network namespace: ${add.stderr.trim()}`,
        ),
      ];
    spawnSync("ip", ["-n", ns, "link", "set", "lo", "up"]);
    const node = SELF.endsWith(".ts")
      ? [process.execPath, "--import", "tsx", SELF]
      : [process.execPath, SELF];
    ctx.log(`linux lifecycle: sizes ${sizes.join(", ")} in netns ${ns}`);
    const r = spawnSync(
      "nsenter",
      [`--net=/run/netns/${ns}`, "--", ...node, "--worker", tmp.dir, sizes.join(",")],
      { encoding: "utf8", maxBuffer: 64 * 1024 * 1024, timeout: 30 * 60_000 },
    );
    if (r.status !== 0)
      throw new Error(`linux lifecycle worker exited ${r.status}: ${r.stderr.slice(-2000)}`);
    const results = JSON.parse(r.stdout.trim().split("\n").at(-1) ?? "[]") as SizeResult[];
    const figures: Figure[] = [];
    for (const s of results) {
      const w = `${s.jails} jail(s), ${workload}`;
      figures.push(timingFigure(`Linux create (${s.jails} jails), per jail`, w, s.create));
      figures.push(
        timingFigure(
          `Linux start (${s.jails} jails), per jail`,
          w,
          s.start,
          START_GOAL,
          `${s.running} running together`,
        ),
      );
      figures.push(timingFigure(`Linux stop (${s.jails} jails), per jail`, w, s.stop));
      figures.push({
        what: `Linux disk per jail (${s.jails} jails)`,
        workload: w,
        value: round(s.diskMedianBytes / 1024),
        unit: "KiB",
        max: round(s.diskMaxBytes / 1024),
        status: "info",
        note: "du of the jail tree; the base is the host's /usr, shared read-only",
      });
    }
    return figures;
  } finally {
    const prefix = netnsName(tmp.dir, "");
    let left: string[] = [];
    try {
      left = readdirSync("/run/netns").filter((n) => n.startsWith(prefix));
    } catch {
      left = [];
    }
    for (const n of left) {
      spawnSync("/bin/sh", [join(linuxHelperDir(), "jail-reap.sh"), n]);
      spawnSync("ip", ["netns", "delete", n]);
    }
    spawnSync("ip", ["netns", "delete", ns]);
    tmp.cleanup();
    rmSync(tmp.dir, { recursive: true, force: true });
  }
}

function printTable(figures: readonly Figure[]): void {
  for (const f of figures) {
    const range =
      f.min !== undefined
        ? ` (min ${f.min}, max ${f.max}, ${f.runs} runs)`
        : f.max !== undefined
          ? ` (max ${f.max})`
          : "";
    process.stdout.write(
      `${f.what}: ${f.value ?? "-"} ${f.unit}${range}${f.status === "pass" || f.status === "miss" ? ` [${f.status}: ${f.goal?.text}]` : ""}${f.note ? ` — ${f.note}` : ""}\n`,
    );
  }
}

const args = process.argv.slice(2);
if (process.argv[1] === SELF && args[0] === "--worker") {
  const [, root, sizes] = args;
  process.stdout.write(
    JSON.stringify(await worker(root as string, (sizes as string).split(",").map(Number))) + "\n",
  );
} else if (process.argv[1] === SELF) {
  printTable(
    await bench({ quick: args.includes("--quick"), log: (l) => process.stderr.write(`bench: ${l}\n`) }),
  );
}
