import type { Writable } from "node:stream";

/** Which backend a command acts on, decided without loading one (src/platform/index.ts makes it). */

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
