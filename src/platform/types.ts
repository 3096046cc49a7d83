import type { Plan } from "../core/plan.js";

/** A jail the kernel knows about right now. */
export interface LiveJail {
  name: string;
  jid: number;
  path: string;
  ip4: string[];
  ip6: string[];
}

/**
 * The only code that touches the system. One implementation per OS
 * (src/platform/freebsd, src/platform/linux); commands get one from
 * src/platform/index.ts and never branch on the OS themselves.
 */
export interface Platform {
  readonly name: "freebsd" | "linux";
  /** Physical root under which every logical host path lives ("/" normally). */
  readonly root: string;
  /** Execute a plan (file steps, and `run` steps where this platform can). */
  apply(plan: Plan): Promise<void>;
  /** Every running jail, from one query (one `jls --libxo json` on FreeBSD). */
  liveJails(): Promise<Map<string, LiveJail>>;
}
