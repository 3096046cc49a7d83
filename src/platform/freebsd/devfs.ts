/**
 * devfs rulesets a jail may name in `devfs_ruleset` (config -b N checks this).
 *
 * qjail 5.x asks the kernel (`devfs rule showsets`). Reading the files
 * instead works under --root and on a host whose rules were edited but not
 * yet loaded; the numbers are the same once `service devfs restart` has run.
 */

/** Rulesets of FreeBSD 13/14 `/etc/defaults/devfs.rules` (hide_all=1 … jail_vnet=5). */
export const DEFAULT_DEVFS_RULESETS: ReadonlyMap<number, string> = new Map([
  [1, "devfsrules_hide_all"],
  [2, "devfsrules_unhide_basic"],
  [3, "devfsrules_unhide_login"],
  [4, "devfsrules_jail"],
  [5, "devfsrules_jail_vnet"],
]);

/**
 * Ruleset numbers and names opened by `[name=NUMBER]` headers in a
 * devfs.rules(5) text, plus the defaults. Comments (`#` to end of line) and
 * rule lines are ignored; a later header with the same number wins its name.
 * Partner of the core planner that appends a ruleset (config -b).
 */
export function definedRulesets(text: string, withDefaults = true): Map<number, string> {
  const out = new Map<number, string>(withDefaults ? DEFAULT_DEVFS_RULESETS : []);
  for (const raw of text.split("\n")) {
    const line = raw.replace(/#.*$/, "").trim();
    const m = /^\[\s*([A-Za-z0-9_.-]+)\s*=\s*(\d+)\s*\]$/.exec(line);
    if (m) out.set(Number(m[2]), m[1] as string);
  }
  return out;
}
