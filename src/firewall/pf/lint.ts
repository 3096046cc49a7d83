/**
 * Checks for a jail host's pf configuration: the mistakes that load without
 * complaint but leave a forwarded service broken, or qjail's anchor unused.
 * Pure functions over parse results (`./index.ts` parsePf) and, for the
 * forwarding checks, the packet evaluator (`./eval/`): every `rdr` is tried
 * with a sample connection to its public port, and what pf does with it
 * decides the findings.
 *
 * pf order the checks rely on: translation happens before filtering, so an
 * inbound filter rule sees the jail's address and port, not the public ones;
 * the first matching rdr wins; the last matching filter rule wins unless a
 * `quick` rule matched first.
 */
import type { PfAddress, PfAnchor, PfRule } from "./ast.js";
import { ntop, parseV4Strict, parseV6, type AddressFamily } from "./impl/address.js";
import { hostEnvWith, type PfHostEnv } from "./impl/hosts.js";
import { printRule } from "./impl/print.js";
import { IPPROTO_TCP, IPPROTO_UDP } from "./impl/rule.js";
import { PfEngine, portMatches } from "./eval/engine.js";
import type { PfPacket } from "./eval/packet.js";
import { pfEvalConfig, type PfTraceSource } from "./eval/trace.js";

/** Stable codes of pf lint findings (QJ47xx). */
export enum PfLintCode {
  /** pf.conf does not call qjail's anchors, so qjail's rules load but are never evaluated. */
  HooksMissing = "QJ4701",
  /** A rule after `anchor "qjail/*"` blocks what qjail's pass rules let in (the last match wins). */
  AnchorOverridden = "QJ4702",
  /** `set skip on lo0`: pf never sees local connections, so the hairpin rdr copies on lo0 do nothing. */
  SkipLoopback = "QJ4703",
  /** A `block … quick` decides forwarded traffic before qjail's anchor (or the matching pass) is reached. */
  QuickBlockFirst = "QJ4704",
  /** A filter rule on a public port that an rdr rewrites first: it never sees the forwarded traffic. */
  FilterOnPublicPort = "QJ4705",
  /** An rdr whose translated traffic no pass rule lets in (and it is not `rdr pass`). */
  RdrWithoutPass = "QJ4706",
  /** A forwarded public port is also a port the host itself serves. */
  HostServiceForwarded = "QJ4707",
  /** An rdr that never translates anything: an earlier rdr takes the same traffic. */
  RdrShadowed = "QJ4708",
}

export interface PfLintFinding {
  code: PfLintCode;
  severity: "error" | "warning";
  message: string;
  /** One line saying what to change. */
  fix: string;
  file: string;
  line: number;
  column: number;
  /** Other rules involved, e.g. the block rule that drops the forwarded traffic. */
  related: { file: string; line: number; text: string }[];
}

export interface PfLintInput {
  /** pf.conf (anchor "") and the rulesets loaded into anchors, e.g. qjail's `qjail/expose`. */
  sources: readonly PfTraceSource[];
  env: PfHostEnv;
  /** Ports the host itself serves (`--host-ports`, host_services). */
  hostPorts?: readonly { port: number; proto: "tcp" | "udp" }[];
  /** qjail's anchor name (host config pf_anchor); its hooks are checked when given. */
  qjailAnchor?: string;
}

/** Stand-in addresses for interfaces whose address is not known (documentation ranges). */
const PLACEHOLDER = { 4: "192.0.2.1", 6: "2001:db8::1" } as const;
const SAMPLE_SOURCE = {
  4: parseV4Strict("203.0.113.9") as bigint,
  6: (parseV6("2001:db8:ffff::9") as { addr: bigint }).addr,
};

interface Located {
  rule: PfRule;
  /** "" for pf.conf, else the loaded anchor's path. */
  anchor: string;
}

function sourceFile(sources: readonly PfTraceSource[], anchor: string, r: PfRule): string {
  return (
    r.span.file ??
    (sources.find((s) => s.anchor === anchor) ?? sources.find((s) => s.anchor === ""))?.file ??
    "pf.conf"
  );
}

/** Every rule of one kind in a ruleset, inline anchors included, with the loaded anchor it belongs to. */
function rulesOf(anchor: PfAnchor, path: string, kind: "rdr" | "filter"): Located[] {
  const out: Located[] = [];
  for (const r of anchor.ruleset[kind]) {
    out.push({ rule: r, anchor: path });
    if (r.anchor?.inline) out.push(...rulesOf(r.anchor, path, kind));
  }
  return out;
}

/** The interfaces a rule names; for (em0) and em0 the env gets a stand-in address when it has none. */
function withPlaceholders(env: PfHostEnv, rules: readonly PfRule[]): PfHostEnv {
  const add: Record<string, string[]> = {};
  const need = (name: string): void => {
    const iface = env.interfaces.find((i) => i.name === name);
    if (iface && iface.addresses.length > 0) return;
    add[name] = [`${PLACEHOLDER[4]}/24`, `${PLACEHOLDER[6]}/64`];
  };
  for (const r of rules) {
    for (const a of [r.dst.address, r.src.address])
      if (a.type === "dynif" && a.ifname !== "self") need(a.ifname);
    if (r.interface && !r.interface.not && !/^lo\d*$/.test(r.interface.name)) need(r.interface.name);
  }
  return Object.keys(add).length > 0 ? hostEnvWith(env, add) : env;
}

export function lintPf(input: PfLintInput): PfLintFinding[] {
  const findings: PfLintFinding[] = [];
  const main = input.sources.find((s) => s.anchor === "");
  if (!main) return findings;
  const file = (l: Located): string => sourceFile(input.sources, l.anchor, l.rule);
  const at = (l: Located): Pick<PfLintFinding, "file" | "line" | "column"> => ({
    file: file(l),
    line: l.rule.span.line,
    column: l.rule.span.column,
  });
  const rel = (l: Located): PfLintFinding["related"][number] => ({
    file: file(l),
    line: l.rule.span.line,
    text: printRule(l.rule, { anchorPaths: true }),
  });

  const qjailSources = input.sources.filter(
    (s) => input.qjailAnchor && s.anchor.startsWith(`${input.qjailAnchor}/`),
  );
  const qjailHasRules = qjailSources.some(
    (s) => s.result.main.ruleset.rdr.length + s.result.main.ruleset.filter.length > 0,
  );

  // QJ4701: the hooks.
  if (input.qjailAnchor) {
    const path = `${input.qjailAnchor}/*`;
    const hook = (kind: "nat" | "rdr" | "filter"): boolean =>
      main.result.main.ruleset[kind].some(
        (r) => r.anchor !== null && !r.anchor.inline && r.anchor.path === path,
      );
    const missing = [
      ...(hook("nat") ? [] : [`nat-anchor "${path}"`]),
      ...(hook("rdr") ? [] : [`rdr-anchor "${path}"`]),
      ...(hook("filter") ? [] : [`anchor "${path}"`]),
    ];
    if (missing.length > 0)
      findings.push({
        code: PfLintCode.HooksMissing,
        severity: qjailHasRules ? "error" : "warning",
        message: `${main.file} does not call qjail's anchors (${missing.join(", ")}): qjail's forwarding rules load but pf never evaluates them`,
        fix: `add ${missing.join(" and ")} (translation hooks after your nat/rdr rules, the anchor at the end of the filter rules), or run 'qjail fw setup --write'`,
        file: main.file,
        line: 1,
        column: 1,
        related: [],
      });
  }

  // QJ4703: set skip on lo0.
  for (const st of main.result.statements) {
    if (st.kind !== "skip" || !st.interfaces.some((i) => i === "lo0" || i === "lo")) continue;
    const hairpin = qjailSources.some((s) =>
      s.result.main.ruleset.rdr.some((r) => r.interface?.name === "lo0"),
    );
    findings.push({
      code: PfLintCode.SkipLoopback,
      severity: "warning",
      message: `'set skip on lo0' makes pf ignore local traffic: connections from the host or its jails to a forwarded public port are not redirected${hairpin ? " (qjail's 'rdr on lo0' copies never apply)" : ""}`,
      fix: "remove lo0 from 'set skip' and pass lo0 traffic instead ('pass quick on lo0 all' after the anchors), or reach jails by their own addresses from the host",
      file: st.span.file ?? main.file,
      line: st.span.line,
      column: st.span.column,
      related: [],
    });
  }

  // Forwarding checks: every rdr with a sample connection.
  const rdrs = input.sources.flatMap((s) => rulesOf(s.result.main, s.anchor, "rdr"));
  const filters = input.sources.flatMap((s) => rulesOf(s.result.main, s.anchor, "filter"));
  const env = withPlaceholders(
    input.env,
    [...rdrs, ...filters].map((l) => l.rule),
  );
  const engine = new PfEngine(pfEvalConfig(input.sources, env));
  const isQjail = (l: { anchor: string }): boolean =>
    input.qjailAnchor !== undefined && l.anchor.startsWith(`${input.qjailAnchor}/`);
  const seenPublic = new Map<string, Located>();
  for (const rdr of rdrs) {
    const r = rdr.rule;
    if (r.action !== "rdr" || r.anchor || !r.pool) continue;
    if (r.interface?.not) continue;
    const proto = r.proto ?? IPPROTO_TCP;
    if (proto !== IPPROTO_TCP && proto !== IPPROTO_UDP) continue;
    const family: AddressFamily = r.af === "inet6" ? 6 : 4;
    const dst = sampleAddress(engine, r.dst.address, family, r.dst.neg);
    const src = r.src.neg
      ? SAMPLE_SOURCE[family]
      : (sampleAddress(engine, r.src.address, family, false) ?? SAMPLE_SOURCE[family]);
    if (dst === null) continue;
    const dport = r.dst.port ? (r.dst.port.op === "!=" ? r.dst.port.a + 1 : r.dst.port.a) : 80;
    const ifname = r.interface?.name ?? "em0";
    const packet: PfPacket = {
      family,
      direction: "in",
      ifname,
      proto,
      src,
      dst,
      sport: 40000,
      dport,
      tcpFlags: proto === IPPROTO_TCP ? 2 : 0,
      icmpType: null,
      icmpCode: null,
      tos: 0,
    };
    const out = engine.process(packet);
    if (out.skipped) continue;
    // QJ4707: the host's own service on a forwarded port.
    const key = `${ifname} ${proto} ${dport}`;
    for (const hp of input.hostPorts ?? [])
      if (
        (hp.proto === "tcp" ? IPPROTO_TCP : IPPROTO_UDP) === proto &&
        r.dst.port &&
        portMatches(r.dst.port, hp.port) &&
        !seenPublic.has(key)
      )
        findings.push({
          code: PfLintCode.HostServiceForwarded,
          severity: "warning",
          message: `public port ${hp.port}/${hp.proto} on ${ifname} is forwarded to a jail, but the host itself serves it: connections to the host's service on that address go to the jail instead`,
          fix: `forward another public port (e.g. 6${String(hp.port).padStart(3, "0")}) or move the host's service off port ${hp.port}`,
          ...at(rdr),
          related: [],
        });
    const applied = out.translation?.rule;
    if (applied && applied !== r) {
      // QJ4708: an earlier rdr takes the traffic.
      const winner = rdrs.find((l) => l.rule === applied);
      findings.push({
        code: PfLintCode.RdrShadowed,
        severity: "warning",
        message: `this rdr never translates anything: an earlier rdr takes ${protoName(proto)} port ${dport} on ${ifname} first (the first matching rdr wins)`,
        fix: "remove one of the two forwards of this public port, or make them differ (another port or source)",
        ...at(rdr),
        related: winner ? [rel(winner)] : [],
      });
      continue;
    }
    seenPublic.set(key, rdr);
    if (!applied || r.natpass) continue;
    // QJ4705: filter rules written for the public port.
    const pre = packet;
    const post = out.packet;
    for (const f of filters) {
      const fr = f.rule;
      if (fr.anchor || (fr.direction && fr.direction !== "in")) continue;
      if (!fr.dst.port) continue;
      if (engine.matchRule(fr, pre, "", false).ok && !engine.matchRule(fr, post, "", false).ok)
        findings.push({
          code: PfLintCode.FilterOnPublicPort,
          severity: fr.action === "pass" ? "error" : "warning",
          message: `this ${fr.action} rule matches the public port ${dport}, but an rdr rewrites those packets before filtering: it never sees the forwarded traffic (pf filters the translated packet, to ${endpoint(post)})`,
          fix: `match the jail's side instead: ${fr.action} in on ${ifname} proto ${protoName(proto)} to ${endpoint(post, true)}`,
          ...at(f),
          related: [rel(rdr)],
        });
    }
    if (out.verdict === "pass") continue;
    const decider = out.decidedBy ? filters.find((l) => l.rule === out.decidedBy?.rule) : undefined;
    if (!decider) continue;
    const passFor = filters.find(
      (l) => l.rule.action === "pass" && !l.rule.anchor && engine.matchRule(l.rule, post, "", false).ok,
    );
    const passConsidered = passFor !== undefined && out.filterSteps.some((st) => st.rule === passFor.rule);
    if (passFor && !passConsidered && !decider.rule.quick) continue; // its anchor is not called: QJ4701
    if (passFor && decider.rule.quick) {
      findings.push({
        code: PfLintCode.QuickBlockFirst,
        severity: "error",
        message: `forwarded traffic (${describeForward(r, dport, post)}) is dropped by a 'block … quick' rule before ${isQjail(passFor) ? "qjail's anchor" : "the rule that passes it"} is reached`,
        fix: isQjail(passFor)
          ? `move the quick block after anchor "${input.qjailAnchor}/*", or make it not match ${endpoint(post, true)}`
          : `make the quick block not match ${endpoint(post, true)}, or pass that traffic with quick before it`,
        ...at(decider),
        related: [rel(rdr), rel(passFor)],
      });
    } else if (passFor) {
      findings.push({
        code: PfLintCode.AnchorOverridden,
        severity: "error",
        message: `a block rule after the pass for forwarded traffic (${describeForward(r, dport, post)}) overrides it: pf uses the last matching rule`,
        fix: isQjail(passFor)
          ? `put anchor "${input.qjailAnchor}/*" after this rule (at the end of the filter rules), or make this rule not match ${endpoint(post, true)}`
          : "move the pass rule after this block rule, or make it quick",
        ...at(decider),
        related: [rel(rdr), rel(passFor)],
      });
    } else {
      findings.push({
        code: PfLintCode.RdrWithoutPass,
        severity: "error",
        message: `no rule passes the traffic this rdr forwards (${describeForward(r, dport, post)}), so pf blocks it`,
        fix: `add 'pass in on ${ifname} proto ${protoName(proto)} to ${endpoint(post, true)}' after your block rules, or write 'rdr pass'`,
        ...at(rdr),
        related: [rel(decider)],
      });
    }
  }
  return findings;
}

function sampleAddress(engine: PfEngine, a: PfAddress, family: AddressFamily, neg: boolean): bigint | null {
  if (neg) return SAMPLE_SOURCE[family];
  if (a.type === "addrmask" && a.addr === 0n && a.mask === 0n)
    return family === 4
      ? (parseV4Strict(PLACEHOLDER[4]) as bigint)
      : (parseV6(PLACEHOLDER[6]) as { addr: bigint }).addr;
  return engine.firstAddress(a, family);
}

function protoName(p: number): string {
  return p === IPPROTO_UDP ? "udp" : "tcp";
}

function endpoint(p: PfPacket, words = false): string {
  const a = ntop(p.family, p.dst) ?? "?";
  return words ? `${a} port ${p.dport ?? ""}` : `${a}:${p.dport ?? ""}`;
}

function describeForward(r: PfRule, dport: number, post: PfPacket): string {
  return `${protoName(r.proto ?? IPPROTO_TCP)} ${dport} on ${r.interface?.name ?? "any interface"} -> ${endpoint(post)}`;
}
