import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { generateNft, nftTransaction } from "../../src/firewall/nft/generate.js";
import { parseNft, printNft, checkRule, counterCounts, ruleCounts } from "../../src/firewall/nft/parse.js";
import { compareLive } from "../../src/platform/linux/firewall.js";
import { howtoHost, model, HOWTO_EXPOSURES, MORE_EXPOSURES, MORE_JAILS } from "./model-fixture.js";

const howto = model(howtoHost("linux", "eth0"), HOWTO_EXPOSURES);
const more = model(
  howtoHost("linux", "eth0", { jailSubnet6: "fd00:6a61:696c::/64" }),
  MORE_EXPOSURES,
  MORE_JAILS,
);

test("the howto's set-up as table inet qjail: DNAT on ext_if's local address, hairpin, masquerade, forward filter, counters on the DNAT and accept rules", () => {
  assert.equal(
    generateNft(howto).replace(/^\t\t# .*\n/gm, ""),
    [
      "table inet qjail {",
      "\tchain prerouting {",
      "\t\ttype nat hook prerouting priority dstnat; policy accept;",
      '\t\tiifname "eth0" meta nfproto ipv4 fib daddr type local tcp dport 6122 counter dnat ip to 10.0.0.2:22 comment "ssh"',
      '\t\tiifname "qjail0" ip daddr != 10.0.0.0/24 fib daddr type local tcp dport 6122 counter dnat ip to 10.0.0.2:22 comment "ssh"',
      '\t\tiifname "eth0" meta nfproto ipv4 fib daddr type local tcp dport 6188 counter dnat ip to 10.0.0.3:80 comment "www"',
      '\t\tiifname "qjail0" ip daddr != 10.0.0.0/24 fib daddr type local tcp dport 6188 counter dnat ip to 10.0.0.3:80 comment "www"',
      "\t}",
      "",
      "\tchain output {",
      "\t\ttype nat hook output priority -100; policy accept;",
      '\t\tip daddr != 127.0.0.0/8 fib daddr type local tcp dport 6122 counter dnat ip to 10.0.0.2:22 comment "ssh"',
      '\t\tip daddr != 127.0.0.0/8 fib daddr type local tcp dport 6188 counter dnat ip to 10.0.0.3:80 comment "www"',
      "\t}",
      "",
      "\tchain postrouting {",
      "\t\ttype nat hook postrouting priority srcnat; policy accept;",
      '\t\toifname "eth0" ip saddr 10.0.0.0/24 masquerade',
      '\t\toifname "qjail0" ip saddr 10.0.0.0/24 ct status dnat masquerade',
      "\t}",
      "",
      "\tchain forward {",
      "\t\ttype filter hook forward priority filter; policy accept;",
      "\t\tct state established,related accept",
      '\t\toifname "qjail0" ct status dnat ip daddr 10.0.0.2 tcp dport 22 counter accept comment "ssh"',
      '\t\toifname "qjail0" ct status dnat ip daddr 10.0.0.3 tcp dport 80 counter accept comment "www"',
      '\t\toifname "qjail0" ct state new drop',
      "\t}",
      "}",
      "",
    ].join("\n"),
  );
});

test("generated tables parse back with zero diagnostics and print back", () => {
  for (const m of [howto, more]) {
    const text = generateNft(m);
    const { table, diagnostics } = parseNft(text);
    assert.deepEqual(diagnostics, []);
    assert.equal(printNft(table!), text.replace(/^\t\t# .*\n/gm, ""));
  }
  assert.match(checkRule("tcp dport 80 accept; flush ruleset") ?? "", /unexpected|bad|after/);
  assert.match(checkRule("tcp dport 80") ?? "", /no verdict/);
});

test("ranges: same ports keep the port, shifted ranges get one DNAT per port", () => {
  const text = generateNft(more);
  assert.match(text, /udp dport 27000-27010 counter dnat ip to 10\.0\.0\.4 comment "game"/);
  for (const p of [0, 1, 2])
    assert.match(
      text,
      new RegExp(`tcp dport 800${p} counter dnat ip to 10\\.0\\.0\\.4:900${p} comment "game"`),
    );
  assert.match(
    text,
    /oifname "qjail0" ct status dnat ip daddr 10\.0\.0\.4 tcp dport 9000-9002 counter accept/,
  );
});

test("--from, --on and IPv6", () => {
  const text = generateNft(more);
  assert.match(
    text,
    /iifname "eth0" meta nfproto ipv4 fib daddr type local ip saddr \{ 198\.51\.100\.0\/24, 203\.0\.113\.7\/32 \} tcp dport 6122 counter dnat ip to 10\.0\.0\.2:22/,
  );
  assert.match(
    text,
    /oifname "qjail0" ct status dnat ip saddr \{ 198\.51\.100\.0\/24, 203\.0\.113\.7\/32 \} ip daddr 10\.0\.0\.2 tcp dport 22 counter accept/,
  );
  assert.match(text, /iifname "eth0" ip daddr 192\.0\.2\.5 udp dport 53 counter dnat ip to 10\.0\.0\.5:53/);
  assert.match(
    text,
    /iifname "eth0" meta nfproto ipv6 fib daddr type local tcp dport 6188 counter dnat ip6 to \[fd00:6a61:696c::3\]:80/,
  );
  assert.match(text, /oifname "eth0" ip6 saddr fd00:6a61:696c::\/64 masquerade/);
});

test("counters: one per DNAT rule and forward accept rule, none on masquerade or the drop", () => {
  const { table } = parseNft(generateNft(howto));
  assert.deepEqual(counterCounts(table!), { prerouting: 4, output: 2, postrouting: 0, forward: 2 });
  assert.deepEqual(ruleCounts(table!), { prerouting: 4, output: 2, postrouting: 2, forward: 4 });
  // `nft list` prints running counts back; that spelling reads back too
  assert.equal(
    checkRule('tcp dport 6188 counter packets 3 bytes 180 dnat ip to 10.0.0.3:80 comment "www"'),
    undefined,
  );
  assert.equal(checkRule("tcp dport 80 counter accept"), undefined);
  assert.match(checkRule("tcp dport 80 counter counter accept") ?? "", /unexpected "counter"/);
  assert.match(checkRule("tcp dport 80 accept counter") ?? "", /"counter" after the verdict/);
  assert.match(checkRule("tcp dport 80 counter packets x bytes 1 accept") ?? "", /unexpected "packets"/);
});

test("verification compares the live table's rule counts per chain", () => {
  const live = JSON.stringify({
    nftables: [
      { chain: { name: "prerouting" } },
      { rule: { chain: "prerouting" } },
      { chain: { name: "forward" } },
    ],
  });
  assert.equal(compareLive(live, { prerouting: 1, forward: 0 }), undefined);
  assert.equal(compareLive(live, { prerouting: 2, forward: 0 }), "chain prerouting has 1 rules, expected 2");
  assert.equal(compareLive(live, { output: 0 }), "chain output is missing");
  const counted = JSON.stringify({
    nftables: [
      { chain: { name: "forward" } },
      { rule: { chain: "forward", expr: [{ counter: { packets: 0, bytes: 0 } }, { accept: null }] } },
      { rule: { chain: "forward", expr: [{ drop: null }] } },
    ],
  });
  assert.equal(compareLive(counted, { forward: 2 }, { forward: 1 }), undefined);
  assert.equal(
    compareLive(counted, { forward: 2 }, { forward: 2 }),
    "chain forward has 1 rules with a counter, expected 2",
  );
});

test("the kernel accepts the generated transaction (nft -c in a private namespace)", (t) => {
  const ns = `qjnc${process.pid}${Math.floor(Math.random() * 1000)}`;
  if (process.getuid?.() !== 0 || spawnSync("ip", ["netns", "add", ns]).status !== 0)
    return t.skip("needs root and network namespaces");
  try {
    for (const m of [howto, more]) {
      const r = spawnSync("ip", ["netns", "exec", ns, "nft", "-c", "-f", "-"], {
        input: nftTransaction(generateNft(m)),
        encoding: "utf8",
      });
      assert.equal(r.status, 0, r.stderr);
    }
    // loaded for real: the listing shows a counter object on every rule that carries one, and
    // the listed text (with its running counts) reads back without a diagnostic
    const text = generateNft(more);
    const load = spawnSync("ip", ["netns", "exec", ns, "nft", "-f", "-"], {
      input: nftTransaction(text),
      encoding: "utf8",
    });
    assert.equal(load.status, 0, load.stderr);
    const { table } = parseNft(text);
    const json = spawnSync("ip", ["netns", "exec", ns, "nft", "-j", "list", "table", "inet", "qjail"], {
      encoding: "utf8",
    });
    assert.equal(compareLive(json.stdout, ruleCounts(table!), counterCounts(table!)), undefined);
    const listed = spawnSync("ip", ["netns", "exec", ns, "nft", "list", "table", "inet", "qjail"], {
      encoding: "utf8",
    });
    assert.match(listed.stdout, /counter packets 0 bytes 0 dnat ip to 10\.0\.0\.4:9000/);
    assert.deepEqual(parseNft(listed.stdout).diagnostics, []);
  } finally {
    spawnSync("ip", ["netns", "del", ns]);
  }
});
