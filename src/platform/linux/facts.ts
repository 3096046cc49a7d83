import { ruleVerdicts, strayForwards, type RuleCounters } from "../rule-counters.js";
import { promises as fsp } from "node:fs";
import { runProgram, type RunResult } from "../run.js";
import { physical, type HostLayout } from "../../core/paths.js";
import { isAlive, readRunState } from "./state.js";
import type { RunState } from "../../core/linux/lifecycle.js";
import type { DiagFacts, JailFacts } from "../../core/status.js";
import type { HostConfig } from "../../core/hostconfig.js";
import type { JailSpec, LiveJail } from "../../core/jail.js";
import type { Exposure } from "../../core/exposure.js";
import { jailAddressesOf, resolveExposures } from "../../core/exposure.js";
import { parseSs } from "./parsers/ss.js";
import { parseNftJson } from "./parsers/nft.js";
import { JAIL_TO_JAIL } from "../../firewall/nft/guard.js";
import { parseIpAddrJson, publicIPv4 } from "./parsers/ip.js";
import ipaddr from "ipaddr.js";
import { totalmem } from "node:os";
import { effectiveLinuxLimits } from "../../core/limits.js";
import { netnsName } from "../../core/linux/lifecycle.js";
import { cgroupUsage, detectCgroups } from "./cgroups.js";

/**
 * Gather what `qjail status` and `qjail doctor` judge, on Linux, in the
 * network namespace qjail runs in (the host's): `ss` for the host's and each
 * jail's listeners (inside the jail's named netns, from the backend's run state),
 * `nft -j` for qjail's table, sysctl for forwarding, `ip -j addr` for the
 * public and jail interfaces. Nothing here is sent on the network except the
 * outbound probes the caller asks for, from inside a jail.
 */

export type Runner = (argv: readonly string[], opts?: { timeoutMs?: number }) => Promise<RunResult>;

const run: Runner = (argv, opts) =>
  runProgram(argv, opts).catch((e: Error) => ({ code: 127, stdout: "", stderr: e.message }));

/** The first global IPv4 address of `ifname` in this namespace. */
export async function linuxPublicAddress(ifname: string, runner: Runner = run): Promise<string | undefined> {
  const r = await runner(["ip", "-j", "-4", "addr", "show", "dev", ifname]);
  if (r.code !== 0 || r.stdout.trim() === "") return undefined;
  return publicIPv4(parseIpAddrJson(r.stdout), ifname);
}

/**
 * argv prefix that runs a host program in a running jail's network namespace:
 * entered through its init process (/proc/PID/ns/net, from the run state),
 * not through the /run/netns name, which a qjail started under
 * `ip netns exec` bound in that command's private mount namespace (B5).
 * Undefined when the recorded process is no longer the jail's init.
 */
export function jailNetPrefix(state: RunState): string[] | undefined {
  if (!isAlive(state)) return undefined;
  return ["nsenter", `--net=/proc/${state.pid}/ns/net`, "--"];
}

/** TCP connect from inside the jail's network namespace, with the host's node binary. */
async function probeFromJail(
  inNet: readonly string[],
  target: string,
  runner: Runner,
): Promise<{ target: string; ok: boolean; detail: string }> {
  const i = target.lastIndexOf(":");
  const host = target.slice(0, i);
  const port = target.slice(i + 1);
  const script =
    "const s=require('node:net').connect({host:process.argv[1],port:+process.argv[2],timeout:3000});" +
    "s.on('connect',()=>{console.log('ok');s.destroy()});s.on('timeout',()=>{console.log('timed out');s.destroy()});s.on('error',e=>console.log(e.code||e.message))";
  const r = await runner([...inNet, process.execPath, "-e", script, host, port], {
    timeoutMs: 8000,
  });
  const detail = r.stdout.trim() || r.stderr.trim() || `exit ${r.code}`;
  return { target, ok: detail === "ok", detail };
}

export interface GatherOptions {
  root: string;
  layout: HostLayout;
  config: HostConfig;
  configExists: boolean;
  jails: JailSpec[];
  live: Map<string, LiveJail>;
  exposures: Exposure[];
  synced?: { active: string[]; extAddress: string | null };
  /** "ADDR:PORT" targets to test TCP reachability from each running jail. */
  probes?: string[];
}

/**
 * Every jail's addresses, the exposures resolved against them, and the set of
 * all jail addresses: the common start of both platforms' fact gathering.
 */
export function jailAddressBook(o: GatherOptions) {
  const addresses = o.jails.map((j) => jailAddressesOf(j.name, j.record));
  const { resolved, dropped } = resolveExposures(o.exposures, addresses);
  const jailAddrSet = new Set(addresses.flatMap((a) => [...a.ip4, ...a.ip6]));
  return { addresses, resolved, dropped, jailAddrSet };
}

export async function gatherLinuxFacts(o: GatherOptions, runner: Runner = run): Promise<DiagFacts> {
  const { addresses, resolved, dropped, jailAddrSet } = jailAddressBook(o);

  const jails: JailFacts[] = [];
  for (const spec of o.jails) {
    const addr = addresses.find((a) => a.name === spec.name)!;
    const j: JailFacts = {
      name: spec.name,
      status: spec.status,
      ip4: addr.ip4,
      ip6: addr.ip6,
      interface: spec.record.interface,
      limits: effectiveLinuxLimits(spec.record.rctl ?? "", totalmem()),
    };
    const live = o.live.get(spec.name);
    if (live) {
      j.jid = live.jid;
      // the jail's cgroup (what start made for it): memory, tasks, cpu time
      const usage = cgroupUsage(detectCgroups(), netnsName(o.root, spec.name));
      if (usage) j.usage = usage;
      // the backend's run state names the jail's init process, whose network namespace is the jail's
      const state = readRunState(o.root, o.layout, spec.name);
      const inNet = state === undefined ? undefined : jailNetPrefix(state);
      if (inNet === undefined) {
        j.netnsProblem =
          state === undefined ? "no run state recorded" : `its init process ${state.pid} is gone`;
      } else {
        const ss = await runner([...inNet, "ss", "-Htulnp"]);
        if (ss.code === 0) j.listening = parseSs(ss.stdout);
        else j.netnsProblem = `nsenter failed: ${ss.stderr.trim() || `exit ${ss.code}`}`;
        if (ss.code === 0 && o.probes && o.probes.length > 0)
          j.outbound = await Promise.all(o.probes.map((p) => probeFromJail(inNet, p, runner)));
      }
    }
    try {
      j.resolvConf = await fsp.readFile(physical(o.root, `${spec.rootPath}/etc/resolv.conf`), "utf8");
    } catch {
      // missing resolv.conf is a finding, not an error
    }
    jails.push(j);
  }

  const hostSs = await runner(["ss", "-Htulnp"]);
  const hostListening =
    hostSs.code === 0 ? parseSs(hostSs.stdout).filter((r) => !jailAddrSet.has(r.local.address)) : undefined;

  const nftVersion = await runner(["nft", "--version"]);
  const available = nftVersion.code === 0;
  const table = available ? await runner(["nft", "-j", "list", "table", "inet", "qjail"]) : undefined;
  let loaded = false;
  let counters: RuleCounters = {
    kind: "unavailable",
    reason: available ? "table inet qjail is not loaded" : "nft is not installed",
  };
  if (table !== undefined && table.code === 0) {
    try {
      const ruleset = parseNftJson(table.stdout);
      counters = { kind: "nft", ruleset, table: "qjail" };
      // `nft flush table` leaves the table and its chains but no rule: not loaded
      loaded = ruleset.rules.length > 0;
    } catch (e) {
      counters = { kind: "unavailable", reason: `nft -j output unreadable: ${(e as Error).message}` };
    }
  }

  let forwarding: boolean | undefined;
  try {
    forwarding = (await fsp.readFile("/proc/sys/net/ipv4/ip_forward", "utf8")).trim() === "1";
  } catch {
    forwarding = undefined;
  }

  const jailIf = await runner(["ip", "-j", "addr", "show", "dev", o.config.jailIf]);
  let jailSubnetRouted: DiagFacts["jailSubnetRouted"];
  if (jailIf.code !== 0 || jailIf.stdout.trim() === "")
    jailSubnetRouted = { ok: false, detail: `interface ${o.config.jailIf} does not exist` };
  else {
    const link = parseIpAddrJson(jailIf.stdout)[0];
    const subnet = o.config.jailSubnet4 ? ipaddr.parseCIDR(o.config.jailSubnet4) : undefined;
    const inSubnet = link?.addresses.find(
      (a) => a.family === "inet" && subnet !== undefined && ipaddr.parse(a.address).match(subnet),
    );
    if (!link?.up) jailSubnetRouted = { ok: false, detail: `interface ${o.config.jailIf} is down` };
    else if (!inSubnet)
      jailSubnetRouted = {
        ok: false,
        detail: `interface ${o.config.jailIf} has no address in ${o.config.jailSubnet4 ?? "the jail subnet"}`,
      };
    else
      jailSubnetRouted = {
        ok: true,
        detail: `${o.config.jailIf} carries ${inSubnet.address}/${inSubnet.prefixLength}`,
      };
  }

  // the guard: loaded when jails run, with its jail-to-jail drop (the listing shows the rule's comment)
  const guardTable = available ? await runner(["nft", "list", "table", "bridge", "qjail_guard"]) : undefined;
  const jailToJailOpen = guardTable?.code === 0 && !guardTable.stdout.includes(`comment "${JAIL_TO_JAIL}"`);

  const facts: DiagFacts = {
    linuxGuard: {
      needed: o.live.size > 0,
      loaded: guardTable?.code === 0,
      jailToJailOpen,
    },
    platform: "linux",
    hostConfig: o.config,
    hostConfigExists: o.configExists,
    jails,
    exposures: o.exposures,
    resolved,
    dropped,
    firewall: { available, running: available, qjailRulesLoaded: loaded },
    ruleVerdicts: ruleVerdicts(counters, resolved),
    ...strays(counters, resolved, jails),
    jailSubnetRouted,
  };
  const ext = await linuxPublicAddress(o.config.extIf, runner);
  if (ext !== undefined) facts.extAddress = ext;
  if (hostListening !== undefined) facts.hostListening = hostListening;
  if (forwarding !== undefined) facts.forwarding = forwarding;
  if (o.synced) {
    facts.syncedExposures = o.synced.active;
    facts.syncedAddress = o.synced.extAddress;
  }
  return facts;
}

function strays(
  counters: RuleCounters,
  resolved: DiagFacts["resolved"],
  jails: readonly { ip4: string[]; ip6: string[] }[],
): { strayForwards?: NonNullable<DiagFacts["strayForwards"]> } {
  const found = strayForwards(counters, resolved, new Set(jails.flatMap((j) => [...j.ip4, ...j.ip6])));
  return found === undefined ? {} : { strayForwards: found };
}
