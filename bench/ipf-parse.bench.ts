/**
 * IPFilter language parse time: a generated 10,000-line ipf.conf and a
 * 10,000-line ipnat.conf, each parsed N times (after one untimed warm-up);
 * prints median/min/max milliseconds and lines per second.
 *
 * The ipf.conf mixes what hosts with many jails carry: quick passes with
 * `flags S keep state` per jail port, udp state rules, blocks of single
 * sources, icmp-type rules, `with` options, groups, and comments and
 * continuation lines. The ipnat.conf is one rdr per exposed port plus map,
 * portmap, bimap and from/to rules.
 *
 *   npm run bench:ipf-parse [-- --runs N]
 */
import { pathToFileURL } from "node:url";
import { parseIpf, parseIpnat } from "../src/firewall/ipf/index.js";
import type { BenchContext, Figure } from "./lib.js";
import { time, type Timing } from "./stats.js";

export const LINES = 10_000;

const jail = (i: number) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255 || 1}`;

/** A `lines`-line ipf.conf (counting comments and continuation lines). */
export function generateIpfConf(lines = LINES): string {
  const out = ["# generated for bench/ipf-parse", "block in log on em0 all", "block out on em0 all"];
  for (let i = 0; out.length < lines; i++) {
    switch (i % 8) {
      case 0:
        out.push(
          `pass in quick on em0 proto tcp from any to ${jail(i)}/32 port = ${1024 + (i % 60000)} flags S/SA keep state`,
        );
        break;
      case 1:
        out.push(
          `pass in on em0 proto udp from any port > 1023 to ${jail(i)} port = 53 keep state (limit 100, age 30/60)`,
        );
        break;
      case 2:
        out.push(`block in quick on em0 from 192.0.${(i >> 8) & 255}.${i & 255}/32 to any`);
        break;
      case 3:
        out.push(`pass in quick on em0 proto icmp from any to ${jail(i)} icmp-type echo keep state`);
        break;
      case 4:
        out.push(`block in log quick on em0 from any to any with opt lsrr,ssrr`);
        break;
      case 5:
        out.push(
          `pass out quick on em0 proto tcp/udp from ${jail(i)}/24 to any port 1000 >< 2000 keep state group 100`,
        );
        break;
      case 6:
        out.push(`# jail ${i}: continuation line follows`);
        break;
      default:
        out.push(`pass in on em0 proto tcp \\`, `    from any to ${jail(i)} port = 443 flags S keep state`);
    }
  }
  return out.slice(0, lines).join("\n") + "\n";
}

/** A `lines`-line ipnat.conf. */
export function generateIpnatConf(lines = LINES): string {
  const out = [
    "# generated for bench/ipf-parse",
    "map em0 10.0.0.0/8 -> 0/32 portmap tcp/udp auto",
    "map em0 10.0.0.0/8 -> 0/32",
  ];
  for (let i = 0; out.length < lines; i++) {
    switch (i % 5) {
      case 0:
      case 1:
        out.push(`rdr em0 0/0 port ${1024 + (i % 60000)} -> ${jail(i)} port 80 tcp`);
        break;
      case 2:
        out.push(
          `rdr em0 from any to 198.51.100.1/32 port = ${1024 + (i % 60000)} -> ${jail(i)} port 22 tcp round-robin`,
        );
        break;
      case 3:
        out.push(`bimap em0 ${jail(i)}/32 -> 203.0.${(i >> 8) & 255}.${i & 255}/32`);
        break;
      default:
        out.push(`map em0 from ${jail(i)}/32 to any port = 123 -> 0/32 portmap udp 20000:30000 age 30/1`);
    }
  }
  return out.slice(0, lines).join("\n") + "\n";
}

export function measureParse(runs: number): {
  ipf: Timing;
  ipnat: Timing;
  ipfRules: number;
  ipnatRules: number;
} {
  const ipfText = generateIpfConf();
  const natText = generateIpnatConf();
  let ipfRules = 0;
  let ipnatRules = 0;
  const ipf = time(() => {
    const r = parseIpf(ipfText);
    if (r.diagnostics.length > 0)
      throw new Error(`generated ipf.conf has errors: ${r.diagnostics[0]?.message}`);
    ipfRules = r.rules.length;
  }, runs);
  const ipnat = time(() => {
    const r = parseIpnat(natText);
    if (r.diagnostics.length > 0)
      throw new Error(`generated ipnat.conf has errors: ${r.diagnostics[0]?.message}`);
    ipnatRules = r.rules.length;
  }, runs);
  return { ipf, ipnat, ipfRules, ipnatRules };
}

/** Entry for bench/run.ts-style harnesses. */
export async function bench(ctx: BenchContext): Promise<Figure[]> {
  const m = measureParse(ctx.quick ? 3 : 9);
  const fig = (what: string, t: Timing, rules: number): Figure => ({
    what,
    workload: `${LINES}-line generated file (${rules} rules after list expansion), parsed in process after one warm-up`,
    value: Math.round(t.medianMs * 10) / 10,
    unit: "ms",
    min: Math.round(t.minMs * 10) / 10,
    max: Math.round(t.maxMs * 10) / 10,
    runs: t.runs,
    status: "info",
  });
  ctx.log(
    `ipf-parse: ipf.conf median ${m.ipf.medianMs.toFixed(1)} ms, ipnat.conf median ${m.ipnat.medianMs.toFixed(1)} ms`,
  );
  return [
    fig("parseIpf: 10,000-line ipf.conf", m.ipf, m.ipfRules),
    fig("parseIpnat: 10,000-line ipnat.conf", m.ipnat, m.ipnatRules),
  ];
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const i = process.argv.indexOf("--runs");
  const runs = i >= 0 ? Number(process.argv[i + 1]) : 9;
  if (!Number.isInteger(runs) || runs < 1) {
    process.stderr.write("ipf-parse.bench: --runs needs a positive whole number\n");
    process.exit(3);
  }
  const m = measureParse(runs);
  const row = (name: string, t: Timing, rules: number) =>
    `${name.padEnd(11)} ${String(LINES).padStart(6)} ${String(rules).padStart(6)} ${String(t.runs).padStart(5)} ${t.medianMs.toFixed(1).padStart(10)} ${t.minMs.toFixed(1).padStart(8)} ${t.maxMs.toFixed(1).padStart(8)} ${String(Math.round(LINES / (t.medianMs / 1000))).padStart(12)}\n`;
  process.stdout.write("file         lines  rules  runs  median ms   min ms   max ms  lines/s\n");
  process.stdout.write(row("ipf.conf", m.ipf, m.ipfRules));
  process.stdout.write(row("ipnat.conf", m.ipnat, m.ipnatRules));
}
