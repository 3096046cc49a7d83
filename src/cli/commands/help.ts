import { defineCommand } from "../command.js";
import { write } from "../context.js";
import { formatOverview, formatUsage } from "../help.js";
import { VERSION } from "../../version.js";
import { UsageError } from "../../core/errors.js";
import { COMMANDS, commandsUnder, findCommand } from "../index.js";

export const helpCommand = defineCommand({
  path: ["help"],
  summary: "List the commands, or show one command's syntax, options and examples.",
  usage: ["help [command [subcommand]]"],
  details: `
Without an argument, lists every command by group with what it does, and the
global options. With a command name,
prints its synopsis, description and examples (the same text as 'qjail COMMAND --help').
qjail 5.x runs man(1) here; this qjail prints the text itself so it works on
hosts without the manual pages installed. The pages are in man/.`,
  examples: [
    { command: "qjail help", description: "list every command with what it does" },
    { command: "qjail help config", description: "everything about 'qjail config'" },
  ],
  options: {},
  json: false,
  async run({ ctx, positionals }) {
    if (positionals.length === 0) {
      write(ctx.stdout, formatOverview(COMMANDS, VERSION));
      return 0;
    }
    const found = findCommand(positionals);
    const group = commandsUnder(positionals);
    if (!found && group.length > 0) {
      // `qjail help fw`: the words name a group of commands, not one.
      write(ctx.stdout, group.map((c) => formatUsage(c)).join("\n"));
      return 0;
    }
    if (!found || found.rest.length > 0) {
      throw new UsageError(
        "QJ1006",
        `no such command: ${JSON.stringify(positionals.join(" "))}`,
        "Run 'qjail help' for the list.",
      );
    }
    write(ctx.stdout, formatUsage(found.def, { long: true }));
    return 0;
  },
});
