import { promises as fsp, readFileSync } from "node:fs";
import { createHash } from "node:crypto";
import type { FileOverlay } from "../core/plan.js";
import { overlaid, readHostFile } from "./jails.js";
import { physical, type HostLayout } from "../core/paths.js";
import { parseExposureFile, type Exposure } from "../core/exposure.js";
import {
  defaultHostConfig,
  parseHostConfig,
  type HostConfig,
  type HostConfigProblem,
  type HostFacts,
} from "../core/hostconfig.js";
import { UsageError } from "../core/errors.js";

/**
 * Readers of qjail's exposure files (/usr/local/etc/qjail.expose/<jail>), the
 * host config (/usr/local/etc/qjail.host) and the record of what qjail last
 * loaded into the firewall (/var/db/qjail/firewall.state). Writing goes
 * through plans (src/core/exposure.ts planExposureFile) or, for the state
 * record, through the firewall loaders after a verified load.
 */

export interface ExposureStoreProblem {
  file: string;
  line: number;
  message: string;
}

/** Every jail's exposures, in file-name order; damaged lines are reported, not thrown. */
export async function readExposures(
  root: string,
  layout: HostLayout,
  overlay?: FileOverlay,
): Promise<{ exposures: Exposure[]; problems: ExposureStoreProblem[] }> {
  let names: string[] = [];
  try {
    names = (await fsp.readdir(physical(root, layout.exposures), { withFileTypes: true }))
      .filter((d) => d.isFile() && !d.name.startsWith("."))
      .map((d) => d.name)
      .sort();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
  }
  let read = (n: string): string => readFileSync(physical(root, `${layout.exposures}/${n}`), "utf8");
  if (overlay !== undefined) ({ names, read } = overlaid(root, layout.exposures, names, read, overlay));
  const texts = names.map(read);
  const exposures: Exposure[] = [];
  const problems: ExposureStoreProblem[] = [];
  names.forEach((name, i) => {
    const parsed = parseExposureFile(name, texts[i] as string);
    exposures.push(...parsed.exposures);
    for (const p of parsed.problems) problems.push({ file: `${layout.exposures}/${name}`, ...p });
  });
  return { exposures, problems };
}

/** Refuse to change anything while an exposure file is damaged: a rewrite would silently drop the bad line. */
export function refuseDamaged(problems: readonly ExposureStoreProblem[]): void {
  const first = problems[0];
  if (first) {
    throw new UsageError(
      "QJ3002",
      `${first.file} line ${first.line}: ${first.message}`,
      "Fix or delete that line, then run the command again.",
    );
  }
}

/**
 * The host config over the platform's detected defaults. `problems` lists
 * every bad line; callers that change the firewall refuse on any (QJ3001).
 */
export async function readHostConfig(
  root: string,
  layout: HostLayout,
  platformName: "freebsd" | "linux",
  facts: HostFacts = {},
): Promise<{ config: HostConfig; problems: HostConfigProblem[]; exists: boolean }> {
  const defaults = defaultHostConfig(platformName, facts);
  const text = await readHostFile(root, layout.hostConfig);
  if (text === undefined) return { config: defaults, problems: [], exists: false };
  return { ...parseHostConfig(text, defaults), exists: true };
}

/** What qjail last loaded and verified, so `ports` can say active/pending and `fw sync` can notice an address change. */
export interface FirewallState {
  firewall: HostConfig["firewall"];
  /** The exposure lines that were live after the last verified load (formatExposureLine + jail). */
  active: string[];
  /** The public address of ext_if at that load, when known (IPFilter needs `ipf -y` when it changes). */
  extAddress: string | null;
  /** The exact rule text loaded, per file/anchor/table name, for `fw show` and rollback. */
  rules: Record<string, string>;
}

export function firewallStatePath(layout: HostLayout): string {
  return `${layout.stateDir}/firewall.state`;
}

export async function readFirewallState(
  root: string,
  layout: HostLayout,
): Promise<FirewallState | undefined> {
  const text = await readHostFile(root, firewallStatePath(layout));
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as FirewallState;
  } catch {
    // A torn or hand-edited state only costs the active/pending display; the next sync rewrites it.
    return undefined;
  }
}

export function formatFirewallState(state: FirewallState): string {
  return JSON.stringify(state, null, 2) + "\n";
}

/**
 * What qjail last wrote without loading (under --root, or with loading off):
 * the firewall model the rule files were rendered from, and each written
 * file's SHA-256. While the model is the same and every file still has that
 * content, rendering again would write the same bytes, so a change that
 * leaves the model alone skips it (ops/reconcile.ts), as one does after a
 * verified load (firewall.state).
 */
export interface WrittenRules {
  firewall: HostConfig["firewall"];
  /** JSON of the firewall model (ops/sync.ts buildModel). */
  model: string;
  /** Logical path → SHA-256 (hex) of the content written there. */
  files: Record<string, string>;
}

export function writtenRulesPath(layout: HostLayout): string {
  return `${layout.stateDir}/firewall.written`;
}

export function sha256(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

export function formatWrittenRules(w: WrittenRules): string {
  return JSON.stringify(w, null, 2) + "\n";
}

export async function readWrittenRules(root: string, layout: HostLayout): Promise<WrittenRules | undefined> {
  const text = await readHostFile(root, writtenRulesPath(layout));
  if (text === undefined) return undefined;
  try {
    const w = JSON.parse(text) as WrittenRules;
    return typeof w.model === "string" && typeof w.files === "object" && w.files !== null ? w : undefined;
  } catch {
    return undefined; // torn or hand-edited: the next change renders again
  }
}

/** True when every file still has the content whose hash was recorded. */
export async function filesUnchanged(root: string, files: Record<string, string>): Promise<boolean> {
  for (const [path, hash] of Object.entries(files)) {
    const text = await readHostFile(root, path);
    if (text === undefined || sha256(text) !== hash) return false;
  }
  return true;
}
