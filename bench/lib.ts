/**
 * Helpers shared by the benchmarks (`npm run bench`, bench/run.ts): timing
 * with N runs and median/min/max, the synthetic host (a FreeBSD-layout
 * base.txz, records laid out directly), running the CLI in-process or as a
 * child process, and the result files (bench/results/latest.{json,md}).
 *
 * Each *.bench.ts module exports a `bench(ctx)` returning {@link Figure}s; a
 * piece of qjail that has not landed yet gives a figure with status
 * "not measured" and the reason, never a made-up number.
 */
import { spawnSync } from "node:child_process";
import { PassThrough } from "node:stream";
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  writeFileSync,
  symlinkSync,
  readFileSync,
} from "node:fs";
import { cpus, tmpdir, totalmem, release, platform, loadavg } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { performance } from "node:perf_hooks";
import { run } from "../src/cli/main.js";
import { findCommand } from "../src/cli/index.js";
import type { Ctx } from "../src/cli/context.js";
import { emptyRecord, formatRecord } from "../src/core/record.js";
import { hostLayout, jailConfPath, jailFstabPath, jailRootPath, physical } from "../src/core/paths.js";

const HERE = dirname(fileURLToPath(import.meta.url));
/** The repository root, from bench/ under tsx and from dist/bench/ after a build. */
export const REPO_ROOT = resolve(HERE, HERE.includes("/dist/") ? "../.." : "..");
export const RESULTS_DIR = join(REPO_ROOT, "bench", "results");

import { type Timing, summarize } from "./stats.js";
export { type Timing, summarize };

/**
 * Time `fn` `runs` times after `warmup` untimed runs. Warm-up runs let the
 * in-process figures show steady state (JIT, page cache); cold start is
 * measured separately with a child process per run.
 */
export async function measure(
  fn: () => Promise<void> | void,
  opts: { runs: number; warmup?: number },
): Promise<Timing> {
  for (let i = 0; i < (opts.warmup ?? 0); i++) await fn();
  const samples: number[] = [];
  for (let i = 0; i < opts.runs; i++) {
    const t0 = performance.now();
    await fn();
    samples.push(performance.now() - t0);
  }
  return summarize(samples);
}

export type FigureStatus = "pass" | "miss" | "info" | "not measured";

/** One line of the result table. */
export interface Figure {
  /** What was measured, e.g. "list (1,000 jails), child process". */
  what: string;
  /** The exact workload, so anyone can reproduce it. */
  workload: string;
  /** The headline number (median for timings); undefined when not measured. */
  value?: number;
  unit: string;
  min?: number;
  max?: number;
  runs?: number;
  /** The issue's goal this figure is judged against, if any. */
  goal?: { max: number; text: string };
  status: FigureStatus;
  /** Why a figure was not measured, or what else to know. */
  note?: string;
}

/** A figure from a timing, judged against an optional goal (value must be below goal.max). */
export function timingFigure(
  what: string,
  workload: string,
  t: Timing,
  goal?: { max: number; text: string },
  note?: string,
): Figure {
  const f: Figure = {
    what,
    workload,
    value: round(t.medianMs),
    unit: "ms",
    min: round(t.minMs),
    max: round(t.maxMs),
    runs: t.runs,
    status: goal === undefined ? "info" : t.medianMs < goal.max ? "pass" : "miss",
  };
  if (goal !== undefined) f.goal = goal;
  if (note !== undefined) f.note = note;
  return f;
}

export function notMeasured(
  what: string,
  workload: string,
  why: string,
  goal?: { max: number; text: string },
): Figure {
  const f: Figure = { what, workload, unit: "", status: "not measured", note: why };
  if (goal !== undefined) f.goal = goal;
  return f;
}

export function round(n: number): number {
  return n >= 100 ? Math.round(n) : Math.round(n * 100) / 100;
}

/** True when a command with these words is registered in src/cli/index.ts. */
export function hasCommand(...words: string[]): boolean {
  const found = findCommand(words);
  return found !== undefined && found.def.path.length === words.length;
}

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run the CLI in this process with captured streams (what a long-lived caller or a test pays). */
export async function cliInProcess(
  argv: readonly string[],
  env: Record<string, string | undefined> = {},
): Promise<CliRun> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  stdout.on("data", (d: Buffer) => out.push(d));
  stderr.on("data", (d: Buffer) => err.push(d));
  const ctx: Ctx = {
    stdout,
    stderr,
    env: { PATH: process.env.PATH, ...env },
    cwd: REPO_ROOT,
    now: () => new Date(),
    isTTY: false,
  };
  const code = await run(argv, ctx);
  stdout.end();
  stderr.end();
  return { code, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() };
}

/** argv that runs the built qjail binary (bin/qjail.js → the bundle dist/qjail.cjs, or dist/qjail-list.cjs for list, and its code cache). */
export function qjailBinArgv(): string[] {
  return [process.execPath, join(REPO_ROOT, "bin", "qjail.js")];
}

/** Run the real binary as a child process, as an admin's shell does. */
export function cliChild(argv: readonly string[], env: Record<string, string | undefined> = {}): CliRun {
  const [node, ...pre] = qjailBinArgv();
  const r = spawnSync(node as string, [...pre, ...argv], {
    env: { PATH: process.env.PATH, ...env },
    encoding: "utf8",
    maxBuffer: 256 * 1024 * 1024,
  });
  if (r.error) throw r.error;
  return { code: r.status ?? 128, stdout: r.stdout, stderr: r.stderr };
}

/** Throw with the command's output when it did not exit 0, so a broken command is never timed as fast. */
export function expectOk(r: CliRun, argv: readonly string[]): CliRun {
  if (r.code !== 0) throw new Error(`qjail ${argv.join(" ")} exited ${r.code}:\n${r.stderr}${r.stdout}`);
  return r;
}

export function makeTempRoot(label: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `qjail-bench-${label}-${process.pid}-`));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * Lay out `count` directory jails' files straight onto disk (records in
 * qjail.local and qjail.global, the jail.conf block, the fstab line, an empty
 * jail root) in qjail 5.x's formats, without going through `create`: setting
 * up 1,000 jails through the CLI would measure create, not list.
 */
export function layOutJails(
  root: string,
  count: number,
  opts: { prefix?: string; jailConf?: (name: string, ip4: string) => string } = {},
): string[] {
  const layout = hostLayout();
  const names: string[] = [];
  for (const d of [layout.local, layout.global, layout.config, layout.fstabDir, layout.jaildir]) {
    mkdirSync(physical(root, d), { recursive: true });
  }
  for (let i = 0; i < count; i++) {
    const name = `${opts.prefix ?? "j"}${String(i).padStart(4, "0")}`;
    const ip4 = `10.${10 + Math.floor(i / 65536)}.${Math.floor(i / 256) % 256}.${(i % 254) + 1}`;
    const rec = emptyRecord();
    rec.name = name;
    rec.ip4 = ip4;
    rec.path = jailRootPath(layout, name);
    rec.interface = "lo1";
    rec.fstab = jailFstabPath(layout, name);
    rec.deffile = `${layout.local}/${name}`;
    const text = formatRecord(rec);
    writeFileSync(physical(root, `${layout.local}/${name}`), text, { mode: 0o644 });
    writeFileSync(physical(root, `${layout.global}/${name}`), text, { mode: 0o644 });
    writeFileSync(physical(root, jailConfPath(layout, name)), (opts.jailConf ?? defaultJailConf)(name, ip4), {
      mode: 0o644,
    });
    writeFileSync(
      physical(root, jailFstabPath(layout, name)),
      `${layout.sharedfs} ${rec.path}/sharedfs nullfs ro 0 0\n`,
      { mode: 0o644 },
    );
    mkdirSync(physical(root, rec.path), { recursive: true });
    names.push(name);
  }
  return names;
}

/** qjail 5.x's jail.conf block (qjail-5.md §2.2) for a plain directory jail. */
export function defaultJailConf(name: string, ip4: string): string {
  const layout = hostLayout();
  return [
    `${name} { `,
    `host.hostname       =  "${name}";`,
    `path                =  "${jailRootPath(layout, name)}";`,
    `mount.fstab         =  "${jailFstabPath(layout, name)}";`,
    `exec.consolelog     =  "/var/log/qjail.${name}.console.log";`,
    `mount.devfs;`,
    `ip4.addr            =  ${ip4};`,
    `interface           =  "lo1";`,
    `devfs_ruleset       =  "4";`,
    `exec.start          =  "/bin/sh /etc/rc";`,
    `exec.stop           =  "/bin/sh /etc/rc.shutdown";`,
    `}`,
    ``,
  ].join("\n");
}

/**
 * Directories a FreeBSD base.txz holds at its top and under usr/ (the ones
 * `install` moves into sharedfs, plus the ones that stay in the template).
 */
const BASE_DIRS = [
  "bin",
  "boot",
  "dev",
  "etc",
  "etc/ssh",
  "etc/defaults",
  "lib",
  "libexec",
  "media",
  "mnt",
  "rescue",
  "root",
  "sbin",
  "tmp",
  "usr/bin",
  "usr/games",
  "usr/include",
  "usr/lib",
  "usr/lib32",
  "usr/libdata",
  "usr/libexec",
  "usr/sbin",
  "usr/share/man",
  "usr/share/misc",
  "usr/src",
  "usr/home",
  "var/log",
  "var/run",
  "var/db",
];

/**
 * Build a small base.txz with FreeBSD's layout (`./bin/sh`, `./etc/rc`,
 * `./usr/lib/...`) in `dir` with `tar -cJf`, the way the FreeBSD release
 * build does, and return its path. `filesPerDir` × `fileBytes` sets its size,
 * so `create`'s per-jail disk figure reflects what is copied, not what is shared.
 */
export function buildBaseTxz(dir: string, opts: { filesPerDir?: number; fileBytes?: number } = {}): string {
  const tree = join(dir, "base-tree");
  const filesPerDir = opts.filesPerDir ?? 4;
  const fileBytes = opts.fileBytes ?? 2048;
  for (const d of BASE_DIRS) {
    mkdirSync(join(tree, d), { recursive: true });
    for (let i = 0; i < filesPerDir; i++) {
      writeFileSync(join(tree, d, `file${i}`), `${d}/file${i}\n`.padEnd(fileBytes, "#"), { mode: 0o644 });
    }
  }
  writeFileSync(join(tree, "bin/sh"), "#!/bin/sh\n", { mode: 0o555 });
  writeFileSync(join(tree, "etc/rc"), "#!/bin/sh\n# FreeBSD /etc/rc stand-in\n", { mode: 0o644 });
  writeFileSync(join(tree, "etc/rc.conf"), "", { mode: 0o644 });
  writeFileSync(join(tree, "etc/passwd"), "root:*:0:0:Charlie &:/root:/bin/csh\n", { mode: 0o644 });
  writeFileSync(join(tree, "etc/master.passwd"), "root::0:0::0:0:Charlie &:/root:/bin/csh\n", {
    mode: 0o600,
  });
  writeFileSync(join(tree, "etc/ssh/sshd_config"), "#UseDNS yes\n", { mode: 0o644 });
  writeFileSync(join(tree, "COPYRIGHT"), "FreeBSD stand-in\n", { mode: 0o444 });
  if (!existsSync(join(tree, "sys"))) symlinkSync("usr/src/sys", join(tree, "sys"));
  const out = join(dir, "base.txz");
  const r = spawnSync("tar", ["-cJf", out, "-C", tree, "."], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`tar -cJf ${out} failed: ${r.stderr}`);
  rmSync(tree, { recursive: true, force: true });
  return out;
}

/**
 * Bytes a tree really occupies (allocated blocks, each inode counted once,
 * links not followed): what `du -s` reports.
 */
export function diskUsageBytes(top: string): number {
  const seen = new Set<string>();
  let total = 0;
  const walk = (p: string): void => {
    const st = lstatSync(p);
    const key = `${st.dev}:${st.ino}`;
    if (!seen.has(key)) {
      seen.add(key);
      total += st.blocks * 512;
    }
    if (st.isDirectory()) for (const name of readdirSync(p)) walk(join(p, name));
  };
  if (existsSync(top)) walk(top);
  return total;
}

export interface MachineInfo {
  cpu: string;
  cores: number;
  memoryGiB: number;
  os: string;
  node: string;
  date: string;
  /** 1-minute load average when the run started: other work on the machine inflates every child-process figure. */
  loadAverage: number;
}

export function machineInfo(): MachineInfo {
  const c = cpus();
  return {
    cpu: c[0]?.model.trim() ?? "unknown",
    cores: c.length,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    os: `${platform()} ${release()}${osPrettyName()}`,
    node: process.version,
    date: new Date().toISOString(),
    loadAverage: Math.round((loadavg()[0] ?? 0) * 100) / 100,
  };
}

function osPrettyName(): string {
  try {
    const m = /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(readFileSync("/etc/os-release", "utf8"));
    return m ? ` (${m[1]})` : "";
  } catch {
    return "";
  }
}

function cell(f: Figure): { value: string; range: string; goal: string; status: string } {
  const value = f.value === undefined ? "—" : `${f.value} ${f.unit}`;
  const range =
    f.min !== undefined && f.max !== undefined
      ? `${f.min}–${f.max}${f.runs !== undefined ? ` (n=${f.runs})` : ""}`
      : "";
  return {
    value,
    range,
    goal: f.goal?.text ?? "",
    status: f.status === "not measured" ? `not measured: ${f.note ?? ""}` : f.status,
  };
}

/** The Markdown table: one row per figure, with workload, median, min–max, goal and pass/miss. */
export function markdownTable(figures: readonly Figure[], machine: MachineInfo): string {
  const esc = (s: string): string => s.replace(/\|/g, "\\|").replace(/\n/g, " ");
  const lines = [
    `Machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGiB} GiB, ${machine.os}, node ${machine.node}; ${machine.date}; load average ${machine.loadAverage} at the start`,
    "",
    "| figure | workload | median | min–max | goal | result |",
    "|---|---|---|---|---|---|",
  ];
  for (const f of figures) {
    const c = cell(f);
    const result = f.status === "not measured" ? c.status : f.note ? `${c.status} (${f.note})` : c.status;
    lines.push(
      `| ${esc(f.what)} | ${esc(f.workload)} | ${esc(c.value)} | ${esc(c.range)} | ${esc(c.goal)} | ${esc(result)} |`,
    );
  }
  return lines.join("\n") + "\n";
}

/** Write bench/results/latest.json and latest.md; returns the Markdown. */
export function writeResults(figures: readonly Figure[], machine: MachineInfo, dir = RESULTS_DIR): string {
  mkdirSync(dir, { recursive: true });
  const md = markdownTable(figures, machine);
  writeFileSync(join(dir, "latest.json"), JSON.stringify({ machine, figures }, null, 2) + "\n");
  writeFileSync(join(dir, "latest.md"), md);
  return md;
}

/** What every bench module receives. */
export interface BenchContext {
  /** Log a progress line (stderr), so a long run shows where it is. */
  log(line: string): void;
  /** Fewer runs and smaller sizes, for a smoke test of the harness itself. */
  quick: boolean;
}
