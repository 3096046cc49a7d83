import { CAPTURED, type Plan, type Step } from "../plan.js";
import { pidFilePath } from "../paths.js";
import { isImageJail, type ConsoleRequest, type JailSpec } from "../jail.js";
import { FREEBSD } from "./programs.js";
import { rctlRules } from "../limits.js";

/**
 * The FreeBSD command lines for one jail's start, stop and console, as pure
 * plans (qjail-5.md §4.4, §4.5). Golden tests pin these argv lines; the
 * platform (./index.ts) executes them.
 *
 * Two values exist only once a step has run: the md unit `mdconfig -a`
 * prints for an image jail, and the JID of the new jail. Their steps carry
 * `capture`, and later steps name them by {@link MD_UNIT} and {@link JID};
 * the applier (src/platform/apply.ts) fills them in as it goes.
 */
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

export function planFreebsdStart(jail: JailSpec): Plan {
  const steps: Step[] = [];
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
  if (isImageJail(jail.record))
    steps.push(...imageReleaseSteps(jail, unit ?? (jail.record.imagedevice || MD_UNIT)));
  return { title: `stop jail ${jail.name}`, steps, messages: [`Jail successfully stopped  ${jail.name}`] };
}

export function imageAttachSteps(jail: JailSpec): Step[] {
  return [
    {
      kind: "run",
      argv: [FREEBSD.mdconfig, "-a", "-t", "vnode", "-f", imagePath(jail)],
      why: `attach the image; it prints the unit used below as ${MD_UNIT}`,
      capture: "mdUnit",
    },
    { kind: "run", argv: [FREEBSD.mount, `/dev/${MD_UNIT}`, jail.rootPath] },
    { kind: "symlink", target: `/dev/${MD_UNIT}`, path: deviceLinkPath(jail) },
  ];
}

export function imageReleaseSteps(jail: JailSpec, unit: string): Step[] {
  return [
    { kind: "run", argv: [FREEBSD.umount, jail.rootPath] },
    { kind: "run", argv: [FREEBSD.mdconfig, "-d", "-u", unit] },
    { kind: "remove", path: deviceLinkPath(jail) },
  ];
}

/**
 * qjail's console: a root login (`login -f root`), a login as `-u user`, or
 * with `-c` the command itself (`jexec [-U user] name cmd…`, no banner).
 * A jail with a fib runs under `setfib <fib>`.
 */
export function planFreebsdConsole(jail: JailSpec, req: ConsoleRequest): Plan {
  let argv: string[];
  if (req.command && req.command.length > 0) {
    argv = [FREEBSD.jexec, ...(req.user ? ["-U", req.user] : []), jail.name, ...req.command];
  } else {
    argv = [FREEBSD.jexec, jail.name, FREEBSD.login, "-f", req.user ?? "root"];
  }
  if (jail.record.fib !== "") argv = [FREEBSD.setfib, jail.record.fib, ...argv];
  return { title: `console of jail ${jail.name}`, steps: [{ kind: "run", argv }] };
}
