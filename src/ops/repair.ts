import { UsageError } from "../core/errors.js";
import { hostLayout } from "../core/paths.js";
import type { HostFacts } from "../core/hostconfig.js";
import { readExposures, readHostConfig, refuseDamaged } from "../store/exposures.js";
import { withHostLock } from "../store/lock.js";
import { loadJailAddresses, runSync } from "./sync.js";
import { detectLinuxHostFacts } from "../platform/linux/firewall.js";
import { detectFreebsdHostFacts } from "../platform/freebsd/firewall.js";
import { writeLine as write, type OpsIo } from "./io.js";
import { platformNameFor, type PlatformChoice } from "../platform/index.js";
import type { Finding } from "../core/doctor.js";
import { runProgram } from "../platform/run.js";

/**
 * The fixes `qjail doctor --repair` and `qjail fw watch` run themselves.
 *
 * Re-syncing is exactly `qjail fw sync`: the same state loading and the same
 * safe load (src/ops/sync.ts runSync: validate, load, verify, record,
 * restore on failure; `ipf -y` on IPFilter when the address changed), called
 * in this process under the host lock, never by spawning qjail again. State
 * loading is src/ops/expose-state.ts loadExposeState.
 */
export async function syncFirewall(global: PlatformChoice, ctx: OpsIo): Promise<void> {
  const root = global.root;
  const layout = hostLayout();
  const platformName = platformNameFor(global);
  await withHostLock(root, async () => {
    // Detected defaults describe this machine only when it is the target (as fw sync does).
    const facts: HostFacts =
      root === "/"
        ? platformName === "linux"
          ? await detectLinuxHostFacts()
          : await detectFreebsdHostFacts()
        : {};
    const host = await readHostConfig(root, layout, platformName, facts);
    const bad = host.problems[0];
    if (bad)
      throw new UsageError(
        "QJ5121",
        `${layout.hostConfig} line ${bad.line}: ${bad.message}`,
        "Fix that line, then 'qjail fw sync'.",
      );
    const { exposures, problems } = await readExposures(root, layout);
    refuseDamaged(problems);
    const out = await runSync({
      root,
      layout,
      host: host.config,
      exposures,
      jails: await loadJailAddresses(root, layout),
      statePlan: undefined,
      env: ctx.env,
      noLoad: false,
    });
    for (const w of out.warnings) write(ctx.stderr, `qjail: warning: ${w}`);
  });
}

/** Run each distinct safe fix once; returns what was done, one line each. */
export async function repairFindings(
  findings: readonly Finding[],
  global: PlatformChoice,
  ctx: OpsIo,
): Promise<string[]> {
  const done: string[] = [];
  const kinds = new Set(findings.map((f) => f.repair).filter((r) => r !== undefined));
  if (kinds.has("forwarding")) {
    const argv =
      platformNameFor(global) === "freebsd"
        ? ["sysctl", "net.inet.ip.forwarding=1"]
        : ["sysctl", "-w", "net.ipv4.ip_forward=1"];
    const r = await runProgram(argv);
    write(ctx.stderr, `repair: ${argv.join(" ")}: ${r.code === 0 ? "done" : `failed: ${r.stderr.trim()}`}`);
    if (r.code === 0) done.push(argv.join(" "));
  }
  if (kinds.has("fw-sync")) {
    try {
      await syncFirewall(global, ctx);
      write(ctx.stderr, "repair: qjail fw sync: done");
      done.push("qjail fw sync");
    } catch (e) {
      write(ctx.stderr, `repair: qjail fw sync failed: ${(e as Error).message}`);
    }
  }
  return done;
}
