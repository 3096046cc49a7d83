import writeFileAtomicLib from "write-file-atomic";

/**
 * Write a host-side file (records, jail.conf blocks, rule files) atomically:
 * temp file in the same directory, fsync, rename. Readers see the old or the
 * new content, never a torn file, even after a crash or a full disk.
 *
 * Not for paths inside a jail tree: write-file-atomic resolves symlinks, and a
 * jail's root may plant one. Those go through src/platform/safe-fs.ts.
 */
export async function writeFileAtomic(path: string, content: string, mode = 0o644): Promise<void> {
  await writeFileAtomicLib(path, content, { mode, fsync: true });
}
