/**
 * A plan is what a command will do, as data: the pure planners in src/core
 * return one, `--dry-run` prints it, and a platform applies it
 * (src/platform/apply.ts for file steps, the platform for `run` steps).
 *
 * Every path in a step is *logical* (see src/core/paths.ts); the applier maps it
 * under `--root`. `inJail` names the jail root a path lies in: the applier then
 * refuses to follow any symlink below that root, because a jail's root user
 * can plant links there and the host writes as root.
 */
export type Step =
  | { kind: "mkdir"; path: string; mode?: number; inJail?: string }
  | { kind: "writeFile"; path: string; content: string; mode?: number; inJail?: string }
  | { kind: "appendFile"; path: string; content: string; mode?: number; inJail?: string }
  | { kind: "symlink"; target: string; path: string; inJail?: string }
  | { kind: "rename"; from: string; to: string; inJail?: string }
  /** Remove a file or tree. Trees are removed without following links and never across a mount point. */
  | { kind: "remove"; path: string; recursive?: boolean; inJail?: string }
  /** Copy a tree (files, dirs, symlinks as links, modes); `overwrite` lets later layers replace files. */
  | { kind: "copyTree"; from: string; to: string; overwrite?: boolean; inJail?: string }
  /** Run a program: argv[0] is the program, never a shell string. */
  | { kind: "run"; argv: string[]; why?: string; mayFail?: boolean };

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

export function formatStep(s: Step): string {
  switch (s.kind) {
    case "mkdir":
      return `mkdir -p ${q(s.path)}`;
    case "writeFile":
      return `write ${q(s.path)}${s.mode !== undefined ? ` mode ${s.mode.toString(8)}` : ""}\n${indent(s.content)}`;
    case "appendFile":
      return `append ${q(s.path)}\n${indent(s.content)}`;
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
  }
}

/** Quote a word for display like sh would need it; display only, never executed. */
export function q(word: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

function indent(text: string): string {
  return text
    .replace(/\n$/, "")
    .split("\n")
    .map((l) => `    | ${l}`)
    .join("\n");
}
