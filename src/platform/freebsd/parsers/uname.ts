/**
 * `uname -a` on FreeBSD: "SYSNAME HOST RELEASE VERSION... MACHINE", where
 * VERSION is itself several words ("FreeBSD 12.1-RELEASE r354233 GENERIC").
 * Partner: {@link parseFreebsdVersion} for `freebsd-version` (the userland, which
 * inside a jail may differ from the kernel uname reports).
 */
export interface UnameInfo {
  sysname: string;
  hostname: string;
  release: string;
  /** Major number of the release ("12" of "12.1-RELEASE"). */
  major: number;
  /** The patch level from "-pN", 0 when absent. */
  patch: number;
  version: string;
  machine: string;
}

export interface FreebsdVersion {
  release: string;
  major: number;
  minor: number;
  branch: string;
  patch: number;
}

export function parseFreebsdVersion(text: string): FreebsdVersion | undefined {
  const m = /^(\d+)\.(\d+)-([A-Z0-9]+)(?:-p(\d+))?$/.exec(text.trim());
  if (!m) return undefined;
  return {
    release: m[0],
    major: Number(m[1]),
    minor: Number(m[2]),
    branch: m[3] as string,
    patch: Number(m[4] ?? 0),
  };
}

export function parseUname(text: string): UnameInfo | undefined {
  const fields = text.trim().split(/\s+/);
  if (fields.length < 4) return undefined;
  const [sysname, hostname, release] = fields as [string, string, string];
  const machine = fields[fields.length - 1] as string;
  const version = fields.slice(3, -1).join(" ");
  const parsed = parseFreebsdVersion(release);
  return {
    sysname,
    hostname,
    release,
    major: parsed?.major ?? NaN,
    patch: parsed?.patch ?? 0,
    version,
    machine,
  };
}
