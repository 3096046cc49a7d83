import ipaddr from "ipaddr.js";
import type { Plan, Step } from "./plan.js";
import type { HostLayout } from "./paths.js";
import { jailConfPath, jailFstabPath, jailRootPath } from "./paths.js";
import { UsageError, shown } from "./errors.js";
import {
  emptyRecord,
  formatRecord,
  recordFileName,
  RECORD_FLAG_VALUES,
  type JailRecord,
  type JailStatus,
} from "./record.js";

/** A jail the kernel knows about right now. */
export interface LiveJail {
  name: string;
  jid: number;
  path: string;
  ip4: string[];
  ip6: string[];
}

/** A jail as qjail knows it from its records, with its logical host paths. */
export interface JailSpec {
  name: string;
  status: JailStatus;
  record: JailRecord;
  layout: HostLayout;
  /** Logical paths (see src/core/paths.ts). */
  rootPath: string;
  confPath: string;
  fstabPath: string;
}

export interface ConsoleRequest {
  /** Log in as this user instead of root (qjail console -u). */
  user?: string;
  /** Run this command instead of a login shell (qjail console -c); argv, never a shell string. */
  command?: string[];
}

/**
 * A jail as qjail's files describe it: building a JailSpec from a record, a
 * record for a new jail, and the steps that write or remove the records.
 * Every command writes records through {@link writeRecordSteps} so the local
 * and the global copy never differ.
 */

/** The JailSpec of jail `name` from its record and status (.norun/.man) in `layout`. */
export function specFromRecord(
  layout: HostLayout,
  name: string,
  status: JailStatus,
  record: JailRecord,
): JailSpec {
  return {
    name,
    status,
    record,
    layout,
    rootPath: record.path !== "" ? record.path : jailRootPath(layout, name),
    confPath: jailConfPath(layout, name),
    fstabPath: record.fstab !== "" ? record.fstab : jailFstabPath(layout, name),
  };
}

export interface NewJailRequest {
  name: string;
  /** Record form of the lists: "em0|10.0.0.5,10.0.0.6" (see validate.formatAddressList). */
  ip4: string;
  ip6: string;
  interface: string;
  oneTimeSsh: boolean;
  /** Image jail size in MiB; undefined for a directory jail. */
  imageMiB?: number;
}

/** The definition record qjail writes for a new jail: every setting off, devfs ruleset left to the default 4. */
export function newJailRecord(layout: HostLayout, req: NewJailRequest): JailRecord {
  const r = emptyRecord();
  const root = jailRootPath(layout, req.name);
  r.name = req.name;
  r.ip4 = req.ip4;
  r.ip6 = req.ip6;
  r.path = root;
  r.interface = req.interface;
  r.fstab = jailFstabPath(layout, req.name);
  r.poststartssh = req.oneTimeSsh ? RECORD_FLAG_VALUES.poststartssh : "";
  r.deffile = `${layout.local}/${req.name}`;
  if (req.imageMiB !== undefined) {
    r.image = `${root}/${req.name}.img`;
    r.imagetype = "simple";
    r.imageblockcount = String(req.imageMiB);
  }
  return r;
}

export function recordPaths(spec: Pick<JailSpec, "name" | "status" | "layout">): {
  local: string;
  global: string;
} {
  const file = recordFileName(spec.name, spec.status);
  return { local: `${spec.layout.local}/${file}`, global: `${spec.layout.global}/${file}` };
}

/** The record with `deffile` pointing at the file it is written to, as qjail's write-definition does. */
export function recordForWrite(spec: Pick<JailSpec, "name" | "status" | "layout" | "record">): JailRecord {
  return { ...spec.record, deffile: recordPaths(spec).local };
}

/** Write the definition record: the zone's local copy, then the global copy (qjail's order). */
export function writeRecordSteps(spec: Pick<JailSpec, "name" | "status" | "layout" | "record">): Step[] {
  const content = formatRecord(recordForWrite(spec));
  const { local, global } = recordPaths(spec);
  return [
    { kind: "writeFile", path: local, content, mode: 0o644 },
    { kind: "writeFile", path: global, content, mode: 0o644 },
  ];
}

/** Remove both copies of the record; the jail disappears from every listing after these two steps. */
export function removeRecordSteps(spec: Pick<JailSpec, "name" | "status" | "layout">): Step[] {
  const { local, global } = recordPaths(spec);
  return [
    { kind: "remove", path: local },
    { kind: "remove", path: global },
  ];
}

export function isImageJail(record: JailRecord): boolean {
  return record.imagetype !== "";
}

/** What the planners know of the host: read by src/store, never touched by a planner. */
export interface HostState {
  layout: HostLayout;
  /** This zone's jails, `ls` order. */
  jails: JailSpec[];
  /** Every zone's records from qjail.global: names are unique across zones and addresses are checked here. */
  global: { name: string; status: JailStatus; record: JailRecord }[];
  /** Running jails by name (one platform.liveJails() call). */
  live: ReadonlyMap<string, { jid: number }>;
}

/** Jails other than `except` that already use one of `addresses` (bare addresses, any zone). */
export function addressClashes(
  state: Pick<HostState, "global">,
  addresses: readonly string[],
  except: readonly string[] = [],
): { jail: string; address: string }[] {
  const wanted = new Set(addresses.map(canonicalAddress));
  const out: { jail: string; address: string }[] = [];
  for (const g of state.global) {
    if (except.includes(g.name)) continue;
    for (const a of [...bareAddresses(g.record.ip4), ...bareAddresses(g.record.ip6)]) {
      if (wanted.has(canonicalAddress(a))) out.push({ jail: g.name, address: a });
    }
  }
  return out;
}

function bareAddresses(value: string): string[] {
  if (value === "") return [];
  return value.split(",").map((e) => (e.includes("|") ? e.slice(e.indexOf("|") + 1) : e));
}

/** IPv6 written two ways ("fd00::5", "fd00:0::5") is one address. */
function canonicalAddress(a: string): string {
  if (!a.includes(":")) return a;
  try {
    return ipaddr.IPv6.parse(a).toString();
  } catch {
    return a;
  }
}

/**
 * A plan in three parts, so that what qjail lists changes all at once:
 * `prepare` does work no listing shows (the jail's tree, host files outside
 * /usr/local/etc), `commit` holds every change to the records and the files
 * they make visible and becomes one `commit` step (applied as one unit: all
 * new files written first, then renamed into place, with no crash point
 * between), and `finish` removes what nothing points at any more.
 */
export function stagedPlan(
  title: string,
  stages: { prepare?: Step[]; commit?: Step[]; finish?: Step[] },
  extra: { messages?: string[]; warnings?: string[] } = {},
): Plan {
  const commit = stages.commit ?? [];
  return {
    title,
    steps: [
      ...(stages.prepare ?? []),
      ...(commit.length > 0 ? [{ kind: "commit" as const, steps: commit }] : []),
      ...(stages.finish ?? []),
    ],
    ...extra,
  };
}

/**
 * The host paths a record names for its jail's tree and fstab must be the
 * ones qjail gives that name in its zone: delete removes them and rename
 * moves them, and a damaged or crafted record (path="/usr/local",
 * fstab="/etc/master.passwd") must not steer either at host files.
 */
export function assertOwnPaths(spec: Pick<JailSpec, "name" | "layout" | "rootPath" | "fstabPath">): void {
  const root = jailRootPath(spec.layout, spec.name);
  const fstab = jailFstabPath(spec.layout, spec.name);
  for (const [what, got, want] of [
    ["path", spec.rootPath, root],
    ["fstab", spec.fstabPath, fstab],
  ] as const) {
    if (got !== want) {
      throw new UsageError(
        "QJ1123",
        `the record of jail ${shown(spec.name)} names ${what}=${shown(got)}, not ${shown(want)}; refusing to remove or move it`,
        `Check the record ${spec.layout.local}/${spec.name}: qjail keeps jail ${spec.name} at ${want}. Fix the ${what} line by hand if the record is damaged.`,
      );
    }
  }
}

/**
 * Marks a create in progress (a directory: made atomically, no temporary
 * file): written before the new tree, removed with the commit that writes the
 * records. A tree found with its marker is an interrupted create that may be
 * replaced; a tree without one is not qjail's to overwrite.
 */
export function creatingMarker(layout: Pick<HostLayout, "stateDir">, name: string): string {
  return `${layout.stateDir}/creating/${name}`;
}
