import type { Writable } from "node:stream";
import type { GlobalOptions } from "../cli/command.js";
import type { Platform } from "./types.js";
import { createFreebsdPlatform } from "./freebsd/index.js";
import { createLinuxPlatform } from "./linux/index.js";

export interface PlatformIo {
  /** Where a backend echoes commands it does not execute (under --root). */
  stderr?: Writable;
  /** The command's environment (ctx.env), for recorded host outputs. */
  env?: Readonly<Record<string, string | undefined>>;
}

/** The platform a command runs on: --platform / QJAIL_PLATFORM, else the OS qjail runs on. */
export function platformFor(global: Pick<GlobalOptions, "platform" | "root">, io: PlatformIo = {}): Platform {
  const name = global.platform ?? (process.platform === "freebsd" ? "freebsd" : "linux");
  return name === "freebsd" ? createFreebsdPlatform(global.root, io) : createLinuxPlatform(global.root);
}
