import { posix } from "node:path";
import { defineCommand, refuseOperands } from "../../command.js";
import { write } from "../../context.js";
import { UsageError, shown } from "../../../core/errors.js";
import { validateDyndnsSettings, type DyndnsSettings } from "../../../core/dyndns.js";
import { readPasswordFile } from "../../../platform/dyndns-client.js";
import { watchAddress } from "../../../ops/watch.js";

const DYNDNS_OPTIONS = ["dyndns-url", "dyndns-user", "dyndns-password-file", "hostname"] as const;

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

    const stop = new AbortController();
    const signalled = (): void => stop.abort();
    process.on("SIGTERM", signalled);
    process.on("SIGINT", signalled);
    try {
      const { outcome } = await watchAddress(
        global,
        { stderr: ctx.stderr, env: ctx.env },
        {
          intervalMs: Number(intervalText) * 1000,
          once: values.once === true,
          ...(dyndns ? { dyndns } : {}),
          stop: stop.signal,
          now: () => ctx.now(),
          log: (line) => write(ctx.stdout, `${ctx.now().toISOString()} fw watch: ${line}`),
        },
      );
      if (outcome.stopped)
        throw new UsageError(
          "QJ5113",
          `fw watch stopped: ${outcome.stopped.message}`,
          "Fix the account settings, then start the watcher again.",
        );
    } finally {
      process.off("SIGTERM", signalled);
      process.off("SIGINT", signalled);
    }
    return 0;
  },
});
