import type { Edit } from "../managed-section.js";

/**
 * The edit that makes /etc/sysctl.conf set `name=value` (sysctl.conf(5): one
 * `name=value` per line, `#` comments). An active line for the same name is
 * rewritten in place, so the admin's other lines and comments stay as they
 * are; without one the setting is appended with a comment saying why.
 * Returns no edit when the file already says so.
 *
 * rc.d/sysctl applies the file early in boot, before ipfw.ko is loaded, and
 * again at sysctl_lastload (after LOGIN), which is when an ipfw setting such
 * as net.inet.ip.fw.one_pass takes effect; rc.d/qjail requires
 * sysctl_lastload so its `fw sync` runs after that.
 */
export function sysctlConfEdits(text: string, name: string, value: string, why: string): Edit[] {
  const re = new RegExp(
    `^([ \\t]*${name.replace(/\./g, "\\.")}[ \\t]*=[ \\t]*)([^#\\n]*?)([ \\t]*(#.*)?)$`,
    "gm",
  );
  const found = [...text.matchAll(re)];
  const last = found[found.length - 1];
  if (last) {
    if ((last[2] as string).trim() === value) return [];
    const start = (last.index as number) + (last[1] as string).length;
    return [{ offset: start, length: (last[2] as string).length, content: value }];
  }
  const sep = text === "" || text.endsWith("\n") ? "" : "\n";
  return [{ offset: text.length, length: 0, content: `${sep}# ${why}\n${name}=${value}\n` }];
}
