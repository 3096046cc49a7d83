import { defineCommand, type Invocation } from "../command.js";
import { write } from "../context.js";
import { UsageError, shown } from "../../core/errors.js";
import { configureJails, editPackageList, readJailConfBlock } from "../../ops/config.js";
import {
  VNET_FIREWALLS,
  type ConfigChange,
  type FlagKey,
  type VnetFirewall,
} from "../../core/plan-config.js";
import {
  parseAddressList,
  parseInteger,
  parsePackageList,
  validateInterfaceName,
  validateJailName,
} from "../../core/validate.js";
import { printPlan, reportPlan, reportReconcile, zoneLayout } from "../jail-runtime.js";
import { RCTL_RESOURCES, parseLimitValue, type RctlResource } from "../../core/limits.js";

/** Boolean on/off pairs: short letter → record flag. */
const FLAG_OPTIONS: Record<string, { key: FlagKey; on: boolean }> = {
  "raw-sockets": { key: "rsockets", on: true },
  "no-raw-sockets": { key: "rsockets", on: false },
  sysvipc: { key: "sysvipc", on: true },
  "no-sysvipc": { key: "sysvipc", on: false },
  quotas: { key: "quotas", on: true },
  "no-quotas": { key: "quotas", on: false },
  nullfs: { key: "nullfs", on: true },
  "no-nullfs": { key: "nullfs", on: false },
  tmpfs: { key: "tmpfs", on: true },
  "no-tmpfs": { key: "tmpfs", on: false },
  zfs: { key: "zfs", on: true },
  "no-zfs": { key: "zfs", on: false },
};

/** Resource limits, one long option per rctl(8) resource: --memoryuse 512M, --maxproc default. */
const LIMIT_OPTIONS = new Set<string>(RCTL_RESOURCES);

/** Options that are not the "one option" of a call. */
const MODIFIERS = new Set(["zone", "all", "packages", "force"]);
/** Options that act on exactly one named jail (qjail: "requires a jailname", "-A is not valid"). */
const ONE_JAIL = new Set(["display", "rename", "ipv4", "ipv6", "packages-edit", "install-packages"]);

export const configCommand = defineCommand({
  path: ["config"],
  summary: "Change one jail.conf setting or the status of jails (qjail config).",
  usage: [
    "config [-z zone] [-A] -d|-h|-k|-K|-y|-Y|-q|-Q|-l|-L|-t|-T|-x|-X|-F|-S|-B|-r|-R|-m|-M|-P|-W|-V [jailname... | prefix=]",
    "config [-z zone] [-A] -c nic | -f fib | -s level | -b ruleset | -w nic | -v ipf|pf|ipfw|none [jailname... | prefix=]",
    "config [-z zone] [--force] -4 ips | -6 ips jailname",
    "config [-z zone] -n newname oldname",
    "config [-z zone] -p [--packages list] jailname",
    "config [-z zone] [-A] --memoryuse SIZE|--maxproc N|--pcpu PERCENT|--openfiles N|--shmsize SIZE [jailname... | prefix=]",
    "config [-z zone] [-A] --readbps RATE|--writebps RATE|--readiops N|--writeiops N [jailname... | prefix=]",
  ],

  details: `
Exactly one option per call (-z and -A do not count). -A applies it to every
jail of the zone and then no names may be given. Each change rewrites the
definition record (qjail.local and qjail.global) and regenerates the jail's
jail.conf block. Running jails are skipped ("Bypassed running jail NAME";
exit status 3, qjail 5.x exits 0).
A norun jail accepts only -r/-R and a manual jail only -m/-M.

  -d            print the jail's jail.conf block (one jail)
  -n NEW OLD    rename: tree, fstab line, records, jail.conf block, console
                log, exposures file and package list (NEW becomes the hostname)
  -4 / -6 LIST  replace the addresses (one jail; nic|ip entries allowed)
  -c NIC        alias interface (not on vnet jails)
  -h            one-time ssh: sshd on, user NAME/NAME created at first start
  -k/-K -y/-Y -q/-Q   allow.raw_sockets, allow.sysvipc, allow.quotas on/off
                on Linux -y gives the jail's root the host's SysV IPC objects, host
                root's included (its uid 0 is the host's): trusted jails only
  -l/-L -t/-T -x/-X   allow.mount.nullfs, .tmpfs, .zfs on/off (with
                enforce_statfs = "1" and allow.mount)
  -f N / -F     exec.fib N / off
  -s N / -S     securelevel N (-1 to 3) / the host's default
  -b N / -B     devfs_ruleset N / back to 4. N must be defined in the host's
                /etc/devfs.rules or be one of the defaults 1-5; -b 50 adds
                qjail's bpf ruleset [devfsrules_qjail_bpf=50] (jail rules plus
                bpf*) when it is missing and restarts devfs
  -r/-R -m/-M   norun status / manual-start status on/off
  -p            package list for -P: --packages a,b,c, or edit it in $EDITOR
  -P            install the package list into the running jail (pkg -j)
  -w NIC / -W   NIC to bridge a vnet jail to / off
  -v FW / -V    vnet with firewall ipf, pf, ipfw or none / off

Resource limits, named after rctl(8) resources; VALUE "unlimited" lifts one,
"default" goes back to the platform's default. On FreeBSD each set limit
becomes an rctl rule 'jail:NAME:RESOURCE:deny=VALUE' ('throttle=' for the
io rates) added at start and removed at stop (kern.racct.enable=1 in
/boot/loader.conf); unset means no rule. On Linux they are the jail's cgroup
and rlimits, and an unset one takes the default shown in brackets:
  --memoryuse SIZE  memory of the jail's processes, tmpfs included [half of RAM]
  --maxproc N       processes and threads [1024]
  --pcpu PERCENT    CPU time, 100 = one core [unlimited]
  --openfiles N     open files per process [unlimited: the host's limit]
  --shmsize SIZE    the jail's /dev/shm (Linux) [64M]
  --readbps RATE    bytes read per second, e.g. 10M [unlimited]
  --writebps RATE   bytes written per second [unlimited]
  --readiops N      read operations per second [unlimited]
  --writeiops N     write operations per second [unlimited]
On Linux the io rates throttle the block device holding the jail's tree (an
image jail's own loop device, see create -i); a start refuses them when the
tree is on no block device or the host has no io/blkio controller. With
cgroup v1 only direct and synchronous writes are throttled (buffered
writeback is not charged to the jail); cgroup v2 throttles writeback too.
'qjail status' shows each jail's limits and, while it runs, what it uses.

Differences from qjail 5.x, on purpose (its bugs): -s -1 is accepted (qjail's
digit check rejected the documented -1); -R on a jail that is not norun says
so instead of "Already set to norun status"; -v really clears the settings a
vnet jail cannot use (qjail's unset named the wrong variables); an address
another jail already has is refused unless --force; -h refuses image jails
(qjail edited the unmounted mount point); -P runs pkg non-interactively (-y);
rename also moves the package list and keeps the console log (qjail deleted
it); and the vnet jail.conf writes /etc/epair without qjail's nested,
unescaped quotes. -c and -w check the
interface name's form; whether the interface exists is checked when the jail
starts.`,
  examples: [
    {
      command: "qjail config -b 50 dhcpjail",
      description: "devfs ruleset 50 (bpf), adding it to /etc/devfs.rules if needed",
    },
    { command: "qjail config -n www2 www", description: "rename jail www to www2" },
    { command: "qjail config -A -k", description: "allow raw sockets (ping) in every jail" },
    { command: "qjail config -s -1 build", description: "securelevel -1 for jail build" },
  ],
  options: {
    zone: { type: "string", short: "z" },
    all: { type: "boolean", short: "A" },
    display: { type: "boolean", short: "d" },
    rename: { type: "string", short: "n" },
    ipv4: { type: "string", short: "4" },
    ipv6: { type: "string", short: "6" },
    nic: { type: "string", short: "c" },
    ssh: { type: "boolean", short: "h" },
    "raw-sockets": { type: "boolean", short: "k" },
    "no-raw-sockets": { type: "boolean", short: "K" },
    sysvipc: { type: "boolean", short: "y" },
    "no-sysvipc": { type: "boolean", short: "Y" },
    quotas: { type: "boolean", short: "q" },
    "no-quotas": { type: "boolean", short: "Q" },
    nullfs: { type: "boolean", short: "l" },
    "no-nullfs": { type: "boolean", short: "L" },
    tmpfs: { type: "boolean", short: "t" },
    "no-tmpfs": { type: "boolean", short: "T" },
    zfs: { type: "boolean", short: "x" },
    "no-zfs": { type: "boolean", short: "X" },
    fib: { type: "string", short: "f" },
    "no-fib": { type: "boolean", short: "F" },
    securelevel: { type: "string", short: "s" },
    "no-securelevel": { type: "boolean", short: "S" },
    ruleset: { type: "string", short: "b" },
    "no-ruleset": { type: "boolean", short: "B" },
    norun: { type: "boolean", short: "r" },
    "no-norun": { type: "boolean", short: "R" },
    manual: { type: "boolean", short: "m" },
    "no-manual": { type: "boolean", short: "M" },
    "packages-edit": { type: "boolean", short: "p" },
    packages: { type: "string" },
    "install-packages": { type: "boolean", short: "P" },
    "vnet-interface": { type: "string", short: "w" },
    "no-vnet-interface": { type: "boolean", short: "W" },
    vnet: { type: "string", short: "v" },
    "no-vnet": { type: "boolean", short: "V" },
    force: { type: "boolean" },
    memoryuse: { type: "string" },
    maxproc: { type: "string" },
    pcpu: { type: "string" },
    openfiles: { type: "string" },
    shmsize: { type: "string" },
    readbps: { type: "string" },
    writebps: { type: "string" },
    readiops: { type: "string" },
    writeiops: { type: "string" },
  },
  json: false,
  mutates: (v) => v.display !== true,
  async run(inv) {
    const { values: v, ctx, global } = inv;
    const layout = zoneLayout(v.zone);
    const { option, all, names } = chosenOption(v, inv.positionals);
    const change = parseChange(option, v);
    if (change === "display") {
      write(ctx.stdout, await readJailConfBlock(global.root, layout, names));
      return 0;
    }
    if (change.kind === "packages" && v.packages === undefined) {
      const name = names[0] as string;
      const editor = ctx.env.EDITOR ?? "vi";
      const file = `${layout.packages}/${name}`;
      const code = await editPackageList(global, {
        layout,
        name,
        editor,
        terminal: ctx.isTTY,
        dryRun: global.dryRun,
      });
      if (code === undefined) write(ctx.stdout, `# edit ${file}\n${editor} ${file}`);
      return code ?? 0;
    }
    const { plan, reconciled } = await configureJails(
      global,
      { stderr: ctx.stderr, env: ctx.env },
      { layout, all, names, change, force: v.force === true, dryRun: global.dryRun },
    );
    if (global.dryRun) {
      printPlan(inv, plan);
      return 0;
    }
    if (reconciled) reportReconcile(inv, reconciled);
    return reportPlan(inv, plan);
  },
});

/** The one option of this call and the jails it names, refused when the combination is not valid. */
function chosenOption(
  v: Invocation["values"],
  names: readonly string[],
): { option: string; all: boolean; names: readonly string[] } {
  if (v.packages !== undefined && v["packages-edit"] !== true)
    throw new UsageError(
      "QJ1332",
      "--packages only goes with -p",
      "Use 'qjail config -p --packages a,b NAME'.",
    );
  const chosen = Object.keys(v).filter((k) => !MODIFIERS.has(k) && v[k] !== undefined && v[k] !== false);
  if (chosen.length === 0)
    throw new UsageError(
      "QJ1330",
      "No options coded",
      "Give exactly one option; 'qjail help config' lists them.",
    );
  if (chosen.length > 1) {
    throw new UsageError(
      "QJ1331",
      `Only 1 option allowed at a time, got ${chosen.map((k) => shown(optionLabel(k))).join(", ")}`,
      "Run qjail config once per option.",
    );
  }
  const option = chosen[0] as string;
  const all = v.all === true;
  if (option === "rename" && names.length !== 1)
    throw new UsageError(
      "QJ1333",
      `-n ${shown(String(v.rename))} needs exactly one old jail name, got ${names.length}`,
      "Syntax: qjail config -n NEWNAME OLDNAME",
    );
  if (all && names.length > 0)
    throw new UsageError("QJ1334", "-A cannot be combined with jail names", "Give either -A or the names.");
  if (all && ONE_JAIL.has(option))
    throw new UsageError(
      "QJ1335",
      `Option -A is not valid with ${optionLabel(option)}`,
      `${optionLabel(option)} acts on one named jail.`,
    );
  if (!all && names.length === 0)
    throw new UsageError(
      "QJ1336",
      "jailname is required unless -A is coded",
      "Name the jail(s), give a prefix like 'web=', or add -A.",
    );
  if (ONE_JAIL.has(option) && (names.length !== 1 || (names[0] as string).endsWith("="))) {
    throw new UsageError(
      "QJ1337",
      `${optionLabel(option)} takes exactly one jail name, got ${names.map((n) => shown(n)).join(" ")}`,
      "Give one jail name (no prefix=).",
    );
  }
  return { option, all, names };
}

function optionLabel(key: string): string {
  const spec = configCommand.options[key];
  return spec?.short ? `-${spec.short}` : `--${key}`;
}

/** The one option, validated, as a planner change ("display" is handled by the command itself). */
function parseChange(option: string, v: Invocation["values"]): ConfigChange | "display" {
  const str = (k: string): string => String(v[k]);
  const flag = FLAG_OPTIONS[option];
  if (flag) return { kind: "flag", key: flag.key, on: flag.on };
  if (LIMIT_OPTIONS.has(option)) {
    const resource = option as RctlResource;
    const text = str(option);
    return {
      kind: "rctl",
      resource,
      value: text.trim().toLowerCase() === "default" ? undefined : parseLimitValue(resource, text),
    };
  }
  switch (option) {
    case "display":
      return "display";
    case "rename":
      return { kind: "rename", newName: validateJailName(str("rename")) };
    case "ipv4":
      return { kind: "ip4", list: parseAddressList(str("ipv4"), 4) };
    case "ipv6":
      return { kind: "ip6", list: parseAddressList(str("ipv6"), 6) };
    case "nic":
      return { kind: "nic", nic: validateInterfaceName(str("nic")) };
    case "ssh":
      return { kind: "ssh" };
    case "fib":
      return { kind: "fib", value: parseInteger(str("fib"), "-f fib number", 0, 65535, "QJ1339") };
    case "no-fib":
      return { kind: "fib", value: undefined };
    case "securelevel":
      return {
        kind: "securelevel",
        value: parseInteger(str("securelevel"), "-s securelevel", -1, 3, "QJ1340"),
      };
    case "no-securelevel":
      return { kind: "securelevel", value: undefined };
    case "ruleset":
      return {
        kind: "ruleset",
        value: parseInteger(str("ruleset"), "-b devfs ruleset number", 1, 65535, "QJ1341"),
      };
    case "no-ruleset":
      return { kind: "ruleset", value: undefined };
    case "norun":
    case "no-norun":
      return { kind: "status", status: "norun", on: option === "norun" };
    case "manual":
    case "no-manual":
      return { kind: "status", status: "man", on: option === "manual" };
    case "packages-edit":
      return { kind: "packages", list: v.packages === undefined ? [] : parsePackageList(str("packages")) };
    case "install-packages":
      return { kind: "installPackages" };
    case "vnet-interface":
      return { kind: "vinterface", nic: validateInterfaceName(str("vnet-interface")) };
    case "no-vnet-interface":
      return { kind: "vinterface", nic: undefined };
    case "vnet": {
      const fw = str("vnet");
      if (!(VNET_FIREWALLS as readonly string[]).includes(fw)) {
        throw new UsageError(
          "QJ1342",
          `invalid -v firewall ${shown(fw)}`,
          "Valid -v values are ipf, pf, ipfw, and none.",
        );
      }
      return { kind: "vnet", firewall: fw as VnetFirewall };
    }
    case "no-vnet":
      return { kind: "vnet", firewall: undefined };
  }
  throw new Error(`internal: config option ${option} has no handler`);
}
