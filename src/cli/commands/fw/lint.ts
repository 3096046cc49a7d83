import { readFileSync, statSync } from "node:fs";
import { basename, resolve } from "node:path";
import { defineCommand } from "../../command.js";
import { write } from "../../context.js";
import { UsageError, shown } from "../../../core/errors.js";
import {
  formatDiagnostic,
  listLoaded,
  parseIpf,
  parseIpnat,
  type FilterRule,
  type IpfDiagnostic,
  type NatRule,
} from "../../../firewall/ipf/index.js";
import { lintRules, type LintFinding } from "../../../firewall/ipf/lint.js";
import { hostUsesPf } from "../../../ops/pf-rules.js";
import { runPfLint } from "./pf.js";

type Language = "ipf" | "ipnat";

interface LintedFile {
  path: string;
  language: Language;
  text: string;
  diagnostics: IpfDiagnostic[];
  /** What `ipf -Rnvf` / `ipnat -Rnvf` print for the file; null when it does not load. */
  listing: string | null;
}

const NAT_VERB = /^\s*(map|bimap|map-block|rdr|rewrite|divert|encap)\b/m;
const FILTER_VERB = /^\s*(@\d+\s+)?(\d+\s+)?(pass|block|log|count|skip|auth|preauth|nomatch|call)\b/m;

/** ipnat by name (`ipnat.rules`, `*.nat`), else by the first rule verb in the text. */
export function guessLanguage(path: string, text: string): Language {
  const name = basename(path).toLowerCase();
  if (/nat/.test(name)) return "ipnat";
  if (/ipf|filter/.test(name)) return "ipf";
  const nat = NAT_VERB.exec(text);
  const filter = FILTER_VERB.exec(text);
  if (nat && (!filter || nat.index < filter.index)) return "ipnat";
  return "ipf";
}

function readRules(cwd: string, path: string): string {
  const full = resolve(cwd, path);
  let isFile = false;
  try {
    isFile = statSync(full).isFile();
  } catch {
    throw new UsageError(
      "QJ4201",
      `cannot read rule file ${shown(path)}: no such file`,
      "Give the path of an ipf.rules or ipnat.rules file.",
    );
  }
  if (!isFile)
    throw new UsageError(
      "QJ4201",
      `rule file ${shown(path)} is not a regular file`,
      "Give the path of an ipf.rules or ipnat.rules file.",
    );
  return readFileSync(full, "utf8");
}

function parsePorts(text: string): number[] {
  return text.split(",").map((p) => {
    if (!/^\d+$/.test(p.trim()) || Number(p) < 1 || Number(p) > 65535) {
      throw new UsageError(
        "QJ4202",
        `--host-ports: ${shown(p)} is not a port number 1-65535`,
        "Give a comma list such as --host-ports 22,80.",
      );
    }
    return Number(p);
  });
}

/** `--host NAME=ADDRESS` (repeatable): names the rules use, as /etc/hosts would give them to ipf. */
function parseHosts(values: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of values) {
    const m = /^([^=\s]+)=([0-9A-Fa-f.:]+)$/.exec(v);
    if (!m || (!/^\d{1,3}(\.\d{1,3}){3}$/.test(m[2] ?? "") && !(m[2] ?? "").includes(":")))
      throw new UsageError(
        "QJ4205",
        `--host wants NAME=ADDRESS, got ${shown(v)}`,
        "Example: --host '<thishost>=198.51.100.1' --host www=10.0.0.3",
      );
    out[m[1] as string] = m[2] as string;
  }
  return out;
}

export const fwLintCommand = defineCommand({
  path: ["fw", "lint"],
  summary:
    "Check IPFilter or pf rule files: syntax as ipf/ipnat/pfctl read it, and rdr/pass mistakes that load but do not work.",
  usage: [
    "fw lint [--host-ports PORTS] [--host NAME=ADDRESS ...] [--ipf FILE] [--nat FILE] [FILE ...]",
    "fw lint --print [--interfaces IF,IF] [--host NAME=ADDRESS ...] [--ipf FILE] [--nat FILE] [FILE ...]",
    "fw lint --pf FILE [--anchor-file FILE] [--host-ports PORTS] [--if-addr IFACE=ADDRESS ...] [--print]",
  ],
  details: `
Reads an ipf.conf and/or an ipnat.conf exactly as ipf(8) and ipnat(8) would
and reports every problem at once, each with FILE:LINE:COLUMN, a stable code
and the offending text underlined. A file is taken as NAT rules when its name
contains "nat" or its first rule is map/rdr/bimap/…; --ipf and --nat say it
outright. At most one file of each kind: the checks read them together.

Beyond syntax, the rules are checked together: QJ4101 an inbound pass/block
rule on a public port that an rdr rewrites before filtering (it never sees the
forwarded traffic; match the jail's address and port instead); QJ4102 an rdr
without a target address; QJ4103 an rdr that never gets traffic (ipnat tries
rdr rules by netmask, the most specific first, then in file order; each dead
rule is named once with the rule that takes its traffic); QJ4104
forwarded traffic that the filter blocks after translation; QJ4105 a rule an
earlier quick rule always decides first; QJ4106 with --host-ports, a host
service on a forwarded port. Syntax codes are QJ40xx.

Names are resolved as ipf does, without DNS: localhost, and those given with
--host NAME=ADDRESS (for '<thishost>', which ipf replaces with the machine's
own name, and /etc/hosts entries). Service and protocol names come from
FreeBSD's /etc/services and /etc/protocols. A name qjail cannot resolve is an
error (QJ4006); real ipf would warn and load the rule with an address that
means nothing.

--print writes to standard output exactly what 'ipf -Rnvf FILE' and
'ipnat -Rnvf FILE' print for each file that loads (nothing for a file that
does not), so qjail's reading can be diffed against real ipf's; every
diagnostic then goes to standard error. ipf marks interfaces that do not exist
on the machine it runs on with '(!)': list the ones that exist with
--interfaces em0,lo0.

pf (--pf FILE, or with no file when the host config says firewall="pf":
the host's pf.conf and the rules qjail loaded into its anchor): syntax as
pfctl reads it (QJ46xx), then the jail host's pitfalls, each with its fix:
QJ4701 pf.conf does not call qjail's anchors; QJ4702 a block rule after the
anchor overrides qjail's pass (last match wins); QJ4703 'set skip on lo0'
(the hairpin rdr on lo0 cannot work); QJ4704 a 'block … quick' drops
forwarded traffic before the anchor; QJ4705 a filter rule on a public port an
rdr rewrites first; QJ4706 an rdr whose traffic nothing passes (and not 'rdr
pass'); QJ4707 a forwarded port the host itself serves (host_services or
--host-ports); QJ4708 an rdr an earlier rdr shadows. Interfaces used as
addresses take their addresses from --if-addr. --print prints the rules as
'pfctl -o none -nvf' does.

Nothing is loaded or changed. Exit status 0 when there are no errors
(warnings allowed), 1 when there is at least one error, 3 on a usage problem.`,
  examples: [
    { command: "qjail fw lint /etc/ipf.rules /etc/ipnat.rules", description: "check both files, together" },
    {
      command: "qjail fw lint --host-ports 22,80 --nat /etc/ipnat.rules",
      description: "also flag forwards that take the host's ssh or http port",
    },
    { command: "qjail fw lint --json /etc/ipnat.rules", description: "findings as one JSON document" },
    {
      command: "qjail fw lint --print --interfaces em0,lo0 /etc/ipf.rules > qjail.out",
      description: "the rules as ipf -Rnvf prints them, to diff with real ipf's output",
    },
    {
      command: "qjail fw lint --pf /etc/pf.conf --print",
      description: "check a pf.conf and print it as pfctl -nv does",
    },
  ],
  options: {
    ipf: { type: "string" },
    nat: { type: "string" },
    "host-ports": { type: "string" },
    print: { type: "boolean" },
    interfaces: { type: "string" },
    host: { type: "string", multiple: true },
    pf: { type: "string" },
    "anchor-file": { type: "string" },
    "if-addr": { type: "string", multiple: true },
  },
  json: true,
  async run(inv) {
    const { ctx } = inv;
    const usePf =
      typeof inv.values.pf === "string" ||
      (inv.values.ipf === undefined &&
        inv.values.nat === undefined &&
        inv.positionals.length === 0 &&
        (await hostUsesPf(inv.global)));
    if (usePf)
      return runPfLint(inv, {
        pf: inv.values.pf as string | undefined,
        anchorFile: inv.values["anchor-file"] as string | undefined,
        hostPorts: inv.values["host-ports"] as string | undefined,
        print: inv.values.print === true,
        ifAddrs: (inv.values["if-addr"] as string[] | undefined) ?? [],
      });
    const requested: { path: string; language: Language | null }[] = [];
    if (typeof inv.values.ipf === "string") requested.push({ path: inv.values.ipf, language: "ipf" });
    if (typeof inv.values.nat === "string") requested.push({ path: inv.values.nat, language: "ipnat" });
    for (const p of inv.positionals) requested.push({ path: p, language: null });
    if (requested.length === 0)
      throw new UsageError(
        "QJ4203",
        "qjail fw lint: no rule file given",
        "Give the files to check, e.g. qjail fw lint /etc/ipf.rules /etc/ipnat.rules.",
      );
    const hostPorts =
      typeof inv.values["host-ports"] === "string" ? parsePorts(inv.values["host-ports"]) : [];
    const hosts = parseHosts((inv.values.host as string[] | undefined) ?? []);
    const interfaces = new Set(
      typeof inv.values.interfaces === "string" ? inv.values.interfaces.split(",").filter(Boolean) : [],
    );

    const files: LintedFile[] = [];
    let ipfRules: FilterRule[] | undefined;
    let natRules: NatRule[] | undefined;
    for (const req of requested) {
      const text = readRules(ctx.cwd, req.path);
      const language = req.language ?? guessLanguage(req.path, text);
      if (files.some((f) => f.language === language)) {
        throw new UsageError(
          "QJ4204",
          `more than one ${language === "ipf" ? "ipf.conf" : "ipnat.conf"} file given (${shown(req.path)})`,
          "Lint one filter file and one NAT file at a time; run qjail fw lint once per pair.",
        );
      }
      if (language === "ipf") {
        const r = parseIpf(text, { recover: true, hosts });
        ipfRules = r.rules;
        files.push({
          path: req.path,
          language,
          text,
          diagnostics: r.diagnostics,
          listing: listLoaded(r, { interfaces }),
        });
      } else {
        const r = parseIpnat(text, { recover: true, hosts });
        natRules = r.rules;
        files.push({ path: req.path, language, text, diagnostics: r.diagnostics, listing: listLoaded(r) });
      }
    }

    const findings = lintRules({ ipf: ipfRules, ipnat: natRules, hostPorts });
    const pathOf = (lang: Language) => files.find((f) => f.language === lang)?.path ?? lang;
    const errors =
      files.reduce((n, f) => n + f.diagnostics.filter((d) => d.severity === "error").length, 0) +
      findings.filter((f) => f.severity === "error").length;
    const warnings =
      files.reduce((n, f) => n + f.diagnostics.filter((d) => d.severity === "warning").length, 0) +
      findings.filter((f) => f.severity === "warning").length;

    if (inv.global.json) {
      write(
        ctx.stdout,
        JSON.stringify({
          files: files.map((f) => ({
            path: f.path,
            language: f.language,
            ...(inv.values.print === true ? { print: f.listing } : {}),
          })),
          diagnostics: files.flatMap((f) => f.diagnostics.map((d) => ({ file: f.path, ...d }))),
          findings: findings.map((f) => ({
            ...f,
            file: pathOf(f.file),
            related: f.related.map((r) => ({ file: pathOf(r.file), line: r.line })),
          })),
          errors,
          warnings,
        }),
      );
    } else {
      const blocks: string[] = [];
      for (const f of files) for (const d of f.diagnostics) blocks.push(formatDiagnostic(d, f.text, f.path));
      for (const f of findings)
        blocks.push(
          formatFinding(f, pathOf(f.file), files.find((x) => x.language === f.file)?.text ?? "", pathOf),
        );
      // --print: stdout carries exactly what ipf -Rnvf / ipnat -Rnvf print; the findings go to stderr.
      if (inv.values.print === true) for (const f of files) ctx.stdout.write(f.listing ?? "");
      if (blocks.length > 0) write(inv.values.print === true ? ctx.stderr : ctx.stdout, blocks.join("\n"));
      write(
        ctx.stderr,
        `qjail fw lint: ${errors} error${errors === 1 ? "" : "s"}, ${warnings} warning${warnings === 1 ? "" : "s"} in ${files.map((f) => f.path).join(", ")}`,
      );
    }
    return errors > 0 ? 1 : 0;
  },
});

function formatFinding(f: LintFinding, path: string, text: string, pathOf: (l: Language) => string): string {
  const source = text.split("\n")[f.line - 1] ?? "";
  const lines = [
    `${path}:${f.line}:${f.column}: ${f.severity} ${f.code}: ${f.message}`,
    `  ${f.line} | ${source}`,
  ];
  for (const r of f.related) lines.push(`  see ${pathOf(r.file)}:${r.line}`);
  lines.push(`  fix: ${f.fix}`);
  return lines.join("\n");
}
