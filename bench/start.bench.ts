/**
 * What one Linux jail's `start` costs (and its `stop`), the figure issue 15
 * asks for: the static helper (namespaces, pivot_root, closing descriptors,
 * seccomp filter, capability drop), the guard tables and the cgroup are all
 * on this path. One jail is created once, then started and stopped ROUNDS
 * times in a row; medians, min and max per operation, with the machine's load
 * (`uptime`) before and after, since the figure means little on a busy host.
 *
 *   npm run bench:start [-- ROUNDS]          (default 15)
 *
 * Root on Linux; runs in a network namespace and a temporary --root it makes
 * and removes, like bench/linux-lifecycle.bench.ts. The measuring happens in
 * a worker inside that namespace calling the CLI in-process (no node start-up
 * in the figures). The compiled file only imports bench/lib and the CLI, so
 * the same script can be copied into an older checkout's dist/bench/ to
 * measure that tree the same way (how the README's before/after was made).
 */
import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import { performance } from "node:perf_hooks";
import { join } from "node:path";
import { cliInProcess, makeTempRoot, summarize, type Timing } from "./lib.js";

const SELF = fileURLToPath(import.meta.url);

async function qjail(root: string, argv: string[]): Promise<void> {
  const full = [argv[0] as string, "--root", root, "--platform", "linux", ...argv.slice(1)];
  const r = await cliInProcess(full);
  if (r.code !== 0) throw new Error(`qjail ${full.join(" ")} exited ${r.code}: ${r.stderr}${r.stdout}`);
}

async function worker(root: string, rounds: number): Promise<{ start: Timing; stop: Timing; enter: Timing }> {
  await qjail(root, ["install"]);
  await qjail(root, ["create", "-4", "10.0.0.2", "bench"]);
  const start: number[] = [];
  const stop: number[] = [];
  const enter: number[] = [];
  for (let i = 0; i < rounds; i++) {
    let t0 = performance.now();
    await qjail(root, ["start", "bench"]);
    start.push(performance.now() - t0);
    // entering the running jail: the helper's enter + filter now, nsenter + setpriv before
    t0 = performance.now();
    await qjail(root, ["console", "-c", "true", "bench"]);
    enter.push(performance.now() - t0);
    t0 = performance.now();
    await qjail(root, ["stop", "bench"]);
    stop.push(performance.now() - t0);
  }
  await qjail(root, ["delete", "bench"]);
  return { start: summarize(start), stop: summarize(stop), enter: summarize(enter) };
}

const load = (): string => execFileSync("uptime", { encoding: "utf8" }).trim();

async function main(argv: string[]): Promise<number> {
  if (argv[0] === "--worker") {
    const r = await worker(argv[1] as string, Number(argv[2]));
    process.stdout.write(`${JSON.stringify(r)}\n`);
    return 0;
  }
  if (process.platform !== "linux" || process.getuid?.() !== 0) {
    process.stderr.write("bench:start needs root on Linux\n");
    return 2;
  }
  const rounds = Number(argv[0] ?? 15);
  const ns = `qjb-start-${process.pid.toString(36)}${randomBytes(2).toString("hex")}`;
  const tmp = makeTempRoot("start");
  mkdirSync(join(tmp.dir, "usr/local/etc"), { recursive: true });
  writeFileSync(join(tmp.dir, "usr/local/etc/qjail.host"), 'jail_if="qjail0"\njail_subnet="10.0.0.0/24"\n');
  const before = load();
  try {
    const add = spawnSync("ip", ["netns", "add", ns], { encoding: "utf8" });
    if (add.status !== 0) throw new Error(`ip netns add: ${add.stderr}`);
    spawnSync("ip", ["-n", ns, "link", "set", "lo", "up"]);
    const r = spawnSync(
      "nsenter",
      [`--net=/run/netns/${ns}`, "--", process.execPath, SELF, "--worker", tmp.dir, String(rounds)],
      { encoding: "utf8", maxBuffer: 16 * 1024 * 1024, timeout: 20 * 60_000 },
    );
    if (r.status !== 0) throw new Error(`worker exited ${r.status}: ${r.stderr.slice(-2000)}`);
    const res = JSON.parse(r.stdout.trim().split("\n").at(-1) ?? "{}") as {
      start: Timing;
      stop: Timing;
      enter: Timing;
    };
    const line = (what: string, t: Timing): string =>
      `${what}: median ${t.medianMs.toFixed(1)} ms (min ${t.minMs.toFixed(1)}, max ${t.maxMs.toFixed(1)}, n=${t.runs})`;
    process.stdout.write(
      [
        `workload: one jail (-4 10.0.0.2, the host's shared /usr), ${rounds} rounds of start, console -c true, stop; CLI in-process, private netns`,
        line("start", res.start),
        line("console -c true", res.enter),
        line("stop", res.stop),
        `load before: ${before}`,
        `load after:  ${load()}`,
      ].join("\n") + "\n",
    );
    return 0;
  } finally {
    spawnSync("ip", ["netns", "delete", ns]);
    tmp.cleanup();
  }
}

process.exitCode = await main(process.argv.slice(2));
