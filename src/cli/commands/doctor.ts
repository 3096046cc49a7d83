import { defineCommand, refuseOperands } from "../command.js";
import { write } from "../context.js";
import { UsageError, shown } from "../../core/errors.js";
import { diagnose, formatFindings, type Finding } from "../../core/doctor.js";
import { gatherFacts } from "../../ops/gather-facts.js";
import { repairFindings } from "../../ops/repair.js";

const PROBE_RE = /^(\d{1,3}(?:\.\d{1,3}){3}):(\d{1,5})$/;

export const doctorCommand = defineCommand({
  path: ["doctor"],
  summary: "Check the host end to end and print each problem with the command that fixes it.",
  usage: ["doctor [--json] [--repair] [--probe addr:port ...]"],
  details: `
Checks, in order: the host config exists; the firewall's tools are installed,
enabled at boot and running; qjail's rules are loaded and match the exposures
(and were synced for the interface's current public address); IPv4 forwarding
(Linux); the jail subnet is routed on the jail interface; every jail that should
run (no .norun/.man) runs; each jail has a resolv.conf with a nameserver; every
exposure has something listening on the jail port; no host service listens on an
exposure's public port (qjail-howto rule 5); exposures of jails that are gone.

Each finding prints its code, what it is about, and the exact command that fixes
it. --repair runs the fixes that are safe without a human (re-loading qjail's own
rules with 'qjail fw sync', turning IPv4 forwarding on) and checks again; it never
starts jails or services.

--probe ADDR:PORT tests a TCP connection to ADDR:PORT from inside each running
jail (the page's whois check: a server on port 43). No probe is sent unless asked.

Exit status: 0 when no finding is an error, 1 when one is, 3 on a usage problem.`,
  examples: [
    { command: "qjail doctor", description: "list what is wrong and how to fix it" },
    { command: "qjail doctor --repair", description: "also re-sync qjail's rules if they were flushed" },
    {
      command: "qjail doctor --probe 192.0.2.43:43 --json",
      description: "include an outbound check from every jail, as JSON",
    },
  ],
  options: { repair: { type: "boolean" }, probe: { type: "string", multiple: true } },
  json: true,
  mutates: (v) => v.repair === true,
  async run({ ctx, values, positionals, global }) {
    refuseOperands(positionals, "doctor", "QJ5203", "Run 'qjail doctor' (it checks every jail).");
    const probes = (values.probe as string[] | undefined) ?? [];
    for (const p of probes) {
      const m = PROBE_RE.exec(p);
      if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535 || m[1]!.split(".").some((o) => Number(o) > 255)) {
        throw new UsageError(
          "QJ5204",
          `--probe ${shown(p)} is not an IPv4 ADDRESS:PORT`,
          "Give e.g. --probe 192.0.2.43:43.",
        );
      }
    }
    const human = global.json ? ctx.stderr : ctx.stdout;
    let findings: Finding[] = diagnose(
      await gatherFacts(global, { stderr: ctx.stderr, env: ctx.env }, probes),
    );
    let repaired: string[] = [];
    if (values.repair === true && findings.some((f) => f.repair)) {
      repaired = await repairFindings(findings, global, { stderr: ctx.stderr, env: ctx.env });
      findings = diagnose(await gatherFacts(global, { stderr: ctx.stderr, env: ctx.env }, probes));
    }
    if (global.json) write(ctx.stdout, JSON.stringify({ __version: "1", repaired, findings }));
    write(human, formatFindings(findings));
    return findings.some((f) => f.severity === "error") ? 1 : 0;
  },
});
