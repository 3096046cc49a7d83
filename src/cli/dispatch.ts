import { UsageError, ExitError, EXIT_ERROR, EXIT_INTERNAL, EXIT_NOT_ROOT, EXIT_OK } from "../core/errors.js";
import { hostWriteError } from "../platform/write-errors.js";
import type { Writable } from "node:stream";
import type { Ctx } from "./context.js";
import { write } from "./context.js";
import { commandsUnder, findCommand } from "./registry.js";
import { parseInvocation, type CommandDef } from "./command.js";
import { formatUsage } from "./help.js";
import { VERSION } from "../version.js";
import { lazyStdio } from "./stdio.js";
import { settlePendingCommit } from "../store/lock.js";

/**
 * The one place where failures become exit statuses and messages
 * (see src/core/errors.ts for the three kinds). `commands` is the registry:
 * every command (src/cli/index.ts), or the few a lean entry point carries
 * (src/cli/main-list.ts), which must give the same result for its commands.
 */
export async function dispatch(
  commands: readonly CommandDef[],
  givenArgv: readonly string[],
  ctx: Ctx,
): Promise<number> {
  const COMMANDS = commands;
  const argv = globalsAfterCommand(COMMANDS, givenArgv);
  if (argv.length === 0) {
    write(ctx.stderr, COMMANDS.map((c) => formatUsage(c)).join("\n"));
    return EXIT_ERROR;
  }
  if (argv[0] === "--version" || argv[0] === "-V") {
    write(ctx.stdout, `qjail ${VERSION}`);
    return EXIT_OK;
  }
  if (argv[0] === "--help" || argv[0] === "-h") return dispatch(COMMANDS, ["help", ...argv.slice(1)], ctx);
  const found = findCommand(COMMANDS, argv);
  if (!found) {
    const word = argv[0] as string;
    const group = commandsUnder(COMMANDS, argv.slice(0, 1));
    const sub = argv[1];
    const [message, list, hint] =
      GLOBALS_WITH_VALUE.has(word) || /^--(root|platform)=$/.test(word)
        ? [
            `option ${word.replace(/=$/, "")} needs a value`,
            word.startsWith("--root")
              ? "e.g. qjail --root /tmp/scratch list"
              : "e.g. qjail --platform freebsd list",
            "Run 'qjail help' for the global options.",
          ]
        : word.startsWith("-")
          ? [
              `unknown option ${JSON.stringify(word)} before the command`,
              "Global options: --root DIR, --platform NAME, --dry-run, --json, --version, --help",
              "Run 'qjail help' for the list, 'qjail help COMMAND' for a command's own options.",
            ]
          : group.length > 0
            ? [
                sub === undefined || sub.startsWith("-")
                  ? `${JSON.stringify(word)} needs a subcommand`
                  : `unknown ${word} subcommand ${JSON.stringify(sub)}`,
                `Subcommands: ${group.map((c) => c.path.slice(1).join(" ")).join(", ")}`,
                `Run 'qjail help ${word}' for their syntax.`,
              ]
            : [
                `unknown command ${JSON.stringify(word)}`,
                `Commands: ${[...new Set(COMMANDS.map((c) => c.path[0]))].join(", ")}`,
                "Run 'qjail help' for the list, 'qjail help COMMAND' for one command.",
              ];
    const code = word.startsWith("-") ? "QJ1002" : "QJ1007";
    if (argv.includes("--json")) {
      write(ctx.stdout, JSON.stringify({ error: { code, message, hint: `${list}. ${hint}` } }));
    }
    write(ctx.stderr, `qjail: ${code}: ${message}`);
    write(ctx.stderr, `  ${list}`);
    write(ctx.stderr, `  ${hint}`);
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
    if (!inv.global.dryRun && mutates(def, inv.values) && euidOf(ctx) !== 0)
      return refuseNotRoot(ctx, jsonMode, `'qjail ${def.path.join(" ")}' changes the host`);
    // A commit a killed qjail left half made is finished before anything reads the state (store/journal.ts).
    if (!inv.global.dryRun) await settlePendingCommit(inv.global.root);
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
function globalsAfterCommand(commands: readonly CommandDef[], argv: readonly string[]): readonly string[] {
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
  const found = findCommand(commands, rest);
  const words = found ? found.def.path.length : Math.min(rest.length, 1);
  return [...rest.slice(0, words), ...leading, ...rest.slice(words)];
}

function mutates(def: CommandDef, values: Record<string, unknown>): boolean {
  return typeof def.mutates === "function" ? def.mutates(values as never) : def.mutates === true;
}

function euidOf(ctx: Ctx): number {
  return ctx.euid ?? process.geteuid?.() ?? 0;
}

/** qjail 5.x's refusal for any user but root ("qjail must be run by root.", exit 2); nothing is touched. */
function refuseNotRoot(ctx: Ctx, jsonMode: boolean, why: string): number {
  const message = "qjail must be run by root.";
  const hint = `${why}: run it as root (su -, sudo or doas), or add --dry-run to see what it would do. list, status, ports, doctor and the fw show/lint/trace commands work as any user.`;
  if (jsonMode) write(ctx.stdout, JSON.stringify({ error: { code: "QJ1008", message, hint } }));
  write(ctx.stderr, `qjail: QJ1008: ${message}`);
  write(ctx.stderr, `  ${hint}`);
  return EXIT_NOT_ROOT;
}

function report(e: unknown, def: CommandDef, ctx: Ctx, jsonMode: boolean): number {
  if (e instanceof ExitError) return e.exitCode;
  const errno = (e as NodeJS.ErrnoException | undefined)?.code;
  if ((errno === "EACCES" || errno === "EPERM") && euidOf(ctx) !== 0)
    return refuseNotRoot(
      ctx,
      jsonMode,
      `'qjail ${def.path.join(" ")}' was denied access to ${JSON.stringify((e as NodeJS.ErrnoException).path ?? "a file")}`,
    );
  // A full disk, a read-only filesystem or a denied write is the host's state, not a bug (QJ6001).
  const explained = hostWriteError(e, `qjail ${def.path.join(" ")}`);
  if (explained !== e) return report(explained, def, ctx, jsonMode);
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

/** The context of a real run (bin/qjail.js): the process's streams and environment. */
export function processCtx(): Ctx {
  return {
    stdout: stdout.stream,
    stderr: stderr.stream,
    env: process.env,
    cwd: process.cwd(),
    now: () => new Date(),
    get isTTY() {
      return (stdout.stream as Writable & { isTTY?: boolean }).isTTY === true;
    },
    euid: process.geteuid?.(),
  };
}

/** Whether output is still waiting in a stream (bin/qjail.js exits at once when none is). */
export function outputPending(): boolean {
  return stdout.pending() || stderr.pending();
}

/** `qjail list | head`: the reader has gone, which is not an error worth a stack trace. */
function quietEpipe(stream: NodeJS.WriteStream): NodeJS.WriteStream {
  stream.on("error", (e: NodeJS.ErrnoException) => {
    if (e.code === "EPIPE") process.exit(process.exitCode ?? 0);
    throw e;
  });
  return stream;
}

// Node's stdout/stderr streams are made (and its stream modules loaded) only when a command
// needs more than plain writes to a file or terminal (src/cli/stdio.ts).
const stdout = lazyStdio(1, () => quietEpipe(process.stdout));
const stderr = lazyStdio(2, () => quietEpipe(process.stderr));
