import { parseArgs, type ParseArgsConfig } from "node:util";
import { UsageError, type MessageCode } from "../core/errors.js";
import type { Ctx } from "./context.js";

export type OptionSpec = NonNullable<ParseArgsConfig["options"]>;

/** Options every command accepts (see GLOBAL_OPTIONS). */
export interface GlobalOptions {
  /** Physical root every host path is relocated under; "/" is the real host. */
  root: string;
  platform: "freebsd" | "linux" | undefined;
  dryRun: boolean;
  json: boolean;
}

export interface Invocation<V = Record<string, string | boolean | string[] | boolean[] | undefined>> {
  ctx: Ctx;
  values: V;
  positionals: string[];
  global: GlobalOptions;
}

/**
 * One qjail command. Each lives in its own file under src/cli/commands, path
 * matching the command words (`fw trace` → commands/fw/trace.ts), and is
 * listed once in src/cli/index.ts. A test checks every listed command has a
 * description, an example and a man page.
 */
export interface CommandDef {
  path: readonly string[];
  /** One line, shown in the command list. */
  summary: string;
  /** Synopsis lines, qjail style: "create [-z zone] [-4 ips] jailname". */
  usage: readonly string[];
  /** Man-page style description of behaviour, including where we differ from qjail 5.x on purpose. */
  details: string;
  examples: readonly { command: string; description: string }[];
  options: OptionSpec;
  /** Whether `--json` is supported; a command without it refuses the flag. */
  json: boolean;
  /**
   * Whether this invocation changes the host (files, jails, firewall): such
   * a command refuses to run as any user but root, as qjail 5.x did
   * ("qjail must be run by root.", exit 2). --dry-run never changes anything
   * and is not refused. Omitted: a read-only command.
   */
  mutates?: boolean | ((values: Invocation["values"]) => boolean);
  run(inv: Invocation): Promise<number>;
}

export function defineCommand(def: CommandDef): CommandDef {
  return def;
}

/** `fw trace tcp A:P -> :6188` writes the arrow bare; parseArgs would read it as an option. */
const ARROW_PLACEHOLDER = "\u0000arrow";

export const GLOBAL_OPTIONS: OptionSpec = {
  root: { type: "string" },
  platform: { type: "string" },
  "dry-run": { type: "boolean" },
  json: { type: "boolean" },
  help: { type: "boolean" },
};

/**
 * Parse argv for one command. Accepts qjail's getopt style (`-4 10.0.0.2 -c`,
 * grouped booleans `-kK`) plus the global long options. A negative number after
 * an option that takes a value (`config -s -1`) is taken as that value, which
 * qjail's getopt cannot do.
 */
export function parseInvocation(
  def: CommandDef,
  argv: readonly string[],
  ctx: Ctx,
): { values: Invocation["values"]; positionals: string[]; global: GlobalOptions; help: boolean } {
  const options: OptionSpec = { ...GLOBAL_OPTIONS, ...def.options };
  const valueShorts = new Set(
    Object.values(options)
      .filter((o) => o.type === "string" && o.short)
      .map((o) => o.short as string),
  );
  const args: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    const next = argv[i + 1];
    if (
      /^-[A-Za-z0-9]$/.test(a) &&
      valueShorts.has(a.slice(1)) &&
      next !== undefined &&
      /^-\d+$/.test(next)
    ) {
      args.push(`${a}${next}`);
      i++;
    } else args.push(a === "->" ? ARROW_PLACEHOLDER : a);
  }
  let parsed;
  try {
    parsed = parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (e) {
    throw optionError(def, e as Error, args);
  }
  const v = parsed.values as Record<string, string | boolean | undefined>;
  const platform = (v.platform as string | undefined) ?? ctx.env.QJAIL_PLATFORM;
  if (platform !== undefined && platform !== "freebsd" && platform !== "linux") {
    throw new UsageError(
      "QJ1003",
      `unknown platform ${JSON.stringify(platform)}`,
      "Use --platform freebsd or --platform linux.",
    );
  }
  const json = v.json === true;
  if (json && !def.json) {
    throw new UsageError(
      "QJ1004",
      `qjail ${def.path.join(" ")} has no --json output`,
      "Run it without --json.",
    );
  }
  const root = (v.root as string | undefined) ?? ctx.env.QJAIL_ROOT ?? "/";
  if (!root.startsWith("/")) {
    throw new UsageError(
      "QJ1005",
      `--root must be an absolute path, got ${JSON.stringify(root)}`,
      "Give the full path, e.g. --root /tmp/qjail-test.",
    );
  }
  const values = { ...parsed.values } as Invocation["values"];
  for (const k of Object.keys(GLOBAL_OPTIONS)) delete values[k];
  return {
    values,
    positionals: parsed.positionals.map((p) => (p === ARROW_PLACEHOLDER ? "->" : p)),
    global: { root, platform: platform as GlobalOptions["platform"], dryRun: v["dry-run"] === true, json },
    help: v.help === true,
  };
}

/**
 * util.parseArgs's own messages advise `--` for positionals that start with
 * '-', which no jail name does; say instead what was wrong and where the
 * command's options are listed.
 */
function optionError(def: CommandDef, e: Error, args: readonly string[] = []): UsageError {
  const name = `qjail ${def.path.join(" ")}`;
  const code = (e as Error & { code?: string }).code;
  const syntax = `Syntax: qjail ${def.usage[0] ?? def.path.join(" ")}${def.usage.length > 1 ? " (and more forms)" : ""}; 'qjail help ${def.path.join(" ")}' explains every option.`;
  const unknown = /^Unknown option '([^']*)'/.exec(e.message);
  if (code === "ERR_PARSE_ARGS_UNKNOWN_OPTION" && unknown) {
    return new UsageError("QJ1002", `${name}: unknown option '${unknown[1]}'`, syntax);
  }
  const missing = /^Option '([^' ]+)(?:, ([^' ]+))? <value>' argument missing/.exec(e.message);
  if (missing) {
    const which = missing[2] ? `${missing[1]} (${missing[2]})` : missing[1];
    return new UsageError("QJ1002", `${name}: option ${which} needs a value`, syntax);
  }
  // `create -4 -c ssh` (the howto's own slip): the value went missing and the next option took its place.
  const ambiguous = /^Option '([^']+)' argument is ambiguous/.exec(e.message);
  if (ambiguous) {
    const opt = ambiguous[1] as string;
    const next = args[args.indexOf(opt) + 1] ?? "";
    const long = Object.entries({ ...GLOBAL_OPTIONS, ...def.options }).find(
      ([l, o]) => `--${l}` === opt || `-${o.short ?? ""}` === opt,
    );
    const which = long && opt !== `--${long[0]}` ? `${opt} (--${long[0]})` : opt;
    const example =
      long?.[0] === "ipv4"
        ? `Give the address: ${opt} 10.0.0.2 (the howto's 'qjail create -4 -c ssh' lost it). `
        : long?.[0] === "ipv6"
          ? `Give the address: ${opt} fd00::2. `
          : "";
    return new UsageError(
      "QJ1002",
      `${name}: option ${which} needs a value, but the next word ${JSON.stringify(next)} is an option`,
      `${example}${syntax}`,
    );
  }
  const noValue = /^Option '([^']*)' does not take an argument/.exec(e.message);
  if (noValue) {
    return new UsageError("QJ1002", `${name}: option ${noValue[1]} takes no value`, syntax);
  }
  const msg = e.message.replace(/^TypeError \[[A-Z_]+\]: /, "");
  return new UsageError("QJ1002", `${name}: ${msg}`, syntax);
}

/** Refuse operands on a command that takes none, showing each one given. */
export function refuseOperands(
  positionals: readonly string[],
  command: string,
  code: MessageCode,
  hint: string,
): void {
  if (positionals.length === 0) return;
  throw new UsageError(
    code,
    `${command} takes no arguments, got ${positionals.map((p) => JSON.stringify(p)).join(" ")}`,
    hint,
  );
}
