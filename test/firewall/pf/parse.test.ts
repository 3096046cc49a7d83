/**
 * The pf parser and printer on cases the FreeBSD corpus does not cover:
 * diagnostics (codes, positions of macro uses, carets), recovery after an
 * error, include files, interfaces from the host description, and the rule
 * counts pfctl loads (what a post-load check compares with).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  countPfRules,
  defaultHostEnv,
  formatPfDiagnostic,
  hostEnvWith,
  listPf,
  parsePf,
  PfDiagnosticCode,
  printPfRule,
} from "../../../src/firewall/pf/index.js";

const lines = (...l: string[]): string => l.map((x) => x + "\n").join("");

function assertListing(input: string, expected: string[], opts?: Parameters<typeof listPf>[1]): void {
  const r = parsePf(input, opts);
  assert.deepEqual(r.diagnostics, []);
  assert.equal(listPf(input, opts), lines(...expected));
}

test("every problem is reported at once, with codes and the position of the word (or the $macro) at fault", () => {
  const text = lines(
    'ext_if = "em0"',
    "pass in on $ext_if proto tcp to port sshh",
    "block in on $ext_f all",
    "pass from 1.2.3.4 port 22",
    "pass in all",
  );
  const r = parsePf(text);
  const got = r.diagnostics.map((d) => [d.code, d.line, d.column, d.message]);
  assert.deepEqual(got, [
    [PfDiagnosticCode.InvalidPort, 2, 38, "unknown port sshh"],
    [PfDiagnosticCode.UndefinedMacro, 3, 13, "macro 'ext_f' not defined"],
    [PfDiagnosticCode.InconsistentRule, 4, 1, "port only applies to tcp/udp"],
    [PfDiagnosticCode.InconsistentRule, 4, 1, "skipping rule due to errors"],
    [PfDiagnosticCode.NoValidCombination, 4, 1, "rule expands to no valid combination"],
  ]);
  assert.equal(
    formatPfDiagnostic(r.diagnostics[0]!, text, "pf.conf"),
    [
      "pf.conf:2:38: error QJ4604: unknown port sshh",
      "  2 | pass in on $ext_if proto tcp to port sshh",
      "    |                                      ^^^^",
    ].join("\n"),
  );
  // The line after the errors still parsed: pfctl keeps going too.
  assert.equal(r.main.ruleset.filter.length, 1);
  // With errors pfctl prints what it printed while reading (the macro) and no rules.
  assert.equal(listPf(text), 'ext_if = "em0"\n');
});

test("a token from a macro is blamed on the $name that brought it in", () => {
  const text = lines('bad = "pass in proto tcp from any port 22 to any flags X/SA"', "$bad");
  const d = parsePf(text).diagnostics[0]!;
  assert.equal(d.code, PfDiagnosticCode.InvalidFlags);
  assert.deepEqual([d.line, d.column, d.length], [2, 1, 4]);
});

test("translation after filtering breaks pf.conf's order (pfctl's require-order)", () => {
  const r = parsePf(lines("pass all", "rdr on em0 proto tcp to port 80 -> 10.0.0.2"));
  assert.equal(r.diagnostics[0]?.code, PfDiagnosticCode.RuleOrder);
  assert.equal(r.diagnostics[0]?.line, 2);
});

test("syntax errors name what was found and what was expected", () => {
  const r = parsePf(lines("pass in on em0 from to any", "block in quick log on em0 all"));
  assert.equal(r.diagnostics.length, 1);
  assert.equal(r.diagnostics[0]?.code, PfDiagnosticCode.Syntax);
  assert.match(r.diagnostics[0]?.message ?? "", /^syntax error: unexpected "to"/);
  // Recovery is at the end of the line: the next rule loads.
  assert.equal(r.main.ruleset.filter.length, 1);
});

test("include reads through the caller's reader, and errors there name the included file", () => {
  const files: Record<string, string> = {
    "jails.conf": lines("pass in proto tcp to port 6188", "pass in to port nope"),
  };
  const r = parsePf(lines('include "jails.conf"', "block all"), { readFile: (p) => files[p] });
  assert.equal(r.diagnostics.length, 1);
  assert.equal(r.diagnostics[0]?.message, "unknown port nope");
  assert.equal(r.diagnostics[0]?.file, "jails.conf");
  assert.equal(r.diagnostics[0]?.line, 2);
  const missing = parsePf(lines('include "nowhere.conf"'), { readFile: () => undefined });
  assert.equal(missing.diagnostics[0]?.code, PfDiagnosticCode.Include);
});

test("interface names expand to the host's addresses; (iface) stays dynamic", () => {
  const env = hostEnvWith(defaultHostEnv(), { em0: ["198.51.100.7/24", "2001:db8::7/64"] });
  assertListing(
    lines(
      "pass in on em0 proto tcp from any to em0 port 22",
      "pass in on em0 proto tcp to (em0) port 6188",
      "block in from em0:network",
    ),
    [
      "pass in on em0 inet proto tcp from any to 198.51.100.7 port = ssh flags S/SA keep state",
      "pass in on em0 inet6 proto tcp from any to 2001:db8::7 port = ssh flags S/SA keep state",
      "pass in on em0 proto tcp from any to (em0) port = 6188 flags S/SA keep state",
      "block drop in inet from 198.51.100.0/24 to any",
      "block drop in inet6 from 2001:db8::/64 to any",
    ],
    { env },
  );
  const unknown = parsePf(lines("pass from em1"));
  assert.equal(unknown.diagnostics[0]?.message, "no IP address found for em1");
});

test("nat, rdr with a port range, rdr pass and binat print as pfctl loads them (translation before filter)", () => {
  assertListing(
    lines(
      "nat on em0 inet from 10.0.0.0/24 to any -> (em0:0)",
      "rdr pass on em0 inet proto tcp from any to (em0) port 8000:8002 -> 10.0.0.4 port 9000:*",
      "rdr on em0 inet6 proto udp to port 53 -> fd00::5",
      "binat on em0 from 10.0.0.9 to any -> 198.51.100.9",
      "pass in on em0 inet proto tcp to 10.0.0.4 port 9000:9002",
    ),
    [
      "nat on em0 inet from 10.0.0.0/24 to any -> (em0:0)",
      "rdr pass on em0 inet proto tcp from any to (em0) port 8000:8002 -> 10.0.0.4 port 9000:9002",
      "rdr on em0 inet6 proto udp from any to any port = domain -> fd00::5",
      "binat on em0 inet from 10.0.0.9 to any -> 198.51.100.9",
      "pass in on em0 inet proto tcp from any to 10.0.0.4 port 9000:9002 flags S/SA keep state",
    ],
  );
});

test("rule counts are after list expansion, as pfctl loads them", () => {
  const r = parsePf(
    lines(
      "rdr on { em0 lo0 } inet proto tcp from { 198.51.100.0/24 203.0.113.7 } to (em0) port 6122 -> 10.0.0.2 port 22",
      "pass in on em0 inet proto tcp from { 198.51.100.0/24 203.0.113.7 } to 10.0.0.2 port 22",
    ),
  );
  assert.deepEqual(r.diagnostics, []);
  assert.deepEqual(countPfRules(r), { scrub: 0, nat: 0, rdr: 4, binat: 0, filter: 2 });
});

test("printPfRule prints one rule without a newline", () => {
  const r = parsePf("block return in log quick on em0 proto tcp to port 25\n");
  assert.equal(
    printPfRule(r.main.ruleset.filter[0]!),
    "block return in log quick on em0 proto tcp from any to any port = smtp",
  );
});
