import type { HostFacts } from "../core/hostconfig.js";
import { hostLayout } from "../core/paths.js";
import { readGlobalJails } from "../store/jails.js";
import { detectHostFacts, platformNameFor, type PlatformChoice } from "../platform/index.js";

/**
 * The facts qjail's defaults for the host config come from — one answer for
 * create, fw setup, expose, status and doctor, so they agree (C3, C5):
 *
 * - detected in the network namespace qjail runs in: the Linux backend acts
 *   on that namespace even under --root, so its default route names ext_if
 *   there; FreeBSD's route(8) and rc.conf answer only on FreeBSD;
 * - the jails that exist: the interface their records name is jail_if, the
 *   /24 they share is jail_subnet.
 */
export async function hostFacts(choice: PlatformChoice): Promise<HostFacts> {
  const name = platformNameFor(choice);
  const detected = process.platform === name ? await detectHostFacts(name) : {};
  const jails = (await readGlobalJails(choice.root, hostLayout())).map((j) => ({
    interface: j.record.interface,
    ip4: j.record.ip4,
  }));
  return { ...detected, jails };
}
