/**
 * pf language speed: a generated 10,000-line pf.conf parsed (parsePf) and
 * printed (printPfListing, i.e. `pfctl -o none -nvf`'s output) N times
 * after one untimed warm-up; prints median/min/max milliseconds and lines
 * per second for parse, print, and both.
 *
 * The pf.conf is what a host with many jails carries: macros, a table,
 * options, scrub, a nat per jail network, an rdr per exposed port (some with
 * `{ }` source lists that expand), quick blocks from the table, pass rules
 * with state options and labels, an inline anchor, comments and
 * continuation lines.
 *
 *   npm run bench:pf-parse [-- --runs N]
 */
import { pathToFileURL } from "node:url";
import { parsePf, printPfListing, countPfRules } from "../src/firewall/pf/index.js";
import type { BenchContext, Figure } from "./lib.js";
import { time, type Timing } from "./stats.js";

export const LINES = 10_000;

const jail = (i: number): string => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255 || 1}`;

/** A `lines`-line pf.conf (counting comments and continuation lines), in pf.conf's statement order. */
export function generatePfConf(lines = LINES): string {
  const head = [
    "# generated for bench/pf-parse",
    'ext_if = "em0"',
    'jail_net = "10.0.0.0/8"',
    'admins = "{ 198.51.100.0/24, 203.0.113.7 }"',
    "table <bad> persist { 192.0.2.0/24 !192.0.2.1 }",
    "set skip on lo0",
    "set block-policy return",
    "set limit { states 100000, frags 20000 }",
    "set timeout { tcp.established 3600, udp.multiple 60 }",
    "scrub in on $ext_if all fragment reassemble",
  ];
  const nat: string[] = [];
  const filter: string[] = ["block in log on $ext_if all", "pass out quick on $ext_if keep state"];
  const budget = lines - head.length;
  const natShare = Math.floor(budget * 0.4);
  for (let i = 0; nat.length < natShare; i++) {
    switch (i % 5) {
      case 0:
        nat.push(`nat on $ext_if inet from ${jail(i * 256)}/24 to any -> ($ext_if:0)`);
        break;
      case 1:
        nat.push(
          `rdr on $ext_if inet proto tcp from any to ($ext_if) port ${1024 + (i % 60000)} -> ${jail(i)} port 80`,
        );
        break;
      case 2:
        nat.push(
          `rdr on $ext_if inet proto tcp from $admins to ($ext_if) port ${1024 + (i % 60000)} -> ${jail(i)} port 22`,
        );
        break;
      case 3:
        nat.push(`# jail ${i}: udp forward on a range follows`);
        break;
      default:
        nat.push(
          `rdr on $ext_if inet proto udp from any to ($ext_if) \\`,
          `    port 27000:27010 -> ${jail(i)} port 27000:*`,
        );
    }
  }
  const anchor = [
    'anchor "jails" in on $ext_if {',
    "  pass in proto tcp to port 22",
    "  block in quick from <bad>",
    "}",
  ];
  for (let i = 0; filter.length + nat.length + head.length < lines - anchor.length; i++) {
    switch (i % 6) {
      case 0:
        filter.push(`block in quick on $ext_if from <bad> to any`);
        break;
      case 1:
        filter.push(
          `pass in on $ext_if inet proto tcp from any to ${jail(i)} port { 80 443 } flags S/SA keep state (max 500, source-track rule, max-src-conn 50) label "jail${i}"`,
        );
        break;
      case 2:
        filter.push(`pass in on $ext_if inet proto udp from any to ${jail(i)} port 53 keep state`);
        break;
      case 3:
        filter.push(`pass in on $ext_if inet proto icmp from any to ${jail(i)} icmp-type echoreq keep state`);
        break;
      case 4:
        filter.push(`# jail ${i}`);
        break;
      default:
        filter.push(`block return in on $ext_if inet proto tcp from ! $jail_net to ${jail(i)} port 25`);
    }
  }
  const all = [...head, ...nat, ...filter, ...anchor];
  return all.slice(0, lines).join("\n") + "\n";
}

export function measure(runs: number): {
  parse: Timing;
  print: Timing;
  both: Timing;
  rules: number;
  lines: number;
} {
  const text = generatePfConf();
  const lines = text.split("\n").length - 1;
  const parsed = parsePf(text);
  if (parsed.diagnostics.length > 0)
    throw new Error(`generated pf.conf has errors: ${parsed.diagnostics[0]?.message}`);
  const counts = countPfRules(parsed);
  const rules = counts.scrub + counts.nat + counts.rdr + counts.binat + counts.filter;
  const parse = time(() => void parsePf(text), runs);
  const print = time(() => void printPfListing(parsed), runs);
  const both = time(() => void printPfListing(parsePf(text)), runs);
  return { parse, print, both, rules, lines };
}

/** Entry for bench/run.ts. */
export async function bench(ctx: BenchContext): Promise<Figure[]> {
  const m = measure(ctx.quick ? 3 : 9);
  const fig = (what: string, t: Timing): Figure => ({
    what,
    workload: `${m.lines}-line generated pf.conf (${m.rules} rules after list expansion), in process after one warm-up`,
    value: Math.round(t.medianMs * 10) / 10,
    unit: "ms",
    min: Math.round(t.minMs * 10) / 10,
    max: Math.round(t.maxMs * 10) / 10,
    runs: t.runs,
    status: "info",
  });
  ctx.log(
    `pf-parse: parse median ${m.parse.medianMs.toFixed(1)} ms, print ${m.print.medianMs.toFixed(1)} ms, both ${m.both.medianMs.toFixed(1)} ms`,
  );
  return [
    fig("parsePf: 10,000-line pf.conf", m.parse),
    fig("printPfListing (pfctl -nv output) of it", m.print),
    fig("pf parse + print, 10,000 lines", m.both),
  ];
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const i = process.argv.indexOf("--runs");
  const runs = i >= 0 ? Number(process.argv[i + 1]) : 9;
  if (!Number.isInteger(runs) || runs < 1) {
    process.stderr.write("pf-parse.bench: --runs needs a positive whole number\n");
    process.exit(3);
  }
  const m = measure(runs);
  const row = (name: string, t: Timing): string =>
    `${name.padEnd(13)} ${String(m.lines).padStart(6)} ${String(m.rules).padStart(6)} ${String(t.runs).padStart(5)} ${t.medianMs.toFixed(1).padStart(10)} ${t.minMs.toFixed(1).padStart(8)} ${t.maxMs.toFixed(1).padStart(8)} ${String(Math.round(m.lines / (t.medianMs / 1000))).padStart(12)}\n`;
  process.stdout.write("step           lines  rules  runs  median ms   min ms   max ms  lines/s\n");
  process.stdout.write(row("parse", m.parse));
  process.stdout.write(row("print", m.print));
  process.stdout.write(row("parse+print", m.both));
}
