import { existsSync, lstatSync, readdirSync, readFileSync } from "node:fs";
import { UsageError, shown } from "../core/errors.js";
import { FREEBSD } from "../core/freebsd/programs.js";
import { physical, type HostLayout } from "../core/paths.js";
import type { Plan } from "../core/plan.js";
import {
  NEWSYSLOG_CONF,
  NEWSYSLOG_QJAIL,
  NEWSYSLOG_LINE,
  SHARED_BINARY_DIRS,
  planLogging,
  planPortsGit,
  planUpdateBinaries,
  planUpdateTree,
} from "../core/plan-update.js";
import type { PlatformChoice } from "../platform/index.js";
import type { Platform } from "../platform/types.js";
import { assertInstalled, assertZoneKnown, readJails } from "../store/jails.js";
import type { OpsIo } from "./io.js";
import { openJailRuntime } from "./jail-runtime.js";

/** What `update` does: -b, -p, -P, -S, or -l on|off. */
export type UpdateWhat = "binaries" | "portsnap" | "ports" | "source" | "log";

export interface UpdateRequest {
  layout: HostLayout;
  what: UpdateWhat;
  /** For `log`: on (true) or off. */
  logOn?: boolean;
  dryRun: boolean;
}

/**
 * `update`: plan the refresh of the shared base (or the log switch) from the
 * host as it is — refused while a jail of the zone runs, except for -l — and
 * apply it under the host lock unless `dryRun`. `simulated`: the platform
 * only showed the plan's commands (under --root), so the caller says so.
 */
export async function updateShared(
  choice: PlatformChoice,
  io: OpsIo,
  req: UpdateRequest,
): Promise<{ plan: Plan; simulated: boolean }> {
  const rt = openJailRuntime(choice, io, req.layout);
  const plan = await planUpdate(choice.root, rt.platform, req);
  if (req.dryRun) return { plan, simulated: false };
  await rt.locked(() => rt.apply(plan));
  const simulated = rt.platform.simulated === true && plan.steps.some((st) => st.kind === "run");
  return { plan, simulated };
}

async function planUpdate(root: string, platform: Platform, req: UpdateRequest): Promise<Plan> {
  const { layout, what } = req;
  const P = (p: string): string => physical(root, p);
  if (what === "log") {
    await assertZoneKnown(root, layout);
    const newsyslog = [NEWSYSLOG_CONF, NEWSYSLOG_QJAIL]
      .map((f) => (existsSync(P(f)) ? readFileSync(P(f), "utf8") : ""))
      .join("");
    return planLogging(layout, req.logOn === true, newsyslog.includes(NEWSYSLOG_LINE.trim()));
  }
  await assertInstalled(root, layout);
  const live = await platform.liveJails();
  const running = (await readJails(root, layout)).jails.filter((j) => live.has(j.name)).map((j) => j.name);
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
    return planUpdateBinaries(layout, hostDirs, perl);
  }
  if (what === "portsnap") {
    const git = platform.name === "freebsd" ? FREEBSD.git : "/usr/bin/git";
    if (root === "/" && !existsSync(git))
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
    return planPortsGit(layout, git, cloned);
  }
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
  return planUpdateTree(layout, tree);
}
