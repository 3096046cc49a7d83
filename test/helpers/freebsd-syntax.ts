/**
 * What each FreeBSD program qjail runs accepts, written from its manual page
 * (SYNOPSIS, OPTIONS) and, where the page is loose, its getopt string in the
 * source (jail.c, jls.c, jexec.c, ipfw2.c/main.c, pfctl.c, ipf.c, ipnat.c,
 * mdconfig.c, script.c, ...). FreeBSD 13/14. Each entry: the program's path,
 * its getopt(3) option string (a letter followed by ':' takes an argument;
 * the BSD getopt stops at the first operand), allowed values of some
 * options, and a check of the operands. {@link checkArgv} checks one argv
 * against the table and says what is wrong.
 *
 * It is a table, not an emulator: it knows the forms the manual pages give,
 * so a flag a program does not have, an option value outside its list, a
 * wrong operand count or an unknown ipfw/pfctl keyword fails, and so does a
 * program named by a bare name or missing from the table.
 */

type Flags = Map<string, string[]>;
type OperandCheck = (ops: readonly string[], flags: Flags) => string | undefined;

interface Syntax {
  /** The manual page the entry was written from. */
  man: string;
  /** getopt(3) option string. */
  opts: string;
  /** Long options (`--libxo json`): name → takes an argument. */
  long?: Record<string, boolean>;
  /** Allowed values per option letter (prefix matching where the program does it). */
  values?: Record<string, readonly string[]>;
  operands: OperandCheck;
  /** The operands from this index on are another host program's argv (setfib, script). */
  nested?: (ops: readonly string[]) => number | undefined;
}

const PLACEHOLDER = /^%[A-Z_]+%$/;
const ABS = /^\/[^\0]*$/;
const NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;
const IFNAME = /^[a-z][a-z0-9_.]{0,14}$/;
const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;
const CIDR4 = /^\d{1,3}(\.\d{1,3}){3}(\/\d{1,2})?$/;
const NUM = /^\d+$/;

const count =
  (min: number, max: number, what = "operand"): OperandCheck =>
  (ops) =>
    ops.length < min || ops.length > max
      ? `${ops.length} ${what}s, expected ${min === max ? min : `${min}..${max}`}`
      : undefined;

const all =
  (...checks: OperandCheck[]): OperandCheck =>
  (ops, f) => {
    for (const c of checks) {
      const p = c(ops, f);
      if (p) return p;
    }
    return undefined;
  };

const each =
  (re: RegExp, what: string): OperandCheck =>
  (ops) =>
    ops.find((o) => !re.test(o) && !PLACEHOLDER.test(o)) !== undefined
      ? `${JSON.stringify(ops.find((o) => !re.test(o)))} is not ${what}`
      : undefined;

/** chflags(1): an octal number or a comma list of keywords, each optionally "no"-prefixed. */
const CHFLAGS_WORDS = new Set([
  "arch", "archived", "nodump", "opaque", "sappnd", "sappend", "schg", "schange", "simmutable",
  "snapshot", "sunlnk", "sunlink", "uappnd", "uappend", "uarch", "uarchive", "uchg", "uchange",
  "uimmutable", "uhidden", "hidden", "uoffline", "offline", "urdonly", "rdonly", "readonly",
  "usparse", "sparse", "usystem", "system", "ureparse", "reparse", "uunlnk", "uunlink", "dump",
]); // prettier-ignore

function chflagsFlags(word: string): boolean {
  if (/^[0-7]+$/.test(word)) return true;
  return word.split(",").every((w) => CHFLAGS_WORDS.has(w) || CHFLAGS_WORDS.has(w.replace(/^no/, "")));
}

// ---------------------------------------------------------------------------
// ipfw(8): RULE FORMAT, the subset of actions, protocols, addresses and
// options the manual page lists (ipfw.8 "RULE BODY", "RULE OPTIONS").

const IPFW_ACTIONS_ARG = new Set([
  "nat",
  "skipto",
  "pipe",
  "queue",
  "divert",
  "tee",
  "call",
  "setfib",
  "fwd",
]);
const IPFW_ACTIONS = new Set(["allow", "accept", "pass", "permit", "deny", "drop", "reject", "reset", "count", "check-state", "abort", "return", "unreach"]); // prettier-ignore
const IPFW_PROTOS = new Set([
  "ip",
  "all",
  "ip4",
  "ipv4",
  "ip6",
  "ipv6",
  "tcp",
  "udp",
  "icmp",
  "icmp6",
  "sctp",
]);
const IPFW_ADDR =
  /^(any|me|me6|not|\d{1,3}(\.\d{1,3}){3}(\/\d{1,2})?|[0-9a-fA-F:]+(\/\d{1,3})?|table\([\w.-]+\))$/;
const IPFW_PORTS = /^\d{1,5}(-\d{1,5})?(,\d{1,5}(-\d{1,5})?)*$/;
const IPFW_OPTS_ARG = new Set(["recv", "xmit", "via", "dst-port", "src-port", "uid", "gid", "jail", "ipttl", "tcpflags", "tagged", "tag", "limit"]); // prettier-ignore
const IPFW_OPTS = new Set(["in", "out", "keep-state", "record-state", "setup", "established", "frag", "log", "ip4", "ip6", "not", "or", "{", "}"]); // prettier-ignore

function ipfwRuleBody(words: readonly string[]): string | undefined {
  let i = 0;
  if (words[i] === "set") {
    if (!NUM.test(words[i + 1] ?? "") || Number(words[i + 1]) > 31) return `bad set ${words[i + 1]}`;
    i += 2;
  }
  const action = words[i];
  if (action === undefined) return "no action";
  if (IPFW_ACTIONS_ARG.has(action)) {
    if (!NUM.test(words[i + 1] ?? "")) return `${action} needs a number`;
    i += 2;
  } else if (IPFW_ACTIONS.has(action)) i += 1;
  else return `unknown action ${JSON.stringify(action)}`;
  if (words[i] === "log") i++;
  if (!IPFW_PROTOS.has(words[i] ?? "")) return `unknown protocol ${JSON.stringify(words[i])}`;
  i++;
  if (words[i] !== "from") return `expected "from", got ${JSON.stringify(words[i])}`;
  if (!IPFW_ADDR.test(words[i + 1] ?? "")) return `bad source ${JSON.stringify(words[i + 1])}`;
  i += 2;
  if (IPFW_PORTS.test(words[i] ?? "")) i++;
  if (words[i] !== "to") return `expected "to", got ${JSON.stringify(words[i])}`;
  if (!IPFW_ADDR.test(words[i + 1] ?? "")) return `bad destination ${JSON.stringify(words[i + 1])}`;
  i += 2;
  if (IPFW_PORTS.test(words[i] ?? "")) i++;
  while (i < words.length) {
    const w = words[i] as string;
    if (IPFW_OPTS.has(w)) i++;
    else if (IPFW_OPTS_ARG.has(w) && words[i + 1] !== undefined) i += 2;
    else return `unknown rule option ${JSON.stringify(w)}`;
  }
  return undefined;
}

const NAT_MODES = new Set(["log", "deny_in", "same_ports", "unreg_only", "skip_global", "reset", "reverse", "proxy_only"]); // prettier-ignore

function ipfwNat(ops: readonly string[]): string | undefined {
  if (!NUM.test(ops[1] ?? "") || Number(ops[1]) < 1) return `bad nat id ${JSON.stringify(ops[1])}`;
  const sub = ops[2];
  if (sub === "delete") return ops.length === 3 ? undefined : "nat N delete takes nothing more";
  if (sub === "show") {
    // ipfw nat N show config|log
    return ops.length === 4 && (ops[3] === "config" || ops[3] === "log")
      ? undefined
      : "nat N show config|log";
  }
  if (sub !== "config") return `unknown nat command ${JSON.stringify(sub)}`;
  for (let i = 3; i < ops.length;) {
    const w = ops[i] as string;
    if (w === "if" || w === "ip") {
      if (!(w === "if" ? IFNAME : IPV4).test(ops[i + 1] ?? ""))
        return `bad ${w} ${JSON.stringify(ops[i + 1])}`;
      i += 2;
    } else if (NAT_MODES.has(w)) i++;
    else if (w === "redirect_port") {
      // redirect_port proto targetIP:targetPORT[-targetPORT] [aliasIP:]aliasPORT[-aliasPORT]
      if (!/^(tcp|udp|sctp)$/.test(ops[i + 1] ?? "")) return `redirect_port: bad protocol ${ops[i + 1]}`;
      if (!/^\d{1,3}(\.\d{1,3}){3}:\d{1,5}(-\d{1,5})?$/.test(ops[i + 2] ?? ""))
        return `redirect_port: bad target ${JSON.stringify(ops[i + 2])}`;
      if (!/^(\d{1,3}(\.\d{1,3}){3}:)?\d{1,5}(-\d{1,5})?$/.test(ops[i + 3] ?? ""))
        return `redirect_port: bad alias port ${JSON.stringify(ops[i + 3])}`;
      i += 4;
    } else return `unrecognised nat option ${JSON.stringify(w)}`;
  }
  return undefined;
}

function ipfwCommand(ops: readonly string[], flags: Flags): string | undefined {
  const [cmd, ...rest] = ops;
  switch (cmd) {
    case "add": {
      // add [rule] [set N] ... (the number is optional, qjail always gives one)
      const body = NUM.test(rest[0] ?? "") ? rest.slice(1) : rest;
      if (NUM.test(rest[0] ?? "") && (Number(rest[0]) < 1 || Number(rest[0]) > 65534))
        return "rule number out of range";
      return ipfwRuleBody(body);
    }
    case "delete":
      if (rest[0] === "set") return NUM.test(rest[1] ?? "") && rest.length === 2 ? undefined : "delete set N";
      return rest.every((r) => /^\d+(-\d+)?$/.test(r)) && rest.length > 0 ? undefined : "delete RULE...";
    case "set":
      if (rest[0] === "swap")
        return rest.length === 3 && rest.slice(1).every((n) => NUM.test(n) && Number(n) <= 31)
          ? undefined
          : "set swap A B";
      if (rest[0] === "enable" || rest[0] === "disable")
        return rest.length >= 2 && rest.slice(1).every((n) => NUM.test(n) && Number(n) <= 31)
          ? undefined
          : "set enable|disable N";
      if (rest[0] === "show") return rest.length === 1 ? undefined : "set show";
      return `unknown set command ${JSON.stringify(rest[0])}`;
    case "nat":
      return ipfwNat(ops);
    case "show":
    case "list":
      return rest.every((r) => /^\d+(-\d+)?$/.test(r)) ? undefined : `${cmd} [RULE[-RULE]]`;
    case "flush":
      return flags.has("f") && rest.length === 0 ? undefined : "flush needs -f without a terminal";
    default:
      return `unknown ipfw command ${JSON.stringify(cmd)}`;
  }
}

// ---------------------------------------------------------------------------
// ifconfig(8) for the forms qjail's vnet block and fact gathering use.

function ifconfigOperands(ops: readonly string[]): string | undefined {
  const [iface, ...rest] = ops;
  if (!IFNAME.test(iface ?? "")) return `bad interface ${JSON.stringify(iface)}`;
  for (let i = 0; i < rest.length;) {
    const w = rest[i] as string;
    if (["create", "destroy", "up", "down", "alias", "-alias"].includes(w)) i++;
    else if (w === "addm" || w === "deletem") {
      if (!IFNAME.test(rest[i + 1] ?? "")) return `${w} needs an interface`;
      i += 2;
    } else if (w === "inet") {
      i++;
      if (CIDR4.test(rest[i] ?? "")) i++;
    } else if (w === "inet6") {
      i++;
      if (/^[0-9a-fA-F:]+(\/\d+)?$/.test(rest[i] ?? "")) i++;
    } else return `unknown ifconfig parameter ${JSON.stringify(w)}`;
  }
  return undefined;
}

// ---------------------------------------------------------------------------

const PF_SHOW = ["queue", "rules", "Anchors", "nat", "states", "Sources", "info", "Interfaces", "labels", "timeouts", "memory", "Tables", "osfp", "Running", "all", "ethernet"]; // prettier-ignore
const PF_FLUSH = ["rules", "nat", "queue", "states", "Sources", "info", "Tables", "osfp", "ethernet", "all"];

export const FREEBSD_SYNTAX: Readonly<Record<string, Syntax>> = {
  "/usr/sbin/jail": {
    man: "jail(8): jail [-dhilqv] [-J jid_file] [-u username] [-U username] [-cmr] [-f conf_file] [-e separator] jail",
    opts: "cde:f:hiJ:lmn:p:qrRs:u:U:v",
    operands: (ops, f) => {
      const modes = ["c", "m", "r", "R"].filter((m) => f.has(m));
      if (modes.length === 0) return "no -c, -m, -r or -R";
      return each(NAME, "a jail name")(ops, f);
    },
  },
  "/usr/sbin/jls": {
    man: "jls(8): jls [-dhNnqsv] [-j jail] [--libxo] [parameter ...]",
    opts: "dhj:Nnqsv",
    long: { libxo: true },
    operands: each(/^[a-z][a-z0-9_.]*$/, "a jail parameter name"),
  },
  "/usr/sbin/jexec": {
    man: "jexec(8): jexec [-l] [-u username | -U username] jail [command ...]",
    opts: "lnu:U:",
    // the command runs inside the jail: not a host program, only present
    operands: (ops) => (ops.length === 0 || !/^[A-Za-z0-9_.-]+$/.test(ops[0] as string) ? "no jail" : undefined),
  },
  "/usr/sbin/setfib": {
    man: "setfib(1): setfib [-F] number utility [argument ...]",
    opts: "F",
    operands: (ops) => (ops.length !== 1 || !NUM.test(ops[0] as string) ? "setfib NUMBER UTILITY ..." : undefined),
    nested: (ops) => (ops.length > 1 ? 1 : undefined),
  },
  "/usr/bin/script": {
    man: "script(1): script [-aeFfkqrw] [-t time] [file [command ...]]",
    opts: "adeFfkpqrT:t:w",
    operands: (ops) => (ops.length !== 1 || !ABS.test(ops[0] as string) ? "script FILE COMMAND ..." : undefined),
    nested: (ops) => (ops.length > 1 ? 1 : undefined),
  },
  "/usr/bin/login": {
    man: "login(1): login [-fp] [-h hostname] [user]",
    opts: "fh:p",
    operands: all(count(0, 1), each(NAME, "a user name")),
  },
  "/sbin/mdconfig": {
    man: "mdconfig(8): mdconfig -a -t type [-n] [-o [no]option] ... [-f file] [-s size] [-S sectorsize] [-u unit] ... | -d -u unit [-o [no]force] | -l [-n] [-f file] [-u unit] [-v]",
    opts: "ab:df:lno:rs:S:t:u:vx:y:",
    values: { t: ["malloc", "vnode", "swap", "null"] },
    operands: (ops, f) => {
      if (ops.length > 0) return "no operands";
      const modes = ["a", "d", "l", "r"].filter((m) => f.has(m));
      if (modes.length !== 1) return "exactly one of -a, -d, -l, -r";
      if (f.has("a") && (!f.has("t") || (f.get("t")?.[0] === "vnode" && !f.has("f")))) return "-a -t vnode -f FILE";
      if (f.has("d") && !f.has("u")) return "-d needs -u unit";
      const u = f.get("u")?.[0];
      if (u !== undefined && !/^(md)?\d+$/.test(u) && !PLACEHOLDER.test(u)) return `bad unit ${u}`;
      return undefined;
    },
  },
  "/sbin/mount": {
    man: "mount(8): mount [-adflpruvw] [-F fstab] [-o options] [-t type] | mount [-dfpruvw] special | node | mount [-dfpruvw] [-o options] [-t type] special node",
    opts: "aF:dflo:prt:uvw",
    operands: (ops, f) => (f.has("p") ? count(0, 0)(ops, f) : all(count(1, 2), each(ABS, "an absolute path"))(ops, f)),
  },
  "/sbin/umount": {
    man: "umount(8): umount [-fNnv] special ... | node ... | fsid ...",
    opts: "AaF:fh:Nnt:v",
    operands: all(count(1, 99), each(ABS, "an absolute path")),
  },
  "/bin/chflags": {
    man: "chflags(1): chflags [-fhvx] [-R [-H | -L | -P]] flags file ...",
    opts: "HLPRfhvx",
    operands: (ops) =>
      ops.length < 2
        ? "chflags FLAGS FILE ..."
        : !chflagsFlags(ops[0] as string)
          ? `bad flags ${JSON.stringify(ops[0])}`
          : each(ABS, "an absolute path")(ops.slice(1), new Map()),
  },
  "/sbin/route": {
    man: "route(8): route [-46dnqtv] [-j jail] command [[modifiers] args]",
    opts: "46dj:nqtv",
    operands: (ops) =>
      ops[0] === "get" && ops.slice(1).every((o) => ["-inet", "-inet6", "default"].includes(o) || CIDR4.test(o))
        ? undefined
        : `route ${ops.join(" ")}: qjail only reads (get)`,
  },
  "/sbin/ifconfig": {
    man: "ifconfig(8): ifconfig [-j jail] [-kLmn] [-f type:format] interface [create] [address_family [address [dest_address]] [parameters]]",
    opts: "46adDf:gj:kLlmnuv",
    operands: ifconfigOperands,
  },
  "/sbin/sysctl": {
    man: "sysctl(8): sysctl [-bdeFhiJNnoqTtWx] [-B bufsize] [-f filename] name[=value] ...",
    opts: "bB:deFf:hiJNnoqTtWx",
    operands: all(count(1, 99), each(/^[a-z][a-z0-9_.]*(=\S+)?$/, "a sysctl name[=value]")),
  },
  "/usr/sbin/sysrc": {
    man: "sysrc(8): sysrc [-cdDeFhinNqvx] [-f file] [-j jail | -R dir] name[[+|-]=value] ...",
    opts: "aAcdDef:Fhij:nNqR:vxX",
    operands: all(count(1, 99), each(/^[A-Za-z_][A-Za-z0-9_]*([+-]?=.*)?$/, "a variable name")),
  },
  "/usr/sbin/service": {
    man: "service(8): service [-j jail] [-v] script command",
    opts: "ej:lrRv",
    operands: (ops) =>
      ops.length === 2 && NAME.test(ops[0] as string) && ["start", "stop", "restart", "reload", "status", "onestart", "onestop"].includes(ops[1] as string)
        ? undefined
        : "service SCRIPT start|stop|restart|reload|status",
  },
  "/sbin/kldload": {
    man: "kldload(8): kldload [-nqv] file ...",
    opts: "nqv",
    operands: all(count(1, 99), each(/^[a-z][a-z0-9_]*$/, "a module name")),
  },
  "/sbin/ipf": {
    man: "ipf(8): ipf [-6AcdDEInoPRrsvVyzZ] [-l block|pass|nomatch|state|nat] [-T optionlist] [-F i|o|a|s|S|u] -f filename [-f filename ...]",
    opts: "6AcdDEf:F:Il:noPrRsT:vVyzZ",
    values: { F: ["i", "o", "a", "s", "S", "u"] },
    operands: count(0, 0),
  },
  "/sbin/ipnat": {
    man: "ipnat(8): ipnat [-dhlnrsvCF] [-M core] [-N system] -f filename",
    opts: "CdFf:hlM:N:nprsv",
    operands: (ops, f) => (ops.length > 0 ? "no operands" : f.has("p") && !f.has("r") ? "-p only with -r" : undefined),
  },
  "/sbin/ipfstat": {
    man: "ipfstat(8): ipfstat [-46aAdfghIilnoRsv] ...",
    opts: "46aAdfghIilM:nN:oP:RsS:tT:vD:",
    operands: count(0, 0),
  },
  "/sbin/pfctl": {
    man: "pfctl(8): pfctl [-AdeghMmNnOPqRrvz] [-a anchor] [-D macro=value] [-F modifier] [-f file] [-i interface] [-K host|network] [-k host|network|label|id|gateway] [-o level] [-p device] [-s modifier] [-t table -T command [address ...]] [-x level]",
    opts: "a:AdD:eqf:F:ghi:k:K:mMnNOo:Pp:rRs:S:t:T:vx:z",
    // pfctl_lookup_option accepts any prefix of a keyword
    values: { s: PF_SHOW, F: PF_FLUSH, o: ["none", "basic", "profile"] },
    operands: count(0, 0),
  },
  "/sbin/ipfw": {
    man: "ipfw(8): ipfw [-cfnNqS] [-p preproc [preproc-flags]] ... add|delete|set|nat|show|list|flush ...",
    opts: "abcdDefinNqsStTv",
    operands: ipfwCommand,
  },
  "/usr/bin/sockstat": {
    man: "sockstat(1): sockstat [-46cCiLlnqSsUuvw] [-f field] [-j jail] [-p ports] [-P protocols]",
    opts: "46cCf:ij:lLnp:P:qsSuUvw",
    operands: count(0, 0),
  },
  "/usr/bin/netstat": {
    man: "netstat(1): netstat -r [-46AnW] [-F fibnum] [-f address_family]",
    opts: "46AaBbdF:f:ghI:iLlM:mN:nOPp:qQrRsSTuWw:xz",
    values: { f: ["inet", "inet6", "link", "unix", "netgraph", "ng", "pfkey", "local"] },
    operands: count(0, 0),
  },
  "/usr/bin/uname": {
    man: "uname(1): uname [-abiKmnoprsUv]",
    opts: "abiKmnoprsUv",
    operands: count(0, 0),
  },
  "/usr/bin/tar": {
    man: "tar(1) (bsdtar): tar -x [options] [-f file] [-C dir] [patterns]",
    opts: "cxtruJjzZpPkvOmSf:C:",
    operands: (ops, f) => (!f.has("x") && !f.has("c") && !f.has("t") ? "no mode" : !f.has("f") ? "no -f" : undefined),
  },
  "/bin/dd": {
    man: "dd(1): dd [operands ...]",
    opts: "",
    operands: each(/^(if|of|bs|ibs|obs|count|seek|oseek|skip|iseek|conv|status|fillchar|iflag|oflag|speed)=\S+$/, "a dd operand"),
  },
  "/sbin/newfs": {
    man: "newfs(8): newfs [-EJNUjlnt] [options] special",
    opts: "Ea:b:c:d:e:f:g:h:i:jJk:L:lm:NnO:o:p:r:S:s:tTU",
    operands: all(count(1, 1), each(/^\/dev\/(md\d+|%MD_UNIT%)$/, "a device")),
  },
  "/bin/cp": {
    man: "cp(1): cp -R [-H | -L | -P] [-f | -i | -n] [-alpsvx] source_file ... target_directory",
    opts: "HLPRafilNnpsvx",
    operands: all(count(2, 99), each(ABS, "an absolute path")),
  },
  "/usr/sbin/pkg": {
    man: "pkg(8): pkg [-j jail] install [-y] pkg-origin ...",
    opts: "c:C:dj:lNo:r:R:vV4:6:",
    operands: (ops) =>
      ops[0] !== "install" ? "pkg install ..." : ops.slice(1).filter((o) => !o.startsWith("-")).length === 0 ? "no package" : undefined,
  },
  "/usr/local/bin/git": {
    man: "git-clone(1), git-pull(1): git clone [--depth N] URL DIR; git -C DIR pull [--ff-only]",
    opts: "C:",
    operands: (ops) =>
      (ops[0] === "clone" && ops[1] === "--depth" && NUM.test(ops[2] ?? "") && /^https:\/\//.test(ops[3] ?? "") && ABS.test(ops[4] ?? "") && ops.length === 5) ||
      (ops[0] === "pull" && ops.slice(1).every((o) => o === "--ff-only"))
        ? undefined
        : `git ${ops.join(" ")}`,
  },
  "/usr/bin/rctl": {
    man: "rctl(8): rctl -a rule ... | rctl -r filter ... | rctl -l [-hn] filter ... | rctl -u [-hn] filter ...",
    opts: "ahlnru",
    operands: (ops, f) => {
      const modes = ["a", "r", "l", "u"].filter((m) => f.has(m));
      if (modes.length !== 1) return "exactly one of -a, -r, -l, -u";
      if (ops.length === 0) return "no rule or filter";
      // subject:subject-id:resource:action=amount[/per] (a filter may stop early)
      const rule = /^jail:[A-Za-z0-9_.-]+(:[a-z]+(:[a-z]+(=\d+[kmgtKMGT]?(\/(jail|process|user|loginclass))?)?)?)?$/;
      return ops.every((o) => rule.test(o)) ? undefined : `bad rule or filter ${JSON.stringify(ops.find((o) => !rule.test(o)))}`;
    },
  },
  "/usr/bin/grep": {
    man: "grep(1): grep [-qw] pattern [file ...]",
    opts: "abcEFGhHiIlLnoqrRsSuUvVwxyzZe:f:m:A:B:C:",
    operands: count(1, 99),
  },
}; // prettier-ignore

/** Check one argv (a host program and its arguments) against the table; returns what is wrong. */
export function checkArgv(argv: readonly string[]): string | undefined {
  const [prog, ...args] = argv;
  if (prog === undefined) return "empty argv";
  if (!prog.startsWith("/")) return `${prog}: a program named by a bare name (PATH decides which one runs)`;
  const syn = FREEBSD_SYNTAX[prog];
  if (!syn) return `${prog}: not in the table of FreeBSD programs qjail may run`;
  const flags: Flags = new Map();
  const add = (k: string, v: string): void => void flags.set(k, [...(flags.get(k) ?? []), v]);
  let i = 0;
  for (; i < args.length; i++) {
    const a = args[i] as string;
    if (a === "--") {
      i++;
      break;
    }
    if (a.startsWith("--")) {
      const name = a.slice(2).split("=")[0] as string;
      if (syn.long?.[name] === undefined) return `${prog}: unknown option ${a} (${syn.man})`;
      if (syn.long[name] && !a.includes("=")) {
        if (args[i + 1] === undefined) return `${prog}: ${a} needs an argument`;
        add(name, args[++i] as string);
      } else add(name, "");
      continue;
    }
    if (!a.startsWith("-") || a === "-" || (prog === "/sbin/route" && /^-inet6?$/.test(a))) break;
    for (let k = 1; k < a.length; k++) {
      const c = a[k] as string;
      const at = syn.opts.indexOf(c);
      if (at < 0 || c === ":") return `${prog}: unknown option -${c} (${syn.man})`;
      if (syn.opts[at + 1] === ":") {
        const value = k + 1 < a.length ? a.slice(k + 1) : args[++i];
        if (value === undefined) return `${prog}: -${c} needs an argument`;
        const allowed = syn.values?.[c];
        if (allowed && !allowed.some((v) => v.startsWith(value) && value !== ""))
          return `${prog}: -${c} ${value}: not one of ${allowed.join(", ")}`;
        add(c, value);
        break;
      }
      add(c, "");
    }
  }
  const ops = args.slice(i);
  const nestAt = syn.nested?.(ops);
  const problem = syn.operands(nestAt === undefined ? ops : ops.slice(0, nestAt), flags);
  if (problem) return `${prog}: ${problem} (${syn.man})`;
  if (nestAt !== undefined) return checkArgv(ops.slice(nestAt));
  return undefined;
}

/**
 * The simple commands of a /bin/sh command line (jail(8) runs an exec.*
 * value with shell characters through sh -c): split at `;`, `&&`, `||`, `|`
 * and braces, redirections dropped. Words are split at blanks (qjail's
 * commands quote nothing).
 */
export function shellCommands(line: string): string[][] {
  return line
    .split(/\|\||&&|[;|{}]/)
    .map((c) =>
      c
        .trim()
        .replace(/\s*\d?>&\d/g, "")
        .replace(/\s*\d?>\s*\S+/g, "")
        .split(/\s+/)
        .filter((w) => w !== ""),
    )
    .filter((words) => words.length > 0);
}
