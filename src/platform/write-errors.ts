import { UsageError, shown } from "../core/errors.js";

const HOST_WRITE_ERRORS: Readonly<Record<string, string>> = {
  ENOSPC: "no space left on device",
  EDQUOT: "disk quota exceeded",
  EROFS: "read-only file system",
  EACCES: "permission denied",
};

/**
 * A full disk, quota, read-only filesystem or denied access is the host's
 * state, not a bug: turn such an error into a UsageError (QJ6001) that says
 * what failed, on which path, and that the failed write itself changed
 * nothing (files are written to a temporary name and renamed). Anything else
 * is returned as it is. Every command's writes pass through here: plan steps
 * in {@link applyStep}, and the commands that write outside plans call
 * {@link explainHostWriteErrors}.
 */
export function hostWriteError(e: unknown, what: string): unknown {
  if (e instanceof UsageError) return e;
  const err = e as NodeJS.ErrnoException;
  const why = HOST_WRITE_ERRORS[err?.code ?? ""];
  if (why === undefined) return e;
  const path = typeof err.path === "string" ? ` (${shown(err.path)})` : "";
  return new UsageError(
    "QJ6001",
    `${what} failed: ${why}${path}; the file being written was left as it was`,
    err.code === "EROFS" || err.code === "EACCES"
      ? "Make that filesystem writable for root, then run the command again."
      : "Free space on that filesystem, then run the command again.",
  );
}
