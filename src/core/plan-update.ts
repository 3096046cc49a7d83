import { posix } from "node:path";
import type { Plan, Step } from "./plan.js";
import type { HostLayout } from "./paths.js";
import { SHARED_DIRS, newsyslogSteps } from "./plan-install.js";

export { NEWSYSLOG_LINE, NEWSYSLOG_QJAIL } from "./plan-install.js";

/**
 * `qjail update` (docs/qjail-5.md §4.10): refresh the shared base from the host
 * itself. Pure; the command looks at the host (which directories exist)
 * and hands the plan to the platform, which copies for real.
 */

/** The trees `update -b` copies from the running host into sharedfs: install's list without sys, which is a link to usr/src/sys rather than binaries (usr/lib32 where the host has it). */
export const SHARED_BINARY_DIRS: readonly string[] = SHARED_DIRS.filter((d) => d !== "sys");

export const CHFLAGS = "/bin/chflags";
export const NEWSYSLOG_CONF = "/etc/newsyslog.conf";
/**
 * `update -b`: for each directory the host has, replace sharedfs's copy with
 * the host's (qjail: `rm -r`, then `find D | cpio -dmp sharedfs`). File flags
 * are cleared first so the old schg files can go, and again after, as qjail
 * does; `usr/bin/perl -> /usr/local/bin/perl` is added when missing.
 * Jails' own /etc trees are not touched.
 */
export function planUpdateBinaries(
  layout: HostLayout,
  hostDirs: readonly string[],
  perlLinkPresent: boolean,
): Plan {
  const sharedfs = layout.sharedfs;
  const steps: Step[] = [
    { kind: "run", argv: [CHFLAGS, "-R", "noschg,nosunlink", sharedfs], why: "base.txz files carry schg" },
  ];
  for (const d of hostDirs) {
    steps.push({ kind: "remove", path: `${sharedfs}/${d}`, recursive: true });
    steps.push({ kind: "copyTree", from: `/${d}`, to: `${sharedfs}/${d}` });
  }
  steps.push({ kind: "run", argv: [CHFLAGS, "-R", "noschg,nosunlink", sharedfs] });
  if (!perlLinkPresent)
    steps.push({ kind: "symlink", target: "/usr/local/bin/perl", path: `${sharedfs}/usr/bin/perl` });
  return {
    title: `copy the host's binaries into ${sharedfs}`,
    steps,
    messages: [`Successfully updated ${sharedfs} from the host's binaries`],
  };
}

/** `update -P` / `-S`: replace sharedfs/usr/ports (or usr/src) with the host's tree. */
export function planUpdateTree(layout: HostLayout, tree: "usr/ports" | "usr/src"): Plan {
  const to = `${layout.sharedfs}/${tree}`;
  return {
    title: `copy the host's /${tree} into ${to}`,
    steps: [
      { kind: "remove", path: to, recursive: true },
      { kind: "copyTree", from: `/${tree}`, to },
    ],
    messages: [`Successfully updated ${to}`],
  };
}

/** The ports tree's git repository (the FreeBSD Handbook's "Using Git" method). */
export const PORTS_GIT_URL = "https://git.FreeBSD.org/ports.git";

/**
 * `update -p`: fetch the ports tree into sharedfs/usr/ports with git.
 * qjail 5.x ran portsnap, which cannot work any more: it left the base
 * system in FreeBSD 14.0 (the port that carries it for 13.x is deprecated),
 * qjail never installed the qjail.portsnap.conf it names, and
 * `portsnap fetch` refuses to run without a terminal. A tree that is not a
 * git clone yet is cloned (shallow, the Handbook's `--depth 1`); a clone is
 * brought up to date with a fast-forward pull.
 */
export function planPortsGit(layout: HostLayout, git: string, cloned: boolean): Plan {
  const ports = `${layout.sharedfs}/usr/ports`;
  const step: Step = cloned
    ? { kind: "run", argv: [git, "-C", ports, "pull", "--ff-only"], why: "bring the clone up to date" }
    : { kind: "run", argv: [git, "clone", "--depth", "1", PORTS_GIT_URL, ports], why: "first fetch" };
  return {
    title: `update the ports tree in ${ports} with git`,
    steps: [step],
    messages: [`Successfully updated ${ports}`],
  };
}

/** `update -l on|off`: create the log and its newsyslog line (once), or remove the log (the line stays, as in qjail). */
export function planLogging(layout: HostLayout, on: boolean, newsyslogHasLine: boolean): Plan {
  if (!on)
    return {
      title: "turn qjail logging off",
      steps: [{ kind: "remove", path: layout.log }],
      messages: ["qjail logging is off"],
    };
  const steps: Step[] = [
    { kind: "mkdir", path: posix.dirname(layout.log) },
    { kind: "appendFile", path: layout.log, content: "", mode: 0o600 },
  ];
  steps.push(...newsyslogSteps(newsyslogHasLine));
  return { title: "turn qjail logging on", steps, messages: [`qjail logging is on: ${layout.log}`] };
}
