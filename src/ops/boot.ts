import { existsSync, promises as fsp } from "node:fs";
import { join } from "node:path";
import { installedProgram, packageRoot } from "../assets.js";
import { bootFiles, planBootInstall, renderBootFile, type InitSystem } from "../core/boot.js";
import { UsageError } from "../core/errors.js";
import type { Plan } from "../core/plan.js";
import { VERSION } from "../version.js";
import { applyPlan } from "../platform/apply.js";
import { platformNameFor, type PlatformChoice } from "../platform/choice.js";
import { readHostFile } from "../store/jails.js";

/**
 * `boot install`: the start-up files shipped in qjail's package (rc.d
 * scripts on FreeBSD, systemd units on Linux), rendered to name the
 * installed qjail, planned against what the host has (an admin's own file
 * kept unless `force`), and applied unless `dryRun`.
 */
export async function installBootFiles(
  choice: PlatformChoice,
  req: { force: boolean; dryRun: boolean },
): Promise<{ plan: Plan; init: InitSystem; program: string }> {
  const { root } = choice;
  const init: InitSystem = platformNameFor(choice) === "freebsd" ? "rc.d" : "systemd";
  const program = installedProgram();
  const files = [];
  for (const file of bootFiles(init)) {
    const source = join(packageRoot(), file.source);
    const shipped = await fsp.readFile(source, "utf8").catch(() => {
      throw new UsageError(
        "QJ1803",
        `this qjail package has no ${file.source}`,
        "Reinstall qjail from its package; the boot files ship with it.",
      );
    });
    files.push({
      file,
      shipped,
      content: renderBootFile(shipped, program, VERSION),
      existing: await readHostFile(root, file.target),
    });
  }
  const plan = planBootInstall({
    init,
    files,
    force: req.force,
    // systemd reads units only after a reload; only on the real host, and only when it is systemd.
    reload: root === "/" && existsSync("/run/systemd/system"),
  });
  if (!req.dryRun) await applyPlan(plan, { root, runCommands: root === "/" });
  return { plan, init, program };
}
