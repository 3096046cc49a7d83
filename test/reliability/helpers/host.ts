/**
 * Fixture hosts for the reliability suite: a --root installed by the real
 * `qjail install -f DIR` from the tiny FreeBSD-layout base.txz of
 * test/helpers/base-txz.ts, with jails made by the real `create`.
 */
import { writeFileSync, existsSync } from "node:fs";
import { hostLayout, physical } from "../../../src/core/paths.js";
import { runCli } from "../../helpers/cli.js";
import { buildBaseTxz } from "../../helpers/base-txz.js";

let baseDir: { dir: string; cleanup: () => void } | undefined;

/** One base.txz per test process, removed by {@link releaseBase}. */
function base(): string {
  baseDir ??= buildBaseTxz();
  return baseDir.dir;
}

export function releaseBase(): void {
  baseDir?.cleanup();
  baseDir = undefined;
}

/** Install qjail under `root` (default zone) through the CLI. */
export async function installHost(root: string): Promise<void> {
  const r = await runCli(["install", "--root", root, "--platform", "freebsd", "-f", base()]);
  if (r.code !== 0) throw new Error(`fixture: install failed (${r.code}):\n${r.stderr}`);
  // The host lock file exists on any host where qjail ran once; a refusal must not be what creates it.
  const lock = physical(root, hostLayout().lockFile);
  if (!existsSync(lock)) writeFileSync(lock, "");
}

/** Create jails through the real CLI (in-process): [name, ipv4] pairs, on interface lo1. */
export async function createJails(
  root: string,
  jails: readonly (readonly [string, string])[],
): Promise<void> {
  for (const [name, ip] of jails) {
    const r = await runCli(["create", "--root", root, "--platform", "freebsd", "-n", "lo1", "-4", ip, name]);
    if (r.code !== 0) throw new Error(`fixture: create ${name} failed (${r.code}):\n${r.stderr}`);
  }
}
