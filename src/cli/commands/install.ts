import { promises as fsp } from "node:fs";
import { existsSync, lstatSync, readdirSync, readFileSync, statSync } from "node:fs";
import { posix, join, resolve } from "node:path";
import { shareDir } from "../../assets.js";
import { defineCommand, type Invocation } from "../command.js";
import { write } from "../context.js";
import { UsageError, shown } from "../../core/errors.js";
import { physical, type HostLayout } from "../../core/paths.js";
import {
  extractArgv,
  planInstallFinish,
  planInstallPrepare,
  SHARED_DIRS,
  STOCK_FLAVORS,
  type FinishState,
  type FlavorFile,
} from "../../core/plan-install.js";
import { archPath, mirrorBase, releaseFromUname } from "../../core/release.js";
import { NEWSYSLOG_QJAIL } from "../../core/plan-update.js";
import { fetchBaseTxz } from "../../platform/download.js";
import { runChecked, runProgram } from "../../platform/run.js";
import { planLinuxInstall, type LinuxBaseSource } from "../../core/linux/install.js";
import { listNames, readGlobalJails, readHostFile } from "../../store/jails.js";
import { jailRuntime, printPlan, reportReconcile, zoneLayout, type JailRuntime } from "../jail-runtime.js";

/** Host files qjail copies into each stock flavor's etc/ (qjail-5.md §4.1 step 9). */
const HOST_ETC_FILES = ["/etc/localtime", "/etc/resolv.conf"];

export const installCommand = defineCommand({
  path: ["install"],
  summary: "Build the shared base, the template and the stock flavors from base.txz (qjail install).",
  usage: ["install [-z zone] [-h host] [-f dir] [-l]"],
  details: `
Unpacks FreeBSD's base.txz into /usr/jails/template, moves the shared system
directories (bin lib libexec sbin sys usr/bin usr/include usr/lib
[usr/lib32] usr/libdata usr/libexec usr/sbin usr/share, plus empty usr/src
and usr/ports) into /usr/jails/sharedfs and leaves absolute symlinks
(bin -> /sharedfs/bin ...) in the template, drops boot, rescue and
usr/games, and links home -> usr/home. Creates the control directories
(qjail.local, qjail.global, qjail.config, qjail.fstab, qjail.packages,
archive) and the flavors default and ssh-default, with the host's
/etc/localtime and /etc/resolv.conf. An existing install is replaced:
jails, archives and your own flavors are kept; customised stock flavors are
kept as users.saved.default and users.saved.ssh-default.

-f DIR takes base.txz from DIR (a path on this machine, not relocated by
--root). Without -f, base.txz of the host's release (uname -r, or UNAME_r)
is downloaded over HTTPS from download.freebsd.org (-h HOST: that mirror's
/pub/FreeBSD/releases/) and checked against the release's MANIFEST.
-z ZONE builds the zone /usr/jails.ZONE. -l enables the command log
/var/log/qjail.log (and its line in /usr/local/etc/newsyslog.conf.d/qjail.conf).
QJAIL_MIRROR=URL names any other mirror in full (an end-of-life release:
https://ftp-archive.freebsd.org/pub/FreeBSD-Archive/old-releases/). Refused while any qjail
jail is running.

On the linux backend the same layout is built from the host's /usr (shared
read-only, bind-mounted at start), or with -f from a root filesystem
directory or tarball; -h and -l do not apply there.

Difference from qjail 5.x, on purpose: an existing qjail.vnetctl is kept;
qjail reset it to count="0" on every install (its test looked for a
directory), handing out vnet numbers that jails already use.`,
  examples: [
    { command: "qjail install -f /mnt/usr/freebsd-dist", description: "install from the release media" },
    { command: "qjail install", description: "download base.txz of the running release and install" },
    { command: "qjail install -z lab -f /var/tmp/14.1", description: "build the separate zone lab" },
  ],
  options: {
    zone: { type: "string", short: "z" },
    host: { type: "string", short: "h" },
    from: { type: "string", short: "f" },
    log: { type: "boolean", short: "l" },
  },
  json: false,
  mutates: true,
  async run(inv) {
    const { values: v } = inv;
    if (inv.positionals.length > 0) {
      throw new UsageError(
        "QJ1220",
        `install takes no arguments, got ${shown(inv.positionals[0] as string)}`,
        "Syntax: qjail install [-z zone] [-h host] [-f dir] [-l]",
      );
    }
    const layout = zoneLayout(v.zone);
    const fromDir = v.from === undefined ? undefined : resolve(inv.ctx.cwd, String(v.from));
    const rt = jailRuntime(inv, layout);
    if (rt.platform.name === "linux") return installLinux(inv, rt, layout, fromDir);
    if (fromDir !== undefined) {
      if (v.host !== undefined)
        throw new UsageError(
          "QJ1221",
          "-f and -h cannot be used together",
          "-f installs from a local directory; -h picks a download mirror. Give one.",
        );
      if (!existsSync(join(fromDir, "base.txz"))) {
        throw new UsageError(
          "QJ1222",
          `Install file not found ${shown(join(fromDir, "base.txz"))}`,
          "Give the directory that holds base.txz, e.g. -f /mnt/usr/freebsd-dist.",
        );
      }
    }
    const mirror =
      fromDir === undefined
        ? mirrorBase({ host: v.host === undefined ? undefined : String(v.host), env: inv.ctx.env })
        : undefined;
    // The chflags steps are part of the plan everywhere: under --root the
    // FreeBSD platform shows run steps without running them (as on any host
    // that is not the target), so --dry-run prints what really runs on "/".
    const freebsdTools = true;
    const target = fromDir === undefined ? await downloadTarget(inv) : undefined;

    const work = async (): Promise<number> => {
      const [global, live] = await Promise.all([readGlobalJails(rt.root, layout), rt.live()]);
      const running = global.filter((g) => live.has(g.name)).map((g) => g.name);
      if (running.length > 0) {
        throw new UsageError(
          "QJ1224",
          `All jails have to be stopped. This jail is running: ${shown(running[0] as string)}`,
          "Stop them first: qjail stop",
        );
      }
      const exists = (logical: string): boolean =>
        existsSync(physical(rt.root, logical)) || isLink(physical(rt.root, logical));
      const base = { layout, exists, runningJails: running };
      const prepare = planInstallPrepare(base, { freebsdTools });
      const finishState = async (entry: FinishState["templateEntry"]): Promise<FinishState> => ({
        ...base,
        templateEntry: entry,
        flavorFiles: stockFlavorFiles(),
        hostEtcFiles: HOST_ETC_FILES,
        enableLog: v.log === true,
        newsyslog:
          [await readHostFile(rt.root, "/etc/newsyslog.conf"), await readHostFile(rt.root, NEWSYSLOG_QJAIL)]
            .filter((t) => t !== undefined)
            .join("") || undefined,
      });
      const baseTxz =
        fromDir !== undefined ? join(fromDir, "base.txz") : `${physical(rt.root, layout.download)}/base.txz`;
      const extract = extractArgv(baseTxz, physical(rt.root, layout.template));
      // What --dry-run shows: the host's own paths, as every other step (they differ only under --root).
      const shownExtract = extractArgv(
        fromDir !== undefined ? join(fromDir, "base.txz") : `${layout.download}/base.txz`,
        layout.template,
      );

      if (inv.global.dryRun) {
        // The real finish plan depends on what base.txz holds; show it for FreeBSD's usual layout.
        const typical = new Set<string>([
          ...SHARED_DIRS.filter((d) => d !== "usr/lib32"),
          "usr/src",
          "boot",
          "rescue",
          "usr/games",
        ]);
        const finish = planInstallFinish(await finishState((rel) => (typical.has(rel) ? "dir" : undefined)), {
          freebsdTools,
        });
        printPlan(inv, prepare);
        write(
          inv.global.json ? inv.ctx.stderr : inv.ctx.stdout,
          `${fromDir === undefined ? `# download base.txz from ${mirror ?? ""}\n` : ""}${shownExtract.join(" ")}\n`,
        );
        printPlan(inv, { ...finish, title: `${finish.title} (for a typical base.txz)` });
        return 0;
      }
      await rt.apply(prepare);
      if (target !== undefined) await download(inv, rt.root, layout, mirror as string, target);
      write(inv.ctx.stderr, "The RELEASE distribution files are populating template.");
      await fsp.mkdir(physical(rt.root, layout.template), { recursive: true });
      await runChecked(extract).catch((e: Error) => {
        throw new UsageError(
          "QJ1225",
          `RELEASE distribution install failed: ${e.message}`,
          "Check that base.txz is complete (compare with the release's MANIFEST) and that the disk has room.",
        );
      });
      write(inv.ctx.stderr, "sharedfs is being populated.");
      const templateTop = physical(rt.root, layout.template);
      const finish = planInstallFinish(await finishState((rel) => entryKind(posix.join(templateTop, rel))), {
        freebsdTools,
      });
      await rt.apply(finish);
      for (const w of finish.warnings ?? []) write(inv.ctx.stderr, `qjail: warning: ${w}`);
      if (fromDir === undefined)
        await rt.apply({
          title: "remove the download",
          steps: [{ kind: "remove", path: layout.download, recursive: true }],
        });
      reportReconcile(inv, await rt.reconcile());
      for (const m of finish.messages ?? []) write(inv.ctx.stdout, m);
      return 0;
    };
    return inv.global.dryRun ? work() : rt.locked(work);
  },
});

/**
 * install on the Linux backend: its own planner (src/core/linux/install.ts)
 * builds the same qjail layout from the host's /usr (default), a root
 * filesystem directory (-f DIR) or a tarball (-f FILE, or DIR/base.txz).
 */
async function installLinux(
  inv: Invocation,
  rt: JailRuntime,
  layout: HostLayout,
  from: string | undefined,
): Promise<number> {
  if (inv.values.host !== undefined)
    throw new UsageError(
      "QJ1226",
      `-h ${shown(String(inv.values.host))} picks a FreeBSD mirror; the linux backend downloads nothing`,
      "Drop -h; give -f DIR or -f FILE for a base other than the host's /usr.",
    );
  if (inv.values.log === true)
    throw new UsageError("QJ1227", "-l (the command log) is not available on the linux backend", "Drop -l.");
  let base: LinuxBaseSource = { kind: "host" };
  if (from !== undefined) {
    const st = await fsp.stat(from).catch(() => undefined);
    if (st === undefined)
      throw new UsageError(
        "QJ1222",
        `Install file not found ${shown(from)}`,
        "Give a root filesystem directory or tarball with -f.",
      );
    if (st.isFile()) base = { kind: "tarball", path: from };
    else if (existsSync(join(from, "base.txz"))) base = { kind: "tarball", path: join(from, "base.txz") };
    else base = { kind: "directory", path: from };
  }
  const work = async (): Promise<number> => {
    const [global, live, flavors, resolvConf] = await Promise.all([
      readGlobalJails(rt.root, layout),
      rt.live(),
      listNames(rt.root, layout.flavors, { dirsOnly: true }),
      readHostFile(rt.root, "/etc/resolv.conf"),
    ]);
    const running = global.filter((g) => live.has(g.name)).map((g) => g.name);
    if (running.length > 0)
      throw new UsageError(
        "QJ1224",
        `All jails have to be stopped. This jail is running: ${shown(running[0] as string)}`,
        "Stop them first: qjail stop",
      );
    const plan = planLinuxInstall({ layout, root: rt.root, base, resolvConf, existingFlavors: flavors });
    if (inv.global.dryRun) {
      printPlan(inv, plan);
      return 0;
    }
    write(inv.ctx.stderr, "Building sharedfs, the template and the flavors.");
    reportReconcile(inv, await rt.applyReconciled(plan));
    for (const m of plan.messages ?? []) write(inv.ctx.stdout, m);
    return 0;
  };
  return inv.global.dryRun ? work() : rt.locked(work);
}

function isLink(p: string): boolean {
  try {
    return lstatSync(p).isSymbolicLink();
  } catch {
    return false;
  }
}

function entryKind(p: string): "dir" | "link" | "file" | undefined {
  try {
    const st = lstatSync(p);
    return st.isSymbolicLink() ? "link" : st.isDirectory() ? "dir" : "file";
  } catch {
    return undefined;
  }
}

/** The release and arch to download; refuses (before anything is written) a release qjail cannot fetch. */
async function downloadTarget(inv: Invocation): Promise<{ release: string; arch: string }> {
  const uname = async (flag: string): Promise<string> =>
    (await runProgram(["/usr/bin/uname", flag])).stdout.trim();
  const release = releaseFromUname(inv.ctx.env.UNAME_r ?? (await uname("-r")));
  const arch = archPath(await uname("-p"), await uname("-m"));
  return { release, arch };
}

async function download(
  inv: Invocation,
  root: string,
  layout: HostLayout,
  mirror: string,
  { release, arch }: { release: string; arch: string },
): Promise<void> {
  write(inv.ctx.stderr, `Fetching base.txz of ${release} (${arch}) from ${mirror}`);
  await fetchBaseTxz({ mirror, release, arch, dir: physical(root, layout.download), stderr: inv.ctx.stderr });
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
