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
