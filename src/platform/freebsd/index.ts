import type { Platform } from "../types.js";
import { UsageError } from "../../core/errors.js";

// Placeholder until the freebsd backend lands: every operation refuses clearly.
export function createFreebsdPlatform(root: string): Platform {
  const unavailable = (): never => {
    throw new UsageError("QJ1999", "the freebsd backend is not available in this build", "Use --platform to pick another backend.");
  };
  return {
    name: "freebsd",
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
