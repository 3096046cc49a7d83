import { posix } from "node:path";
import type { Plan, Step } from "../plan.js";
import { physical, type HostLayout } from "../paths.js";
import {
  BASE_ETC_ENTRIES,
  DEFAULT_RC_CONF,
  TEMPLATE_DIRS,
  templateEtcFiles,
  templateLinks,
} from "./template.js";

/**
 * Where the shared base (sharedfs) comes from on Linux:
 * - `host`: the host's own /usr and a short list of secret-free /etc entries,
 *   bind-mounted read-only into each jail at start, never copied (the default);
 * - `directory` / `tarball`: a root filesystem given with `install -f`, copied
 *   or unpacked into sharedfs once.
 */
export type LinuxBaseSource =
  { kind: "host" } | { kind: "directory"; path: string } | { kind: "tarball"; path: string };

export interface LinuxInstallRequest {
  layout: HostLayout;
  /** Physical root (--root); only `run` steps need it, file steps stay logical. */
  root: string;
  base: LinuxBaseSource;
  /** The host's /etc/resolv.conf, copied into the flavors as qjail does; a loopback resolver when absent. */
  resolvConf?: string;
  /** Flavors already present: `default` and `ssh-default` are saved as users.saved.* before being replaced (docs/qjail-5.md §4.1 step 3). */
  existingFlavors?: readonly string[];
}

/** File in sharedfs naming what start bind-mounts from the host: lines of "SOURCE TARGET" (TARGET relative to sharedfs). */
export const BASE_MANIFEST = "qjail.base";

/** The bind mounts a host-based sharedfs gets at start, in order. */
export function hostBaseBinds(): { source: string; target: string; kind: "dir" | "file" }[] {
  return [
    { source: "/usr", target: "usr", kind: "dir" },
    ...BASE_ETC_ENTRIES.map((e) => ({ source: `/etc/${e.path}`, target: `etc/${e.path}`, kind: e.kind })),
  ];
}

/** Parse sharedfs/qjail.base; lines that are not two absolute/relative path words are ignored. */
export function parseBaseManifest(text: string): { source: string; target: string }[] {
  const out: { source: string; target: string }[] = [];
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const m = /^(\/\S*)\s+([^/\s]\S*)$/.exec(line);
    if (!m || (m[2] as string).split("/").includes("..")) continue;
    out.push({ source: m[1] as string, target: m[2] as string });
  }
  return out;
}

/**
 * `qjail install` on Linux: the FreeBSD-shaped layout of docs/qjail-5.md §1.4 built
 * from a Linux base. Pure: the caller gathers resolv.conf and the existing
 * flavors. Like qjail, the old sharedfs and template are replaced; jails,
 * archives and other flavors are kept.
 */
export function planLinuxInstall(req: LinuxInstallRequest): Plan {
  const { layout } = req;
  const steps: Step[] = [];
  const resolvConf = req.resolvConf ?? "nameserver 127.0.0.1\n";

  steps.push({ kind: "remove", path: layout.download, recursive: true });
  steps.push({ kind: "remove", path: layout.sharedfs, recursive: true });
  steps.push({ kind: "remove", path: layout.template, recursive: true });
  for (const flavor of ["default", "ssh-default"]) {
    if (!req.existingFlavors?.includes(flavor)) continue;
    const saved = `${layout.flavors}/users.saved.${flavor}`;
    steps.push({ kind: "remove", path: saved, recursive: true });
    steps.push({ kind: "rename", from: `${layout.flavors}/${flavor}`, to: saved });
  }

  // sharedfs: the shared, read-only base
  steps.push({ kind: "mkdir", path: layout.sharedfs, mode: 0o755 });
  if (req.base.kind === "host") {
    const binds = hostBaseBinds();
    for (const b of binds) {
      const mountPoint = `${layout.sharedfs}/${b.target}`;
      if (b.kind === "dir") steps.push({ kind: "mkdir", path: mountPoint, mode: 0o755 });
      else steps.push({ kind: "writeFile", path: mountPoint, content: "", mode: 0o644 });
    }
    const manifest = [
      "# Bind-mounted read-only into each jail's /sharedfs at start: host source, target under sharedfs.",
      ...binds.map((b) => `${b.source} ${b.target}`),
    ];
    steps.push({
      kind: "writeFile",
      path: `${layout.sharedfs}/${BASE_MANIFEST}`,
      content: manifest.join("\n") + "\n",
      mode: 0o644,
    });
  } else {
    const dest = physical(req.root, layout.sharedfs);
    if (req.base.kind === "directory") {
      steps.push({
        kind: "run",
        argv: ["cp", "-a", "--", `${req.base.path.replace(/\/+$/, "")}/.`, `${dest}/`],
        why: "copy the base root filesystem into sharedfs",
      });
    } else {
      steps.push({
        kind: "run",
        argv: ["tar", "-x", "-p", "--numeric-owner", "--exclude=./dev/*", "-f", req.base.path, "-C", dest],
        why: "unpack the base root filesystem into sharedfs",
      });
    }
  }

  // template: each jail's own writable tree
  const T = (rel: string): string => posix.join(layout.template, rel);
  steps.push({ kind: "mkdir", path: layout.template, mode: 0o755 });
  for (const d of TEMPLATE_DIRS) steps.push({ kind: "mkdir", path: T(d.path), mode: d.mode });
  // mkdir's mode passes through the umask, which strips the sticky world-writable bits tmp needs
  const sticky = TEMPLATE_DIRS.filter((d) => d.mode === 0o1777).map((d) => physical(req.root, T(d.path)));
  steps.push({
    kind: "run",
    argv: ["chmod", "1777", "--", ...sticky],
    why: "tmp directories are world-writable with the sticky bit",
  });
  for (const l of templateLinks()) {
    if (l.path.includes("/")) steps.push({ kind: "mkdir", path: T(posix.dirname(l.path)), mode: 0o755 });
    steps.push({ kind: "symlink", target: l.target, path: T(l.path) });
  }
  for (const f of templateEtcFiles(resolvConf))
    steps.push({ kind: "writeFile", path: T(f.path), content: f.content, mode: f.mode });

  // flavors: copied over the template by create (-f flavor)
  steps.push({ kind: "mkdir", path: `${layout.flavors}/default/etc`, mode: 0o755 });
  steps.push({
    kind: "writeFile",
    path: `${layout.flavors}/default/etc/rc.conf`,
    content: DEFAULT_RC_CONF,
    mode: 0o644,
  });
  steps.push({
    kind: "writeFile",
    path: `${layout.flavors}/default/etc/resolv.conf`,
    content: resolvConf,
    mode: 0o644,
  });
  steps.push({ kind: "mkdir", path: `${layout.flavors}/ssh-default/etc`, mode: 0o755 });
  steps.push({
    kind: "writeFile",
    path: `${layout.flavors}/ssh-default/etc/rc.conf`,
    content: `${DEFAULT_RC_CONF}sshd_enable="YES"\n`,
    mode: 0o644,
  });
  steps.push({
    kind: "writeFile",
    path: `${layout.flavors}/ssh-default/etc/resolv.conf`,
    content: resolvConf,
    mode: 0o644,
  });

  // qjail's control directories (§4.1 step 8)
  for (const dir of [
    layout.archive,
    layout.local,
    layout.global,
    layout.config,
    layout.fstabDir,
    layout.packages,
    `${layout.stateDir}/run`,
  ]) {
    steps.push({ kind: "mkdir", path: dir, mode: 0o755 });
  }
  steps.push({ kind: "writeFile", path: layout.vnetctl, content: 'count="0"\n', mode: 0o644 });

  const from = req.base.kind === "host" ? "the host's /usr (shared read-only)" : req.base.path;
  return {
    title: `Install the qjail system in ${layout.jaildir} (Linux, base: ${from})`,
    steps,
    messages: ["Successfully installed qjail system."],
  };
}
