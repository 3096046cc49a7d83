import { promises as fsp } from "node:fs";
import { UsageError, shown } from "../../core/errors.js";
import { FREEBSD } from "../../core/freebsd/programs.js";
import type { LiveJail } from "../../core/jail.js";
import { runProgram, type RunResult } from "../run.js";
import { parseJlsJson } from "./jls.js";

/**
 * Asking a FreeBSD host about itself: running its programs with the right
 * environment, and the running jails (`jls`). Apart from the platform
 * (./index.ts) so that `qjail list` reads the running jails without loading
 * the rest of the backend (src/platform/live-jails.ts).
 */

/** Variables `pkg -j` may keep: how the admin's network reaches a package mirror. */
const PKG_PROXY_VARS = [
  "HTTP_PROXY",
  "HTTPS_PROXY",
  "FTP_PROXY",
  "NO_PROXY",
  "http_proxy",
  "https_proxy",
  "no_proxy",
];

/**
 * The environment of a program that runs something inside a jail.
 * jail(8) passes its own environment to exec.start (/etc/rc and every daemon
 * it starts) unless the block has exec.clean, which qjail 5.x's block layout
 * (read by Bastille) does not. So jail(8) itself gets a clean one, as
 * service(8) gives rc scripts (`env -i`, base PATH). `pkg -j` attaches to the
 * jail, reads the jail's own pkg.conf and repositories (which jailed root
 * controls) and runs the packages' install scripts there: it gets the same
 * clean environment plus the proxy variables, if set. None of the admin's
 * variables (SSH_AUTH_SOCK, tokens) end up in a jail's processes.
 */
export function programEnv(
  argv: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): { env?: NodeJS.ProcessEnv } {
  if (argv[0] === FREEBSD.jail) return { env: { PATH: "/sbin:/bin:/usr/sbin:/usr/bin" } };
  if (argv[0] === FREEBSD.pkg && argv[1] === "-j") {
    const out: NodeJS.ProcessEnv = { PATH: "/sbin:/bin:/usr/sbin:/usr/bin:/usr/local/sbin:/usr/local/bin" };
    for (const k of PKG_PROXY_VARS) if (env[k] !== undefined) out[k] = env[k];
    return { env: out };
  }
  return {};
}

/** How the backend runs a host program unless a test gives its own runner. */
export function runHostProgram(argv: readonly string[]): Promise<RunResult> {
  return runProgram(argv, programEnv(argv));
}

/**
 * A query of the host: the program's output, or under --root the recorded
 * output named by an environment variable (QJAIL_JLS_JSON…) when one is set.
 */
export function hostQuery(
  run: (argv: readonly string[]) => Promise<RunResult>,
): (argv: string[], recorded: string | undefined) => Promise<string> {
  return async function query(argv, recorded) {
    if (recorded !== undefined) return fsp.readFile(recorded, "utf8");
    let r: RunResult;
    try {
      r = await run(argv);
    } catch (e) {
      throw new UsageError(
        "QJ1401",
        `cannot run ${shown(argv[0] as string)}: ${(e as Error).message}`,
        "Run qjail on a FreeBSD host, or pick the backend with --platform.",
      );
    }
    if (r.code !== 0)
      throw new UsageError(
        "QJ1402",
        `${argv.join(" ")} exited ${r.code}: ${shown(r.stderr.trim())}`,
        "Check the host with the same command by hand.",
      );
    return r.stdout;
  };
}

/**
 * The running jails, from one `jls`; none under --root (`live` false) unless
 * recorded output is given (`recorded`, the file QJAIL_JLS_JSON names).
 */
export async function freebsdLiveJails(
  query: (argv: string[], recorded: string | undefined) => Promise<string>,
  live: boolean,
  recorded: string | undefined,
): Promise<Map<string, LiveJail>> {
  if (!live && recorded === undefined) return new Map();
  const text = await query([FREEBSD.jls, "--libxo", "json", "-v"], recorded);
  try {
    return parseJlsJson(text);
  } catch (e) {
    throw new UsageError(
      "QJ1403",
      `cannot read the running jails: ${(e as Error).message}`,
      "Run 'jls --libxo json -v' by hand to see what it prints.",
    );
  }
}
