import type { CommandDef } from "./command.js";
import { commandsUnder as commandsUnderIn, findCommand as findCommandIn } from "./registry.js";
import { helpCommand } from "./commands/help.js";
import { installCommand } from "./commands/install.js";
import { createCommand } from "./commands/create.js";
import { listCommand } from "./commands/list.js";
import { deleteCommand } from "./commands/delete.js";
import { configCommand } from "./commands/config.js";
import { startCommand } from "./commands/start.js";
import { stopCommand } from "./commands/stop.js";
import { restartCommand } from "./commands/restart.js";
import { consoleCommand } from "./commands/console.js";
import { archiveCommand } from "./commands/archive.js";
import { restoreCommand } from "./commands/restore.js";
import { updateCommand } from "./commands/update.js";
import { statusCommand } from "./commands/status.js";
import { doctorCommand } from "./commands/doctor.js";
import { fwWatchCommand } from "./commands/fw/watch.js";
import { demoCommand } from "./commands/demo.js";
import { exposeCommand } from "./commands/expose.js";
import { unexposeCommand } from "./commands/unexpose.js";
import { portsCommand } from "./commands/ports.js";
import { fwSetupCommand } from "./commands/fw/setup.js";
import { fwSyncCommand } from "./commands/fw/sync.js";
import { fwShowCommand } from "./commands/fw/show.js";
import { fwTraceCommand } from "./commands/fw/trace.js";
import { fwLintCommand } from "./commands/fw/lint.js";
import { fwIpftestCommand } from "./commands/fw/ipftest.js";
import { bootInstallCommand } from "./commands/boot/install.js";
import { bootStartCommand } from "./commands/boot/start.js";
import { bootStopCommand } from "./commands/boot/stop.js";
import { applyCommand } from "./commands/apply.js";
import { exportCommand } from "./commands/export.js";

/**
 * Every qjail command, listed once, explicitly (no discovery at run time),
 * in the order of 'qjail help' (src/cli/help.ts HELP_GROUPS).
 * test/cli/registry.test.ts checks each has a description, an example and a
 * man page in man/.
 */
export const COMMANDS: readonly CommandDef[] = [
  installCommand,
  createCommand,
  listCommand,
  startCommand,
  stopCommand,
  restartCommand,
  consoleCommand,
  configCommand,
  deleteCommand,
  archiveCommand,
  restoreCommand,
  updateCommand,
  exposeCommand,
  unexposeCommand,
  portsCommand,
  fwSetupCommand,
  fwSyncCommand,
  fwShowCommand,
  fwLintCommand,
  fwTraceCommand,
  fwIpftestCommand,
  fwWatchCommand,
  statusCommand,
  doctorCommand,
  demoCommand,
  applyCommand,
  exportCommand,
  bootInstallCommand,
  bootStartCommand,
  bootStopCommand,
  helpCommand,
];

/** The commands whose path starts with these words and is longer (`fw` → fw setup, fw sync, …). */
export function commandsUnder(words: readonly string[]): CommandDef[] {
  return commandsUnderIn(COMMANDS, words);
}

/** The command whose path is the longest prefix of argv, and the remaining words. */
export function findCommand(argv: readonly string[]): { def: CommandDef; rest: string[] } | undefined {
  return findCommandIn(COMMANDS, argv);
}
