import type { LiveJail } from "../core/jail.js";
import { platformNameFor, type PlatformChoice, type PlatformIo } from "./choice.js";
import { freebsdLiveJails, hostQuery, runHostProgram } from "./freebsd/query.js";
import { linuxLiveJails } from "./linux/state.js";

/**
 * The running jails, as Platform.liveJails() reports them, without making a
 * platform: `qjail list` needs nothing else of a backend, and loading one
 * (the firewall engines, archives, downloads…) was a third of its start-up.
 * The platforms' own liveJails() call the same functions.
 */
export async function liveJailsOf(
  choice: PlatformChoice,
  io: PlatformIo = {},
): Promise<Map<string, LiveJail>> {
  if (platformNameFor(choice) === "linux") return linuxLiveJails(choice.root);
  const env = io.env ?? {};
  return freebsdLiveJails(hostQuery(runHostProgram), choice.root === "/", env.QJAIL_JLS_JSON);
}
