import { PassThrough } from "node:stream";
import {
  existsSync,
  mkdtempSync,
  mkdirSync,
  writeFileSync,
  readdirSync,
  lstatSync,
  readFileSync,
  readlinkSync,
  rmSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { createHash } from "node:crypto";
import { run } from "../../src/cli/main.js";
import type { Ctx } from "../../src/cli/context.js";

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run the whole CLI in-process with captured streams: a test sees exactly what a user would. */
export async function runCli(
  argv: readonly string[],
  opts: { env?: Record<string, string | undefined>; now?: Date; cwd?: string; euid?: number } = {},
): Promise<CliResult> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = "";
  let err = "";
  stdout.on("data", (d: Buffer) => (out += d.toString()));
  stderr.on("data", (d: Buffer) => (err += d.toString()));
  const ctx: Ctx = {
    stdout,
    stderr,
    env: { PATH: process.env.PATH, ...opts.env },
    cwd: opts.cwd ?? process.cwd(),
    now: () => opts.now ?? new Date("2026-11-30T12:00:00Z"),
    isTTY: false,
    ...(opts.euid !== undefined ? { euid: opts.euid } : {}),
  };
  const code = await run(argv, ctx);
  stdout.end();
  stderr.end();
  await new Promise((r) => setImmediate(r));
  return { code, stdout: out, stderr: err };
}

/** A fresh temporary directory with a unique name; removed by the returned cleanup. */
export function tempDir(prefix = "qjail-test-"): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Lay out files from an object literal: {"usr/local/etc/qjail.local/www": "name=\"www\"\n"}. */
export function testdir(
  files: Record<string, string>,
  prefix?: string,
): { dir: string; cleanup: () => void } {
  const t = tempDir(prefix);
  for (const [rel, content] of Object.entries(files)) {
    const p = join(t.dir, rel);
    mkdirSync(dirname(p), { recursive: true });
    writeFileSync(p, content);
  }
  return t;
}

/**
 * A digest of every path, type, mode, link target and content under dir, for
 * asserting that a refused command left the state byte-for-byte unchanged.
 */
export function treeDigest(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (abs: string, rel: string): void => {
    for (const name of readdirSync(abs).sort()) {
      const p = join(abs, name);
      const r = rel ? `${rel}/${name}` : name;
      const st = lstatSync(p);
      if (st.isSymbolicLink()) out.set(r, `link ${readlinkSync(p)}`);
      else if (st.isDirectory()) {
        out.set(r, `dir ${(st.mode & 0o7777).toString(8)}`);
        walk(p, r);
      } else {
        const h = createHash("sha256").update(readFileSync(p)).digest("hex");
        out.set(r, `file ${(st.mode & 0o7777).toString(8)} ${h}`);
      }
    }
  };
  walk(dir, "");
  return out;
}

/** The repository root (works from test/ under tsx and from dist/test/ after a build). */
export const REPO_ROOT = resolve(
  dirname(fileURLToPath(import.meta.url)),
  fileURLToPath(import.meta.url).includes("/dist/") ? "../../.." : "../..",
);

/** The shared/ folder beside the repository (corpora, fixtures, references), read-only. */
export const SHARED = process.env.QJAIL_SHARED ?? resolve(REPO_ROOT, "../shared");

/**
 * The newest tsc output under dir (ms since the epoch), to tell whether the
 * bundle in dist/qjail.cjs was built from it.
 */
function newestModuleTime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestModuleTime(p));
    else if (entry.name.endsWith(".js")) newest = Math.max(newest, lstatSync(p).mtimeMs);
  }
  return newest;
}

let bundleIsCurrent: boolean | undefined;

/**
 * argv to run the real qjail binary as a child process: under compiled tests,
 * bin/qjail.js (which loads the bundle, dist/qjail.cjs). After a bare `tsc`
 * without `npm run build` the bundle is older than the code under test, so
 * the child then runs tsc's own output instead, rather than yesterday's qjail.
 */
export function qjailArgv(): string[] {
  const compiled = fileURLToPath(import.meta.url).includes("/dist/");
  if (!compiled) return [process.execPath, "--import", "tsx", join(REPO_ROOT, "src/cli/entry-dev.ts")];
  if (bundleIsCurrent === undefined) {
    const bundle = join(REPO_ROOT, "dist/qjail.cjs");
    bundleIsCurrent =
      existsSync(bundle) && lstatSync(bundle).mtimeMs >= newestModuleTime(join(REPO_ROOT, "dist/src"));
  }
  return bundleIsCurrent
    ? [process.execPath, join(REPO_ROOT, "bin/qjail.js")]
    : [process.execPath, join(REPO_ROOT, "dist/src/cli/entry-dev.js")];
}
