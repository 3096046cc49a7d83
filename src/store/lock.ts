import { mkdirSync, writeFileSync, existsSync } from "node:fs";
import { dirname } from "node:path";
import { UsageError } from "../core/errors.js";

/**
 * Serialise every mutating qjail command on one host (or one --root). A second
 * qjail waits up to `waitMs` for the first, then refuses; a lock left by a
 * killed qjail goes stale after `staleMs` without updates and is taken over.
 */
export async function withHostLock<T>(
  lockPath: string,
  fn: () => Promise<T>,
  opts: { waitMs?: number; staleMs?: number } = {},
): Promise<T> {
  mkdirSync(dirname(lockPath), { recursive: true });
  if (!existsSync(lockPath)) writeFileSync(lockPath, "", { flag: "a" });
  const waitMs = opts.waitMs ?? 30_000;
  let release: (() => Promise<void>) | undefined;
  // Loaded when a command takes the lock, not at every start: it pulls in graceful-fs, which patches fs.
  const { default: lockfile } = await import("proper-lockfile");
  try {
    release = await lockfile.lock(lockPath, {
      stale: opts.staleMs ?? 10_000,
      update: 2_000,
      realpath: false,
      retries: { retries: Math.ceil(waitMs / 100), factor: 1, minTimeout: 100, maxTimeout: 100 },
    });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ELOCKED") {
      throw new UsageError(
        "QJ1001",
        `another qjail command holds the host lock ${lockPath}`,
        "Wait for it to finish and run the command again.",
      );
    }
    throw e;
  }
  try {
    return await fn();
  } finally {
    await release().catch(() => undefined);
  }
}
