import ipaddr from "ipaddr.js";
import { UsageError, shown } from "./errors.js";

/**
 * Validation at the edge: every name, zone, address, interface, flavor, size
 * and number a user gives qjail goes through here before anything is planned.
 * Each check throws a UsageError that shows the offending value and says what
 * to do; none of them touch the disk.
 *
 * qjail 5.x's rules (docs/qjail-5.md §3, §4.1, §4.2) plus our own: no path
 * separators, no leading dot or dash, no control characters, at most 50
 * characters, because these names become file names under /usr/local/etc and
 * /usr/jails.
 */

/** Names qjail keeps for its own directories under the jail root. */
export const RESERVED_JAIL_NAMES = ["sharedfs", "template", "flavors", "archive", "download"] as const;
export const MAX_NAME_LENGTH = 50;
/** vnet jails name their epair after the jail; qjail caps them at 12 characters. */
export const MAX_VNET_NAME_LENGTH = 12;

// eslint-disable-next-line no-control-regex
const CONTROL_CHARS = /[\u0000-\u001f\u007f]/;

function commonNameChecks(kind: string, value: string, code: `QJ${number}`, hint: string): void {
  const fail = (why: string): never => {
    throw new UsageError(code, `invalid ${kind} ${shown(value)}: ${why}`, hint);
  };
  if (value === "") fail("it is empty");
  if (CONTROL_CHARS.test(value)) fail("it contains a control character");
  if (value.includes("/")) fail("it contains a path separator");
  if (value.startsWith(".")) fail("it starts with a dot");
  if (value.startsWith("-")) fail("it starts with a dash");
  if (value.length > MAX_NAME_LENGTH) fail(`it is longer than ${MAX_NAME_LENGTH} characters`);
}

/** A jail name for create, restore and rename (docs/qjail-5.md §3 "Jail-name rules"). */
export function validateJailName(name: string, opts: { vnet?: boolean } = {}): string {
  const hint = "Use letters, digits, '_' and '-' (not first), at most 50 characters, not all digits.";
  commonNameChecks("jail name", name, "QJ1010", hint);
  if (!/^[A-Za-z0-9_-]+$/.test(name)) {
    throw new UsageError(
      "QJ1011",
      `invalid jail name ${shown(name)}: only letters, digits, '_' and '-' are allowed`,
      hint,
    );
  }
  if (/^[0-9]+$/.test(name)) {
    throw new UsageError(
      "QJ1012",
      `invalid jail name ${shown(name)}: it is all digits`,
      "Add a letter, e.g. " + shown(`j${name}`) + ".",
    );
  }
  if ((RESERVED_JAIL_NAMES as readonly string[]).includes(name)) {
    throw new UsageError(
      "QJ1013",
      `invalid jail name ${shown(name)}: it is a name qjail uses for its own directories`,
      "Pick another name.",
    );
  }
  if (/\.(norun|man)$/.test(name)) {
    throw new UsageError(
      "QJ1011",
      `invalid jail name ${shown(name)}: only letters, digits, '_' and '-' are allowed`,
      hint,
    );
  }
  if (opts.vnet && name.length > MAX_VNET_NAME_LENGTH) {
    throw new UsageError(
      "QJ1014",
      `jail name ${shown(name)} is too long for a vnet jail (${name.length} > ${MAX_VNET_NAME_LENGTH} characters)`,
      "Rename it first with 'qjail config -n NEWNAME OLDNAME'.",
    );
  }
  return name;
}

/** A zone name (install -z creates it; every other command requires it to exist). */
export function validateZoneName(zone: string): string {
  const hint = "Zone names use letters, digits, '_' and '-', and are not all digits.";
  commonNameChecks("zone name", zone, "QJ1015", hint);
  if (!/^[A-Za-z0-9_-]+$/.test(zone))
    throw new UsageError(
      "QJ1015",
      `invalid zone name ${shown(zone)}: only letters, digits, '_' and '-' are allowed`,
      hint,
    );
  if (/^[0-9]+$/.test(zone))
    throw new UsageError("QJ1015", `invalid zone name ${shown(zone)}: it is all digits`, hint);
  return zone;
}

/** A network interface name as FreeBSD and Linux accept them (≤ 15 chars, e.g. em0, lo1, vtnet0, br-lan). */
export function validateInterfaceName(nic: string): string {
  const hint = "Give an interface name as ifconfig shows it, e.g. em0 or lo1.";
  if (nic === "" || nic.length > 15 || !/^[A-Za-z][A-Za-z0-9_.-]*$/.test(nic)) {
    throw new UsageError("QJ1016", `invalid interface name ${shown(nic)}`, hint);
  }
  return nic;
}

/** A flavor directory name under flavors/. */
export function validateFlavorName(flavor: string): string {
  const hint = "Give the name of a directory under the flavors directory, e.g. default or ssh-default.";
  commonNameChecks("flavor name", flavor, "QJ1017", hint);
  if (!/^[A-Za-z0-9_.-]+$/.test(flavor))
    throw new UsageError(
      "QJ1017",
      `invalid flavor name ${shown(flavor)}: only letters, digits, '.', '_' and '-' are allowed`,
      hint,
    );
  return flavor;
}

/** One address of a jail: its text as the record holds it, and the optional `nic|` prefix. */
export interface JailAddress {
  family: 4 | 6;
  nic: string | undefined;
  address: string;
}

/**
 * Parse a `-4`/`-6` list: comma separated, no spaces, entries `ip` or
 * `nic|ip` (docs/qjail-5.md §4.2). A netmask is refused like qjail does, because
 * jail(8) would put it on the alias and qjail's list/duplicate checks compare
 * bare addresses.
 */
export function parseAddressList(text: string, family: 4 | 6): JailAddress[] {
  const flag = family === 4 ? "-4" : "-6";
  const hint =
    family === 4
      ? "Give IPv4 addresses separated by commas without spaces, e.g. -4 10.0.0.5 or -4 'lo1|10.0.0.5,10.0.0.6'."
      : "Give IPv6 addresses separated by commas without spaces, e.g. -6 fd00::5 or -6 'lo1|fd00::5'.";
  if (text === "") throw new UsageError("QJ1020", `empty ${flag} address list`, hint);
  if (/\s/.test(text))
    throw new UsageError("QJ1021", `${flag} list ${shown(text)} contains white space`, hint);
  const out: JailAddress[] = [];
  const seen = new Set<string>();
  for (const entry of text.split(",")) {
    if (entry === "") throw new UsageError("QJ1022", `${flag} list ${shown(text)} has an empty entry`, hint);
    const bar = entry.indexOf("|");
    let nic: string | undefined;
    let addr = entry;
    if (bar >= 0) {
      nic = entry.slice(0, bar);
      addr = entry.slice(bar + 1);
      if (nic === "" || addr.includes("|"))
        throw new UsageError(
          "QJ1023",
          `malformed ${flag} entry ${shown(entry)}: expected ip or nic|ip`,
          hint,
        );
      validateInterfaceName(nic);
    }
    if (addr.includes("/")) {
      throw new UsageError(
        "QJ1024",
        `${flag} address ${shown(addr)} has a netmask; qjail takes bare addresses`,
        "Drop the /prefix: jail(8) adds the alias with the interface's own netmask.",
      );
    }
    const ok = family === 4 ? isStrictIPv4(addr) : isStrictIPv6(addr);
    if (!ok) throw new UsageError("QJ1025", `invalid IPv${family} address ${shown(addr)}`, hint);
    const canonical = family === 4 ? addr : ipaddr.IPv6.parse(addr).toString();
    if (family === 4 && (addr === "0.0.0.0" || addr === "255.255.255.255")) {
      throw new UsageError("QJ1026", `IPv4 address ${shown(addr)} cannot be given to a jail`, hint);
    }
    if (family === 6 && canonical === "::") {
      throw new UsageError("QJ1026", `IPv6 address ${shown(addr)} cannot be given to a jail`, hint);
    }
    if (seen.has(canonical))
      throw new UsageError(
        "QJ1027",
        `${flag} list ${shown(text)} names ${shown(addr)} twice`,
        "Give each address once.",
      );
    seen.add(canonical);
    out.push({ family, nic, address: addr });
  }
  return out;
}

/** Four decimal octets 0–255 without leading zeros (ipaddr.js would also take "10.1" or octal forms). */
export function isStrictIPv4(s: string): boolean {
  const parts = s.split(".");
  return parts.length === 4 && parts.every((p) => /^(0|[1-9][0-9]{0,2})$/.test(p) && Number(p) <= 255);
}

export function isStrictIPv6(s: string): boolean {
  if (!/^[0-9A-Fa-f:.]+$/.test(s) || !s.includes(":")) return false;
  return ipaddr.IPv6.isValid(s);
}

/** The bare addresses of a record's ip4/ip6 value ("em0|10.0.0.5,10.0.0.6" → ["10.0.0.5","10.0.0.6"]). */
export function recordAddresses(value: string): string[] {
  if (value === "") return [];
  return value.split(",").map((e) => (e.includes("|") ? e.slice(e.indexOf("|") + 1) : e));
}

export function formatAddressList(list: readonly JailAddress[]): string {
  return list.map((a) => (a.nic ? `${a.nic}|${a.address}` : a.address)).join(",");
}

/**
 * An image size, `<digits>[mMgG]`, in MiB (docs/qjail-5.md §4.2 -i). qjail's man page
 * gives 10m as the smallest image newfs makes usable.
 */
export function parseImageSize(text: string): number {
  const hint = "Give a size like 500m or 2g (at least 10m).";
  const m = /^([0-9]+)([mMgG])$/.exec(text);
  if (!m) throw new UsageError("QJ1030", `invalid image size ${shown(text)}`, hint);
  const n = Number(m[1]);
  const mib = /[gG]/.test(m[2] as string) ? n * 1024 : n;
  if (!Number.isSafeInteger(mib) || mib < 10)
    throw new UsageError("QJ1031", `image size ${shown(text)} is below the 10m minimum`, hint);
  if (mib > 16 * 1024 * 1024)
    throw new UsageError("QJ1031", `image size ${shown(text)} is larger than 16t`, hint);
  return mib;
}

/** A whole number in [min, max], digits only (with an optional leading '-' when min < 0). */
export function parseInteger(
  text: string,
  what: string,
  min: number,
  max: number,
  code: `QJ${number}` = "QJ1032",
): number {
  const hint = `Give a whole number from ${min} to ${max}.`;
  if (!/^-?[0-9]{1,9}$/.test(text) || (text.startsWith("-") && min >= 0)) {
    throw new UsageError(code, `invalid ${what} ${shown(text)}: not a whole number`, hint);
  }
  const n = Number(text);
  if (n < min || n > max) throw new UsageError(code, `${what} ${shown(text)} is out of range`, hint);
  return n;
}

/** Package names for config -p (pkg names: letters, digits and + . _ - @ /). */
export function parsePackageList(text: string): string[] {
  const hint = "Give package names separated by commas, e.g. --packages nginx,py311-certbot.";
  const names = text
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
  for (const n of names) {
    if (!/^[A-Za-z0-9][A-Za-z0-9+._@/-]*$/.test(n) || n.length > 200)
      throw new UsageError("QJ1033", `invalid package name ${shown(n)}`, hint);
  }
  return names;
}
