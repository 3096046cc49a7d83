import { resolve } from "node:path";
import { defineCommand } from "../command.js";
import { UsageError, shown } from "../../core/errors.js";
import { installZone } from "../../ops/install.js";
import { printPlan, reportReconcile, zoneLayout } from "../jail-runtime.js";
import { write } from "../context.js";

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
    const req = {
      from: v.from === undefined ? undefined : resolve(inv.ctx.cwd, String(v.from)),
      host: v.host === undefined ? undefined : String(v.host),
      log: v.log === true,
    };
    const { plan, reconciled } = await installZone(
      inv.global,
      { stderr: inv.ctx.stderr, env: inv.ctx.env },
      zoneLayout(v.zone),
      req,
      inv.global.dryRun,
    );
    if (inv.global.dryRun) {
      printPlan(inv, plan);
      return 0;
    }
    if (reconciled) reportReconcile(inv, reconciled);
    // what the new layout lacks (a host file that is not there), then qjail 5.x's closing line
    for (const w of plan.warnings ?? []) write(inv.ctx.stderr, `qjail: warning: ${w}`);
    for (const m of plan.messages ?? []) write(inv.ctx.stdout, m);
    return 0;
  },
});
