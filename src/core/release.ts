import { UsageError, shown } from "./errors.js";

/**
 * Which FreeBSD release `install` fetches, where from, and how the download
 * is checked against the release's MANIFEST (docs/qjail-5.md §4.1). Pure:
 * the download itself is src/platform/download.ts.
 */

export const DEFAULT_MIRROR = "https://download.freebsd.org/releases/";
/** qjail 5.x supports 11.0 and newer; 4.9 was the last for 10.x. */
export const MIN_RELEASE = { major: 11, minor: 0 } as const;

/**
 * `uname -r` → the release directory name, with qjail's rules: development
 * and pre-release builds have no release directory, a patch suffix is
 * dropped (`13.2-RELEASE-p4` → `13.2-RELEASE`: the mirror has only the
 * release's own base.txz), and releases before 11.0 are refused.
 */
export function releaseFromUname(unameR: string): string {
  const text = unameR.trim();
  const m = /^(\d+)\.(\d+)-([A-Z]+)(\d*)(?:-p(\d+))?$/.exec(text);
  if (!m) {
    throw new UsageError(
      "QJ1501",
      `cannot read the release from uname -r output ${shown(text)}`,
      "Fetch base.txz yourself and run 'qjail install -f DIR'.",
    );
  }
  const [, major, minor, branch] = m as unknown as [string, string, string, string];
  if (branch === "ALPHA" || branch === "BETA" || branch === "RC") {
    throw new UsageError(
      "QJ1502",
      `the host runs ${shown(text)}, a test build with no release directory on the mirrors`,
      "Use option -f: put the matching base.txz in a directory (e.g. from the install media's /usr/freebsd-dist) and run 'qjail install -f DIR'.",
    );
  }
  if (branch === "PRERELEASE" || branch === "STABLE" || branch === "CURRENT") {
    throw new UsageError(
      "QJ1503",
      `the host runs ${shown(text)}, a development branch with no release to download`,
      `Name the release to fetch: 'env UNAME_r=${major}.${minor}-RELEASE qjail install' (csh: 'setenv UNAME_r ${major}.${minor}-RELEASE'), then run 'qjail update -b' to copy this host's binaries into sharedfs.`,
    );
  }
  if (branch !== "RELEASE") {
    throw new UsageError(
      "QJ1501",
      `unknown release branch ${shown(branch)} in ${shown(text)}`,
      "Fetch base.txz yourself and run 'qjail install -f DIR'.",
    );
  }
  const maj = Number(major);
  const min = Number(minor);
  if (maj < MIN_RELEASE.major || (maj === MIN_RELEASE.major && min < MIN_RELEASE.minor)) {
    throw new UsageError(
      "QJ1504",
      `release ${shown(`${major}.${minor}-RELEASE`)} is older than ${MIN_RELEASE.major}.${MIN_RELEASE.minor}, the oldest this qjail supports`,
      "qjail3 version 4.9 is the last qjail version to handle the 10.x release series; upgrade the host first.",
    );
  }
  return `${maj}.${min}-RELEASE`;
}

/**
 * The `<machine>/<processor>` part of the mirror path: `amd64/amd64`,
 * `arm64/aarch64`. qjail 5.x used `uname -p` twice, which is right only
 * where the two names agree; give `uname -m` as well to get arm64 right.
 */
export function archPath(processor: string, machine: string = processor): string {
  for (const [what, v] of [
    ["uname -p", processor],
    ["uname -m", machine],
  ] as const) {
    if (!/^[a-z0-9_]+$/.test(v))
      throw new UsageError(
        "QJ1505",
        `unexpected architecture name ${shown(v)} from ${what}`,
        "Fetch base.txz yourself and run 'qjail install -f DIR'.",
      );
  }
  return `${machine}/${processor}`;
}

/**
 * The base URL the release directories live under: `--mirror URL`, else
 * `-h host` (an FTP-layout mirror: `https://host/pub/FreeBSD/releases/`),
 * else QJAIL_MIRROR, else download.freebsd.org. Always ends with "/".
 */
export function mirrorBase(opts: {
  mirror?: string;
  host?: string;
  env?: Readonly<Record<string, string | undefined>>;
}): string {
  if (opts.mirror !== undefined && opts.host !== undefined) {
    throw new UsageError("QJ1506", "-h host and --mirror URL both name the mirror", "Give only one of them.");
  }
  if (opts.host !== undefined) {
    if (!/^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:\d{1,5})?$/.test(opts.host)) {
      throw new UsageError(
        "QJ1507",
        `invalid mirror host ${shown(opts.host)}`,
        "Give a host name such as ftp2.freebsd.org.",
      );
    }
    return `https://${opts.host}/pub/FreeBSD/releases/`;
  }
  const raw = opts.mirror ?? opts.env?.QJAIL_MIRROR ?? DEFAULT_MIRROR;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new UsageError(
      "QJ1508",
      `invalid mirror URL ${shown(raw)}`,
      `Give a full URL such as ${DEFAULT_MIRROR}`,
    );
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    throw new UsageError(
      "QJ1508",
      `invalid mirror URL ${shown(raw)}: only http and https are supported`,
      `Give a full URL such as ${DEFAULT_MIRROR}`,
    );
  }
  if (url.search !== "" || url.hash !== "")
    throw new UsageError(
      "QJ1508",
      `invalid mirror URL ${shown(raw)}: no query or fragment allowed`,
      `Give a full URL such as ${DEFAULT_MIRROR}`,
    );
  return url.href.endsWith("/") ? url.href : `${url.href}/`;
}

/** `<mirror><arch>/<release>/`, the directory holding MANIFEST and base.txz. */
export function releaseUrl(mirror: string, arch: string, release: string): string {
  return `${mirror}${arch}/${release}/`;
}

export interface ManifestEntry {
  file: string;
  sha256: string;
  /** Number of archive members (`tar tvf | wc -l`). */
  entries: number;
  set: string;
  description: string;
  /** Selected by default in bsdinstall ("on"). */
  selected: boolean;
}

/**
 * A release MANIFEST (release/scripts/make-manifest.sh): one tab-separated
 * line per distribution set: file, SHA256, entry count, set name,
 * "description", on|off. Malformed lines are reported, not skipped silently.
 */
export function parseManifest(text: string): { entries: Map<string, ManifestEntry>; problems: string[] } {
  const entries = new Map<string, ManifestEntry>();
  const problems: string[] = [];
  text.split("\n").forEach((raw, i) => {
    const line = raw.replace(/\r$/, "");
    if (line.trim() === "") return;
    const cols = line.split("\t");
    const [file, sha, count, set, desc, sel] = cols;
    if (
      cols.length !== 6 ||
      file === undefined ||
      sha === undefined ||
      count === undefined ||
      set === undefined ||
      desc === undefined ||
      sel === undefined
    ) {
      problems.push(`line ${i + 1}: expected 6 tab-separated columns, got ${cols.length}`);
      return;
    }
    if (!/^[0-9a-f]{64}$/i.test(sha)) {
      problems.push(`line ${i + 1}: ${shown(sha)} is not a SHA256`);
      return;
    }
    if (!/^\d+$/.test(count) || !/^[A-Za-z0-9._-]+\.txz$/.test(file) || (sel !== "on" && sel !== "off")) {
      problems.push(`line ${i + 1}: malformed ${shown(line)}`);
      return;
    }
    entries.set(file, {
      file,
      sha256: sha.toLowerCase(),
      entries: Number(count),
      set,
      description: desc.replace(/^"(.*)"$/, "$1"),
      selected: sel === "on",
    });
  });
  return { entries, problems };
}
