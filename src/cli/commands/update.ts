import { defineCommand } from "../command.js";
import { write } from "../context.js";
import { formatPlan } from "../../core/plan.js";
import { hostLayout } from "../../core/paths.js";
import { UsageError, shown } from "../../core/errors.js";
import { validateZoneName } from "../../core/validate.js";
import { updateShared } from "../../ops/update.js";

/** The option letters, for messages (the option names are internal). */
const UPDATE_FLAGS = { binaries: "-b", portsnap: "-p", ports: "-P", source: "-S", log: "-l" } as const;

export const updateCommand = defineCommand({
  path: ["update"],
  summary: "Refresh the shared base from the host: binaries, ports, source; or turn the qjail log on/off.",
  usage: ["update [-z zone] -b | -p | -P | -S | -l on|off"],
  details: `
Exactly one option:
  -b   copy the host's running binaries into sharedfs (bin lib libexec sbin usr/bin
       usr/include usr/lib usr/lib32 usr/libdata usr/libexec usr/sbin usr/share, each that
       the host has, replacing sharedfs's copy), clear schg/sunlnk flags, and add
       usr/bin/perl -> /usr/local/bin/perl when missing. Update the host first
       (freebsd-update or buildworld). Jails' own /etc trees are not touched.
  -p   fetch the ports tree into sharedfs/usr/ports with git: a shallow clone of
       https://git.FreeBSD.org/ports.git the first time, 'git pull --ff-only' after.
       Changed on purpose: qjail 5.x ran portsnap, which FreeBSD 14.0 removed from
       the base system. Needs git (pkg install git). A tree that is not a git
       clone (from portsnap or -P) is refused: remove it first.
  -P   replace sharedfs/usr/ports with a copy of the host's /usr/ports.
  -S   replace sharedfs/usr/src with a copy of the host's /usr/src.
  -l on|off   create /var/log/qjail.log and its newsyslog line
       (/usr/local/etc/newsyslog.conf.d/qjail.conf), or remove the log.
-b, -p, -P and -S are refused while any jail of the zone runs.`,
  examples: [
    {
      command: "qjail update -b",
      description: "after freebsd-update on the host, give every jail the new binaries",
    },
    { command: "qjail --dry-run update -S", description: "show how sharedfs/usr/src would be replaced" },
    { command: "qjail update -l on", description: "log every qjail command to /var/log/qjail.log" },
  ],
  options: {
    zone: { type: "string", short: "z" },
    binaries: { type: "boolean", short: "b" },
    portsnap: { type: "boolean", short: "p" },
    ports: { type: "boolean", short: "P" },
    source: { type: "boolean", short: "S" },
    log: { type: "string", short: "l" },
  },
  json: true,
  mutates: true,
  async run({ ctx, values, positionals, global }) {
    const zone = typeof values.zone === "string" ? validateZoneName(values.zone) : undefined;
    const chosen = (["binaries", "portsnap", "ports", "source", "log"] as const).filter(
      (k) => values[k] !== undefined,
    );
    if (chosen.length !== 1) {
      throw new UsageError(
        "QJ1701",
        chosen.length === 0
          ? "no update option given"
          : `only one option at a time, got ${chosen.map((k) => UPDATE_FLAGS[k]).join(" and ")}`,
        "Run 'qjail update -b', '-p', '-P', '-S' or '-l on|off'.",
      );
    }
    if (positionals.length > 0)
      throw new UsageError(
        "QJ1702",
        `update takes no arguments, got ${positionals.map(shown).join(" ")}`,
        "Run 'qjail help update'.",
      );
    const what = chosen[0] as (typeof chosen)[number];
    const layout = hostLayout(zone);
    const v = values.log;
    if (what === "log" && v !== "on" && v !== "off")
      throw new UsageError(
        "QJ1703",
        `-l takes on or off, got ${shown(String(v))}`,
        "Run 'qjail update -l on' or 'qjail update -l off'.",
      );
    const { plan, simulated } = await updateShared(
      global,
      { stderr: ctx.stderr, env: ctx.env },
      { layout, what, logOn: v === "on", dryRun: global.dryRun },
    );
    const human = global.json ? ctx.stderr : ctx.stdout;
    if (global.dryRun) human.write(formatPlan(plan));
    else
      for (const m of plan.messages ?? [])
        write(human, simulated ? `${m}   (simulated: not run under --root)` : m);
    if (global.json)
      write(
        ctx.stdout,
        JSON.stringify({
          command: "update",
          option: what,
          dryRun: global.dryRun,
          title: plan.title,
          steps: plan.steps.length,
        }),
      );
    return 0;
  },
});
