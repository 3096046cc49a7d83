import { defineCommand } from "../command.js";
import { UsageError, shown } from "../../core/errors.js";
import {
  parseAddressList,
  parseImageSize,
  parseInteger,
  validateFlavorName,
  validateInterfaceName,
  validateJailName,
} from "../../core/validate.js";
import { createJails } from "../../ops/create.js";
import { printPlan, reportPlan, reportReconcile, zoneLayout } from "../jail-runtime.js";

export const createCommand = defineCommand({
  path: ["create"],
  summary: "Build a new jail from the template and a flavor (qjail create).",
  usage: [
    "create [-z zone] [-n nic] [-a archive] [-A archzone] [-f flavor] [-c] [-i size] [-d N] [-4 ips] [-6 ips] [--force] jailname",
  ],
  details: `
Copies the zone's template into /usr/jails/NAME, lays the flavor (default:
"default") over it, and writes the jail's fstab (the read-only sharedfs
mount), its jail.conf block in qjail.config/NAME and its definition record
(qjail.local and qjail.global). Prints "Successfully created  NAME".

-4 and -6 take comma lists without spaces; an entry may name its interface
as nic|ip. At least one address is required; a /netmask is refused. -n names
the interface for the aliases (default: the interface of the default route).
-c enables sshd in the jail and creates, at its first start, a user named
like the jail with the jail's name as password (qjail's one-time ssh); it
cannot be combined with -f ssh-default. -d N makes N copies NAME-001 ...
NAME-NNN, copy k getting the IPv4 address's last octet + k-1.
-a ARCHIVE builds the jail's tree from a qjail archive (NAME for its newest
archive, or NAME@YYYYMMDDhhmm.SS.tar) instead of the template and flavor;
the archived control files are not used. -A ZONE takes the archive from
that zone's archive directory ("nozone": the default zone).
-i SIZE (e.g. 500m, 2g) makes an image jail: the jail's tree lives in a
file system of that fixed size (its disk quota), mounted on the jail's
directory while it runs. FreeBSD: an md(4) vnode image made with mdconfig and
newfs (under --root, use --dry-run to see the plan). Linux: an ext4 image
(mkfs.ext4 -d fills it from the template) mounted through a loop device with
nodev; the host needs loop devices and mkfs.ext4, and -i cannot be combined
with -c there.

Differences from qjail 5.x, on purpose: an address another jail already has
is refused unless --force (qjail only warned); -d cannot be combined with -6
(every copy would share the address); -a cannot be combined with -d or -i in
this build.`,
  examples: [
    {
      command: "qjail create -4 10.0.0.5 www",
      description: "a jail www with one IPv4 alias on the default-route interface",
    },
    {
      command: "qjail create -n lo1 -4 10.0.0.6 -c mail",
      description: "a jail on lo1 with one-time ssh for user mail",
    },
    {
      command: "qjail create -4 10.0.0.10 -d 3 web",
      description: "three jails web-001 .. web-003 on 10.0.0.10 .. 10.0.0.12",
    },
    {
      command: "qjail create -a www -4 10.0.0.20 www2",
      description: "a new jail www2 from the newest archive of www",
    },
  ],
  options: {
    zone: { type: "string", short: "z" },
    nic: { type: "string", short: "n" },
    archive: { type: "string", short: "a" },
    "archive-zone": { type: "string", short: "A" },
    flavor: { type: "string", short: "f" },
    ssh: { type: "boolean", short: "c" },
    image: { type: "string", short: "i" },
    duplicate: { type: "string", short: "d" },
    ipv4: { type: "string", short: "4" },
    ipv6: { type: "string", short: "6" },
    force: { type: "boolean" },
  },
  json: false,
  mutates: true,
  async run(inv) {
    const { values: v, positionals } = inv;
    // validate input
    const layout = zoneLayout(v.zone);
    if (positionals.length !== 1) {
      throw new UsageError(
        "QJ1210",
        positionals.length === 0
          ? "no jail name given"
          : `one jail name expected, got ${positionals.map((p) => shown(p)).join(" ")}`,
        "Syntax: qjail create [options] -4 ADDRESS jailname",
      );
    }
    const name = validateJailName(positionals[0] as string);
    if (v["archive-zone"] !== undefined && v.archive === undefined) {
      throw new UsageError(
        "QJ1211",
        `-A ${shown(String(v["archive-zone"]))} is only valid together with -a`,
        "Add -a ARCHIVE, or drop -A.",
      );
    }
    const archiveArg = v.archive === undefined ? undefined : String(v.archive);
    if (archiveArg !== undefined) {
      if (v.flavor !== undefined)
        throw new UsageError(
          "QJ1212",
          "-a and -f cannot be used together",
          "A jail made from an archive keeps the archived files; drop -f.",
        );
      if (v.duplicate !== undefined || v.image !== undefined) {
        throw new UsageError(
          "QJ1213",
          `-a ${shown(archiveArg)} cannot be combined with ${v.duplicate !== undefined ? "-d" : "-i"} in this build`,
          v.duplicate !== undefined
            ? "Run 'qjail create -a ARCHIVE -4 ADDRESS NAME' once per copy, each with its own name and address."
            : "An image jail cannot be filled from an archive in this build: drop -i to make a directory jail from it.",
        );
      }
      if (archiveArg === "" || archiveArg.includes("/") || archiveArg.startsWith(".")) {
        throw new UsageError(
          "QJ1217",
          `invalid archive name ${shown(archiveArg)}`,
          "Give a jail name (its newest archive) or an archive file name like www@202611301200.00.tar from the archive directory.",
        );
      }
    }
    const ip4 = v.ipv4 === undefined ? [] : parseAddressList(String(v.ipv4), 4);
    const ip6 = v.ipv6 === undefined ? [] : parseAddressList(String(v.ipv6), 6);
    const flavor = validateFlavorName(v.flavor === undefined ? "default" : String(v.flavor));
    const imageMiB = v.image === undefined ? undefined : parseImageSize(String(v.image));
    const duplicates =
      v.duplicate === undefined ? 0 : parseInteger(String(v.duplicate), "-d copy count", 1, 254, "QJ1214");
    const nicGiven = v.nic === undefined ? undefined : validateInterfaceName(String(v.nic));

    const { plan, reconciled } = await createJails(
      inv.global,
      { stderr: inv.ctx.stderr, env: inv.ctx.env },
      {
        layout,
        name,
        ip4,
        ip6,
        nic: nicGiven,
        flavor,
        oneTimeSsh: v.ssh === true,
        imageMiB,
        imageArg: v.image === undefined ? undefined : String(v.image),
        duplicates,
        force: v.force === true,
        archive:
          archiveArg === undefined
            ? undefined
            : {
                name: archiveArg,
                zone: v["archive-zone"] === undefined ? undefined : String(v["archive-zone"]),
              },
        dryRun: inv.global.dryRun,
      },
    );
    if (inv.global.dryRun) {
      printPlan(inv, plan);
      return 0;
    }
    if (reconciled) reportReconcile(inv, reconciled);
    reportPlan(inv, plan);
    return 0;
  },
});
