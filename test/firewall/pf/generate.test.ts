/**
 * qjail's pf anchor: built as pf rules and printed by the module's printer,
 * so the text parses back with zero diagnostics to the same rules for every
 * exposure shape; and the pf.conf edits of `fw setup --write`.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { generatePf, pfAnchorHooks, pfAnchorRules } from "../../../src/firewall/pf/generate.js";
import { allPfRules, countPfRules, listPf, parsePf, printPfRule } from "../../../src/firewall/pf/index.js";
import { checkPfConfEdits, pfHookEdits, pfSkipsLoopback } from "../../../src/firewall/pf/setup.js";
import { applyEdits, assertEdits } from "../../../src/firewall/managed-section.js";
import { exposure, howtoHost, model, HOWTO_EXPOSURES, MORE_EXPOSURES, MORE_JAILS } from "../model-fixture.js";

const howto = model(howtoHost("freebsd", "rl0", { firewall: "pf" }), HOWTO_EXPOSURES);
const more = model(
  howtoHost("freebsd", "rl0", { firewall: "pf", jailSubnet6: "fd00:6a61:696c::/64" }),
  MORE_EXPOSURES,
  MORE_JAILS,
);

function rulesOnly(text: string): string {
  return text
    .split("\n")
    .filter((l) => l !== "" && !l.startsWith("#"))
    .map((l) => l + "\n")
    .join("");
}

test("the howto's set-up as a pf anchor: nat, separate rdr (not rdr pass) and labelled pass, (ext_if)", () => {
  assert.equal(
    rulesOnly(generatePf(howto)),
    [
      "nat on rl0 inet from 10.0.0.0/24 to any -> (rl0:0)",
      "rdr on rl0 inet proto tcp from any to (rl0) port = 6122 -> 10.0.0.2 port 22",
      "rdr on lo0 inet proto tcp from any to (rl0) port = 6122 -> 10.0.0.2 port 22",
      "rdr on rl0 inet proto tcp from any to (rl0) port = 6188 -> 10.0.0.3 port 80",
      "rdr on lo0 inet proto tcp from any to (rl0) port = 6188 -> 10.0.0.3 port 80",
      'pass in on rl0 inet proto tcp from any to 10.0.0.2 port = ssh flags S/SA keep state label "qjail:tcp/6122:ssh"',
      'pass in on lo0 inet proto tcp from any to 10.0.0.2 port = ssh flags S/SA keep state label "qjail:tcp/6122:ssh"',
      'pass in on rl0 inet proto tcp from any to 10.0.0.3 port = http flags S/SA keep state label "qjail:tcp/6188:www"',
      'pass in on lo0 inet proto tcp from any to 10.0.0.3 port = http flags S/SA keep state label "qjail:tcp/6188:www"',
      "",
    ].join("\n"),
  );
  assert.doesNotMatch(generatePf(howto), /rdr pass/);
});

test("every exposure shape parses back with zero diagnostics and prints the same (ranges, --from, --on, IPv6, both families)", () => {
  const shapes = [
    howto,
    more,
    model(
      howtoHost("freebsd", "em0", { firewall: "pf" }),
      [
        exposure("www", "tcp", [8000, 8010], [8000, 8010], { on: { kind: "interface", name: "em1" } }),
        exposure("ssh", "tcp", [2222, 2222], [22, 22], { from: ["2001:db8::/32", "198.51.100.9/32"] }),
      ],
      MORE_JAILS,
    ),
  ];
  for (const m of shapes) {
    const text = generatePf(m);
    const parsed = parsePf(text);
    assert.deepEqual(parsed.diagnostics, [], text);
    // Printed form is a fixed point: pfctl would print the file back unchanged.
    assert.equal(listPf(text), rulesOnly(text));
    // The rules read back are the rules built, one for one.
    const built = pfAnchorRules(m).flatMap((b) => b.rules);
    assert.deepEqual(allPfRules(parsed.main).map(printPfRule), built.map(printPfRule));
    const counts = countPfRules(parsed);
    assert.equal(counts.nat + counts.rdr + counts.filter, built.length);
  }
});

test("ranges, --from lists (one rule per source, as pf loads them), --on addresses and IPv6", () => {
  const text = generatePf(more);
  assert.match(
    text,
    /^rdr on rl0 inet proto tcp from any to \(rl0\) port 8000:8002 -> 10\.0\.0\.4 port 9000:9002$/m,
  );
  assert.match(
    text,
    /^rdr on rl0 inet proto tcp from 198\.51\.100\.0\/24 to \(rl0\) port = 6122 -> 10\.0\.0\.2 port 22$/m,
  );
  assert.match(
    text,
    /^rdr on rl0 inet proto tcp from 203\.0\.113\.7 to \(rl0\) port = 6122 -> 10\.0\.0\.2 port 22$/m,
  );
  assert.match(
    text,
    /^pass in on rl0 inet proto tcp from 203\.0\.113\.7 to 10\.0\.0\.2 port = ssh flags S\/SA keep state label "qjail:tcp\/6122:ssh"$/m,
  );
  assert.match(
    text,
    /^rdr on rl0 inet proto udp from any to 192\.0\.2\.5 port = domain -> 10\.0\.0\.5 port 53$/m,
  );
  assert.match(
    text,
    /^rdr on rl0 inet6 proto tcp from any to \(rl0\) port = 6188 -> fd00:6a61:696c::3 port 80$/m,
  );
  assert.match(text, /^nat on rl0 inet6 from fd00:6a61:696c::\/64 to any -> \(rl0:0\)$/m);
  assert.match(
    text,
    /^pass in on rl0 inet proto udp from any to 10\.0\.0\.4 port 27000:27010 keep state label/m,
  );
  assert.match(text, /^# ssh: tcp 6122 -> 10\.0\.0\.2 port 22 \(admins only\)$/m);
});

test("a long jail name is cut so the label stays within pf's 63 characters", () => {
  const long = "j".repeat(50);
  const m = model(
    howtoHost("freebsd", "rl0", { firewall: "pf" }),
    [exposure(long, "tcp", [10000, 10010], [10000, 10010])],
    [{ name: long, ip4: ["10.0.0.9"], ip6: [] }],
  );
  const text = generatePf(m);
  const label = /label "([^"]*)"/.exec(text)?.[1] ?? "";
  assert.equal(label.length, 63);
  assert.deepEqual(parsePf(text).diagnostics, []);
});

const PF_CONF = [
  'ext_if = "rl0"',
  "set skip on lo1",
  "scrub in all",
  "nat on $ext_if from 192.168.1.0/24 to any -> ($ext_if)",
  "rdr on $ext_if proto tcp from any to ($ext_if) port 2222 -> 192.168.1.5 port 22",
  "block in log on $ext_if all",
  "pass out quick keep state",
  "pass in on $ext_if proto tcp to port { 22 80 } \\",
  "    keep state",
  "",
].join("\n");

test("fw setup's edits insert the hooks in the right sections, keep everything else byte for byte, and parse back", () => {
  const edits = pfHookEdits(PF_CONF, "qjail");
  assertEdits(PF_CONF, edits);
  const edited = applyEdits(PF_CONF, edits);
  assert.equal(
    edited,
    [
      'ext_if = "rl0"',
      "set skip on lo1",
      "scrub in all",
      "nat on $ext_if from 192.168.1.0/24 to any -> ($ext_if)",
      "rdr on $ext_if proto tcp from any to ($ext_if) port 2222 -> 192.168.1.5 port 22",
      "# qjail: forwarded ports (see 'qjail ports')",
      'nat-anchor "qjail/*"',
      'rdr-anchor "qjail/*"',
      "block in log on $ext_if all",
      "pass out quick keep state",
      "pass in on $ext_if proto tcp to port { 22 80 } \\",
      "    keep state",
      'anchor "qjail/*"',
      "",
    ].join("\n"),
  );
  assert.deepEqual(pfHookEdits(edited, "qjail"), [], "hooks already present are not added twice");
  const check = checkPfConfEdits(PF_CONF, edited, "qjail");
  assert.deepEqual(check.introduced, []);
  assert.deepEqual(check.missingHooks, []);
  // The hooks are real anchor calls where pf evaluates them.
  const r = parsePf(edited);
  assert.equal(r.main.ruleset.nat.at(-1)?.anchor?.path, "qjail/*");
  assert.equal(r.main.ruleset.rdr.at(-1)?.anchor?.path, "qjail/*");
  assert.equal(r.main.ruleset.filter.at(-1)?.anchor?.path, "qjail/*");
});

test("an edit that breaks pf.conf's order is caught by the parse-back", () => {
  const edited = PF_CONF + 'rdr-anchor "qjail/*"\n';
  const check = checkPfConfEdits(PF_CONF, edited, "qjail");
  assert.equal(check.introduced.length, 1);
  assert.match(check.introduced[0]?.message ?? "", /Rules must be in order/);
  // The misplaced hook is refused by pfctl, so it is missing too.
  assert.deepEqual(check.missingHooks, ['nat-anchor "qjail/*"', 'rdr-anchor "qjail/*"', 'anchor "qjail/*"']);
});

test("fw setup's edits: no translation rules, no trailing newline, empty file", () => {
  const noNat = "block in all\npass out all";
  const edited = applyEdits(noNat, pfHookEdits(noNat, "qjail"));
  assert.equal(
    edited,
    '# qjail: forwarded ports (see \'qjail ports\')\nnat-anchor "qjail/*"\nrdr-anchor "qjail/*"\n\nblock in all\npass out all\nanchor "qjail/*"\n',
  );
  assert.deepEqual(checkPfConfEdits(noNat, edited, "qjail").introduced, []);
  const hooks = pfAnchorHooks("qjail");
  const empty = applyEdits("", pfHookEdits("", "qjail"));
  assert.equal(
    empty,
    `# qjail: forwarded ports (see 'qjail ports')\n${hooks.translation.join("\n")}\n${hooks.filter.join("\n")}\n`,
  );
  assert.deepEqual(parsePf(empty).diagnostics, []);
});

test("set skip on lo0 (alone, in a list, through a macro, or the lo group) is recognised: hairpin cannot work there", () => {
  assert.equal(pfSkipsLoopback("set skip on lo0\n"), true);
  assert.equal(pfSkipsLoopback('ext_if = "em0"\n  set skip on { lo0 lo1 }\n'), true);
  assert.equal(pfSkipsLoopback('lo = "lo0"\nset skip on $lo\n'), true);
  assert.equal(pfSkipsLoopback("set skip on lo\n"), true);
  assert.equal(pfSkipsLoopback("set skip on lo1\n"), false);
  assert.equal(pfSkipsLoopback("# set skip on lo0\nblock all\n"), false);
});
