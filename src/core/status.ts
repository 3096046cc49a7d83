import {
  IO_RESOURCES,
  RCTL_RESOURCES,
  showBytes,
  showLimit,
  type LimitValue,
  type Limits,
  type RctlResource,
} from "./limits.js";
import type { JailStatus } from "./record.js";
import { escapeForTerminal } from "./terminal.js";
import type { Exposure, ResolvedExposure } from "./exposure.js";
import type { HostConfig } from "./hostconfig.js";

/**
 * `qjail status`: what the page's "host debug commands" (sockstat -j, ipnat
 * -lhd, ipfstat -hni) show, joined per jail. Pure: the platform gathers a
 * {@link DiagFacts} (src/platform/{freebsd,linux}/facts.ts) and
 * {@link buildStatus} turns it into the document; src/core/doctor.ts reads the
 * same facts for its findings.
 */

/** A listening (or connected) socket, as sockstat(1) or ss(8) shows it. */
export interface SockAddress {
  /** "*" for the wildcard address; IPv6 addresses are unbracketed as sockstat prints them. */
  address: string;
  /** null where sockstat prints "*" (port 0). */
  port: number | null;
}

export interface SockstatRow {
  user: string;
  command: string;
  /** null for a socket with no owning process (sockstat prints "?"). */
  pid: number | null;
  fd: number | null;
  /** Normalised: 9.x's "tcp4 6" becomes "tcp46". */
  proto: string;
  local: SockAddress;
  foreign: SockAddress;
  /** CONN STATE column (sockstat -s), when present. */
  state?: string;
}

/**
 * What the live firewall says about one wanted exposure: the hit count of
 * the rule(s) that own it and whether its forward is live. The platform's
 * fact gatherer matches its listings to exposures
 * (src/platform/rule-counters.ts); core reads the verdicts only.
 */
export interface RuleVerdict {
  /** Packets counted by the rule(s) this exposure owns; null when the firewall gives no counter. */
  hits: number | null;
  /** Where the count comes from ("ipnat rdr", "ipf pass rule @3", "nft dnat"). */
  by: string | null;
  /** Whether the forward is live in the kernel; null when unknown. */
  live: boolean | null;
}

/** A forward live in the firewall that no exposure in the records asks for. */
export interface StrayForward {
  proto: string;
  /** The public port or range ("6199", "7000-7010"); "?" when the listing does not show it. */
  public: string;
  /** "10.0.0.3:80" (address alone when the listing names no port). */
  target: string;
  /** Which rule shows it ("nft dnat in table inet qjail", "ipnat rdr"). */
  by: string;
  /** Found in qjail's own table, anchor or nat instance (false: in a listing the admin shares). */
  qjailOnly: boolean;
}

/** The key {@link DiagFacts.ruleVerdicts} holds a resolved exposure's verdict under. */
export function verdictKey(e: ResolvedExposure): string {
  return `${e.jail} ${e.proto} ${e.public.low}-${e.public.high} ${e.target}`;
}

const UNKNOWN: RuleVerdict = { hits: null, by: null, live: null };

/** The verdict on one resolved exposure; unknown when the firewall could not be read. */
export function verdictFor(facts: Pick<DiagFacts, "ruleVerdicts">, e: ResolvedExposure): RuleVerdict {
  return facts.ruleVerdicts[verdictKey(e)] ?? UNKNOWN;
}

export interface JailFacts {
  name: string;
  status: JailStatus;
  ip4: string[];
  ip6: string[];
  /** Set when the kernel runs the jail. */
  jid?: number;
  /** Listening sockets in the jail's view (sockstat -l -j / ss in its netns); undefined when not gathered. */
  listening?: SockstatRow[];
  /** Content of the jail's /etc/resolv.conf; undefined when missing or unreadable. */
  resolvConf?: string;
  /** Why resolv.conf was not read (a link planted in the jail is never followed). */
  resolvConfProblem?: string;
  /** The jail's zone (qjail -z), for the commands doctor prints. */
  zone?: string;
  /** Outbound TCP probes run from inside the jail ("198.51.100.2:43" → reached?). */
  outbound?: { target: string; ok: boolean; detail: string }[];
  /** The interface the jail's record names (its aliases on FreeBSD, its bridge on Linux). */
  interface?: string;
  /** Why the jail's own view (listeners, probes) could not be gathered, when it could not. */
  netnsProblem?: string;
  /** Its resource limits: Linux, every resource (defaults filled in); FreeBSD, the rctl rules it gets. */
  limits?: Limits;
  /** What the running jail uses now (Linux: its cgroup), in rctl -u's names; cputime in seconds. */
  usage?: { memoryuse?: number; maxproc?: number; cputime?: number };
}

export interface DiagFacts {
  platform: "freebsd" | "linux";
  hostConfig: HostConfig;
  hostConfigExists: boolean;
  /** Public IPv4 of ext_if. */
  extAddress?: string;
  jails: JailFacts[];
  exposures: Exposure[];
  resolved: ResolvedExposure[];
  dropped: { exposure: Exposure; reason: string }[];
  /** Exposure keys ("jail line") live after the last verified load; undefined when never synced. */
  syncedExposures?: string[];
  /** Public address the rules were last synced for. */
  syncedAddress?: string | null;
  /** The host's own listeners (not jails'). */
  hostListening?: SockstatRow[];
  firewall: {
    /** The firewall's tools exist on this host. */
    available: boolean;
    /** Enabled at boot (rc.conf knobs / service enabled); undefined when unknown. */
    enabled?: boolean;
    /** Running in the kernel now (ipf -V Running, pf Status Enabled, nft works). */
    running?: boolean;
    /** qjail's own rules are present (ipnat rdr/anchor/table). */
    qjailRulesLoaded?: boolean;
    /** ipfw: net.inet.ip.fw.one_pass (1 makes the nat rule accept every inbound packet). */
    onePass?: number;
    /** pf: the anchor hooks qjail needs that the running main ruleset lacks. */
    hooksMissingLive?: string[];
  };
  /** Per resolved exposure ({@link verdictKey}): its rule's hits and liveness, as the platform read them. */
  ruleVerdicts: Record<string, RuleVerdict>;
  /** Live forwards no exposure asks for; undefined when the live rules could not be read. */
  strayForwards?: StrayForward[];
  /** IPv4 forwarding (Linux: net.ipv4.ip_forward in the host's namespace). */
  forwarding?: boolean;
  /** The jail interface exists, is up and carries an address inside the jail subnet. */
  jailSubnetRouted?: { ok: boolean; detail: string };
  /** Linux: qjail's guard tables and jail ports (src/firewall/nft/guard.ts); undefined elsewhere. */
  linuxGuard?: {
    /** Jails are running, so the guard must be loaded. */
    needed: boolean;
    /** Both guard tables are in the kernel. */
    loaded: boolean;
    /** The bridge guard is loaded but lacks its jail-to-jail drop (edited or an older qjail's). */
    jailToJailOpen: boolean;
  };
  /** False when qjail was never installed here (no sharedfs). */
  installed?: boolean;
  /** When qjail would not load rules here (--root, another OS): why, and how to load them. */
  loadBlocked?: { why: string; how: string };
}

export interface ExposureStatus {
  proto: string;
  public: string;
  jail_port: string;
  target: string;
  family: number;
  /** Packets counted by the rule(s) this exposure owns; null when the firewall gives no counter. */
  hits: number | null;
  /** Where the count comes from ("ipnat rdr", "ipf pass rule @3", "nft dnat"). */
  counted_by: string | null;
  /** Whether the rule is live in the kernel; null when unknown. */
  live: boolean | null;
  /** Something in the jail listens on the jail port; null when the jail is not running. */
  listening: boolean | null;
}

export interface JailStatusDoc {
  name: string;
  status: JailStatus;
  state: "running" | "stopped";
  jid: number | null;
  ipv4: string[];
  ipv6: string[];
  listening: { proto: string; address: string; port: number | null; command: string; pid: number | null }[];
  /** Why `listening` could not be read inside the jail (null when it was, or the jail is stopped). */
  listening_unknown: string | null;
  exposures: ExposureStatus[];
  /** Resource limits by rctl name (bytes, counts, percent, per-second rates); "unlimited" when lifted. */
  limits: Partial<Record<RctlResource, number | "unlimited">>;
  /** What the running jail uses now; null when stopped or not measured (FreeBSD: rctl -u is not read). */
  usage: { memoryuse: number | null; maxproc: number | null; cputime: number | null } | null;
}

export interface StatusDoc {
  __version: "1";
  host: {
    platform: string;
    firewall: string;
    ext_if: string;
    ext_address: string | null;
    firewall_running: boolean | null;
    qjail_rules_loaded: boolean | null;
    forwarding: boolean | null;
    /** Live forwards no exposure asks for (drift): what `doctor --repair` removes. */
    stray_forwards: { proto: string; public: string; target: string; by: string }[];
  };
  jails: JailStatusDoc[];
}

function rangeText(low: number, high: number): string {
  return low === high ? String(low) : `${low}-${high}`;
}

/** Whether a listener serves `port` of `proto` on `address`. */
export function listensOn(
  rows: readonly SockstatRow[],
  proto: string,
  address: string,
  low: number,
  high: number,
): boolean {
  return rows.some(
    (r) =>
      r.proto.startsWith(proto) &&
      r.local.port !== null &&
      r.local.port >= low &&
      r.local.port <= high &&
      (r.local.address === "*" || r.local.address === address),
  );
}

export function buildStatus(facts: DiagFacts, only?: string): StatusDoc {
  const jails = facts.jails
    .filter((j) => only === undefined || j.name === only)
    .map((j): JailStatusDoc => {
      const running = j.jid !== undefined;
      const exposures = facts.resolved
        .filter((e) => e.jail === j.name)
        .map((e): ExposureStatus => {
          const c = verdictFor(facts, e);
          return {
            proto: e.proto,
            public: rangeText(e.public.low, e.public.high),
            jail_port: rangeText(e.jailPort.low, e.jailPort.high),
            target: e.target,
            family: e.family,
            hits: c.hits,
            counted_by: c.by,
            live: c.live,
            listening:
              running && j.listening
                ? listensOn(j.listening, e.proto, e.target, e.jailPort.low, e.jailPort.high)
                : null,
          };
        });
      return {
        name: j.name,
        status: j.status,
        state: running ? "running" : "stopped",
        jid: j.jid ?? null,
        ipv4: j.ip4,
        ipv6: j.ip6,
        listening: (j.listening ?? []).map((r) => ({
          proto: r.proto,
          address: r.local.address,
          port: r.local.port,
          command: r.command,
          pid: r.pid,
        })),
        listening_unknown: running ? (j.netnsProblem ?? null) : null,
        exposures,
        limits: Object.fromEntries(
          RCTL_RESOURCES.filter((r) => j.limits?.[r] !== undefined).map((r) => [
            r,
            j.limits?.[r] as LimitValue,
          ]),
        ),
        usage:
          running && j.usage
            ? {
                memoryuse: j.usage.memoryuse ?? null,
                maxproc: j.usage.maxproc ?? null,
                cputime: j.usage.cputime === undefined ? null : Math.round(j.usage.cputime * 1000) / 1000,
              }
            : null,
      };
    });
  return {
    __version: "1",
    host: {
      platform: facts.platform,
      firewall: facts.hostConfig.firewall,
      ext_if: facts.hostConfig.extIf,
      ext_address: facts.extAddress ?? null,
      firewall_running: facts.firewall.running ?? null,
      qjail_rules_loaded: facts.firewall.qjailRulesLoaded ?? null,
      forwarding: facts.forwarding ?? null,
      stray_forwards: (facts.strayForwards ?? []).map((f) => ({
        proto: f.proto,
        public: f.public,
        target: f.target,
        by: f.by,
      })),
    },
    jails,
  };
}

/** The human view: one block per jail, sockstat-like lines, then exposures with counts. */
export function formatStatus(doc: StatusDoc): string {
  const h = doc.host;
  const out: string[] = [
    `host: ${h.platform}, firewall ${h.firewall} on ${h.ext_if}${h.ext_address ? ` (${h.ext_address})` : ""}` +
      `${h.firewall_running === false ? ", firewall NOT running" : ""}${h.qjail_rules_loaded === false ? ", qjail rules NOT loaded" : ""}`,
  ];
  for (const f of h.stray_forwards)
    out.push(`STRAY forward ${f.proto} ${f.public} -> ${f.target} (${f.by}): no exposure asks for it`);
  if (doc.jails.length === 0) out.push("no jails");
  for (const j of doc.jails) {
    const flag = j.status === "normal" ? "" : ` [${j.status}]`;
    out.push("");
    out.push(
      `${j.name}${flag}: ${j.state}${j.jid !== null ? `, JID ${j.jid}` : ""}, ${[...j.ipv4, ...j.ipv6].join(" ") || "no address"}`,
    );
    // process names and addresses come from inside the jail: never raw to the terminal (review L1)
    for (const l of j.listening)
      out.push(
        `  listening ${escapeForTerminal(l.proto).padEnd(6)} ${escapeForTerminal(l.address)}:${l.port ?? "*"}  ${escapeForTerminal(l.command)}${l.pid !== null ? ` (pid ${l.pid})` : ""}`,
      );
    if (j.listening_unknown !== null) out.push(`  listening unknown: ${j.listening_unknown}`);
    // io rates only when set: "unlimited" four times says nothing
    const limits = RCTL_RESOURCES.filter(
      (r) =>
        j.limits[r] !== undefined &&
        !((IO_RESOURCES as readonly string[]).includes(r) && j.limits[r] === "unlimited"),
    );
    if (limits.length > 0)
      out.push(
        `  limits    ${limits.map((r) => `${r} ${showLimit(r, j.limits[r] as LimitValue)}`).join(", ")}`,
      );
    if (j.usage) {
      const of = (r: RctlResource): string =>
        j.limits[r] !== undefined && j.limits[r] !== "unlimited" ? ` of ${showLimit(r, j.limits[r])}` : "";
      const used: string[] = [];
      if (j.usage.memoryuse !== null) used.push(`memory ${showBytes(j.usage.memoryuse)}${of("memoryuse")}`);
      if (j.usage.maxproc !== null)
        used.push(
          `${j.usage.maxproc}${of("maxproc")} process${j.usage.maxproc === 1 && !of("maxproc") ? "" : "es"}`,
        );
      if (j.usage.cputime !== null) used.push(`cpu time ${j.usage.cputime.toFixed(2)} s`);
      if (used.length > 0) out.push(`  using     ${used.join(", ")}`);
    }
    for (const e of j.exposures) {
      // Without qjail's rules loaded there is nothing to count; "no counter" is a loaded table without one.
      const hits =
        e.hits !== null
          ? `${e.hits} hit${e.hits === 1 ? "" : "s"} (${e.counted_by})`
          : h.qjail_rules_loaded === true
            ? "no counter"
            : "not counted (qjail's rules are not loaded here)";
      const listen = e.listening === false ? ", NOTHING LISTENS on the jail port" : "";
      const live = e.live === false ? ", rule NOT live" : "";
      out.push(`  exposed   ${e.proto} ${e.public} -> ${e.target}:${e.jail_port}  ${hits}${live}${listen}`);
    }
  }
  if (doc.jails.some((j) => j.exposures.some((e) => e.hits !== null)))
    out.push(
      "",
      "Hit counts start again from 0 whenever qjail reloads its rules (expose, unexpose, fw sync).",
    );
  return out.join("\n") + "\n";
}
