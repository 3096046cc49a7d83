import { hostLayout, type HostLayout } from "../core/paths.js";
import { UsageError } from "../core/errors.js";
import type { HostConfig } from "../core/hostconfig.js";
import type { Exposure, JailAddresses } from "../core/exposure.js";
import {
  readExposures,
  readHostConfig,
  refuseDamaged,
  type ExposureStoreProblem,
} from "../store/exposures.js";
import { withHostLock } from "../store/lock.js";
import { platformNameFor, type PlatformChoice } from "../platform/index.js";
import { hostFacts } from "./host-facts.js";
import { loadJailAddresses } from "./sync.js";

/**
 * The state every firewall use case starts from (expose, unexpose, ports,
 * the fw commands, the reconciler): the host config, every jail's addresses
 * and every exposure. Exposures are host-wide (one public port space), so
 * they use the default layout whatever the zone.
 */
export interface ExposeState {
  root: string;
  layout: HostLayout;
  platformName: "freebsd" | "linux";
  host: HostConfig;
  hostProblems: string[];
  exposures: Exposure[];
  exposureProblems: ExposureStoreProblem[];
  jails: JailAddresses[];
}

export async function loadExposeState(choice: PlatformChoice): Promise<ExposeState> {
  const root = choice.root;
  const layout = hostLayout();
  const platformName = platformNameFor(choice);
  const facts = await hostFacts(choice);
  const hc = await readHostConfig(root, layout, platformName, facts);
  const { exposures, problems } = await readExposures(root, layout);
  const jails = await loadJailAddresses(root, layout);
  return {
    root,
    layout,
    platformName,
    host: hc.config,
    hostProblems: hc.problems.map((p) => `${layout.hostConfig} line ${p.line}: ${p.message}`),
    exposures,
    exposureProblems: problems,
    jails,
  };
}

/** Commands that change the firewall refuse while the host config or an exposure file is damaged. */
export function refuseBrokenState(state: ExposeState): void {
  const first = state.hostProblems[0];
  if (first)
    throw new UsageError(
      "QJ3001",
      first,
      `Fix that line of ${state.layout.hostConfig}; its keys are described in qjail-fw-setup(8).`,
    );
  refuseDamaged(state.exposureProblems);
}

/**
 * Load state and check the request (`check` throws the refusal), then do it
 * under the host lock, checking again there because another qjail may have
 * changed the state meanwhile. The first check runs before the lock so a
 * refusal does not even create the lock file: a refusal changes nothing on disk.
 */
export async function checkThenLocked<C, T>(
  target: { root: string; dryRun: boolean },
  check: () => Promise<C>,
  fn: (checked: C) => Promise<T>,
): Promise<T> {
  const first = await check();
  if (target.dryRun) return fn(first);
  return withHostLock(target.root, async () => fn(await check()));
}
