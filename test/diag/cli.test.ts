import { test, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { writeFileSync, chmodSync, readFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { runCli, testdir, treeDigest, qjailArgv } from "../helpers/cli.js";
import { emptyRecord, formatRecord } from "../../src/core/record.js";

function recordText(name: string, ip4: string): string {
  const r = emptyRecord();
  r.name = name;
  r.ip4 = ip4;
  r.path = `/usr/jails/${name}`;
  r.interface = "qjail0";
  return formatRecord(r);
}

/** The howto's two jails as records, with the www exposure, on a Linux-shaped root. */
function howtoRoot(extra: Record<string, string> = {}) {
  return testdir(
    {
      "usr/local/etc/qjail.local/ssh": recordText("ssh", "10.0.0.2"),
      "usr/local/etc/qjail.local/www.norun": recordText("www", "10.0.0.3"),
      "usr/local/etc/qjail.global/ssh": recordText("ssh", "10.0.0.2"),
      "usr/local/etc/qjail.global/www.norun": recordText("www", "10.0.0.3"),
      "usr/local/etc/qjail.expose/www": 'proto="tcp" public="6188" jail_port="80" from="" on="" comment=""\n',
      "usr/jails/ssh/etc/resolv.conf": "nameserver 192.0.2.53\n",
      "usr/local/etc/qjail.host":
        'ext_if="qjnone0"\nfirewall="nft"\njail_if="qjnone1"\njail_subnet="10.0.0.0/24"\n',
      ...extra,
    },
    "qjail-diag-",
  );
}

test("status --json: one document, jails with state, addresses and exposures", async () => {
  const t = howtoRoot();
  try {
    const r = await runCli(["status", "--json", "--root", t.dir, "--platform", "linux"]);
    assert.equal(r.code, 0, r.stderr);
    const doc = JSON.parse(r.stdout) as {
      __version: string;
      host: { firewall: string; ext_if: string };
      jails: {
        name: string;
        status: string;
        state: string;
        ipv4: string[];
        exposures: { public: string; target: string }[];
      }[];
    };
    assert.equal(doc.__version, "1");
    assert.equal(doc.host.firewall, "nft");
    assert.equal(doc.host.ext_if, "qjnone0");
    assert.deepEqual(
      doc.jails.map((j) => [j.name, j.status, j.ipv4[0]]),
      [
        ["ssh", "normal", "10.0.0.2"],
        ["www", "norun", "10.0.0.3"],
      ],
    );
    assert.deepEqual(
      doc.jails[1]?.exposures.map((e) => [e.public, e.target]),
      [["6188", "10.0.0.3"]],
    );
    const one = JSON.parse(
      (await runCli(["status", "ssh", "--json", "--root", t.dir, "--platform", "linux"])).stdout,
    ) as { jails: unknown[] };
    assert.equal(one.jails.length, 1);
  } finally {
    t.cleanup();
  }
});

test("status refuses an unknown jail with its name, and changes nothing", async () => {
  const t = howtoRoot();
  try {
    const before = treeDigest(t.dir);
    const r = await runCli(["status", "nosuch", "--root", t.dir, "--platform", "linux"]);
    assert.equal(r.code, 3);
    assert.match(r.stderr, /QJ5202: no jail named "nosuch"/);
    assert.deepEqual(treeDigest(t.dir), before);
  } finally {
    t.cleanup();
  }
});

test("doctor --json: findings with codes and fix commands; exit 1 on errors", async () => {
  const t = howtoRoot();
  try {
    const r = await runCli(["doctor", "--json", "--root", t.dir, "--platform", "linux"]);
    assert.equal(r.code, 1, r.stderr);
    const doc = JSON.parse(r.stdout) as { findings: { code: string; subject: string; fix: string }[] };
    const byCode = new Map(doc.findings.map((f) => [f.code, f]));
    // the jail interface qjnone1 does not exist, nothing is loaded for the exposure
    assert.ok(byCode.has("QJ5304") || byCode.has("QJ5302"), JSON.stringify(doc.findings));
    // ssh has no .norun/.man and is not running (the www jail is .norun, so it is not named)
    const stopped = doc.findings.filter((f) => f.code === "QJ5310");
    assert.deepEqual(
      stopped.map((f) => [f.subject, f.fix]),
      [["ssh", "qjail start ssh"]],
    );
    // www has no resolv.conf
    assert.ok(doc.findings.some((f) => f.code === "QJ5311" && f.subject === "www"));
    assert.match(r.stderr, /fix: qjail start ssh/);
  } finally {
    t.cleanup();
  }
});

test("doctor refuses a malformed --probe before gathering anything", async () => {
  const r = await runCli([
    "doctor",
    "--probe",
    "example.org:43",
    "--platform",
    "linux",
    "--root",
    "/nonexistent-qjail",
  ]);
  assert.equal(r.code, 3);
  assert.match(r.stderr, /QJ5204: --probe "example\.org:43" is not an IPv4 ADDRESS:PORT/);
});

test("fw watch refusals: partial dyndns options, world-readable password file, bad interval; nothing written", async () => {
  const t = howtoRoot({ pw: "s3cret\n" });
  try {
    chmodSync(join(t.dir, "pw"), 0o644);
    const before = treeDigest(t.dir);
    const common = ["--root", t.dir, "--platform", "linux", "--once"];
    const partial = await runCli([
      "fw",
      "watch",
      ...common,
      "--dyndns-url",
      "https://x.example.org/nic/update",
    ]);
    assert.equal(partial.code, 3);
    assert.match(partial.stderr, /QJ5112: .*missing --dyndns-user, --dyndns-password-file, --hostname/);
    // a path typed on the command line: used as given, not relocated under --root (C7)
    const pw = join(t.dir, "pw");
    const readable = await runCli([
      "fw",
      "watch",
      ...common,
      "--dyndns-url",
      "https://x.example.org/nic/update",
      "--dyndns-user",
      "alice",
      "--dyndns-password-file",
      pw,
      "--hostname",
      "host.example.org",
    ]);
    assert.equal(readable.code, 3);
    assert.match(readable.stderr, /QJ5108: password file .* is readable by every user \(mode 644\)/);
    assert.ok(readable.stderr.includes(`Try: chmod 600 ${pw}\n`), readable.stderr);
    const interval = await runCli(["fw", "watch", ...common, "--interval", "1"]);
    assert.equal(interval.code, 3);
    assert.match(interval.stderr, /QJ5111/);
    const plain = await runCli([
      "fw",
      "watch",
      ...common,
      "--dyndns-url",
      "http://x.example.org/nic/update",
      "--dyndns-user",
      "alice",
      "--dyndns-password-file",
      pw,
      "--hostname",
      "host.example.org",
    ]);
    assert.match(plain.stderr, /QJ5102/);
    assert.deepEqual(treeDigest(t.dir), before);
  } finally {
    t.cleanup();
  }
});

test("fw watch stops on SIGTERM while it waits for the next check, with exit status 0", async () => {
  const t = howtoRoot();
  try {
    const child = spawn(
      qjailArgv()[0] as string,
      [...qjailArgv().slice(1), "fw", "watch", "--interval", "3600", "--root", t.dir, "--platform", "linux"],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (out += d.toString()));
    // the first check is made (qjnone0 has no address) and the watcher sleeps for an hour
    for (let i = 0; i < 300 && !/following qjnone0 every 3600 s/.test(out); i++)
      await new Promise((r) => setTimeout(r, 100));
    assert.match(out, /following qjnone0 every 3600 s/, out);
    await new Promise((r) => setTimeout(r, 500));
    const sent = Date.now();
    child.kill("SIGTERM");
    const code = await new Promise<number | null | "still running">((resolve) => {
      const late = setTimeout(() => {
        child.kill("SIGKILL");
        resolve("still running");
      }, 10_000);
      child.once("exit", (c) => {
        clearTimeout(late);
        resolve(c);
      });
    });
    assert.equal(code, 0, `${Date.now() - sent} ms after SIGTERM: ${out}`);
  } finally {
    t.cleanup();
  }
});

// The real binary inside a namespace of our own: a dummy ext_if with a public
// address, and a dyndns2 server on that namespace's loopback.
const canNetns = process.getuid?.() === 0 && spawnSync("ip", ["netns", "list"]).status === 0;
const ns = `qj7w${process.pid}${Math.floor(Math.random() * 1000)}`;
after(() => {
  if (canNetns) spawnSync("ip", ["netns", "del", ns]);
});

const SERVER = `
const http = require("node:http"); const fs = require("node:fs");
const log = process.argv[1];
const s = http.createServer((req, res) => {
  const u = new URL(req.url, "http://x");
  fs.appendFileSync(log, u.searchParams.get("myip") + "\\n");
  const ok = req.headers.authorization === "Basic " + Buffer.from("alice:s3cret").toString("base64");
  res.end(ok ? "good " + u.searchParams.get("myip") + "\\n" : "badauth\\n");
});
s.listen(0, "127.0.0.1", () => console.log(s.address().port));
`;

test(
  "fw watch --once in a namespace: updates DNS for the interface's address, never twice, again after a change",
  { skip: !canNetns && "needs root and ip netns" },
  async () => {
    const t = howtoRoot({ "usr/local/etc/qjail.host": 'ext_if="qjw0"\nfirewall="nft"\n', pw: "s3cret\n" });
    for (const argv of [
      ["netns", "add", ns],
      ["-n", ns, "link", "set", "lo", "up"],
      ["-n", ns, "link", "add", "qjw0", "type", "veth", "peer", "name", "qjw1"],
      ["-n", ns, "addr", "add", "198.51.100.7/24", "dev", "qjw0"],
      ["-n", ns, "link", "set", "qjw0", "up"],
      ["-n", ns, "link", "set", "qjw1", "up"],
    ]) {
      assert.equal(spawnSync("ip", argv).status, 0, argv.join(" "));
    }
    const server = spawn(
      "ip",
      ["netns", "exec", ns, process.execPath, "-e", SERVER, join(t.dir, "requests.log")],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    try {
      chmodSync(join(t.dir, "pw"), 0o600);
      mkdirSync(join(t.dir, "var/db"), { recursive: true });
      const port = await new Promise<string>((resolve, reject) => {
        server.stdout!.once("data", (d: Buffer) => resolve(d.toString().trim()));
        server.once("exit", () => reject(new Error("server exited")));
      });
      const watch = (): { status: number | null; stdout: string; stderr: string } =>
        spawnSync(
          "ip",
          [
            "netns",
            "exec",
            ns,
            ...qjailArgv(),
            "fw",
            "watch",
            "--once",
            "--root",
            t.dir,
            "--platform",
            "linux",
            "--dyndns-url",
            `http://127.0.0.1:${port}/nic/update`,
            "--dyndns-user",
            "alice",
            "--dyndns-password-file",
            join(t.dir, "pw"),
            "--hostname",
            "host.example.org",
          ],
          // the rules are really loaded into this test's namespace (QJAIL_FW_LOAD=1 under --root)
          { encoding: "utf8", timeout: 60000, env: { ...process.env, QJAIL_FW_LOAD: "1" } },
        );
      const first = watch();
      assert.equal(first.status, 0, first.stderr + first.stdout);
      assert.match(first.stdout, /checking qjw0 once, DNS name host\.example\.org/);
      assert.match(first.stdout, /DNS updated to 198\.51\.100\.7/);
      assert.equal(
        readFileSync(join(t.dir, "var/db/qjail/watch.state"), "utf8"),
        'dyndns_address="198.51.100.7"\nsynced_address="198.51.100.7"\n',
      );
      assert.match(first.stdout, /public address 198\.51\.100\.7; rules in sync/);
      const table = spawnSync("ip", ["netns", "exec", ns, "nft", "list", "table", "inet", "qjail"], {
        encoding: "utf8",
      });
      assert.equal(table.status, 0, "fw watch loaded qjail's table through fw sync");
      assert.match(table.stdout, /tcp dport 6188 counter packets \d+ bytes \d+ dnat ip to 10\.0\.0\.3:80/);
      const second = watch();
      assert.equal(second.status, 0, second.stderr);
      assert.doesNotMatch(second.stdout, /DNS updated|rules/);
      assert.deepEqual(readFileSync(join(t.dir, "requests.log"), "utf8").trim().split("\n"), [
        "198.51.100.7",
      ]);
      spawnSync("ip", ["-n", ns, "addr", "flush", "dev", "qjw0"]);
      spawnSync("ip", ["-n", ns, "addr", "add", "198.51.100.8/24", "dev", "qjw0"]);
      spawnSync("ip", ["netns", "exec", ns, "nft", "delete", "table", "inet", "qjail"]);
      const third = watch();
      assert.match(third.stdout, /DNS updated to 198\.51\.100\.8/);
      assert.match(
        third.stdout,
        /public address changed 198\.51\.100\.7 -> 198\.51\.100\.8; rules re-synced/,
      );
      assert.equal(
        spawnSync("ip", ["netns", "exec", ns, "nft", "list", "table", "inet", "qjail"]).status,
        0,
        "re-synced after the change",
      );
      assert.deepEqual(readFileSync(join(t.dir, "requests.log"), "utf8").trim().split("\n"), [
        "198.51.100.7",
        "198.51.100.8",
      ]);
      writeFileSync(join(t.dir, "pw"), "wrong\n");
      spawnSync("ip", ["-n", ns, "addr", "flush", "dev", "qjw0"]);
      spawnSync("ip", ["-n", ns, "addr", "add", "198.51.100.9/24", "dev", "qjw0"]);
      const bad = watch();
      assert.equal(bad.status, 3);
      assert.match(
        bad.stderr,
        /QJ5113: fw watch stopped: the provider rejected the user name or password \(badauth\)/,
      );
    } finally {
      server.kill();
      t.cleanup();
    }
  },
);
