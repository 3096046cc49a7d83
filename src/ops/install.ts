import { existsSync, lstatSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { shareDir } from "../assets.js";
import { physical } from "../core/paths.js";
import type { Plan } from "../core/plan.js";
import {
  NEWSYSLOG_QJAIL,
  planInstall,
  STOCK_FLAVORS,
  type FlavorFile,
  type InstallRequest,
  type InstallState,
} from "../core/plan-install.js";
import { archPath, mirrorBase, releaseFromUname, releaseUrl } from "../core/release.js";
import { runProgram } from "../platform/run.js";
import { listNames, readGlobalJails, readHostFile } from "../store/jails.js";
import type { HostLayout } from "../core/paths.js";
import type { PlatformChoice } from "../platform/index.js";
import type { OpsIo } from "./io.js";
import { openJailRuntime, type JailRuntime } from "./jail-runtime.js";
import type { ReconcileOutcome } from "./reconcile.js";

/** Host files qjail copies into each stock flavor's etc/ (docs/qjail-5.md §4.1 step 9). */
const HOST_ETC_FILES = ["/etc/localtime", "/etc/resolv.conf"];

/**
 * `qjail install`: the release's download URL settled first (a release qjail
 * cannot fetch is refused before the lock is taken, writing nothing), then
 * under the host lock (unless `dryRun`) the plan made from the host as it is
 * and applied with qjail's firewall rules reconciled. Returns the plan (its
 * warnings and messages are the caller's to print) and what the reconciler
 * found.
 */
export async function installZone(
  choice: PlatformChoice,
  io: OpsIo,
  layout: HostLayout,
  req: InstallRequest,
  dryRun: boolean,
): Promise<{ plan: Plan; reconciled?: ReconcileOutcome }> {
  const rt = openJailRuntime(choice, io, layout);
  const downloadUrl = await installDownloadUrl(rt, req, io.env);
  const work = async (): Promise<{ plan: Plan; reconciled?: ReconcileOutcome }> => {
    const plan = await planInstallFor(rt, req, downloadUrl);
    if (dryRun) return { plan };
    return { plan, reconciled: await rt.applyReconciled(plan) };
  };
  return dryRun ? work() : rt.locked(work);
}

/**
 * `qjail install` as one plan for the runtime's backend: the state the
 * planner needs (running jails, what exists, what -f names, the download
 * URL of the host's release from {@link installDownloadUrl}, the stock
 * flavors), then src/core/plan-install.ts. Nothing is written; the caller
 * applies the plan (dry run: prints it).
 */
async function planInstallFor(
  rt: JailRuntime,
  req: InstallRequest,
  downloadUrl: string | undefined,
): Promise<Plan> {
  const { root, layout } = rt;
  const [global, live, flavors, resolvConf, newsyslog] = await Promise.all([
    readGlobalJails(root, layout),
    rt.live(),
    listNames(root, layout.flavors, { dirsOnly: true }),
    readHostFile(root, "/etc/resolv.conf"),
    newsyslogText(root),
  ]);
  const freebsd = rt.platform.name === "freebsd";
  const state: InstallState = {
    platform: rt.platform.name,
    layout,
    exists: (logical) => lstatSync(physical(root, logical), { throwIfNoEntry: false }) !== undefined,
    runningJails: global.filter((g) => live.has(g.name)).map((g) => g.name),
    from: req.from === undefined ? undefined : fromKind(req.from),
    downloadUrl,
    // The chflags steps are part of the plan everywhere: under --root the
    // FreeBSD platform shows run steps without running them, so --dry-run
    // prints what really runs on "/".
    freebsdTools: true,
    flavorFiles: freebsd ? stockFlavorFiles() : {},
    hostEtcFiles: HOST_ETC_FILES,
    newsyslog,
    root,
    resolvConf,
    flavors,
  };
  return planInstall(state, req);
}

/** /etc/newsyslog.conf and qjail's newsyslog.conf.d file, joined (undefined when both are absent). */
async function newsyslogText(root: string): Promise<string | undefined> {
  const texts = await Promise.all([
    readHostFile(root, "/etc/newsyslog.conf"),
    readHostFile(root, NEWSYSLOG_QJAIL),
  ]);
  return texts.filter((t) => t !== undefined).join("") || undefined;
}

/** What -f names on this machine (as typed, not under --root). */
function fromKind(path: string): InstallState["from"] {
  const st = statSync(path, { throwIfNoEntry: false });
  if (st === undefined) return "missing";
  if (st.isFile()) return "file";
  return existsSync(join(path, "base.txz")) ? "directory with base.txz" : "directory";
}

/**
 * FreeBSD without -f: base.txz of the host's release (uname -r, or UNAME_r)
 * and arch on the mirror; refuses a release qjail cannot fetch. Called
 * before the host lock is taken, so such a refusal writes nothing at all.
 */
async function installDownloadUrl(
  rt: JailRuntime,
  req: InstallRequest,
  env: Readonly<Record<string, string | undefined>>,
): Promise<string | undefined> {
  if (rt.platform.name !== "freebsd" || req.from !== undefined) return undefined;
  const mirror = mirrorBase({ host: req.host, env });
  const uname = async (flag: string): Promise<string> =>
    (await runProgram(["/usr/bin/uname", flag])).stdout.trim();
  const release = releaseFromUname(env.UNAME_r ?? (await uname("-r")));
  const arch = archPath(await uname("-p"), await uname("-m"));
  return `${releaseUrl(mirror, arch, release)}base.txz`;
}

/** Every file of the stock flavors shipped in share/flavors, with its mode. */
function stockFlavorFiles(): Record<string, FlavorFile[]> {
  const out: Record<string, FlavorFile[]> = {};
  for (const flavor of STOCK_FLAVORS) {
    const top = join(shareDir(), "flavors", flavor);
    const files: FlavorFile[] = [];
    const walk = (rel: string): void => {
      for (const name of readdirSync(join(top, rel)).sort()) {
        const r = rel === "" ? name : `${rel}/${name}`;
        const st = statSync(join(top, r));
        if (st.isDirectory()) walk(r);
        else files.push({ path: r, content: readFileSync(join(top, r), "utf8"), mode: st.mode & 0o777 });
      }
    };
    walk("");
    out[flavor] = files;
  }
  return out;
}
