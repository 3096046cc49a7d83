import { UsageError, shown } from "./errors.js";
import type { Plan, Step } from "./plan.js";
import type { JailSpec } from "./jail.js";

/**
 * Start-up integration (`qjail boot install|start|stop`), pure parts: which
 * files the package ships for each init system and where they go, how they
 * are adapted to the installed qjail, and which jails start at boot.
 */

export interface BootFile {
  /** Path inside the package (etc/rc.d/qjail). */
  source: string;
  /** Logical host path it is installed to. */
  target: string;
  mode: number;
}

/** The default program path the shipped files name; replaced by the installed qjail's path. */
export const SHIPPED_PROGRAM = "/usr/local/bin/qjail";

/** The line `boot install` puts in every file it writes; a file carrying it may be replaced. */
export const BOOT_MARKER = "Installed by 'qjail boot install'";

export type InitSystem = "rc.d" | "systemd";

export function bootFiles(init: InitSystem): BootFile[] {
  return init === "rc.d"
    ? [
        { source: "etc/rc.d/qjail", target: "/usr/local/etc/rc.d/qjail", mode: 0o555 },
        { source: "etc/rc.d/qjail_watch", target: "/usr/local/etc/rc.d/qjail_watch", mode: 0o555 },
      ]
    : [
        { source: "etc/systemd/qjail.service", target: "/etc/systemd/system/qjail.service", mode: 0o644 },
        {
          source: "etc/systemd/qjail-fw.service",
          target: "/etc/systemd/system/qjail-fw.service",
          mode: 0o644,
        },
        {
          source: "etc/systemd/qjail-watch.service",
          target: "/etc/systemd/system/qjail-watch.service",
          mode: 0o644,
        },
      ];
}

/**
 * The shipped file as it is installed: the program path the file names is
 * the installed qjail's, and a comment after the first line (the `#!` of an
 * rc.d script) says where it came from.
 */
export function renderBootFile(shipped: string, program: string, version: string): string {
  const lines = shipped.split("\n");
  const marker = `# ${BOOT_MARKER} from qjail ${version}; run it again after upgrading qjail.`;
  const body = shipped.split(SHIPPED_PROGRAM).join(program);
  if (lines[0]?.startsWith("#!")) {
    const nl = body.indexOf("\n");
    return `${body.slice(0, nl + 1)}${marker}\n${body.slice(nl + 1)}`;
  }
  return `${marker}\n${body}`;
}

export interface BootInstallInput {
  init: InitSystem;
  files: readonly {
    file: BootFile;
    /** The file as the package ships it (what a FreeBSD port installs). */
    shipped: string;
    content: string;
    existing: string | undefined;
  }[];
  force: boolean;
  /** Run systemctl daemon-reload after writing (systemd on the real host). */
  reload: boolean;
}

/**
 * The plan for `boot install`: write each file that is missing or differs.
 * A file at the target that qjail did not write (no marker, and not the
 * shipped file as a port installs it) is the admin's: refused without
 * --force, so nothing is lost.
 */
export function planBootInstall(input: BootInstallInput): Plan {
  const steps: Step[] = [];
  const unchanged: string[] = [];
  for (const { file, shipped, content, existing } of input.files) {
    if (existing === content) {
      unchanged.push(file.target);
      continue;
    }
    const qjails = existing === undefined || existing === shipped || existing.includes(BOOT_MARKER);
    if (!qjails && !input.force)
      throw new UsageError(
        "QJ1801",
        `${shown(file.target)} exists and was not written by 'qjail boot install'`,
        `Move it away, or run 'qjail boot install --force' to replace it (compare first: diff ${file.target} with the package's ${file.source}).`,
      );
    steps.push({ kind: "writeFile", path: file.target, content, mode: file.mode });
  }
  if (steps.length > 0 && input.init === "systemd" && input.reload)
    steps.push({ kind: "run", argv: ["systemctl", "daemon-reload"], why: "make systemd read the new units" });
  const enable =
    input.init === "rc.d"
      ? [
          "Start jails at boot:      sysrc qjail_enable=YES",
          "Follow a dynamic address: sysrc qjail_watch_enable=YES qjail_watch_flags='--dyndns-url …' (see qjail-fw-watch(8))",
        ]
      : [
          "Start jails at boot:      systemctl enable qjail.service qjail-fw.service",
          "Follow a dynamic address: systemctl edit qjail-watch.service (set QJAIL_WATCH_FLAGS), then systemctl enable qjail-watch.service",
        ];
  return {
    title: `install qjail's ${input.init} files`,
    steps,
    messages: [
      ...steps.flatMap((s) => (s.kind === "writeFile" ? [`Installed ${s.path}`] : [])),
      ...unchanged.map((t) => `Up to date ${t}`),
      ...enable,
    ],
  };
}

/**
 * What `boot start` does with one zone's jails, as qjail 5.x's boot script
 * did: every jail except .norun ones (never started automatically) and .man
 * ones (started by hand only).
 */
export function bootSelection(jails: readonly JailSpec[]): { start: JailSpec[]; bypassed: string[] } {
  const start: JailSpec[] = [];
  const bypassed: string[] = [];
  for (const j of jails) {
    if (j.status === "norun") bypassed.push(`Bypassed norun status ${j.name}`);
    else if (j.status === "man") bypassed.push(`Bypassed manual status ${j.name}`);
    else start.push(j);
  }
  return { start, bypassed };
}
