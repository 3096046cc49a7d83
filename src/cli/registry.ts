import type { CommandDef } from "./command.js";

/** The commands whose path starts with these words and is longer (`fw` → fw setup, fw sync, …). */
export function commandsUnder(commands: readonly CommandDef[], words: readonly string[]): CommandDef[] {
  return commands.filter((c) => c.path.length > words.length && words.every((w, i) => c.path[i] === w));
}

/** The command whose path is the longest prefix of argv, and the remaining words. */
export function findCommand(
  commands: readonly CommandDef[],
  argv: readonly string[],
): { def: CommandDef; rest: string[] } | undefined {
  let best: CommandDef | undefined;
  for (const c of commands) {
    if (c.path.length <= argv.length && c.path.every((w, i) => argv[i] === w)) {
      if (!best || c.path.length > best.path.length) best = c;
    }
  }
  return best ? { def: best, rest: argv.slice(best.path.length) } : undefined;
}
