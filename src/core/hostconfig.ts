import ipaddr from "ipaddr.js";
import { UsageError, shown } from "./errors.js";

/**
 * The host settings file, /usr/local/etc/qjail.host: which firewall the host
 * runs, its public interface, the jails' private network, the admin's rule
 * files and the ports the host itself serves. Same plain `key="value"` style as
 * qjail's own records, so an admin can read and edit it with vi.
 *
 * Every key is optional in the file: a missing key takes the value the
 * platform detected ({@link defaultHostConfig}). Partner functions:
 * {@link parseHostConfig} reads, {@link formatHostConfig} writes,
 * {@link adminRuleFiles} names the admin's files for `qjail fw lint`.
 */

export type FirewallKind = "ipf" | "pf" | "ipfw" | "nft";
export const FIREWALL_KINDS: readonly FirewallKind[] = ["ipf", "pf", "ipfw", "nft"];

export type Protocol = "tcp" | "udp";

export interface HostService {
  port: number;
  proto: Protocol;
}

export interface HostConfig {
  /** Public interface: where exposed ports arrive and outbound jail traffic leaves. */
  extIf: string;
  firewall: FirewallKind;
  /** Interface the jail addresses live on (lo1 on FreeBSD, the qjail0 bridge on Linux). */
  jailIf: string;
  /** The jails' private IPv4 network, CIDR, network address exact ("10.0.0.0/24"). */
  jailSubnet4: string | undefined;
  /** Optional IPv6 jail network ("fd00:6a61:696c::/64"). */
  jailSubnet6: string | undefined;
  /** Ports the host's own daemons answer on; never forwarded to a jail (qjail-howto rule 5). */
  hostServices: HostService[];
  /**
   * Host ports jails may connect to (Linux: the guard's input chain); empty,
   * the default, closes every service of the host to every jail.
   */
  hostServicesForJails: HostService[];
  ipfRules: string;
  ipnatRules: string;
  pfConf: string;
  /** Parent anchor under which qjail loads its pf rules ("qjail" → "qjail/nat", "qjail/filter"). */
  pfAnchor: string;
  ipfwNatInstance: number;
  /** First rule number of the block qjail owns in the ipfw list (it uses base … base+99). */
  ipfwRuleBase: number;
}

/** What the platform found on the system; every field optional so tests can give just one. */
export interface HostFacts {
  /** Interface of the default route (`route -n get default`, `ip -j route show default`). */
  defaultRouteIf?: string;
  /** Firewalls enabled in rc.conf (FreeBSD) or with tools installed (Linux), most preferred first. */
  enabledFirewalls?: FirewallKind[];
  /** TCP/UDP ports something on the host listens on (sockstat -l / ss -ltnu), excluding jail addresses. */
  listening?: HostService[];
  /** The jails that exist (every zone): the interface and IPv4 list their records name. */
  jails?: { interface: string; ip4: string }[];
}

export const HOST_CONFIG_KEYS = [
  "ext_if",
  "firewall",
  "jail_if",
  "jail_subnet",
  "host_services",
  "host_services_for_jails",
  "ipf_rules",
  "ipnat_rules",
  "pf_conf",
  "pf_anchor",
  "ipfw_nat_instance",
  "ipfw_rule_base",
] as const;
export type HostConfigKey = (typeof HOST_CONFIG_KEYS)[number];

/** Interface names as both kernels allow them, kept to what is safe in every rule language. */
const IFACE_RE = /^[A-Za-z][A-Za-z0-9_.]{0,14}$/;
const ANCHOR_RE = /^[A-Za-z_][A-Za-z0-9_-]{0,31}$/;

/**
 * The settings qjail uses when the host config file says nothing. Pure: the
 * platform gathers {@link HostFacts} and passes them in.
 */
export function defaultHostConfig(platformName: "freebsd" | "linux", facts: HostFacts = {}): HostConfig {
  const firewall: FirewallKind =
    platformName === "linux" ? "nft" : (facts.enabledFirewalls?.find((f) => f !== "nft") ?? "ipf");
  // Nothing detected: the howto's host, whose own sshd and web server keep ports 22 and 80 (rule 5).
  const hostServices =
    facts.listening && facts.listening.length > 0
      ? dedupeServices(facts.listening)
      : platformName === "freebsd"
        ? [
            { port: 22, proto: "tcp" as const },
            { port: 80, proto: "tcp" as const },
          ]
        : [{ port: 22, proto: "tcp" as const }];
  const extIf = facts.defaultRouteIf ?? (platformName === "linux" ? "eth0" : "em0");
  return {
    extIf,
    firewall,
    // Where the jails are: the interface their records name; with no jail yet, where create puts
    // them (FreeBSD: the default route's interface, as qjail 5.x; Linux: the qjail0 bridge).
    jailIf:
      mostCommon((facts.jails ?? []).map((j) => j.interface).filter((i) => IFACE_RE.test(i))) ??
      (platformName === "linux" ? "qjail0" : extIf),
    jailSubnet4: jailsSubnet4(facts.jails ?? []) ?? "10.0.0.0/24",
    jailSubnet6: undefined,
    hostServices,
    hostServicesForJails: [],
    ipfRules: "/etc/ipf.rules",
    ipnatRules: "/etc/ipnat.rules",
    pfConf: "/etc/pf.conf",
    pfAnchor: "qjail",
    ipfwNatInstance: 80,
    ipfwRuleBase: 1000,
  };
}

function mostCommon(values: readonly string[]): string | undefined {
  const counts = new Map<string, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  let best: string | undefined;
  for (const [v, n] of counts) if (best === undefined || n > (counts.get(best) ?? 0)) best = v;
  return best;
}

/** The /24 every existing jail's IPv4 addresses fall in, when there is exactly one. */
function jailsSubnet4(jails: readonly { ip4: string }[]): string | undefined {
  const nets = new Set<string>();
  for (const j of jails)
    for (const entry of j.ip4.split(",")) {
      const address = entry.includes("|") ? entry.slice(entry.indexOf("|") + 1) : entry;
      const m = /^(\d{1,3}\.\d{1,3}\.\d{1,3})\.\d{1,3}$/.exec(address.trim());
      if (m) nets.add(`${m[1]}.0/24`);
    }
  return nets.size === 1 ? [...nets][0] : undefined;
}

export interface HostConfigProblem {
  line: number;
  key: string | undefined;
  message: string;
}

/**
 * Parse the host config over a set of defaults. Every problem is collected
 * (so `qjail fw show` can list them all); use {@link loadHostConfig} to get a
 * refusal on the first one instead.
 */
export function parseHostConfig(
  text: string,
  defaults: HostConfig,
): { config: HostConfig; problems: HostConfigProblem[] } {
  const config: HostConfig = {
    ...defaults,
    hostServices: [...defaults.hostServices],
    hostServicesForJails: [...defaults.hostServicesForJails],
  };
  const problems: HostConfigProblem[] = [];
  const seen = new Set<string>();
  text.split("\n").forEach((raw, i) => {
    const line = raw.trim();
    const lineNo = i + 1;
    if (line === "" || line.startsWith("#")) return;
    const m = /^([A-Za-z0-9_]+)="([^"\\`$]*)"$/.exec(line);
    if (!m) {
      problems.push({ line: lineNo, key: undefined, message: `not a key="value" line: ${shown(raw)}` });
      return;
    }
    const key = m[1] as string;
    const value = m[2] as string;
    if (!(HOST_CONFIG_KEYS as readonly string[]).includes(key)) {
      problems.push({
        line: lineNo,
        key,
        message: `unknown key ${shown(key)} (known: ${HOST_CONFIG_KEYS.join(", ")})`,
      });
      return;
    }
    if (seen.has(key)) {
      problems.push({ line: lineNo, key, message: `key ${shown(key)} given twice` });
      return;
    }
    seen.add(key);
    const err = applyKey(config, key as HostConfigKey, value);
    if (err) problems.push({ line: lineNo, key, message: err });
  });
  return { config, problems };
}

/** Set one key from its file text; returns a message when the value is invalid. */
function applyKey(config: HostConfig, key: HostConfigKey, value: string): string | undefined {
  switch (key) {
    case "ext_if":
    case "jail_if":
      if (!IFACE_RE.test(value))
        return `${key}=${shown(value)} is not an interface name (letters, digits, '_' or '.', at most 15)`;
      if (key === "ext_if") config.extIf = value;
      else config.jailIf = value;
      return undefined;
    case "firewall":
      if (!(FIREWALL_KINDS as readonly string[]).includes(value))
        return `firewall=${shown(value)} is not one of ${FIREWALL_KINDS.join(", ")}`;
      config.firewall = value as FirewallKind;
      return undefined;
    case "jail_subnet": {
      const parsed = parseJailSubnets(value);
      if (typeof parsed === "string") return parsed;
      config.jailSubnet4 = parsed.v4;
      config.jailSubnet6 = parsed.v6;
      return undefined;
    }
    case "host_services":
    case "host_services_for_jails": {
      const parsed = value.trim() === "" && key === "host_services_for_jails" ? [] : parseHostServices(value);
      if (typeof parsed === "string")
        return key === "host_services" ? parsed : parsed.replace(/^host_services:/, `${key}:`);
      if (key === "host_services") config.hostServices = parsed;
      else config.hostServicesForJails = parsed;
      return undefined;
    }
    case "ipf_rules":
    case "ipnat_rules":
    case "pf_conf":
      if (!/^\/[A-Za-z0-9_./-]+$/.test(value) || value.split("/").includes("..")) {
        return `${key}=${shown(value)} is not an absolute file path`;
      }
      if (key === "ipf_rules") config.ipfRules = value;
      else if (key === "ipnat_rules") config.ipnatRules = value;
      else config.pfConf = value;
      return undefined;
    case "pf_anchor":
      if (!ANCHOR_RE.test(value))
        return `pf_anchor=${shown(value)} is not a simple anchor name (letters, digits, '_' and '-')`;
      config.pfAnchor = value;
      return undefined;
    case "ipfw_nat_instance":
    case "ipfw_rule_base": {
      const n = /^[0-9]{1,5}$/.test(value) ? Number(value) : NaN;
      const max = key === "ipfw_rule_base" ? 65435 : 65535;
      if (!(n >= 1 && n <= max)) return `${key}=${shown(value)} must be a number from 1 to ${max}`;
      if (key === "ipfw_nat_instance") config.ipfwNatInstance = n;
      else config.ipfwRuleBase = n;
      return undefined;
    }
  }
}

/** "10.0.0.0/24" or "10.0.0.0/24,fd00::/64": at most one network per family, network address exact. */
export function parseJailSubnets(value: string): { v4: string | undefined; v6: string | undefined } | string {
  let v4: string | undefined;
  let v6: string | undefined;
  for (const part of value
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "")) {
    const net = parseNetwork(part);
    if (typeof net === "string") return `jail_subnet: ${net}`;
    if (net.family === 4) {
      if (v4) return `jail_subnet=${shown(value)} names two IPv4 networks; give one per family`;
      v4 = net.cidr;
    } else {
      if (v6) return `jail_subnet=${shown(value)} names two IPv6 networks; give one per family`;
      v6 = net.cidr;
    }
  }
  if (!v4 && !v6) return `jail_subnet=${shown(value)} names no network`;
  return { v4, v6 };
}

/** "22/tcp,80/tcp,53/udp"; a bare port means tcp. */
export function parseHostServices(value: string): HostService[] | string {
  const out: HostService[] = [];
  for (const part of value
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "")) {
    const m = /^([0-9]{1,5})(?:\/(tcp|udp))?$/.exec(part);
    const port = m ? Number(m[1]) : NaN;
    if (!m || !(port >= 1 && port <= 65535)) {
      return `host_services: ${shown(part)} is not PORT/tcp or PORT/udp with a port from 1 to 65535`;
    }
    out.push({ port, proto: (m[2] as Protocol | undefined) ?? "tcp" });
  }
  return dedupeServices(out);
}

function dedupeServices(list: readonly HostService[]): HostService[] {
  const seen = new Set<string>();
  const out: HostService[] = [];
  for (const s of list) {
    const k = `${s.port}/${s.proto}`;
    if (!seen.has(k)) {
      seen.add(k);
      out.push({ ...s });
    }
  }
  return out.sort((a, b) => a.port - b.port || a.proto.localeCompare(b.proto));
}

export interface Network {
  family: 4 | 6;
  /** Canonical text, "10.0.0.0/24" / "fd00::/64". */
  cidr: string;
  address: ipaddr.IPv4 | ipaddr.IPv6;
  prefix: number;
}

/** A CIDR whose address is the network address itself (10.0.0.0/24, not 10.0.0.5/24). */
export function parseNetwork(text: string): Network | string {
  const cidr = parseCidr(text);
  if (typeof cidr === "string") return cidr;
  const net =
    cidr.family === 4
      ? ipaddr.IPv4.networkAddressFromCIDR(cidr.cidr)
      : ipaddr.IPv6.networkAddressFromCIDR(cidr.cidr);
  if (net.toString() !== cidr.address.toString()) {
    return `${shown(text)} is not a network address; did you mean ${net.toString()}/${cidr.prefix}?`;
  }
  return cidr;
}

/**
 * Any CIDR (or a bare address, taken as /32 or /128). IPv4 must be four
 * decimal parts: ipaddr.js alone would accept "10" or "0x0a.1" and the
 * firewalls do not read them the same way.
 */
export function parseCidr(text: string): Network | string {
  const [addrText, prefixText, extra] = text.split("/");
  if (addrText === undefined || extra !== undefined) return `${shown(text)} is not an address or CIDR`;
  const addr = parseAddress(addrText);
  if (!addr) return `${shown(text)} is not an address or CIDR`;
  const max = addr.kind() === "ipv4" ? 32 : 128;
  let prefix = max;
  if (prefixText !== undefined) {
    prefix = /^[0-9]{1,3}$/.test(prefixText) ? Number(prefixText) : NaN;
    if (!(prefix >= 0 && prefix <= max)) return `${shown(text)} has a bad prefix length (0–${max})`;
  }
  const family = addr.kind() === "ipv4" ? 4 : 6;
  return { family, cidr: `${canonicalAddress(addr)}/${prefix}`, address: addr, prefix };
}

/** A plain IPv4 (four decimal parts) or IPv6 address without zone; undefined otherwise. */
export function parseAddress(text: string): ipaddr.IPv4 | ipaddr.IPv6 | undefined {
  if (ipaddr.IPv4.isValidFourPartDecimal(text)) return ipaddr.IPv4.parse(text);
  if (text.includes(":") && !text.includes("%") && ipaddr.IPv6.isValid(text)) return ipaddr.IPv6.parse(text);
  return undefined;
}

export function canonicalAddress(addr: ipaddr.IPv4 | ipaddr.IPv6): string {
  return addr.kind() === "ipv4" ? addr.toString() : (addr as ipaddr.IPv6).toRFC5952String();
}

/** The jail subnet's gateway: its first host address, held by the jail interface / bridge on the host. */
export function jailGateway(subnetCidr: string): string {
  const net = parseNetwork(subnetCidr);
  if (typeof net === "string") throw new Error(`internal: bad jail subnet ${subnetCidr}`);
  const bytes = net.address.toByteArray();
  bytes[bytes.length - 1] = (bytes[bytes.length - 1] as number) + 1;
  return canonicalAddress(ipaddr.fromByteArray(bytes));
}

/** Parse the host config or refuse with the first problem (QJ3001), naming file and line. */
export function loadHostConfig(text: string | undefined, defaults: HostConfig, path: string): HostConfig {
  if (text === undefined) return defaults;
  const { config, problems } = parseHostConfig(text, defaults);
  const first = problems[0];
  if (first) {
    throw new UsageError(
      "QJ3001",
      `${path} line ${first.line}: ${first.message}`,
      `Fix that line of ${path}; every key is described in qjail-fw-setup(8).`,
    );
  }
  return config;
}

/**
 * Every key, in a fixed order, one `key="value"` per line;
 * `host_services_for_jails` only when it opens something (files written
 * before it existed read back unchanged).
 */
export function formatHostConfig(config: HostConfig): string {
  const subnets = [config.jailSubnet4, config.jailSubnet6]
    .filter((s): s is string => s !== undefined)
    .join(",");
  const values: Record<HostConfigKey, string> = {
    ext_if: config.extIf,
    firewall: config.firewall,
    jail_if: config.jailIf,
    jail_subnet: subnets,
    host_services: config.hostServices.map((s) => `${s.port}/${s.proto}`).join(","),
    host_services_for_jails: config.hostServicesForJails.map((s) => `${s.port}/${s.proto}`).join(","),
    ipf_rules: config.ipfRules,
    ipnat_rules: config.ipnatRules,
    pf_conf: config.pfConf,
    pf_anchor: config.pfAnchor,
    ipfw_nat_instance: String(config.ipfwNatInstance),
    ipfw_rule_base: String(config.ipfwRuleBase),
  };
  return HOST_CONFIG_KEYS.filter((k) => k !== "host_services_for_jails" || values[k] !== "")
    .map((k) => `${k}="${values[k]}"\n`)
    .join("");
}
