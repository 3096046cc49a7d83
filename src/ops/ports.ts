import { readFile } from "node:fs/promises";
import { exposureFamilies, exposureKey, sortExposures, type Exposure } from "../core/exposure.js";
import type { FirewallKind } from "../core/hostconfig.js";
import { physical } from "../core/paths.js";
import { readFirewallState } from "../store/exposures.js";
import { pfSkipsLoopback } from "../firewall/pf/setup.js";
import type { PlatformChoice } from "../platform/index.js";
import { hairpinSupport, loaderFor, shouldRunCommands } from "./sync.js";
import { loadExposeState } from "./expose-state.js";
import type { OpsIo } from "./io.js";

/** One forwarded port as `qjail ports` shows it. */
export interface PortRow {
  jail: string;
  proto: Exposure["proto"];
  public: Exposure["public"];
  jailPort: Exposure["jailPort"];
  /** The address or interface the port is bound to, null for every address of ext_if. */
  on: string | null;
  /** The jail addresses it goes to. */
  targets: string[];
  sources: string[];
  comment: Exposure["comment"];
  /** "active" when the last verified load held it (and the rules are still live), else "pending". */
  state: "active" | "pending";
  /** Why it is not (fully) forwarded, or null. */
  problem: string | null;
}

export interface PortsReport {
  firewall: FirewallKind;
  extIf: string;
  exposures: PortRow[];
  /** Per firewall: whether a forwarded port works from the host and other jails, and why not. */
  hairpin: Record<FirewallKind, { works: boolean; why: string }>;
  problems: string[];
}

/**
 * `qjail ports`: every exposure with its targets, sources and state. An
 * exposure counts as active only when firewall.state records a verified load
 * holding it and, where qjail may run the firewall's programs, qjail's rules
 * are still in the running firewall. Reads only; changes nothing.
 */
export async function portsReport(choice: PlatformChoice, io: OpsIo): Promise<PortsReport> {
  const state = await loadExposeState(choice);
  const fw = await readFirewallState(state.root, state.layout);
  const problems: string[] = [];
  let active = new Set(fw && fw.firewall === state.host.firewall ? fw.active : []);
  if (active.size > 0 && shouldRunCommands(state.host.firewall, state.root, io.env, false)) {
    if (!(await loaderFor(state.host.firewall, io.env).isLive(state.host))) {
      active = new Set();
      problems.push(
        `qjail's ${state.host.firewall} rules are not in the running firewall (restarted or flushed?): run 'qjail fw sync'`,
      );
    }
  }
  const hairpin = hairpinSupport();
  if (state.host.firewall === "pf") {
    const pfConf = await readFile(physical(state.root, state.host.pfConf), "utf8").catch(() => "");
    if (pfSkipsLoopback(pfConf)) {
      hairpin.pf = {
        works: false,
        why: `${state.host.pfConf} has 'set skip on lo0', so pf never sees local connections and qjail's rdr on lo0 cannot apply; take lo0 out of 'set skip' or connect to the jail's own address`,
      };
    }
  }
  const rows: PortRow[] = sortExposures(state.exposures).map((e) => {
    const jail = state.jails.find((j) => j.name === e.jail);
    const targets = jail
      ? exposureFamilies(e, jail).map((f) => (f === 4 ? jail.ip4[0] : jail.ip6[0]) as string)
      : [];
    return {
      jail: e.jail,
      proto: e.proto,
      public: e.public,
      jailPort: e.jailPort,
      on: e.on === undefined ? null : e.on.kind === "address" ? e.on.address : e.on.name,
      targets,
      sources: e.from,
      comment: e.comment,
      state: active.has(exposureKey(e)) ? "active" : "pending",
      problem:
        jail === undefined
          ? `jail ${e.jail} does not exist`
          : targets.length === 0
            ? "the jail has no address of the needed family"
            : state.host.firewall === "ipfw" && targets.some((t) => t.includes(":"))
              ? "the IPv6 part is not forwarded: ipfw nat translates IPv4 only"
              : state.host.firewall === "ipfw" && e.on?.kind === "interface" && e.on.name !== state.host.extIf
                ? `not forwarded: qjail's ipfw nat instance serves ${state.host.extIf} only`
                : null,
    };
  });
  problems.push(
    ...state.hostProblems,
    ...state.exposureProblems.map((p) => `${p.file} line ${p.line}: ${p.message}`),
  );
  return { firewall: state.host.firewall, extIf: state.host.extIf, exposures: rows, hairpin, problems };
}
