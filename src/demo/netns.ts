import { spawn, type ChildProcess } from "node:child_process";
import { runProgram, type RunResult } from "../platform/run.js";

/**
 * Throwaway network namespaces for `qjail demo` and its tests: a "host" with a
 * public address on a veth, and an outside "client" on the other end. Every
 * packet the demo sends stays inside them (the workplace rule: nothing leaves
 * the root namespace except over loopback). Names carry the PID and a random
 * suffix so parallel runs do not collide; interface names stay within 15.
 */

export interface DemoNet {
  hostNs: string;
  clientNs: string;
  /** The host's public interface (the host config's ext_if). */
  extIf: string;
  clientIf: string;
}

export function demoNames(pid = process.pid, random = Math.floor(Math.random() * 0x10000)): DemoNet {
  const tag = `${(pid % 100000).toString(36)}${random.toString(36)}`.slice(0, 8);
  return {
    hostNs: `qjdemo-${tag}-host`,
    clientNs: `qjdemo-${tag}-client`,
    extIf: `qjx${tag}`.slice(0, 15),
    clientIf: `qjc${tag}`.slice(0, 15),
  };
}

export function inNs(ns: string, argv: readonly string[]): string[] {
  return ["ip", "netns", "exec", ns, ...argv];
}

async function must(argv: readonly string[]): Promise<RunResult> {
  const r = await runProgram(argv);
  if (r.code !== 0) throw new Error(`${argv.join(" ")}: ${r.stderr.trim() || `exit ${r.code}`}`);
  return r;
}

/** Create both namespaces and the veth between them, addresses up. */
export async function createDemoNet(
  net: DemoNet,
  addr: { host: string; client: string; prefix: number },
): Promise<void> {
  await must(["ip", "netns", "add", net.hostNs]);
  await must(["ip", "netns", "add", net.clientNs]);
  for (const ns of [net.hostNs, net.clientNs]) await must(["ip", "-n", ns, "link", "set", "lo", "up"]);
  await must([
    "ip",
    "-n",
    net.hostNs,
    "link",
    "add",
    net.extIf,
    "type",
    "veth",
    "peer",
    "name",
    net.clientIf,
    "netns",
    net.clientNs,
  ]);
  await must(["ip", "-n", net.hostNs, "addr", "add", `${addr.host}/${addr.prefix}`, "dev", net.extIf]);
  await must(["ip", "-n", net.clientNs, "addr", "add", `${addr.client}/${addr.prefix}`, "dev", net.clientIf]);
  await must(["ip", "-n", net.hostNs, "link", "set", net.extIf, "up"]);
  await must(["ip", "-n", net.clientNs, "link", "set", net.clientIf, "up"]);
}

export async function destroyDemoNet(net: DemoNet): Promise<void> {
  for (const ns of [net.clientNs, net.hostNs]) await runProgram(["ip", "netns", "del", ns]);
}

/** A long-running helper (a tiny server) started inside a namespace; resolves once it prints its first line. */
export function startHelper(
  ns: string,
  script: string,
  args: readonly string[] = [],
): Promise<{ child: ChildProcess; firstLine: string; lines: string[] }> {
  return new Promise((resolve, reject) => {
    const child = spawn("ip", ["netns", "exec", ns, process.execPath, "-e", script, ...args], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    const lines: string[] = [];
    let buffer = "";
    let err = "";
    let resolved = false;
    child.stdout!.on("data", (d: Buffer) => {
      buffer += d.toString();
      let i;
      while ((i = buffer.indexOf("\n")) >= 0) {
        lines.push(buffer.slice(0, i));
        buffer = buffer.slice(i + 1);
        if (!resolved) {
          resolved = true;
          resolve({ child, firstLine: lines[0] as string, lines });
        }
      }
    });
    child.stderr!.on("data", (d: Buffer) => (err += d.toString()));
    child.on("exit", (code) => {
      if (!resolved) reject(new Error(`helper in ${ns} exited ${code}: ${err.trim()}`));
    });
    child.on("error", reject);
  });
}

/** Run a short node script inside a namespace and return its output. */
export function nodeIn(
  ns: string,
  script: string,
  args: readonly string[] = [],
  timeoutMs = 15000,
): Promise<RunResult> {
  return runProgram(inNs(ns, [process.execPath, "-e", script, ...args]), { timeoutMs });
}

/** The host's own sshd and web server, stand-ins that answer with a recognisable banner. */
export const HOST_SERVICES_SCRIPT = `
const net = require("node:net"), http = require("node:http");
const ssh = net.createServer((s) => s.end("SSH-2.0-qjail-demo-host-sshd\\r\\n"));
const web = http.createServer((q, r) => r.end("the host's own web server\\n"));
ssh.listen(22, "0.0.0.0", () => web.listen(80, "0.0.0.0", () => console.log("ready")));
`;

/** A whois server (RFC 3912: one query line, an answer, close) that reports who asked. */
export const WHOIS_SERVER_SCRIPT = `
const net = require("node:net");
const s = net.createServer((c) => {
  let q = "";
  c.on("data", (d) => {
    q += d;
    if (!q.includes("\\n")) return;
    const from = c.remoteAddress.replace(/^::ffff:/, "");
    console.log("query " + JSON.stringify(q.trim()) + " from " + from);
    c.end("% qjail demo whois server\\n% query: " + q.trim() + "\\n% you connected from " + from + "\\n");
  });
});
s.listen(+process.argv[2], process.argv[1], () => console.log("ready"));
`;

/** GET a URL; prints the status and body. */
export const HTTP_GET_SCRIPT = `
require("node:http").get(process.argv[1], { timeout: 8000 }, (r) => {
  let b = ""; r.on("data", (d) => (b += d)); r.on("end", () => console.log(r.statusCode + " " + b.trim()));
}).on("error", (e) => { console.log("error " + (e.code || e.message)); process.exitCode = 1; }).on("timeout", function () { this.destroy(new Error("timed out")); });
`;

/** Connect, print the first line the server sends. */
export const BANNER_SCRIPT = `
const s = require("node:net").connect({ host: process.argv[1], port: +process.argv[2], timeout: 8000 });
s.once("data", (d) => { console.log(String(d).split("\\n")[0].trim()); s.destroy(); });
s.on("timeout", () => { console.log("error timed out"); s.destroy(); process.exitCode = 1; });
s.on("error", (e) => { console.log("error " + (e.code || e.message)); process.exitCode = 1; });
`;
