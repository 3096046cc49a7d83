import { UsageError, shown } from "../core/errors.js";
import type { ConsoleRequest } from "../core/jail.js";
import type { HostLayout } from "../core/paths.js";
import type { Plan } from "../core/plan.js";
import { platformFor, type PlatformChoice } from "../platform/index.js";
import { assertZoneKnown, readJails, selectJails } from "../store/jails.js";
import type { OpsIo } from "./io.js";

/**
 * `console`: the named jail, refused when it is norun or not running; then
 * the session (login, or one command) through the platform on the caller's
 * terminal, or under `dryRun` the plan of it. Returns the session's exit
 * status, or the plan.
 */
export async function jailConsole(
  choice: PlatformChoice,
  io: OpsIo,
  req: { layout: HostLayout; name: string; session: ConsoleRequest; dryRun: boolean },
): Promise<{ code: number } | { plan: Plan }> {
  const { layout, name } = req;
  await assertZoneKnown(choice.root, layout);
  const [jail] = selectJails((await readJails(choice.root, layout)).jails, [name]);
  if (jail === undefined) throw new Error("internal: selectJails returned nothing for one name");
  if (jail.status === "norun") {
    throw new UsageError(
      "QJ1423",
      `This jail name is in norun status. ${shown(name)}`,
      `Take it out of norun status first: 'qjail config -R ${name}'.`,
    );
  }
  const platform = platformFor(choice, io);
  const live = await platform.liveJails();
  if (!live.has(jail.name)) {
    throw new UsageError(
      "QJ1424",
      `Jail is not running & it needs to be. ${shown(name)}`,
      `Start it first: 'qjail start ${name}'.`,
    );
  }
  if (req.dryRun) return { plan: platform.planConsole(jail, req.session) };
  return { code: await platform.console(jail, req.session) };
}
