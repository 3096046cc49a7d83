import ipaddr from "ipaddr.js";
import { UsageError, shown } from "./errors.js";
import type { ConfigChange, FlagKey } from "./plan-config.js";
import type { HostConfigKey } from "./hostconfig.js";
import { describeExposure, formatRange, type Exposure } from "./exposure.js";
import type { JailRecord, JailStatus } from "./record.js";
import { formatAddressList, type JailAddress } from "./validate.js";
import type { DesiredJail, DesiredOptions, DesiredSpec } from "./spec.js";
import { notDescribable } from "./spec-export.js";

/**
 * `qjail apply`, the pure half: desired spec + what the host has → what to
 * do, per jail, in the words of the existing commands (create, config
 * changes, start/stop, delete, expose/unexpose). The use case
 * (src/ops/apply.ts) turns each step into the plan of the command's own
 * planner, so apply never has logic of its own for what a jail's files are.
 */

export interface CurrentJail {
  name: string;
  zone: string | undefined;
  status: JailStatus;
  record: JailRecord;
  running: boolean;
}

export interface CreateIntent {
  ip4: JailAddress[];
  ip6: JailAddress[];
  nic: string | undefined;
  oneTimeSsh: boolean;
}

/** One jail's steps, in the order they run. */
export interface JailIntent {
  name: string;
  zone: string | undefined;
  /** The jail's steps as a person would type them (for the report and --check). */
  actions: string[];
  stopFirst: boolean;
  create: CreateIntent | undefined;
  changes: ConfigChange[];
  delete: boolean;
  startAfter: boolean;
  stopAfter: boolean;
  exposeRemove: Exposure[];
  exposeAdd: Exposure[];
}

export interface ApplyIntents {
  jails: JailIntent[];
  /** qjail.host keys whose value changes: key → [old (undefined: not in the file), new]. */
  host: { key: HostConfigKey; from: string | undefined; to: string }[];
  /** Jails the spec's zone has that it does not name, left alone (no --prune) or not describable. */
  untouched: { name: string; why: string }[];
  warnings: string[];
}

const FLAGS: readonly FlagKey[] = ["rsockets", "sysvipc", "quotas", "nullfs", "tmpfs", "zfs"];
const FLAG_WORDS: Record<FlagKey, string> = {
  rsockets: "raw_sockets",
  sysvipc: "sysvipc",
  quotas: "quotas",
  nullfs: "mount_nullfs",
  tmpfs: "mount_tmpfs",
  zfs: "mount_zfs",
};

function canonicalList(list: readonly JailAddress[]): string {
  return formatAddressList(
    list.map((a) => ({
      ...a,
      address: a.family === 6 ? ipaddr.IPv6.parse(a.address).toString() : a.address,
    })),
  );
}

function canonicalRecordList(value: string, family: 4 | 6): string {
  if (value === "") return "";
  return canonicalList(
    value.split(",").map((e) => {
      const bar = e.indexOf("|");
      return {
        family,
        nic: bar >= 0 ? e.slice(0, bar) : undefined,
        address: bar >= 0 ? e.slice(bar + 1) : e,
      };
    }),
  );
}

const num = (v: string): number | undefined => (v === "" ? undefined : Number(v));

/** The config changes that take a record to the desired options, addresses and interface (status excluded). */
export function settingChanges(
  record: JailRecord,
  want: Pick<DesiredJail, "ip4" | "ip6" | "nic"> & { options: DesiredOptions },
): ConfigChange[] {
  const out: ConfigChange[] = [];
  if (canonicalList(want.ip4) !== canonicalRecordList(record.ip4, 4))
    out.push({ kind: "ip4", list: want.ip4 });
  if (canonicalList(want.ip6) !== canonicalRecordList(record.ip6, 6))
    out.push({ kind: "ip6", list: want.ip6 });
  if (want.nic !== undefined && want.nic !== record.interface) out.push({ kind: "nic", nic: want.nic });
  for (const key of FLAGS) {
    const on = record[key] !== "";
    if (on !== want.options[key]) out.push({ kind: "flag", key, on: want.options[key] });
  }
  if (want.options.securelevel !== num(record.securelevel))
    out.push({ kind: "securelevel", value: want.options.securelevel });
  const ruleset = record.ruleset === "4" ? undefined : num(record.ruleset);
  if (want.options.ruleset !== ruleset) out.push({ kind: "ruleset", value: want.options.ruleset });
  if (want.options.fib !== num(record.fib)) out.push({ kind: "fib", value: want.options.fib });
  return out;
}

/** Status changes from one status to another, as config -R/-M (off) before and -r/-m (on) after the others. */
function statusChanges(from: JailStatus, to: JailStatus): { before: ConfigChange[]; after: ConfigChange[] } {
  if (from === to) return { before: [], after: [] };
  const before: ConfigChange[] = from === "normal" ? [] : [{ kind: "status", status: from, on: false }];
  const after: ConfigChange[] = to === "normal" ? [] : [{ kind: "status", status: to, on: true }];
  return { before, after };
}

export function describeChange(c: ConfigChange): string {
  switch (c.kind) {
    case "ip4":
    case "ip6":
      return `config ${c.kind} ${formatAddressList(c.list) || "none"}`;
    case "nic":
      return `config nic ${c.nic}`;
    case "flag":
      return `config ${FLAG_WORDS[c.key]} ${c.on ? "on" : "off"}`;
    case "securelevel":
      return `config securelevel ${c.value ?? "default"}`;
    case "ruleset":
      return `config devfs_ruleset ${c.value ?? "4"}`;
    case "fib":
      return `config fib ${c.value ?? "none"}`;
    case "status":
      return `config ${c.on ? "" : "no "}${c.status === "man" ? "manual" : "norun"}`;
    default:
      return `config ${c.kind}`;
  }
}

/** The identity of an exposure within a jail: its public side. A changed jail port or source list is a replacement. */
function publicKey(e: Exposure): string {
  const on = e.on === undefined ? "" : e.on.kind === "address" ? e.on.address : `if:${e.on.name}`;
  return `${e.proto} ${formatRange(e.public)} ${on}`;
}

function sameExposure(a: Exposure, b: Exposure): boolean {
  return (
    publicKey(a) === publicKey(b) &&
    formatRange(a.jailPort) === formatRange(b.jailPort) &&
    [...a.from].sort().join(",") === [...b.from].sort().join(",") &&
    a.comment === b.comment
  );
}

function exposureChanges(
  desired: readonly Exposure[],
  current: readonly Exposure[],
  prune: boolean,
): { add: Exposure[]; remove: Exposure[] } {
  const add: Exposure[] = [];
  const remove: Exposure[] = [];
  const byKey = new Map(current.map((e) => [publicKey(e), e]));
  const named = new Set<string>();
  for (const d of desired) {
    const k = publicKey(d);
    named.add(k);
    const c = byKey.get(k);
    if (c !== undefined && sameExposure(c, d)) continue;
    if (c !== undefined) remove.push(c);
    add.push(d);
  }
  if (prune) for (const c of current) if (!named.has(publicKey(c))) remove.push(c);
  return { add, remove };
}

function emptyIntent(name: string, zone: string | undefined): JailIntent {
  return {
    name,
    zone,
    actions: [],
    stopFirst: false,
    create: undefined,
    changes: [],
    delete: false,
    startAfter: false,
    stopAfter: false,
    exposeRemove: [],
    exposeAdd: [],
  };
}

function exposureActions(intent: JailIntent): void {
  for (const e of intent.exposeRemove) intent.actions.push(`unexpose ${describeExposure(e)}`);
  for (const e of intent.exposeAdd) intent.actions.push(`expose ${describeExposure(e)}`);
}

/**
 * What apply does. `current` holds every jail of every zone (names are
 * unique host-wide); `exposures` every exposure; `hostFile` the keys
 * qjail.host sets now. Jails are handled in the spec's order; jails pruned
 * come first so their addresses and ports are free for the others.
 */
export function planIntents(
  spec: DesiredSpec,
  current: readonly CurrentJail[],
  exposures: readonly Exposure[],
  hostFile: Partial<Record<HostConfigKey, string>>,
  opts: { prune: boolean },
): ApplyIntents {
  const byName = new Map(current.map((j) => [j.name, j]));
  const jails: JailIntent[] = [];
  const untouched: ApplyIntents["untouched"] = [];
  const warnings: string[] = [];
  const named = new Set(spec.jails.map((j) => j.name));
  const exposuresOf = (name: string): Exposure[] => exposures.filter((e) => e.jail === name);

  for (const c of current) {
    if (named.has(c.name) || c.zone !== spec.zone) continue;
    const why = notDescribable(c.record);
    if (why !== undefined) {
      untouched.push({ name: c.name, why: `${why}; never pruned` });
      continue;
    }
    if (!opts.prune) {
      untouched.push({ name: c.name, why: "not in the spec (--prune deletes it)" });
      continue;
    }
    const intent = emptyIntent(c.name, c.zone);
    intent.exposeRemove = exposuresOf(c.name);
    exposureActions(intent);
    intent.stopFirst = c.running;
    if (c.running) intent.actions.push("stop");
    intent.delete = true;
    intent.actions.push("delete (--prune)");
    jails.push(intent);
  }

  for (const want of spec.jails) {
    const have = byName.get(want.name);
    const intent = emptyIntent(want.name, want.zone);
    if (have !== undefined && have.zone !== want.zone)
      throw new UsageError(
        "QJ7010",
        `${want.where}: jail ${shown(want.name)} is in zone ${shown(have.zone ?? "(default)")}, the spec puts it in ${shown(want.zone ?? "(default)")}`,
        "apply does not move jails between zones: fix the spec's zone (or archive the jail and restore it in the other zone).",
      );
    const why = have === undefined ? undefined : notDescribable(have.record);
    if (why !== undefined)
      throw new UsageError(
        "QJ7011",
        `${want.where}: jail ${shown(want.name)} is ${why}; apply cannot manage it`,
        "Leave it out of the spec and manage it with qjail config.",
      );
    if (want.state === "absent") {
      if (have === undefined) continue;
      intent.exposeRemove = exposuresOf(want.name);
      exposureActions(intent);
      intent.stopFirst = have.running;
      if (have.running) intent.actions.push("stop");
      intent.delete = true;
      intent.actions.push("delete");
      jails.push(intent);
      continue;
    }
    const wantRunning = want.state === "running";
    if (have === undefined) {
      intent.create = { ip4: want.ip4, ip6: want.ip6, nic: want.nic, oneTimeSsh: want.sshUser === true };
      const addr = [...want.ip4, ...want.ip6].map((a) => a.address).join(",");
      intent.actions.push(
        `create ${addr}${want.nic ? ` on ${want.nic}` : ""}${want.sshUser ? " with the one-time ssh user" : ""}`,
      );
      // A new jail's record has every option at its default and the addresses it was created with.
      intent.changes = [
        ...settingChanges(newRecordLike(want), want).filter(
          (c) => c.kind !== "ip4" && c.kind !== "ip6" && c.kind !== "nic",
        ),
        ...statusChanges("normal", want.status).after,
      ];
      intent.startAfter = wantRunning;
    } else {
      const st = statusChanges(have.status, want.status);
      intent.changes = [...st.before, ...settingChanges(have.record, want), ...st.after];
      // ssh_user acts when the jail is created (create -c); the first start consumes it, so it is not compared later.
      if (intent.changes.length > 0 && have.running) {
        intent.stopFirst = true;
        intent.actions.push("stop (settings change only while stopped)");
      }
      intent.startAfter = wantRunning && (intent.stopFirst || !have.running);
      intent.stopAfter = !wantRunning && have.running && !intent.stopFirst;
    }
    for (const c of intent.changes) intent.actions.push(describeChange(c));
    const ex = exposureChanges(want.expose, exposuresOf(want.name), opts.prune);
    intent.exposeAdd = ex.add;
    intent.exposeRemove = ex.remove;
    exposureActions(intent);
    if (intent.startAfter) intent.actions.push(intent.stopFirst ? "start again" : "start");
    if (intent.stopAfter) intent.actions.push("stop");
    if (intent.actions.length > 0) jails.push(intent);
  }

  const host: ApplyIntents["host"] = [];
  for (const [key, to] of Object.entries(spec.host) as [HostConfigKey, string][]) {
    const from = hostFile[key];
    if (from !== to) host.push({ key, from, to });
  }
  return { jails, host, untouched, warnings };
}

function newRecordLike(want: DesiredJail): JailRecord {
  const r: Record<string, string> = {};
  for (const k of [
    "rsockets",
    "sysvipc",
    "quotas",
    "nullfs",
    "tmpfs",
    "zfs",
    "securelevel",
    "ruleset",
    "fib",
  ])
    r[k] = "";
  r.ip4 = formatAddressList(want.ip4);
  r.ip6 = formatAddressList(want.ip6);
  r.interface = want.nic ?? "";
  return r as JailRecord;
}

/**
 * qjail.host with the spec's keys set: a key's line is replaced where it
 * is, a missing key is appended, comments and other keys stay byte for byte.
 */
export function updateHostFile(
  text: string | undefined,
  values: Partial<Record<HostConfigKey, string>>,
): string {
  const lines = (text ?? "").split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  const done = new Set<string>();
  const out = lines.map((raw) => {
    const m = /^\s*([A-Za-z0-9_]+)=/.exec(raw);
    const key = m?.[1] as HostConfigKey | undefined;
    if (key !== undefined && key in values && !done.has(key)) {
      done.add(key);
      return `${key}="${values[key]}"`;
    }
    return raw;
  });
  for (const [k, v] of Object.entries(values)) if (!done.has(k)) out.push(`${k}="${v}"`);
  return out.length === 0 ? "" : `${out.join("\n")}\n`;
}
