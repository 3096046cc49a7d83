import { UsageError, shown } from "./errors.js";
import type { JailRecord } from "./record.js";
import { consoleLogPath } from "./paths.js";

/**
 * The per-jail jail.conf(5) block qjail keeps in qjail.config/<jail>
 * (docs/qjail-5.md §2.2), rebuilt from the definition record on every change and
 * used by start/stop with `jail -f`. The text is byte-compatible with qjail
 * 5.0's output, including the space after the opening brace, the
 * `name = value` column at 20 characters and the seven spaces inside the
 * one-time ssh command, so blocks written by qjail and by us compare equal
 * and Bastille's import of qjail archives keeps working.
 *
 * Partner functions: {@link renderJailConf} writes, {@link parseJailConf} reads.
 */

/** `key<pad to 20>=  value;` — qjail's column layout. */
function setting(key: string, value: string): string {
  return `${key.padEnd(20)}=  ${value};`;
}
const quoted = (v: string): string => `"${v}"`;

/** Kernel modules a vnet jail's own firewall needs (qjail.vnet.be loaded them). */
const VNET_FIREWALL_MODULES: Readonly<Record<string, string[]>> = {
  ipf: ["ipl"],
  pf: ["pf", "pflog"],
  ipfw: ["ipfw"],
};

/** The rules script a vnet jail runs after /etc/rc, per firewall (docs/qjail-5.md §5.4). */
export const VNET_FIREWALL_SCRIPTS: Readonly<Record<string, string>> = {
  ipf: "/etc/ipf.vnet.run.rules",
  pf: "/etc/pf.vnet.rules.script",
  ipfw: "/etc/ipfw.vnet.rules",
};

export interface VnetSetting {
  network: string;
  firewall: string;
  id: number;
}

/** Split a record's `vnet="be|<fw>|<id>"`; undefined when vnet is off. */
export function parseVnetField(vnet: string): VnetSetting | undefined {
  if (vnet === "") return undefined;
  const [network = "", firewall = "", id = ""] = vnet.split("|");
  return { network, firewall, id: /^[0-9]+$/.test(id) ? Number(id) : 0 };
}

/**
 * The vnet part of a block. qjail 5.0 called /usr/local/bin/qjail.vnet.be
 * from exec.prestart and exec.poststop, but no qjail port ever installed it
 * (and jail(8) refuses to create a jail whose exec.prestart fails), so
 * its few commands are written here instead, with absolute paths; jail(8)
 * runs a command with shell characters through sh -c.
 *
 * Before the jail: bridge0 (created and joined to the vinterface NIC when
 * it does not exist), the host's gateway address 10.N.0.1/24 on the bridge
 * (bridge(4): addresses go on the bridge, not a member; qjail.vnet.be put
 * it on the NIC), the epair's host side up in the bridge, the firewall's
 * modules, and IPv4 forwarding. Inside: lo0, 10.N.0.2/24 (with a mask: a
 * bare address is deprecated and means /8), the default route, rc, the
 * firewall script. After: the epair destroyed, the gateway address
 * removed; bridge0 stays for other vnet jails. Unlike qjail 5.0 the block
 * has exec.stop, so rc.shutdown stops the jail's services cleanly.
 */
function vnetLines(nic: string, vnet: VnetSetting): string[] {
  const ifconfig = "/sbin/ifconfig";
  const epair = `epair${vnet.id}`;
  const gw = `10.${vnet.id}.0.1`;
  // Each step is safe to repeat after a start or stop that did not finish:
  // what exists already is kept (ifconfig refuses to create it twice).
  const prestart = [
    `${ifconfig} bridge0 >/dev/null 2>&1 || { ${ifconfig} bridge0 create && ${ifconfig} bridge0 addm ${nic} up; }`,
    `${ifconfig} bridge0 inet | /usr/bin/grep -qw ${gw} || ${ifconfig} bridge0 inet ${gw}/24 alias`,
    `${ifconfig} ${epair}a >/dev/null 2>&1 || { ${ifconfig} ${epair} create && ${ifconfig} bridge0 addm ${epair}a; }`,
    `${ifconfig} ${epair}a up`,
    ...(VNET_FIREWALL_MODULES[vnet.firewall] ?? []).map((m) => `/sbin/kldload -n ${m}`),
    "/sbin/sysctl net.inet.ip.forwarding=1",
  ];
  const start = [
    "ifconfig lo0 127.0.0.1 up",
    `ifconfig ${epair}b 10.${vnet.id}.0.2/24`,
    `route add default ${gw}`,
    // qjail 5.0 nests unescaped double quotes here, which ends the string early.
    `/bin/echo ${epair}b > /etc/epair`,
    "/bin/sh /etc/rc",
  ];
  const script = VNET_FIREWALL_SCRIPTS[vnet.firewall];
  if (script !== undefined) start.push(`/bin/sh ${script}`);
  const poststop = [`${ifconfig} ${epair}a destroy`, `${ifconfig} bridge0 inet ${gw} -alias`];
  const list = (key: string, values: string[]): string[] =>
    values.map((v, i) => `${key.padEnd(14)}${i === 0 ? " =" : "+="}  ${quoted(v)};`);
  return [
    "vnet;",
    setting("vnet.interface", quoted(`${epair}b`)),
    ...list("exec.prestart", prestart),
    ...list("exec.start", start),
    ...list("exec.poststop", poststop),
  ];
}

/** Render the jail.conf block for a record, ending in a newline. */
export function renderJailConf(r: JailRecord): string {
  const name = r.name;
  const vnet = parseVnetField(r.vnet);
  const out: string[] = [
    `${name} { `,
    setting("host.hostname", quoted(name)),
    setting("path", quoted(r.path)),
    setting("mount.fstab", quoted(r.fstab)),
    setting("exec.consolelog", quoted(consoleLogPath(name))),
    "mount.devfs;",
  ];
  if (r.ip4 !== "" && !vnet) out.push(setting("ip4.addr", r.ip4));
  if (r.ip6 !== "" && !vnet) out.push(setting("ip6.addr", r.ip6));
  if (r.interface !== "") out.push(setting("interface", quoted(r.interface)));
  if (r.poststartssh !== "") {
    out.push(
      setting(
        "exec.poststart",
        quoted(`jexec ${name}       pw adduser ${name} -p 12-12-12 -c Jail -m -g wheel -s csh -w yes`),
      ),
    );
  }
  if (r.securelevel !== "") out.push(setting("securelevel", quoted(r.securelevel)));
  if (r.cpuset !== "") out.push(setting("cpuset.id", quoted(r.cpuset)));
  if (r.fib !== "") out.push(setting("exec.fib", quoted(r.fib)));
  if (r.rsockets !== "") out.push("allow.raw_sockets;");
  out.push(setting("devfs_ruleset", quoted(r.ruleset !== "" ? r.ruleset : "4")));
  if (r.sysvipc !== "") out.push("allow.sysvipc;");
  if (r.quotas !== "") out.push("allow.quotas;");
  if (r.nullfs !== "" || r.tmpfs !== "" || r.zfs !== "") {
    out.push(setting("enforce_statfs", quoted("1")), "allow.mount;");
  }
  if (r.tmpfs !== "") out.push("allow.mount.tmpfs;");
  if (r.nullfs !== "") out.push("allow.mount.nullfs;");
  if (r.zfs !== "") out.push("allow.mount.zfs;");
  if (vnet) {
    out.push(...vnetLines(r.vinterface, vnet));
    out.push(setting("exec.stop", quoted("/bin/sh /etc/rc.shutdown")));
  } else {
    out.push(
      setting("exec.start", quoted("/bin/sh /etc/rc")),
      setting("exec.stop", quoted("/bin/sh /etc/rc.shutdown")),
    );
  }
  out.push("}");
  return out.join("\n") + "\n";
}

/** One parameter of a parsed block: `key` alone (a boolean), or `key = value` / `key += value`. */
export interface JailConfParam {
  key: string;
  op: "" | "=" | "+=";
  /** Unquoted value; "" for booleans. */
  value: string;
}

export interface ParsedJailConf {
  name: string;
  params: JailConfParam[];
}

/**
 * Parse one qjail-style jail.conf block (the subset jail.conf(5) qjail writes:
 * one statement per line or several `;`-separated on a line, values quoted
 * or bare). Throws a UsageError naming the line on anything else.
 */
export function parseJailConf(text: string, file = "jail.conf"): ParsedJailConf {
  const lines = text.split("\n");
  let name: string | undefined;
  let closed = false;
  const params: JailConfParam[] = [];
  const fail = (i: number, why: string): never => {
    throw new UsageError(
      "QJ1040",
      `${file} line ${i + 1}: ${why}: ${shown(lines[i] ?? "")}`,
      "Rebuild it from the record with any 'qjail config' change, e.g. 'qjail config -B NAME'.",
    );
  };
  lines.forEach((raw, i) => {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith("//")) return;
    if (closed) fail(i, "text after the closing brace");
    if (name === undefined) {
      const m = /^([A-Za-z0-9_.-]+)\s*\{$/.exec(line);
      if (!m) fail(i, "expected 'NAME {'");
      name = (m as RegExpExecArray)[1] as string;
      return;
    }
    if (line === "}") {
      closed = true;
      return;
    }
    for (const stmt of splitStatements(line, () => fail(i, "unterminated string"))) {
      const m = /^([A-Za-z0-9_.]+)\s*(\+?=)?\s*(.*)$/.exec(stmt);
      if (!m) fail(i, "not a parameter");
      const [, key = "", op = "", rawValue = ""] = m as RegExpExecArray;
      if (op === "" && rawValue !== "") fail(i, "a value without '='");
      const value = /^".*"$/.test(rawValue) ? rawValue.slice(1, -1) : rawValue;
      params.push({ key, op: op as JailConfParam["op"], value });
    }
  });
  if (name === undefined || !closed) {
    throw new UsageError(
      "QJ1040",
      `${file}: no complete 'NAME { … }' block`,
      "Rebuild it from the record with any 'qjail config' change.",
    );
  }
  return { name, params };
}

function splitStatements(line: string, unterminated: () => never): string[] {
  const out: string[] = [];
  let cur = "";
  let inQuote = false;
  for (const ch of line) {
    if (ch === '"') inQuote = !inQuote;
    if (ch === ";" && !inQuote) {
      if (cur.trim() !== "") out.push(cur.trim());
      cur = "";
    } else cur += ch;
  }
  if (inQuote) unterminated();
  if (cur.trim() !== "") out.push(cur.trim());
  return out;
}

/** The value of the last assignment to `key` in a parsed block ("" for a boolean; undefined when absent). */
export function jailConfValue(conf: ParsedJailConf, key: string): string | undefined {
  let v: string | undefined;
  for (const p of conf.params) if (p.key === key) v = p.value;
  return v;
}
