import type { GlobalOptions } from "../cli/command.js";
import type { Platform } from "./types.js";
import { createFreebsdPlatform } from "./freebsd/index.js";
import { createLinuxPlatform } from "./linux/index.js";

/** The platform a command runs on: --platform / QJAIL_PLATFORM, else the OS qjail runs on. */
export function platformFor(global: Pick<GlobalOptions, "platform" | "root">): Platform {
  const name = global.platform ?? (process.platform === "freebsd" ? "freebsd" : "linux");
  return name === "freebsd" ? createFreebsdPlatform(global.root) : createLinuxPlatform(global.root);
}
