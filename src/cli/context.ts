import type { Writable } from "node:stream";

/**
 * Everything a command may touch of the outside world. Commands never use
 * process.stdout, console or process.cwd(), so tests run the whole CLI
 * in-process with captured streams (see test/helpers/cli.ts).
 */
export interface Ctx {
  stdout: Writable;
  stderr: Writable;
  env: Readonly<Record<string, string | undefined>>;
  cwd: string;
  now: () => Date;
  /** True when stdout is an interactive terminal (colour, progress bars). */
  isTTY: boolean;
  /** The effective user id qjail runs as; undefined: the process's own. */
  euid?: number;
}

export { writeLine as write } from "../ops/io.js";
