/**
 * pf's decision for one packet through pf.conf and qjail's anchor, in pf's
 * order: translation first (rdr/binat inbound, binat/nat outbound, first
 * match), then the filter on the translated packet (last match, quick
 * stops), tables, set skip, and the state entry.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { defaultHostEnv, hostEnvWith, parsePf } from "../../../src/firewall/pf/index.js";
import { generatePf } from "../../../src/firewall/pf/generate.js";
import { parseFriendlyPfPacket, PfPacketSyntaxError } from "../../../src/firewall/pf/eval/packet.js";
import { formatPfTrace, tracePfPacket, type PfTraceSource } from "../../../src/firewall/pf/eval/trace.js";
import { howtoHost, model, HOWTO_EXPOSURES, MORE_EXPOSURES, MORE_JAILS } from "../model-fixture.js";

const env = hostEnvWith(defaultHostEnv(), { rl0: ["198.51.100.7/24", "2001:db8::7/64"] });
const HOOKS = 'nat-anchor "qjail/*"\nrdr-anchor "qjail/*"\n';

function sources(
  pfConf: string,
  anchor = generatePf(model(howtoHost("freebsd", "rl0", { firewall: "pf" }), HOWTO_EXPOSURES)),
): PfTraceSource[] {
  const main = parsePf(pfConf, { env });
  const a = parsePf(anchor, { env, anchor: "qjail/expose" });
  assert.deepEqual([...main.diagnostics, ...a.diagnostics], []);
  return [
    { file: "pf.conf", anchor: "", result: main },
    { file: "anchor qjail/expose", anchor: "qjail/expose", result: a },
  ];
}

function trace(pfConf: string, words: string, opts: { anchor?: string; flags?: string } = {}) {
  const packet = parseFriendlyPfPacket(words.split(" "), {
    interfaceAddress: (ifname, family) => {
      const a = env.interfaces
        .find((i) => i.name === ifname)
        ?.addresses.find((x) => family === null || x.family === family);
      return a ? { family: a.family, addr: a.addr } : null;
    },
    ...(opts.flags ? { flags: opts.flags } : {}),
  });
  return tracePfPacket(sources(pfConf, opts.anchor), env, packet);
}

test("the howto on pf: 6188 is redirected to the www jail and let in by qjail's pass; the state keeps both sides", () => {
  const r = trace(
    `${HOOKS}block in all\npass out all\nanchor "qjail/*"\n`,
    "tcp 203.0.113.9:40000 -> :6188 on rl0",
  );
  assert.equal(r.translation.after, "203.0.113.9:40000 -> 10.0.0.3:80");
  assert.equal(r.translation.applied?.rule.file, "anchor qjail/expose");
  assert.equal(r.verdict, "pass");
  assert.equal(r.filter.decidedBy?.how, "last match");
  assert.match(
    r.filter.decidedBy?.text ?? "",
    /^pass in on rl0 inet proto tcp from any to 10\.0\.0\.3 port = http/,
  );
  assert.equal(r.stateCreated, "all tcp 10.0.0.3:80 (198.51.100.7:6188) <- 203.0.113.9:40000");
  const text = formatPfTrace(r);
  assert.match(text, /^packet: in on rl0 tcp 203\.0\.113\.9:40000 -> 198\.51\.100\.7:6188 \[S\]$/m);
  assert.match(text, /^ {2}pf\.conf:2 {2}rdr-anchor "qjail\/\*" all$/m);
  assert.match(text, /^ +no match: destination port 6188 is not = 6122$/m);
  assert.match(text, /^decided by anchor qjail\/expose:\d+ \(last match\): pass$/m);
});

test("a quick block before the anchor drops forwarded traffic; the same block after it does not matter", () => {
  const before = trace(
    `${HOOKS}block in quick on rl0 proto tcp to 10.0.0.0/24\nanchor "qjail/*"\n`,
    "tcp 203.0.113.9:40000 -> :6188 on rl0",
  );
  assert.equal(before.verdict, "block");
  assert.equal(before.filter.decidedBy?.how, "quick");
  assert.equal(before.filter.decidedBy?.line, 3);
  assert.equal(before.result, "dropped");
  const after = trace(
    `${HOOKS}anchor "qjail/*"\nblock in on rl0 proto tcp to port 6188\n`,
    "tcp 203.0.113.9:40000 -> :6188 on rl0",
  );
  assert.equal(after.verdict, "pass", "the later block names the public port, which the filter never sees");
});

test("hairpin: the rdr on lo0 catches a jail's connection to the public address, unless pf skips lo0", () => {
  const words = "tcp 10.0.0.2:40000 -> 198.51.100.7:6188 on lo0";
  const works = trace(`${HOOKS}anchor "qjail/*"\n`, words);
  assert.equal(works.translation.after, "10.0.0.2:40000 -> 10.0.0.3:80");
  assert.equal(works.verdict, "pass");
  const skipped = trace(`set skip on lo0\n${HOOKS}anchor "qjail/*"\n`, words);
  assert.match(skipped.skipped ?? "", /does not look at packets on lo0 \(set skip\)/);
  assert.match(
    formatPfTrace(skipped),
    /result: passed, unfiltered: tcp 10\.0\.0\.2:40000 -> 198\.51\.100\.7:6188/,
  );
});

test("outbound: the filter sees the nat'd source; nat picks a port from its range", () => {
  const r = trace(
    `${HOOKS}pass out on rl0 inet from 198.51.100.7 to any\nblock out on rl0 from 10.0.0.0/24\nanchor "qjail/*"\n`,
    "tcp 10.0.0.3:12345 -> 203.0.113.9:443 on rl0 out",
  );
  assert.equal(r.translation.after, "198.51.100.7:50001 -> 203.0.113.9:443");
  assert.match(r.translation.note ?? "", /50001:65535/);
  assert.equal(
    r.verdict,
    "pass",
    "the block on the jail network never matches: the source is already translated",
  );
  assert.equal(r.stateCreated, "all tcp 198.51.100.7:50001 (10.0.0.3:12345) -> 203.0.113.9:443");
});

test("tables: the most specific entry decides, negated entries exclude", () => {
  const conf = `table <bad> { 203.0.113.0/24 !203.0.113.9 }\n${HOOKS}block in quick from <bad>\nanchor "qjail/*"\n`;
  assert.equal(trace(conf, "tcp 203.0.113.9:40000 -> :6188 on rl0").verdict, "pass");
  const r = trace(conf, "tcp 203.0.113.10:40000 -> :6188 on rl0");
  assert.equal(r.verdict, "block");
  assert.match(r.filter.decidedBy?.text ?? "", /block drop in quick from <bad> to any/);
});

test("rdr pass skips the filter rules; no rdr leaves the packet untranslated", () => {
  const anchor = "rdr pass on rl0 inet proto tcp to (rl0) port 6188 -> 10.0.0.3 port 80\n";
  const r = trace(`${HOOKS}block in all\nanchor "qjail/*"\n`, "tcp 203.0.113.9:40000 -> :6188 on rl0", {
    anchor,
  });
  assert.equal(r.verdict, "pass");
  assert.equal(r.filter.decidedBy?.how, "rdr pass");
  assert.deepEqual(r.filter.considered, []);
  const no = trace(
    `no rdr on rl0 proto tcp from 203.0.113.9\n${HOOKS}anchor "qjail/*"\n`,
    "tcp 203.0.113.9:40000 -> :6188 on rl0",
  );
  assert.equal(no.translation.applied?.kind, "no rdr");
  assert.equal(no.translation.after, no.translation.before);
});

test("IPv6 exposures and TCP flags: a packet without SYN does not match flags S/SA", () => {
  const anchor = generatePf(
    model(
      howtoHost("freebsd", "rl0", { firewall: "pf", jailSubnet6: "fd00:6a61:696c::/64" }),
      MORE_EXPOSURES,
      MORE_JAILS,
    ),
  );
  const r = trace(
    `${HOOKS}block in all\nanchor "qjail/*"\n`,
    "tcp [2001:db8:1::9]:40000 -> [2001:db8::7]:6188 on rl0",
    { anchor },
  );
  assert.equal(r.translation.after, "[2001:db8:1::9]:40000 -> [fd00:6a61:696c::3]:80");
  assert.equal(r.verdict, "pass");
  const ack = trace(
    `${HOOKS}block in all\nanchor "qjail/*"\n`,
    "tcp [2001:db8:1::9]:40000 -> [2001:db8::7]:6188 on rl0",
    { anchor, flags: "A" },
  );
  assert.equal(ack.verdict, "block");
  assert.ok(ack.filter.considered.some((c) => c.why === "TCP flags do not match S/SA"));
});

test("the friendly packet form refuses what it cannot read, naming the word", () => {
  const opts = { interfaceAddress: () => null };
  const bad = (w: string, re: RegExp): void =>
    assert.throws(
      () => parseFriendlyPfPacket(w.split(" "), opts),
      (e: Error) => e instanceof PfPacketSyntaxError && re.test(e.message),
    );
  bad("sctp 1.2.3.4:1 -> 5.6.7.8:2 on em0", /protocol must be/);
  bad("tcp 1.2.3.4:1 => 5.6.7.8:2 on em0", /expected "->" or "to"/);
  bad("tcp 1.2.3.4 -> 5.6.7.8:2 on em0", /needs a port/);
  bad("tcp 1.2.3.4:1 -> :2 on em0", /em0's own address, which is not known/);
  bad("tcp 1.2.3.4:1 -> [2001:db8::1]:2 on em0", /different families/);
  bad("tcp 1.2.3.4:1 -> 5.6.7.8:2", /needs "on IFACE"/);
});
