import type { Writable } from "node:stream";
import type { Platform } from "./types.js";
import { createFreebsdPlatform } from "./freebsd/index.js";
import { createLinuxPlatform } from "./linux/index.js";
import type { HostFacts } from "../core/hostconfig.js";
import { detectLinuxHostFacts } from "./linux/firewall.js";
import { detectFreebsdHostFacts } from "./freebsd/firewall.js";

export type PlatformName = "freebsd" | "linux";

/** Which host a command acts on: the physical root and the platform asked for (--root, --platform). */
export interface PlatformChoice {
  root: string;
  /** undefined: the OS qjail runs on. */
  platform?: PlatformName | undefined;
}

export interface PlatformIo {
  /** Where a backend echoes commands it does not execute (under --root). */
  stderr?: Writable;
  /** The command's environment (ctx.env), for recorded host outputs. */
  env?: Readonly<Record<string, string | undefined>>;
}

/** The platform's name: --platform / QJAIL_PLATFORM, else the OS qjail runs on. The one place this is decided. */
export function platformNameFor(choice: Pick<PlatformChoice, "platform">): PlatformName {
  return choice.platform ?? (process.platform === "freebsd" ? "freebsd" : "linux");
}

/** The platform a command runs on. */
export function platformFor(choice: PlatformChoice, io: PlatformIo = {}): Platform {
  return platformNameFor(choice) === "freebsd"
    ? createFreebsdPlatform(choice.root, io)
    : createLinuxPlatform(choice.root);
}

/** Defaults the host config falls back to, detected on this machine (the default route's interface...). */
export function detectHostFacts(name: PlatformName): Promise<HostFacts> {
  return name === "linux" ? detectLinuxHostFacts() : detectFreebsdHostFacts();
}
