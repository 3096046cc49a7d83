import { decideLifecycle, type LifecycleDecision } from "./plan-start.js";
import type { JailSpec, LiveJail } from "../platform/types.js";

/**
 * `qjail stop`: each selected jail that runs is stopped; a stopped one gets
 * "Jail already stopped.      <name>", a `.norun` one is bypassed
 * (qjail-5.md §4.4). The decisions are shared with start and restart
 * ({@link decideLifecycle}).
 */
export function decideStop(
  jails: readonly JailSpec[],
  live: ReadonlyMap<string, LiveJail>,
): LifecycleDecision[] {
  return decideLifecycle("stop", jails, live);
}
