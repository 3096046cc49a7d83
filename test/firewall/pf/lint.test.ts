/**
 * pf lint on a jail host: each pitfall with a minimal pf.conf that has it,
 * and the set-up `qjail fw setup --write` makes, which has none.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { defaultHostEnv, hostEnvWith, parsePf } from "../../../src/firewall/pf/index.js";
import { generatePf } from "../../../src/firewall/pf/generate.js";
import { lintPf, PfLintCode } from "../../../src/firewall/pf/lint.js";
import { howtoHost, model, HOWTO_EXPOSURES } from "../model-fixture.js";

const env = hostEnvWith(defaultHostEnv(), { rl0: ["198.51.100.7/24"] });
const ANCHOR = generatePf(model(howtoHost("freebsd", "rl0", { firewall: "pf" }), HOWTO_EXPOSURES));
const HOOKS = 'nat-anchor "qjail/*"\nrdr-anchor "qjail/*"\n';

function lint(
  pfConf: string,
  opts: { anchor?: string; hostPorts?: { port: number; proto: "tcp" | "udp" }[] } = {},
) {
  const main = parsePf(pfConf, { env });
  assert.deepEqual(main.diagnostics, []);
  const anchor = parsePf(opts.anchor ?? ANCHOR, { env, anchor: "qjail/expose" });
  return lintPf({
    sources: [
      { file: "pf.conf", anchor: "", result: main },
      { file: "qjail.rules", anchor: "qjail/expose", result: anchor },
    ],
    env,
    qjailAnchor: "qjail",
    ...(opts.hostPorts ? { hostPorts: opts.hostPorts } : {}),
  });
}

const codes = (fs: ReturnType<typeof lint>): string[] => fs.map((f) => `${f.code}@${f.line}`);

test("the set-up fw setup --write makes has no findings", () => {
  assert.deepEqual(lint(`${HOOKS}block in all\npass out all\nanchor "qjail/*"\n`), []);
});

test("QJ4701: no hooks, with qjail rules to evaluate, is an error; each missing hook is named", () => {
  const f = lint("block in all\npass out all\n");
  assert.deepEqual(codes(f), ["QJ4701@1"]);
  assert.equal(f[0]?.severity, "error");
  assert.match(f[0]?.message ?? "", /nat-anchor "qjail\/\*", rdr-anchor "qjail\/\*", anchor "qjail\/\*"/);
  assert.match(f[0]?.fix ?? "", /qjail fw setup --write/);
  assert.equal(lint("block in all\n", { anchor: "" })[0]?.severity, "warning", "nothing exposed yet");
});

test("QJ4702: a block after the anchor overrides qjail's pass (last match wins)", () => {
  const f = lint(`${HOOKS}anchor "qjail/*"\nblock in on rl0 all\n`);
  assert.deepEqual(codes(f), ["QJ4702@4", "QJ4702@4"]);
  assert.match(f[0]?.fix ?? "", /put anchor "qjail\/\*" after this rule/);
  assert.equal(f[0]?.related.length, 2);
});

test("QJ4703: set skip on lo0 defeats the hairpin copies", () => {
  const f = lint(`set skip on lo0\n${HOOKS}anchor "qjail/*"\n`);
  assert.deepEqual(codes(f), ["QJ4703@1"]);
  assert.match(f[0]?.message ?? "", /'rdr on lo0' copies never apply/);
});

test("QJ4704: a block quick before the anchor drops forwarded traffic", () => {
  const f = lint(`${HOOKS}block in quick on rl0 proto tcp to 10.0.0.3\nanchor "qjail/*"\n`);
  assert.deepEqual(codes(f), ["QJ4704@3"]);
  assert.match(f[0]?.fix ?? "", /move the quick block after anchor "qjail\/\*"/);
});

test("QJ4705: a pass on the public port an rdr rewrites never sees the forwarded traffic (the howto's mistake, pf twin)", () => {
  const conf = [
    "rdr on rl0 proto tcp from any to (rl0) port 6188 -> 10.0.0.3 port 80",
    "block in all",
    "pass in on rl0 proto tcp to (rl0) port 6188",
    "",
  ].join("\n");
  const f = lint(conf, { anchor: "" });
  assert.deepEqual(codes(f), ["QJ4701@1", "QJ4705@3", "QJ4706@1"]);
  const q = f.find((x) => x.code === PfLintCode.FilterOnPublicPort);
  assert.equal(q?.severity, "error");
  assert.equal(q?.fix, "match the jail's side instead: pass in on rl0 proto tcp to 10.0.0.3 port 80");
});

test("QJ4706: an rdr nothing passes, unless it is rdr pass or pf passes by default", () => {
  const rdr = "rdr on rl0 proto tcp from any to (rl0) port 2222 -> 10.0.0.5 port 22\n";
  assert.deepEqual(codes(lint(`${rdr}${HOOKS}block in all\nanchor "qjail/*"\n`)), ["QJ4706@1"]);
  assert.deepEqual(
    codes(lint(`${rdr.replace("rdr on", "rdr pass on")}${HOOKS}block in all\nanchor "qjail/*"\n`)),
    [],
  );
  assert.deepEqual(codes(lint(`${rdr}${HOOKS}anchor "qjail/*"\n`)), [], "no block rule: pf passes");
});

test("QJ4707: a forwarded public port the host serves itself", () => {
  const anchor =
    "rdr on rl0 inet proto tcp to (rl0) port 22 -> 10.0.0.2 port 22\npass in on rl0 inet proto tcp to 10.0.0.2 port 22\n";
  const f = lint(`${HOOKS}anchor "qjail/*"\n`, { anchor, hostPorts: [{ port: 22, proto: "tcp" }] });
  assert.deepEqual(codes(f), ["QJ4707@1"]);
  assert.equal(f[0]?.file, "qjail.rules");
});

test("QJ4708: an rdr an earlier one shadows (the admin's rdr takes qjail's port first)", () => {
  const f = lint(
    `rdr on rl0 proto tcp to (rl0) port 6188 -> 10.0.0.9 port 8080\n${HOOKS}pass in all\nanchor "qjail/*"\n`,
  );
  assert.deepEqual(codes(f), ["QJ4708@6"]);
  assert.equal(f[0]?.file, "qjail.rules");
  assert.equal(f[0]?.related[0]?.line, 1);
});
