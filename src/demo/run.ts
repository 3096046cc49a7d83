import type { ChildProcess } from "node:child_process";
import { promises as fsp, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { qjailCommand } from "../assets.js";
import { physical, hostLayout } from "../core/paths.js";
import { defaultHostConfig, formatHostConfig } from "../core/hostconfig.js";
import { netnsName } from "../core/linux/lifecycle.js";
import { runProgram, type RunResult } from "../platform/run.js";
import { DEMO_NET, DEMO_STEPS } from "./steps.js";
import {
  BANNER_SCRIPT,
  HOST_SERVICES_SCRIPT,
  HTTP_GET_SCRIPT,
  WHOIS_SERVER_SCRIPT,
  createDemoNet,
  demoNames,
  destroyDemoNet,
  inNs,
  nodeIn,
  startHelper,
  type DemoNet,
} from "./netns.js";
import { sshFirstLogin } from "./ssh-login.js";

/**
 * `qjail demo` on Linux: the page's whole system built in throwaway network
 * namespaces and checked step by step. qjail itself runs inside the "host"
 * namespace (a process cannot change its own namespace, so each step is one
 * qjail process there, with a temporary --root); the checks run from the
 * "client" namespace, the page's "any device ... not associated with the
 * host". A step whose piece is missing from this build says "not available
 * yet" instead of pretending; steps that need it are skipped.
 */

export type StepStatus = "pass" | "fail" | "unavailable" | "skipped";

export interface StepOutcome {
  id: string;
  title: string;
  status: StepStatus;
  detail: string;
}

export interface DemoOptions {
  keep: boolean;
  /** Called with each line to print (the command writes it to ctx.stdout). */
  print: (line: string) => void;
  /**
   * Stop at SIGINT/SIGTERM and tear down (even with keep), so an interrupted
   * demo leaves no namespaces or jails behind; the report says it was interrupted. The command sets it; tests, which own the
   * process, do not.
   */
  cleanupOnSignal?: boolean;
}

export interface DemoReport {
  steps: StepOutcome[];
  root: string;
  net: DemoNet;
  kept: boolean;
  /** Stopped by SIGINT/SIGTERM before the last step (everything was removed). */
  interrupted: boolean;
  /** The demo's own helpers (the host's stand-in services, the client's whois server). */
  helperPids: number[];
  work: string;
}

/** Run this build's qjail inside the demo host's network namespace against the demo root. */
export function demoQjail(
  report: Pick<DemoReport, "net" | "root">,
  args: readonly string[],
  timeoutMs = 120000,
  input?: string,
): Promise<RunResult> {
  // nsenter --net, not `ip netns exec`: the jails' named namespaces that qjail
  // bind-mounts under /run/netns must stay visible to the next qjail process,
  // and `ip netns exec` would give each qjail a private mount namespace.
  return runProgram(
    ["nsenter", `--net=/run/netns/${report.net.hostNs}`, ...qjailEntry(), ...args, "--root", report.root],
    {
      timeoutMs,
      // under --root the firewall loader runs only when told the caller made its own namespaces
      env: { ...process.env, QJAIL_FW_LOAD: "1", QJAIL_PLATFORM: "linux" },
      ...(input !== undefined ? { input } : {}),
    },
  );
}

/** Remove everything a demo made: jails, helpers, namespaces, the temporary root. */
export async function teardownDemo(
  report: Pick<DemoReport, "net" | "root" | "helperPids" | "work">,
): Promise<void> {
  await demoQjail(report, ["stop"], 60000).catch(() => undefined);
  for (const pid of report.helperPids) {
    try {
      process.kill(pid);
    } catch {
      // already gone
    }
  }
  for (const name of ["ssh", "www"]) await runProgram(["ip", "netns", "del", netnsName(report.root, name)]);
  await destroyDemoNet(report.net);
  await fsp.rm(report.root, { recursive: true, force: true });
  await fsp.rm(report.work, { recursive: true, force: true });
}

class Unavailable extends Error {}

const NOT_AVAILABLE = /not available in this build|unknown command|QJ1999|QJ1223|not available yet/;

/** argv that runs this same qjail build: the bundled binary, or the sources under tsx. */
function qjailEntry(): string[] {
  return qjailCommand();
}

/** Which steps each step needs; a failed or unavailable need skips the step. */
const NEEDS: Record<string, string[]> = {
  setup: [],
  step1: ["setup"],
  step2: ["step1"],
  step3: ["step2"],
  step4: ["step2"],
  step5: ["step3"],
  step6: ["step5"],
  step7: ["step4"],
  step8: ["step7"],
  step9: ["step8"],
  expose: ["step3", "step4"],
  sync: ["expose"],
  http: ["sync", "step9"],
  ssh: ["sync", "step6"],
  whois: ["sync", "step6"],
  hostservices: ["sync"],
  debug: ["step6", "step9", "sync"],
};

export async function runDemo(opts: DemoOptions): Promise<DemoReport> {
  const net = demoNames();
  const root = mkdtempSync(join(tmpdir(), "qjail-demo-"));
  const work = mkdtempSync(join(tmpdir(), "qjail-demo-work-"));
  const helpers: ChildProcess[] = [];
  const outcomes = new Map<string, StepOutcome>();
  let whoisLines: string[] = [];

  const qjail = async (args: string[], timeoutMs = 120000, input?: string): Promise<RunResult> => {
    const r = await demoQjail({ net, root }, args, timeoutMs, input);
    if (r.code !== 0 && NOT_AVAILABLE.test(r.stderr))
      throw new Unavailable(`qjail ${args.join(" ")}: ${firstLine(r.stderr)}`);
    return r;
  };
  const qjailOk = async (args: string[]): Promise<string> => {
    const r = await qjail(args);
    if (r.code !== 0)
      throw new Error(`qjail ${args.join(" ")} exited ${r.code}: ${firstLine(r.stderr || r.stdout)}`);
    return lastLine(r.stdout) || lastLine(r.stderr) || `qjail ${args.join(" ")}: ok`;
  };
  const jailListens = async (jail: string, port: number): Promise<boolean> => {
    for (let i = 0; i < 20; i++) {
      const r = await qjail(["status", jail, "--json"]);
      if (r.code === 0) {
        const doc = JSON.parse(r.stdout) as { jails: { listening: { port: number | null }[] }[] };
        if (doc.jails[0]?.listening.some((l) => l.port === port)) return true;
      }
      await new Promise((res) => setTimeout(res, 500));
    }
    return false;
  };

  const bodies: Record<string, () => Promise<string>> = {
    setup: async () => {
      await createDemoNet(net, {
        host: DEMO_NET.hostPublic,
        client: DEMO_NET.client,
        prefix: DEMO_NET.prefix,
      });
      const config = {
        ...defaultHostConfig("linux"),
        extIf: net.extIf,
        firewall: "nft" as const,
        jailSubnet4: DEMO_NET.jailSubnet,
        hostServices: [
          { port: 22, proto: "tcp" as const },
          { port: 80, proto: "tcp" as const },
        ],
      };
      const hostConfigPath = physical(root, hostLayout().hostConfig);
      await fsp.mkdir(dirname(hostConfigPath), { recursive: true });
      await fsp.writeFile(hostConfigPath, formatHostConfig(config));
      const services = await startHelper(net.hostNs, HOST_SERVICES_SCRIPT);
      helpers.push(services.child);
      const whois = await startHelper(net.clientNs, WHOIS_SERVER_SCRIPT, [
        DEMO_NET.client,
        String(DEMO_NET.whoisPort),
      ]);
      helpers.push(whois.child);
      whoisLines = whois.lines;
      return `host ${net.hostNs} (${net.extIf} ${DEMO_NET.hostPublic}/${DEMO_NET.prefix}, its own ssh on 22 and http on 80), client ${net.clientNs} (${DEMO_NET.client}, whois server on ${DEMO_NET.whoisPort}), --root ${root}`;
    },
    step1: async () => `this build: ${await qjailOk(["--version"])}`,
    step2: () => qjailOk(["install"]),
    step3: () => qjailOk(["create", "-4", DEMO_NET.sshJail, "-c", "ssh"]),
    step4: () => qjailOk(["create", "-4", DEMO_NET.wwwJail, "www"]),
    step5: () => qjailOk(["start", "ssh"]),
    step6: async () => {
      const said = await qjailOk(["restart", "ssh"]);
      if (!(await jailListens("ssh", 22)))
        throw new Error(`${said}; but nothing listens on ${DEMO_NET.sshJail}:22 in jail ssh`);
      return `${said}; sshd listens on ${DEMO_NET.sshJail}:22`;
    },
    step7: () => qjailOk(["start", "www"]),
    step8: async () => {
      // as the page does it: log in to the console and type the line, then exit
      const typed = `echo 'apache24_enable="YES"' >> /etc/rc.conf\nexit\n`;
      const r = await qjail(["console", "www"], 60000, typed);
      if (r.code !== 0)
        throw new Error(`qjail console www exited ${r.code}: ${firstLine(r.stderr || r.stdout)}`);
      const rcConf = await fsp.readFile(physical(root, "/usr/jails/www/etc/rc.conf"), "utf8");
      if (!/^apache24_enable="YES"$/m.test(rcConf))
        throw new Error(`/usr/jails/www/etc/rc.conf has no apache24_enable="YES" line`);
      return `typed into the console; /usr/jails/www/etc/rc.conf now ends with: ${lastLine(rcConf)} (the Linux template ships the web server, so no pkg install)`;
    },
    step9: async () => {
      const said = await qjailOk(["restart", "www"]);
      if (!(await jailListens("www", 80)))
        throw new Error(`${said}; but nothing listens on ${DEMO_NET.wwwJail}:80 in jail www`);
      return `${said}; the web server listens on ${DEMO_NET.wwwJail}:80`;
    },
    expose: async () => {
      const a = await qjailOk(["expose", "ssh", "tcp", `${DEMO_NET.sshPublic}:22`]);
      const b = await qjailOk(["expose", "www", "tcp", `${DEMO_NET.wwwPublic}:80`]);
      return `${a} / ${b}`;
    },
    sync: async () => {
      await qjailOk(["fw", "sync"]);
      const table = await runProgram(inNs(net.hostNs, ["nft", "list", "table", "inet", "qjail"]));
      if (table.code !== 0)
        throw new Error(
          `qjail fw sync succeeded but table inet qjail is not loaded: ${firstLine(table.stderr)}`,
        );
      const dnat = table.stdout.split("\n").filter((l) => /dnat/.test(l)).length;
      return `table inet qjail loaded in the host namespace (${dnat} dnat rules)`;
    },
    http: async () => {
      const r = await nodeIn(net.clientNs, HTTP_GET_SCRIPT, [
        `http://${DEMO_NET.hostPublic}:${DEMO_NET.wwwPublic}/`,
      ]);
      const answer = r.stdout.trim();
      if (!/^200 /.test(answer) || !/It worked/i.test(answer))
        throw new Error(`the client got ${JSON.stringify(answer.slice(0, 120))}`);
      return `the client got HTTP ${answer.slice(0, 3)}: ${JSON.stringify(
        answer
          .slice(4)
          .replace(/<[^>]*>/g, " ")
          .replace(/\s+/g, " ")
          .trim()
          .slice(0, 60),
      )}`;
    },
    ssh: async () => {
      const r = await sshFirstLogin(
        net.clientNs,
        { host: DEMO_NET.hostPublic, port: DEMO_NET.sshPublic, user: DEMO_NET.sshUser },
        DEMO_NET.sshFirstPassword,
        work,
      );
      if (!r.ok) throw new Error(`${r.detail}; prompts seen: ${JSON.stringify(r.prompts)}`);
      return `${r.detail} (prompts: ${r.prompts.join(" / ")})`;
    },
    whois: async () => {
      const r = await qjail(["console", "-c", `whois -h ${DEMO_NET.client} qjail-demo.example`, "ssh"]);
      const seen = whoisLines.find((l) => l.startsWith("query "));
      if (r.code !== 0 || !seen)
        throw new Error(`whois from jail ssh failed (exit ${r.code}): ${firstLine(r.stderr || r.stdout)}`);
      if (!seen.endsWith(` from ${DEMO_NET.hostPublic}`))
        throw new Error(
          `the whois server saw the query ${seen.slice(6)}, not from the host's public address ${DEMO_NET.hostPublic}`,
        );
      return `the client's whois server saw ${seen.slice(6)}`;
    },
    hostservices: async () => {
      const banner = (await nodeIn(net.clientNs, BANNER_SCRIPT, [DEMO_NET.hostPublic, "22"])).stdout.trim();
      const web = (
        await nodeIn(net.clientNs, HTTP_GET_SCRIPT, [`http://${DEMO_NET.hostPublic}/`])
      ).stdout.trim();
      if (banner !== "SSH-2.0-qjail-demo-host-sshd")
        throw new Error(`port 22 answered ${JSON.stringify(banner)}, not the host's sshd`);
      if (web !== "200 the host's own web server")
        throw new Error(`port 80 answered ${JSON.stringify(web)}, not the host's web server`);
      return `22 answers "${banner}", 80 answers "${web.slice(4)}"`;
    },
    debug: async () => {
      const status = await qjail(["status", "--json"]);
      if (status.code !== 0)
        throw new Error(`qjail status exited ${status.code}: ${firstLine(status.stderr)}`);
      const doc = JSON.parse(status.stdout) as {
        jails: { name: string; state: string; exposures: { public: string; hits: number | null }[] }[];
      };
      const running = doc.jails.filter((j) => j.state === "running").map((j) => j.name);
      // the page's outbound check again, now as doctor's probe from every running jail
      const doctor = await qjail(["doctor", "--json", "--probe", `${DEMO_NET.client}:${DEMO_NET.whoisPort}`]);
      const findings = (
        JSON.parse(doctor.stdout) as { findings: { severity: string; code: string; message: string }[] }
      ).findings;
      const errors = findings.filter((f) => f.severity === "error");
      if (errors.length > 0)
        throw new Error(`qjail doctor: ${errors.map((f) => `${f.code} ${f.message}`).join("; ")}`);
      const exposures = doc.jails.flatMap((j) =>
        j.exposures.map(
          (e) =>
            `${j.name}:${e.public} ${e.hits === null ? "no counter" : `${e.hits} hit${e.hits === 1 ? "" : "s"}`}`,
        ),
      );
      return `status: running ${running.join(", ")}; exposures ${exposures.join(", ")}; doctor --probe ${DEMO_NET.client}:${DEMO_NET.whoisPort}: no errors (${findings.length} other findings)`;
    },
  };

  // A signal stops the demo between steps; the running step's qjail is left
  // to finish so nothing writes into the root after the teardown removed it.
  let interrupted = false;
  const onSignal = (): void => {
    if (interrupted) return;
    interrupted = true;
    opts.print("interrupted: removing what the demo made after the running step");
  };
  if (opts.cleanupOnSignal) {
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
  }
  try {
    for (const step of DEMO_STEPS) {
      if (interrupted) break;
      opts.print(step.title);
      const missing = (NEEDS[step.id] ?? []).filter((n) => outcomes.get(n)?.status !== "pass");
      let outcome: StepOutcome;
      if (missing.length > 0) {
        const names = missing.map((n) => DEMO_STEPS.find((s) => s.id === n)?.title.split(":")[0] ?? n);
        outcome = { id: step.id, title: step.title, status: "skipped", detail: `needs ${names.join(", ")}` };
      } else {
        try {
          outcome = { id: step.id, title: step.title, status: "pass", detail: await bodies[step.id]!() };
        } catch (e) {
          outcome = {
            id: step.id,
            title: step.title,
            status: e instanceof Unavailable ? "unavailable" : "fail",
            detail: (e as Error).message,
          };
        }
      }
      outcomes.set(step.id, outcome);
      const label = { pass: "pass", fail: "FAIL", unavailable: "not available yet", skipped: "skipped" }[
        outcome.status
      ];
      opts.print(`  ${label}: ${outcome.detail}`);
    }
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    if (!opts.keep || interrupted)
      await teardownDemo({
        net,
        root,
        work,
        helperPids: helpers.map((h) => h.pid ?? 0).filter((p) => p > 0),
      });
    else {
      // the kept system's helpers outlive this process
      for (const h of helpers) {
        h.stdout?.destroy();
        h.stderr?.destroy();
        h.unref();
      }
    }
  }
  return {
    steps: [...outcomes.values()],
    root,
    net,
    kept: opts.keep && !interrupted,
    interrupted,
    work,
    helperPids: helpers.map((h) => h.pid ?? 0).filter((p) => p > 0),
  };
}

function firstLine(text: string): string {
  return (
    text
      .trim()
      .split("\n")[0]
      ?.replace(/^qjail: /, "") ?? ""
  );
}
function lastLine(text: string): string {
  return text.trim().split("\n").at(-1)?.trim() ?? "";
}
