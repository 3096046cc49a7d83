import { defineCommand } from "../command.js";
import { formatPlan } from "../../core/plan.js";
import { hostLayout } from "../../core/paths.js";
import { UsageError, shown } from "../../core/errors.js";
import { validateZoneName } from "../../core/validate.js";
import { jailConsole } from "../../ops/console.js";
import type { ConsoleRequest } from "../../core/jail.js";

/** A user name as pw(8) accepts it; the value reaches jexec/login as one argv word. */
const USER_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}$/;

export const consoleCommand = defineCommand({
  path: ["console"],
  summary: "Log in to a running jail, or run one command in it.",
  usage: ["console [-z zone] [-u user] [-c cmd] jailname"],
  details: `
Without options, logs in as root: 'jexec -l NAME login -f root'. With -u user, logs in
as that user of the jail: 'jexec -l NAME login -f user'. With -c cmd, runs the command
instead of a login, with no banner: 'jexec -l [-U user] NAME cmd...'. A jail with a fib
(config -f) runs it under 'setfib FIB'. The exit status is the login shell's or the
command's.

The jail never gets your terminal or any other descriptor of qjail's. From a terminal,
qjail runs jexec under script(1) (FreeBSD) or its own helper (Linux), which gives the jail
a new pseudo-terminal and copies the bytes between it and yours: jailed root cannot push
input into your shell (TIOCSTI) or keep reading what you type after the console ends.
Without a terminal (stdin a pipe or a file), the command runs in its own session with
pipes. Every other open descriptor is /dev/null in the jail, and 'jexec -l' starts it
with a clean environment (HOME, SHELL, TERM, USER), so none of your variables
(SSH_AUTH_SOCK, tokens) reach the jail. What the jail prints still reaches your terminal:
as with any console, a hostile jail can send escape sequences to it.

The -c value is split at blanks into words and passed to jexec as they are: no shell
reads it, so quotes, ';', '*' and '$' have no special meaning. For a script (several
commands, pipes, variables) pipe it into the jail's shell instead:
  printf 'id; hostname\\n' | qjail console NAME

A norun jail is refused ("This jail name is in norun status"). Changed on purpose: a
stopped jail is refused with exit status 3; qjail 5.x ran its own error message as a
command and exited 0.`,
  examples: [
    { command: "qjail console www", description: "root shell in jail www" },
    { command: "qjail console -u admin www", description: "log in as admin" },
    {
      command: "qjail console -c 'service nginx status' www",
      description: "run one command and return its status",
    },
  ],
  options: {
    zone: { type: "string", short: "z" },
    user: { type: "string", short: "u" },
    command: { type: "string", short: "c" },
  },
  json: false,
  mutates: true,
  async run({ ctx, values, positionals, global }) {
    const zone = typeof values.zone === "string" ? validateZoneName(values.zone) : undefined;
    const user = typeof values.user === "string" ? values.user : undefined;
    if (user !== undefined && !USER_NAME.test(user)) {
      throw new UsageError(
        "QJ1420",
        `invalid user name ${shown(user)}`,
        "Give a user name as the jail's passwd has it, e.g. -u admin.",
      );
    }
    let command: string[] | undefined;
    if (typeof values.command === "string") {
      command = values.command.split(/[ \t]+/).filter((w) => w !== "");
      if (command.length === 0)
        throw new UsageError(
          "QJ1421",
          `empty command ${shown(values.command)} for -c`,
          "Give the command to run, e.g. -c 'ls /'.",
        );
    }
    if (positionals.length !== 1) {
      throw new UsageError(
        "QJ1422",
        positionals.length === 0
          ? "no jail name given"
          : `console takes one jail name, got ${positionals.map(shown).join(" ")}`,
        "Run 'qjail console [-u user] [-c cmd] jailname'.",
      );
    }
    const name = positionals[0] as string;
    if (name.endsWith("="))
      throw new UsageError(
        "QJ1422",
        `console takes one jail name, not a group prefix ${shown(name)}`,
        "Name the jail.",
      );
    const session: ConsoleRequest = {
      ...(user !== undefined ? { user } : {}),
      ...(command ? { command } : {}),
    };
    const result = await jailConsole(
      global,
      { stderr: ctx.stderr, env: ctx.env },
      { layout: hostLayout(zone), name, session, dryRun: global.dryRun },
    );
    if ("plan" in result) {
      ctx.stdout.write(formatPlan(result.plan));
      return 0;
    }
    return result.code;
  },
});
