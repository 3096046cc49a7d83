import type { Plan, Step } from "./plan.js";
import type { HostLayout } from "./paths.js";
import { posix } from "node:path";

/**
 * `qjail install` on the FreeBSD layout (qjail-5.md §1.4, §4.1), in three
 * parts because the middle one (unpacking base.txz) must run even under
 * `--root`, where run steps are only shown:
 *
 * 1. {@link planInstallPrepare}: clear the old template/sharedfs/download,
 *    keep the admin's copies of the stock flavors as users.saved.*;
 * 2. the command unpacks base.txz into the template ({@link extractArgv});
 * 3. {@link planInstallFinish}, planned from what the tarball really held:
 *    move the shared directories into sharedfs and leave absolute symlinks,
 *    drop boot/rescue/usr/games, create the control directories, write the
 *    stock flavors.
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
  layout: HostLayout;
  /** Which of the host's existing directories/files are there (logical paths). */
  exists: (logical: string) => boolean;
  /** Running jails; install refuses while any runs (it replaces what they mount). */
  runningJails: readonly string[];
}

export interface FlavorFile {
  /** Path inside the flavor, e.g. "etc/rc.conf". */
  path: string;
  content: string;
  mode: number;
}

/** Clear out the previous install; keep existing jails, archives and the admin's other flavors. */
export function planInstallPrepare(state: InstallState, opts: { freebsdTools: boolean }): Plan {
  const { layout } = state;
  const steps: Step[] = [];
  for (const dir of [layout.download, layout.sharedfs, layout.template]) {
    if (!state.exists(dir)) continue;
    // base.txz ships schg files; rm cannot remove them until the flags are cleared.
    if (opts.freebsdTools)
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
  return { title: `install qjail${layout.zone ? ` zone ${layout.zone}` : ""}: prepare`, steps };
}

/**
 * argv that unpacks base.txz into the template: /usr/bin/tar is bsdtar on
 * FreeBSD (and GNU tar on the Debian machines the tests run on: the same
 * flags), named by its path so the caller's PATH never picks another.
 */
export function extractArgv(baseTxz: string, templateDir: string): string[] {
  return ["/usr/bin/tar", "-xJpf", baseTxz, "-C", templateDir];
}

export interface FinishState extends InstallState {
  /** What the unpacked template holds at each path: "dir", "link", "file" or absent. */
  templateEntry: (relative: string) => "dir" | "link" | "file" | undefined;
  /** Files of each stock flavor, from the repository's share/flavors. */
  flavorFiles: Readonly<Record<string, readonly FlavorFile[]>>;
  /** Host files copied into each stock flavor's etc/ when present under the root. */
  hostEtcFiles: readonly string[];
  /** Enable qjail's command log (-l). */
  enableLog: boolean;
  /** /etc/newsyslog.conf and qjail's newsyslog.conf.d file, joined (undefined when both are absent), to add the log line once. */
  newsyslog: string | undefined;
}

export function planInstallFinish(state: FinishState, opts: { freebsdTools: boolean }): Plan {
  const { layout } = state;
  const t = (rel: string): string => `${layout.template}/${rel}`;
  const s = (rel: string): string => `${layout.sharedfs}/${rel}`;
  const steps: Step[] = [];
  const tpl = layout.template;
  if (opts.freebsdTools)
    steps.push({ kind: "run", argv: ["/bin/chflags", "-R", "noschg,nosunlink", tpl], mayFail: true });
  steps.push(
    { kind: "mkdir", path: layout.sharedfs, mode: 0o755 },
    { kind: "mkdir", path: s("usr"), mode: 0o755 },
  );

  // Sources and ports are shared too, empty until 'qjail update -S/-P'.
  for (const rel of ["usr/src", "usr/ports"]) {
    const have = state.templateEntry(rel);
    if (have !== undefined)
      steps.push({ kind: "remove", path: t(rel), recursive: have === "dir", inJail: tpl });
    steps.push(
      { kind: "mkdir", path: s(rel), mode: 0o755 },
      { kind: "symlink", target: `/sharedfs/${rel}`, path: t(rel), inJail: tpl },
    );
  }
  for (const rel of SHARED_DIRS) {
    const have = state.templateEntry(rel);
    if (have === undefined) continue;
    // Same filesystem, so a rename moves the tree at once instead of copying it like qjail's cpio.
    steps.push(
      { kind: "rename", from: t(rel), to: s(rel) },
      { kind: "symlink", target: `/sharedfs/${rel}`, path: t(rel), inJail: tpl },
    );
  }
  for (const rel of DROPPED_DIRS) {
    const have = state.templateEntry(rel);
    if (have !== undefined)
      steps.push({ kind: "remove", path: t(rel), recursive: have === "dir", inJail: tpl });
  }
  steps.push(
    { kind: "mkdir", path: t("sharedfs"), mode: 0o755, inJail: tpl },
    { kind: "mkdir", path: t("usr/home"), mode: 0o755, inJail: tpl },
  );
  const home = state.templateEntry("home");
  if (home !== undefined)
    steps.push({ kind: "remove", path: t("home"), recursive: home === "dir", inJail: tpl });
  steps.push({ kind: "symlink", target: "usr/home", path: t("home"), inJail: tpl });

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
  if (state.enableLog) {
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
  return {
    title: `install qjail${layout.zone ? ` zone ${layout.zone}` : ""}: shared base, template, flavors`,
    steps,
    messages: ["Successfully installed qjail system."],
    ...(warnings.length > 0 ? { warnings } : {}),
  };
}
