import type { Plan, Step } from "./plan.js";
import type { HostLayout } from "./paths.js";
import { ETC, jailFstabPath, jailRootPath } from "./paths.js";
import type { JailRecord, JailStatus } from "./record.js";
import { creatingMarker } from "./jail.js";
import { controlFileSteps } from "./plan-create.js";

/**
 * `qjail restore` (docs/qjail-5.md §4.7): archives already checked by the caller
 * (src/store/archive.ts) → one plan ({@link planRestore}): trees moved aside
 * and unpacked, jail trees unpacked beside their place and renamed there,
 * then one commit with every restored jail's records. `restore -s` is
 * {@link planSystemRestore}.
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

/** One archive restore asks for, checked by the caller. */
export type RestoreJob =
  | {
      kind: "tree";
      which: "sharedfs" | "template";
      /** Logical path of the archive (or, with `local`, a path on this machine as typed). */
      archive: string;
      local: boolean;
      /** Whether the current tree is there (it is kept as previous.<tree>). */
      current: boolean;
    }
  | {
      kind: "jail";
      archive: string;
      local: boolean;
      layout: HostLayout;
      jail: JailRestore;
      /** The jail root inside the archive. */
      rootPath: string;
      /** A marker without a record: what a killed restore left is replaced. */
      interrupted: boolean;
    };

/**
 * Every job in one plan: trees first as asked, each jail's tree unpacked
 * into its staging directory and renamed into place, and one commit that
 * writes the records of all the restored jails (nothing lists any of them
 * before it; a kill leaves markers that the same restore run again clears).
 */
export function planRestore(layout: HostLayout, jobs: readonly RestoreJob[]): Plan {
  const steps: Step[] = [];
  const commit: Step[] = [];
  const names: string[] = [];
  for (const job of jobs) {
    const local = job.local ? { local: true } : {};
    if (job.kind === "tree") {
      names.push(job.which);
      steps.push(...planTreeRestoreAside(layout, job.which, job.current).steps, {
        kind: "extract",
        format: "host-trees",
        archive: job.archive,
        ...local,
        to: "/",
        why: `unpack ${job.archive} (every member inside ${layout[job.which]})`,
      });
      continue;
    }
    names.push(job.jail.name);
    const parts = planJailRestore(job.layout, job.jail, job.interrupted);
    steps.push(
      ...parts.prepare,
      {
        kind: "extract",
        format: "jail-tree",
        archive: job.archive,
        ...local,
        from: job.rootPath,
        to: parts.staging,
        why: `unpack the tree of ${job.jail.name} from ${job.archive}`,
      },
      ...parts.place,
    );
    commit.push(...parts.commit);
  }
  if (commit.length > 0) steps.push({ kind: "commit", steps: commit });
  return {
    title: `restore ${names.join(" ")}`,
    steps,
    messages: names.map((n) => `Successfully restored ${n}`),
  };
}
