import { posix } from "node:path";
import type { Plan, Step } from "./plan.js";
import type { HostLayout } from "./paths.js";
import { UsageError, shown } from "./errors.js";
import { planLinuxInstall, type LinuxBaseSource } from "./linux/install.js";

/**
 * `qjail install` (docs/qjail-5.md §1.4, §4.1): state + request → one plan, on
 * either backend ({@link planInstall}). On FreeBSD the plan clears the old
 * template/sharedfs/download and keeps the admin's copies of the stock
 * flavors as users.saved.*, downloads base.txz (without -f), unpacks it into
 * the template, then moves the shared directories into sharedfs leaving
 * absolute symlinks, drops boot/rescue/usr/games, creates the control
 * directories and writes the stock flavors. What base.txz holds is known
 * only once it is unpacked, so the moves are `ifExists` steps. On Linux the
 * plan is src/core/linux/install.ts's.
 */

/** Directories qjail shares read-only from sharedfs, in qjail's order (usr/lib32 only where base has it). */
export const SHARED_DIRS = [
  "bin",
  "lib",
  "libexec",
  "sbin",
  "sys",
  "usr/bin",
  "usr/include",
  "usr/lib",
  "usr/lib32",
  "usr/libdata",
  "usr/libexec",
  "usr/sbin",
  "usr/share",
] as const;

/** Left out of the template: a jail boots nothing and needs no rescue shell or games. */
export const DROPPED_DIRS = ["boot", "rescue", "usr/games"] as const;

/**
 * qjail's own newsyslog(8) file. qjail 5.x appended its line to
 * /etc/newsyslog.conf, a base file etcupdate merges; FreeBSD's
 * newsyslog.conf reads every file in /usr/local/etc/newsyslog.conf.d
 * (`<include>`), which is where a package keeps its own.
 */
export const NEWSYSLOG_QJAIL = "/usr/local/etc/newsyslog.conf.d/qjail.conf";
/** qjail's own newsyslog(8) line for its log. */
export const NEWSYSLOG_LINE = "/var/log/qjail.log                      600  3     100  *     -\n";

/** The steps that give the log its newsyslog line, unless either file has it already (a qjail 5.x host). */
export function newsyslogSteps(hasLine: boolean): Step[] {
  if (hasLine) return [];
  return [
    { kind: "mkdir", path: posix.dirname(NEWSYSLOG_QJAIL), mode: 0o755 },
    { kind: "writeFile", path: NEWSYSLOG_QJAIL, content: NEWSYSLOG_LINE, mode: 0o644 },
  ];
}

export const STOCK_FLAVORS = ["default", "ssh-default"] as const;

export interface InstallState {
  /** The backend the layout is built for. */
  platform: "freebsd" | "linux";
  layout: HostLayout;
  /** Which of the host's existing directories/files are there (logical paths). */
  exists: (logical: string) => boolean;
  /** Running jails; install refuses while any runs (it replaces what they mount). */
  runningJails: readonly string[];
  /** What -f names on this machine (a path as typed, never relocated under --root). */
  from?: "directory" | "directory with base.txz" | "file" | "missing";
  /** FreeBSD without -f: the URL of the release's base.txz on the mirror. */
  downloadUrl?: string;
  /** FreeBSD: clear file flags with chflags (shown, not run, under --root). */
  freebsdTools: boolean;
  /** Files of each stock flavor, from the package's share/flavors. */
  flavorFiles: Readonly<Record<string, readonly FlavorFile[]>>;
  /** Host files copied into each stock flavor's etc/ when present under the root. */
  hostEtcFiles: readonly string[];
  /** /etc/newsyslog.conf and qjail's newsyslog.conf.d file, joined (undefined when both are absent), to add the log line once. */
  newsyslog: string | undefined;
  /** Linux: the physical root (its planner's run steps name physical paths). */
  root: string;
  /** Linux: the host's /etc/resolv.conf text. */
  resolvConf: string | undefined;
  /** Flavor directories there now. */
  flavors: readonly string[];
}

export interface InstallRequest {
  /** -f: a directory holding base.txz (Linux: also a root filesystem directory or tarball). */
  from: string | undefined;
  /** -h: the FreeBSD mirror host (the state's downloadUrl already names it). */
  host: string | undefined;
  /** -l: enable qjail's command log (FreeBSD). */
  log: boolean;
}

/**
 * One plan for `qjail install` on the state's backend, or a refusal: any
 * jail running (QJ1224); on Linux -h and -l (QJ1226, QJ1227); on FreeBSD -f
 * with -h (QJ1221) or a -f directory without base.txz (QJ1222).
 */
export function planInstall(state: InstallState, req: InstallRequest): Plan {
  const running = state.runningJails[0];
  if (running !== undefined)
    throw new UsageError(
      "QJ1224",
      `All jails have to be stopped. This jail is running: ${shown(running)}`,
      "Stop them first: qjail stop",
    );
  if (state.platform === "linux") return linuxInstall(state, req);
  if (req.from !== undefined) {
    if (req.host !== undefined)
      throw new UsageError(
        "QJ1221",
        "-f and -h cannot be used together",
        "-f installs from a local directory; -h picks a download mirror. Give one.",
      );
    if (state.from !== "directory with base.txz")
      throw new UsageError(
        "QJ1222",
        `Install file not found ${shown(posix.join(req.from, "base.txz"))}`,
        "Give the directory that holds base.txz, e.g. -f /mnt/usr/freebsd-dist.",
      );
  } else if (state.downloadUrl === undefined)
    throw new Error("internal: install without -f needs a download URL");
  const { layout } = state;
  const baseTxz = `${layout.download}/base.txz`;
  const steps: Step[] = [...prepareSteps(state)];
  if (req.from === undefined)
    steps.push({
      kind: "download",
      url: state.downloadUrl as string,
      to: baseTxz,
      verify: "manifest",
      why: `Fetching ${state.downloadUrl as string}`,
    });
  steps.push({
    kind: "extract",
    format: "release",
    archive: req.from === undefined ? baseTxz : posix.join(req.from, "base.txz"),
    ...(req.from === undefined ? {} : { local: true }),
    to: layout.template,
    why: "The RELEASE distribution files are populating template.",
  });
  const finish = finishSteps(state, req.log);
  steps.push(...finish.steps);
  if (req.from === undefined) steps.push({ kind: "remove", path: layout.download, recursive: true });
  return {
    title: `install qjail${layout.zone ? ` zone ${layout.zone}` : ""}: shared base, template, flavors`,
    steps,
    messages: ["Successfully installed qjail system."],
    ...(finish.warnings.length > 0 ? { warnings: finish.warnings } : {}),
  };
}

/** Linux: the base is the host's /usr (default), a root filesystem directory or a tarball (-f). */
function linuxInstall(state: InstallState, req: InstallRequest): Plan {
  if (req.host !== undefined)
    throw new UsageError(
      "QJ1226",
      `-h ${shown(req.host)} picks a FreeBSD mirror; the linux backend downloads nothing`,
      "Drop -h; give -f DIR or -f FILE for a base other than the host's /usr.",
    );
  if (req.log)
    throw new UsageError("QJ1227", "-l (the command log) is not available on the linux backend", "Drop -l.");
  let base: LinuxBaseSource = { kind: "host" };
  if (req.from !== undefined) {
    if (state.from === "missing" || state.from === undefined)
      throw new UsageError(
        "QJ1222",
        `Install file not found ${shown(req.from)}`,
        "Give a root filesystem directory or tarball with -f.",
      );
    if (state.from === "file") base = { kind: "tarball", path: req.from };
    else if (state.from === "directory with base.txz")
      base = { kind: "tarball", path: posix.join(req.from, "base.txz") };
    else base = { kind: "directory", path: req.from };
  }
  return planLinuxInstall({
    layout: state.layout,
    root: state.root,
    base,
    resolvConf: state.resolvConf,
    existingFlavors: state.flavors,
  });
}

export interface FlavorFile {
  /** Path inside the flavor, e.g. "etc/rc.conf". */
  path: string;
  content: string;
  mode: number;
}

/** Clear out the previous install; keep existing jails, archives and the admin's other flavors. */
function prepareSteps(state: InstallState): Step[] {
  const { layout } = state;
  const steps: Step[] = [];
  for (const dir of [layout.download, layout.sharedfs, layout.template]) {
    if (!state.exists(dir)) continue;
    // base.txz ships schg files; rm cannot remove them until the flags are cleared.
    if (state.freebsdTools)
      steps.push({ kind: "run", argv: ["/bin/chflags", "-x", "-R", "0", dir], mayFail: true });
    steps.push({ kind: "remove", path: dir, recursive: true });
  }
  for (const flavor of STOCK_FLAVORS) {
    const dir = `${layout.flavors}/${flavor}`;
    if (!state.exists(dir)) continue;
    const saved = `${layout.flavors}/users.saved.${flavor}`;
    if (state.exists(saved)) steps.push({ kind: "remove", path: saved, recursive: true });
    steps.push({ kind: "rename", from: dir, to: saved });
  }
  steps.push(
    { kind: "mkdir", path: layout.template, mode: 0o755 },
    { kind: "mkdir", path: layout.flavors, mode: 0o755 },
  );
  return steps;
}

/**
 * After base.txz is unpacked into the template: shared directories into
 * sharedfs with absolute links left behind (each only where base.txz had
 * it), boot/rescue/usr/games dropped, control directories, stock flavors.
 */
function finishSteps(state: InstallState, enableLog: boolean): { steps: Step[]; warnings: string[] } {
  const { layout } = state;
  const t = (rel: string): string => `${layout.template}/${rel}`;
  const s = (rel: string): string => `${layout.sharedfs}/${rel}`;
  const steps: Step[] = [];
  const tpl = layout.template;
  if (state.freebsdTools)
    steps.push({ kind: "run", argv: ["/bin/chflags", "-R", "noschg,nosunlink", tpl], mayFail: true });
  steps.push(
    { kind: "mkdir", path: layout.sharedfs, mode: 0o755 },
    { kind: "mkdir", path: s("usr"), mode: 0o755 },
  );
  // Sources and ports are shared too, empty until 'qjail update -S/-P'.
  for (const rel of ["usr/src", "usr/ports"]) {
    steps.push(
      { kind: "remove", path: t(rel), recursive: true, inJail: tpl },
      { kind: "mkdir", path: s(rel), mode: 0o755 },
      { kind: "symlink", target: `/sharedfs/${rel}`, path: t(rel), inJail: tpl },
    );
  }
  // Same filesystem, so a rename moves the tree at once instead of copying it like qjail's cpio.
  for (const rel of SHARED_DIRS)
    steps.push({
      kind: "ifExists",
      path: t(rel),
      steps: [
        { kind: "rename", from: t(rel), to: s(rel) },
        { kind: "symlink", target: `/sharedfs/${rel}`, path: t(rel), inJail: tpl },
      ],
    });
  for (const rel of DROPPED_DIRS) steps.push({ kind: "remove", path: t(rel), recursive: true, inJail: tpl });
  steps.push(
    { kind: "mkdir", path: t("sharedfs"), mode: 0o755, inJail: tpl },
    { kind: "mkdir", path: t("usr/home"), mode: 0o755, inJail: tpl },
    { kind: "remove", path: t("home"), recursive: true, inJail: tpl },
    { kind: "symlink", target: "usr/home", path: t("home"), inJail: tpl },
  );

  for (const dir of [
    layout.archive,
    layout.global,
    layout.local,
    layout.config,
    layout.packages,
    layout.fstabDir,
  ]) {
    steps.push({ kind: "mkdir", path: dir, mode: 0o755 });
  }
  // qjail 5.0 resets the counter on every install (its guard tests for a directory); keep it.
  if (!state.exists(layout.vnetctl))
    steps.push({ kind: "writeFile", path: layout.vnetctl, content: 'count="0"\n', mode: 0o644 });

  for (const flavor of STOCK_FLAVORS) {
    const root = `${layout.flavors}/${flavor}`;
    steps.push(
      { kind: "mkdir", path: root, mode: 0o755 },
      { kind: "mkdir", path: `${root}/etc`, mode: 0o755, inJail: root },
    );
    const dirs = new Set<string>();
    for (const f of state.flavorFiles[flavor] ?? []) {
      const parent = f.path.includes("/") ? f.path.slice(0, f.path.lastIndexOf("/")) : "";
      if (parent !== "" && parent !== "etc" && !dirs.has(parent)) {
        dirs.add(parent);
        steps.push({ kind: "mkdir", path: `${root}/${parent}`, mode: 0o755, inJail: root });
      }
    }
    for (const f of state.flavorFiles[flavor] ?? []) {
      steps.push({
        kind: "writeFile",
        path: `${root}/${f.path}`,
        content: f.content,
        mode: f.mode,
        inJail: root,
      });
    }
    for (const host of state.hostEtcFiles) {
      if (state.exists(host))
        steps.push({
          kind: "copyTree",
          from: host,
          to: `${root}/etc/${host.split("/").pop() as string}`,
          overwrite: true,
          inJail: root,
        });
    }
  }
  if (enableLog) {
    if (!state.exists(layout.log))
      steps.push(
        { kind: "mkdir", path: "/var/log" },
        { kind: "writeFile", path: layout.log, content: "", mode: 0o600 },
      );
    steps.push(...newsyslogSteps((state.newsyslog ?? "").includes("/var/log/qjail.log")));
  }
  // A host file that is missing (always so under a fresh --root) is left out: say so (P10).
  const warnings = state.hostEtcFiles
    .filter((host) => !state.exists(host))
    .map(
      (host) =>
        `${host} does not exist here, so the stock flavors have no etc/${host.split("/").pop() as string}: jails made from them ${host.endsWith("resolv.conf") ? "cannot resolve names (doctor: QJ5311)" : "keep UTC"}; put it in place and run install again, or copy it into each jail`,
    );
  return { steps, warnings };
}
