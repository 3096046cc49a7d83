import { hostLayout, type HostLayout } from "../core/paths.js";
import { validateZoneName } from "../core/validate.js";

/** The layout of the zone a command's -z option names (the default zone without one). */
export function zoneLayout(zone: unknown): HostLayout {
  if (zone === undefined) return hostLayout();
  return hostLayout(validateZoneName(String(zone)));
}
