/**
 * "Fast as installed": qjail run the way an admin runs it — from the package
 * `npm pack` makes, installed with `npm i -g` into a temporary prefix — timed
 * as whole processes against `node -e 0` on the same node, and reported as
 * ratios (issue 12: `--version` ≤ 1.3×, `list` of 1,000 jails ≤ 2.0×).
 *
 * The three commands are run in turn, round after round, so a change in the
 * machine's load shifts all three alike; each ratio is of the medians of the
 * wall-clock times over the rounds. Beside it, the ratio of the mean CPU time
 * (user + system) per run, from the children's time the kernel accounts to
 * this process (/proc/self/stat, in clock ticks: too coarse for one run,
 * exact enough summed over the rounds). Other work on the machine inflates
 * every figure: run it on a quiet machine, or quote the load average the
 * table prints beside it.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import {
  type BenchContext,
  type Figure,
  REPO_ROOT,
  layOutJails,
  makeTempRoot,
  round,
  summarize,
} from "./lib.js";

export const VERSION_RATIO_GOAL = { max: 1.3, text: "≤ 1.3× node -e 0" };
export const LIST_RATIO_GOAL = { max: 2.0, text: "≤ 2.0× node -e 0" };

function must(argv: string[], cwd: string): string {
  const r = spawnSync(argv[0] as string, argv.slice(1), {
    cwd,
    encoding: "utf8",
    env: { ...process.env, npm_config_loglevel: "error" },
  });
  if (r.status !== 0) throw new Error(`${argv.join(" ")} failed: ${r.stderr}`);
  return r.stdout;
}

/** Pack this checkout (already built by `npm run bench`) and install it into `dir`/prefix; the installed qjail. */
export function installPackage(dir: string): string {
  const pack = JSON.parse(
    must(["npm", "pack", "--ignore-scripts", "--json", "--pack-destination", dir], REPO_ROOT),
  ) as { filename: string }[];
  const tarball = join(dir, pack[0]?.filename as string);
  const prefix = join(dir, "prefix");
  must(["npm", "install", "-g", "--prefix", prefix, "--offline", "--no-audit", "--no-fund", tarball], dir);
  return join(prefix, "bin", "qjail");
}

/** CPU time (user + system, ms) of this process's waited-for children so far. */
function childrenCpuMs(ticksPerSecond: number): number {
  // Fields after the command name: state is the 3rd, cutime and cstime the 16th and 17th.
  const stat = readFileSync("/proc/self/stat", "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return ((Number(f[13]) + Number(f[14])) * 1000) / ticksPerSecond;
}

function ratioFigure(
  what: string,
  workload: string,
  ratio: number,
  goal: { max: number; text: string },
  note: string,
): Figure {
  return {
    what,
    workload,
    value: Math.round(ratio * 100) / 100,
    unit: "×",
    goal,
    status: ratio <= goal.max ? "pass" : "miss",
    note,
  };
}

export async function bench(ctx: BenchContext): Promise<Figure[]> {
  const rounds = ctx.quick ? 3 : 21;
  const tmp = makeTempRoot("installed");
  try {
    const qjail = installPackage(tmp.dir);
    const root = join(tmp.dir, "root");
    mkdirSync(root);
    layOutJails(root, 1000);
    const away = join(tmp.dir, "away");
    mkdirSync(away);
    const commands: { label: string; argv: string[]; check: (out: string) => boolean }[] = [
      { label: "node -e 0", argv: [process.execPath, "-e", "0"], check: () => true },
      { label: "qjail --version", argv: [qjail, "--version"], check: (o) => /^qjail \d/.test(o) },
      {
        label: "qjail list (1,000 jails)",
        argv: [qjail, "list", "--root", root],
        check: (o) => o.split("\n").filter((l) => / j\d{4}$/.test(l)).length === 1000,
      },
    ];
    // One checked run each first: a failing command must not be timed as a fast one.
    for (const c of commands) {
      const r = spawnSync(c.argv[0] as string, c.argv.slice(1), {
        cwd: away,
        encoding: "utf8",
        maxBuffer: 64 * 1024 * 1024,
        env: { PATH: process.env.PATH },
      });
      if (r.status !== 0 || !c.check(r.stdout)) throw new Error(`${c.argv.join(" ")} failed: ${r.stderr}`);
    }
    // Timed with output to /dev/null, as a terminal takes it (synchronous writes), not through a pipe.
    const ticks = Number(spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).stdout.trim()) || 100;
    const samples = commands.map(() => [] as number[]);
    const cpu = commands.map(() => 0);
    for (let i = 0; i < rounds; i++) {
      commands.forEach((c, k) => {
        const c0 = childrenCpuMs(ticks);
        const t0 = performance.now();
        const r = spawnSync(c.argv[0] as string, c.argv.slice(1), {
          cwd: away,
          stdio: "ignore",
          env: { PATH: process.env.PATH },
        });
        samples[k]!.push(performance.now() - t0);
        cpu[k] = (cpu[k] as number) + childrenCpuMs(ticks) - c0;
        if (r.status !== 0) throw new Error(`${c.argv.join(" ")} exited ${r.status}`);
      });
    }
    const [bare, version, list] = samples.map((s) => summarize(s)) as [
      ReturnType<typeof summarize>,
      ReturnType<typeof summarize>,
      ReturnType<typeof summarize>,
    ];
    ctx.log(
      `installed: node -e 0 ${bare.medianMs.toFixed(1)} ms, --version ${version.medianMs.toFixed(1)} ms, list ${list.medianMs.toFixed(1)} ms (${rounds} rounds)`,
    );
    const medians = `medians over ${rounds} interleaved rounds: node -e 0 ${round(bare.medianMs)} ms`;
    const cpuRatio = (k: number): string =>
      `; mean CPU time ${round((cpu[k] as number) / rounds)} ms vs ${round((cpu[0] as number) / rounds)} ms: ${((cpu[k] as number) / (cpu[0] as number)).toFixed(2)}×`;
    return [
      ratioFigure(
        "installed: qjail --version ÷ node -e 0",
        `npm pack + npm i -g into a temporary prefix; PREFIX/bin/qjail --version, run from a directory outside the repository`,
        version.medianMs / bare.medianMs,
        VERSION_RATIO_GOAL,
        `${medians}, qjail --version ${round(version.medianMs)} ms${cpuRatio(1)}`,
      ),
      ratioFigure(
        "installed: qjail list (1,000 jails) ÷ node -e 0",
        "the same install; PREFIX/bin/qjail list --root R, R holding 1,000 jails laid out as qjail writes them (records in qjail.local and qjail.global, jail.conf blocks, fstabs, jail directories)",
        list.medianMs / bare.medianMs,
        LIST_RATIO_GOAL,
        `${medians}, qjail list ${round(list.medianMs)} ms${cpuRatio(2)}`,
      ),
    ];
  } finally {
    tmp.cleanup();
  }
}
