import type { Plan, Step } from "./plan.js";
import type { HostLayout } from "./paths.js";
import { ETC } from "./paths.js";

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
