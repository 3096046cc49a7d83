import { hostLayout } from "../core/paths.js";
import { specFromHost, type ExportJail } from "../core/spec-export.js";
import type { RawSpec } from "../core/spec.js";
import { assertZoneKnown, readHostFile, readJails } from "../store/jails.js";
import { readExposures, refuseDamaged } from "../store/exposures.js";
import { platformFor, type PlatformChoice } from "../platform/index.js";
import type { OpsIo } from "./io.js";

/**
 * Use case `qjail export`: load the zone's records, the host file, the
 * exposures and the running jails, and describe them as a spec (pure part:
 * src/core/spec-export.ts). Reads only; no lock is taken.
 */
export interface ExportResult {
  spec: RawSpec;
  skipped: { name: string; why: string }[];
}

export async function exportHost(
  choice: PlatformChoice,
  zone: string | undefined,
  io: OpsIo,
): Promise<ExportResult> {
  const root = choice.root;
  const platform = platformFor(choice, io);
  const layout = hostLayout(zone);
  await assertZoneKnown(root, layout);
  const [{ jails }, live, hostFile, exp] = await Promise.all([
    readJails(root, layout),
    platform.liveJails(),
    readHostFile(root, layout.hostConfig),
    readExposures(root, hostLayout()),
  ]);
  refuseDamaged(exp.problems);
  const names = new Set(jails.map((j) => j.name));
  const input: ExportJail[] = jails.map((j) => ({
    name: j.name,
    status: j.status,
    record: j.record,
    running: live.has(j.name),
  }));
  return specFromHost({
    zone,
    hostFile,
    jails: input,
    exposures: exp.exposures.filter((e) => names.has(e.jail)),
  });
}
