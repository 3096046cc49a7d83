import { CAPTURED, type Plan, type Step } from "../plan.js";
import { pidFilePath } from "../paths.js";
import { isImageJail, type ConsoleRequest, type JailSpec } from "../jail.js";
import { FREEBSD } from "./programs.js";
import { rctlRules } from "../limits.js";

/**
 * The FreeBSD command lines for one jail's start, stop and console, as pure
 * plans (docs/qjail-5.md §4.4, §4.5). Golden tests pin these argv lines; the
 * platform (./index.ts) executes them.
 *
 * Two values exist only once a step has run: the md unit `mdconfig -a`
 * prints for an image jail, and the JID of the new jail. Their steps carry
 * `capture`, and later steps name them by {@link MD_UNIT} and {@link JID};
 * the applier (src/platform/apply.ts) fills them in as it goes.
 *
 * Image jails also carry what FreeBSD makes necessary: `mdconfig -l -v` is
 * checked first (check {@link CHECK_IMAGE_FREE}: mounting an image that is
 * attached already, through a second md unit, corrupts it); the stop waits
 * while `jls -d` still lists the removed jail (a dying jail keeps its root
 * busy while sockets in TIME_WAIT hold it) and retries `umount` while it says
 * the mount is busy; the attach steps carry `undo`, so a start that fails
 * later releases the image it attached, never one attached before it.
 */

/** Check names the platform supplies (ApplyOptions.checks) for a jail's plans. */
export const CHECK_IMAGE_FREE = "freebsd:image-not-attached";
export const CHECK_NOTHING_MOUNTED = "freebsd:nothing-mounted-below";

/** How long a stop waits for a dying jail, and retries a busy unmount (seconds). */
export const DYING_WAIT_SECONDS = 120;
export const BUSY_RETRY_SECONDS = 30;
export const MD_UNIT = CAPTURED.mdUnit.marker;
export const JID = CAPTURED.jid.marker;

/** Path of the image file: the record's `image`, else qjail's `<root>/<name>.img`. */
export function imagePath(jail: JailSpec): string {
  return jail.record.image || `${jail.rootPath}/${jail.name}.img`;
}

/** The `<root>.device` link qjail keeps while an image jail is attached. */
export function deviceLinkPath(jail: JailSpec): string {
  return `${jail.rootPath}.device`;
}

/**
 * Kernel modules a jail's jail.conf needs before `jail -c` reads it:
 * allow.mount.tmpfs and allow.mount.zfs exist only while tmpfs.ko/zfs.ko is
 * loaded (jail(8): "Kernel modules may add their own parameters, which only
 * exist when the module is loaded"), and a reboot unloads what `config -t`
 * loaded. `kldload -n` does nothing when the module is loaded or built in.
 */
export function moduleSteps(jail: JailSpec): Step[] {
  const out: Step[] = [];
  for (const [key, mod] of [
    ["tmpfs", "tmpfs"],
    ["zfs", "zfs"],
  ] as const) {
    if (jail.record[key] !== "")
      out.push({
        kind: "run",
        argv: [FREEBSD.kldload, "-n", mod],
        why: `allow.mount.${mod} exists only while ${mod}.ko is loaded`,
      });
  }
  return out;
}

export function planFreebsdStart(jail: JailSpec): Plan {
  const steps: Step[] = [...moduleSteps(jail)];
  if (isImageJail(jail.record)) steps.push(...imageAttachSteps(jail));
  steps.push({
    kind: "run",
    argv: [FREEBSD.jail, "-q", "-f", jail.confPath, "-c"],
    why: "create the jail from its jail.conf block",
  });
  steps.push({
    kind: "run",
    argv: [FREEBSD.jls, "-j", jail.name, "jid"],
    why: `its output is the JID for ${pidFilePath(jail.name)}`,
    capture: "jid",
  });
  // resource limits (qjail config --memoryuse ...): one rctl rule each, once the jail exists
  for (const rule of rctlRules(jail.name, jail.record.rctl ?? ""))
    steps.push({
      kind: "run",
      argv: [FREEBSD.rctl, "-a", rule],
      why: "a resource limit of the jail (needs kern.racct.enable=1 in /boot/loader.conf)",
    });
  steps.push({ kind: "writeFile", path: pidFilePath(jail.name), content: `${JID}\n`, mode: 0o555 });
  return { title: `start jail ${jail.name}`, steps, messages: [`Jail successfully started  ${jail.name}`] };
}

/**
 * `unit` is the md unit the image is attached as right now (read from the
 * `<root>.device` link by the platform); qjail 5.x used the record's
 * `imagedevice`, which goes stale when mdconfig picks another unit.
 */
export function planFreebsdStop(jail: JailSpec, unit?: string): Plan {
  const steps: Step[] = [];
  if (rctlRules(jail.name, jail.record.rctl ?? "").length > 0)
    steps.push({
      kind: "run",
      argv: [FREEBSD.rctl, "-r", `jail:${jail.name}`],
      why: "remove the jail's resource limits",
      mayFail: true,
    });
  steps.push(
    {
      kind: "run",
      argv: [FREEBSD.jail, "-q", "-f", jail.confPath, "-r", jail.name],
      why: "stop the jail: exec.stop, unmounts, alias removal",
    },
    { kind: "remove", path: pidFilePath(jail.name) },
  );
  if (isImageJail(jail.record)) {
    // The image's file system is the jail's root: a dying jail still holds it.
    steps.push({
      kind: "run",
      argv: [FREEBSD.jls, "-d", "-j", jail.name, "jid"],
      why: `repeated until the jail is gone (at most ${DYING_WAIT_SECONDS} s): a dying jail keeps its root busy`,
      retry: { until: "fails", seconds: DYING_WAIT_SECONDS },
    });
    steps.push(...imageReleaseSteps(jail, unit ?? (jail.record.imagedevice || MD_UNIT)));
  }
  return { title: `stop jail ${jail.name}`, steps, messages: [`Jail successfully stopped  ${jail.name}`] };
}

export function imageAttachSteps(jail: JailSpec): Step[] {
  return [
    {
      kind: "run",
      argv: [FREEBSD.mdconfig, "-l", "-v"],
      why: `refuse if ${imagePath(jail)} is attached already`,
      check: CHECK_IMAGE_FREE,
    },
    {
      kind: "run",
      argv: [FREEBSD.mdconfig, "-a", "-t", "vnode", "-f", imagePath(jail)],
      why: `attach the image; it prints the unit used below as ${MD_UNIT}`,
      capture: "mdUnit",
      undo: [{ kind: "run", argv: [FREEBSD.mdconfig, "-d", "-u", MD_UNIT] }],
    },
    {
      kind: "run",
      argv: [FREEBSD.mount, `/dev/${MD_UNIT}`, jail.rootPath],
      undo: [
        { kind: "run", argv: [FREEBSD.umount, jail.rootPath] },
        { kind: "remove", path: deviceLinkPath(jail) },
      ],
    },
    { kind: "symlink", target: `/dev/${MD_UNIT}`, path: deviceLinkPath(jail) },
  ];
}

export function imageReleaseSteps(jail: JailSpec, unit: string): Step[] {
  return [
    {
      kind: "run",
      argv: [FREEBSD.umount, jail.rootPath],
      why: `retried while busy (at most ${BUSY_RETRY_SECONDS} s)`,
      retry: { until: "succeeds", seconds: BUSY_RETRY_SECONDS, whileStderr: "busy" },
    },
    { kind: "run", argv: [FREEBSD.mdconfig, "-d", "-u", unit] },
    { kind: "remove", path: deviceLinkPath(jail) },
  ];
}

/**
 * Removing a jail's tree (delete): refuse while anything is mounted at or
 * below it (`mount -p`, check {@link CHECK_NOTHING_MOUNTED}; rm through a
 * read-write nullfs mount destroys the mount's source), clear the file
 * flags base.txz sets (schg) without crossing into another file system
 * (`chflags -x`), then remove it.
 */
export function planRemoveJailTree(rootPath: string): Step[] {
  return [
    {
      kind: "run",
      argv: [FREEBSD.mount, "-p"],
      why: `refuse if anything is mounted below ${rootPath}`,
      check: CHECK_NOTHING_MOUNTED,
    },
    { kind: "run", argv: [FREEBSD.chflags, "-x", "-R", "0", rootPath], why: "base.txz ships schg files" },
    { kind: "remove", path: rootPath, recursive: true },
  ];
}

/** The md unit `mdconfig -l -v` lists for `file` (lines: `md7  vnode  2048M  /path/file`), if any. */
export function attachedImageUnit(mdconfigList: string, file: string): string | undefined {
  for (const line of mdconfigList.split("\n")) {
    const f = line.trim().split(/\s+/);
    if (/^md\d+$/.test(f[0] ?? "") && f[1] === "vnode" && f.slice(3).join(" ") === file) return f[0];
  }
  return undefined;
}

/** Mount points (field 2) of `mount -p` output, with fstab's `\040` escapes decoded. */
export function parseMountPoints(text: string): string[] {
  return text
    .split("\n")
    .map((l) => l.trim().split(/\s+/)[1])
    .filter((p): p is string => p !== undefined && p !== "")
    .map((p) => p.replace(/\\(\d{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))));
}

/**
 * qjail's console: a root login (`login -f root`), a login as `-u user`, or
 * with `-c` the command itself (`jexec [-U user] name cmd…`, no banner).
 * A jail with a fib runs under `setfib <fib>`.
 *
 * The jail never gets the admin's terminal. On FreeBSD a process whose
 * controlling terminal is the admin's may push input into it with TIOCSTI
 * (sys/kern/tty.c asks for PRIV_TTY_STI only when the terminal is *not* the
 * caller's controlling terminal), so jailed root could type commands into the
 * admin's shell after the console returns, and any fd it keeps could read
 * what the admin types next. So:
 * - from a terminal, base's script(1) allocates a pty on the host and runs
 *   jexec in a new session on the pty's slave (login_tty(3)); script copies
 *   bytes between the admin's terminal and the pty's master, and the jail
 *   holds only the slave, which dies with the session;
 * - without a terminal (a pipe or a file on stdin), jexec runs in a new
 *   session (setsid, no controlling terminal) with pipes for its stdio, and
 *   qjail copies the bytes (the platform's runConsole).
 * `jexec -l` starts the command with a clean environment (HOME, SHELL, TERM,
 * USER and the login class), so none of the admin's variables
 * (SSH_AUTH_SOCK, tokens) reach the jail.
 */
export function planFreebsdConsole(jail: JailSpec, req: ConsoleRequest, terminal: boolean): Plan {
  let argv: string[];
  if (req.command && req.command.length > 0) {
    argv = [FREEBSD.jexec, "-l", ...(req.user ? ["-U", req.user] : []), jail.name, ...req.command];
  } else {
    argv = [FREEBSD.jexec, "-l", jail.name, FREEBSD.login, "-f", req.user ?? "root"];
  }
  if (terminal) argv = [FREEBSD.script, "-q", "/dev/null", ...argv];
  if (jail.record.fib !== "") argv = [FREEBSD.setfib, jail.record.fib, ...argv];
  return {
    title: `console of jail ${jail.name}`,
    steps: [
      {
        kind: "run",
        argv,
        why: terminal
          ? "through a pty qjail's script(1) owns: the jail never gets this terminal"
          : "in its own session with pipes: the jail never gets this terminal",
      },
    ],
  };
}
