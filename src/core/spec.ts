import { isMap, isScalar, LineCounter, parseDocument, type Node as YamlNode } from "yaml";
import * as z from "zod/mini";
import { en } from "zod/locales";
import { UsageError } from "./errors.js";
import {
  FIREWALL_KINDS,
  HOST_CONFIG_KEYS,
  defaultHostConfig,
  parseHostConfig,
  type HostConfigKey,
} from "./hostconfig.js";
import {
  parseFromList,
  parsePortMapping,
  parseProtocol,
  parsePublicSide,
  validateComment,
  type Exposure,
} from "./exposure.js";
import {
  parseAddressList,
  validateInterfaceName,
  validateJailName,
  validateZoneName,
  type JailAddress,
} from "./validate.js";

/**
 * The host spec of `qjail apply` / `qjail export`: one YAML (or JSON)
 * document describing the host settings, the jails and their exposures.
 *
 * Two layers of checks, both before anything is read from the host:
 *  1. the schema ({@link SPEC_SCHEMA}, zod; published as JSON Schema in
 *     share/schema/qjail-spec-1.json): types, enums, ranges, and unknown keys
 *     refused — each problem reported as FILE:LINE:COLUMN from the YAML nodes;
 *  2. every value through the same validators the commands use (names,
 *     addresses, port mappings, networks, interfaces), so a spec can never
 *     hold what `create`, `config` or `expose` would refuse.
 *
 * Pure: the caller reads the file and passes its text.
 */

export const SPEC_VERSION = 1;

// zod/mini with the English messages: the whole classic API would add 600 kB to the bundle.
z.config(en());

const opt = z.optional;
const describe = <T extends z.ZodMiniType>(schema: T, text: string): T => schema.check(z.describe(text));
const int = (min: number, max: number) => z.number().check(z.int(), z.minimum(min), z.maximum(max));
const stringOrList = z.union([z.string(), z.array(z.string())]);
const portOrRange = z.union([
  int(1, 65535),
  z.string().check(z.regex(/^[0-9]{1,5}(-[0-9]{1,5})?$/, "expected a port or a range like 8000-8010")),
]);

const exposeSchema = describe(
  z.strictObject({
    proto: describe(z.enum(["tcp", "udp"]), "Protocol of the forwarded port."),
    public: describe(portOrRange, "Public port (or range) on the host."),
    port: describe(portOrRange, "The jail's port (or a range of the same length)."),
    from: opt(describe(stringOrList, "Allowed source networks (CIDR); default any.")),
    on: opt(
      describe(z.string(), "A host address or interface carrying the port; default ext_if (expose --on)."),
    ),
    comment: opt(describe(z.string(), "Free text kept with the exposure.")),
  }),
  "One forwarded port, as `qjail expose JAIL PROTO PUBLIC:PORT`.",
);

const optionsSchema = describe(
  z.strictObject({
    raw_sockets: opt(describe(z.boolean(), "allow.raw_sockets (config -k/-K).")),
    sysvipc: opt(describe(z.boolean(), "allow.sysvipc (config -y/-Y).")),
    quotas: opt(describe(z.boolean(), "allow.quotas (config -q/-Q).")),
    mount_nullfs: opt(describe(z.boolean(), "allow.mount.nullfs (config -l/-L).")),
    mount_tmpfs: opt(describe(z.boolean(), "allow.mount.tmpfs (config -t/-T).")),
    mount_zfs: opt(describe(z.boolean(), "allow.mount.zfs (config -x/-X).")),
    securelevel: opt(describe(int(-1, 3), "securelevel (config -s); default the host's.")),
    devfs_ruleset: opt(describe(int(1, 65535), "devfs_ruleset (config -b); default 4.")),
    fib: opt(describe(int(0, 65535), "exec.fib (config -f); default none.")),
  }),
  "jail.conf settings; an option left out takes its default (off, host securelevel, ruleset 4, no fib).",
);

const jailSchema = describe(
  z.strictObject({
    ip4: opt(
      describe(stringOrList, "IPv4 address(es), as create -4: '10.0.0.3' or a list; 'nic|ip' allowed."),
    ),
    ip6: opt(describe(stringOrList, "IPv6 address(es), as create -6.")),
    nic: opt(describe(z.string(), "Interface for the aliases (create -n / config -c); default the host's.")),
    zone: opt(describe(z.string(), "The jail's zone (create -z); default the spec's zone.")),
    state: opt(
      describe(z.enum(["running", "stopped", "absent"]), "running (default), stopped, or absent (deleted)."),
    ),
    ssh_user: opt(describe(z.boolean(), "One-time ssh user (create -c), made when the jail is created.")),
    norun: opt(describe(z.boolean(), "norun status (config -r/-R): never started.")),
    manual: opt(describe(z.boolean(), "manual status (config -m/-M): not started at boot.")),
    options: opt(optionsSchema),
    expose: opt(describe(z.array(exposeSchema), "Forwarded public ports.")),
  }),
  "One jail, keyed by its name.",
);

const hostSchema = describe(
  z.strictObject({
    firewall: opt(z.enum(FIREWALL_KINDS as [string, ...string[]])),
    ext_if: opt(z.string()),
    jail_if: opt(z.string()),
    jail_subnet: opt(describe(stringOrList, "One IPv4 and at most one IPv6 network.")),
    host_services: opt(describe(z.array(z.string()), "Ports the host serves itself: ['22/tcp', '80/tcp'].")),
    ipf_rules: opt(z.string()),
    ipnat_rules: opt(z.string()),
    pf_conf: opt(z.string()),
    pf_anchor: opt(z.string()),
    ipfw_nat_instance: opt(z.number().check(z.int())),
    ipfw_rule_base: opt(z.number().check(z.int())),
  }),
  "Settings of /usr/local/etc/qjail.host; keys left out keep the file's (or detected) values.",
);

export const SPEC_SCHEMA = describe(
  z.strictObject({
    version: describe(z.literal(SPEC_VERSION), "Spec format version; 1."),
    zone: opt(describe(z.string(), "Default zone of the jails, and the only zone --prune touches.")),
    host: opt(hostSchema),
    jails: opt(z.record(z.string(), jailSchema)),
  }),
  "A qjail host described as data: `qjail apply FILE`, `qjail export`.",
);

export type RawSpec = z.infer<typeof SPEC_SCHEMA>;

/** The JSON Schema published in share/schema/qjail-spec-1.json (a test keeps the file equal to this). */
export function specJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(SPEC_SCHEMA, { target: "draft-2020-12" }) as Record<string, unknown>;
  return {
    $schema: schema.$schema,
    $id: "https://qjail.invalid/schema/qjail-spec-1.json",
    title: "qjail host spec, version 1",
    ...Object.fromEntries(Object.entries(schema).filter(([k]) => k !== "$schema")),
  };
}

// ---------------------------------------------------------------------------
// The checked model
// ---------------------------------------------------------------------------

export type DesiredState = "running" | "stopped" | "absent";

/** jail.conf settings in record form: "" is the default (off / unset). */
export interface DesiredOptions {
  rsockets: boolean;
  sysvipc: boolean;
  quotas: boolean;
  nullfs: boolean;
  tmpfs: boolean;
  zfs: boolean;
  securelevel: number | undefined;
  ruleset: number | undefined;
  fib: number | undefined;
}

export interface DesiredJail {
  name: string;
  /** undefined: the default zone. */
  zone: string | undefined;
  state: DesiredState;
  ip4: JailAddress[];
  ip6: JailAddress[];
  /** undefined: the host's default interface on create, unchanged otherwise. */
  nic: string | undefined;
  /** undefined: not said (create without -c; an existing jail unchanged). */
  sshUser: boolean | undefined;
  status: "normal" | "norun" | "man";
  options: DesiredOptions;
  expose: Exposure[];
  /** Where the jail's key is, for messages: "FILE:LINE". */
  where: string;
}

export interface DesiredSpec {
  zone: string | undefined;
  /** qjail.host keys the spec sets, in the file's `key="value"` form. */
  host: Partial<Record<HostConfigKey, string>>;
  jails: DesiredJail[];
}

/** Where a problem is: FILE:LINE:COLUMN of a YAML node. */
type Locate = (path: readonly (string | number)[], key?: string) => string;

function fail(code: `QJ${number}`, problems: string[], hint: string): never {
  throw new UsageError(code, problems.length === 1 ? (problems[0] as string) : problems.join("\n  "), hint);
}

const SCHEMA_HINT =
  "The spec's keys and types are in qjail-apply(8) and share/schema/qjail-spec-1.json (qjail apply --schema prints it).";

/**
 * Parse and check a spec. `file` names the source in messages ("-" for stdin).
 * Refusals: QJ7001 not YAML, QJ7002 schema (unknown key, wrong type or
 * value), QJ7003 a value the commands would refuse, QJ7004 the spec
 * contradicts itself (an address or public port twice, norun + running).
 */
export function parseSpec(text: string, file: string): DesiredSpec {
  const label = file === "-" ? "<stdin>" : file;
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const at = (offset: number): string => {
    const p = lineCounter.linePos(offset);
    return `${label}:${p.line}:${p.col}`;
  };
  if (doc.errors.length > 0) {
    fail(
      "QJ7001",
      doc.errors.map((e) => `${at(e.pos[0])}: ${e.message.split("\n")[0]}`),
      "Fix the YAML syntax there (indentation, quotes, a ':' after each key).",
    );
  }
  const locate: Locate = (path, key) => {
    const node = path.length === 0 ? doc.contents : doc.getIn(path, true);
    if (key !== undefined && isMap(node)) {
      const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === key);
      const range = (pair?.key as YamlNode | undefined)?.range;
      if (range) return at(range[0]);
    }
    const range = (node as YamlNode | undefined | null)?.range;
    // A key whose value is missing: point at the key itself.
    if (!range && path.length > 0) return locate(path.slice(0, -1), String(path[path.length - 1]));
    return range ? at(range[0]) : `${label}:1:1`;
  };
  const data: unknown = doc.toJS({ maxAliasCount: 100 });
  if (data === null || data === undefined)
    fail(
      "QJ7002",
      [`${label}: the spec is empty`],
      `Start it with 'version: ${SPEC_VERSION}'. ${SCHEMA_HINT}`,
    );
  const parsed = SPEC_SCHEMA.safeParse(data);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => {
      const path = issue.path.map((p) => (typeof p === "symbol" ? String(p) : p));
      const dotted = path.join(".");
      if (issue.code === "unrecognized_keys") {
        return issue.keys
          .map(
            (k) =>
              `${locate(path, k)}: unknown key ${JSON.stringify(k)}${dotted ? ` in ${dotted}` : ""}${suggest(k, knownKeys(path))}`,
          )
          .join("\n  ");
      }
      return `${locate(path)}: ${dotted || "spec"}: ${issue.message}`;
    });
    fail("QJ7002", problems, SCHEMA_HINT);
  }
  return checkValues(parsed.data, locate);
}

/** The keys allowed at a path, for "did you mean". */
function knownKeys(path: readonly (string | number)[]): string[] {
  const shapes: Record<string, readonly string[]> = {
    top: Object.keys(SPEC_SCHEMA.shape),
    host: Object.keys(hostSchema.shape),
    jail: Object.keys(jailSchema.shape),
    options: Object.keys(optionsSchema.shape),
    expose: Object.keys(exposeSchema.shape),
  };
  if (path.length === 0) return [...shapes.top!];
  if (path[0] === "host") return [...shapes.host!];
  if (path[0] === "jails" && path.length === 2) return [...shapes.jail!];
  if (path[0] === "jails" && path[2] === "options") return [...shapes.options!];
  if (path[0] === "jails" && path[2] === "expose") return [...shapes.expose!];
  return [];
}

function suggest(key: string, known: readonly string[]): string {
  const near = known.find(
    (k) => editDistance(k, key) <= 2 || k.replace(/_/g, "") === key.replace(/[-_]/g, ""),
  );
  return near
    ? ` (did you mean ${JSON.stringify(near)}?)`
    : known.length > 0
      ? ` (known: ${known.join(", ")})`
      : "";
}

function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++)
      d[i]![j] = Math.min(
        d[i - 1]![j]! + 1,
        d[i]![j - 1]! + 1,
        d[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
  return d[a.length]![b.length]!;
}

const list = (v: string | string[] | undefined): string[] =>
  v === undefined ? [] : Array.isArray(v) ? v : [v];

function checkValues(raw: RawSpec, locate: Locate): DesiredSpec {
  const problems: string[] = [];
  const contradictions: string[] = [];
  /** Run a validator; its refusal becomes "FILE:LINE:COL: path: message". */
  const check = <T>(path: (string | number)[], fn: () => T, where = locate(path)): T | undefined => {
    try {
      return fn();
    } catch (e) {
      if (!(e instanceof UsageError)) throw e;
      problems.push(`${where}: ${path.join(".")}: ${e.message} (${e.code})`);
      return undefined;
    }
  };
  const zone =
    raw.zone === undefined ? undefined : check(["zone"], () => validateZoneName(raw.zone as string));
  const host = checkHost(raw, locate, problems);
  const jails: DesiredJail[] = [];
  for (const [name, j] of Object.entries(raw.jails ?? {})) {
    const p = ["jails", name];
    check(p, () => validateJailName(name), locate(["jails"], name));
    const jzone =
      j.zone === undefined ? zone : check([...p, "zone"], () => validateZoneName(j.zone as string));
    const status = j.norun === true ? "norun" : j.manual === true ? "man" : "normal";
    if (j.norun === true && j.manual === true)
      contradictions.push(
        `${locate(p, "manual")}: jails.${name}: norun and manual cannot both be set (qjail keeps one status)`,
      );
    const state: DesiredState = j.state ?? (status === "norun" ? "stopped" : "running");
    if (status === "norun" && state === "running")
      contradictions.push(
        `${locate([...p, "state"])}: jails.${name}: a norun jail is never started; state: running contradicts norun: true`,
      );
    const ip4 =
      list(j.ip4).length === 0
        ? []
        : (check([...p, "ip4"], () => parseAddressList(list(j.ip4).join(","), 4)) ?? []);
    const ip6 =
      list(j.ip6).length === 0
        ? []
        : (check([...p, "ip6"], () => parseAddressList(list(j.ip6).join(","), 6)) ?? []);
    if (
      state !== "absent" &&
      ip4.length === 0 &&
      ip6.length === 0 &&
      j.ip4 === undefined &&
      j.ip6 === undefined
    )
      problems.push(
        `${locate(["jails"], name)}: jails.${name}: give ip4 or ip6 (a jail needs an address, as create -4/-6)`,
      );
    const nic =
      j.nic === undefined ? undefined : check([...p, "nic"], () => validateInterfaceName(j.nic as string));
    const o = j.options ?? {};
    const options: DesiredOptions = {
      rsockets: o.raw_sockets ?? false,
      sysvipc: o.sysvipc ?? false,
      quotas: o.quotas ?? false,
      nullfs: o.mount_nullfs ?? false,
      tmpfs: o.mount_tmpfs ?? false,
      zfs: o.mount_zfs ?? false,
      securelevel: o.securelevel,
      ruleset: o.devfs_ruleset === 4 ? undefined : o.devfs_ruleset,
      fib: o.fib,
    };
    const expose: Exposure[] = [];
    (j.expose ?? []).forEach((e, i) => {
      const ep = [...p, "expose", i];
      const ex = check(ep, () => {
        const mapping = parsePortMapping(`${e.public}:${e.port}`);
        return {
          jail: name,
          proto: parseProtocol(e.proto),
          public: mapping.public,
          jailPort: mapping.jailPort,
          from: parseFromList(list(e.from)),
          on: e.on === undefined ? undefined : parsePublicSide(e.on),
          comment: validateComment(e.comment ?? ""),
        } satisfies Exposure;
      });
      if (ex) expose.push(ex);
    });
    if (state === "absent" && expose.length > 0)
      contradictions.push(`${locate([...p, "expose"])}: jails.${name}: an absent jail cannot have exposures`);
    jails.push({
      name,
      zone: jzone,
      state,
      ip4,
      ip6,
      nic,
      sshUser: j.ssh_user,
      status,
      options,
      expose,
      where: locate(["jails"], name).replace(/:\d+$/, ""),
    });
  }
  if (problems.length > 0) fail("QJ7003", problems, "Fix each value named above; nothing was changed.");
  conflicts(jails, locate, contradictions);
  if (contradictions.length > 0)
    fail("QJ7004", contradictions, "Make the spec agree with itself; nothing was changed.");
  return { zone, host, jails };
}

function checkHost(raw: RawSpec, locate: Locate, problems: string[]): Partial<Record<HostConfigKey, string>> {
  const out: Partial<Record<HostConfigKey, string>> = {};
  const h = raw.host;
  if (h === undefined) return out;
  for (const key of HOST_CONFIG_KEYS) {
    const v = (h as Record<string, unknown>)[key];
    if (v === undefined) continue;
    out[key] = Array.isArray(v) ? v.join(",") : String(v);
  }
  // The same parser `qjail.host` is read with: what apply writes must read back.
  const text = Object.entries(out)
    .map(([k, v]) => `${k}="${v}"`)
    .join("\n");
  const keysInOrder = Object.keys(out);
  for (const p of parseHostConfig(text, defaultHostConfig("linux")).problems) {
    const key = p.key ?? keysInOrder[p.line - 1] ?? "";
    problems.push(`${locate(["host", key])}: host.${key}: ${p.message}`);
  }
  return out;
}

/** What the commands would refuse between two jails of the same spec: one address or one public port twice. */
function conflicts(jails: readonly DesiredJail[], locate: Locate, problems: string[]): void {
  const addressOwner = new Map<string, string>();
  for (const j of jails) {
    if (j.state === "absent") continue;
    for (const a of [...j.ip4, ...j.ip6]) {
      const owner = addressOwner.get(a.address.toLowerCase());
      if (owner !== undefined && owner !== j.name)
        problems.push(
          `${locate(["jails", j.name, a.family === 4 ? "ip4" : "ip6"])}: jails.${j.name}: address ${a.address} is already jail ${owner}'s in this spec`,
        );
      addressOwner.set(a.address.toLowerCase(), j.name);
    }
  }
  const ports: { e: Exposure; where: string }[] = [];
  for (const j of jails)
    j.expose.forEach((e, i) => {
      const where = locate(["jails", j.name, "expose", i]);
      for (const o of ports) {
        const sameSide =
          (o.e.on === undefined && e.on === undefined) ||
          (o.e.on !== undefined && e.on !== undefined && JSON.stringify(o.e.on) === JSON.stringify(e.on));
        if (
          o.e.proto === e.proto &&
          sameSide &&
          o.e.public.low <= e.public.high &&
          e.public.low <= o.e.public.high
        )
          problems.push(
            `${where}: jails.${j.name}.expose.${i}: public ${e.proto} port ${e.public.low}${e.public.high !== e.public.low ? `-${e.public.high}` : ""} is already forwarded to jail ${o.e.jail} (${o.where}) in this spec`,
          );
      }
      ports.push({ e, where });
    });
}
