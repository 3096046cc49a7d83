import { promises as fsp } from "node:fs";
import { posix } from "node:path";
import { hostLayout } from "../core/paths.js";
import { writeFileAtomic } from "./atomic.js";

/** Where `fw watch` remembers the address it last gave the DNS provider and synced the rules for (logical path). */
export function watchStatePath(): string {
  return `${hostLayout().stateDir}/watch.state`;
}

export type WatchState = Partial<Record<"dyndns_address" | "synced_address", string>>;

/** watch.state: `key="value"` lines like qjail's other files; a damaged file only costs one extra sync/update. */
export async function readWatchState(path: string): Promise<WatchState> {
  const out: WatchState = {};
  let text = "";
  try {
    text = await fsp.readFile(path, "utf8");
  } catch {
    return out;
  }
  for (const m of text.matchAll(/^(dyndns_address|synced_address)="([0-9.]+)"$/gm))
    out[m[1] as keyof WatchState] = m[2] as string;
  return out;
}

/** Merge `change` into watch.state (physical path) and replace the file atomically, mode 0600. */
export async function updateWatchState(path: string, change: WatchState): Promise<void> {
  const next = { ...(await readWatchState(path)), ...change };
  await fsp.mkdir(posix.dirname(path), { recursive: true });
  const text = (["dyndns_address", "synced_address"] as const)
    .filter((k) => next[k] !== undefined)
    .map((k) => `${k}="${next[k] as string}"\n`)
    .join("");
  await writeFileAtomic(path, text, 0o600);
}
