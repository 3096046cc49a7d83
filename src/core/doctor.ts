import type { DiagFacts } from "./status.js";
import { verdictFor, listensOn } from "./status.js";
import { describeExposure, formatRange } from "./exposure.js";
import { exposureKey } from "./exposure.js";

/**
 * `qjail doctor`: the host checked end to end, from the same facts as
 * `qjail status`. Each finding names the fault, shows the value, and gives the
 * exact command that fixes it; `repair` marks the fixes `--repair` may run
 * without asking (re-loading qjail's own rules, turning forwarding on), never
 * anything that starts a service or changes the admin's files.
 */

export type Severity = "error" | "warning" | "info";

export interface Finding {
  code: `QJ53${string}`;
  severity: Severity;
  /** What the finding is about: "host", "firewall", a jail name, "www tcp 6188". */
  subject: string;
  message: string;
  /** The command that fixes it, as the admin would type it. */
  fix: string;
  /** A fix --repair runs itself. */
  repair?: "fw-sync" | "forwarding";
}

function forwardingFix(platform: DiagFacts["platform"]): string {
  return platform === "linux"
    ? "sysctl -w net.ipv4.ip_forward=1"
    : "sysrc gateway_enable=YES && sysctl net.inet.ip.forwarding=1";
}

function firewallEnableFix(facts: DiagFacts): string {
  switch (facts.hostConfig.firewall) {
    case "ipf":
      return "sysrc ipfilter_enable=YES ipnat_enable=YES && service ipfilter start && service ipnat start";
    case "pf":
      return "sysrc pf_enable=YES && service pf start";
    case "ipfw":
      // rc.firewall's default firewall_type (UNKNOWN) loads no rules and ipfw
      // denies by default: enabling it over SSH with no allow rule cuts the
      // session. "open" keeps the host as reachable as it was without ipfw;
      // one_pass=0 lets packets go on after qjail's nat rule (QJ5318).
      return 'sysrc firewall_enable=YES firewall_type=open firewall_nat_enable=YES && qjail fw setup --write && service ipfw start   (firewall_type=open keeps the host reachable: with the default type ipfw denies everything and cuts this SSH session; tighten it later, e.g. firewall_type=workstation firewall_myservices="22/tcp")';
    case "nft":
      return facts.firewall.available ? "systemctl enable --now nftables" : "apt-get install nftables";
  }
}

/**
 * How to route the jail subnet: when the jails' records name another
 * interface than jail_if, the host config is what is wrong (restarting the
 * jails would not move them); otherwise create jail_if (FreeBSD) or restart.
 */
function jailIfFix(facts: DiagFacts): string {
  const cfg = facts.hostConfig;
  const elsewhere = [
    ...new Set(facts.jails.map((j) => j.interface ?? "").filter((i) => i !== "" && i !== cfg.jailIf)),
  ];
  if (elsewhere.length > 0)
    return `the jails are on ${elsewhere.join(", ")}: set jail_if="${elsewhere[0]}" in /usr/local/etc/qjail.host, or move them with 'qjail config -c ${cfg.jailIf} NAME'`;
  return facts.platform === "linux"
    ? "qjail restart"
    : `ifconfig ${cfg.jailIf} create && sysrc cloned_interfaces+="${cfg.jailIf}" && qjail restart`;
}

export function diagnose(facts: DiagFacts): Finding[] {
  const out: Finding[] = [];
  const cfg = facts.hostConfig;
  const platform = facts.platform;

  if (facts.installed === false) {
    out.push({
      code: "QJ5300",
      severity: "error",
      subject: "host",
      message: "qjail is not installed here: /usr/jails/sharedfs does not exist",
      fix:
        facts.platform === "linux"
          ? "qjail install"
          : "qjail install   (or qjail install -f DIR, DIR holding base.txz)",
    });
  }
  if (!facts.hostConfigExists) {
    out.push({
      code: "QJ5301",
      severity: "warning",
      subject: "host",
      message: `no host config; qjail assumes firewall ${cfg.firewall} on ${JSON.stringify(cfg.extIf)}`,
      fix: "qjail fw setup",
    });
  }
  if (!facts.firewall.available) {
    out.push({
      code: "QJ5302",
      severity: "error",
      subject: "firewall",
      message: `the ${cfg.firewall} tools are not installed`,
      fix: firewallEnableFix(facts),
    });
  } else if (facts.firewall.running === false || facts.firewall.enabled === false) {
    out.push({
      code: "QJ5303",
      severity: facts.firewall.running === false ? "error" : "warning",
      subject: "firewall",
      message:
        facts.firewall.running === false
          ? `the ${cfg.firewall} firewall is not running`
          : `the ${cfg.firewall} firewall is not enabled at boot`,
      fix: firewallEnableFix(facts),
    });
  }

  if (cfg.firewall === "ipfw" && facts.firewall.onePass !== undefined && facts.firewall.onePass !== 0) {
    out.push({
      code: "QJ5318",
      severity: "error",
      subject: "firewall",
      message: `net.inet.ip.fw.one_pass is ${facts.firewall.onePass}: every inbound packet on ${cfg.extIf} is accepted at qjail's nat rule ${cfg.ipfwRuleBase}, so your own ipfw rules and the --from limits of exposures never apply`,
      fix: "qjail fw setup --write   (sets net.inet.ip.fw.one_pass=0 now and in /etc/sysctl.conf)",
    });
  }
  if (cfg.firewall === "pf" && (facts.firewall.hooksMissingLive ?? []).length > 0) {
    out.push({
      code: "QJ5319",
      severity: "error",
      subject: "firewall",
      message: `the running pf ruleset lacks ${(facts.firewall.hooksMissingLive ?? []).join(", ")}: pf never evaluates qjail's anchor, so no exposure is forwarded`,
      fix: `qjail fw setup --write   (adds the hooks to ${cfg.pfConf}, checks it with pfctl -nf and loads it)`,
    });
  }

  const wanted = facts.resolved.length > 0;
  if (wanted && facts.firewall.qjailRulesLoaded === false) {
    const blocked = facts.loadBlocked;
    out.push({
      code: "QJ5304",
      severity: "error",
      subject: "firewall",
      message: `qjail's rules are not loaded in the ${cfg.firewall} firewall (${facts.resolved.length} exposure${facts.resolved.length === 1 ? "" : "s"} unreachable)${blocked ? `; qjail does not load them here: ${blocked.why}` : ""}`,
      // 'qjail fw sync' alone would not load them here: say what does (C2).
      ...(blocked ? { fix: blocked.how } : { fix: "qjail fw sync", repair: "fw-sync" as const }),
    });
  } else if (wanted) {
    const missing = facts.resolved.filter((e) => verdictFor(facts, e).live === false);
    const pending =
      facts.syncedExposures === undefined
        ? facts.exposures
        : facts.exposures.filter((e) => !facts.syncedExposures!.includes(exposureKey(e)));
    if (missing.length > 0 || pending.length > 0) {
      const names = [...new Set([...missing.map(describeExposure), ...pending.map(describeExposure)])];
      out.push({
        code: "QJ5305",
        severity: "error",
        subject: "firewall",
        message: `qjail's live rules are out of sync with the exposures: ${names.join("; ")}`,
        fix: "qjail fw sync",
        repair: "fw-sync",
      });
    }
  }
  const strays = facts.strayForwards ?? [];
  if (strays.length > 0) {
    out.push({
      code: "QJ5309",
      severity: strays.some((f) => f.qjailOnly) ? "error" : "warning",
      subject: "firewall",
      message: `live forward${strays.length === 1 ? "" : "s"} no exposure asks for: ${strays.map((f) => `${f.proto} ${f.public} -> ${f.target} (${f.by})`).join("; ")}`,
      fix: "qjail doctor --repair (re-loads qjail's rules from the records: qjail fw sync)",
      repair: "fw-sync",
    });
  }
  if (facts.syncedAddress && facts.extAddress && facts.syncedAddress !== facts.extAddress) {
    out.push({
      code: "QJ5306",
      severity: "error",
      subject: "firewall",
      message: `the rules were synced for ${facts.syncedAddress} but ${cfg.extIf} now has ${facts.extAddress}`,
      fix: "qjail fw sync",
      repair: "fw-sync",
    });
  }

  if (platform === "linux" && facts.forwarding === false && facts.jails.length > 0) {
    out.push({
      code: "QJ5307",
      severity: "error",
      subject: "host",
      message: "IPv4 forwarding is off: jails in their own network namespaces cannot be reached",
      fix: forwardingFix(platform),
      repair: "forwarding",
    });
  }
  if (facts.jailSubnetRouted && !facts.jailSubnetRouted.ok && facts.jails.some((j) => j.jid !== undefined)) {
    out.push({
      code: "QJ5308",
      severity: "error",
      subject: "host",
      message: `the jail subnet ${cfg.jailSubnet4 ?? "?"} is not routed: ${facts.jailSubnetRouted.detail}`,
      fix: jailIfFix(facts),
    });
  }

  for (const j of facts.jails) {
    const running = j.jid !== undefined;
    if (!running && j.status === "normal") {
      out.push({
        code: "QJ5310",
        severity: "error",
        subject: j.name,
        message: `jail ${JSON.stringify(j.name)} should be running (no .norun/.man) but is stopped`,
        fix: `qjail start ${j.name}`,
      });
    }
    if (j.resolvConf === undefined || !/^\s*nameserver\s+\S+/m.test(j.resolvConf)) {
      // The fix writes from inside the jail, so any link the jail planted
      // resolves inside the jail; a host-side cp would follow it to a host file.
      const z = j.zone ? ` -z ${j.zone}` : "";
      const write = `qjail console${z} -c 'tee /etc/resolv.conf' ${j.name} < /etc/resolv.conf`;
      out.push({
        code: "QJ5311",
        severity: "warning",
        subject: j.name,
        message: `jail ${JSON.stringify(j.name)} has ${
          j.resolvConfProblem
            ? `no readable /etc/resolv.conf (${j.resolvConfProblem})`
            : j.resolvConf === undefined
              ? "no /etc/resolv.conf"
              : "no nameserver line in /etc/resolv.conf"
        }: names will not resolve`,
        fix: running ? write : `qjail start${z} ${j.name} && ${write}`,
      });
    }
    if (running && j.netnsProblem !== undefined) {
      out.push({
        code: "QJ5316",
        severity: "warning",
        subject: j.name,
        message: `could not look inside jail ${JSON.stringify(j.name)}'s network namespace (${j.netnsProblem}): its listeners and outbound probes were not checked`,
        fix: `qjail restart ${j.name}   (if the jail's init process is gone; 'qjail status ${j.name}' shows it)`,
      });
    }
    for (const probe of j.outbound ?? []) {
      if (probe.ok) continue;
      if (probe.detail === "ECONNREFUSED") {
        // A refusal came back from the target: the path and NAT work, the port is closed.
        out.push({
          code: "QJ5317",
          severity: "info",
          subject: j.name,
          message: `from jail ${JSON.stringify(j.name)}, ${probe.target} answered "connection refused": outbound traffic and NAT work, but nothing listens on that port`,
          fix: `probe a port that has a service, e.g. qjail doctor --probe ${probe.target.replace(/:\d+$/, ":80")}`,
        });
        continue;
      }
      out.push({
        code: "QJ5312",
        severity: "error",
        subject: j.name,
        message: `from jail ${JSON.stringify(j.name)}, ${probe.target} is unreachable (${probe.detail}); outbound NAT for the jail subnet may be missing`,
        fix: "qjail fw sync",
        repair: "fw-sync",
      });
    }
    if (!running || j.listening === undefined) continue;
    for (const e of facts.resolved.filter((x) => x.jail === j.name)) {
      if (listensOn(j.listening, e.proto, e.target, e.jailPort.low, e.jailPort.high)) continue;
      out.push({
        code: "QJ5313",
        severity: "warning",
        subject: `${e.jail} ${e.proto} ${formatRange(e.public)}`,
        message: `exposure ${describeExposure(e)}: nothing in jail ${JSON.stringify(j.name)} listens on ${e.target}:${formatRange(e.jailPort)}/${e.proto}`,
        fix: `qjail console ${j.name}   (start the service that should answer on ${formatRange(e.jailPort)}; or: qjail unexpose ${e.jail} ${e.proto} ${e.public.low})`,
      });
    }
  }

  for (const e of facts.exposures) {
    const collide = (facts.hostListening ?? []).filter(
      (r) =>
        r.proto.startsWith(e.proto) &&
        r.local.port !== null &&
        r.local.port >= e.public.low &&
        r.local.port <= e.public.high &&
        (r.local.address === "*" || r.local.address === facts.extAddress),
    );
    for (const r of collide) {
      out.push({
        code: "QJ5314",
        severity: "error",
        subject: `${e.jail} ${e.proto} ${formatRange(e.public)}`,
        message: `host service ${JSON.stringify(r.command)} listens on ${r.local.address}:${r.local.port}, the public port of exposure ${describeExposure(e)} (qjail-howto rule 5: a service cannot be on the host and in a jail on one port)`,
        fix: `qjail unexpose ${e.jail} ${e.proto} ${e.public.low}   (or move the host's ${r.command} off port ${r.local.port})`,
      });
    }
  }
  const guard = facts.linuxGuard;
  if (guard?.needed && !guard.loaded) {
    out.push({
      code: "QJ5320",
      severity: "error",
      subject: "firewall",
      message:
        "jails are running without qjail's guard tables (bridge qjail_guard, inet qjail_guard): a jail with raw sockets can spoof addresses, and the host's services are open to jails",
      fix: "qjail restart JAIL   (any running jail: every start and stop reloads the guard)",
    });
  }
  if (guard?.needed && guard.jailToJailOpen) {
    out.push({
      code: "QJ5321",
      severity: "error",
      subject: "firewall",
      message:
        "the guard table bridge qjail_guard has no jail-to-jail drop (chain forward): jails reach each other directly over the bridge",
      fix: "qjail restart JAIL   (any running jail: every start and stop reloads the guard)",
    });
  }
  if (guard?.needed) {
    const open = cfg.hostServicesForJails.map((s) => `${s.port}/${s.proto}`);
    out.push({
      code: "QJ5322",
      severity: "info",
      subject: "host",
      message:
        open.length === 0
          ? "the host's own services are closed to jails (host_services_for_jails is empty)"
          : `jails may connect to these host ports: ${open.join(", ")} (host_services_for_jails)`,
      fix: 'to change it, set host_services_for_jails="53/udp,53/tcp" (for example) in /usr/local/etc/qjail.host, then restart a jail',
    });
  }
  for (const d of facts.dropped) {
    out.push({
      code: "QJ5315",
      severity: "warning",
      subject: d.exposure.jail,
      message: `exposure ${describeExposure(d.exposure)} is ignored: ${d.reason}`,
      fix: `qjail unexpose ${d.exposure.jail} ${d.exposure.proto} ${d.exposure.public.low}`,
    });
  }
  return out;
}

export function formatFindings(findings: readonly Finding[]): string {
  if (findings.length === 0) return "doctor: no problems found\n";
  const lines: string[] = [];
  for (const f of findings) {
    lines.push(`${f.severity}: ${f.code}: ${f.subject}: ${f.message}`);
    lines.push(`  fix: ${f.fix}${f.repair ? "   (qjail doctor --repair does this)" : ""}`);
  }
  const errors = findings.filter((f) => f.severity === "error").length;
  lines.push(
    `doctor: ${errors} error${errors === 1 ? "" : "s"}, ${findings.length - errors} other finding${findings.length - errors === 1 ? "" : "s"}`,
  );
  return lines.join("\n") + "\n";
}
