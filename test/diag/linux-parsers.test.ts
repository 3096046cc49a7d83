import { test, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { parseSs } from "../../src/platform/linux/parsers/ss.js";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import {
  parseNftJson,
  countersByComment,
  nftExposureCounter,
  type NftRuleset,
} from "../../src/platform/linux/parsers/nft.js";
import { parseIpAddrJson, publicIPv4 } from "../../src/platform/linux/parsers/ip.js";
import type { ResolvedExposure } from "../../src/core/exposure.js";
import { buildStatus } from "../../src/core/status.js";
import { exposureCounter } from "../../src/platform/rule-counters.js";
import { gatherLinuxFacts, type Runner } from "../../src/platform/linux/facts.js";
import { defaultHostConfig } from "../../src/core/hostconfig.js";
import { hostLayout } from "../../src/core/paths.js";
import { emptyRecord } from "../../src/core/record.js";
import type { JailSpec } from "../../src/core/jail.js";
import { HOWTO_EXPOSURES } from "../firewall/model-fixture.js";
import { REPO_ROOT, tempDir } from "../helpers/cli.js";

// Captured on Debian 12 (iproute2 6.1.0, nftables 1.0.6) inside a throwaway netns.
const SS_TCP = [
  'LISTEN 0      1      *:8080 *:* users:(("busybox",pid=9142,fd=3))',
  "LISTEN 0      128    0.0.0.0:2024 0.0.0.0:*",
  'LISTEN 0      128       [::]:22      [::]:*    users:(("sshd",pid=611,fd=4))',
  'LISTEN 0      4096   127.0.0.53%lo:53 0.0.0.0:* users:(("systemd-resolve",pid=400,fd=14))',
].join("\n");

const NFT_JSON =
  '{"nftables": [{"metainfo": {"version": "1.0.6", "release_name": "Lester Gooch #5", "json_schema_version": 1}}, {"table": {"family": "inet", "name": "qjail", "handle": 1}}, {"chain": {"family": "inet", "table": "qjail", "name": "prerouting", "handle": 1, "type": "nat", "hook": "prerouting", "prio": -100, "policy": "accept"}}, {"chain": {"family": "inet", "table": "qjail", "name": "forward", "handle": 2, "type": "filter", "hook": "forward", "prio": 0, "policy": "accept"}}, {"rule": {"family": "inet", "table": "qjail", "chain": "prerouting", "handle": 3, "comment": "expose www tcp 6188", "expr": [{"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 6188}}, {"counter": {"packets": 7, "bytes": 420}}, {"dnat": {"family": "ip", "addr": "10.0.0.3", "port": 80}}]}}, {"rule": {"family": "inet", "table": "qjail", "chain": "forward", "handle": 4, "comment": "expose www tcp 6188", "expr": [{"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "daddr"}}, "right": "10.0.0.3"}}, {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 80}}, {"counter": {"packets": 5, "bytes": 300}}, {"accept": null}]}}]}';

const IP_ADDR_JSON =
  '[{"ifindex":1,"ifname":"lo","flags":["LOOPBACK","UP","LOWER_UP"],"mtu":65536,"qdisc":"noqueue","operstate":"UNKNOWN","group":"default","txqlen":1000,"link_type":"loopback","address":"00:00:00:00:00:00","broadcast":"00:00:00:00:00:00","addr_info":[{"family":"inet","local":"127.0.0.1","prefixlen":8,"scope":"host","label":"lo","valid_life_time":4294967295,"preferred_life_time":4294967295},{"family":"inet6","local":"::1","prefixlen":128,"scope":"host","valid_life_time":4294967295,"preferred_life_time":4294967295}]},' +
  '{"ifindex":5,"link_index":4,"ifname":"qjh0","flags":["BROADCAST","MULTICAST","UP","LOWER_UP"],"mtu":1500,"qdisc":"noqueue","operstate":"UP","group":"default","txqlen":1000,"link_type":"ether","address":"6a:1f:00:00:00:01","broadcast":"ff:ff:ff:ff:ff:ff","link_netnsid":0,"addr_info":[{"family":"inet","local":"198.51.100.1","prefixlen":24,"scope":"global","label":"qjh0","valid_life_time":4294967295,"preferred_life_time":4294967295}]}]';

test("ss -Htlnp: wildcard, IPv4, bracketed IPv6 and %iface addresses", () => {
  const rows = parseSs(SS_TCP);
  assert.equal(rows.length, 4);
  assert.deepEqual(rows[0]?.local, { address: "*", port: 8080 });
  assert.equal(rows[0]?.command, "busybox");
  assert.equal(rows[0]?.pid, 9142);
  assert.deepEqual(rows[1]?.local, { address: "*", port: 2024 });
  assert.equal(rows[1]?.pid, null);
  assert.deepEqual(rows[2]?.local, { address: "*", port: 22 });
  assert.equal(rows[2]?.proto, "tcp6");
  assert.deepEqual(rows[3]?.local, { address: "127.0.0.53", port: 53 });
});

test("ss -Htulnp: the Netid column gives the protocol", () => {
  const rows = parseSs(
    "udp   UNCONN 0      0      10.0.0.2:53 0.0.0.0:*\ntcp   LISTEN 0      128    10.0.0.2:22 0.0.0.0:*\n",
  );
  assert.deepEqual(
    rows.map((r) => [r.proto, r.local.address, r.local.port]),
    [
      ["udp4", "10.0.0.2", 53],
      ["tcp4", "10.0.0.2", 22],
    ],
  );
});

test("nft -j list ruleset: tables, hooked chains, counters summed per comment", () => {
  const rs = parseNftJson(NFT_JSON);
  assert.deepEqual(rs.tables, [{ family: "inet", name: "qjail" }]);
  assert.deepEqual(
    rs.chains.map((c) => [c.name, c.hook]),
    [
      ["prerouting", "prerouting"],
      ["forward", "forward"],
    ],
  );
  assert.equal(rs.rules.length, 2);
  assert.equal(rs.rules[0]?.packets, 7);
  assert.deepEqual(rs.rules[0]?.dport, { proto: "tcp", low: 6188, high: 6188 });
  assert.deepEqual(rs.rules[0]?.dnat, { addr: "10.0.0.3", port: 80 });
  assert.equal(rs.rules[1]?.daddr, "10.0.0.3");
  assert.equal(rs.rules[1]?.dnat, undefined);
  assert.deepEqual(countersByComment(rs, "qjail").get("expose www tcp 6188"), { packets: 12, bytes: 720 });
  assert.equal(countersByComment(rs, "other").size, 0);
  assert.deepEqual(parseNftJson(""), { tables: [], chains: [], rules: [] });
});

/**
 * `nft -j list table inet qjail` recorded with nftables 1.0.6 (Debian 12) in
 * private namespaces: the howto's table from generateNft (ext_if eth0, jail
 * bridge qjail0), then HTTP to 198.51.100.1:6188 twice from a client on eth0,
 * once from the host itself and once from the ssh jail (hairpin); nothing to
 * 6122. Reformatted by prettier, otherwise as nft printed it.
 */
const HOWTO_COUNTED_JSON = readFileSync(
  join(REPO_ROOT, "test/diag/fixtures/nft-list-table-qjail-howto.json"),
  "utf8",
);
const HOWTO_COUNTED: NftRuleset = parseNftJson(HOWTO_COUNTED_JSON);

function resolved(
  jail: string,
  target: string,
  pub: [number, number],
  jailPort: [number, number],
  proto: "tcp" | "udp" = "tcp",
): ResolvedExposure {
  return {
    jail,
    proto,
    public: { low: pub[0], high: pub[1] },
    jailPort: { low: jailPort[0], high: jailPort[1] },
    from: [],
    on: undefined,
    comment: "",
    family: 4,
    target,
    sources: [],
  };
}
const WWW = resolved("www", "10.0.0.3", [6188, 6188], [80, 80]);
const SSH = resolved("ssh", "10.0.0.2", [6122, 6122], [22, 22]);

test("recorded nft -j: every DNAT and forward accept rule carries its counter and jail comment", () => {
  const rules = HOWTO_COUNTED.rules;
  assert.equal(rules.length, 12);
  const counted = rules.filter((r) => r.packets !== undefined);
  assert.deepEqual(
    counted.map((r) => `${r.chain} ${r.comment} ${r.dnat ? "dnat" : "accept"} ${r.packets}`),
    [
      "prerouting ssh dnat 0",
      "prerouting ssh dnat 0",
      "prerouting www dnat 2",
      "prerouting www dnat 1",
      "output ssh dnat 0",
      "output www dnat 1",
      "forward ssh accept 0",
      "forward www accept 3",
    ],
  );
});

test("recorded nft -j: counters attributed per exposure, connections from DNAT, forwarded apart", () => {
  // 2 from outside + 1 hairpin from a jail (prerouting) + 1 from the host (output); the host's own
  // connection never crosses forward, so forward saw 3 first packets
  assert.deepEqual(nftExposureCounter(HOWTO_COUNTED, "qjail", WWW), {
    live: true,
    connections: { packets: 4, bytes: 240, rules: 3 },
    forwarded: { packets: 3, bytes: 180, rules: 1 },
  });
  assert.deepEqual(nftExposureCounter(HOWTO_COUNTED, "qjail", SSH), {
    live: true,
    connections: { packets: 0, bytes: 0, rules: 3 },
    forwarded: { packets: 0, bytes: 0, rules: 1 },
  });
  assert.deepEqual(exposureCounter({ kind: "nft", ruleset: HOWTO_COUNTED, table: "qjail" }, WWW), {
    hits: 4,
    by: "nft dnat",
    live: true,
  });
  assert.equal(exposureCounter({ kind: "nft", ruleset: HOWTO_COUNTED, table: "qjail" }, SSH).hits, 0);
  // not by port alone: another protocol, another jail's name, another table own none of these rules
  assert.deepEqual(nftExposureCounter(HOWTO_COUNTED, "qjail", { ...WWW, proto: "udp" }), { live: false });
  assert.deepEqual(nftExposureCounter(HOWTO_COUNTED, "qjail", { ...WWW, jail: "mail" }), { live: false });
  assert.deepEqual(nftExposureCounter(HOWTO_COUNTED, "other", WWW), { live: false });
  assert.equal(
    nftExposureCounter(HOWTO_COUNTED, "qjail", { ...WWW, public: { low: 6189, high: 6189 } }).live,
    false,
  );
});

test("Linux facts → status: the recorded table's counters reach each exposure's hits", async () => {
  const layout = hostLayout();
  const jail = (name: string, ip4: string): JailSpec => {
    const record = emptyRecord();
    record.name = name;
    record.ip4 = ip4;
    record.path = `/usr/jails/${name}`;
    return {
      name,
      status: "normal",
      record,
      layout,
      rootPath: record.path,
      confPath: `/etc/jail.conf.d/${name}.conf`,
      fstabPath: `/etc/fstab.${name}`,
    };
  };
  const asked: string[] = [];
  const runner: Runner = async (argv) => {
    asked.push(argv.join(" "));
    if (argv.join(" ") === "nft --version") return { code: 0, stdout: "nftables v1.0.6\n", stderr: "" };
    if (argv.join(" ") === "nft -j list table inet qjail")
      return { code: 0, stdout: HOWTO_COUNTED_JSON, stderr: "" };
    return { code: 1, stdout: "", stderr: "not in this test" };
  };
  const root = tempDir("qjail-nftfacts-");
  try {
    const facts = await gatherLinuxFacts(
      {
        root: root.dir,
        layout,
        config: defaultHostConfig("linux", { defaultRouteIf: "eth0" }),
        configExists: true,
        jails: [jail("ssh", "10.0.0.2"), jail("www", "10.0.0.3")],
        live: new Map(),
        exposures: HOWTO_EXPOSURES,
      },
      runner,
    );
    assert.ok(asked.includes("nft -j list table inet qjail"));
    assert.equal(facts.firewall.qjailRulesLoaded, true);
    const doc = buildStatus(facts);
    assert.deepEqual(
      doc.jails.map((j) => j.exposures.map((e) => [j.name, e.public, e.hits, e.counted_by, e.live])),
      [[["ssh", "6122", 0, "nft dnat", true]], [["www", "6188", 4, "nft dnat", true]]],
    );
  } finally {
    root.cleanup();
  }
});

test("nft -j: a shifted public range is one DNAT rule per port, summed for its exposure", () => {
  const dnatRule = (handle: number, dport: number, to: number, packets: number): object => ({
    rule: {
      family: "inet",
      table: "qjail",
      chain: "prerouting",
      handle,
      comment: "game",
      expr: [
        { match: { op: "==", left: { payload: { protocol: "tcp", field: "dport" } }, right: dport } },
        { counter: { packets, bytes: packets * 60 } },
        { dnat: { family: "ip", addr: "10.0.0.4", port: to } },
      ],
    },
  });
  const forwardRule = {
    rule: {
      family: "inet",
      table: "qjail",
      chain: "forward",
      handle: 9,
      comment: "game",
      expr: [
        { match: { op: "==", left: { payload: { protocol: "ip", field: "daddr" } }, right: "10.0.0.4" } },
        {
          match: {
            op: "==",
            left: { payload: { protocol: "tcp", field: "dport" } },
            right: { range: [9000, 9002] },
          },
        },
        { counter: { packets: 5, bytes: 300 } },
        { accept: null },
      ],
    },
  };
  const rs = parseNftJson(
    JSON.stringify({
      nftables: [
        dnatRule(1, 8000, 9000, 1),
        dnatRule(2, 8001, 9001, 2),
        dnatRule(3, 8002, 9002, 3),
        forwardRule,
      ],
    }),
  );
  const game = resolved("game", "10.0.0.4", [8000, 8002], [9000, 9002]);
  assert.deepEqual(nftExposureCounter(rs, "qjail", game), {
    live: true,
    connections: { packets: 6, bytes: 360, rules: 3 },
    forwarded: { packets: 5, bytes: 300, rules: 1 },
  });
  // a rule translating to the wrong offset is not this exposure's
  const crossed = parseNftJson(JSON.stringify({ nftables: [dnatRule(1, 8001, 9000, 1)] }));
  assert.deepEqual(nftExposureCounter(crossed, "qjail", game), { live: false });
});

test("ip -j addr: the public IPv4 of an interface, loopback's host scope ignored", () => {
  const links = parseIpAddrJson(IP_ADDR_JSON);
  assert.equal(links.length, 2);
  assert.equal(links[1]?.up, true);
  assert.equal(publicIPv4(links, "qjh0"), "198.51.100.1");
  assert.equal(publicIPv4(links, "lo"), undefined);
  assert.equal(publicIPv4(links, "eth9"), undefined);
});

const canNetns = process.getuid?.() === 0 && spawnSync("ip", ["netns", "list"]).status === 0;
const ns = `qj7ss${process.pid}${Math.floor(Math.random() * 1000)}`;
after(() => {
  if (canNetns) spawnSync("ip", ["netns", "del", ns]);
});

test(
  "ss in a live namespace: a listener started there is parsed with its port and process",
  { skip: !canNetns && "needs root and ip netns" },
  async () => {
    assert.equal(spawnSync("ip", ["netns", "add", ns]).status, 0);
    spawnSync("ip", ["-n", ns, "link", "set", "lo", "up"]);
    const listener = spawn(
      "ip",
      [
        "netns",
        "exec",
        ns,
        process.execPath,
        "-e",
        "require('node:net').createServer().listen(8123, '127.0.0.1')",
      ],
      { stdio: "ignore" },
    );
    try {
      let rows = parseSs("");
      // ss attributes a socket to its process by scanning /proc/*/fd, which can miss a process
      // that is still starting: wait until the listener is both bound and attributed.
      const ready = (r: (typeof rows)[number]) => r.local.port === 8123 && r.command !== "?";
      for (let i = 0; i < 100 && !rows.some(ready); i++) {
        await new Promise((r) => setTimeout(r, 50));
        rows = parseSs(spawnSync("ip", ["netns", "exec", ns, "ss", "-Htlnp"], { encoding: "utf8" }).stdout);
      }
      const row = rows.find((r) => r.local.port === 8123);
      assert.equal(row?.local.address, "127.0.0.1");
      assert.equal(row?.command, "node");
    } finally {
      listener.kill();
    }
  },
);
