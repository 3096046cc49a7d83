import { defineCommand, refuseOperands, type Invocation } from "../../command.js";
import { write } from "../../context.js";
import { hostLayout } from "../../../core/paths.js";
import { bootSelection } from "../../../core/boot.js";
import { listZones, readJails } from "../../../store/jails.js";
import { runLifecycle } from "../start.js";
import { fwSyncCommand } from "../fw/sync.js";

/**
 * `boot start` / `boot stop`: what the rc.d script and the systemd unit run.
 * Every zone (the default one first, then the others by name), as qjail
 * 5.x's qjail.bootime walked every zone's records.
 */
export async function eachZone(
  inv: Invocation,
  fn: (zone: string | undefined) => Promise<number>,
): Promise<number> {
  let status = 0;
  for (const zone of [undefined, ...(await listZones(inv.global.root))]) {
    const r = await fn(zone);
    if (r !== 0) status = r;
  }
  return status;
}

export const bootStartCommand = defineCommand({
  path: ["boot", "start"],
  summary: "At boot: load qjail's firewall rules, then start every zone's jails.",
  usage: ["boot start"],
  details: `
What the rc.d script (qjail_enable="YES") and qjail.service run at boot:
first 'qjail fw sync', because the firewall's own start-up loaded only the
admin's rules; if that fails, a warning is printed and the jails are started
anyway (their exposed ports stay unreachable until 'qjail fw sync' succeeds).
Then every jail of every zone is started, the default zone first, except jails
in norun status ("Bypassed norun status NAME") and in manual status
("Bypassed manual status NAME"), as qjail 5.x's qjail.bootime did.

The exit status is 3 when the rules could not be loaded or a jail failed to
start; every other jail is still started.`,
  examples: [{ command: "qjail boot start --dry-run", description: "show what the next boot would do" }],
  options: {},
  json: false,
  mutates: true,
  async run(inv) {
    refuseOperands(inv.positionals, "boot start", "QJ1802", "Run 'qjail boot start'.");
    let status = 0;
    const sync = await fwSyncCommand.run({ ...inv, values: {} }).catch((e: unknown) => {
      write(inv.ctx.stderr, `qjail: warning: boot start: qjail fw sync failed: ${(e as Error).message}`);
      return 3;
    });
    if (sync !== 0) {
      write(
        inv.ctx.stderr,
        "qjail: warning: exposed jail ports are unreachable until 'qjail fw sync' succeeds",
      );
      status = 3;
    }
    const r = await eachZone(inv, async (zone) => {
      const { jails } = await readJails(inv.global.root, hostLayout(zone));
      const { start, bypassed } = bootSelection(jails);
      for (const line of bypassed) write(inv.ctx.stdout, line);
      if (start.length === 0) return 0;
      return runLifecycle("start", {
        ...inv,
        values: zone === undefined ? {} : { zone },
        positionals: start.map((j) => j.name),
      });
    });
    return r !== 0 ? r : status;
  },
});
