import { Document, isMap, isSeq } from "yaml";
import { HOST_CONFIG_KEYS, type HostConfigKey } from "./hostconfig.js";
import { formatRange, sortExposures, type Exposure } from "./exposure.js";
import type { JailRecord, JailStatus } from "./record.js";
import { SPEC_VERSION, type RawSpec } from "./spec.js";

/**
 * `qjail export`: the host as a spec that `qjail apply` reads back with no
 * change. Pure: the use case reads the records, the host file and the
 * running jails, and passes them in. What the spec cannot describe (vnet
 * jails) is left out and named in `skipped`, so apply --prune of an
 * exported spec never meets a jail it did not see described (it skips them
 * too).
 */

export interface ExportJail {
  name: string;
  status: JailStatus;
  record: JailRecord;
  running: boolean;
}

export interface ExportInput {
  zone: string | undefined;
  /** The `key="value"` lines of qjail.host as written (not the detected defaults). */
  hostFile: string | undefined;
  jails: readonly ExportJail[];
  exposures: readonly Exposure[];
}

/** Jails the v1 spec cannot describe (and apply never changes or prunes). */
export function notDescribable(record: JailRecord): string | undefined {
  if (record.vnet !== "") return "a vnet jail (the spec has no vnet settings)";
  return undefined;
}

/** The keys a qjail.host text sets, in the file's order (damaged lines are left to the file's own checks). */
export function hostFileValues(text: string | undefined): Partial<Record<HostConfigKey, string>> {
  const out: Partial<Record<HostConfigKey, string>> = {};
  for (const raw of (text ?? "").split("\n")) {
    const m = /^([A-Za-z0-9_]+)="([^"\\`$]*)"$/.exec(raw.trim());
    if (m && (HOST_CONFIG_KEYS as readonly string[]).includes(m[1] as string) && !((m[1] as string) in out))
      out[m[1] as HostConfigKey] = m[2] as string;
  }
  return out;
}

const INT_KEYS = new Set<HostConfigKey>(["ipfw_nat_instance", "ipfw_rule_base"]);

function one(list: string[]): string | string[] {
  return list.length === 1 ? (list[0] as string) : list;
}

function addresses(value: string): string[] {
  return value === "" ? [] : value.split(",");
}

export function specFromHost(input: ExportInput): {
  spec: RawSpec;
  skipped: { name: string; why: string }[];
} {
  const host: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(hostFileValues(input.hostFile)) as [HostConfigKey, string][]) {
    if (INT_KEYS.has(k)) host[k] = Number(v);
    else if (k === "host_services") host[k] = v === "" ? [] : v.split(",");
    else if (k === "jail_subnet") host[k] = one(v.split(",").filter((s) => s !== ""));
    else host[k] = v;
  }
  const jails: NonNullable<RawSpec["jails"]> = {};
  const skipped: { name: string; why: string }[] = [];
  for (const j of input.jails) {
    const why = notDescribable(j.record);
    if (why !== undefined) {
      skipped.push({ name: j.name, why });
      continue;
    }
    const r = j.record;
    const jail: NonNullable<RawSpec["jails"]>[string] = {};
    const ip4 = addresses(r.ip4);
    const ip6 = addresses(r.ip6);
    if (ip4.length > 0) jail.ip4 = one(ip4);
    if (ip6.length > 0) jail.ip6 = one(ip6);
    if (r.interface !== "") jail.nic = r.interface;
    // A norun jail defaults to stopped (and config/start keep it so).
    if (j.status !== "norun") jail.state = j.running ? "running" : "stopped";
    if (r.poststartssh !== "") jail.ssh_user = true;
    if (j.status === "norun") jail.norun = true;
    if (j.status === "man") jail.manual = true;
    const options: Record<string, boolean | number> = {};
    if (r.rsockets !== "") options.raw_sockets = true;
    if (r.sysvipc !== "") options.sysvipc = true;
    if (r.quotas !== "") options.quotas = true;
    if (r.nullfs !== "") options.mount_nullfs = true;
    if (r.tmpfs !== "") options.mount_tmpfs = true;
    if (r.zfs !== "") options.mount_zfs = true;
    if (r.securelevel !== "") options.securelevel = Number(r.securelevel);
    if (r.ruleset !== "" && r.ruleset !== "4") options.devfs_ruleset = Number(r.ruleset);
    if (r.fib !== "") options.fib = Number(r.fib);
    if (Object.keys(options).length > 0) jail.options = options;
    const mine = sortExposures(input.exposures.filter((e) => e.jail === j.name));
    if (mine.length > 0)
      jail.expose = mine.map((e) => {
        const out: NonNullable<typeof jail.expose>[number] = {
          proto: e.proto,
          public: e.public.low === e.public.high ? e.public.low : formatRange(e.public),
          port: e.jailPort.low === e.jailPort.high ? e.jailPort.low : formatRange(e.jailPort),
        };
        if (e.from.length > 0) out.from = one(e.from);
        if (e.on !== undefined) out.on = e.on.kind === "address" ? e.on.address : e.on.name;
        if (e.comment !== "") out.comment = e.comment;
        return out;
      });
    jails[j.name] = jail;
  }
  const spec: RawSpec = { version: SPEC_VERSION };
  if (input.zone !== undefined) spec.zone = input.zone;
  if (Object.keys(host).length > 0) spec.host = host as RawSpec["host"];
  spec.jails = jails;
  return { spec, skipped };
}

/** The spec as YAML, flow style for exposures (one line each), with a header naming its source. */
export function formatSpecYaml(spec: RawSpec, header: string): string {
  const doc = new Document(spec);
  for (const name of Object.keys(spec.jails ?? {})) {
    for (const key of ["options", "ip4", "ip6"]) {
      const node = doc.getIn(["jails", name, key], true);
      if (isMap(node) || isSeq(node)) node.flow = true;
    }
    const expose = doc.getIn(["jails", name, "expose"], true);
    if (isSeq(expose)) for (const item of expose.items) if (isMap(item)) item.flow = true;
  }
  const hs = doc.getIn(["host", "host_services"], true);
  if (isSeq(hs)) hs.flow = true;
  const body = doc.toString({ lineWidth: 0, flowCollectionPadding: false });
  return `${header
    .split("\n")
    .map((l) => `# ${l}`.trimEnd())
    .join("\n")}\n${body}`;
}
