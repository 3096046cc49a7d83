import { UsageError, ExitError, EXIT_ERROR, EXIT_INTERNAL, EXIT_OK } from "../core/errors.js";
import type { Ctx } from "./context.js";
import { write } from "./context.js";
import { COMMANDS, commandsUnder, findCommand } from "./index.js";
import { parseInvocation, type CommandDef } from "./command.js";
import { formatUsage } from "./help.js";
import { VERSION } from "../version.js";

/**
 * The one place where failures become exit statuses and messages
 * (see src/core/errors.ts for the three kinds).
 */
export async function run(givenArgv: readonly string[], ctx: Ctx): Promise<number> {
  const argv = globalsAfterCommand(givenArgv);
  if (argv.length === 0) {
    write(ctx.stderr, COMMANDS.map((c) => formatUsage(c)).join("\n"));
    return EXIT_ERROR;
  }
  if (argv[0] === "--version" || argv[0] === "-V") {
    write(ctx.stdout, `qjail ${VERSION}`);
    return EXIT_OK;
  }
  if (argv[0] === "--help") return run(["help", ...argv.slice(1)], ctx);
  const found = findCommand(argv);
  if (!found) {
    const group = commandsUnder(argv.slice(0, 1));
    const [message, list, hint] =
      group.length > 0
        ? [
            `${JSON.stringify(argv[0])} needs a subcommand`,
            `Subcommands: ${group.map((c) => c.path.slice(1).join(" ")).join(", ")}`,
            `Run 'qjail help ${argv[0]}' for their syntax.`,
          ]
        : [
            `unknown command ${JSON.stringify(argv[0])}`,
            `Commands: ${[...new Set(COMMANDS.map((c) => c.path[0]))].join(", ")}`,
            "Run 'qjail help' for the list, 'qjail help COMMAND' for one command.",
          ];
    if (argv.includes("--json")) {
      write(ctx.stdout, JSON.stringify({ error: { code: "QJ1007", message, hint: `${list}. ${hint}` } }));
    }
    write(ctx.stderr, `qjail: ${message}`);
    write(ctx.stderr, list);
    write(ctx.stderr, hint);
    return EXIT_ERROR;
  }
  const { def, rest } = found;
  let jsonMode = argv.includes("--json");
  try {
    const inv = parseInvocation(def, rest, ctx);
    jsonMode = inv.global.json;
    if (inv.help) {
      write(ctx.stdout, formatUsage(def, { long: true }));
      return EXIT_OK;
    }
    return await def.run({ ctx, values: inv.values, positionals: inv.positionals, global: inv.global });
  } catch (e) {
    return report(e, def, ctx, jsonMode);
  }
}

const GLOBALS_WITH_VALUE = new Set(["--root", "--platform"]);
const GLOBAL_FLAGS = new Set(["--dry-run", "--json"]);

/**
 * `qjail --root /tmp/h list` is how a FreeBSD admin writes a global option;
 * the parser reads options after the command words, so leading global
 * options move behind them.
 */
function globalsAfterCommand(argv: readonly string[]): readonly string[] {
  const leading: string[] = [];
  let i = 0;
  while (i < argv.length) {
    const a = argv[i] as string;
    if (GLOBAL_FLAGS.has(a) || /^--(root|platform)=/.test(a)) {
      leading.push(a);
      i += 1;
    } else if (GLOBALS_WITH_VALUE.has(a) && i + 1 < argv.length) {
      leading.push(a, argv[i + 1] as string);
      i += 2;
    } else break;
  }
  if (leading.length === 0) return argv;
  const rest = argv.slice(i);
  const found = findCommand(rest);
  const words = found ? found.def.path.length : Math.min(rest.length, 1);
  return [...rest.slice(0, words), ...leading, ...rest.slice(words)];
}

function report(e: unknown, def: CommandDef, ctx: Ctx, jsonMode: boolean): number {
  if (e instanceof ExitError) return e.exitCode;
  if (e instanceof UsageError) {
    if (jsonMode) {
      write(
        ctx.stdout,
        JSON.stringify({ error: { code: e.code, message: e.message, hint: e.hint ?? null } }),
      );
    }
    write(ctx.stderr, `qjail: ${e.code}: ${e.message}`);
    if (e.hint) write(ctx.stderr, `  ${e.hint}`);
    return EXIT_ERROR;
  }
  const err = e instanceof Error ? e : new Error(String(e));
  if (jsonMode)
    write(ctx.stdout, JSON.stringify({ error: { code: "QJ0000", message: err.message, hint: null } }));
  write(ctx.stderr, `qjail: internal error in '${def.path.join(" ")}': ${err.message}`);
  write(ctx.stderr, `qjail ${VERSION}, node ${process.version}, ${process.platform}`);
  write(ctx.stderr, (err.stack ?? "").replace(/\/[^\s:()]*\/(src|dist|node_modules)\//g, "<qjail>/$1/"));
  write(ctx.stderr, "This is a bug in qjail. Please report it with the command you ran and the text above.");
  return EXIT_INTERNAL;
}

/** Entry point for bin/qjail.js: real streams, real environment. */
export async function main(argv: readonly string[]): Promise<number> {
  const ctx: Ctx = {
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    cwd: process.cwd(),
    now: () => new Date(),
    isTTY: process.stdout.isTTY === true,
  };
  return run(argv, ctx);
}
