/**
 * IPFilter 5.1.2's own regression suite against our parser and printer:
 * - the i class (`ipf -Rnvf regress/N`) and in class (`ipnat -Rnvf regress/N`)
 *   must come out byte for byte as expected/N;
 * - every rule of the f, n, ni and p regress files that parses must be a fixed
 *   point of print → parse → print.
 * The corpus is read at run time from the shared folder and never copied.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { SHARED } from "../../helpers/cli.js";
import {
  listIpf,
  listIpnat,
  parseIpf,
  parseIpnat,
  printIpfRule,
  printIpnatRule,
} from "../../../src/firewall/ipf/index.js";

const CORPUS = join(SHARED, "corpus", "ipfilter");
const present = existsSync(join(CORPUS, "test.format"));
const skip = present ? false : `IPFilter corpus not found at ${CORPUS}`;

/**
 * Byte-identical i/in files reached so far. The test fails if a change makes
 * fewer pass; raise it when more do.
 */
const PASSING_FLOOR = 26;

/** Listed tests whose driver is not a plain parse-and-print; each with the reason. */
const NOT_PARSER_TESTS: Record<string, string> = {
  // i17 is run through `ipftest -D` (a rule dump with hit counts and groups), not `ipf -Rnvf`.
  i17: "ipftest -D dump, the evaluator's conformance runner covers it",
};

/** The test host's resolver: the regress files use this name and expect this address. */
const HOSTS = { "test.host.dots": "254.220.186.152" };

function listedTests(): string[] {
  return readFileSync(join(CORPUS, "test.format"), "utf8")
    .split("\n")
    .map((l) => l.split(/\s+/)[0] ?? "")
    .filter((n) => /^(i|in)\d+$/.test(n));
}

test("i and in classes print byte for byte as ipf -Rnvf / ipnat -Rnvf", { skip }, () => {
  const failures: string[] = [];
  let passing = 0;
  let total = 0;
  for (const name of listedTests()) {
    if (NOT_PARSER_TESTS[name]) continue;
    const regress = join(CORPUS, "regress", name);
    // i19's expected output is a template the Makefile rewrites per host; FreeBSD's rewrite leaves it as is.
    const expected = [join(CORPUS, "expected", name), join(CORPUS, "expected", `${name}.dist`)].find((p) =>
      existsSync(p),
    );
    if (!existsSync(regress) || expected === undefined) continue;
    total++;
    const text = readFileSync(regress, "utf8");
    const got = name.startsWith("in") ? listIpnat(text, { hosts: HOSTS }) : listIpf(text, { hosts: HOSTS });
    if (got === readFileSync(expected, "utf8")) passing++;
    else failures.push(name);
  }
  assert.ok(total > 0, "no i/in tests found in test.format");
  assert.ok(
    passing >= PASSING_FLOOR,
    `only ${passing}/${total} byte-identical (floor ${PASSING_FLOOR}); failing: ${failures.join(", ")}`,
  );
});

test("print → parse → print is a fixed point for every f/n/ni/p rule that parses", { skip }, () => {
  let checked = 0;
  for (const file of readdirSync(join(CORPUS, "regress")).sort()) {
    const m = /^(f|n|ni|p)\d+(_6)?(\.ipf|\.nat)?$/.exec(file);
    if (!m) continue;
    const nat = m[3] === ".nat" || (m[1] === "n" && m[3] === undefined);
    const text = readFileSync(join(CORPUS, "regress", file), "utf8");
    const rules = nat ? parseIpnat(text).rules : parseIpf(text).rules;
    for (const rule of rules) {
      // ipf marks interfaces it does not know "(!)" and cannot read that back; print without the mark.
      const once = nat ? printIpnatRule(rule as never) : printIpfRule(rule as never, { interfaces: "all" });
      const ruleLine = once.split("\n").pop() ?? "";
      // ipf prints `max-nodes N` for what it reads as `max-srcs N`: its own listing does not read back.
      // Likewise ipnat prints a fixed rewrite port as `,port = N` but reads `port = N`.
      // And ipf prints in-via/out-via after a routing target, where its grammar takes them only after `on`.
      if (ruleLine.includes("max-nodes") || ruleLine.includes(",port =")) continue;
      if (/ (to|dup-to|reply-to) \S+ .*(in|out)-via /.test(ruleLine)) continue;
      const again = nat ? parseIpnat(ruleLine) : parseIpf(ruleLine);
      assert.deepEqual(again.diagnostics, [], `${file}: ${JSON.stringify(ruleLine)} does not read back`);
      const twice = nat
        ? printIpnatRule(again.rules[0] as never)
        : printIpfRule(again.rules[0] as never, { interfaces: "all" });
      assert.equal(twice.split("\n").pop(), ruleLine, `${file}: printing is not stable`);
      checked++;
    }
  }
  assert.ok(checked > 300, `only ${checked} rules checked`);
});
