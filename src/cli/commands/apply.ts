import { promises as fsp } from "node:fs";
import { posix } from "node:path";
import { defineCommand } from "../command.js";
import { write } from "../context.js";
import { UsageError, shown } from "../../core/errors.js";
import type { ApplyReport } from "../../ops/apply.js";

export const applyCommand = defineCommand({
  path: ["apply"],
  summary: "Bring the host to a spec file: jails, their settings and state, exposures, host settings.",
  usage: ["apply [--check] [--diff] [--prune] [--json] FILE|-", "apply --schema"],
  details: `
Reads a host spec (YAML or JSON; '-' reads standard input) and makes the host
match it, under one host lock, through the same planners as create, config,
start, stop, delete and expose. A spec (version 1):

  version: 1
  zone: lab                      # optional: default zone of the jails
  host:                          # optional: keys of /usr/local/etc/qjail.host
    firewall: nft                # ipf | pf | ipfw | nft
    ext_if: em0
    jail_subnet: 10.0.0.0/24
    host_services: [22/tcp, 80/tcp]
  jails:
    www:
      ip4: 10.0.0.3              # a string or a list; ip6 likewise
      nic: em0                   # optional (create -n / config -c)
      state: running             # running (default) | stopped | absent
      ssh_user: false            # create -c (only when the jail is created)
      norun: false               # config -r; manual: config -m
      options: {raw_sockets: true, securelevel: 2, devfs_ruleset: 50}
      expose:
        - {proto: tcp, public: 6188, port: 80, from: [198.51.100.0/24], on: em0}

Options a jail leaves out take their defaults (off, the host's securelevel,
devfs ruleset 4, no fib); host keys left out keep the file's values. The
spec is checked first, completely: unknown keys, wrong types and every value
the commands would refuse are reported as FILE:LINE:COLUMN (QJ7001 YAML,
QJ7002 schema, QJ7003 values, QJ7004 the spec contradicts itself), and then
every step is planned before anything changes, so a refusal (an address or
public port another jail has, a host service port, an unknown zone) changes
nothing.

A jail whose settings change is stopped, changed and started again. An
exposure is identified by its public side (protocol, public port, --on): a
new jail port or source list replaces it. The firewall rules are recomputed
once, from the records, at the end.

--check plans only and changes nothing (--dry-run is the same). --diff adds
unified diffs of the records, jail.conf blocks, fstab lines, exposure files,
qjail.host and the generated firewall rules. --prune also deletes the jails of
the spec's zone that the spec does not name (never a jail of another zone,
nor a vnet jail) and the exposures of named jails that it does not list;
without it those are left alone and named in the report. --json prints one
document: {"changed","check","host","jails":[{"name","actions","result"}],
"firewall","untouched","warnings","diffs"} and, on a failure, "error":
{"code","message","hint"}. A failure part-way leaves every jail finished
before it finished, reconciles the firewall with the records, and reports
the rest as "not done" (exit 3).

Applying the same spec twice: the second run reports changed: false and
writes nothing. 'qjail export' prints the host as a spec. --schema prints
the JSON Schema of the spec (share/schema/qjail-spec-1.json).`,
  examples: [
    { command: "qjail apply host.yml", description: "bring the host to host.yml" },
    { command: "qjail apply --check --diff host.yml", description: "show what would change, change nothing" },
    { command: "qjail export | qjail apply --check -", description: "the round trip: changed: false" },
    {
      command: "qjail apply --prune --json host.yml",
      description: "also delete unnamed jails; a JSON report",
    },
  ],
  options: {
    check: { type: "boolean" },
    diff: { type: "boolean" },
    prune: { type: "boolean" },
    schema: { type: "boolean" },
  },
  json: true,
  mutates: (v) => v.check !== true && v.schema !== true,
  async run(inv) {
    const { values: v, positionals } = inv;
    // Loaded on use: the schema library and YAML parser cost every other command nothing.
    const { parseSpec, specJsonSchema } = await import("../../core/spec.js");
    const { applySpec } = await import("../../ops/apply.js");
    if (v.schema === true) {
      write(inv.ctx.stdout, JSON.stringify(specJsonSchema(), null, 2));
      return 0;
    }
    if (positionals.length !== 1)
      throw new UsageError(
        "QJ7006",
        positionals.length === 0
          ? "no spec file given"
          : `one spec file expected, got ${positionals.map((p) => shown(p)).join(" ")}`,
        "Syntax: qjail apply [--check] [--diff] [--prune] FILE (or - for standard input)",
      );
    const file = positionals[0] as string;
    const text = await readSpec(file, inv.ctx.cwd);
    const spec = parseSpec(text, file);
    const check = v.check === true || inv.global.dryRun;
    const report = await applySpec(
      inv.global,
      {
        env: inv.ctx.env,
        stderr: inv.ctx.stderr,
        progress:
          inv.global.json || !inv.ctx.isTTY ? undefined : (line) => write(inv.ctx.stderr, `applied: ${line}`),
      },
      spec,
      { check, diff: v.diff === true, prune: v.prune === true },
    );
    if (inv.global.json) write(inv.ctx.stdout, JSON.stringify(report));
    else write(inv.ctx.stdout, formatReport(report, file));
    if (report.error !== undefined && !inv.global.json) {
      write(inv.ctx.stderr, `qjail: ${report.error.code}: ${report.error.message}`);
      if (report.error.hint) write(inv.ctx.stderr, `  ${report.error.hint}`);
    }
    return report.error === undefined ? 0 : 3;
  },
});

async function readSpec(file: string, cwd: string): Promise<string> {
  if (file === "-") {
    const chunks: Buffer[] = [];
    for await (const c of process.stdin) chunks.push(c as Buffer);
    return Buffer.concat(chunks).toString("utf8");
  }
  try {
    return await fsp.readFile(posix.resolve(cwd, file), "utf8");
  } catch (e) {
    throw new UsageError(
      "QJ7007",
      `cannot read the spec ${shown(file)}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
      "Give the path of a YAML spec ('qjail export > host.yml' writes one), or - to read standard input.",
    );
  }
}

export function formatReport(r: ApplyReport, file: string): string {
  const out: string[] = [];
  const verb = r.check ? "would change" : "changed";
  if (r.host.changes.length > 0)
    out.push(
      `host: ${r.host.changes.map((c) => `${c.key} ${c.from === null ? "(unset)" : shown(c.from)} -> ${shown(c.to)}`).join(", ")}${tag(r.host.result)}`,
    );
  for (const j of r.jails) out.push(`${j.name}: ${j.actions.join(", ")}${tag(j.result)}`);
  if (r.firewall.result !== "unchanged")
    out.push(
      `firewall: ${r.firewall.kind} rules ${r.firewall.changed ? "change" : "reconciled"}${
        r.firewall.result === "done"
          ? r.firewall.active
            ? " (loaded and verified)"
            : " (written; load with 'qjail fw sync' on the host)"
          : tag(r.firewall.result)
      }`,
    );
  for (const u of r.untouched) out.push(`# left alone: ${u.name}: ${u.why}`);
  for (const w of r.warnings) out.push(`# warning: ${w}`);
  for (const d of r.diffs) out.push(d.diff.trimEnd());
  out.push(
    r.changed
      ? `${file === "-" ? "<stdin>" : file}: ${verb}: ${r.jails.length} jail${r.jails.length === 1 ? "" : "s"}${r.host.changes.length > 0 ? ", host settings" : ""}${r.firewall.result !== "unchanged" ? ", firewall rules" : ""}${r.check ? " (--check: nothing was changed)" : ""}`
      : `${file === "-" ? "<stdin>" : file}: no changes: the host matches the spec`,
  );
  return out.join("\n");
}

function tag(result: string): string {
  return result === "done" || result === "planned" || result === "unchanged" ? "" : ` [${result}]`;
}
