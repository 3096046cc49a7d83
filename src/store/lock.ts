import { mkdirSync, writeFileSync, existsSync } from "node:fs";
import { dirname } from "node:path";
import { UsageError } from "../core/errors.js";
import { hostLayout, physical } from "../core/paths.js";
import { finishJournal, journalPending } from "./journal.js";

/**
 * Serialise every mutating qjail command on one host (or one --root). A second
 * qjail waits up to `waitMs` for the first, then refuses; a lock left by a
 * killed qjail goes stale after `staleMs` without updates and is taken over.
 * Once it holds the lock, and before `fn` reads anything, it finishes a commit
 * a killed qjail left half made (store/journal.ts).
 */
export async function withHostLock<T>(
  root: string,
  fn: () => Promise<T>,
  opts: { waitMs?: number; staleMs?: number } = {},
): Promise<T> {
  const lockPath = physical(root, hostLayout().lockFile);
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
    finishJournal(root, hostLayout().stateDir);
    return await fn();
  } finally {
    await release().catch(() => undefined);
  }
}

/**
 * Before a command reads the host's state: when a killed qjail left a commit
 * half made (store/journal.ts), finish it under the lock. Costs one stat when
 * there is none. A command that cannot take the lock (another qjail holds it,
 * the lock of a killed one is not stale yet, or the user is not root) goes on
 * without: the holder or the next mutating command finishes it.
 */
export async function settlePendingCommit(root: string): Promise<void> {
  if (!journalPending(root, hostLayout().stateDir)) return;
  await withHostLock(root, async () => undefined, { waitMs: 1_000 }).catch(() => undefined);
}
