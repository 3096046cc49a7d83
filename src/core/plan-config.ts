import { showLimit, withLimit, type LimitValue, type RctlResource } from "./limits.js";
import { UsageError, shown } from "./errors.js";
import type { Plan, Step } from "./plan.js";
import { consoleLogPath, jailConfPath, jailFstabPath, jailMacPath, jailRootPath } from "./paths.js";
import { renderFstab } from "./fstab.js";
import { parseVnetField, renderJailConf, VNET_FIREWALL_SCRIPTS } from "./jailconf.js";
import {
  addressClashes,
  assertOwnPaths,
  isImageJail,
  recordPaths,
  removeRecordSteps,
  stagedPlan,
  writeRecordSteps,
  type HostState,
} from "./jail.js";
import { RECORD_FLAG_VALUES, type JailRecord, type JailStatus } from "./record.js";
import { formatAddressList, validateJailName, MAX_VNET_NAME_LENGTH, type JailAddress } from "./validate.js";
import { oneTimeSshSteps, type SshBase } from "./plan-create.js";
import type { JailSpec } from "./jail.js";
import { FREEBSD } from "./freebsd/programs.js";

/**
 * `qjail config` (docs/qjail-5.md §4.9): one option, applied to each selected
 * jail. Every change rewrites the definition record (local + global) and
 * regenerates the jail.conf block from it. Pure: the command parsed and
 * validated the option's value and read the state.
 */

export type FlagKey = "rsockets" | "sysvipc" | "quotas" | "nullfs" | "tmpfs" | "zfs";
export type VnetFirewall = "ipf" | "pf" | "ipfw" | "none";
export const VNET_FIREWALLS: readonly VnetFirewall[] = ["ipf", "pf", "ipfw", "none"];

export type ConfigChange =
  | { kind: "rename"; newName: string }
  | { kind: "ip4"; list: JailAddress[] }
  | { kind: "ip6"; list: JailAddress[] }
  | { kind: "nic"; nic: string }
  | { kind: "ssh" }
  | { kind: "flag"; key: FlagKey; on: boolean }
  | { kind: "fib"; value: number | undefined }
  | { kind: "securelevel"; value: number | undefined }
  | { kind: "ruleset"; value: number | undefined }
  | { kind: "status"; status: "norun" | "man"; on: boolean }
  | { kind: "packages"; list: string[] }
  | { kind: "installPackages" }
  | { kind: "vinterface"; nic: string | undefined }
  | { kind: "vnet"; firewall: VnetFirewall | undefined }
  /** A resource limit (rctl name); undefined: back to the platform's default. */
  | { kind: "rctl"; resource: RctlResource; value: LimitValue | undefined };

export interface ConfigState extends HostState {
  /** /etc/devfs.rules under the root, undefined when absent. */
  devfsRules: string | undefined;
  /** The number in qjail.vnetctl (0 when absent). */
  vnetCount: number;
  /** Jails that have an exposures file (renamed with the jail). */
  exposures: ReadonlySet<string>;
  /** Package lists from qjail.packages, by jail. */
  packages: ReadonlyMap<string, string[]>;
  /** Jails whose console log (/var/log/qjail.NAME.console.log) exists: rename keeps it under the new name. */
  consoleLogs?: ReadonlySet<string>;
  /** Jails with a MAC file (src/core/paths.ts jailMacPath): rename moves it, so the jail keeps its MAC. */
  macs?: ReadonlySet<string>;
  /** For -h: each jail's etc/rc.conf and etc/ssh/sshd_config text, so the lines are added once. */
  sshBase?: ReadonlyMap<string, SshBase>;
  /** For -n: which of the old and new roots (and image files) exist, so a rename killed half-way can be run again. */
  present?: ReadonlySet<string>;
}

export interface ConfigRequest {
  change: ConfigChange;
  /** FreeBSD hosts get the kldload / devfs restart steps; other backends apply these settings their own way. */
  freebsd: boolean;
  /** --force: accept an address another jail already has. */
  force: boolean;
}

/** devfs rulesets every FreeBSD host has from /etc/defaults/devfs.rules. */
export const DEFAULT_DEVFS_RULESETS = [1, 2, 3, 4, 5] as const;
/** The bpf ruleset qjail's examples ship (devfsrules_qjail_bpf50), added on first use of `config -b 50`. */
export const BPF_RULESET = 50;
export const BPF_RULESET_TEXT = [
  "[devfsrules_qjail_bpf=50]",
  "add include $devfsrules_jail",
  "add path 'bpf*' unhide",
  "",
].join("\n");

const VNET_RULESETS: Partial<Record<VnetFirewall, { number: number; text: string }>> = {
  ipf: {
    number: 60,
    text: [
      "[devfsrules_vjail_ipf=60]",
      "add include $devfsrules_jail",
      "add path 'ipl' unhide",
      "add path 'ipnat' unhide",
      "add path 'ipstate' unhide",
      "add path 'ipauth' unhide",
      "add path 'iplookup' unhide",
      "add path 'bpf*' unhide",
      "",
    ].join("\n"),
  },
  pf: {
    number: 70,
    text: [
      "[devfsrules_vjail_pf=70]",
      "add include $devfsrules_jail",
      "add path 'pf' unhide",
      "add path 'pflog' unhide",
      "add path 'bpf*' unhide",
      "",
    ].join("\n"),
  },
};

/** Ruleset numbers opened by `[name=N]` headers in a devfs.rules(5) text, plus the defaults. */
export function devfsRulesetNumbers(text: string | undefined): Set<number> {
  const out = new Set<number>(DEFAULT_DEVFS_RULESETS);
  for (const raw of (text ?? "").split("\n")) {
    const m = /^\s*\[\s*[A-Za-z0-9_.-]+\s*=\s*([0-9]+)\s*\]/.exec(raw.replace(/#.*$/, ""));
    if (m) out.add(Number(m[1]));
  }
  return out;
}

/** Options that change nothing in the jail's definition but its status may be used on norun/man jails. */
function allowedOnStatus(change: ConfigChange, status: JailStatus): boolean {
  if (status === "normal") return true;
  return change.kind === "status" && change.status === status;
}

export function planConfig(state: ConfigState, selected: readonly JailSpec[], req: ConfigRequest): Plan {
  const { change } = req;
  const prepare: Step[] = [];
  const commit: Step[] = [];
  const finish: Step[] = [];
  const messages: string[] = [];
  const warnings: string[] = [];
  const hostSteps: Step[] = [];
  let vnetCount = state.vnetCount;
  let devfsRules = state.devfsRules;

  for (const jail of selected) {
    const running = state.live.has(jail.name);
    if (change.kind === "installPackages") {
      if (!running) {
        messages.push(
          `Bypassed stopped jail ${jail.name}: -P installs packages into a running jail; start it first`,
        );
        continue;
      }
      prepare.push(...installPackageSteps(state, jail));
      continue;
    }
    if (running) {
      messages.push(`Bypassed running jail ${jail.name}`);
      continue;
    }
    if (!allowedOnStatus(change, jail.status)) {
      if (change.kind === "status" && !change.on && change.status !== jail.status) {
        messages.push(`Not in ${change.status} status ${jail.name}`);
        continue;
      }
      // One named jail: refuse. Several (-A, prefix=): carry on with the others, as qjail does.
      if (selected.length > 1) {
        messages.push(
          `Bypassed ${jail.status} status ${jail.name}: it only accepts -${jail.status === "norun" ? "r/-R" : "m/-M"}`,
        );
        continue;
      }
      throw new UsageError(
        "QJ1301",
        `jail ${shown(jail.name)} is in ${jail.status} status; it only accepts -${jail.status === "norun" ? "r/-R" : "m/-M"}`,
        `Clear the status first: qjail config -${jail.status === "norun" ? "R" : "M"} ${jail.name}`,
      );
    }
    if (record0IsVnet(jail) && NOT_ON_VNET.has(change.kind)) {
      messages.push(`Error: This config change not allowed on vnet Jail. ${jail.name}`);
      continue;
    }
    const record: JailRecord = { ...jail.record };
    let status: JailStatus = jail.status;
    const extra: Step[] = [];
    let what: string;
    switch (change.kind) {
      case "rename": {
        const r = renameSteps(state, jail, change.newName);
        prepare.push(...r.prepare);
        commit.push(...r.commit);
        finish.push(...r.finish);
        messages.push(`Successfully renamed  ${jail.name} to ${change.newName}`);
        continue;
      }
      case "ip4":
      case "ip6": {
        for (const c of addressClashes(
          state,
          change.list.map((a) => a.address),
          [jail.name],
        )) {
          if (!req.force) {
            throw new UsageError(
              "QJ1302",
              `address ${shown(c.address)} is already assigned to jail ${shown(c.jail)}`,
              "Give another address, or add --force if both jails really share it.",
            );
          }
          warnings.push(`Existing jail ${c.jail} is already assigned IP address ${c.address}`);
        }
        record[change.kind] = formatAddressList(change.list);
        what = `${change.kind} ${record[change.kind] || "none"}`;
        break;
      }
      case "nic":
        record.interface = change.nic;
        what = `interface ${change.nic}`;
        break;
      case "ssh":
        if (isImageJail(record)) {
          // qjail writes these files after unmounting the image, so they miss it (docs/qjail-5.md §5.3).
          throw new UsageError(
            "QJ1304",
            `-h cannot edit image jail ${shown(jail.name)} while its image is not mounted`,
            "Start it, edit /etc/rc.conf and /etc/ssh/sshd_config inside with 'qjail console', or use a directory jail.",
          );
        }
        if (record.poststartssh !== "") {
          messages.push(`One-time ssh already set ${jail.name}`);
          continue;
        }
        extra.push(...oneTimeSshSteps(jail.rootPath, state.sshBase?.get(jail.name)));
        record.poststartssh = RECORD_FLAG_VALUES.poststartssh;
        what = "one-time ssh";
        break;
      case "flag":
        record[change.key] = change.on ? RECORD_FLAG_VALUES[change.key] : "";
        if (change.key === "tmpfs" && change.on && req.freebsd)
          extra.push({
            kind: "run",
            argv: ["/sbin/kldload", "-n", "tmpfs"],
            why: "jail(8) needs tmpfs.ko to allow tmpfs mounts",
          });
        what = `${RECORD_FLAG_VALUES[change.key]} ${change.on ? "on" : "off"}`;
        break;
      case "rctl":
        record.rctl = withLimit(record.rctl, change.resource, change.value);
        what = `${change.resource} ${change.value === undefined ? "default" : showLimit(change.resource, change.value)}`;
        break;
      case "fib":
        record.fib = change.value === undefined ? "" : String(change.value);
        what = `exec.fib ${record.fib || "off"}`;
        break;
      case "securelevel":
        record.securelevel = change.value === undefined ? "" : String(change.value);
        what = `securelevel ${record.securelevel || "host default"}`;
        break;
      case "ruleset": {
        if (change.value !== undefined) {
          const defined = devfsRulesetNumbers(devfsRules);
          if (!defined.has(change.value)) {
            if (change.value !== BPF_RULESET) {
              throw new UsageError(
                "QJ1305",
                `devfs.rules # ${change.value} does not exist`,
                `It must first be defined in the host's /etc/devfs.rules: add a '[devfsrules_NAME=${change.value}]' section with its rules, run 'service devfs restart', then run this again.`,
              );
            }
            devfsRules = appendRuleset(hostSteps, state, devfsRules, BPF_RULESET_TEXT, req.freebsd);
          }
        }
        record.ruleset = change.value === undefined ? "" : String(change.value);
        what = `devfs_ruleset ${record.ruleset || "4"}`;
        break;
      }
      case "status":
        if (change.on && jail.status === change.status) {
          messages.push(`Already set to ${change.status} status ${jail.name}`);
          continue;
        }
        // qjail 5.0 answers -R on a normal jail with "Already set to norun status" (§7).
        if (!change.on && jail.status !== change.status) {
          messages.push(`Not in ${change.status} status ${jail.name}`);
          continue;
        }
        status = change.on ? change.status : "normal";
        what = change.on ? `${change.status} status` : "normal status";
        break;
      case "packages":
        commit.push({
          kind: "writeFile",
          path: `${state.layout.packages}/${jail.name}`,
          content: change.list.map((p) => `${p}\n`).join(""),
          mode: 0o644,
        });
        messages.push(`Successfully configured  ${jail.name}: packages ${change.list.join(" ") || "none"}`);
        continue;
      case "vinterface":
        if (change.nic !== undefined && isImageJail(record)) {
          throw new UsageError(
            "QJ1306",
            `image jail ${shown(jail.name)} cannot be a vnet jail`,
            "Use a directory jail for vnet.",
          );
        }
        record.vinterface = change.nic ?? "";
        what = `vnet interface ${record.vinterface || "off"}`;
        break;
      case "vnet": {
        if (change.firewall === undefined) {
          // -V (qjail 5.x): vnet off. -v cleared the addresses and the
          // interface, which the record does not keep, so the jail has none
          // until -4/-6 and -c give them back (as in qjail 5.x, where -4 and
          // -c are refused on a vnet jail). The devfs ruleset -v chose for the
          // vnet firewall (60, 70: /dev/ipl, /dev/pf) goes back to 4.
          const fw = parseVnetField(record.vnet)?.firewall as VnetFirewall | undefined;
          const vnetRuleset = fw ? VNET_RULESETS[fw]?.number : undefined;
          record.vnet = "";
          if (vnetRuleset !== undefined && record.ruleset === String(vnetRuleset)) record.ruleset = "";
          what = "vnet off";
          if (record.ip4 === "" && record.ip6 === "")
            warnings.push(
              `jail ${shown(jail.name)} has no address now: give it one with 'qjail config -4 ADDR ${jail.name}'${record.interface === "" ? ` and its interface with 'qjail config -c NIC ${jail.name}'` : ""}`,
            );
          break;
        }
        if (record.vnet !== "") {
          messages.push(`Already a vnet jail ${jail.name}`);
          continue;
        }
        if (isImageJail(record))
          throw new UsageError(
            "QJ1306",
            `image jail ${shown(jail.name)} cannot be a vnet jail`,
            "Use a directory jail for vnet.",
          );
        if (jail.name.length > MAX_VNET_NAME_LENGTH) {
          throw new UsageError(
            "QJ1307",
            `jail name ${shown(jail.name)} is longer than ${MAX_VNET_NAME_LENGTH} characters, too long for a vnet jail`,
            `Rename it first: qjail config -n SHORTNAME ${jail.name}`,
          );
        }
        if (record.vinterface === "") {
          throw new UsageError(
            "QJ1308",
            `jail ${shown(jail.name)} has no vnet interface`,
            `Set the host NIC to bridge first: qjail config -w em0 ${jail.name}`,
          );
        }
        if (vnetCount >= 254)
          throw new UsageError(
            "QJ1309",
            `no vnet number left: qjail.vnetctl is at ${vnetCount} (maximum 254)`,
            "Delete unused vnet jails; numbers are not reused until 'qjail delete -A'.",
          );
        vnetCount++;
        record.vnet = `be|${change.firewall}|${vnetCount}`;
        // A vnet jail has its own stack: no aliases, and none of the settings
        // qjail 5.0 meant to clear here (its unset used the wrong names, §7).
        for (const k of [
          "interface",
          "ip4",
          "ip6",
          "securelevel",
          "cpuset",
          "fib",
          "rsockets",
          "quotas",
          "nullfs",
          "zfs",
          "tmpfs",
          "sysvipc",
          "poststartssh",
        ] as const)
          record[k] = "";
        extra.push(...vnetFirewallSteps(jail.rootPath, change.firewall));
        const rs = VNET_RULESETS[change.firewall];
        if (rs) {
          if (!devfsRulesetNumbers(devfsRules).has(rs.number))
            devfsRules = appendRuleset(hostSteps, state, devfsRules, rs.text, req.freebsd);
          record.ruleset = String(rs.number);
        }
        what = `vnet ${record.vnet}`;
        break;
      }
    }
    prepare.push(...extra);
    commit.push({
      kind: "writeFile",
      path: jailConfPath(state.layout, jail.name),
      content: renderJailConf(record),
      mode: 0o644,
    });
    const spec = { name: jail.name, status, layout: jail.layout, record };
    commit.push(...writeRecordSteps(spec));
    if (status !== jail.status) commit.push(...removeRecordSteps(jail));
    messages.push(`Successfully configured  ${jail.name}: ${what}`);
  }
  if (vnetCount !== state.vnetCount)
    commit.push({
      kind: "writeFile",
      path: state.layout.vnetctl,
      content: `count="${vnetCount}"\n`,
      mode: 0o644,
    });
  return stagedPlan(
    `config ${describe(change)}`,
    { prepare: [...hostSteps, ...prepare], commit, finish },
    { messages, warnings },
  );
}

/** Options qjail 5.0 refuses on vnet jails ("This config change not allowed on vnet Jail"). */
const NOT_ON_VNET = new Set<ConfigChange["kind"]>(["nic", "ssh", "flag", "fib", "securelevel", "ip4", "ip6"]);
function record0IsVnet(jail: JailSpec): boolean {
  return jail.record.vnet !== "";
}

function describe(c: ConfigChange): string {
  return c.kind === "flag" ? `${c.key} ${c.on ? "on" : "off"}` : c.kind;
}

/** Append a ruleset to /etc/devfs.rules and make devfs load it; returns the new text. */
function appendRuleset(
  hostSteps: Step[],
  state: ConfigState,
  current: string | undefined,
  text: string,
  freebsd: boolean,
): string {
  const sep = current === undefined || current === "" || current.endsWith("\n") ? "" : "\n";
  hostSteps.push(
    {
      kind: "mkdir",
      path: state.layout.devfsRules.slice(0, state.layout.devfsRules.lastIndexOf("/")) || "/",
    },
    { kind: "appendFile", path: state.layout.devfsRules, content: `${sep}${text}`, mode: 0o644 },
  );
  if (freebsd)
    hostSteps.push({
      kind: "run",
      argv: ["/usr/sbin/service", "devfs", "restart"],
      why: "load the new devfs ruleset",
    });
  return `${current ?? ""}${sep}${text}`;
}

/** rc.conf settings and rules scripts inside a vnet jail (docs/qjail-5.md §5.4); our own permissive starting rules. */
function vnetFirewallSteps(root: string, fw: VnetFirewall): Step[] {
  const rc = (lines: string[]): Step => ({
    kind: "appendFile",
    path: `${root}/etc/rc.conf`,
    content: lines.map((l) => `${l}\n`).join(""),
    inJail: root,
  });
  const file = (path: string, lines: string[], mode = 0o644): Step => ({
    kind: "writeFile",
    path: `${root}${path}`,
    content: lines.map((l) => `${l}\n`).join(""),
    mode,
    inJail: root,
  });
  const script = VNET_FIREWALL_SCRIPTS[fw];
  switch (fw) {
    case "ipfw":
      return [
        rc(['firewall_enable="YES"', 'firewall_logging="YES"', `firewall_script="${script}"`]),
        file(
          script as string,
          [
            "#!/bin/sh",
            "# vnet jail rules: edit to taste; run by exec.start and by rc.d/ipfw.",
            "/sbin/ipfw -q -f flush",
            "/sbin/ipfw -q add 65000 allow ip from any to any",
          ],
          0o755,
        ),
      ];
    case "pf":
      return [
        rc(['pf_enable="YES"', 'pflog_enable="YES"', 'pf_rules="/etc/pf.vnet.conf"']),
        file("/etc/pf.vnet.conf", ["# vnet jail pf rules: edit to taste.", "pass all"]),
        file(
          script as string,
          ["#!/bin/sh", "/sbin/pfctl -e 2>/dev/null", "/sbin/pfctl -f /etc/pf.vnet.conf"],
          0o755,
        ),
      ];
    case "ipf":
      return [
        rc([
          'ipfilter_enable="YES"',
          'ipmon_enable="YES"',
          'ipmon_flags="-D"',
          'ipfilter_rules="/etc/ipf.vnet.boot.rules"',
        ]),
        file("/etc/ipf.vnet.boot.rules", [
          "# vnet jail ipf rules: edit to taste.",
          "pass in all",
          "pass out all",
        ]),
        file(
          script as string,
          ["#!/bin/sh", "/sbin/ipf -E", "/sbin/ipf -Fa -f /etc/ipf.vnet.boot.rules"],
          0o755,
        ),
        { kind: "mkdir", path: `${root}/var/log`, inJail: root },
        { kind: "appendFile", path: `${root}/var/log/ipfilter.log`, content: "", inJail: root },
      ];
    case "none":
      return [];
  }
}

function installPackageSteps(state: ConfigState, jail: JailSpec): Step[] {
  const list = state.packages.get(jail.name) ?? [];
  if (list.length === 0) {
    throw new UsageError(
      "QJ1310",
      `jail ${shown(jail.name)} has no package list`,
      `Write one first: qjail config -p --packages nginx,curl ${jail.name}`,
    );
  }
  const jid = String(state.live.get(jail.name)?.jid ?? "");
  return list.map((p) => ({ kind: "run" as const, argv: [FREEBSD.pkg, "-j", jid, "install", "-y", p] }));
}

/**
 * Rename (config -n): the tree moves first (no listing shows it), then one
 * commit writes the new control files and records and removes the old ones;
 * the console log follows.
 */
function renameSteps(
  state: ConfigState,
  jail: JailSpec,
  newName: string,
): { prepare: Step[]; commit: Step[]; finish: Step[] } {
  validateJailName(newName, { vnet: jail.record.vnet !== "" });
  assertOwnPaths(jail);
  if (state.global.some((g) => g.name === newName)) {
    throw new UsageError("QJ1311", `Jailname already exists. ${shown(newName)}`, "Pick another new name.");
  }
  const layout = jail.layout;
  const newRoot = jailRootPath(layout, newName);
  const record: JailRecord = {
    ...jail.record,
    name: newName,
    path: newRoot,
    fstab: jailFstabPath(layout, newName),
  };
  const oldThere = state.present?.has(jail.rootPath) ?? true;
  const newThere = state.present?.has(newRoot) ?? false;
  if (oldThere && newThere) {
    throw new UsageError(
      "QJ1312",
      `cannot rename ${shown(jail.name)}: ${shown(newRoot)} already exists`,
      `Move or remove ${newRoot} first; no jail record names it.`,
    );
  }
  // With the old tree gone and the new one there, an earlier rename was killed after moving it: carry on from there.
  const prepare: Step[] = oldThere ? [{ kind: "rename", from: jail.rootPath, to: newRoot }] : [];
  if (isImageJail(jail.record)) {
    record.image = `${newRoot}/${newName}.img`;
    if (oldThere || state.present?.has(`${newRoot}/${jail.name}.img`))
      prepare.push({
        kind: "rename",
        from: `${newRoot}/${jail.name}.img`,
        to: record.image,
        inJail: newRoot,
      });
  }
  const commit: Step[] = [
    { kind: "writeFile", path: record.fstab, content: renderFstab(layout, newRoot), mode: 0o644 },
    { kind: "writeFile", path: jailConfPath(layout, newName), content: renderJailConf(record), mode: 0o644 },
    ...writeRecordSteps({ name: newName, status: "normal", layout, record }),
  ];
  if (state.exposures.has(jail.name))
    commit.push({
      kind: "rename",
      from: `${layout.exposures}/${jail.name}`,
      to: `${layout.exposures}/${newName}`,
    });
  if (state.packages.has(jail.name))
    commit.push({
      kind: "rename",
      from: `${layout.packages}/${jail.name}`,
      to: `${layout.packages}/${newName}`,
    });
  if (state.macs?.has(jail.name))
    commit.push({ kind: "rename", from: jailMacPath(layout, jail.name), to: jailMacPath(layout, newName) });
  const oldRecords = recordPaths(jail);
  commit.push(
    { kind: "remove", path: oldRecords.local },
    { kind: "remove", path: oldRecords.global },
    { kind: "remove", path: jail.fstabPath },
    { kind: "remove", path: jailConfPath(layout, jail.name) },
  );
  // qjail 5.0 deletes the old console log; keeping it under the new name keeps the jail's history.
  const finish: Step[] = state.consoleLogs?.has(jail.name)
    ? [{ kind: "rename", from: consoleLogPath(jail.name), to: consoleLogPath(newName) }]
    : [];
  return { prepare, commit, finish };
}
