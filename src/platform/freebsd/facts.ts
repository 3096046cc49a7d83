import { ruleVerdicts, strayForwards, type RuleCounters } from "../rule-counters.js";
import { runProgram } from "../run.js";
import { FREEBSD } from "../../core/freebsd/programs.js";
import { physical } from "../../core/paths.js";
import { readJailResolvConf } from "../safe-fs.js";
import type { DiagFacts, JailFacts } from "../../core/status.js";
import { jailAddressBook, type GatherOptions, type Runner } from "../linux/facts.js";
import { parseSockstat } from "./parsers/sockstat.js";
import { parseIpfstat } from "./parsers/ipfstat.js";
import { parseIpnatList } from "./parsers/ipnat.js";
import { parsePfInfo, parsePfRules } from "./parsers/pfctl.js";
import { parseNetstatRoutes } from "./parsers/netstat.js";
import { parseIpfwShow, parseIpfwNatConfig } from "./parsers/ipfw.js";
import { IPFW_BLOCK_SIZE } from "../../firewall/ipfw/generate.js";
import { missingLiveHooks, ONE_PASS_SYSCTL } from "./firewall.js";

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
  const r = await runner([FREEBSD.ifconfig, ifname, "inet"]);
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
      const s = await runner([FREEBSD.sockstat, "-46l", "-j", String(live.jid)]);
      if (s.code === 0) j.listening = parseSockstat(s.stdout);
    }
    const resolv = await readJailResolvConf(physical(o.root, spec.rootPath));
    if (resolv.text !== undefined) j.resolvConf = resolv.text;
    if (resolv.problem !== undefined) j.resolvConfProblem = resolv.problem;
    if (spec.layout.zone) j.zone = spec.layout.zone;
    jails.push(j);
  }

  const hostSock = await runner([FREEBSD.sockstat, "-46l"]);
  const hostListening =
    hostSock.code === 0
      ? parseSockstat(hostSock.stdout).filter((r) => !jailAddrSet.has(r.local.address))
      : undefined;

  let enabled: boolean | undefined = true;
  for (const knob of ENABLE_KNOBS[cfg.firewall] ?? []) {
    const r = await runner([FREEBSD.sysrc, "-n", knob]);
    if (r.code !== 0 || !/^(YES|yes|TRUE|true|ON|on|1)$/.test(r.stdout.trim())) enabled = false;
  }

  let available = false;
  let running: boolean | undefined;
  let loaded: boolean | undefined;
  let onePass: number | undefined;
  let hooksMissingLive: string[] | undefined;
  let counters: RuleCounters = {
    kind: "unavailable",
    reason: `no counters read for ${cfg.firewall}`,
  };
  if (cfg.firewall === "ipf") {
    const v = await runner([FREEBSD.ipf, "-V"]);
    available = v.code !== 127;
    running = /Running:\s*yes/i.test(v.stdout);
    const filterIn = await runner([FREEBSD.ipfstat, "-R", "-hni"]);
    const nat = await runner([FREEBSD.ipnat, "-lhd"]);
    if (filterIn.code === 0 && nat.code === 0) {
      const listing = parseIpnatList(nat.stdout);
      counters = { kind: "ipf", filterIn: parseIpfstat(filterIn.stdout), nat: listing };
      loaded = listing.rules.some((r) => r.kind === "rdr" || r.kind === "map");
    }
  } else if (cfg.firewall === "pf") {
    const info = await runner([FREEBSD.pfctl, "-s", "info"]);
    available = info.code !== 127;
    running = parsePfInfo(info.stdout)?.enabled ?? false;
    // -P: numeric ports, so the pass rule of an exposure to port 80 reads
    // "port = 80", not "port = http" (pfctl resolves service names otherwise).
    const rules = await runner([FREEBSD.pfctl, "-P", "-a", `${cfg.pfAnchor}/expose`, "-vvsr"]);
    if (rules.code === 0) {
      const parsed = parsePfRules(rules.stdout);
      counters = { kind: "pf", rules: parsed };
      loaded = parsed.length > 0;
    }
    // The anchor is evaluated only if the running main ruleset calls it.
    const sNat = await runner([FREEBSD.pfctl, "-s", "nat"]);
    const sRules = await runner([FREEBSD.pfctl, "-s", "rules"]);
    if (running && sNat.code === 0 && sRules.code === 0)
      hooksMissingLive = missingLiveHooks(sNat.stdout, sRules.stdout, cfg.pfAnchor);
  } else if (cfg.firewall === "ipfw") {
    const nat = await runner([FREEBSD.ipfw, "nat", String(cfg.ipfwNatInstance), "show", "config"]);
    available = nat.code !== 127;
    const onePassRead = await runner([FREEBSD.sysctl, "-n", ONE_PASS_SYSCTL]);
    // The sysctl exists only while ipfw.ko is loaded: that is "running".
    running = onePassRead.code === 0;
    if (running && /^\d+$/.test(onePassRead.stdout.trim())) onePass = Number(onePassRead.stdout.trim());
    const range = `${cfg.ipfwRuleBase}-${cfg.ipfwRuleBase + IPFW_BLOCK_SIZE - 1}`;
    const block = await runner([FREEBSD.ipfw, "show", range]);
    // exit 69 with "no rules in range": the block is empty (a flush removed it).
    const blockRules = block.code === 0 ? parseIpfwShow(block.stdout) : block.code === 69 ? [] : undefined;
    const redirects = nat.code === 0 ? parseIpfwNatConfig(nat.stdout).redirects : [];
    // `ipfw -f flush` (service ipfw restart) removes the rules but not the NAT
    // instance: loaded needs the block's nat rule as well as the redirects.
    loaded = redirects.length > 0 && (blockRules ?? []).some((r) => r.number === cfg.ipfwRuleBase);
    if (blockRules !== undefined) counters = { kind: "ipfw", rules: blockRules, redirects };
  }

  const fwd = await runner([FREEBSD.sysctl, "-n", "net.inet.ip.forwarding"]);
  const routes = await runner([FREEBSD.netstat, "-rn", "-f", "inet"]);
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
      ...(onePass !== undefined ? { onePass } : {}),
      ...(hooksMissingLive !== undefined ? { hooksMissingLive } : {}),
    },
    ruleVerdicts: ruleVerdicts(counters, resolved),
    ...strays(counters, resolved, jails),
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

function strays(
  counters: RuleCounters,
  resolved: DiagFacts["resolved"],
  jails: readonly { ip4: string[]; ip6: string[] }[],
): { strayForwards?: NonNullable<DiagFacts["strayForwards"]> } {
  const found = strayForwards(counters, resolved, new Set(jails.flatMap((j) => [...j.ip4, ...j.ip6])));
  return found === undefined ? {} : { strayForwards: found };
}
