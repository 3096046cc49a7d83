/**
 * The hosts the kill-point suites start from (kill-create, kill-change):
 * installed under a temporary --root with jails www (10.0.0.3) and ssh
 * (10.0.0.2), and the loop that runs one command's kill points against one.
 */
import { after, before } from "node:test";
import assert from "node:assert/strict";
import { cpSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { hostLayout, physical } from "../../../src/core/paths.js";
import { runCli, tempDir } from "../../helpers/cli.js";
import { createJails, installHost, releaseBase } from "./host.js";
import { killLoop, type KillLoopResult, type KillLoopSpec } from "./killloop.js";

/** The IPFilter rule files qjail keeps a managed section in. */
export const RULE_FILES = /^etc\/ip(f|nat)\.rules$/;
/** Kills at random-ish times for commands whose work is not (all) in plan steps. */
export const TIMED_KILLS = 8;
/**
 * Kills between two visible changes inside a commit unit, at every one of
 * them (`commit-op:0`, `commit-op:1`, … until the command completes): a unit
 * is all or nothing even there.
 */
export const COMMIT_OPS = ["commit-op:*"];
/** Where an admin sees qjail's state: records, jail.conf blocks, fstabs, exposures, host config. */
export const ETC_STATE = ["/usr/local/etc"];
export const ON_FREEBSD_LAYOUT = ["--platform", "freebsd"];

export interface FaultHosts {
  /** The temporary directory everything lives in (removed after the file's tests). */
  dir: string;
  /** An installed host with jails www (10.0.0.3) and ssh (10.0.0.2): the before state of most loops. */
  hostWithJails: string;
  /** The same host with www exposed (tcp 6188 → 80) and ssh's exposure file edited by hand, so fw sync has work to do. */
  hostWithExposure: string;
  /** The host with 2,000 more files in its template, so timed kills land inside create's tree copy (big: true). */
  hostWithBigTemplate: string;
  /** The host after 'archive www' and 'delete www': restore's before state (archived: true). */
  hostWithArchiveOnly: string;
  /** Run one command's kill loop and assert no kill left a mixture or an unrecoverable state. */
  loop(
    spec: Omit<KillLoopSpec, "template" | "visible"> & { visible?: readonly string[]; template?: string },
    named?: string[],
    timedKills?: number,
  ): void;
}

/** Register the before/after hooks that build (and remove) the hosts; call at a test file's top level. */
export function faultHosts(label: string, want: { big?: boolean; archived?: boolean } = {}): FaultHosts {
  const tmp = tempDir(`qjail-${label}-${process.pid}-`);
  const coverage = new Map<string, KillLoopResult>();
  after(() => {
    const total = [...coverage.values()].reduce((n, r) => n + r.killPoints, 0);
    process.stderr.write(
      `fault injection (${label}): ${total} kill points covered (${[...coverage].map(([c, r]) => `${c} ${r.killPoints}`).join(", ")})\n`,
    );
    tmp.cleanup();
    releaseBase();
  });
  const hosts: FaultHosts = {
    dir: tmp.dir,
    hostWithJails: join(tmp.dir, "template-host"),
    hostWithExposure: join(tmp.dir, "template-exposed"),
    hostWithBigTemplate: join(tmp.dir, "template-big"),
    hostWithArchiveOnly: join(tmp.dir, "template-archived"),
    loop(spec, named = [], timedKills = 0) {
      const work = join(tmp.dir, `loop-${spec.label.replace(/[^A-Za-z0-9]/g, "_")}`);
      mkdirSync(work, { recursive: true });
      const result = killLoop(
        { visible: ETC_STATE, template: hosts.hostWithJails, ...spec },
        work,
        named,
        timedKills,
      );
      coverage.set(spec.label, result);
      assert.ok(result.killPoints > 0, `${spec.label}: no kill point was reached`);
      assert.deepEqual(
        { mixtures: result.mixtures, unrecovered: result.unrecovered },
        { mixtures: [], unrecovered: [] },
        `${spec.label}: ${result.killPoints} kill points, ${result.leftBefore} left the before state, ${result.leftAfter} the after state`,
      );
    },
  };
  before(async () => {
    const { hostWithJails, hostWithExposure, hostWithBigTemplate, hostWithArchiveOnly } = hosts;
    mkdirSync(hostWithJails, { recursive: true });
    await installHost(hostWithJails);
    await createJails(hostWithJails, [
      ["www", "10.0.0.3"],
      ["ssh", "10.0.0.2"],
    ]);
    cpSync(hostWithJails, hostWithExposure, { recursive: true, verbatimSymlinks: true });
    const r = await runCli([
      "expose",
      "--root",
      hostWithExposure,
      ...ON_FREEBSD_LAYOUT,
      "www",
      "tcp",
      "6188:80",
      "--no-load",
    ]);
    assert.equal(r.code, 0, r.stderr);
    const www = readFileSync(physical(hostWithExposure, `${hostLayout().exposures}/www`), "utf8");
    writeFileSync(
      physical(hostWithExposure, `${hostLayout().exposures}/ssh`),
      www.replace('public="6188"', 'public="6122"').replace('jail_port="80"', 'jail_port="22"'),
    );

    if (want.big) {
      cpSync(hostWithJails, hostWithBigTemplate, { recursive: true, verbatimSymlinks: true });
      const templateData = physical(hostWithBigTemplate, `${hostLayout().template}/var/db/fixture`);
      mkdirSync(templateData, { recursive: true });
      for (let i = 0; i < 2000; i++)
        writeFileSync(join(templateData, `f${i}`), `template file ${i}\n`.repeat(60));
    }
    if (want.archived) {
      cpSync(hostWithJails, hostWithArchiveOnly, { recursive: true, verbatimSymlinks: true });
      // Enough files in www that unpacking it takes a good part of restore's run time, so timed kills land inside it.
      const data = physical(hostWithArchiveOnly, "/usr/jails/www/usr/local/www/data");
      mkdirSync(data, { recursive: true });
      for (let i = 0; i < 3000; i++)
        writeFileSync(join(data, `page${i}.html`), `<p>page ${i}</p>\n`.repeat(40));
      for (const argv of [
        ["archive", "www"],
        ["delete", "www"],
      ]) {
        const [cmd, ...rest] = argv;
        const d = await runCli([cmd as string, "--root", hostWithArchiveOnly, ...ON_FREEBSD_LAYOUT, ...rest]);
        assert.equal(d.code, 0, d.stderr);
      }
    }
  });
  return hosts;
}
