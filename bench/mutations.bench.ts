/**
 * What one mutation costs on a host that already forwards ports: `expose`,
 * `create` and `delete` (of a jail with an exposure), in process, under
 * --root as FreeBSD with IPFilter (every command that changes the records
 * also re-renders qjail's ipf/ipnat sections and writes them). The host is
 * installed once from a synthetic base.txz; 20 jails each forward one port
 * before the timed commands run.
 *
 * Run alone: `npm run build && node dist/bench/run.js --only mutations`.
 */
import { join } from "node:path";
import { mkdirSync, writeFileSync } from "node:fs";
import { performance } from "node:perf_hooks";
import { physical, hostLayout } from "../src/core/paths.js";
import {
  type BenchContext,
  type Figure,
  buildBaseTxz,
  cliInProcess,
  expectOk,
  hasCommand,
  makeTempRoot,
  notMeasured,
  summarize,
  timingFigure,
} from "./lib.js";

const HOST = 'ext_if="em0"\nfirewall="ipf"\njail_subnet="10.78.0.0/16"\nhost_services="22/tcp"\n';

export async function bench(ctx: BenchContext): Promise<Figure[]> {
  const workload =
    "in process, --root as FreeBSD/IPFilter, host with 20 jails each forwarding one port; median of N runs";
  if (!hasCommand("expose") || !hasCommand("create") || !hasCommand("delete"))
    return [notMeasured("mutations", workload, "expose/create/delete not registered in this build")];
  const tmp = makeTempRoot("mutations");
  try {
    const dist = join(tmp.dir, "dist");
    mkdirSync(dist);
    buildBaseTxz(dist);
    const root = join(tmp.dir, "root");
    mkdirSync(root);
    const G = ["--root", root, "--platform", "freebsd"];
    const q = async (...argv: string[]): Promise<void> => {
      expectOk(await cliInProcess([...argv, ...G]), argv);
    };
    await q("install", "-f", dist);
    mkdirSync(physical(root, "/usr/local/etc"), { recursive: true });
    writeFileSync(physical(root, hostLayout().hostConfig), HOST);
    mkdirSync(physical(root, "/etc"), { recursive: true });
    writeFileSync(physical(root, "/etc/ipf.rules"), "block in log on em0 all\n");
    const base = 20;
    for (let i = 0; i < base; i++) {
      await q("create", "-n", "lo1", "-4", `10.78.0.${i + 2}`, `base${i}`);
      await q("expose", `base${i}`, "tcp", `${20000 + i}:80`);
    }
    const n = ctx.quick ? 3 : 15;
    const creates: number[] = [];
    const exposes: number[] = [];
    const deletes: number[] = [];
    for (let i = 0; i < n; i++) {
      const name = `m${i}`;
      let t0 = performance.now();
      await q("create", "-n", "lo1", "-4", `10.78.1.${i + 2}`, name);
      creates.push(performance.now() - t0);
      t0 = performance.now();
      await q("expose", name, "tcp", `${30000 + i}:80`);
      exposes.push(performance.now() - t0);
      t0 = performance.now();
      await q("delete", name);
      deletes.push(performance.now() - t0);
    }
    ctx.log(`mutations: ${n} create/expose/delete rounds`);
    return [
      timingFigure("expose: one more forward", workload, summarize(exposes)),
      timingFigure("create: one more jail", workload, summarize(creates)),
      timingFigure("delete: a jail with one forward", workload, summarize(deletes)),
    ];
  } finally {
    tmp.cleanup();
  }
}
