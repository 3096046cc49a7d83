import { UsageError, ExitError, EXIT_ERROR, EXIT_INTERNAL, EXIT_OK } from "../core/errors.js";
import type { Ctx } from "./context.js";
import { write } from "./context.js";
import { COMMANDS, findCommand } from "./index.js";
import { parseInvocation, type CommandDef } from "./command.js";
import { formatUsage } from "./help.js";
import { VERSION } from "../version.js";

/**
 * The one place where failures become exit statuses and messages
 * (see src/core/errors.ts for the three kinds).
 */
export async function run(argv: readonly string[], ctx: Ctx): Promise<number> {
  if (argv.length === 0) {
    write(ctx.stderr, COMMANDS.map((c) => formatUsage(c)).join("\n"));
    return EXIT_ERROR;
  }
  if (argv[0] === "--version" || argv[0] === "-V") {
    write(ctx.stdout, `qjail ${VERSION}`);
    return EXIT_OK;
  }
  const found = findCommand(argv);
  if (!found) {
    write(ctx.stderr, `qjail: unknown command ${JSON.stringify(argv[0])}`);
    write(ctx.stderr, `Commands: ${[...new Set(COMMANDS.map((c) => c.path[0]))].join(", ")}`);
    write(ctx.stderr, "Run 'qjail help' for the list, 'qjail help COMMAND' for one command.");
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
