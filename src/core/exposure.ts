import ipaddr from "ipaddr.js";
import { UsageError, shown } from "./errors.js";
import type { Plan } from "./plan.js";
import type { HostLayout } from "./paths.js";
import { recordAddresses } from "./validate.js";
import {
  canonicalAddress,
  parseAddress,
  parseCidr,
  type HostConfig,
  type Network,
  type Protocol,
} from "./hostconfig.js";

/**
 * Exposures: a public port (or range) of the host forwarded to a jail's port.
 * This is the one model every firewall generator reads (src/firewall/*), so
 * the howto's hand-written pass + rdr + map rules come from one place and a
 * port can only be given away once.
 *
 * Stored in /usr/local/etc/qjail.expose/<jail>, one line per exposure:
 *   proto="tcp" public="6188" jail_port="80" from="" on="" comment="apache"
 *
 * Partner functions: {@link parseExposureFile} / {@link formatExposureFile}
 * (store), {@link checkNewExposure} (refusals), {@link resolveExposures}
 * (exposures + jail addresses → what the generators take),
 * {@link planExposureFile} (the plan that writes one jail's file).
 */

export interface PortRange {
  low: number;
  high: number;
}

/** Where the public side listens: an address of the host, or every address of one interface. */
export type PublicSide =
  { kind: "address"; address: string; family: 4 | 6 } | { kind: "interface"; name: string };

export interface Exposure {
  jail: string;
  proto: Protocol;
  public: PortRange;
  jailPort: PortRange;
  /** Allowed source networks, canonical CIDR; empty = any source. */
  from: string[];
  /** undefined = every address of the host's ext_if. */
  on: PublicSide | undefined;
  comment: string;
}

export type Family = 4 | 6;

/** One exposure for one address family, with the jail's address filled in: what generators print. */
export interface ResolvedExposure extends Exposure {
  family: Family;
  /** The jail's address in this family (its first one, as jail(8) uses for outbound). */
  target: string;
  /** Sources of this family (from `from`); empty = any. */
  sources: string[];
}

/** What checks and resolution need to know about a jail. */
export interface JailAddresses {
  name: string;
  ip4: string[];
  ip6: string[];
}

const IFACE_RE = /^[A-Za-z][A-Za-z0-9_.]{0,14}$/;
// eslint-disable-next-line no-control-regex
const COMMENT_BAD = /["\\`$\u0000-\u001f\u007f]/;

export function formatRange(r: PortRange, sep = "-"): string {
  return r.low === r.high ? String(r.low) : `${r.low}${sep}${r.high}`;
}

export function describeExposure(e: Exposure): string {
  const on = e.on ? ` on ${e.on.kind === "address" ? e.on.address : e.on.name}` : "";
  return `${e.proto} ${formatRange(e.public)}${on} -> ${e.jail}:${formatRange(e.jailPort)}`;
}

export function parseProtocol(text: string): Protocol {
  if (text === "tcp" || text === "udp") return text;
  throw new UsageError("QJ3010", `unknown protocol ${shown(text)}`, "Give tcp or udp.");
}

function parsePort(text: string, whole: string): number {
  if (!/^[0-9]{1,5}$/.test(text)) {
    throw new UsageError(
      "QJ3011",
      `malformed port mapping ${shown(whole)}: ${shown(text)} is not a port number`,
      "Write PUBLIC:JAILPORT, e.g. 6188:80, or ranges 8000-8010:9000-9010.",
    );
  }
  const n = Number(text);
  if (n < 1 || n > 65535) {
    throw new UsageError(
      "QJ3012",
      `port ${n} in ${shown(whole)} is out of range`,
      "Ports go from 1 to 65535.",
    );
  }
  return n;
}

function parseRangeText(text: string, whole: string): PortRange {
  const parts = text.split("-");
  if (parts.length > 2 || parts.some((p) => p === "")) {
    throw new UsageError(
      "QJ3011",
      `malformed port mapping ${shown(whole)}: ${shown(text)} is not PORT or PORT-PORT`,
      "Write PUBLIC:JAILPORT, e.g. 6188:80, or ranges 8000-8010:9000-9010.",
    );
  }
  const low = parsePort(parts[0] as string, whole);
  const high = parts[1] === undefined ? low : parsePort(parts[1], whole);
  if (high < low) {
    throw new UsageError(
      "QJ3013",
      `port range ${shown(text)} in ${shown(whole)} runs backwards`,
      `Write the lower port first: ${high}-${low}.`,
    );
  }
  return { low, high };
}

/** `PUBLIC[-PUBLIC_END]:JAILPORT[-END]`. A range on one side needs a range of the same length on the other. */
export function parsePortMapping(text: string): { public: PortRange; jailPort: PortRange } {
  const sides = text.split(":");
  if (sides.length !== 2) {
    throw new UsageError(
      "QJ3011",
      `malformed port mapping ${shown(text)}: expected PUBLIC:JAILPORT`,
      "Write PUBLIC:JAILPORT, e.g. 6188:80, or ranges 8000-8010:9000-9010.",
    );
  }
  const pub = parseRangeText(sides[0] as string, text);
  const jail = parseRangeText(sides[1] as string, text);
  const pubLen = pub.high - pub.low;
  const jailLen = jail.high - jail.low;
  // A single jail port after a public range would mean "all to one port", which
  // ipfw and nft cannot express the same way as ipnat; ask for it explicitly.
  if (pubLen !== jailLen) {
    throw new UsageError(
      "QJ3014",
      `port ranges in ${shown(text)} differ in length (${pubLen + 1} public, ${jailLen + 1} jail ports)`,
      `Give ranges of equal length, e.g. ${formatRange(pub)}:${jail.low}-${jail.low + pubLen}.`,
    );
  }
  return { public: pub, jailPort: jail };
}

export function parseFromList(values: readonly string[]): string[] {
  const out: string[] = [];
  for (const v of values.flatMap((x) => x.split(","))) {
    const net = parseCidr(v.trim());
    if (typeof net === "string") {
      throw new UsageError(
        "QJ3015",
        `invalid --from ${shown(v)}: ${net}`,
        "Give a source network as CIDR (198.51.100.0/24, 2001:db8::/32) or an address.",
      );
    }
    const masked = maskedCidr(net);
    if (!out.includes(masked)) out.push(masked);
  }
  return out;
}

/** The CIDR with host bits cleared, as the firewalls store it. */
function maskedCidr(net: Network): string {
  const base =
    net.family === 4
      ? ipaddr.IPv4.networkAddressFromCIDR(net.cidr)
      : ipaddr.IPv6.networkAddressFromCIDR(net.cidr);
  return `${canonicalAddress(base)}/${net.prefix}`;
}

export function parsePublicSide(text: string): PublicSide {
  const addr = parseAddress(text);
  if (addr) {
    if (addr.range() === "unspecified" || addr.range() === "multicast" || addr.range() === "broadcast") {
      throw new UsageError(
        "QJ3016",
        `--on ${shown(text)} is not a host address`,
        "Give one of the host's own addresses or an interface name.",
      );
    }
    return { kind: "address", address: canonicalAddress(addr), family: addr.kind() === "ipv4" ? 4 : 6 };
  }
  if (IFACE_RE.test(text)) return { kind: "interface", name: text };
  throw new UsageError(
    "QJ3016",
    `--on ${shown(text)} is neither an address nor an interface name`,
    "Give one of the host's addresses (192.0.2.5) or an interface (em0).",
  );
}

export function validateComment(text: string): string {
  if (COMMENT_BAD.test(text) || text.length > 200) {
    throw new UsageError(
      "QJ3017",
      `comment ${shown(text)} contains a quote, backslash, backquote, '$' or control character, or is over 200 characters`,
      "Use plain words.",
    );
  }
  return text;
}

// ---------------------------------------------------------------------------
// The file format
// ---------------------------------------------------------------------------

export interface ExposureFileProblem {
  line: number;
  message: string;
}

const FILE_KEYS = ["proto", "public", "jail_port", "from", "on", "comment"] as const;

/** One jail's exposure file. Problems are collected so `qjail ports` can show a damaged file instead of failing. */
export function parseExposureFile(
  jail: string,
  text: string,
): { exposures: Exposure[]; problems: ExposureFileProblem[] } {
  const exposures: Exposure[] = [];
  const problems: ExposureFileProblem[] = [];
  text.split("\n").forEach((raw, i) => {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) return;
    const fields = new Map<string, string>();
    const re = /\s*([a-z_]+)="([^"\\`$]*)"/gy;
    let m: RegExpExecArray | null;
    let end = 0;
    while ((m = re.exec(line)) !== null) {
      fields.set(m[1] as string, m[2] as string);
      end = re.lastIndex;
    }
    const unknown = [...fields.keys()].filter((k) => !(FILE_KEYS as readonly string[]).includes(k));
    if (
      end !== line.length ||
      unknown.length > 0 ||
      !fields.has("proto") ||
      !fields.has("public") ||
      !fields.has("jail_port")
    ) {
      problems.push({
        line: i + 1,
        message: `not an exposure line (proto="…" public="…" jail_port="…" [from="…"] [on="…"] [comment="…"]): ${shown(raw)}`,
      });
      return;
    }
    try {
      const mapping = parsePortMapping(`${fields.get("public")}:${fields.get("jail_port")}`);
      const on = fields.get("on") ?? "";
      exposures.push({
        jail,
        proto: parseProtocol(fields.get("proto") as string),
        public: mapping.public,
        jailPort: mapping.jailPort,
        from: (fields.get("from") ?? "") === "" ? [] : parseFromList([fields.get("from") as string]),
        on: on === "" ? undefined : parsePublicSide(on),
        comment: validateComment(fields.get("comment") ?? ""),
      });
    } catch (e) {
      if (!(e instanceof UsageError)) throw e;
      problems.push({ line: i + 1, message: e.message });
    }
  });
  return { exposures, problems };
}

export function formatExposureLine(e: Exposure): string {
  const on = e.on ? (e.on.kind === "address" ? e.on.address : e.on.name) : "";
  return `proto="${e.proto}" public="${formatRange(e.public)}" jail_port="${formatRange(e.jailPort)}" from="${e.from.join(",")}" on="${on}" comment="${e.comment}"\n`;
}

/** The key firewall.state records an exposure under: its jail and its file line. */
export function exposureKey(e: Exposure): string {
  return `${e.jail} ${formatExposureLine(e).trim()}`;
}

export function formatExposureFile(list: readonly Exposure[]): string {
  return sortExposures(list).map(formatExposureLine).join("");
}

export function sortExposures<T extends Exposure>(list: readonly T[]): T[] {
  return [...list].sort(
    (a, b) =>
      a.public.low - b.public.low ||
      a.proto.localeCompare(b.proto) ||
      a.jail.localeCompare(b.jail) ||
      onKey(a.on).localeCompare(onKey(b.on)),
  );
}

function onKey(on: PublicSide | undefined): string {
  return on === undefined ? "" : on.kind === "address" ? on.address : `if:${on.name}`;
}

// ---------------------------------------------------------------------------
// Checks
// ---------------------------------------------------------------------------

export function jailAddressesOf(name: string, record: { ip4: string; ip6: string }): JailAddresses {
  return {
    name,
    ip4: recordAddresses(record.ip4),
    ip6: recordAddresses(record.ip6).map((a) => canonicalAddress(ipaddr.IPv6.parse(a))),
  };
}

/** Could two public sides receive the same packet? Distinct addresses or distinct interfaces cannot. */
function sidesOverlap(a: PublicSide | undefined, b: PublicSide | undefined, extIf: string): boolean {
  const ifaceOf = (s: PublicSide | undefined): string | undefined =>
    s === undefined ? extIf : s.kind === "interface" ? s.name : undefined;
  if (a?.kind === "address" && b?.kind === "address") return a.address === b.address;
  const ia = ifaceOf(a);
  const ib = ifaceOf(b);
  if (ia !== undefined && ib !== undefined) return ia === ib;
  // An address against an interface: we cannot tell which interface holds the address, so assume it might.
  return true;
}

function rangesOverlap(a: PortRange, b: PortRange): boolean {
  return a.low <= b.high && b.low <= a.high;
}

/** The families an exposure is generated for, given the jail's addresses. */
export function exposureFamilies(e: Exposure, jail: JailAddresses): Family[] {
  const fams: Family[] = [];
  for (const f of [4, 6] as const) {
    const addrs = f === 4 ? jail.ip4 : jail.ip6;
    if (addrs.length === 0) continue;
    if (e.on?.kind === "address" && e.on.family !== f) continue;
    if (e.from.length > 0 && !e.from.some((c) => familyOfCidr(c) === f)) continue;
    fams.push(f);
  }
  return fams;
}

function familyOfCidr(cidr: string): Family {
  return cidr.includes(":") ? 6 : 4;
}

/**
 * Refuse a new exposure that the firewall could not honour or that would take
 * a port already given away (qjail-howto rules 2 and 5). Pure: returns the
 * warnings to show; throws a UsageError for a refusal.
 */
export function checkNewExposure(
  req: Exposure,
  state: { jails: readonly JailAddresses[]; exposures: readonly Exposure[]; host: HostConfig },
): { warnings: string[] } {
  const jail = state.jails.find((j) => j.name === req.jail);
  if (!jail) {
    const known = state.jails.map((j) => j.name);
    throw new UsageError(
      "QJ3020",
      `no jail named ${shown(req.jail)}`,
      known.length > 0
        ? `Known jails: ${known.join(", ")}. Create it first with 'qjail create'.`
        : "Create it first with 'qjail create -4 ADDRESS NAME'.",
    );
  }
  if (jail.ip4.length === 0 && jail.ip6.length === 0) {
    throw new UsageError(
      "QJ3021",
      `jail ${shown(req.jail)} has no IP address to forward to`,
      `Give it one with 'qjail config -4 ADDRESS ${req.jail}'.`,
    );
  }
  if (req.on?.kind === "address") {
    const addrs = req.on.family === 4 ? jail.ip4 : jail.ip6;
    if (addrs.length === 0) {
      throw new UsageError(
        "QJ3021",
        `jail ${shown(req.jail)} has no IPv${req.on.family} address, so public address ${shown(req.on.address)} cannot be forwarded to it`,
        `Give the jail an IPv${req.on.family} address ('qjail config -${req.on.family} ADDRESS ${req.jail}') or use --on with an IPv${req.on.family === 4 ? 6 : 4} address.`,
      );
    }
  }
  for (const c of req.from) {
    const f = familyOfCidr(c);
    const addrs = f === 4 ? jail.ip4 : jail.ip6;
    if (addrs.length === 0) {
      throw new UsageError(
        "QJ3021",
        `--from ${shown(c)} is IPv${f} but jail ${shown(req.jail)} has no IPv${f} address`,
        `Drop that source or give the jail an IPv${f} address with 'qjail config -${f}'.`,
      );
    }
    if (req.on?.kind === "address" && req.on.family !== f) {
      throw new UsageError(
        "QJ3015",
        `--from ${shown(c)} is IPv${f} but --on ${shown(req.on.address)} is IPv${req.on.family}`,
        "Give sources of the same family as the public address.",
      );
    }
  }
  for (const s of state.host.hostServices) {
    if (s.proto === req.proto && s.port >= req.public.low && s.port <= req.public.high) {
      throw new UsageError(
        "QJ3023",
        `public port ${s.port}/${s.proto} is used by a service of the host itself`,
        "Pick another public port for the jail (qjail-howto rule 5: the host and each jail need their own port), or change host_services in /usr/local/etc/qjail.host.",
      );
    }
  }
  for (const other of state.exposures) {
    if (other.proto !== req.proto || !rangesOverlap(other.public, req.public)) continue;
    if (!sidesOverlap(other.on, req.on, state.host.extIf)) continue;
    const same =
      other.jail === req.jail && other.public.low === req.public.low && other.public.high === req.public.high;
    throw new UsageError(
      "QJ3022",
      `public ${req.proto} port ${shown(formatRange(req.public))} is already forwarded: ${describeExposure(other)}`,
      same
        ? `Remove it first with 'qjail unexpose ${other.jail} ${other.proto} ${other.public.low}', then expose again.`
        : "Each service needs its own public port (qjail-howto rule 2); pick a free one ('qjail ports' lists those taken), or use --on with another host address.",
    );
  }
  const warnings: string[] = [];
  for (const a of [...jail.ip4, ...jail.ip6]) {
    const parsed = parseAddress(a);
    if (!parsed) continue;
    const range = parsed.range();
    if (range !== "private" && range !== "uniqueLocal") {
      warnings.push(
        `QJ3030: jail ${shown(req.jail)} address ${a} is not private (RFC 1918 / ULA); forwarding to it works, but the jail may also be reachable directly, past these rules`,
      );
    }
  }
  return { warnings };
}

/**
 * Exposures plus jail addresses → one entry per exposure and family, sorted,
 * which is what every generator prints. Exposures of jails that no longer
 * exist or lost their address are returned in `dropped` with the reason.
 */
export function resolveExposures(
  exposures: readonly Exposure[],
  jails: readonly JailAddresses[],
): { resolved: ResolvedExposure[]; dropped: { exposure: Exposure; reason: string }[] } {
  const byName = new Map(jails.map((j) => [j.name, j]));
  const resolved: ResolvedExposure[] = [];
  const dropped: { exposure: Exposure; reason: string }[] = [];
  for (const e of sortExposures(exposures)) {
    const jail = byName.get(e.jail);
    if (!jail) {
      dropped.push({ exposure: e, reason: `jail ${shown(e.jail)} does not exist` });
      continue;
    }
    const fams = exposureFamilies(e, jail);
    if (fams.length === 0) {
      dropped.push({
        exposure: e,
        reason: `jail ${shown(e.jail)} has no address of the family this exposure needs`,
      });
      continue;
    }
    for (const family of fams) {
      const target = (family === 4 ? jail.ip4[0] : jail.ip6[0]) as string;
      resolved.push({ ...e, family, target, sources: e.from.filter((c) => familyOfCidr(c) === family) });
    }
  }
  return { resolved, dropped };
}

/** The plan that stores one jail's exposures: write the file, or remove it when none are left. */
export function planExposureFile(
  layout: HostLayout,
  jail: string,
  list: readonly Exposure[],
  title: string,
): Plan {
  const path = `${layout.exposures}/${jail}`;
  if (list.length === 0) return { title, steps: [{ kind: "remove", path }] };
  return {
    title,
    steps: [
      { kind: "mkdir", path: layout.exposures, mode: 0o755 },
      { kind: "writeFile", path, content: formatExposureFile(list), mode: 0o644 },
    ],
  };
}

/** Find the exposure `unexpose JAIL PROTO PUBLIC` names (PUBLIC is the first public port; --on narrows it). */
export function findExposure(
  list: readonly Exposure[],
  jail: string,
  proto: Protocol,
  publicPort: number,
  on: PublicSide | undefined,
): Exposure {
  const matches = list.filter(
    (e) =>
      e.jail === jail &&
      e.proto === proto &&
      e.public.low === publicPort &&
      (on === undefined || onKey(e.on) === onKey(on)),
  );
  const first = matches[0];
  if (!first) {
    const mine = list.filter((e) => e.jail === jail);
    throw new UsageError(
      "QJ3024",
      `jail ${shown(jail)} has no ${proto} exposure on public port ${publicPort}`,
      mine.length > 0
        ? `Its exposures: ${mine.map(describeExposure).join("; ")}.`
        : `Jail ${shown(jail)} exposes nothing; 'qjail ports' lists every exposure.`,
    );
  }
  if (matches.length > 1) {
    throw new UsageError(
      "QJ3025",
      `jail ${shown(jail)} has ${matches.length} ${proto} exposures on public port ${publicPort} (different --on)`,
      "Add --on ADDRESS|IFACE to say which one to remove.",
    );
  }
  return first;
}

export function sameExposure(a: Exposure, b: Exposure): boolean {
  return (
    a.jail === b.jail && a.proto === b.proto && a.public.low === b.public.low && onKey(a.on) === onKey(b.on)
  );
}

/** What every firewall generator takes: the host's settings and the resolved exposures, sorted. */
export interface FirewallModel {
  host: HostConfig;
  exposures: readonly ResolvedExposure[];
}

/** A comment line for generated files: who gets what. Comment text is validated (no control characters). */
export function exposureComment(e: ResolvedExposure): string {
  return `${e.jail}: ${e.proto} ${formatRange(e.public)} -> ${e.target} port ${formatRange(e.jailPort)}${e.comment ? ` (${e.comment})` : ""}`;
}
