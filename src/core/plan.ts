/**
 * A plan is what a command will do, as data: the pure planners in src/core
 * return one, `--dry-run` prints it ({@link formatPlan}), and the one applier
 * (src/platform/apply.ts applyPlan) carries it out. docs/ARCHITECTURE.md
 * ("Plans and the applier") describes every step kind.
 *
 * Every path in a step is *logical* (see src/core/paths.ts); the applier maps it
 * under `--root`. `inJail` names the jail root a path lies in: the applier then
 * refuses to follow any symlink below that root, because a jail's root user
 * can plant links there and the host writes as root.
 *
 * Crash consistency has one mechanism: the applier passes a numbered step
 * boundary before every top-level step and after the last (a kill lands on
 * one of them), and a `commit` step is one unit: its new files are written
 * to temporaries first, then everything is renamed, removed or written back
 * to back with no boundary inside. Planners put every change that makes a
 * jail visible (its records) in one commit, so a kill leaves the before or
 * the after state.
 */

/** Values that exist only once a step has run; a `run` step with `capture` sets one. */
export type CapturedValue = "mdUnit" | "jid";

/** How a captured value is spelled inside later steps, and what the program must have printed. */
export const CAPTURED: Readonly<Record<CapturedValue, { marker: string; pattern: RegExp; what: string }>> = {
  mdUnit: { marker: "%MD_UNIT%", pattern: /^md[0-9]+$/, what: "an md unit" },
  jid: { marker: "%JID%", pattern: /^[0-9]+$/, what: "a JID" },
};

/**
 * A `run` step that is repeated (FreeBSD: wait while `jls -d` still lists a
 * dying jail; retry `umount` while it says the mount is busy): `until`
 * "fails" repeats while it exits 0, "succeeds" repeats while it fails (only
 * while its stderr matches `whileStderr`, when given), at most `seconds`;
 * then the step fails as usual.
 */
export interface RunRetry {
  until: "fails" | "succeeds";
  seconds: number;
  /** A case-insensitive regular expression the stderr of a failed try must match to try again. */
  whileStderr?: string;
}

/** Which archive format an `extract` step unpacks, and how. */
export type ExtractFormat =
  /** A release tarball (base.txz): every member below `to`. */
  | "release"
  /** A qjail archive of a jail: only the jail's tree (`jail`), below `to`. */
  | "jail-tree"
  /** A qjail archive of host trees: members at their own absolute paths. */
  | "host-trees";

export type Step =
  | { kind: "mkdir"; path: string; mode?: number; inJail?: string }
  | { kind: "writeFile"; path: string; content: string; mode?: number; inJail?: string }
  /**
   * Append `content` to a file (created when absent). `once`: `content` is
   * one line, appended only when the file does not hold that line yet (after
   * a newline when the file does not end with one), so running it again
   * changes nothing.
   */
  | { kind: "appendFile"; path: string; content: string; mode?: number; once?: boolean; inJail?: string }
  | { kind: "symlink"; target: string; path: string; inJail?: string }
  | { kind: "rename"; from: string; to: string; inJail?: string }
  /** Remove a file or tree. Trees are removed without following links and never across a mount point. */
  | { kind: "remove"; path: string; recursive?: boolean; inJail?: string }
  /** Copy a tree (files, dirs, symlinks as links, modes); `overwrite` lets later layers replace files. */
  | { kind: "copyTree"; from: string; to: string; overwrite?: boolean; inJail?: string }
  /**
   * Run a program: argv[0] is the program, never a shell string. `capture`
   * keeps its trimmed stdout as a {@link CapturedValue} that later steps name by
   * its marker; `check` names a check the caller of the applier supplies
   * (stdout → problem or undefined); `undo` are the steps that take this one
   * back when a later step fails (run in reverse order of the steps done).
   */
  | {
      kind: "run";
      argv: string[];
      why?: string;
      mayFail?: boolean;
      /** Text fed to the program's stdin (`nft -f -`). */
      stdin?: string;
      capture?: CapturedValue;
      check?: string;
      undo?: Step[];
      /** Run again, once a second, until it fails or succeeds (see {@link RunRetry}). */
      retry?: RunRetry;
    }
  /**
   * Unpack an archive (see {@link ExtractFormat}); links in it are never
   * followed on the host. `from`: for "jail-tree", the jail root's path
   * inside the archive (the planner's caller checked the archive's members).
   * `local`: `archive` is a path on this machine as the admin typed it,
   * never relocated under `--root` (`install -f DIR`, `restore /path/x.tar`).
   */
  | {
      kind: "extract";
      archive: string;
      to: string;
      format: ExtractFormat;
      from?: string;
      local?: boolean;
      why?: string;
    }
  /**
   * Fetch a URL into a host file: written under a temporary name and
   * renamed only once complete and, with `verify: "manifest"`, once its
   * SHA256 matches the MANIFEST beside it on the server (a FreeBSD release).
   */
  | { kind: "download"; url: string; to: string; verify?: "manifest"; why?: string }
  /**
   * Steps that apply only when `path` exists (not following a link) at the
   * moment the plan reaches them: what an archive unpacked earlier in the
   * same plan turned out to hold (install: usr/lib32 only where base.txz
   * has it). The condition is checked once, before the first of the steps.
   */
  | { kind: "ifExists"; path: string; steps: Step[] }
  /** One unit: new files written to temporaries first, then every step back to back (host file steps only). */
  | { kind: "commit"; steps: Step[] };

export interface Plan {
  /** One line for the user: what this plan achieves. */
  title: string;
  steps: Step[];
  /** Messages printed after a successful apply (qjail's "Successfully created  www"). */
  messages?: string[];
  /** Non-fatal findings the user should see even on --dry-run (duplicate IP warnings...). */
  warnings?: string[];
}

/** Render a plan the way `--dry-run` shows it: one line per step, argv quoted only where needed. */
export function formatPlan(plan: Plan): string {
  const out: string[] = [`# ${plan.title}`];
  for (const w of plan.warnings ?? []) out.push(`# warning: ${w}`);
  for (const s of plan.steps) out.push(formatStep(s));
  return out.join("\n") + "\n";
}

/**
 * argv that unpacks a release tarball (base.txz) keeping modes: /usr/bin/tar
 * is bsdtar on FreeBSD (GNU tar on the Debian machines the tests run on: the
 * same flags), named by its path so the caller's PATH never picks another.
 */
export function releaseExtractArgv(archive: string, into: string): string[] {
  return ["/usr/bin/tar", "-xJpf", archive, "-C", into];
}

/** Every step in order, a commit's (and a conditional group's) steps in its place (what a reader of the plan sees). */
export function flatSteps(steps: readonly Step[]): Step[] {
  return steps.flatMap((s) => (s.kind === "commit" || s.kind === "ifExists" ? flatSteps(s.steps) : [s]));
}

/** A plan's steps around its first commit: what runs before, the commit's own steps, what runs after. */
export function planStages(plan: Pick<Plan, "steps">): { before: Step[]; commit: Step[]; after: Step[] } {
  const i = plan.steps.findIndex((s) => s.kind === "commit");
  if (i < 0) return { before: [...plan.steps], commit: [], after: [] };
  const c = plan.steps[i] as Extract<Step, { kind: "commit" }>;
  return { before: plan.steps.slice(0, i), commit: c.steps, after: plan.steps.slice(i + 1) };
}

export function formatStep(s: Step): string {
  switch (s.kind) {
    case "mkdir":
      return `mkdir -p ${q(s.path)}`;
    case "writeFile":
      return `write ${q(s.path)}${s.mode !== undefined ? ` mode ${s.mode.toString(8)}` : ""}\n${indent(s.content)}`;
    case "appendFile":
      return `append${s.once ? " (unless there)" : ""} ${q(s.path)}\n${indent(s.content)}`;
    case "symlink":
      return `ln -s ${q(s.target)} ${q(s.path)}`;
    case "rename":
      return `mv ${q(s.from)} ${q(s.to)}`;
    case "remove":
      return `rm ${s.recursive ? "-rf " : "-f "}${q(s.path)}`;
    case "copyTree":
      return `copy ${q(s.from)}/ ${q(s.to)}/${s.overwrite ? " (overwrite)" : ""}`;
    case "run":
      return s.argv.map(q).join(" ");
    case "extract":
      // a release unpacks with tar: the plan shows the very command
      if (s.format === "release") return releaseExtractArgv(s.archive, s.to).map(q).join(" ");
      return `extract ${s.format}${s.from !== undefined ? ` ${q(s.from)}` : ""} from ${q(s.archive)} into ${q(s.to)}`;
    case "download":
      return `download ${q(s.url)} to ${q(s.to)}${s.verify === "manifest" ? " (checked against its MANIFEST)" : ""}`;
    case "ifExists":
      return [`if [ -e ${q(s.path)} ]; then`, ...s.steps.map((i) => indentStep(formatStep(i))), "fi"].join(
        "\n",
      );
    case "commit":
      // a commit prints as its steps: the unit is how they are applied, not what they do
      return s.steps.map(formatStep).join("\n");
  }
}

/** Quote a word for display like sh would need it; display only, never executed. */
export function q(word: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

function indentStep(text: string): string {
  return text
    .split("\n")
    .map((l) => `    ${l}`)
    .join("\n");
}

function indent(text: string): string {
  return text
    .replace(/\n$/, "")
    .split("\n")
    .map((l) => `    | ${l}`)
    .join("\n");
}

/**
 * What a plan does to individual host files, as data: logical path → the
 * text it leaves there (`{ text }`), the file it moves there (`{ from }`), or
 * `null` when it removes the file. Readers of qjail's records lay this over
 * the disk to see the state a plan *will* leave before applying it (the
 * reconciler computes the firewall rules of that state first).
 */
export type FileOverlay = ReadonlyMap<string, { text: string } | { from: string } | null>;

export function fileOverlay(steps: readonly Step[]): FileOverlay {
  const out = new Map<string, { text: string } | { from: string } | null>();
  for (const s of flatSteps(steps)) {
    if ("inJail" in s && s.inJail) continue;
    if (s.kind === "writeFile") out.set(s.path, { text: s.content });
    else if (s.kind === "remove") {
      out.set(s.path, null);
      if (s.recursive) for (const k of out.keys()) if (k.startsWith(`${s.path}/`)) out.set(k, null);
    } else if (s.kind === "rename") {
      const moved = out.get(s.from);
      out.set(s.to, moved === undefined ? { from: s.from } : moved);
      out.set(s.from, null);
    }
  }
  return out;
}
