import { test, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { parseSs } from "../../src/platform/linux/parsers/ss.js";
import { parseNftJson, countersByComment } from "../../src/platform/linux/parsers/nft.js";
import { parseIpAddrJson, publicIPv4 } from "../../src/platform/linux/parsers/ip.js";

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
      for (let i = 0; i < 50 && !rows.some((r) => r.local.port === 8123); i++) {
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
