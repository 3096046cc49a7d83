import { existsSync, lstatSync, readdirSync, readFileSync } from "node:fs";
import { defineCommand } from "../command.js";
import { write } from "../context.js";
import { formatPlan, type Plan } from "../../core/plan.js";
import { hostLayout, physical } from "../../core/paths.js";
import { UsageError, shown } from "../../core/errors.js";
import { validateZoneName } from "../../core/validate.js";
import {
  NEWSYSLOG_CONF,
  NEWSYSLOG_QJAIL,
  NEWSYSLOG_LINE,
  SHARED_BINARY_DIRS,
  planLogging,
  planPortsGit,
  planUpdateBinaries,
  planUpdateTree,
} from "../../core/plan-update.js";
import { assertInstalled, assertZoneKnown, readJails } from "../../store/jails.js";
import { withHostLock } from "../../store/lock.js";
import { platformFor } from "../../platform/index.js";
import { FREEBSD } from "../../core/freebsd/programs.js";

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
    const P = (p: string): string => physical(global.root, p);
    const platform = platformFor(global, { stderr: ctx.stderr, env: ctx.env });
    let plan: Plan;
    if (what === "log") {
      const v = values.log;
      if (v !== "on" && v !== "off")
        throw new UsageError(
          "QJ1703",
          `-l takes on or off, got ${shown(String(v))}`,
          "Run 'qjail update -l on' or 'qjail update -l off'.",
        );
      await assertZoneKnown(global.root, layout);
      const newsyslog = [NEWSYSLOG_CONF, NEWSYSLOG_QJAIL]
        .map((f) => (existsSync(P(f)) ? readFileSync(P(f), "utf8") : ""))
        .join("");
      plan = planLogging(layout, v === "on", newsyslog.includes(NEWSYSLOG_LINE.trim()));
    } else {
      await assertInstalled(global.root, layout);
      const live = await platform.liveJails();
      const running = (await readJails(global.root, layout)).jails
        .filter((j) => live.has(j.name))
        .map((j) => j.name);
      if (running.length > 0)
        throw new UsageError(
          "QJ1704",
          `All jails have to be stopped; running: ${running.map(shown).join(" ")}`,
          "Run 'qjail stop' first, then the update, then 'qjail start'.",
        );
      if (what === "binaries") {
        const hostDirs = SHARED_BINARY_DIRS.filter((d) => existsSync(P(`/${d}`)));
        if (hostDirs.length === 0)
          throw new UsageError(
            "QJ1705",
            "the host has none of the directories to copy (bin, lib, usr/bin, ...)",
            "Check --root: it must be the host's root directory.",
          );
        const perl = lstatSync(P(`${layout.sharedfs}/usr/bin/perl`), { throwIfNoEntry: false }) !== undefined;
        plan = planUpdateBinaries(layout, hostDirs, perl);
      } else if (what === "portsnap") {
        const git = platform.name === "freebsd" ? FREEBSD.git : "/usr/bin/git";
        if (global.root === "/" && !existsSync(git))
          throw new UsageError(
            "QJ1707",
            `update -p needs git, and ${git} does not exist`,
            "Install it: pkg install git",
          );
        const ports = P(`${layout.sharedfs}/usr/ports`);
        const cloned = existsSync(`${ports}/.git`);
        if (!cloned && existsSync(ports) && readdirSync(ports).length > 0)
          throw new UsageError(
            "QJ1708",
            `${shown(`${layout.sharedfs}/usr/ports`)} holds a ports tree that is not a git clone (portsnap or -P made it)`,
            `Remove it (rm -rf ${layout.sharedfs}/usr/ports/*) and run 'qjail update -p' again, or keep copying the host's tree with -P.`,
          );
        plan = planPortsGit(layout, git, cloned);
      } else {
        const tree = what === "ports" ? "usr/ports" : "usr/src";
        for (const p of [`/${tree}`, `${layout.sharedfs}/${tree}`]) {
          if (!existsSync(P(p)))
            throw new UsageError(
              "QJ1706",
              `${shown(p)} does not exist`,
              what === "ports"
                ? "Get a ports tree on the host first (e.g. git clone of the ports repository into /usr/ports)."
                : "Get the source on the host first (e.g. src.txz or git into /usr/src).",
            );
        }
        plan = planUpdateTree(layout, tree);
      }
    }
    const human = global.json ? ctx.stderr : ctx.stdout;
    if (global.dryRun) human.write(formatPlan(plan));
    else {
      await withHostLock(global.root, () => platform.apply(plan));
      const simulated = platform.simulated === true && plan.steps.some((st) => st.kind === "run");
      for (const m of plan.messages ?? [])
        write(human, simulated ? `${m}   (simulated: not run under --root)` : m);
    }
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
