/** Shared pieces of the reliability suite (test/reliability/*.test.ts). */
import { spawnSync, type SpawnSyncReturns } from "node:child_process";
import { readdirSync, lstatSync, readlinkSync, readFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { REPO_ROOT } from "../../helpers/cli.js";

const HERE = fileURLToPath(import.meta.url);
const COMPILED = HERE.includes("/dist/");

/** argv running test/reliability/helpers/child.ts (compiled or under tsx, like qjailArgv()). */
export function childArgv(): string[] {
  return COMPILED
    ? [process.execPath, join(dirname(HERE), "child.js")]
    : [process.execPath, "--import", "tsx", join(REPO_ROOT, "test/reliability/helpers/child.ts")];
}

export interface ChildRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export function toChildRun(r: SpawnSyncReturns<string>): ChildRun {
  // ETIMEDOUT is a timed kill we asked for (runSync killAfterMs); the signal says what happened.
  if (r.error && (r.error as NodeJS.ErrnoException).code !== "ETIMEDOUT") throw r.error;
  return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

/** Run argv[0] with the rest, extra environment merged over PATH only (no leaking of the caller's QJAIL_*). */
export function runSync(
  argv: readonly string[],
  env: Record<string, string> = {},
  input?: string,
  killAfterMs?: number,
): ChildRun {
  const [cmd, ...args] = argv;
  return toChildRun(
    spawnSync(cmd as string, args, {
      encoding: "utf8",
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...env },
      input,
      maxBuffer: 64 * 1024 * 1024,
      // A timed kill is a SIGKILL, like a crash point; the 120 s guard stops a hung child.
      timeout: killAfterMs ?? 120_000,
      killSignal: "SIGKILL",
    }),
  );
}

/** True when a child ended by SIGKILL, which is how a crash point ends a process. */
export function killed(r: ChildRun): boolean {
  return r.signal === "SIGKILL";
}

/**
 * Like treeDigest (test/helpers/cli.ts) but safe on special files: a FIFO,
 * socket or device is recorded by its type and mode instead of being read
 * (reading a FIFO would block the test for ever).
 */
export function rootDigest(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (abs: string, rel: string): void => {
    for (const name of readdirSync(abs).sort()) {
      const p = join(abs, name);
      const r = rel ? `${rel}/${name}` : name;
      const st = lstatSync(p);
      const mode = (st.mode & 0o7777).toString(8);
      if (st.isSymbolicLink()) out.set(r, `link ${readlinkSync(p)}`);
      else if (st.isDirectory()) {
        out.set(r, `dir ${mode}`);
        walk(p, r);
      } else if (st.isFile())
        out.set(r, `file ${mode} ${createHash("sha256").update(readFileSync(p)).digest("hex")}`);
      else
        out.set(
          r,
          `special ${st.isFIFO() ? "fifo" : st.isSocket() ? "socket" : "device"} ${mode} ${st.rdev}`,
        );
    }
  };
  walk(dir, "");
  return out;
}
