import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseSpec, specJsonSchema } from "../../src/core/spec.js";
import { UsageError } from "../../src/core/errors.js";
import { formatSpecYaml, specFromHost } from "../../src/core/spec-export.js";
import { emptyRecord } from "../../src/core/record.js";
import { REPO_ROOT } from "../helpers/cli.js";

function refusal(text: string, file = "host.yml"): UsageError {
  try {
    parseSpec(text, file);
  } catch (e) {
    assert.ok(e instanceof UsageError, String(e));
    return e;
  }
  assert.fail("the spec was accepted");
}

test("the issue's example spec is accepted and normalised", () => {
  const spec = parseSpec(
    [
      "version: 1",
      "host:",
      "  firewall: nft",
      "  ext_if: em0",
      "  jail_subnet: 10.0.0.0/24",
      "  host_services: [22/tcp, 80/tcp]",
      "jails:",
      "  www:",
      "    ip4: 10.0.0.3",
      "    nic: em0",
      "    state: running",
      "    ssh_user: false",
      "    norun: false",
      "    options: {raw_sockets: true, sysvipc: false, securelevel: 2, devfs_ruleset: 50}",
      "    expose:",
      "      - {proto: tcp, public: 6188, port: 80, from: [198.51.100.0/24], on: em0}",
      "",
    ].join("\n"),
    "host.yml",
  );
  assert.deepEqual(spec.host, {
    firewall: "nft",
    ext_if: "em0",
    jail_subnet: "10.0.0.0/24",
    host_services: "22/tcp,80/tcp",
  });
  const www = spec.jails[0]!;
  assert.equal(www.name, "www");
  assert.equal(www.state, "running");
  assert.deepEqual(www.ip4, [{ family: 4, nic: undefined, address: "10.0.0.3" }]);
  assert.equal(www.options.rsockets, true);
  assert.equal(www.options.securelevel, 2);
  assert.equal(www.options.ruleset, 50);
  assert.equal(www.expose[0]?.public.low, 6188);
  assert.deepEqual(www.expose[0]?.on, { kind: "interface", name: "em0" });
  assert.equal(www.where, "host.yml:8");
});

test("unknown keys are refused with file:line:column and a suggestion", () => {
  const e = refusal(
    "version: 1\njails:\n  www:\n    ip4: 10.0.0.3\n    optoins: {}\n    expose:\n      - {proto: tcp, public: 6188, port: 80, colour: red}\n",
  );
  assert.equal(e.code, "QJ7002");
  assert.match(e.message, /host\.yml:5:5: unknown key "optoins" in jails\.www \(did you mean "options"\?\)/);
  assert.match(e.message, /host\.yml:7:46: unknown key "colour" in jails\.www\.expose\.0/);
});

test("YAML syntax errors, wrong types and enums name their place", () => {
  const syntax = refusal("version: 1\njails:\n  www:\n   ip4: 10.0.0.3\n  bad: [\n");
  assert.equal(syntax.code, "QJ7001");
  assert.match(syntax.message, /^host\.yml:\d+:\d+: /);
  const types = refusal("version: 2\njails:\n  www:\n    ip4: 10.0.0.3\n    state: sleeping\n");
  assert.equal(types.code, "QJ7002");
  assert.match(types.message, /host\.yml:1:10: version: /);
  assert.match(types.message, /host\.yml:5:12: jails\.www\.state: .*running.*stopped.*absent/);
  assert.match(refusal("", "-").message, /<stdin>: the spec is empty/);
  assert.match(refusal("version: 1\njails:\n  www:\n").message, /host\.yml:3:\d+: jails\.www: .*object/);
});

test("values go through the commands' own validators", () => {
  const e = refusal(
    "version: 1\njails:\n  www:\n    ip4: 10.0.0.300\n  w@w:\n    ip4: 10.0.0.4\n    expose:\n      - {proto: tcp, public: 6188, port: 80-81}\n",
  );
  assert.equal(e.code, "QJ7003");
  assert.match(e.message, /host\.yml:4:10: jails\.www\.ip4: invalid IPv4 address "10\.0\.0\.300" \(QJ1025\)/);
  assert.match(e.message, /host\.yml:5:3: jails\.w@w: invalid jail name/);
  assert.match(
    e.message,
    /host\.yml:8:9: jails\.w@w\.expose\.0: port ranges .* differ in length .*\(QJ3014\)/,
  );
  const host = refusal("version: 1\nhost: {jail_subnet: 10.0.0.1/24, host_services: [22/tpc]}\n");
  assert.match(host.message, /host\.jail_subnet: .*not a network address/);
  assert.match(host.message, /host\.host_services: .*22\/tpc/);
  const noAddress = refusal("version: 1\njails:\n  www: {state: running}\n");
  assert.match(noAddress.message, /host\.yml:3:3: jails\.www: give ip4 or ip6/);
});

test("a spec that contradicts itself is refused as a whole (QJ7004)", () => {
  const e = refusal(
    [
      "version: 1",
      "jails:",
      "  www:",
      "    ip4: 10.0.0.3",
      "    expose: [{proto: tcp, public: 80, port: 80}]",
      "  db:",
      "    ip4: 10.0.0.3",
      "    norun: true",
      "    state: running",
      "    expose: [{proto: tcp, public: 80-81, port: 80-81}]",
      "",
    ].join("\n"),
  );
  assert.equal(e.code, "QJ7004");
  assert.match(e.message, /jails\.db: a norun jail is never started/);
  assert.match(e.message, /address 10\.0\.0\.3 is already jail www's in this spec/);
  assert.match(e.message, /public tcp port 80-81 is already forwarded to jail www \(host\.yml:5:\d+\)/);
});

test("the published JSON Schema is the one qjail checks with", () => {
  const published = JSON.parse(readFileSync(join(REPO_ROOT, "share/schema/qjail-spec-1.json"), "utf8"));
  assert.deepEqual(
    published,
    specJsonSchema(),
    "regenerate it: node bin/qjail.js apply --schema > share/schema/qjail-spec-1.json",
  );
  const jail = (published as { properties: { jails: { additionalProperties: Record<string, unknown> } } })
    .properties.jails.additionalProperties;
  assert.equal(jail.additionalProperties, false, "unknown jail keys are refused by the schema too");
});

test("export's YAML reads back to the same spec", () => {
  const r = emptyRecord();
  Object.assign(r, {
    name: "www",
    ip4: "em0|10.0.0.3,10.0.0.4",
    ip6: "fd00::3",
    path: "/usr/jails/www",
    interface: "em0",
    rsockets: "allow.raw_sockets",
    securelevel: "2",
    ruleset: "50",
  });
  const vnet = { ...emptyRecord(), name: "v", path: "/usr/jails/v", vnet: "be|pf|1" };
  const { spec, skipped } = specFromHost({
    zone: undefined,
    hostFile: '# mine\next_if="em0"\nfirewall="pf"\nhost_services="22/tcp"\nipfw_rule_base="2000"\n',
    jails: [
      { name: "www", status: "man", record: r, running: true },
      { name: "v", status: "normal", record: vnet, running: false },
    ],
    exposures: [
      {
        jail: "www",
        proto: "tcp",
        public: { low: 6188, high: 6188 },
        jailPort: { low: 80, high: 80 },
        from: ["198.51.100.0/24"],
        on: undefined,
        comment: "web",
      },
    ],
  });
  assert.deepEqual(skipped, [{ name: "v", why: "a vnet jail (the spec has no vnet settings)" }]);
  const yaml = formatSpecYaml(spec, "test");
  assert.match(
    yaml,
    /^ {6}- \{proto: tcp, public: 6188, port: 80, from: 198\.51\.100\.0\/24, comment: web\}$/m,
  );
  const back = parseSpec(yaml, "export.yml");
  assert.equal(back.jails.length, 1);
  const www = back.jails[0]!;
  assert.equal(www.status, "man");
  assert.equal(www.state, "running");
  assert.deepEqual(
    www.ip4.map((a) => `${a.nic ?? ""}|${a.address}`),
    ["em0|10.0.0.3", "|10.0.0.4"],
  );
  assert.equal(www.options.ruleset, 50);
  assert.deepEqual(back.host, {
    ext_if: "em0",
    firewall: "pf",
    host_services: "22/tcp",
    ipfw_rule_base: "2000",
  });
});
