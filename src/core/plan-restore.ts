import type { Plan, Step } from "./plan.js";
import type { HostLayout } from "./paths.js";
import { ETC, jailFstabPath, jailRootPath } from "./paths.js";
import type { JailRecord, JailStatus } from "./record.js";
import { creatingMarker } from "./jail.js";
import { controlFileSteps } from "./plan-create.js";

/**
 * `qjail restore` (qjail-5.md §4.7) steps that are not the unpacking
 * itself: moving the current sharedfs/template aside, and putting a
 * system backup back. The unpacking is src/store/archive.ts, after its
 * member checks.
 */

/** sharedfs/template: the current tree becomes previous.<tree> (an older one is removed first). */
export function planTreeRestoreAside(
  layout: HostLayout,
  which: "sharedfs" | "template",
  current: boolean,
): Plan {
  const previous = `${layout.jaildir}/previous.${which}`;
  const steps: Step[] = [{ kind: "remove", path: previous, recursive: true }];
  if (current) steps.push({ kind: "rename", from: layout[which], to: previous });
  return { title: `keep the current ${which} as ${previous}`, steps };
}

/**
 * `restore -s`: copy `archive/system.bkup/*` back over `/usr/local/etc` and
 * `archive/pgm.bkup/*` over `/usr/local/bin`. qjail 5.x's "nothing to
 * restore" branch called an undefined `Kill`; the command refuses instead.
 */
export function planSystemRestore(
  layout: HostLayout,
  systemEntries: readonly string[],
  pgmEntries: readonly string[],
): Plan {
  const steps: Step[] = [
    ...systemEntries.map((e): Step => ({
      kind: "copyTree",
      from: `${layout.archive}/system.bkup/${e}`,
      to: `${ETC}/${e}`,
      overwrite: true,
    })),
    ...pgmEntries.map((e): Step => ({
      kind: "copyTree",
      from: `${layout.archive}/pgm.bkup/${e}`,
      to: `/usr/local/bin/${e}`,
      overwrite: true,
    })),
  ];
  return {
    title: "restore qjail's control files and programs from the system backup",
    steps,
    messages: ["Successfully restored qjail system files"],
  };
}

/** Where restore unpacks a jail's tree before renaming it into place: beside it, on the same filesystem. */
export function restoreStagingPath(layout: HostLayout, name: string): string {
  return `${layout.jaildir}/.${name}.qjail-restore`;
}

export interface JailRestore {
  name: string;
  status: JailStatus;
  record: JailRecord;
  /** Text of qjail.packages/<name> from the archive (checked to be package names). */
  packages: string | undefined;
}

/**
 * A jail restore in three parts around the unpacking (which the command does
 * into the staging directory between `prepare` and `place`):
 * - prepare: the in-progress marker (the one create uses), then clear what a
 *   killed restore left (its staging directory; its tree, only when the
 *   marker says a killed run made it);
 * - place: rename the unpacked tree to the jail's path;
 * - commit: the fstab, the jail.conf block and the records, rendered from the
 *   checked record (never the archive's own copies, which could carry
 *   exec.prestart commands or a read-write host mount), the package list,
 *   and the marker's removal, applied as one unit.
 * Nothing lists the jail before the commit, and a re-run after a kill finds
 * the marker and starts again, so a kill leaves nothing visible or the whole jail.
 */
export function planJailRestore(
  layout: HostLayout,
  jail: JailRestore,
  interrupted: boolean,
): { prepare: Step[]; place: Step[]; commit: Step[]; staging: string; title: string } {
  const root = jailRootPath(layout, jail.name);
  const staging = restoreStagingPath(layout, jail.name);
  const marker = creatingMarker(layout, jail.name);
  const prepare: Step[] = [{ kind: "mkdir", path: marker }];
  if (interrupted) prepare.push({ kind: "remove", path: root, recursive: true });
  prepare.push(
    { kind: "remove", path: staging, recursive: true },
    { kind: "mkdir", path: staging, mode: 0o755 },
  );
  const record: JailRecord = { ...jail.record, path: root, fstab: jailFstabPath(layout, jail.name) };
  const commit: Step[] = controlFileSteps({ layout }, record, jail.status);
  if (jail.packages !== undefined)
    commit.push({
      kind: "writeFile",
      path: `${layout.packages}/${jail.name}`,
      content: jail.packages,
      mode: 0o644,
    });
  commit.push({ kind: "remove", path: marker, recursive: true });
  return {
    prepare,
    place: [{ kind: "rename", from: staging, to: root }],
    commit,
    staging,
    title: `restore jail ${jail.name}`,
  };
}
