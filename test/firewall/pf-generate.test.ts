import { test } from "node:test";
import assert from "node:assert/strict";
import { generatePf, pfAnchorHooks } from "../../src/firewall/pf/generate.js";
import { parsePf, printPf } from "../../src/firewall/pf/parse.js";
import { pfHookEdits, pfSkipsLoopback } from "../../src/firewall/pf/setup.js";
import { applyEdits, assertEdits } from "../../src/firewall/managed-section.js";
import { howtoHost, model, HOWTO_EXPOSURES, MORE_EXPOSURES, MORE_JAILS } from "./model-fixture.js";

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

test("the howto's set-up as a pf anchor: nat, separate rdr (not rdr pass) and pass, ($ext_if)", () => {
  assert.equal(
    rulesOnly(generatePf(howto)),
    [
      "nat on rl0 inet from 10.0.0.0/24 to any -> (rl0:0)",
      "rdr on rl0 inet proto tcp from any to (rl0) port 6122 -> 10.0.0.2 port 22",
      "rdr on lo0 inet proto tcp from any to (rl0) port 6122 -> 10.0.0.2 port 22",
      "rdr on rl0 inet proto tcp from any to (rl0) port 6188 -> 10.0.0.3 port 80",
      "rdr on lo0 inet proto tcp from any to (rl0) port 6188 -> 10.0.0.3 port 80",
      "pass in on rl0 inet proto tcp from any to 10.0.0.2 port 22 flags S/SA keep state",
      "pass in on lo0 inet proto tcp from any to 10.0.0.2 port 22 flags S/SA keep state",
      "pass in on rl0 inet proto tcp from any to 10.0.0.3 port 80 flags S/SA keep state",
      "pass in on lo0 inet proto tcp from any to 10.0.0.3 port 80 flags S/SA keep state",
      "",
    ].join("\n"),
  );
  assert.doesNotMatch(generatePf(howto), /rdr pass/);
});

test("generated anchors parse back and print back, translation before filter", () => {
  for (const m of [howto, more]) {
    const text = generatePf(m);
    const parsed = parsePf(text);
    assert.deepEqual(parsed.diagnostics, []);
    assert.equal(printPf(parsed.rules), rulesOnly(text));
  }
  const wrongOrder =
    "pass in on rl0 inet proto tcp from any to 10.0.0.2 port 22 keep state\nnat on rl0 inet from 10.0.0.0/24 to any -> (rl0:0)\n";
  assert.match(parsePf(wrongOrder).diagnostics[0]!.message, /translation rule after a filter rule/);
  assert.match(
    parsePf("rdr pass on rl0 inet proto tcp from any to (rl0) port 1 -> 10.0.0.2 port 1\n").diagnostics[0]!
      .message,
    /not a rule qjail writes/,
  );
});

test("ranges, --from lists, --on addresses and IPv6", () => {
  const text = generatePf(more);
  assert.match(
    text,
    /^rdr on rl0 inet proto tcp from any to \(rl0\) port 8000:8002 -> 10\.0\.0\.4 port 9000:\*$/m,
  );
  assert.match(
    text,
    /^rdr on rl0 inet proto tcp from \{ 198\.51\.100\.0\/24 203\.0\.113\.7\/32 \} to \(rl0\) port 6122 -> 10\.0\.0\.2 port 22$/m,
  );
  assert.match(
    text,
    /^pass in on rl0 inet proto tcp from \{ 198\.51\.100\.0\/24 203\.0\.113\.7\/32 \} to 10\.0\.0\.2 port 22 flags S\/SA keep state$/m,
  );
  assert.match(text, /^rdr on rl0 inet proto udp from any to 192\.0\.2\.5 port 53 -> 10\.0\.0\.5 port 53$/m);
  assert.match(
    text,
    /^rdr on rl0 inet6 proto tcp from any to \(rl0\) port 6188 -> fd00:6a61:696c::3 port 80$/m,
  );
  assert.match(text, /^nat on rl0 inet6 from fd00:6a61:696c::\/64 to any -> \(rl0:0\)$/m);
  assert.match(text, /^pass in on rl0 inet proto udp from any to 10\.0\.0\.4 port 27000:27010 keep state$/m);
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

test("fw setup's edits insert the hooks in the right sections and keep everything else byte for byte", () => {
  const edits = pfHookEdits(PF_CONF, "qjail");
  assertEdits(PF_CONF, edits);
  assert.equal(
    applyEdits(PF_CONF, edits),
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
  assert.deepEqual(
    pfHookEdits(applyEdits(PF_CONF, edits), "qjail"),
    [],
    "hooks already present are not added twice",
  );
});

test("fw setup's edits: no translation rules, no trailing newline, empty file", () => {
  const noNat = "block in all\npass out all";
  assert.equal(
    applyEdits(noNat, pfHookEdits(noNat, "qjail")),
    '# qjail: forwarded ports (see \'qjail ports\')\nnat-anchor "qjail/*"\nrdr-anchor "qjail/*"\n\nblock in all\npass out all\nanchor "qjail/*"\n',
  );
  const hooks = pfAnchorHooks("qjail");
  assert.equal(
    applyEdits("", pfHookEdits("", "qjail")),
    `# qjail: forwarded ports (see 'qjail ports')\n${hooks.translation.join("\n")}\n${hooks.filter.join("\n")}\n`,
  );
});

test("set skip on lo0 (alone, in a list, or the lo group) is recognised: hairpin cannot work there", () => {
  assert.equal(pfSkipsLoopback("set skip on lo0\n"), true);
  assert.equal(pfSkipsLoopback('ext_if = "em0"\n  set skip on { lo0 lo1 }\n'), true);
  assert.equal(pfSkipsLoopback("set skip on lo\n"), true);
  assert.equal(pfSkipsLoopback("set skip on lo1\n"), false);
  assert.equal(pfSkipsLoopback("# set skip on lo0\nblock all\n"), false);
});
