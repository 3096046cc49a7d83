import { UsageError, shown } from "./errors.js";
import { VERSION } from "../version.js";

/**
 * The dyndns2 update protocol ("members NIC update" of DynDNS, spoken by most
 * registrars and DNS hosts: No-IP, Google Domains, OVH, Dyn, ddclient's
 * servers): `GET <url>?hostname=H&myip=A` with HTTP basic auth, answered by
 * one line per host such as `good 198.51.100.7` or `badauth`.
 *
 * Pure: {@link buildUpdateRequest} makes the request, {@link classifyAnswer}
 * says what an answer means for the watcher, and {@link watchLoop} is the
 * watcher's decision loop over injected effects (address lookup, rule sync,
 * HTTP, sleep), so every branch is testable without a network. The HTTP side
 * is src/platform/dyndns-client.ts.
 */

export interface DyndnsSettings {
  /** Update URL, e.g. https://members.dyndns.org/nic/update. */
  url: string;
  user: string;
  password: string;
  /** One or more FQDNs, comma separated as the protocol allows. */
  hostname: string;
}

export interface UpdateRequest {
  url: string;
  headers: Record<string, string>;
}

/** dyndns2 asks clients to identify as "Company - Device - Version". */
export const USER_AGENT = `qjail - fw watch - ${VERSION}`;

const FQDN_RE = /^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$/;

/** Refuse a bad update URL or hostname before anything is sent (QJ51xx). */
export function validateDyndnsSettings(s: Pick<DyndnsSettings, "url" | "hostname" | "user">): void {
  let u: URL;
  try {
    u = new URL(s.url);
  } catch {
    throw new UsageError(
      "QJ5101",
      `--dyndns-url ${shown(s.url)} is not a URL`,
      "Give the provider's update URL, e.g. https://members.dyndns.org/nic/update.",
    );
  }
  const loopback = u.hostname === "127.0.0.1" || u.hostname === "localhost" || u.hostname === "[::1]";
  if (u.protocol !== "https:" && !(u.protocol === "http:" && loopback)) {
    throw new UsageError(
      "QJ5102",
      `--dyndns-url ${shown(s.url)} would send the password without TLS`,
      "Use the provider's https:// update URL (plain http is accepted only for a server on this host's loopback).",
    );
  }
  if (u.username !== "" || u.password !== "") {
    throw new UsageError(
      "QJ5103",
      `--dyndns-url ${shown(s.url)} carries credentials`,
      "Remove them from the URL; give --dyndns-user and --dyndns-password-file.",
    );
  }
  for (const h of s.hostname.split(",")) {
    if (!FQDN_RE.test(h)) {
      throw new UsageError(
        "QJ5104",
        `--hostname ${shown(h)} is not a fully qualified domain name`,
        "Give the name the provider hosts, e.g. host.example.org.",
      );
    }
  }
  if (s.user === "" || /[:\s]/.test(s.user)) {
    throw new UsageError(
      "QJ5105",
      `--dyndns-user ${shown(s.user)} is empty or contains ':' or white space`,
      "Give the account name the provider issued.",
    );
  }
}

export function buildUpdateRequest(s: DyndnsSettings, address: string): UpdateRequest {
  const u = new URL(s.url);
  u.searchParams.set("hostname", s.hostname);
  u.searchParams.set("myip", address);
  return {
    url: u.toString(),
    headers: {
      Authorization: `Basic ${Buffer.from(`${s.user}:${s.password}`).toString("base64")}`,
      "User-Agent": USER_AGENT,
    },
  };
}

/**
 * What the watcher does after an answer:
 * - `updated`: the name now points at the address (good, nochg).
 * - `backoff`: the server asks us to slow down or is broken (abuse, 911, dnserr, 5xx); wait long, then retry.
 * - `retry`: a transport problem (refused, reset, timeout); retry on the next interval.
 * - `stop`: retrying cannot help until the admin changes something (badauth, nohost, ...).
 */
export type AnswerAction = "updated" | "backoff" | "retry" | "stop";

export interface AnswerClass {
  action: AnswerAction;
  /** The protocol's return code ("good", "badauth", ...), or "http-503", "network". */
  code: string;
  /** Address echoed by good/nochg. */
  address?: string;
  /** One line for the admin. */
  message: string;
}

const STOP_MESSAGES: Record<string, string> = {
  badauth:
    "the provider rejected the user name or password (badauth); fix --dyndns-user or the password file",
  "!donator": "the provider refused an option reserved for paying accounts (!donator)",
  notfqdn: "the provider says the hostname is not a fully qualified domain name (notfqdn); check --hostname",
  nohost: "the hostname does not exist in this account (nohost); check --hostname and the account",
  numhost: "too many hosts in one update (numhost); give fewer names in --hostname",
  badagent: "the provider blocked this client's user agent (badagent)",
};

export function classifyAnswer(status: number, body: string): AnswerClass {
  const first = body.trim().split("\n")[0]?.trim() ?? "";
  const [code = "", address] = first.split(/\s+/);
  if (code === "good" || code === "nochg") {
    const out: AnswerClass = {
      action: "updated",
      code,
      message:
        code === "good" ? `DNS updated to ${address ?? "?"}` : `DNS already pointed at ${address ?? "?"}`,
    };
    if (address !== undefined) out.address = address;
    return out;
  }
  const stop = STOP_MESSAGES[code];
  if (stop !== undefined) return { action: "stop", code, message: stop };
  if (code === "abuse")
    return {
      action: "backoff",
      code,
      message: "the provider flags this client for too many updates (abuse); backing off",
    };
  if (code === "911" || code === "dnserr")
    return {
      action: "backoff",
      code,
      message: `the provider reports a server-side problem (${code}); backing off`,
    };
  if (status === 401 || status === 403)
    return {
      action: "stop",
      code: `http-${status}`,
      message: `the provider answered HTTP ${status}: check the user name and password`,
    };
  if (status >= 500 || status === 429)
    return {
      action: "backoff",
      code: `http-${status}`,
      message: `the provider answered HTTP ${status}; backing off`,
    };
  return {
    action: "retry",
    code: `http-${status}`,
    message: `unexpected answer (HTTP ${status}): ${JSON.stringify(first.slice(0, 80))}`,
  };
}

/** Effects the watch loop needs; tests inject fakes, the command injects the real ones. */
export interface WatchEffects {
  /** Current public IPv4 of the external interface, undefined when it has none. */
  currentAddress(): Promise<string | undefined>;
  /** Re-sync the firewall rules for the new address (`qjail fw sync`, plus `ipf -y` on IPFilter). */
  resync(address: string): Promise<void>;
  /** Send one dyndns2 update; network failures are reported as {network: message}. */
  update?(address: string): Promise<{ status: number; body: string } | { network: string }>;
  /** The address the DNS name was last set to, persisted across restarts. */
  loadLastUpdated(): Promise<string | undefined>;
  saveLastUpdated(address: string): Promise<void>;
  /** Remember the address the rules were synced for, so a restarted watcher notices a change made while it was down. */
  saveLastSynced?(address: string): Promise<void>;
  sleep(ms: number): Promise<void>;
  /** True once the process was asked to stop (SIGTERM from rc.d/systemd); checked after each sleep. */
  stopRequested?(): boolean;
  now(): number;
  log(line: string): void;
}

export interface WatchOptions {
  intervalMs: number;
  /** Stop after this many checks (1 for --once); undefined = forever. */
  maxChecks?: number;
  /** First back-off after abuse/911; doubles up to {@link WatchOptions.maxBackoffMs}. */
  backoffMs: number;
  maxBackoffMs: number;
  /** The address the live rules were last synced for (from qjail's firewall state), so a restart does not reload needlessly. */
  syncedAddress?: string;
}

export interface WatchOutcome {
  checks: number;
  updates: number;
  syncs: number;
  /** Set when the loop stopped on an answer retrying cannot fix. */
  stopped?: AnswerClass;
}

/**
 * The watcher. Each check: read the address; if it differs from the last one
 * the rules were synced for, re-sync; if DNS updating is configured and the
 * name was not yet set to this address (persisted, so a restart does not
 * re-send), send one update unless backing off. An address is never sent
 * twice after a `good`/`nochg`: providers treat repeated nochg as abuse.
 */
export async function watchLoop(fx: WatchEffects, opts: WatchOptions): Promise<WatchOutcome> {
  const out: WatchOutcome = { checks: 0, updates: 0, syncs: 0 };
  let lastSynced: string | undefined = opts.syncedAddress;
  let lastUpdated = await fx.loadLastUpdated();
  let backoffUntil = 0;
  let backoff = opts.backoffMs;
  for (;;) {
    out.checks++;
    const address = await fx.currentAddress();
    const last = opts.maxChecks !== undefined && out.checks >= opts.maxChecks;
    if (address === undefined)
      fx.log(`no IPv4 address on the external interface${last ? "; nothing to do" : "; waiting"}`);
    else {
      if (address !== lastSynced) {
        try {
          await fx.resync(address);
          out.syncs++;
          await fx.saveLastSynced?.(address);
          fx.log(
            lastSynced === undefined
              ? `public address ${address}; rules in sync`
              : `public address changed ${lastSynced} -> ${address}; rules re-synced`,
          );
          lastSynced = address;
        } catch (e) {
          fx.log(
            `re-syncing the rules for ${address} failed: ${(e as Error).message}${last ? "" : "; will retry"}`,
          );
        }
      }
      if (fx.update && address !== lastUpdated && fx.now() >= backoffUntil) {
        const answer = await fx.update(address);
        const verdict: AnswerClass =
          "network" in answer
            ? {
                action: "retry",
                code: "network",
                message: `could not reach the update server: ${answer.network}`,
              }
            : classifyAnswer(answer.status, answer.body);
        fx.log(verdict.message);
        if (verdict.action === "updated") {
          out.updates++;
          lastUpdated = address;
          backoff = opts.backoffMs;
          await fx.saveLastUpdated(address);
        } else if (verdict.action === "backoff") {
          backoffUntil = fx.now() + backoff;
          fx.log(`next update attempt in ${Math.round(backoff / 1000)} s`);
          backoff = Math.min(backoff * 2, opts.maxBackoffMs);
        } else if (verdict.action === "stop") {
          out.stopped = verdict;
          return out;
        }
      }
    }
    if (opts.maxChecks !== undefined && out.checks >= opts.maxChecks) return out;
    await fx.sleep(opts.intervalMs);
    if (fx.stopRequested?.()) return out;
  }
}
