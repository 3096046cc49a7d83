import type { FirewallKind, HostConfig } from "../core/hostconfig.js";
import type { FirewallModel } from "../core/exposure.js";
import type { Plan } from "../core/plan.js";
import type { HostLayout } from "../core/paths.js";

/**
 * What the firewall loaders (src/platform/freebsd/firewall.ts,
 * src/platform/linux/firewall.ts) have in common: render the model into rule
 * text and a plan, then load it safely: validate (parse back, then the
 * firewall's own dry-run) → load atomically → verify what is live. Any failure
 * puts the previous rules back before the error propagates; the caller
 * records state only after a verified load.
 */

export interface RenderedRules {
  kind: FirewallKind;
  /** Rule texts by name (file path, anchor or table), for `fw show`, --dry-run and the state record. */
  rules: Record<string, string>;
  /** The exact steps, as --dry-run prints them and tests pin them. */
  plan: Plan;
  /** Findings to show (exposures a firewall cannot express...). */
  warnings: string[];
}

export interface LoadContext {
  /** Physical root ("/" on a real host). */
  root: string;
  layout: HostLayout;
  /** Whether programs may run (false: files only, the load stays pending). */
  runCommands: boolean;
  /** The last verified rules (from firewall.state), for an address-change resync. */
  previousExtAddress: string | null;
}

export interface LoadResult {
  /** True when the rules were loaded and verified live; false when only files were written. */
  active: boolean;
  extAddress: string | null;
}

export interface FirewallLoader {
  readonly kind: FirewallKind;
  render(model: FirewallModel, ctx: LoadContext): Promise<RenderedRules>;
  /** Load rendered rules; on failure restores the previous rules and throws. */
  load(rendered: RenderedRules, ctx: LoadContext): Promise<LoadResult & { restore: () => Promise<void> }>;
  /**
   * Are qjail's rules in the running firewall at all? false after a firewall
   * restart or flush (so `ports` stops calling recorded exposures active).
   * Only asked when programs may run.
   */
  isLive(host: HostConfig): Promise<boolean>;
}

/** A load failed; the previous rules are back in force. */
export class FirewallLoadError extends Error {
  constructor(
    message: string,
    readonly stage: "validate" | "load" | "verify",
  ) {
    super(message);
    this.name = "FirewallLoadError";
  }
}
