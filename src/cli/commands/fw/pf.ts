/**
 * The pf halves of `qjail fw lint` and `qjail fw trace` (the command files
 * keep their IPFilter halves and call these when --pf is given or the host
 * config says firewall="pf"). Each step is the usual order: validate input →
 * read the rule files (ops/pf-rules.ts) → the pure pf module → report.
 */
import type { Invocation } from "../../command.js";
import { write } from "../../context.js";
import { UsageError, shown } from "../../../core/errors.js";
import {
  defaultHostEnv,
  formatPfDiagnostic,
  hostEnvWith,
  parsePf,
  pfAddressFamily,
  printPfListing,
  type PfHostEnv,
  type PfParseResult,
} from "../../../firewall/pf/index.js";
import { lintPf, type PfLintFinding } from "../../../firewall/pf/lint.js";
import { parseFriendlyPfPacket, PfPacketSyntaxError } from "../../../firewall/pf/eval/packet.js";
import { formatPfTrace, tracePfPacket, type PfTraceSource } from "../../../firewall/pf/eval/trace.js";
import { PfRuleFileError, readPfRuleTexts, type PfRuleTexts } from "../../../ops/pf-rules.js";

/** Message codes of the pf halves (QJ48xx). */
const E = {
  badIfAddr: "QJ4802",
  unreadable: "QJ4803",
  badRules: "QJ4804",
  badPacket: "QJ4805",
  noPacket: "QJ4806",
  ipftestForm: "QJ4807",
  badPorts: "QJ4808",
} as const;

/** `--if-addr em0=198.51.100.7` (repeatable, IPv4 or IPv6, optional /prefix) → interface addresses. */
export function parsePfIfAddrs(values: readonly string[]): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const v of values) {
    const m = /^([A-Za-z][A-Za-z0-9_.]{0,14})=([^/]+)(?:\/(\d{1,3}))?$/.exec(v);
    const addr = m?.[2] ?? "";
    const ok = m && !addr.includes("%") && pfAddressFamily(addr) !== null;
    if (!m || !ok) {
      throw new UsageError(
        E.badIfAddr,
        `--if-addr wants IFACE=ADDRESS, got ${shown(v)}`,
        "Example: --if-addr em0=198.51.100.7 (or an IPv6 address; repeat for more).",
      );
    }
    const prefix = m[3] ?? (pfAddressFamily(addr) === 4 ? "32" : "128");
    (out[m[1] as string] ??= []).push(`${addr}/${prefix}`);
  }
  return out;
}

async function loadTexts(
  inv: Invocation,
  pf: string | undefined,
  anchorFile: string | undefined,
): Promise<PfRuleTexts> {
  try {
    return await readPfRuleTexts(inv.global, { cwd: inv.ctx.cwd, pf, anchorFile });
  } catch (e) {
    if (e instanceof PfRuleFileError)
      throw new UsageError(
        E.unreadable,
        `cannot read pf rules ${shown(e.path)}: ${e.message}`,
        "Give the path of a pf.conf with --pf (and qjail's anchor rules with --anchor-file).",
      );
    throw e;
  }
}

function parseAll(
  texts: PfRuleTexts,
  env: PfHostEnv,
): { sources: PfTraceSource[]; results: PfParseResult[] } {
  const sources: PfTraceSource[] = [];
  const results: PfParseResult[] = [];
  for (const f of texts.files) {
    const result = parsePf(f.text, {
      env,
      readFile: texts.readFile,
      ...(f.anchor ? { anchor: f.anchor } : {}),
    });
    results.push(result);
    sources.push({ file: f.path, anchor: f.anchor, result });
  }
  return { sources, results };
}

function hostPorts(text: string | undefined, fromHost: readonly { port: number; proto: "tcp" | "udp" }[]) {
  if (text === undefined) return [...fromHost];
  return text.split(",").map((p) => {
    const m = /^\s*(\d{1,5})(?:\/(tcp|udp))?\s*$/.exec(p);
    if (!m || Number(m[1]) < 1 || Number(m[1]) > 65535)
      throw new UsageError(
        E.badPorts,
        `--host-ports: ${shown(p)} is not a port 1-65535`,
        "Give a comma list such as --host-ports 22,80,53/udp.",
      );
    return { port: Number(m[1]), proto: (m[2] ?? "tcp") as "tcp" | "udp" };
  });
}

/**
 * `qjail fw lint --pf [FILE]`: syntax as pfctl reads it and the jail host
 * checks; with --print, the rules as `pfctl -o none -nvf` prints them.
 */
export async function runPfLint(
  inv: Invocation,
  opts: {
    pf: string | undefined;
    anchorFile: string | undefined;
    hostPorts: string | undefined;
    print: boolean;
    ifAddrs: readonly string[];
  },
): Promise<number> {
  const env = hostEnvWith(defaultHostEnv(), parsePfIfAddrs(opts.ifAddrs));
  const texts = await loadTexts(inv, opts.pf, opts.anchorFile);
  const { sources } = parseAll(texts, env);
  const present = texts.files.filter((f) => f.exists || f.anchor === "");
  const findings = lintPf({
    sources: sources.filter((s, i) => texts.files[i]?.exists || s.anchor === ""),
    env,
    hostPorts: hostPorts(opts.hostPorts, texts.host.hostServices),
    // qjail's hooks are expected on a pf host, or when qjail's anchor rules are given.
    ...(texts.host.firewall === "pf" || opts.anchorFile !== undefined
      ? { qjailAnchor: texts.host.pfAnchor }
      : {}),
  });
  const diagnostics = sources.flatMap((s, i) =>
    texts.files[i]?.exists || s.anchor === ""
      ? s.result.diagnostics.map((d) => ({ file: d.file ?? s.file, d, text: texts.files[i]?.text ?? "" }))
      : [],
  );
  const errors =
    diagnostics.filter((x) => x.d.severity === "error").length +
    findings.filter((f) => f.severity === "error").length;
  const warnings =
    diagnostics.length -
    diagnostics.filter((x) => x.d.severity === "error").length +
    findings.filter((f) => f.severity === "warning").length;
  const includeTexts = new Map<string, string>();
  const includeText = (file: string): string => {
    if (!includeTexts.has(file)) includeTexts.set(file, texts.readFile(file) ?? "");
    return includeTexts.get(file) ?? "";
  };
  if (inv.global.json) {
    write(
      inv.ctx.stdout,
      JSON.stringify({
        language: "pf",
        files: present.map((f) => ({ path: f.path, anchor: f.anchor || null })),
        diagnostics: diagnostics.map((x) => ({ ...x.d, file: x.file })),
        findings,
        errors,
        warnings,
        ...(opts.print
          ? { listing: sources.map((s) => ({ file: s.file, text: printPfListing(s.result) })) }
          : {}),
      }),
    );
    return errors > 0 ? 1 : 0;
  }
  const blocks: string[] = [];
  for (const x of diagnostics) {
    const ownFile = texts.files.find((f) => f.path === x.file);
    blocks.push(formatPfDiagnostic(x.d, ownFile ? ownFile.text : includeText(x.file), x.file));
  }
  for (const f of findings)
    blocks.push(
      formatFinding(f, (file) => texts.files.find((t) => t.path === file)?.text ?? includeText(file)),
    );
  if (blocks.length > 0) write(inv.ctx.stdout, blocks.join("\n"));
  if (opts.print)
    for (const s of sources) {
      if (!texts.files.find((f) => f.path === s.file)?.exists) continue;
      if (present.filter((f) => f.exists).length > 1)
        write(inv.ctx.stdout, `# ${s.anchor ? `anchor ${s.anchor} (${s.file})` : s.file}`);
      write(inv.ctx.stdout, printPfListing(s.result));
    }
  write(
    inv.ctx.stderr,
    `qjail fw lint: ${errors} error${errors === 1 ? "" : "s"}, ${warnings} warning${warnings === 1 ? "" : "s"} in ${present.map((f) => (f.anchor ? `${f.path} (anchor ${f.anchor})` : f.path)).join(", ")}`,
  );
  return errors > 0 ? 1 : 0;
}

function formatFinding(f: PfLintFinding, textOf: (file: string) => string): string {
  const source = textOf(f.file).split("\n")[f.line - 1] ?? "";
  const lines = [
    `${f.file}:${f.line}:${f.column}: ${f.severity} ${f.code}: ${f.message}`,
    `  ${f.line} | ${source}`,
  ];
  for (const r of f.related) lines.push(`  see ${r.file}:${r.line}  ${r.text}`);
  lines.push(`  fix: ${f.fix}`);
  return lines.join("\n");
}

/** `qjail fw trace --pf …`: one packet through pf.conf and qjail's anchor, in pf's order. */
export async function runPfTrace(
  inv: Invocation,
  opts: {
    pf: string | undefined;
    anchorFile: string | undefined;
    packet: string | undefined;
    ifAddrs: readonly string[];
    dstIp: string | undefined;
    flags: string | undefined;
  },
): Promise<number> {
  // 1. validate input
  if (opts.packet !== undefined)
    throw new UsageError(
      E.ipftestForm,
      "--packet (ipftest's input form) is for IPFilter; pf traces take the friendly form",
      "Example: qjail fw trace --pf /etc/pf.conf --if-addr em0=198.51.100.7 -- tcp 203.0.113.9:40000 -> :6188 on em0",
    );
  if (inv.positionals.length === 0)
    throw new UsageError(
      E.noPacket,
      "no packet to trace",
      "Example: qjail fw trace --if-addr em0=198.51.100.7 tcp 203.0.113.9:40000 to :6188 on em0",
    );
  const ifAddrs = parsePfIfAddrs(opts.ifAddrs);
  const env = hostEnvWith(defaultHostEnv(), ifAddrs);
  if (opts.dstIp !== undefined && pfAddressFamily(opts.dstIp) === null)
    throw new UsageError(
      E.badPacket,
      `--dst-ip must be an address, got ${shown(opts.dstIp)}`,
      "Example: --dst-ip 198.51.100.7",
    );
  let packet;
  try {
    packet = parseFriendlyPfPacket(inv.positionals, {
      interfaceAddress: (ifname, family) => {
        const iface = env.interfaces.find((i) => i.name === ifname);
        const a = iface?.addresses.find((x) => (family === null || x.family === family) && x.scope === 0);
        return a ? { family: a.family, addr: a.addr } : null;
      },
      ...(opts.dstIp !== undefined ? { dstIp: opts.dstIp } : {}),
      ...(opts.flags !== undefined ? { flags: opts.flags } : {}),
    });
  } catch (e) {
    if (!(e instanceof PfPacketSyntaxError)) throw e;
    throw new UsageError(
      E.badPacket,
      `cannot read the packet ${shown(inv.positionals.join(" "))}: ${e.message}`,
      "Form: tcp|udp|icmp|icmp6 SRC[:PORT] to [DST]:PORT on IFACE [in|out]; IPv6 as [ADDRESS]:PORT.",
    );
  }
  // 2. load state: pf.conf and qjail's anchor
  const texts = await loadTexts(inv, opts.pf, opts.anchorFile);
  const { sources } = parseAll(texts, env);
  for (const [i, s] of sources.entries()) {
    const first = s.result.diagnostics.find((d) => d.severity === "error");
    if (first)
      throw new UsageError(
        E.badRules,
        `${shown(s.file)} does not parse:\n${formatPfDiagnostic(first, texts.files[i]?.text ?? "", s.file)}`,
        "Fix the rule (qjail fw lint --pf lists every problem), or name another file with --pf.",
      );
  }
  // 3. the pure part
  const report = tracePfPacket(
    sources.filter((s, i) => texts.files[i]?.exists || s.anchor === ""),
    env,
    packet,
  );
  // 4. report
  write(inv.ctx.stdout, inv.global.json ? JSON.stringify(report, null, 2) : formatPfTrace(report));
  return 0;
}
