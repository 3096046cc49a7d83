import type { CommandDef } from "./command.js";

export function formatUsage(def: CommandDef, opts: { long?: boolean } = {}): string {
  const lines = def.usage.map((u) => `qjail ${u}`);
  if (!opts.long) return lines.join("\n");
  const out = [...lines, "", def.summary, "", def.details.trim(), ""];
  if (def.examples.length > 0) {
    out.push("Examples:");
    for (const ex of def.examples) out.push(`  ${ex.command}`, `      ${ex.description}`);
    out.push("");
  }
  out.push(
    "Global options: --root DIR (or QJAIL_ROOT) relocates every host path; --platform freebsd|linux;",
    `--dry-run prints the plan and changes nothing${def.json ? "; --json prints one JSON document" : ""}.`,
  );
  return out.join("\n");
}

/** How `qjail help` groups the commands, in the order an admin meets them. */
export const HELP_GROUPS: readonly { title: string; commands: readonly string[] }[] = [
  {
    title: "Jails",
    commands: [
      "install",
      "create",
      "list",
      "start",
      "stop",
      "restart",
      "console",
      "config",
      "delete",
      "archive",
      "restore",
      "update",
    ],
  },
  { title: "Exposing services", commands: ["expose", "unexpose", "ports"] },
  {
    title: "Firewall",
    commands: ["fw setup", "fw sync", "fw show", "fw lint", "fw trace", "fw ipftest", "fw watch"],
  },
  { title: "Debugging", commands: ["status", "doctor", "demo"] },
  { title: "A host as data, many hosts", commands: ["apply", "export"] },
  { title: "Start-up", commands: ["boot install", "boot start", "boot stop"] },
  { title: "Help", commands: ["help"] },
];

/** Fill words into lines of at most `width` characters, each after `indent`. */
function wrap(text: string, width: number, indent: string): string[] {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(/\s+/)) {
    if (line !== "" && indent.length + line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line === "" ? word : `${line} ${word}`;
  }
  if (line !== "") lines.push(line);
  return lines.map((l) => indent + l);
}

/** `qjail help`: every command with what it does, by group, then the global options. */
export function formatOverview(commands: readonly CommandDef[], version: string): string {
  const byPath = new Map(commands.map((c) => [c.path.join(" "), c]));
  const width = 14;
  const out = [
    `qjail ${version}: jail host manager (qjail 5.x's commands, exposed ports, firewall rules)`,
    "",
    "Usage: qjail [global options] command [arguments]",
  ];
  for (const group of HELP_GROUPS) {
    out.push("", `${group.title}:`);
    for (const name of group.commands) {
      const c = byPath.get(name);
      if (c === undefined) continue;
      const [first, ...rest] = wrap(c.summary, 80, " ".repeat(2 + width));
      out.push(`  ${name.padEnd(width)}${(first ?? "").trimStart()}`, ...rest);
    }
  }
  const grouped = new Set(HELP_GROUPS.flatMap((g) => g.commands));
  const others = commands.filter((c) => !grouped.has(c.path.join(" ")));
  if (others.length > 0) {
    out.push("", "Other:");
    for (const c of others) out.push(`  ${c.path.join(" ").padEnd(width)}${c.summary}`);
  }
  out.push(
    "",
    "Global options (before or after the command):",
    "  --root DIR        relocate qjail's host files under DIR: try any command on a",
    "                    scratch tree (QJAIL_ROOT sets the default)",
    "  --platform NAME   freebsd or linux (default: the system qjail runs on)",
    "  --dry-run         print the plan (files, links, commands) and change nothing",
    "  --json            one JSON document on standard output, where supported",
    "  --version         print qjail's version",
    "",
    "Run 'qjail help COMMAND' (or 'man qjail-COMMAND') for a command's syntax, options",
    "and examples; 'qjail help fw' lists the fw subcommands' syntax.",
  );
  return out.join("\n");
}
