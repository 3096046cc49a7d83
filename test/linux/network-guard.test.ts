import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { chmodSync, copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runProgram, type RunResult } from "../../src/platform/run.js";
import { netnsName } from "../../src/core/linux/lifecycle.js";
import { REPO_ROOT } from "../helpers/cli.js";
import { makeTestHost, PUBLIC_HOST, type TestHost } from "./helpers/host.js";

/**
 * The network half of ../shared/reviews/isolation-2.md: a jail reaching
 * another jail past the firewall when br_netfilter is off (M2), the host's own
 * services (M3), and, with `config -k`, forged frames on the shared bridge:
 * source spoofing, ARP poisoning and a rogue router advertisement (H4). The
 * host namespace runs with bridge-nf-call-iptables=0 (a host without
 * br_netfilter, Debian's default), the hard case; no `fw sync` is needed for
 * any of it. Only the test's own namespaces carry traffic.
 */
const canRun = process.platform === "linux" && process.getuid?.() === 0;
const HOST_TCP = 8123;
const HOST_UDP = 8125;

/** A host service on every address (TCP: answers; UDP: logs each datagram's source). */
const SERVER = `
const net = require("node:net"), dgram = require("node:dgram"), fs = require("node:fs");
const log = process.argv[1];
net.createServer((s) => s.end("HOST-SERVICE\\n")).listen(${HOST_TCP}, "0.0.0.0");
const u = dgram.createSocket("udp4");
u.on("message", (m, r) => fs.appendFileSync(log, "FROM " + r.address + " " + m.toString() + "\\n"));
u.bind(${HOST_UDP}, "0.0.0.0", () => console.log("ready"));
`;

function results(out: string): Map<string, { allowed: boolean; detail: string }> {
  const m = new Map<string, { allowed: boolean; detail: string }>();
  for (const [, probe, verdict, detail] of out.matchAll(/RESULT (\S+) (ALLOWED|DENIED) ?(.*)$/gm))
    m.set(probe as string, { allowed: verdict === "ALLOWED", detail: detail ?? "" });
  return m;
}

describe(
  "network isolation of Linux jails (isolation-2.md M2, M3, H4)",
  { skip: !canRun && "needs root on Linux" },
  () => {
    let host: TestHost;
    let work: string;
    let server: ChildProcess | undefined;
    const udpLog = (): string => {
      try {
        return readFileSync(join(work, "udp.log"), "utf8");
      } catch {
        return "";
      }
    };
    const ok = async (args: string[]): Promise<string> => {
      const r = await host.qjail(args);
      assert.equal(r.code, 0, `qjail ${args.join(" ")} exited ${r.code}\n${r.stdout}\n${r.stderr}`);
      return r.stdout;
    };
    const probe = async (jail: string, args: string): Promise<{ allowed: boolean; detail: string }> => {
      const r: RunResult = await host.qjail(["console", "-c", `/root/probe ${args}`, jail]);
      const m = results(r.stdout);
      const name = args.split(" ")[0] as string;
      assert.ok(m.has(name), `probe ${args} in ${jail}: ${r.stdout}\n${r.stderr}`);
      return m.get(name) as { allowed: boolean; detail: string };
    };
    /** An HTTP GET from the host namespace, with the host's node. */
    const httpFromHost = (addr: string): Promise<RunResult> =>
      host.inHost([
        process.execPath,
        "-e",
        "require('node:http').get({host:process.argv[1],port:80,timeout:3000},(r)=>r.pipe(process.stdout)).on('error',(e)=>console.error(e.message))",
        addr,
      ]);
    const writeHostConfig = (extra: string): void =>
      writeFileSync(
        host.path("/usr/local/etc/qjail.host"),
        `ext_if="pub0"\njail_if="qjail0"\njail_subnet="10.0.0.0/24"\n${extra}`,
      );

    before(async () => {
      work = mkdtempSync(join(tmpdir(), "qjail-netguard-"));
      const cc = await runProgram([
        "cc",
        "-O1",
        "-o",
        join(work, "probe"),
        join(REPO_ROOT, "test/linux/attacks/probe.c"),
      ]);
      assert.equal(cc.code, 0, cc.stderr);
      host = await makeTestHost("ngd");
      // a host without br_netfilter: bridged frames never meet the inet forward chain
      for (const k of ["bridge-nf-call-iptables", "bridge-nf-call-ip6tables"])
        await host.inHost([
          "sh",
          "-c",
          `[ ! -e /proc/sys/net/bridge/${k} ] || echo 0 >/proc/sys/net/bridge/${k}`,
        ]);
      await ok(["install"]);
      await ok(["create", "-4", "10.0.0.41", "victim"]);
      await ok(["create", "-4", "10.0.0.42", "attacker"]);
      writeFileSync(host.path("/usr/jails/victim/etc/rc.conf"), 'httpd_enable="YES"\n');
      writeFileSync(host.path("/usr/jails/victim/usr/local/www/index.html"), "VICTIM-PAGE\n");
      await ok(["config", "-k", "attacker"]);
      for (const j of ["victim", "attacker"]) {
        copyFileSync(join(work, "probe"), host.path(`/usr/jails/${j}/root/probe`));
        chmodSync(host.path(`/usr/jails/${j}/root/probe`), 0o755);
      }
      await ok(["start", "victim"]);
      await ok(["start", "attacker"]);
      server = spawn(
        "nsenter",
        [`--net=/run/netns/${host.hostNs}`, "--", process.execPath, "-e", SERVER, join(work, "udp.log")],
        { stdio: ["ignore", "pipe", "inherit"] },
      );
      await new Promise<void>((resolve, reject) => {
        server?.stdout?.once("data", () => resolve());
        server?.once("exit", (c) => reject(new Error(`host service exited ${c}`)));
      });
    });
    after(async () => {
      if (server?.pid !== undefined) server.kill("SIGKILL");
      await host?.cleanup();
      if (work) rmSync(work, { recursive: true, force: true });
    });

    it("M2: one jail cannot reach another directly, without br_netfilter and without fw sync", async () => {
      // the host (the way exposures reach a jail) still can
      const fromHost = await httpFromHost("10.0.0.41");
      assert.match(
        fromHost.stdout,
        /VICTIM-PAGE/,
        `host -> victim: exit ${fromHost.code} ${fromHost.stderr}`,
      );
      const r = await probe("attacker", "connect 10.0.0.41 80");
      assert.equal(r.allowed, false, "the attacker jail connected to the victim's port 80 over the bridge");
    });

    it("M2 + hairpin: with br_netfilter off or on, a jail reaches another only through an exposure on the host's public port", async () => {
      const r = await host.qjail(["expose", "victim", "tcp", "8088:80"], 120_000, { QJAIL_FW_LOAD: "1" });
      assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
      try {
        for (const brnf of ["0", "1"]) {
          await host.inHost([
            "sh",
            "-c",
            `[ ! -e /proc/sys/net/bridge/bridge-nf-call-iptables ] || echo ${brnf} >/proc/sys/net/bridge/bridge-nf-call-iptables`,
          ]);
          // hairpin: the host DNATs the public port to the victim (bridged by br_netfilter when it is on)
          const hairpin = await probe("attacker", `connect ${PUBLIC_HOST} 8088`);
          assert.equal(
            hairpin.allowed,
            true,
            `bridge-nf-call-iptables=${brnf}: hairpin refused: ${hairpin.detail}`,
          );
          const direct = await probe("attacker", "connect 10.0.0.41 80");
          assert.equal(
            direct.allowed,
            false,
            `bridge-nf-call-iptables=${brnf}: direct jail-to-jail connected`,
          );
        }
      } finally {
        await host.inHost([
          "sh",
          "-c",
          "[ ! -e /proc/sys/net/bridge/bridge-nf-call-iptables ] || echo 0 >/proc/sys/net/bridge/bridge-nf-call-iptables",
        ]);
        await host.qjail(["unexpose", "victim", "tcp", "8088"], 120_000, { QJAIL_FW_LOAD: "1" });
      }
    });

    it("M3: the host's services on every address are closed to jails by default", async () => {
      for (const addr of ["10.0.0.1", PUBLIC_HOST]) {
        const r = await probe("attacker", `connect ${addr} ${HOST_TCP}`);
        assert.equal(r.allowed, false, `a jail reached the host's service on ${addr}:${HOST_TCP}`);
      }
    });

    it("H4: with raw sockets (config -k) a jail cannot forge another jail's source address", async () => {
      writeHostConfig(`host_services_for_jails="${HOST_TCP}/tcp,${HOST_UDP}/udp"\n`);
      await ok(["restart", "attacker"]);
      const open = await probe("attacker", `connect 10.0.0.1 ${HOST_TCP}`);
      assert.equal(open.allowed, true, "host_services_for_jails opens the listed host service");
      await probe("attacker", `udp 10.0.0.1 ${HOST_UDP} GENUINE`);
      await probe("attacker", `spoof4 10.0.0.41 10.0.0.1 ${HOST_UDP} FORGED`);
      // the host service appends what it receives; give it time on a loaded machine
      for (let i = 0; i < 30 && !/GENUINE/.test(udpLog()); i++) await new Promise((r) => setTimeout(r, 100));
      await new Promise((r) => setTimeout(r, 300));
      const log = udpLog();
      assert.match(log, /FROM 10\.0\.0\.42 GENUINE/, "the attacker's own datagram arrives (control)");
      assert.doesNotMatch(log, /FORGED/, `a forged datagram reached the host:\n${log}`);
    });

    it("H4: ARP poisoning does not move the victim's address to the attacker's MAC", async () => {
      await httpFromHost("10.0.0.41");
      await probe("attacker", "arpspoof 10.0.0.41");
      await new Promise((r) => setTimeout(r, 300));
      const neigh = await host.inHost(["ip", "-j", "neigh", "show", "10.0.0.41"]);
      const entry = (JSON.parse(neigh.stdout || "[]") as { lladdr?: string }[])[0];
      assert.equal(
        entry?.lladdr,
        readFileSync(join(host.root, "var/db/qjail/mac/victim"), "utf8").trim(),
        `the host sends the victim's traffic to ${entry?.lladdr ?? "nobody"}`,
      );
    });

    it("H4: a router advertisement from a jail gives no other jail a route", async () => {
      await probe("attacker", "ra");
      await new Promise((r) => setTimeout(r, 500));
      const routes = await runProgram([
        "ip",
        "-n",
        netnsName(host.root, "victim"),
        "-6",
        "route",
        "show",
        "default",
      ]);
      assert.equal(
        routes.stdout.trim(),
        "",
        `the victim took a default route from the attacker: ${routes.stdout}`,
      );
    });

    it("doctor shows the guard: loaded, jail-to-jail drop in place, the host services jails may reach", async () => {
      const r = await host.qjail(["doctor"]);
      assert.match(r.stdout, /QJ5322: host: jails may connect to these host ports: 8123\/tcp, 8125\/udp/);
      assert.doesNotMatch(r.stdout, /QJ5320|QJ5321/, r.stdout);
      await host.inHost(["nft", "flush", "chain", "bridge", "qjail_guard", "forward"]);
      const r2 = await host.qjail(["doctor"]);
      assert.match(
        r2.stdout,
        /QJ5321: firewall: the guard table bridge qjail_guard has no jail-to-jail drop/,
        r2.stdout,
      );
    });
  },
);
