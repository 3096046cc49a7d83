import { hostLayout, physical } from "../core/paths.js";
import {
  buildUpdateRequest,
  watchLoop,
  type DyndnsSettings,
  type WatchEffects,
  type WatchOutcome,
} from "../core/dyndns.js";
import { readFirewallState, readHostConfig } from "../store/exposures.js";
import { readWatchState, updateWatchState, watchStatePath } from "../store/watch-state.js";
import { platformFor, type PlatformChoice } from "../platform/index.js";
import { sendUpdate } from "../platform/dyndns-client.js";
import { publicAddress } from "./gather-facts.js";
import { syncFirewall } from "./repair.js";
import type { OpsIo } from "./io.js";

export interface WatchRequest {
  intervalMs: number;
  /** Check once and return (`--once`). */
  once: boolean;
  /** DNS updates (dyndns2), already validated, password read. */
  dyndns?: DyndnsSettings;
  /** Aborted when the process is asked to stop (SIGTERM from rc.d/systemd): the loop ends after the current check. */
  stop: AbortSignal;
  now(): Date;
  /** One progress line (the caller adds the time stamp and the command name). */
  log(line: string): void;
}

/**
 * `qjail fw watch`: follow ext_if's IPv4 address; on a change re-sync the rules
 * exactly as `fw sync` does (src/ops/repair.ts syncFirewall, under the host
 * lock) and, when configured, point the DNS name at it. The addresses last
 * synced and last sent are kept in /var/db/qjail/watch.state so a restart
 * neither re-sends nor misses a change made while the watcher was down; the
 * first known synced address falls back to firewall.state's.
 */
export async function watchAddress(
  choice: PlatformChoice,
  io: OpsIo,
  req: WatchRequest,
): Promise<{ extIf: string; outcome: WatchOutcome }> {
  const layout = hostLayout();
  const platform = platformFor(choice, io);
  const { config } = await readHostConfig(choice.root, layout, platform.name);
  const state = await readFirewallState(choice.root, layout);
  const statePath = physical(choice.root, watchStatePath());
  const syncedAddress = (await readWatchState(statePath)).synced_address ?? state?.extAddress ?? undefined;
  let wake: (() => void) | undefined;
  const onAbort = (): void => wake?.();
  req.stop.addEventListener("abort", onAbort);
  const fx: WatchEffects = {
    currentAddress: () => publicAddress(platform.name, config.extIf),
    resync: () => syncFirewall(choice, io),
    loadLastUpdated: async () => (await readWatchState(statePath)).dyndns_address,
    saveLastUpdated: (address) => updateWatchState(statePath, { dyndns_address: address }),
    saveLastSynced: (address) => updateWatchState(statePath, { synced_address: address }),
    sleep: (ms) =>
      new Promise((resolve) => {
        if (req.stop.aborted) return resolve();
        const t = setTimeout(resolve, ms);
        wake = () => {
          clearTimeout(t);
          resolve();
        };
      }),
    stopRequested: () => req.stop.aborted,
    now: () => req.now().getTime(),
    log: req.log,
  };
  const settings = req.dyndns;
  if (settings) fx.update = (address) => sendUpdate(buildUpdateRequest(settings, address));
  req.log(
    `${req.once ? `checking ${config.extIf} once` : `following ${config.extIf} every ${req.intervalMs / 1000} s`}${settings ? `, DNS name ${settings.hostname}` : ""}`,
  );
  try {
    const outcome = await watchLoop(fx, {
      intervalMs: req.intervalMs,
      backoffMs: 30 * 60_000,
      maxBackoffMs: 4 * 3600_000,
      ...(req.once ? { maxChecks: 1 } : {}),
      ...(syncedAddress ? { syncedAddress } : {}),
    });
    return { extIf: config.extIf, outcome };
  } finally {
    req.stop.removeEventListener("abort", onAbort);
  }
}
