import { spawn } from "node:child_process";

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Run a program with an argument array: never a shell, so no user-supplied
 * text is ever interpreted by sh. stdin is optional text (rule files piped to
 * `ipf -f -`, `pfctl -a X -f -`, `nft -f -`).
 */
export function runProgram(
  argv: readonly string[],
  opts: { input?: string; env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {},
): Promise<RunResult> {
  const [cmd, ...args] = argv;
  if (cmd === undefined) throw new Error("internal: empty argv");
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      stdio: ["pipe", "pipe", "pipe"],
      env: opts.env ?? process.env,
      cwd: opts.cwd,
      timeout: opts.timeoutMs,
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", reject);
    child.on("close", (code, signal) => resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr }));
    child.stdin.on("error", () => undefined);
    child.stdin.end(opts.input ?? "");
  });
}

/** Like runProgram, but a non-zero exit becomes an Error naming the command and its stderr. */
export async function runChecked(
  argv: readonly string[],
  opts: Parameters<typeof runProgram>[1] = {},
): Promise<RunResult> {
  const r = await runProgram(argv, opts);
  if (r.code !== 0) {
    throw new Error(`${argv.join(" ")} exited ${r.code}: ${r.stderr.trim() || r.stdout.trim()}`);
  }
  return r;
}

/**
 * Run a program on the caller's terminal (stdin, stdout and stderr
 * inherited), for an editor the admin asked for; an argument array, never a
 * shell. Resolves to its exit status (1 when a signal ended it).
 */
export function runOnTerminal(argv: readonly string[]): Promise<number> {
  const [cmd, ...args] = argv;
  if (cmd === undefined) throw new Error("internal: empty argv");
  return new Promise<number>((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: "inherit" });
    child.on("error", reject);
    child.on("close", (code) => resolve(code ?? 1));
  });
}
