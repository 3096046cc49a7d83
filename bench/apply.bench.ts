/**
 * `qjail apply` of a 100-jail spec: the first run (every jail created, with
 * options and an exposure each, the ipf rules written) on a fresh host, and
 * the no-change run on the host it built. Child processes (what an admin or
 * Ansible pays), under --root as a FreeBSD host with IPFilter, so the time is
 * qjail's own work (records, trees, rule files), not jail(8)'s.
 */
import { join } from "node:path";
import { mkdirSync, writeFileSync } from "node:fs";
import { performance } from "node:perf_hooks";
import {
  type BenchContext,
  type Figure,
  buildBaseTxz,
  cliChild,
  cliInProcess,
  expectOk,
  hasCommand,
  makeTempRoot,
  notMeasured,
  summarize,
  timingFigure,
} from "./lib.js";

export function spec100(jails = 100): string {
  const lines = [
    "version: 1",
    "host: {firewall: ipf, ext_if: em0, jail_subnet: 10.0.0.0/16, host_services: [22/tcp]}",
    "jails:",
  ];
  for (let i = 0; i < jails; i++) {
    lines.push(
      `  web${i}:`,
      `    ip4: 10.0.${Math.floor(i / 250)}.${(i % 250) + 2}`,
      "    nic: lo1",
      "    state: stopped",
      `    options: {raw_sockets: ${i % 2 === 0}, securelevel: ${i % 4}}`,
      `    expose: [{proto: tcp, public: ${8000 + i}, port: 80}]`,
    );
  }
  return `${lines.join("\n")}\n`;
}

export async function bench(ctx: BenchContext): Promise<Figure[]> {
  const workload =
    "100 jails (create + 1-2 config changes + 1 exposure each, ipf rules) from one spec, under --root as a FreeBSD host; child process";
  if (!hasCommand("apply"))
    return [notMeasured("apply: 100-jail spec", workload, "no apply command in this build")];
  const tmp = makeTempRoot("apply");
  try {
    const dist = join(tmp.dir, "dist");
    mkdirSync(dist);
    buildBaseTxz(dist);
    const spec = join(tmp.dir, "spec.yml");
    writeFileSync(spec, spec100());
    const firstRuns = ctx.quick ? 1 : 5;
    const noChangeRuns = ctx.quick ? 2 : 10;
    const first: number[] = [];
    const again: number[] = [];
    for (let r = 0; r < firstRuns; r++) {
      const root = join(tmp.dir, `root${r}`);
      mkdirSync(root);
      const install = ["install", "--root", root, "-f", dist, "--platform", "freebsd"];
      expectOk(await cliInProcess(install), install);
      const argv = ["apply", "--root", root, "--platform", "freebsd", "--json", spec];
      let t0 = performance.now();
      const out = expectOk(cliChild(argv, { QJAIL_FW_LOAD: "0" }), argv);
      first.push(performance.now() - t0);
      if (!(JSON.parse(out.stdout) as { changed: boolean }).changed)
        throw new Error("the first apply changed nothing");
      const runs = r === 0 ? noChangeRuns : 1;
      for (let k = 0; k < runs; k++) {
        t0 = performance.now();
        const same = expectOk(cliChild(argv, { QJAIL_FW_LOAD: "0" }), argv);
        again.push(performance.now() - t0);
        if ((JSON.parse(same.stdout) as { changed: boolean }).changed)
          throw new Error("the second apply changed something");
      }
      ctx.log(`apply: run ${r + 1}/${firstRuns}`);
    }
    return [
      timingFigure("apply: 100-jail spec, first run", workload, summarize(first)),
      timingFigure(
        "apply: 100-jail spec, no-change run",
        workload.replace("from one spec", "already applied"),
        summarize(again),
      ),
    ];
  } finally {
    tmp.cleanup();
  }
}
