import { defineCommand, refuseOperands } from "../command.js";
import { write } from "../context.js";
import { ExitError, UsageError, shown } from "../../core/errors.js";
import { demoPrintDocument, formatDemoPrint } from "../../demo/steps.js";
import { runDemo } from "../../demo/run.js";
import { runProgram } from "../../platform/run.js";
import { qjailCommand } from "../../assets.js";
import { q } from "../../core/plan.js";

export const demoCommand = defineCommand({
  path: ["demo"],
  summary: "Build and test qjail-howto(8)'s whole system in throwaway namespaces (or --print its commands).",
  usage: ["demo [--keep] [--print] [--json]"],
  details: `
On Linux, as root, with nothing set up, builds the page's system in throwaway
network namespaces: a host with a public address (198.51.100.1) and an outside
client (198.51.100.2); then, as the page names them, Step 1 to Step 9 (install;
the ssh jail with create -4 10.0.0.2 -c; the www jail with apache24_enable="YES"
appended to its rc.conf from 'qjail console'; restarts), the exposures 6122 ->
ssh:22 and 6188 -> www:80 with the host's own ssh and http kept on 22 and 80,
and the page's "Testing remote jail traffic" from the client: an HTTP request
to host:6188 that answers "It worked", an ssh login to host:6122 as user ssh
with the forced password change, and the outbound whois check (port 43) that
must arrive from the host's public address. Ends with 'qjail status' and
'qjail doctor'. Each step prints a pass/fail line; a step whose piece is not in
this build says "not available yet". Everything it made is removed unless
--keep (then it prints how to look around and clean up).

--print (any OS) prints the same steps as the commands a FreeBSD admin types,
with the IPFilter rules qjail generates and the reload commands.

Exit status: 0 when every step passed, 1 otherwise, 3 when the demo cannot run here.`,
  examples: [
    { command: "qjail demo", description: "build, test and remove the howto's system" },
    { command: "qjail demo --keep", description: "leave it running to explore with 'ip netns exec'" },
    { command: "qjail demo --print", description: "the same steps as FreeBSD commands and rules" },
  ],
  options: { keep: { type: "boolean" }, print: { type: "boolean" } },
  json: true,
  async run({ ctx, values, positionals, global }) {
    refuseOperands(positionals, "demo", "QJ5401", "Run 'qjail demo' or 'qjail demo --print'.");
    if (values.print === true && values.keep === true)
      throw new UsageError(
        "QJ5406",
        "--keep has nothing to keep with --print (--print only prints the steps)",
        "Run 'qjail demo --print', or 'qjail demo --keep' to build the system and leave it running.",
      );
    if (values.print === true) {
      write(ctx.stdout, global.json ? JSON.stringify(demoPrintDocument()) : formatDemoPrint());
      return 0;
    }
    if (process.platform !== "linux") {
      throw new UsageError(
        "QJ5402",
        `qjail demo builds its system with Linux network namespaces; this is ${process.platform}`,
        "Run 'qjail demo --print' for the steps as FreeBSD commands.",
      );
    }
    if (process.getuid?.() !== 0)
      throw new UsageError(
        "QJ5403",
        "qjail demo must run as root (it creates network namespaces)",
        "Run it with sudo, or 'qjail demo --print' to only see the steps.",
      );
    if (global.root !== "/")
      throw new UsageError(
        "QJ5404",
        `qjail demo makes its own temporary root; --root ${shown(global.root)} is not used`,
        "Run 'qjail demo' without --root.",
      );
    for (const tool of [
      ["ip", "-V"],
      ["nft", "--version"],
      ["ssh", "-V"],
    ]) {
      const r = await runProgram(tool).catch(() => ({ code: 127, stdout: "", stderr: "" }));
      if (r.code !== 0)
        throw new UsageError(
          "QJ5405",
          `the demo needs ${shown(tool[0] as string)}, which is not installed`,
          "Run 'bash scripts/setup.sh' (installs iproute2, nftables, openssh-client and the rest).",
        );
    }
    const human = global.json ? ctx.stderr : ctx.stdout;
    const report = await runDemo({
      keep: values.keep === true,
      print: (line) => write(human, line),
      cleanupOnSignal: true,
    });
    const count = (s: string): number => report.steps.filter((x) => x.status === s).length;
    write(
      human,
      `demo: ${count("pass")} passed, ${count("fail")} failed, ${count("unavailable")} not available yet, ${count("skipped")} skipped`,
    );
    if (report.interrupted) throw new ExitError(130, "interrupted");
    if (report.kept) {
      write(
        human,
        `kept: host namespace ${report.net.hostNs}, client ${report.net.clientNs}, root ${report.root}`,
      );
      // This very qjail, not whatever 'qjail' is on PATH (C1: there may be none, or qjail 5.x).
      const me = qjailCommand().map(q).join(" ");
      write(
        human,
        `  look around: nsenter --net=/run/netns/${report.net.hostNs} ${me} status --root ${report.root}`,
      );
      write(
        human,
        `  clean up:    nsenter --net=/run/netns/${report.net.hostNs} ${me} stop --root ${report.root}; kill ${report.helperPids.join(" ")}; ip netns del ${report.net.hostNs}; ip netns del ${report.net.clientNs}; rm -rf ${report.root} ${report.work}`,
      );
    }
    if (global.json)
      write(ctx.stdout, JSON.stringify({ __version: "1", steps: report.steps, kept: report.kept }));
    return report.steps.every((s) => s.status === "pass") ? 0 : 1;
  },
});
