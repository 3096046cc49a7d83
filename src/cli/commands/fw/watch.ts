import { promises as fsp } from "node:fs";
import { posix } from "node:path";
import { defineCommand, refuseOperands } from "../../command.js";
import { write } from "../../context.js";
import { UsageError, shown } from "../../../core/errors.js";
import { hostLayout, physical } from "../../../core/paths.js";
import {
  buildUpdateRequest,
  validateDyndnsSettings,
  watchLoop,
  type DyndnsSettings,
  type WatchEffects,
} from "../../../core/dyndns.js";
import { readFirewallState, readHostConfig } from "../../../store/exposures.js";
import { writeFileAtomic } from "../../../store/atomic.js";
import { platformFor } from "../../../platform/index.js";
import { publicAddress } from "../../../ops/gather-facts.js";
import { syncFirewall } from "../../../ops/repair.js";
import { readPasswordFile, sendUpdate } from "../../../platform/dyndns-client.js";

const DYNDNS_OPTIONS = ["dyndns-url", "dyndns-user", "dyndns-password-file", "hostname"] as const;

/** Where the watcher remembers the address it last gave the DNS provider (logical path). */
export function watchStatePath(): string {
  return `${hostLayout().stateDir}/watch.state`;
}

type WatchState = Partial<Record<"dyndns_address" | "synced_address", string>>;

/** watch.state: `key="value"` lines like qjail's other files; a damaged file only costs one extra sync/update. */
async function readWatchState(path: string): Promise<WatchState> {
  const out: WatchState = {};
  let text = "";
  try {
    text = await fsp.readFile(path, "utf8");
  } catch {
    return out;
  }
  for (const m of text.matchAll(/^(dyndns_address|synced_address)="([0-9.]+)"$/gm))
    out[m[1] as keyof WatchState] = m[2] as string;
  return out;
}

async function updateWatchState(path: string, change: WatchState): Promise<void> {
  const next = { ...(await readWatchState(path)), ...change };
  await fsp.mkdir(posix.dirname(path), { recursive: true });
  const text = (["dyndns_address", "synced_address"] as const)
    .filter((k) => next[k] !== undefined)
    .map((k) => `${k}="${next[k] as string}"\n`)
    .join("");
  await writeFileAtomic(path, text, 0o600);
}

export const fwWatchCommand = defineCommand({
  path: ["fw", "watch"],
  summary: "Follow the public address: re-sync the rules when it changes, optionally update DNS (dyndns2).",
  usage: [
    "fw watch [--interval seconds] [--once] [--dyndns-url url --dyndns-user user --dyndns-password-file file --hostname fqdn]",
  ],
  details: `
The howto's host has a dynamic address from its ISP. This command checks the
IPv4 address of the host config's ext_if every --interval seconds (default 60).
When it changes, qjail's rules are re-synced exactly as 'qjail fw sync' does
(on IPFilter that includes the page's 'ipf -y'), and, with the --dyndns-*
options, the DNS name is pointed at the new address through the dyndns2 update
protocol most registrars and DNS hosts accept.

The password is read from --dyndns-password-file, never from the command line
(where ps(1) shows it to every user); a file other users can read is refused
with the chmod that fixes it. The update URL must be https (plain http only to
a server on the loopback).

An address is sent at most once: the last one the provider accepted, and the
one the rules were synced for, are kept in /var/db/qjail/watch.state, so a
restart neither re-sends (providers block clients that repeat 'nochg') nor
misses a change made while the watcher was down. On 'abuse', '911' or 'dnserr' the watcher waits
30 minutes, doubling up to 4 hours, before trying again; on 'badauth',
'nohost', 'notfqdn', 'numhost', '!donator' or 'badagent' it stops with exit
status 3 and says what to fix. SIGTERM stops it after the current check.
etc/rc.d/qjail_watch and etc/systemd/qjail-watch.service run it at boot.`,
  examples: [
    {
      command: "qjail fw watch --once",
      description: "check the address once and re-sync the rules if needed",
    },
    {
      command:
        "qjail fw watch --dyndns-url https://members.dyndns.org/nic/update --dyndns-user alice --dyndns-password-file /usr/local/etc/qjail.dyndns --hostname host.example.org",
      description: "follow the address and keep host.example.org pointing at it",
    },
  ],
  options: {
    interval: { type: "string" },
    once: { type: "boolean" },
    "dyndns-url": { type: "string" },
    "dyndns-user": { type: "string" },
    "dyndns-password-file": { type: "string" },
    hostname: { type: "string" },
  },
  json: false,
  mutates: true,
  async run({ ctx, values, positionals, global }) {
    refuseOperands(positionals, "fw watch", "QJ5110", "Run 'qjail help fw watch' for the options.");
    const intervalText = (values.interval as string | undefined) ?? "60";
    if (!/^\d+$/.test(intervalText) || Number(intervalText) < 5 || Number(intervalText) > 86400) {
      throw new UsageError(
        "QJ5111",
        `--interval ${shown(intervalText)} is not a number of seconds from 5 to 86400`,
        "Give e.g. --interval 60.",
      );
    }
    const given = DYNDNS_OPTIONS.filter((k) => typeof values[k] === "string");
    if (given.length > 0 && given.length < DYNDNS_OPTIONS.length) {
      const missing = DYNDNS_OPTIONS.filter((k) => !given.includes(k));
      throw new UsageError(
        "QJ5112",
        `DNS updates need all of --${DYNDNS_OPTIONS.join(", --")}; missing --${missing.join(", --")}`,
        "Give all four, or none to only follow the address for the rules.",
      );
    }
    let dyndns: DyndnsSettings | undefined;
    if (given.length > 0) {
      const partial = {
        url: values["dyndns-url"] as string,
        user: values["dyndns-user"] as string,
        hostname: values.hostname as string,
      };
      validateDyndnsSettings(partial);
      const file = values["dyndns-password-file"] as string;
      // A path you type is used as given, never relocated under --root (C7).
      const path = posix.resolve(ctx.cwd, file);
      dyndns = { ...partial, password: await readPasswordFile(path, file) };
    }

    const layout = hostLayout();
    const platform = platformFor(global, { stderr: ctx.stderr, env: ctx.env });
    const { config } = await readHostConfig(global.root, layout, platform.name);
    const state = await readFirewallState(global.root, layout);
    const statePath = physical(global.root, watchStatePath());
    const syncedAddress = (await readWatchState(statePath)).synced_address ?? state?.extAddress ?? undefined;
    let stop = false;
    const onSignal = (): void => void (stop = true);
    let wake: (() => void) | undefined;
    const signalled = (): void => {
      onSignal();
      wake?.();
    };
    process.on("SIGTERM", signalled);
    process.on("SIGINT", signalled);
    const fx: WatchEffects = {
      currentAddress: () => publicAddress(platform.name, config.extIf),
      resync: () => syncFirewall(global, ctx),
      loadLastUpdated: async () => (await readWatchState(statePath)).dyndns_address,
      saveLastUpdated: (address) => updateWatchState(statePath, { dyndns_address: address }),
      saveLastSynced: (address) => updateWatchState(statePath, { synced_address: address }),
      sleep: (ms) =>
        new Promise((resolve) => {
          const t = setTimeout(resolve, ms);
          wake = () => {
            clearTimeout(t);
            resolve();
          };
        }),
      stopRequested: () => stop,
      now: () => ctx.now().getTime(),
      log: (line) => write(ctx.stdout, `${ctx.now().toISOString()} fw watch: ${line}`),
    };
    if (dyndns) {
      const settings = dyndns;
      fx.update = (address) => sendUpdate(buildUpdateRequest(settings, address));
    }
    write(
      ctx.stdout,
      `${ctx.now().toISOString()} fw watch: ${values.once === true ? `checking ${config.extIf} once` : `following ${config.extIf} every ${intervalText} s`}${dyndns ? `, DNS name ${dyndns.hostname}` : ""}`,
    );
    try {
      const out = await watchLoop(fx, {
        intervalMs: Number(intervalText) * 1000,
        backoffMs: 30 * 60_000,
        maxBackoffMs: 4 * 3600_000,
        ...(values.once === true ? { maxChecks: 1 } : {}),
        ...(syncedAddress ? { syncedAddress } : {}),
      });
      if (out.stopped)
        throw new UsageError(
          "QJ5113",
          `fw watch stopped: ${out.stopped.message}`,
          "Fix the account settings, then start the watcher again.",
        );
    } finally {
      process.off("SIGTERM", signalled);
      process.off("SIGINT", signalled);
    }
    return 0;
  },
});
