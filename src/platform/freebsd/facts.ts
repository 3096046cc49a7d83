import { ruleVerdicts, type RuleCounters } from "../rule-counters.js";
import { promises as fsp } from "node:fs";
import { runProgram } from "../run.js";
import { physical } from "../../core/paths.js";
import type { DiagFacts, JailFacts } from "../../core/status.js";
import { jailAddressBook, type GatherOptions, type Runner } from "../linux/facts.js";
import { parseSockstat } from "./parsers/sockstat.js";
import { parseIpfstat } from "./parsers/ipfstat.js";
import { parseIpnatList } from "./parsers/ipnat.js";
import { parsePfInfo, parsePfRules } from "./parsers/pfctl.js";
import { parseNetstatRoutes } from "./parsers/netstat.js";
import { parseIpfwShow, parseIpfwNatConfig } from "./parsers/ipfw.js";

/**
 * Gather what `qjail status` and `qjail doctor` judge, on FreeBSD: the page's
 * own debug commands (`sockstat -46l -j JID`, `ipfstat -hni`, `ipnat -lhd`),
 * plus `ipf -V`/`pfctl -s info` (running), `sysrc -n` (enabled at boot),
 * `netstat -rn` (jail addresses routed) and `sysctl` (forwarding).
 * The runner is injected so tests feed recorded outputs.
 */

const run: Runner = (argv, opts) =>
  runProgram(argv, opts).catch((e: Error) => ({ code: 127, stdout: "", stderr: e.message }));

/** The first IPv4 address `ifconfig IF inet` prints. */
export async function freebsdPublicAddress(
  ifname: string,
  runner: Runner = run,
): Promise<string | undefined> {
  const r = await runner(["ifconfig", ifname, "inet"]);
  if (r.code !== 0) return undefined;
  return /^\s+inet (\d+\.\d+\.\d+\.\d+) /m.exec(r.stdout)?.[1];
}

const ENABLE_KNOBS: Record<string, string[]> = {
  ipf: ["ipfilter_enable", "ipnat_enable"],
  pf: ["pf_enable"],
  ipfw: ["firewall_enable", "firewall_nat_enable"],
  nft: [],
};

export async function gatherFreebsdFacts(o: GatherOptions, runner: Runner = run): Promise<DiagFacts> {
  const cfg = o.config;
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
    };
    const live = o.live.get(spec.name);
    if (live) {
      j.jid = live.jid;
      const s = await runner(["sockstat", "-46l", "-j", String(live.jid)]);
      if (s.code === 0) j.listening = parseSockstat(s.stdout);
    }
    try {
      j.resolvConf = await fsp.readFile(physical(o.root, `${spec.rootPath}/etc/resolv.conf`), "utf8");
    } catch {
      // reported by doctor
    }
    jails.push(j);
  }

  const hostSock = await runner(["sockstat", "-46l"]);
  const hostListening =
    hostSock.code === 0
      ? parseSockstat(hostSock.stdout).filter((r) => !jailAddrSet.has(r.local.address))
      : undefined;

  let enabled: boolean | undefined = true;
  for (const knob of ENABLE_KNOBS[cfg.firewall] ?? []) {
    const r = await runner(["sysrc", "-n", knob]);
    if (r.code !== 0 || !/^(YES|yes|TRUE|true|ON|on|1)$/.test(r.stdout.trim())) enabled = false;
  }

  let available = false;
  let running: boolean | undefined;
  let loaded: boolean | undefined;
  let counters: RuleCounters = {
    kind: "unavailable",
    reason: `no counters read for ${cfg.firewall}`,
  };
  if (cfg.firewall === "ipf") {
    const v = await runner(["ipf", "-V"]);
    available = v.code !== 127;
    running = /Running:\s*yes/i.test(v.stdout);
    const filterIn = await runner(["ipfstat", "-hni"]);
    const nat = await runner(["ipnat", "-lhd"]);
    if (filterIn.code === 0 && nat.code === 0) {
      const listing = parseIpnatList(nat.stdout);
      counters = { kind: "ipf", filterIn: parseIpfstat(filterIn.stdout), nat: listing };
      loaded = listing.rules.some((r) => r.kind === "rdr" || r.kind === "map");
    }
  } else if (cfg.firewall === "pf") {
    const info = await runner(["pfctl", "-s", "info"]);
    available = info.code !== 127;
    running = parsePfInfo(info.stdout)?.enabled ?? false;
    const rules = await runner(["pfctl", "-a", `${cfg.pfAnchor}/expose`, "-vvsr"]);
    if (rules.code === 0) {
      const parsed = parsePfRules(rules.stdout);
      counters = { kind: "pf", rules: parsed };
      loaded = parsed.length > 0;
    }
  } else if (cfg.firewall === "ipfw") {
    const nat = await runner(["ipfw", "nat", String(cfg.ipfwNatInstance), "show", "config"]);
    available = nat.code !== 127;
    running = available;
    loaded = nat.code === 0 && /redirect_port/.test(nat.stdout);
    const block = await runner(["ipfw", "show", `${cfg.ipfwRuleBase}-${cfg.ipfwRuleBase + 99}`]);
    if (nat.code === 0 && block.code === 0) {
      counters = {
        kind: "ipfw",
        rules: parseIpfwShow(block.stdout),
        redirects: parseIpfwNatConfig(nat.stdout).redirects,
      };
    }
  }

  const fwd = await runner(["sysctl", "-n", "net.inet.ip.forwarding"]);
  const routes = await runner(["netstat", "-rn", "-f", "inet"]);
  let jailSubnetRouted: DiagFacts["jailSubnetRouted"];
  if (routes.code === 0) {
    const table = parseNetstatRoutes(routes.stdout);
    const onJailIf = table.filter((r) => r.netif === cfg.jailIf);
    jailSubnetRouted =
      onJailIf.length > 0
        ? { ok: true, detail: `${onJailIf.length} route(s) on ${cfg.jailIf}` }
        : {
            ok: false,
            detail: `no route on ${cfg.jailIf} (does it exist? cloned_interfaces="${cfg.jailIf}" in rc.conf)`,
          };
  }

  const facts: DiagFacts = {
    platform: "freebsd",
    hostConfig: cfg,
    hostConfigExists: o.configExists,
    jails,
    exposures: o.exposures,
    resolved,
    dropped,
    firewall: {
      available,
      enabled,
      ...(running !== undefined ? { running } : {}),
      ...(loaded !== undefined ? { qjailRulesLoaded: loaded } : {}),
    },
    ruleVerdicts: ruleVerdicts(counters, resolved),
  };
  if (jailSubnetRouted) facts.jailSubnetRouted = jailSubnetRouted;
  if (fwd.code === 0) facts.forwarding = fwd.stdout.trim() === "1";
  const ext = await freebsdPublicAddress(cfg.extIf, runner);
  if (ext !== undefined) facts.extAddress = ext;
  if (hostListening !== undefined) facts.hostListening = hostListening;
  if (o.synced) {
    facts.syncedExposures = o.synced.active;
    facts.syncedAddress = o.synced.extAddress;
  }
  return facts;
}
