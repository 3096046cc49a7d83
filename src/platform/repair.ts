import type { GlobalOptions } from "../cli/command.js";
import type { Ctx } from "../cli/context.js";
import { write } from "../cli/context.js";
import { UsageError } from "../core/errors.js";
import type { Finding } from "../core/doctor.js";
import { runProgram } from "./run.js";

/**
 * The fixes `qjail doctor --repair` and `qjail fw watch` run themselves.
 *
 * Re-syncing the rules is the expose module's `qjail fw sync`, called in this
 * process through its module (never by spawning qjail again). It is looked up
 * at run time so diagnostics keep working in a build without it; then the
 * caller gets a clear "not available" refusal instead of a crash.
 */
export async function syncFirewall(global: GlobalOptions, ctx: Ctx): Promise<void> {
  const specifier = "../cli/commands/fw/sync.js";
  let mod: Record<string, unknown>;
  try {
    mod = (await import(specifier)) as Record<string, unknown>;
  } catch {
    throw new UsageError("QJ5120", "qjail fw sync is not available in this build yet", "Load the rules by hand with your firewall's reload command.");
  }
  const direct = mod.syncFirewall ?? mod.syncRules ?? mod.fwSync;
  if (typeof direct === "function") {
    await (direct as (g: GlobalOptions, c: Ctx) => Promise<unknown>)(global, ctx);
    return;
  }
  const command = Object.values(mod).find((v): v is { path: string[]; run: (inv: unknown) => Promise<number> } => typeof v === "object" && v !== null && "run" in v && "path" in v);
  if (!command) throw new UsageError("QJ5120", "qjail fw sync is not available in this build yet", "Load the rules by hand with your firewall's reload command.");
  const code = await command.run({ ctx, values: {}, positionals: [], global: { ...global, json: false } });
  if (code !== 0) throw new Error(`qjail fw sync exited ${code}`);
}

/** Run each distinct safe fix once; returns what was done, one line each. */
export async function repairFindings(findings: readonly Finding[], global: GlobalOptions, ctx: Ctx): Promise<string[]> {
  const done: string[] = [];
  const kinds = new Set(findings.map((f) => f.repair).filter((r) => r !== undefined));
  if (kinds.has("forwarding")) {
    const argv = global.platform === "freebsd" || (global.platform === undefined && process.platform === "freebsd") ? ["sysctl", "net.inet.ip.forwarding=1"] : ["sysctl", "-w", "net.ipv4.ip_forward=1"];
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
