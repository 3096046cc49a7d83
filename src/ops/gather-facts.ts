import { existsSync } from "node:fs";
import { writeLine as write, type OpsIo } from "./io.js";
import { UsageError } from "../core/errors.js";
import { hostLayout, physical, type HostLayout } from "../core/paths.js";
import type { DiagFacts } from "../core/status.js";
import { readJails } from "../store/jails.js";
import { readExposures, readFirewallState, readHostConfig } from "../store/exposures.js";
import { platformFor, type PlatformChoice } from "../platform/index.js";
import { hostFacts } from "./host-facts.js";
import { parseRctl } from "../core/limits.js";
import { loadDecision } from "./sync.js";
import type { LiveJail } from "../core/jail.js";
import { gatherLinuxFacts, linuxPublicAddress } from "../platform/linux/facts.js";
import { gatherFreebsdFacts, freebsdPublicAddress } from "../platform/freebsd/facts.js";

/**
 * Load qjail's state (records, exposures, host config, last sync) and gather
 * the live facts for status and doctor, on whichever platform runs. Problems
 * reading state are warnings on stderr: diagnostics must work on a damaged
 * host, that is when they are needed.
 */
export async function gatherFacts(
  global: PlatformChoice,
  io: OpsIo,
  probes: string[] = [],
): Promise<DiagFacts> {
  const layout: HostLayout = hostLayout();
  const platform = platformFor(global, io);
  const { jails, problems } = await readJails(global.root, layout);
  for (const p of problems) write(io.stderr, `qjail: warning: ${p.file}: ${p.message}`);
  const exp = await readExposures(global.root, layout);
  for (const p of exp.problems) write(io.stderr, `qjail: warning: ${p.file} line ${p.line}: ${p.message}`);
  const host = await readHostConfig(global.root, layout, platform.name, await hostFacts(global));
  for (const p of host.problems)
    write(io.stderr, `qjail: warning: ${layout.hostConfig} line ${p.line}: ${p.message}`);
  const state = await readFirewallState(global.root, layout);
  let live = new Map<string, LiveJail>();
  try {
    live = await platform.liveJails();
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    write(io.stderr, `qjail: warning: cannot tell which jails run: ${e.message}`);
  }
  const opts = {
    root: global.root,
    layout,
    config: host.config,
    configExists: host.exists,
    jails,
    live,
    exposures: exp.exposures,
    probes,
    ...(state ? { synced: { active: state.active, extAddress: state.extAddress } } : {}),
  };
  const facts = await (platform.name === "linux" ? gatherLinuxFacts(opts) : gatherFreebsdFacts(opts));
  facts.installed = existsSync(physical(global.root, layout.sharedfs));
  // limits the platform did not fill in (FreeBSD): the rctl rules the record gives the jail
  for (const j of facts.jails) {
    const spec = jails.find((s) => s.name === j.name);
    if (j.limits === undefined && spec) j.limits = parseRctl(spec.record.rctl ?? "");
  }
  const load = loadDecision(host.config.firewall, global.root, io.env ?? {}, false);
  if (!load.run) facts.loadBlocked = { why: load.why, how: load.how };
  return facts;
}

/** The public IPv4 address of `ifname` on this platform, for the watcher. */
export function publicAddress(
  platformName: "freebsd" | "linux",
  ifname: string,
): Promise<string | undefined> {
  return platformName === "linux" ? linuxPublicAddress(ifname) : freebsdPublicAddress(ifname);
}
