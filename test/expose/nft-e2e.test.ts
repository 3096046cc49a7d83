import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { testdir, treeDigest, qjailArgv } from "../helpers/cli.js";
import { emptyRecord, formatRecord } from "../../src/core/record.js";

/**
 * The howto's set-up for real, on nftables, in network namespaces this test
 * creates (nothing is sent from the root namespace):
 *
 *   client (198.51.100.2, .3,      ──ext0── host (198.51.100.1,   ──qjail0 bridge 10.0.0.1/24── ssh 10.0.0.2
 *           2001:db8:100::2)                    2001:db8:100::1)      fd00:6a61:696c::1/64     ├── www 10.0.0.3, fd00:6a61:696c::3
 *                                                                                              └── other 10.0.0.4
 *
 * The "jails" are plain namespaces with a small node server each, standing in
 * for qjail jails; qjail itself runs inside the host namespace with
 * QJAIL_FW_LOAD=1 and a temporary --root.
 */

const suffix = `${process.pid % 100000}${Math.floor(Math.random() * 1000)}`;
const NS = {
  host: `qjh${suffix}`,
  client: `qjc${suffix}`,
  ssh: `qjs${suffix}`,
  www: `qjw${suffix}`,
  other: `qjo${suffix}`,
};
const PUBLIC = "198.51.100.1";
const PUBLIC6 = "2001:db8:100::1";
const CLIENT6 = "2001:db8:100::2";
const JAIL6 = "fd00:6a61:696c::/64";
const servers: ChildProcess[] = [];
let root: { dir: string; cleanup: () => void } | undefined;
let skipReason: string | undefined;

function sh(argv: string[], input?: string): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(argv[0] as string, argv.slice(1), { encoding: "utf8", input, timeout: 20_000 });
  return { code: r.status ?? 1, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
}
function must(argv: string[]): void {
  const r = sh(argv);
  if (r.code !== 0) throw new Error(`${argv.join(" ")}: ${r.stderr}`);
}
function inNs(ns: string, argv: string[]): string[] {
  return ["ip", "netns", "exec", ns, ...argv];
}

const PROBE = `
import net from "node:net";
const [host, port, local, send] = process.argv.slice(2);
const s = net.connect({ host, port: Number(port), localAddress: local === "-" ? undefined : local });
let got = "";
s.setTimeout(3000, () => { console.log("ERR timeout"); s.destroy(); });
s.on("connect", () => { if (send && send !== "-") s.write(send); });
s.on("data", (d) => { got += d; });
s.on("end", () => { console.log(got.trim()); });
s.on("error", (e) => { console.log("ERR " + e.code); });
`;
const SERVER = `
import net from "node:net";
const [port, mode] = process.argv.slice(2);
net.createServer((c) => {
  if (mode === "http") c.once("data", () => c.end("HTTP/1.0 200 OK\\r\\n\\r\\nwww jail page\\n"));
  else if (mode === "ssh") c.end("SSH-2.0-standin-ssh-jail\\r\\n");
  else c.end("from " + c.remoteAddress.replace(/^::ffff:/, "") + "\\n");
}).listen(Number(port), () => console.log("ready"));
`;

function startServer(ns: string, port: number, mode: string): Promise<void> {
  const child = spawn(
    "ip",
    ["netns", "exec", ns, process.execPath, join(root!.dir, "server.mjs"), String(port), mode],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  servers.push(child);
  return new Promise((resolve, reject) => {
    child.stdout!.once("data", () => resolve());
    child.once("exit", (c) => reject(new Error(`server in ${ns} exited ${c}`)));
  });
}

function probe(
  ns: string,
  port: number,
  opts: { local?: string; send?: string; host?: string } = {},
): string {
  return sh(
    inNs(ns, [
      process.execPath,
      join(root!.dir, "probe.mjs"),
      opts.host ?? PUBLIC,
      String(port),
      opts.local ?? "-",
      opts.send ?? "-",
    ]),
  ).stdout.trim();
}

function qjail(
  args: string[],
  env: Record<string, string> = {},
): { code: number; stdout: string; stderr: string } {
  const envArgs = Object.entries({ QJAIL_FW_LOAD: "1", ...env }).map(([k, v]) => `${k}=${v}`);
  return sh(
    inNs(NS.host, ["env", ...envArgs, ...qjailArgv(), ...args, "--root", root!.dir, "--platform", "linux"]),
  );
}

function liveTable(): string {
  return sh(inNs(NS.host, ["nft", "list", "table", "inet", "qjail"])).stdout;
}

/** `qjail status --json` hits per exposure, keyed "jail:public/ipN" (www is exposed on both families). */
function statusHits(): Record<string, [number | null, string | null]> {
  const s = qjail(["status", "--json"]);
  assert.equal(s.code, 0, s.stderr);
  const doc = JSON.parse(s.stdout) as {
    jails: {
      name: string;
      exposures: { public: string; family: number; hits: number | null; counted_by: string | null }[];
    }[];
  };
  return Object.fromEntries(
    doc.jails.flatMap((j) =>
      j.exposures.map((e) => [`${j.name}:${e.public}/ip${e.family}`, [e.hits, e.counted_by]]),
    ),
  );
}

function record(name: string, ip4: string, ip6 = ""): string {
  const r = emptyRecord();
  r.name = name;
  r.ip4 = ip4;
  r.ip6 = ip6;
  r.path = `/usr/jails/${name}`;
  return formatRecord(r);
}

before(() => {
  if (
    process.getuid?.() !== 0 ||
    sh(["nft", "--version"]).code !== 0 ||
    sh(["ip", "netns", "add", NS.host]).code !== 0
  ) {
    skipReason = "needs root, nft and network namespaces";
    return;
  }
  const files: Record<string, string> = {
    "usr/local/etc/qjail.host": [
      'ext_if="ext0"',
      'firewall="nft"',
      'jail_if="qjail0"',
      `jail_subnet="10.0.0.0/24,${JAIL6}"`,
      'host_services="22/tcp,80/tcp"',
      "",
    ].join("\n"),
  };
  for (const [name, ip, ip6] of [
    ["ssh", "10.0.0.2", ""],
    ["www", "10.0.0.3", "fd00:6a61:696c::3"],
    ["other", "10.0.0.4", ""],
  ] as const) {
    files[`usr/local/etc/qjail.local/${name}`] = record(name, ip, ip6);
    files[`usr/local/etc/qjail.global/${name}`] = record(name, ip, ip6);
  }
  root = testdir(files, "qjail-e2e-");
  writeFileSync(join(root.dir, "probe.mjs"), PROBE);
  writeFileSync(join(root.dir, "server.mjs"), SERVER);
  for (const ns of [NS.client, NS.ssh, NS.www, NS.other]) must(["ip", "netns", "add", ns]);
  for (const ns of Object.values(NS)) must(["ip", "-n", ns, "link", "set", "lo", "up"]);
  must([
    "ip",
    "-n",
    NS.host,
    "link",
    "add",
    "ext0",
    "type",
    "veth",
    "peer",
    "name",
    "eth0",
    "netns",
    NS.client,
  ]);
  must(["ip", "-n", NS.host, "addr", "add", `${PUBLIC}/24`, "dev", "ext0"]);
  must(["ip", "-n", NS.host, "link", "set", "ext0", "up"]);
  must(["ip", "-n", NS.client, "addr", "add", "198.51.100.2/24", "dev", "eth0"]);
  must(["ip", "-n", NS.client, "addr", "add", "198.51.100.3/24", "dev", "eth0"]);
  must(["ip", "-n", NS.host, "addr", "add", `${PUBLIC6}/64`, "dev", "ext0", "nodad"]);
  must(["ip", "-n", NS.client, "addr", "add", `${CLIENT6}/64`, "dev", "eth0", "nodad"]);
  must(["ip", "-n", NS.client, "link", "set", "eth0", "up"]);
  must(["ip", "-n", NS.host, "link", "add", "qjail0", "type", "bridge"]);
  must(["ip", "-n", NS.host, "addr", "add", "10.0.0.1/24", "dev", "qjail0"]);
  must(["ip", "-n", NS.host, "addr", "add", "fd00:6a61:696c::1/64", "dev", "qjail0", "nodad"]);
  must(["ip", "-n", NS.host, "link", "set", "qjail0", "up"]);
  for (const [ns, ip, veth] of [
    [NS.ssh, "10.0.0.2", "vssh"],
    [NS.www, "10.0.0.3", "vwww"],
    [NS.other, "10.0.0.4", "vother"],
  ] as const) {
    must(["ip", "-n", NS.host, "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns]);
    must(["ip", "-n", NS.host, "link", "set", veth, "master", "qjail0", "up"]);
    must(["ip", "-n", ns, "addr", "add", `${ip}/24`, "dev", "eth0"]);
    must(["ip", "-n", ns, "link", "set", "eth0", "up"]);
    must(["ip", "-n", ns, "route", "add", "default", "via", "10.0.0.1"]);
  }
  must(["ip", "-n", NS.www, "addr", "add", "fd00:6a61:696c::3/64", "dev", "eth0", "nodad"]);
  must(["ip", "-n", NS.www, "-6", "route", "add", "default", "via", "fd00:6a61:696c::1"]);
  must(inNs(NS.host, ["sysctl", "-qw", "net.ipv6.conf.all.forwarding=1"]));
  must(inNs(NS.host, ["sysctl", "-qw", "net.ipv4.ip_forward=1"]));
});

after(() => {
  for (const s of servers) s.kill("SIGKILL");
  for (const ns of Object.values(NS)) sh(["ip", "netns", "del", ns]);
  root?.cleanup();
});

test("nftables end to end: the howto's set-up from outside, --from, map, hairpin, and a refused load", async (t) => {
  if (skipReason) return t.skip(skipReason);
  await startServer(NS.www, 80, "http");
  await startServer(NS.ssh, 22, "ssh");
  await startServer(NS.client, 7000, "echo-source");

  let r = qjail(["expose", "www", "tcp", "6188:80"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /Exposed tcp 6188 -> www:80 \(nft rules loaded and verified\)/);
  r = qjail(["expose", "ssh", "tcp", "6122:22", "--from", "198.51.100.2/32"]);
  assert.equal(r.code, 0, r.stderr);

  await t.test("the client reaches host:6188 and gets the www jail's page", () => {
    assert.match(probe(NS.client, 6188, { send: "GET / HTTP/1.0\r\n\r\n" }), /www jail page/);
  });
  await t.test("status counts the connection to www:6188 and none for ssh:6122, nobody used yet", () => {
    // one IPv4 connection, counted once by its first packet in the prerouting DNAT rule
    assert.deepEqual(statusHits(), {
      "ssh:6122/ip4": [0, "nft dnat"],
      "www:6188/ip4": [1, "nft dnat"],
      "www:6188/ip6": [0, "nft dnat"],
    });
  });
  await t.test("host:6122 reaches port 22 of the ssh jail, from the allowed source", () => {
    assert.equal(probe(NS.client, 6122, { local: "198.51.100.2" }), "SSH-2.0-standin-ssh-jail");
  });
  await t.test("--from refuses another source", () => {
    assert.equal(probe(NS.client, 6122, { local: "198.51.100.3" }), "ERR ECONNREFUSED");
  });
  await t.test("a port not exposed is refused", () => {
    assert.equal(probe(NS.client, 6190), "ERR ECONNREFUSED");
  });
  await t.test("a jail's outbound connection arrives from the host's public address (map/masquerade)", () => {
    assert.equal(probe(NS.www, 7000, { host: "198.51.100.2" }), `from ${PUBLIC}`);
  });
  await t.test("hairpin: host:6188 works from another jail", () => {
    assert.match(probe(NS.other, 6188, { send: "GET / HTTP/1.0\r\n\r\n" }), /www jail page/);
  });
  await t.test("hairpin: host:6188 works from the host itself", () => {
    assert.match(probe(NS.host, 6188, { send: "GET / HTTP/1.0\r\n\r\n" }), /www jail page/);
  });
  await t.test(
    "IPv6: the client reaches [host]:6188 and the jail leaves with the host's IPv6 address",
    () => {
      assert.match(
        probe(NS.client, 6188, { host: PUBLIC6, send: "GET / HTTP/1.0\r\n\r\n" }),
        /www jail page/,
      );
      assert.equal(probe(NS.www, 7000, { host: CLIENT6 }), `from ${PUBLIC6}`);
      assert.equal(
        probe(NS.client, 6122, { host: PUBLIC6 }),
        "ERR ECONNREFUSED",
        "ssh has no IPv6 address and an IPv4 --from",
      );
    },
  );
  await t.test("status sums every path: outside, another jail and the host itself, per family", () => {
    // www/ip4: the client, the other jail (hairpin) and the host (output chain); ssh: the allowed
    // source only, the refused source never matched the DNAT rule's --from
    assert.deepEqual(statusHits(), {
      "ssh:6122/ip4": [1, "nft dnat"],
      "www:6188/ip4": [3, "nft dnat"],
      "www:6188/ip6": [1, "nft dnat"],
    });
  });
  await t.test("a new public address (DHCP) keeps working without a reload", () => {
    must(["ip", "-n", NS.host, "addr", "del", `${PUBLIC}/24`, "dev", "ext0"]);
    must(["ip", "-n", NS.host, "addr", "add", "198.51.100.9/24", "dev", "ext0"]);
    try {
      assert.match(
        probe(NS.client, 6188, { host: "198.51.100.9", send: "GET / HTTP/1.0\r\n\r\n" }),
        /www jail page/,
      );
      assert.equal(probe(NS.www, 7000, { host: "198.51.100.2" }), "from 198.51.100.9");
    } finally {
      must(["ip", "-n", NS.host, "addr", "del", "198.51.100.9/24", "dev", "ext0"]);
      must(["ip", "-n", NS.host, "addr", "add", `${PUBLIC}/24`, "dev", "ext0"]);
    }
  });
  await t.test("qjail ports says both are active", () => {
    const p = qjail(["ports", "--json"]);
    const doc = JSON.parse(p.stdout) as { exposures: { jail: string; state: string }[] };
    assert.deepEqual(
      doc.exposures.map((e) => `${e.jail}:${e.state}`),
      ["ssh:active", "www:active"],
    );
  });
  await t.test("a load the kernel refuses leaves the previous rules in force and the state unchanged", () => {
    const table = liveTable();
    const digest = treeDigest(root!.dir);
    const bad = qjail(["expose", "www", "tcp", "6189:80"], {
      QJAIL_FAULT_NFT_RULE: "tcp dport 1 jump qjail_no_such_chain",
    });
    assert.equal(bad.code, 3);
    assert.match(bad.stderr, /QJ3040: the nft rules were not loaded \(load failed\)/);
    assert.equal(liveTable(), table);
    assert.deepEqual(treeDigest(root!.dir), digest);
    assert.match(probe(NS.client, 6188, { send: "GET / HTTP/1.0\r\n\r\n" }), /www jail page/);
    assert.equal(probe(NS.client, 6189), "ERR ECONNREFUSED");
  });
  await t.test("unexpose removes the forward and keeps the other", () => {
    const u = qjail(["unexpose", "www", "tcp", "6188"]);
    assert.equal(u.code, 0, u.stderr);
    assert.equal(probe(NS.client, 6188), "ERR ECONNREFUSED");
    assert.equal(probe(NS.client, 6122, { local: "198.51.100.2" }), "SSH-2.0-standin-ssh-jail");
  });
  await t.test("fw sync restores the rules after the table was flushed outside qjail", () => {
    must(inNs(NS.host, ["nft", "delete", "table", "inet", "qjail"]));
    assert.equal(probe(NS.client, 6122, { local: "198.51.100.2" }), "ERR ECONNREFUSED");
    const stale = JSON.parse(qjail(["ports", "--json"]).stdout) as {
      exposures: { state: string }[];
      problems: string[];
    };
    assert.deepEqual(
      stale.exposures.map((e) => e.state),
      ["pending"],
    );
    assert.match(stale.problems[0] ?? "", /not in the running firewall .* run 'qjail fw sync'/);
    const s = qjail(["fw", "sync"]);
    assert.equal(s.code, 0, s.stderr);
    const synced = JSON.parse(qjail(["ports", "--json"]).stdout) as { exposures: { state: string }[] };
    assert.deepEqual(
      synced.exposures.map((e) => e.state),
      ["active"],
    );
    assert.equal(probe(NS.client, 6122, { local: "198.51.100.2" }), "SSH-2.0-standin-ssh-jail");
  });
});
