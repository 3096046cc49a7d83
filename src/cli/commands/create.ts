import { defineCommand } from "../command.js";
import { UsageError, shown } from "../../core/errors.js";
import { hostLayout, type HostLayout } from "../../core/paths.js";
import { duplicateNames, planCreate, type CreateRequest } from "../../core/plan-create.js";
import {
  formatAddressList,
  parseAddressList,
  parseImageSize,
  parseInteger,
  validateFlavorName,
  validateInterfaceName,
  validateJailName,
  validateZoneName,
} from "../../core/validate.js";
import { assertInstalled, assertZoneKnown, listNames, loadHostState } from "../../store/jails.js";
import { loadCreateState } from "../../ops/create.js";
import { latestArchive } from "../../store/archive.js";
import { jailRuntime, printPlan, reportPlan, reportReconcile, zoneLayout } from "../jail-runtime.js";
import { readHostConfig } from "../../store/exposures.js";
import { hostFacts } from "../../ops/host-facts.js";

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

    const rt = jailRuntime(inv, layout);
    // Linux builds an image jail with mkfs.ext4 and mounts it through a loop device (also under --root);
    // FreeBSD's mdconfig/newfs plan runs on the host itself only.
    if (imageMiB !== undefined && rt.platform.name === "freebsd" && rt.root !== "/" && !inv.global.dryRun) {
      throw new UsageError(
        "QJ1215",
        `image jails (-i ${shown(String(v.image))}) need mdconfig and newfs on a FreeBSD host`,
        "Use --dry-run to see the plan under --root, or run on the FreeBSD host itself.",
      );
    }
    const work = async (): Promise<number> => {
      // load state
      await assertInstalled(rt.root, layout);
      const host = await loadHostState(rt.root, layout, () => rt.live());
      const fromArchive =
        archiveArg === undefined
          ? undefined
          : await findArchive(
              rt.root,
              layout,
              archiveArg,
              v["archive-zone"] === undefined ? undefined : String(v["archive-zone"]),
            );
      const names = duplicates > 0 ? duplicateNames(name, duplicates) : [name];
      const state = await loadCreateState(rt.root, layout, host, {
        names,
        flavor,
        oneTimeSsh: v.ssh === true,
        fromArchive,
      });
      const req: CreateRequest = {
        name,
        ip4,
        ip6,
        nic: nicGiven ?? "",
        flavor,
        oneTimeSsh: v.ssh === true,
        imageMiB,
        ...(imageMiB !== undefined && rt.platform.name === "linux" ? { imageLinuxRoot: rt.root } : {}),
        duplicates,
        force: v.force === true,
        fromArchive,
      };
      // plan (a first pass settles every refusal the records can decide before the host is asked for its default interface)
      let plan = planCreate(state, req);
      if (nicGiven === undefined) {
        // The host config's jail_if, when the admin (or fw setup) wrote one, is where jails go; else the
        // backend's default (FreeBSD: the default route's interface, as qjail 5.x) — as fw setup and doctor assume.
        const hc = await readHostConfig(rt.root, hostLayout(), rt.platform.name, await hostFacts(inv.global));
        req.nic = hc.exists ? hc.config.jailIf : await rt.platform.defaultJailInterface();
        plan = planCreate(state, req);
      }
      // A backend refuses here what it could never start (Linux: -n names a NIC, or the address is the gateway).
      // (The first jail has the addresses as given; -d copies count up from them.)
      rt.platform.checkNewJail?.(
        names[0] as string,
        {
          ip4: formatAddressList(ip4),
          ip6: formatAddressList(ip6),
          interface: req.nic,
          imagetype: imageMiB === undefined ? "" : "simple",
        },
        layout,
      );
      if (inv.global.dryRun) {
        printPlan(inv, plan);
        return 0;
      }
      reportReconcile(inv, await rt.applyReconciled(plan));
      reportPlan(inv, plan);
      return 0;
    };
    return inv.global.dryRun ? work() : rt.locked(work);
  },
});

/**
 * The archive -a names (docs/qjail-5.md §4.2): `name@stamp.tar` in the archive
 * directory, or for a bare name its newest archive; -A takes the archive
 * directory of another zone ("nozone": the default one).
 */
async function findArchive(
  root: string,
  layout: HostLayout,
  arg: string,
  archiveZone: string | undefined,
): Promise<string> {
  let dirLayout = layout;
  if (archiveZone !== undefined) {
    dirLayout = archiveZone === "nozone" ? hostLayout() : hostLayout(validateZoneName(archiveZone));
    await assertZoneKnown(root, dirLayout);
  }
  const files = await listNames(root, dirLayout.archive);
  if (arg.includes("@")) {
    if (!files.includes(arg))
      throw new UsageError(
        "QJ1218",
        `Full archive file name not found. ${shown(`${dirLayout.archive}/${arg}`)}`,
        "List the archive directory for the exact name, or give just the jail name for its newest archive.",
      );
    return `${dirLayout.archive}/${arg}`;
  }
  const latest = latestArchive(files, arg);
  if (latest === undefined)
    throw new UsageError(
      "QJ1219",
      `No archive file found for ${shown(arg)} in ${dirLayout.archive}`,
      "Make one with 'qjail archive NAME', or use -A ZONE for another zone's archives.",
    );
  return `${dirLayout.archive}/${latest}`;
}
