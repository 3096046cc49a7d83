import type { Platform } from "../types.js";
import { UsageError } from "../../core/errors.js";

// Placeholder until the linux backend lands: every operation refuses clearly.
export function createLinuxPlatform(root: string): Platform {
  const unavailable = (): never => {
    throw new UsageError("QJ1999", "the linux backend is not available in this build", "Use --platform to pick another backend.");
  };
  return {
    name: "linux",
    root,
    apply: unavailable,
    liveJails: unavailable,
    defaultJailInterface: unavailable,
    planStart: unavailable,
    start: unavailable,
    planStop: unavailable,
    stop: unavailable,
    planConsole: unavailable,
    console: unavailable,
  };
}
