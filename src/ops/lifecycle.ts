import { promises as fsp } from "node:fs";
import { physical } from "../core/paths.js";
import { planClearPoststartssh } from "../core/plan-start.js";
import type { JailSpec } from "../core/jail.js";
import type { Platform } from "../platform/types.js";

/**
 * Start one jail (for start, restart and apply): the platform starts it;
 * the first start of a `create -c` jail adds the one-time user, so that
 * set-up is then taken out of the record and the jail.conf block.
 */
export async function startJail(platform: Platform, root: string, jail: JailSpec): Promise<void> {
  await platform.start(jail);
  await clearOneTimeSsh(platform, root, jail);
}

/** After a successful start: the one-time `create -c` user set-up leaves the record and jail.conf. */
export async function clearOneTimeSsh(platform: Platform, root: string, jail: JailSpec): Promise<void> {
  if (jail.record.poststartssh !== "") {
    const conf = await fsp.readFile(physical(root, jail.confPath), "utf8").catch(() => undefined);
    const clear = conf === undefined ? undefined : planClearPoststartssh(jail, conf);
    if (clear) await platform.apply(clear);
  }
}
