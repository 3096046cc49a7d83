import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { RunResult } from "../../src/platform/run.js";
import { parseIpf, parseIpnat, printIpfRule, printIpnatRule } from "../../src/firewall/ipf/index.js";

/**
 * A FreeBSD host as its programs answer, for tests of code that reads live
 * state. There is no FreeBSD kernel here; these fakes keep the state the
 * kernel would keep and print it the way FreeBSD's programs print it, from
 * their sources, so a parser that assumes the order or the form qjail sent
 * fails here as it would on a real host:
 *
 * - ipfw (sbin/ipfw/ipfw2.c, nat.c; sys/netpfil/ipfw/ip_fw_nat.c): rules
 *   keep their number and set, several rules may share a number (kept in the
 *   order added), `show` hides disabled sets and prints `%05u pkts bytes
 *   rule` with the rule in ipfw's own form (numeric ports, `/32` dropped),
 *   `show A-B` on an empty range exits 69 "no rules in range A-B"; a NAT
 *   instance lists its redirects in *reverse* (each is inserted at the head
 *   of the kernel's list) and survives `-f flush`; `nat N show config` of a
 *   missing instance exits 71; the `one_pass` sysctl defaults to 1, as in
 *   FreeBSD.
 * - pfctl (sbin/pfctl/pfctl.c, pfctl_parser.c, pfctl_optimize.c): `{ a b }`
 *   lists are expanded into one rule each; unless `-o none`, the basic
 *   optimizer drops duplicate filter rules and rules that are a subset of an
 *   earlier one (`from ADDR` next to `from any`); `-s rules` prints ports as
 *   service names (`port = ssh`) unless `-P`; anchors and the main ruleset
 *   are separate; `-s nat` of the main ruleset lists the hooks as
 *   `nat-anchor "qjail/*" all`.
 * - IPFilter (ipf, ipnat, ipfstat): the active and inactive filter lists, `-s` swaps;
 *   `ipnat -C` removes rules but keeps translations, `-F` flushes them,
 *   `-r -p` removes the named rules and their sessions; `ipnat -l` prints
 *   rules in ipnat's form (qjail's IPFilter printer, conformance-checked
 *   against IPFilter 5.1.2) followed by the sessions; `ipfstat -hni` prints
 *   the active list's rules in ipf's form with `HITS @N` before each, ports
 *   as service names (`port = http`) unless `-R`.
 * - sysctl, ifconfig, route, with FreeBSD's error texts.
 *
 * Every argv is recorded in `calls`; `fail` makes chosen commands fail as an
 * injected fault (exit 1, "PROGRAM: injected failure").
 */

interface IpfwRule {
  num: number;
  set: number;
  body: string;
  packets: number;
  bytes: number;
}

interface NatInstance {
  iface: string;
  modes: string[];
  /** In the kernel's list order: the last redirect configured comes first. */
  redirects: string[];
}

interface PfRuleset {
  nat: string[];
  rules: string[];
}

export interface IpnatSessionFake {
  /** The rdr rule text (as written) the session was created by. */
  rule: string;
  line: string;
}

const ok = (stdout = ""): RunResult => ({ code: 0, stdout, stderr: "" });
const fail = (code: number, stderr: string): RunResult => ({ code, stdout: "", stderr });

/** /etc/services for the ports qjail's tests use (pfctl prints names unless -P). */
const SERVICES: Record<number, string> = { 22: "ssh", 25: "smtp", 53: "domain", 80: "http", 443: "https" };
const PORTS: Record<string, number> = Object.fromEntries(
  Object.entries(SERVICES).map(([n, s]) => [s, Number(n)]),
);

export class FakeFreebsdHost {
  readonly calls: string[] = [];
  fail: (line: string) => boolean = () => false;
  /** The physical root files are read from (`pfctl -f FILE`, `ipf -f FILE`). */
  root: string;
  sysctls = new Map<string, string>([
    ["net.inet.ip.forwarding", "0"],
    ["net.inet.ip.fw.one_pass", "1"],
  ]);
  ipfwLoaded = true;
  ipfwRules: IpfwRule[] = [];
  ipfwDisabledSets = new Set<number>();
  nat = new Map<number, NatInstance>();
  pfLoaded = true;
  pfEnabled = true;
  pfMain: PfRuleset = { nat: [], rules: [] };
  pfAnchors = new Map<string, PfRuleset>();
  ipfActive: string[] = [];
  ipfInactive: string[] = [];
  /** ipnat rules as written in the file (printed through ipnat's printer). */
  ipnatRules: string[] = [];
  ipnatSessions: IpnatSessionFake[] = [];
  interfaces = new Map<string, string>([["em0", "203.0.113.9"]]);
  defaultIf = "em0";

  constructor(root: string) {
    this.root = root;
  }

  readonly run = async (argv: readonly string[]): Promise<RunResult> => {
    const line = argv.join(" ");
    this.calls.push(line);
    const prog = (argv[0] ?? "").split("/").pop() as string;
    if (this.fail(line)) return fail(1, `${prog}: injected failure`);
    const args = argv.slice(1);
    switch (argv[0]) {
      case "/sbin/ipfw":
        return this.ipfw(args);
      case "/sbin/pfctl":
        return this.pfctl(args);
      case "/sbin/ipf":
        return this.ipf(args);
      case "/sbin/ipnat":
        return this.ipnat(args);
      case "/sbin/ipfstat":
        return this.ipfstat(args);
      case "/sbin/sysctl":
        return this.sysctl(args);
      case "/sbin/ifconfig":
        return this.ifconfig(args);
      case "/sbin/route":
        return args.join(" ") === "-n get -inet default"
          ? ok(
              `   route to: default\ndestination: default\n       mask: default\n    gateway: 203.0.113.1\n        fib: 0\n  interface: ${this.defaultIf}\n      flags: <UP,GATEWAY,DONE,STATIC>\n`,
            )
          : fail(64, "route: bad keyword");
      default:
        // A program FreeBSD keeps elsewhere, or one qjail must not call by a bare name.
        return fail(127, `env: ${argv[0]}: No such file or directory`);
    }
  };

  private file(path: string): string | undefined {
    try {
      return readFileSync(join(this.root, path), "utf8");
    } catch {
      return undefined;
    }
  }

  // -------------------------------------------------------------------------
  // sysctl, ifconfig

  private sysctl(args: readonly string[]): RunResult {
    const names = args.filter((a) => a !== "-n");
    const quiet = args.includes("-n");
    const out: string[] = [];
    for (const n of names) {
      const [name, value] = n.split("=") as [string, string | undefined];
      const known = this.sysctls.has(name) && (!name.startsWith("net.inet.ip.fw.") || this.ipfwLoaded);
      if (!known) return fail(1, `sysctl: unknown oid '${name}'`);
      const old = this.sysctls.get(name) as string;
      if (value !== undefined) {
        this.sysctls.set(name, value);
        out.push(`${name}: ${old} -> ${value}`);
      } else out.push(quiet ? old : `${name}: ${old}`);
    }
    return ok(out.join("\n") + "\n");
  }

  private ifconfig(args: readonly string[]): RunResult {
    const [ifname, family] = args;
    const addr = ifname === undefined ? undefined : this.interfaces.get(ifname);
    if (addr === undefined) return fail(1, `ifconfig: interface ${ifname ?? ""} does not exist`);
    if (family !== undefined && family !== "inet") return fail(1, `ifconfig: ${family}: bad value`);
    return ok(
      `${ifname}: flags=1008843<UP,BROADCAST,RUNNING,SIMPLEX,MULTICAST,LOWER_UP> metric 0 mtu 1500\n\tinet ${addr} netmask 0xffffff00 broadcast ${addr.replace(/\.\d+$/, ".255")}\n`,
    );
  }

  // -------------------------------------------------------------------------
  // ipfw

  /** A rule body as ipfw(8) prints it back (show_static_rule): numeric, `/32` dropped. */
  static ipfwPrint(words: readonly string[]): string {
    return words.map((w) => w.replace(/^(\d+\.\d+\.\d+\.\d+)\/32$/, "$1")).join(" ");
  }

  private static ipfwBodyValid(words: readonly string[]): boolean {
    const addr = /^(any|me|\d+\.\d+\.\d+\.\d+(\/\d{1,2})?)$/;
    const action = words[0];
    let i = 1;
    if (action === "nat") {
      if (!/^\d+$/.test(words[1] ?? "")) return false;
      i = 2;
    } else if (action !== "allow" && action !== "deny" && action !== "count") return false;
    if (!/^(ip|ip4|tcp|udp)$/.test(words[i] ?? "")) return false;
    if (words[i + 1] !== "from" || !addr.test(words[i + 2] ?? "")) return false;
    if (words[i + 3] !== "to" || !addr.test(words[i + 4] ?? "")) return false;
    let k = i + 5;
    if (/^\d{1,5}(-\d{1,5})?$/.test(words[k] ?? "")) k++;
    while (k < words.length) {
      if ((words[k] === "in" || words[k] === "out") && k + 1 <= words.length) k++;
      else if ((words[k] === "recv" || words[k] === "xmit" || words[k] === "via") && words[k + 1]) k += 2;
      else return false;
    }
    return true;
  }

  private ipfw(argv: readonly string[]): RunResult {
    let args = [...argv];
    let quiet = false;
    let testOnly = false;
    let force = false;
    while (args[0]?.startsWith("-") && !/^-\d/.test(args[0])) {
      for (const f of args[0].slice(1)) {
        if (f === "q") quiet = true;
        else if (f === "n") testOnly = true;
        else if (f === "f") force = true;
        else if (f === "S" || f === "a" || f === "N") continue;
        else return fail(64, `ipfw: illegal option -- ${f}`);
      }
      args = args.slice(1);
    }
    void quiet;
    if (!testOnly && !this.ipfwLoaded) return fail(71, "ipfw: socket: Protocol not available");
    const [cmd, ...rest] = args;
    if (cmd === "add") {
      const num = Number(rest[0]);
      if (!/^\d+$/.test(rest[0] ?? "") || num < 1 || num > 65534)
        return fail(65, `ipfw: invalid rule number: ${rest[0] ?? ""}`);
      let set = 0;
      let body = rest.slice(1);
      if (body[0] === "set") {
        set = Number(body[1]);
        if (!/^\d+$/.test(body[1] ?? "") || set > 31) return fail(65, `ipfw: illegal set ${body[1] ?? ""}`);
        body = body.slice(2);
      }
      if (!FakeFreebsdHost.ipfwBodyValid(body)) return fail(65, `ipfw: invalid rule: ${body.join(" ")}`);
      if (testOnly) return ok();
      this.ipfwRules.push({ num, set, body: FakeFreebsdHost.ipfwPrint(body), packets: 0, bytes: 0 });
      this.ipfwRules.sort((a, b) => a.num - b.num); // stable: same-number rules keep their order
      return ok();
    }
    if (cmd === "delete" && rest[0] === "set") {
      const set = Number(rest[1]);
      this.ipfwRules = this.ipfwRules.filter((r) => r.set !== set);
      return ok();
    }
    if (cmd === "flush") {
      if (!force) return fail(1, "ipfw: flush needs -f without a terminal");
      this.ipfwRules = this.ipfwRules.filter((r) => r.set === 31);
      return ok();
    }
    if (cmd === "set") {
      const [sub, a, b] = rest;
      if (sub === "disable") this.ipfwDisabledSets.add(Number(a));
      else if (sub === "enable") this.ipfwDisabledSets.delete(Number(a));
      else if (sub === "swap") {
        const x = Number(a);
        const y = Number(b);
        for (const r of this.ipfwRules) r.set = r.set === x ? y : r.set === y ? x : r.set;
      } else return fail(64, `ipfw: invalid set command ${sub ?? ""}`);
      return ok();
    }
    if (cmd === "show" || cmd === "list") {
      const range = rest[0];
      let first = 0;
      let last = 65535;
      if (range !== undefined) {
        const m = /^(\d+)(?:-(\d+))?$/.exec(range);
        if (!m) return fail(64, `ipfw: invalid rule number: ${range}`);
        first = Number(m[1]);
        last = m[2] === undefined ? first : Number(m[2]);
      }
      const inRange = this.ipfwRules.filter((r) => r.num >= first && r.num <= last);
      const shown = inRange.filter((r) => !this.ipfwDisabledSets.has(r.set));
      if (range !== undefined && inRange.length === 0)
        return fail(
          69,
          first === last ? `ipfw: rule ${first} does not exist` : `ipfw: no rules in range ${first}-${last}`,
        );
      const pw = Math.max(1, ...shown.map((r) => String(r.packets).length));
      const bw = Math.max(1, ...shown.map((r) => String(r.bytes).length));
      return ok(
        shown
          .map((r) =>
            cmd === "show"
              ? `${String(r.num).padStart(5, "0")} ${String(r.packets).padStart(pw)} ${String(r.bytes).padStart(bw)} ${r.body}\n`
              : `${String(r.num).padStart(5, "0")} ${r.body}\n`,
          )
          .join(""),
      );
    }
    if (cmd === "nat") return this.ipfwNat(rest, testOnly);
    return fail(64, `ipfw: bad command \`${cmd ?? ""}'`);
  }

  private ipfwNat(rest: readonly string[], testOnly: boolean): RunResult {
    const id = Number(rest[0]);
    if (!/^\d+$/.test(rest[0] ?? "") || id <= 0) return fail(65, `ipfw: illegal nat id: ${rest[0] ?? ""}`);
    const sub = rest[1];
    if (sub === "show") {
      if (rest[2] !== "config") return fail(64, "ipfw: Please specify action. Available: config,log");
      if (testOnly) return ok();
      const n = this.nat.get(id);
      if (!n) return fail(71, `ipfw: Error getting nat ${id} instance info: No such file or directory`);
      return ok(
        `ipfw nat ${id} config if ${n.iface}${n.modes.map((m) => ` ${m}`).join("")}${n.redirects.join("")}\n`,
      );
    }
    if (sub === "delete") {
      if (!this.nat.delete(id))
        return fail(1, "ipfw: setsockopt(IP_FW_NAT44_DESTROY): No such file or directory");
      return ok();
    }
    if (sub !== "config") return fail(64, `ipfw: unrecognised option \`\`${sub ?? ""}''`);
    const w = rest.slice(2);
    let iface = "";
    const modes = new Set<string>();
    const redirects: string[] = [];
    for (let k = 0; k < w.length;) {
      const t = w[k] as string;
      if (t === "if") {
        iface = w[k + 1] ?? "";
        k += 2;
      } else if (
        [
          "log",
          "deny_in",
          "same_ports",
          "skip_global",
          "unreg_only",
          "reset",
          "reverse",
          "proxy_only",
        ].includes(t)
      ) {
        modes.add(t);
        k++;
      } else if (t === "redirect_port") {
        const [proto, local, pub] = [w[k + 1], w[k + 2], w[k + 3]];
        if (!proto || !local || !pub) return fail(65, "ipfw: redirect_port: not enough arguments");
        if (!/^(tcp|udp|sctp)$/.test(proto))
          return fail(65, `ipfw: redirect_port: unknown protocol ${proto}`);
        const lm = /^(\d+\.\d+\.\d+\.\d+):(\d+)(?:-(\d+))?$/.exec(local);
        const pm = /^(?:(\d+\.\d+\.\d+\.\d+):)?(\d+)(?:-(\d+))?$/.exec(pub);
        if (!lm) return fail(65, "ipfw: redirect_port: invalid local port range");
        if (!pm) return fail(65, "ipfw: redirect_port: invalid public port range");
        const lcount = lm[3] === undefined ? 1 : Number(lm[3]) - Number(lm[2]) + 1;
        const pcount = pm[3] === undefined ? 1 : Number(pm[3]) - Number(pm[2]) + 1;
        if (lcount !== pcount) return fail(65, "ipfw: redirect_port: port ranges must be equal in size");
        // nat.c's printer: LADDR:LPORT[-LPORT2] [PADDR:]PPORT[-PPORT2]
        redirects.push(` redirect_port ${proto} ${local} ${pub}`);
        k += 4;
      } else return fail(65, `ipfw: unrecognised option \`\`${t}''`);
    }
    if (testOnly) return ok();
    // nat.c prints the modes in this order, whatever order they were given.
    const order = [
      "log",
      "deny_in",
      "same_ports",
      "skip_global",
      "unreg_only",
      "reset",
      "reverse",
      "proxy_only",
    ];
    this.nat.set(id, {
      iface,
      modes: order.filter((m) => modes.has(m)),
      // ip_fw_nat.c add_redir_spool_cfg: LIST_INSERT_HEAD, so the list runs backwards.
      redirects: [...redirects].reverse(),
    });
    return ok();
  }

  // -------------------------------------------------------------------------
  // pf

  /** One anchor-file or pf.conf line as pfctl loads and prints it: expanded, normalised. */
  private static pfExpand(line: string): string[] {
    const m = /\{([^}]*)\}/.exec(line);
    if (!m) return [line];
    const items = (m[1] as string).split(/[\s,]+/).filter((x) => x !== "");
    return items.flatMap((it) =>
      FakeFreebsdHost.pfExpand(line.slice(0, m.index) + it + line.slice((m.index as number) + m[0].length)),
    );
  }

  /** pfctl's print of a loaded rule: `port = N` on the match side as a service name unless -P. */
  private static pfPrint(rule: string, numeric: boolean): string {
    let r = rule.replace(/(\d+\.\d+\.\d+\.\d+)\/32\b/g, "$1");
    const name = (p: string): string =>
      numeric || SERVICES[Number(p)] === undefined ? `port = ${p}` : `port = ${SERVICES[Number(p)]}`;
    if (/^(rdr|nat|binat)\b/.test(r)) {
      // the redirection side ("-> ADDR port N") is always numeric
      const [lhs, rhs] = r.split(" -> ") as [string, string | undefined];
      const l = lhs.replace(/\bport = (\d+)/, (_, p: string) => name(p));
      r = rhs === undefined ? l : `${l} -> ${rhs}`;
      if (/^nat\b/.test(r) && /-> \([^)]+\)$/.test(r)) r += " round-robin";
      return r;
    }
    return r.replace(/\bport = (\d+)/g, (_, p: string) => name(p));
  }

  /**
   * pfctl_optimize.c's basic pass: remove duplicates and rules that a broader
   * earlier one covers. A labelled rule is an optimization barrier
   * (pf.conf(5)): it is never removed or merged.
   */
  private static pfOptimize(rules: string[]): string[] {
    const out: string[] = [];
    for (const r of rules) {
      if (/ label "/.test(r)) {
        out.push(r);
        continue;
      }
      if (out.includes(r)) continue; // remove_identical_rules
      const broader = r.replace(/\bfrom \S+/, "from any");
      if (broader !== r && (rules.includes(broader) || out.includes(broader))) continue;
      out.push(r);
    }
    return out;
  }

  /** A rule's text as the kernel keeps it: `port N` and `port = name` become `port = N`. */
  private static pfNormalise(l: string): string {
    return l
      .replace(/\bport = ([a-z][a-z0-9-]*)/g, (m, n: string) =>
        PORTS[n] !== undefined ? `port = ${PORTS[n]}` : m,
      )
      .replace(/\bport (\d+)(?=\s|$)/, (m, p: string, off: number, all: string) =>
        // only the match side: "-> ADDR port N" stays as it is
        all.slice(0, off).includes(" -> ") ? m : `port = ${p}`,
      );
  }

  private static pfLoad(text: string, optimize: boolean, main: boolean): { set?: PfRuleset; error?: string } {
    const set: PfRuleset = { nat: [], rules: [] };
    const lines = text.split("\n");
    for (const [i, raw] of lines.entries()) {
      const l = raw.replace(/#.*$/, "").trim();
      if (l === "") continue;
      // the grammar qjail's anchor uses, checked strictly: lists and labels aside
      const shape = l
        .replace(/\{[^}]*\}/g, "X")
        .replace(/ label "[^"]*"$/, "")
        .replace(/\bport = /g, "port ");
      if (/^(nat-anchor|rdr-anchor|binat-anchor)\s+"[^"]+"$/.test(l)) set.nat.push(`${l} all`);
      else if (/^anchor\s+"[^"]+"$/.test(l)) set.rules.push(`${l} all`);
      else if (/^(set|scrub)\b/.test(l) || (main && /^\w+\s*=\s*"[^"]*"$/.test(l))) continue;
      // pf.conf's own rules (the admin's): kept as written; the fake checks anchors strictly
      else if (main && /^(pass|block|nat|rdr)\b/.test(l))
        (/^(nat|rdr)\b/.test(l) ? set.nat : set.rules).push(l);
      else if (
        /^(nat|rdr) on \S+ inet6? (proto (tcp|udp) )?from \S+ to \S+( port \S+)? -> \S+( port \S+)?$/.test(
          shape,
        )
      )
        set.nat.push(...FakeFreebsdHost.pfExpand(l).map((x) => FakeFreebsdHost.pfNormalise(x)));
      else if (
        /^(pass|block)( in| out)?( quick)?( on \S+)? inet6? (proto (tcp|udp) )?from \S+ to \S+( port \S+)?( flags \S+)?( keep state)?$/.test(
          shape,
        )
      )
        set.rules.push(...FakeFreebsdHost.pfExpand(l).map((x) => FakeFreebsdHost.pfNormalise(x)));
      else return { error: `${i + 1}: syntax error` };
    }
    if (optimize) set.rules = FakeFreebsdHost.pfOptimize(set.rules);
    return { set };
  }

  private pfctl(argv: readonly string[]): RunResult {
    let anchor: string | undefined;
    let file: string | undefined;
    let show: string | undefined;
    let flush: string | undefined;
    let optimize = true;
    let numeric = false;
    let noAction = false;
    let verbose = 0;
    for (let k = 0; k < argv.length; k++) {
      const a = argv[k] as string;
      const take = (): string => {
        const v = argv[++k];
        if (v === undefined) throw new Error(`pfctl: option requires an argument -- ${a.slice(1)}`);
        return v;
      };
      if (a === "-a") anchor = take();
      else if (a === "-f") file = take();
      else if (a === "-s") show = take();
      else if (a === "-F") flush = take();
      else if (a === "-o") {
        const level = take();
        if (!["none", "basic", "profile"].includes(level))
          return fail(64, `pfctl: Unknown optimization '${level}'`);
        optimize = level !== "none";
      } else if (a === "-P") numeric = true;
      else if (a === "-n") noAction = true;
      else if (/^-v+$/.test(a)) verbose += a.length - 1;
      else if (/^-v*s[rn]$/.test(a)) {
        show = a.endsWith("r") ? "rules" : "nat";
        verbose += a.length - 3;
      } else return fail(64, `pfctl: illegal option -- ${a.replace(/^-/, "")}`);
    }
    if (!this.pfLoaded && !noAction) return fail(1, "pfctl: /dev/pf: No such file or directory");
    if (file !== undefined) {
      const text = this.file(file);
      if (text === undefined) return fail(1, `pfctl: ${file}: No such file or directory`);
      const r = FakeFreebsdHost.pfLoad(text, optimize, anchor === undefined);
      if (!r.set)
        return fail(1, `${file}:${r.error}\npfctl: Syntax error in config file: pf rules not loaded`);
      if (!noAction) {
        if (anchor === undefined) this.pfMain = r.set;
        else this.pfAnchors.set(anchor, r.set);
      }
      return ok();
    }
    if (flush === "all" && anchor !== undefined) {
      this.pfAnchors.delete(anchor);
      return ok("rules cleared\nnat cleared\n0 tables deleted.\n");
    }
    if (show === "info")
      return ok(
        `Status: ${this.pfEnabled ? "Enabled" : "Disabled"} for 0 days 01:02:03          Debug: Urgent\n\nState Table                          Total             Rate\n  current entries                        0               \n`,
      );
    if (show === "nat" || show === "rules") {
      const set = anchor === undefined ? this.pfMain : this.pfAnchors.get(anchor);
      if (!set) return anchor === undefined ? ok() : fail(1, "pfctl: DIOCGETRULES: Invalid argument");
      const list = show === "nat" ? set.nat : set.rules;
      if (verbose < 2) return ok(list.map((r) => FakeFreebsdHost.pfPrint(r, numeric) + "\n").join(""));
      // -vv: "@N rule" and the counters, as pfctl_parser.c print_rule and pfctl.c print them.
      return ok(
        list
          .map(
            (r, i) =>
              `@${i}(0) ${FakeFreebsdHost.pfPrint(r, numeric)}\n  [ Evaluations: 0         Packets: 0         Bytes: 0           States: 0     ]\n  [ Inserted: uid 0 pid 4242 State Creations: 0     ]\n`,
          )
          .join(""),
      );
    }
    return fail(64, "usage: pfctl [-AdeghMmNnOPqRSrvz] [-a anchor] [-D macro=value] [-F modifier] ...");
  }

  // -------------------------------------------------------------------------
  // IPFilter

  private ipf(argv: readonly string[]): RunResult {
    let target: "active" | "inactive" = "active";
    let noAction = false;
    const out: string[] = [];
    for (let k = 0; k < argv.length; k++) {
      const a = argv[k] as string;
      if (a === "-n") noAction = true;
      else if (a === "-I") target = "inactive";
      else if (a === "-Fa") {
        if (!noAction) {
          if (target === "active") this.ipfActive = [];
          else this.ipfInactive = [];
        }
      } else if (a === "-s") {
        [this.ipfActive, this.ipfInactive] = [this.ipfInactive, this.ipfActive];
        out.push("Set 1 now inactive");
      } else if (a === "-y") continue;
      else if (a === "-V")
        out.push(
          "ipf: IP Filter: v5.1.2 (592)\nKernel: IP Filter: v5.1.2\nRunning: yes\nLog Flags: 0 = none set\nDefault: pass all, Logging: available\nActive list: 0\nFeature mask: 0x107",
        );
      else if (a === "-f") {
        const path = argv[++k] as string;
        const text = this.file(path);
        if (text === undefined) return fail(1, `ipf: ${path}: open: No such file or directory`);
        const r = parseIpf(text);
        const bad = r.diagnostics.find((d) => d.severity === "error");
        if (bad) return fail(1, `${bad.line}:${bad.message}`);
        if (!noAction) {
          const lines = text.split("\n").filter((l) => /^\s*(pass|block)\b/.test(l));
          if (target === "active") this.ipfActive.push(...lines);
          else this.ipfInactive.push(...lines);
        }
      } else return fail(1, `ipf: illegal option -- ${a.replace(/^-/, "")}`);
    }
    return ok(out.length > 0 ? out.join("\n") + "\n" : "");
  }

  /** Hits of the active filter list's rules, by rule text as loaded (what ipfstat -h counts). */
  ipfHits = new Map<string, number>();

  private ipfstat(argv: readonly string[]): RunResult {
    const flags = new Set<string>();
    for (const a of argv) {
      if (!/^-[A-Za-z]+$/.test(a)) return fail(1, `ipfstat: illegal argument ${a}`);
      for (const f of a.slice(1)) {
        if (!"hniRo".includes(f)) return fail(1, `ipfstat: illegal option -- ${f}`);
        flags.add(f);
      }
    }
    if (!flags.has("i") && !flags.has("o")) return fail(1, "ipfstat: the fake lists rules only (-i/-o)");
    const dir = flags.has("i") ? "in" : "out";
    const out: string[] = [];
    let n = 0;
    for (const text of this.ipfActive) {
      const rule = parseIpf(text).rules[0];
      if (!rule || rule.direction !== dir) continue;
      n++;
      let printed = printIpfRule(rule, { interfaces: "all", verbose: false });
      if (!flags.has("R"))
        printed = printed.replace(/\bport = (\d+)/g, (m, p: string) =>
          SERVICES[Number(p)] === undefined ? m : `port = ${SERVICES[Number(p)]}`,
        );
      out.push(
        `${flags.has("h") ? `${this.ipfHits.get(text) ?? 0} ` : ""}${flags.has("n") ? `@${n} ` : ""}${printed}`,
      );
    }
    return ok(out.map((l) => l + "\n").join(""));
  }

  private ipnat(argv: readonly string[]): RunResult {
    let remove = false;
    let purge = false;
    let noAction = false;
    let list = false;
    for (let k = 0; k < argv.length; k++) {
      const a = argv[k] as string;
      if (a === "-f") {
        const path = argv[++k] as string;
        const text = this.file(path);
        if (text === undefined) return fail(1, `ipnat: ${path}: open: No such file or directory`);
        const r = parseIpnat(text);
        const bad = r.diagnostics.find((d) => d.severity === "error");
        if (bad) return fail(1, `${bad.line}:${bad.message}`);
        if (noAction) continue;
        const lines = text
          .split("\n")
          .map((l) => l.replace(/#.*$/, "").trim())
          .filter((l) => /^(map|rdr|bimap|map-block)\b/.test(l));
        if (remove) {
          for (const l of lines) {
            const i = this.ipnatRules.indexOf(l);
            if (i < 0) return fail(1, "ipnat: ioctl(SIOCRMNAT): No such file or directory");
            this.ipnatRules.splice(i, 1);
            if (purge) this.ipnatSessions = this.ipnatSessions.filter((s) => s.rule !== l);
          }
        } else this.ipnatRules.push(...lines);
        continue;
      }
      if (!/^-[A-Za-z]+$/.test(a)) return fail(1, `ipnat: illegal argument ${a}`);
      for (const f of a.slice(1)) {
        if (f === "C") {
          if (!noAction) this.ipnatRules = [];
        } else if (f === "F") {
          if (!noAction) this.ipnatSessions = [];
        } else if (f === "r") remove = true;
        else if (f === "p") purge = true;
        else if (f === "n") noAction = true;
        else if (f === "l") list = true;
        else if (f === "h" || f === "d" || f === "v") continue;
        else return fail(1, `ipnat: illegal option -- ${f}`);
      }
    }
    if (purge && !remove) return fail(1, "ipnat: -p must be used with -r");
    if (!list) return ok();
    const rules = this.ipnatRules.map((l) => printIpnatRule(parseIpnat(l).rules[0]!));
    return ok(
      `List of active MAP/Redirect filters:\n${rules.map((r) => r + "\n").join("")}\nList of active sessions:\n${this.ipnatSessions.map((s) => s.line + "\n").join("")}`,
    );
  }

  /** An established connection through the rdr rule `rule` (as written), as ipnat -l lists it. */
  addIpnatSession(rule: string, client: string): void {
    const m = /port (\d+) -> (\S+) port (\d+)/.exec(rule);
    if (!m) throw new Error(`not an rdr rule: ${rule}`);
    const ext = this.interfaces.get(this.defaultIf) ?? "0.0.0.0";
    this.ipnatSessions.push({
      rule,
      line: `RDR ${m[2] as string}        ${m[3] as string}    <- -> ${ext}    ${m[1] as string}  [${client} 51234]`,
    });
  }
}
