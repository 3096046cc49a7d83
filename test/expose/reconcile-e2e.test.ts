import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { netnsName } from "../../src/core/linux/lifecycle.js";
import { makeTestHost, PUBLIC_HOST, type TestHost } from "../linux/helpers/host.js";

/**
 * The reconciler end to end with real jails on nftables, in namespaces this
 * test creates (test/linux/helpers/host.ts): every change to the records keeps
 * qjail's live rules true to them (issue 10, newcomer review B2/B3).
 *
 * - expose → delete → a new jail on the same address does not answer on the
 *   old public port;
 * - a forward planted by hand in table inet qjail is reported by doctor and
 *   removed by doctor --repair;
 * - rename and an address change → the jail keeps its MAC (qjail's MAC file)
 *   and the forward answers right after start (neighbour entry right from
 *   the first packet); delete removes the MAC file.
 *
 * Skipped where it cannot run (not root, not Linux).
 */
const canRun = process.platform === "linux" && process.getuid?.() === 0;
const LOAD = { QJAIL_FW_LOAD: "1" };

describe("the reconciler with real jails on nftables", { skip: !canRun && "needs root on Linux" }, () => {
  let host: TestHost;
  const ok = async (args: string[], env: Record<string, string> = LOAD): Promise<string> => {
    const r = await host.qjail(args, 180_000, env);
    assert.equal(r.code, 0, `qjail ${args.join(" ")} exited ${r.code}\n${r.stdout}\n${r.stderr}`);
    return r.stdout;
  };
  /** An HTTP request from the client outside; the answer, or "" when nothing answers within 5 s. */
  const get = async (port: number): Promise<string> =>
    (
      await host.inClient(
        [
          "sh",
          "-c",
          `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | busybox timeout 5 busybox nc ${PUBLIC_HOST} ${port}`,
        ],
        20_000,
      )
    ).stdout;
  const table = async (): Promise<string> =>
    (await host.inHost(["nft", "list", "table", "inet", "qjail"])).stdout;
  const webJail = (name: string, page: string): void => {
    appendFileSync(host.path(`/usr/jails/${name}/etc/rc.conf`), 'apache24_enable="YES"\n');
    mkdirSync(host.path(`/usr/jails/${name}/usr/local/www`), { recursive: true });
    writeFileSync(host.path(`/usr/jails/${name}/usr/local/www/index.html`), `${page}\n`);
  };

  before(async () => {
    host = await makeTestHost("reconcile");
    appendFileSync(host.path("/usr/local/etc/qjail.host"), 'firewall="nft"\nhost_services="22/tcp"\n');
    await ok(["install"]);
  });
  after(async () => {
    await host?.cleanup();
  });

  it("expose → delete → a new jail on the same address does not answer on the old public port", async () => {
    await ok(["create", "-4", "10.0.0.3", "old"]);
    webJail("old", "old jail");
    await ok(["start", "old"]);
    assert.match(await ok(["expose", "old", "tcp", "6188:80"]), /loaded and verified/);
    assert.match(await get(6188), /old jail/);
    await ok(["stop", "old"]);
    await ok(["delete", "old"]);
    assert.doesNotMatch(await table(), /dport 6188/, "delete removed the forward in the same operation");
    await ok(["create", "-4", "10.0.0.3", "fresh"]);
    webJail("fresh", "fresh jail");
    await ok(["start", "fresh"]);
    assert.equal(await get(6188), "", "nobody exposed the new jail");
    const doctor = await host.qjail(["doctor"], 60_000);
    assert.doesNotMatch(doctor.stdout + doctor.stderr, /QJ5309|QJ5305/);
  });

  it("a forward planted by hand in table inet qjail: doctor reports it, doctor --repair removes it", async () => {
    const planted = await host.inHost([
      "nft",
      "add",
      "rule",
      "inet",
      "qjail",
      "prerouting",
      "meta",
      "nfproto",
      "ipv4",
      "tcp",
      "dport",
      "6199",
      "dnat",
      "ip",
      "to",
      "10.0.0.3:80",
    ]);
    assert.equal(planted.code, 0, planted.stderr);
    // and the accept that lets it past qjail's forward filter, as a hand-made forward would need
    const accepted = await host.inHost([
      "nft",
      "insert",
      "rule",
      "inet",
      "qjail",
      "forward",
      "ip",
      "daddr",
      "10.0.0.3",
      "tcp",
      "dport",
      "80",
      "accept",
    ]);
    assert.equal(accepted.code, 0, accepted.stderr);
    assert.match(await get(6199), /fresh jail/, "the planted forward is live");
    const found = await host.qjail(["doctor", "--json"], 60_000);
    assert.equal(found.code, 1, found.stdout + found.stderr);
    const findings = (JSON.parse(found.stdout) as { findings: { code: string; message: string }[] }).findings;
    const stray = findings.find((f) => f.code === "QJ5309");
    assert.match(stray?.message ?? "", /tcp 6199 -> 10\.0\.0\.3:80/);
    const status = JSON.parse(await ok(["status", "--json"])) as {
      host: { stray_forwards: { public: string }[] };
    };
    assert.deepEqual(
      status.host.stray_forwards.map((f) => f.public),
      ["6199"],
    );
    const repaired = await host.qjail(["doctor", "--repair"], 60_000, LOAD);
    assert.equal(repaired.code, 0, repaired.stdout + repaired.stderr);
    assert.doesNotMatch(await table(), /dport 6199/);
    assert.equal(await get(6199), "");
  });

  it("rename and an address change keep the jail's MAC; the forward answers right after each start", async () => {
    /** The MAC of the jail's own interface, as its network namespace has it. */
    const liveMac = async (name: string): Promise<string | undefined> => {
      const r = await host.inHost(["ip", "-n", netnsName(host.root, name), "-j", "link", "show"]);
      const links = JSON.parse(r.stdout || "[]") as { ifname: string; address?: string }[];
      return links.find((l) => l.ifname !== "lo")?.address;
    };
    const kept = (name: string): string | undefined => {
      const file = host.path(`/var/db/qjail/mac/${name}`);
      return existsSync(file) ? readFileSync(file, "utf8").trim() : undefined;
    };
    assert.match(await ok(["expose", "fresh", "tcp", "6190:80"]), /loaded and verified/);
    assert.match(await get(6190), /fresh jail/);
    const mac = kept("fresh");
    assert.match(mac ?? "", /^02(:[0-9a-f]{2}){5}$/, "the first start kept the jail's MAC");
    assert.equal(await liveMac("fresh"), mac);
    await ok(["stop", "fresh"]);
    await ok(["config", "-n", "renamed", "fresh"]);
    assert.equal(kept("renamed"), mac, "rename moved the MAC file");
    assert.equal(kept("fresh"), undefined);
    await ok(["start", "renamed"]);
    assert.equal(await liveMac("renamed"), mac);
    // one try, no wait: the host's neighbour entry for 10.0.0.3 is right from the first packet
    assert.match(await get(6190), /fresh jail/);
    assert.match(await table(), /comment "renamed"/, "the rules name the jail by its new name");
    await ok(["stop", "renamed"]);
    await ok(["config", "-4", "10.0.0.4", "renamed"]);
    await ok(["start", "renamed"]);
    assert.equal(await liveMac("renamed"), mac, "an address change keeps the MAC");
    assert.match(await get(6190), /fresh jail/, "the forward follows the new address from the first packet");
    await ok(["stop", "renamed"]);
    await ok(["delete", "renamed"]);
    assert.equal(kept("renamed"), undefined, "delete removed the MAC file");
  });
});
