import { test } from "node:test";
import assert from "node:assert/strict";
import { isIPv4, isIPv6 } from "node:net";
import { renderJailConf } from "../../src/core/jailconf.js";
import { newJailRecord } from "../../src/core/jail.js";
import { hostLayout } from "../../src/core/paths.js";
import type { JailRecord } from "../../src/core/record.js";

/**
 * Every shape of jail.conf block qjail writes, read the way jail(8) reads
 * it. FreeBSD's own parser accepted all of them (shared/reviews/
 * jailconf-check-2.md); this keeps them so. The table is written from
 * jail(8) and jail.conf(5), and the lexer follows jaillex.l: a value is a
 * "quoted string" or an unquoted run of [A-Za-z0-9_!%&()-.:<>?@[]^`|~]
 * (no "/", no blank), lists are comma-separated, every parameter ends with
 * ";". No FreeBSD runs here: this checks the text, not what the kernel does
 * with it (a parameter a module adds, such as allow.mount.zfs, exists only
 * when the module is loaded: qjail's start plan loads it, see platform.test).
 */

type Kind = "bool" | "int" | "string" | "ip4" | "ip6";
const PARAMS: Record<string, { kind: Kind; list?: boolean; min?: number; max?: number }> = {
  // kernel parameters (jail(8) "Jail Parameters")
  "host.hostname": { kind: "string" },
  path: { kind: "string" },
  "ip4.addr": { kind: "ip4", list: true },
  "ip6.addr": { kind: "ip6", list: true },
  vnet: { kind: "bool" },
  securelevel: { kind: "int", min: -1, max: 3 },
  devfs_ruleset: { kind: "int", min: 0, max: 65535 },
  enforce_statfs: { kind: "int", min: 0, max: 2 },
  "allow.raw_sockets": { kind: "bool" },
  "allow.sysvipc": { kind: "bool" },
  "allow.quotas": { kind: "bool" },
  "allow.mount": { kind: "bool" },
  "allow.mount.nullfs": { kind: "bool" },
  "allow.mount.tmpfs": { kind: "bool" },
  "allow.mount.zfs": { kind: "bool" },
  // jail(8)'s own pseudo-parameters
  "mount.fstab": { kind: "string" },
  "mount.devfs": { kind: "bool" },
  "exec.consolelog": { kind: "string" },
  "exec.prestart": { kind: "string", list: true },
  "exec.start": { kind: "string", list: true },
  "exec.poststart": { kind: "string", list: true },
  "exec.prestop": { kind: "string", list: true },
  "exec.stop": { kind: "string", list: true },
  "exec.poststop": { kind: "string", list: true },
  "exec.fib": { kind: "int", min: 0, max: 65535 },
  interface: { kind: "string" },
  "vnet.interface": { kind: "string" },
};

const ATOM = /^[A-Za-z0-9_!%&()\-.:<>?@[\]^`|~]+/;

/** jaillex.l's tokens: quoted strings (escapes kept out), atoms, and = += , ; { }. */
function lex(text: string): { t: string; quoted: boolean }[] | string {
  const out: { t: string; quoted: boolean }[] = [];
  let i = 0;
  while (i < text.length) {
    const rest = text.slice(i);
    const ws = /^[ \t\n]+/.exec(rest);
    if (ws) {
      i += ws[0].length;
      continue;
    }
    if (rest.startsWith("+=")) {
      out.push({ t: "+=", quoted: false });
      i += 2;
    } else if ("=,;{}".includes(rest[0] as string)) {
      out.push({ t: rest[0] as string, quoted: false });
      i++;
    } else if (rest[0] === '"') {
      let j = 1;
      let v = "";
      while (j < rest.length && rest[j] !== '"') {
        if (rest[j] === "\n") return `newline inside a quoted string at ${i}`;
        if (rest[j] === "\\") j++;
        v += rest[j];
        j++;
      }
      if (j >= rest.length) return "unterminated quoted string";
      out.push({ t: v, quoted: true });
      i += j + 1;
    } else {
      const m = ATOM.exec(rest);
      if (!m)
        return `character ${JSON.stringify(rest[0])} cannot start a token: ${JSON.stringify(rest.slice(0, 30))}`;
      out.push({ t: m[0], quoted: false });
      i += m[0].length;
    }
  }
  return out;
}

/** Problems jail(8) would report for this block, or [] when it would take it. */
function checkBlock(text: string): string[] {
  const toks = lex(text);
  if (typeof toks === "string") return [toks];
  const problems: string[] = [];
  let k = 0;
  const next = () => toks[k++];
  const name = next();
  if (!name || name.quoted || next()?.t !== "{") return ["a block is NAME { … }"];
  const isWord = (x: { t: string; quoted: boolean } | undefined) =>
    x !== undefined && (x.quoted || !"=,;{}+=".includes(x.t));
  while (k < toks.length && toks[k]?.t !== "}") {
    const p = next() as { t: string; quoted: boolean };
    const spec = PARAMS[p.t];
    if (p.quoted || spec === undefined) {
      problems.push(`unknown parameter: ${p.t}`);
      while (k < toks.length && toks[k]?.t !== ";") k++;
      k++;
      continue;
    }
    const op = next();
    if (op?.t === ";") {
      if (spec.kind !== "bool") problems.push(`${p.t} needs a value`);
      continue;
    }
    if (op?.t !== "=" && op?.t !== "+=") {
      problems.push(`${p.t}: expected = or ; , got ${op?.t ?? "end"}`);
      break;
    }
    if (op.t === "+=" && !spec.list) problems.push(`${p.t} is not a list: += is meaningless`);
    if (spec.kind === "bool") problems.push(`${p.t} is a boolean: written "${p.t};"`);
    const values: string[] = [];
    for (;;) {
      const v = next();
      if (!isWord(v)) {
        problems.push(`${p.t}: missing value`);
        break;
      }
      values.push((v as { t: string }).t);
      const sep = next();
      if (sep?.t === ";") break;
      if (sep?.t !== ",") {
        problems.push(`${p.t}: missing ";"`);
        break;
      }
      if (!spec.list) problems.push(`${p.t} takes one value`);
    }
    for (const v of values) {
      if (spec.kind === "int") {
        const n = Number(v);
        if (!/^-?\d+$/.test(v) || n < (spec.min ?? 0) || n > (spec.max ?? Infinity))
          problems.push(`${p.t}: bad integer ${v}`);
      } else if (spec.kind === "ip4" || spec.kind === "ip6") {
        const addr = v.includes("|") ? v.slice(v.indexOf("|") + 1) : v;
        const nic = v.includes("|") ? v.slice(0, v.indexOf("|")) : "lo0";
        if (!/^[a-z][a-z0-9]*\d$/.test(nic) || !(spec.kind === "ip4" ? isIPv4(addr) : isIPv6(addr)))
          problems.push(`${p.t}: bad address ${v}`);
      } else if (v === "") problems.push(`${p.t}: empty value`);
    }
  }
  if (toks[k]?.t !== "}") problems.push("missing }");
  else if (k + 1 !== toks.length) problems.push("text after the block's }");
  return problems;
}

const layout = hostLayout();
const base = (name: string, more: Partial<JailRecord> = {}): JailRecord => ({
  ...newJailRecord(layout, { name, ip4: "10.0.0.5", ip6: "", interface: "lo1", oneTimeSsh: false }),
  ...more,
});

/** The shapes jailconf-check-2 ran through jail(8), and a few more. */
function shapes(): [string, JailRecord][] {
  const every = {
    poststartssh: "yes",
    securelevel: "-1",
    fib: "2",
    rsockets: "allow.raw_sockets",
    ruleset: "50",
    sysvipc: "allow.sysvipc",
    quotas: "allow.quotas",
    nullfs: "allow.mount.nullfs",
    tmpfs: "allow.mount.tmpfs",
    zfs: "allow.mount.zfs",
  };
  const vnet = (fw: string): Partial<JailRecord> => ({ vnet: `be|${fw}|3`, vinterface: "em0", ip4: "", interface: "" });
  return [
    ["plain", base("www")],
    ["ip4 and ip6", base("www", { ip6: "fd00::5" })],
    ["v6 only", base("www", { ip4: "", ip6: "fd00::5" })],
    ["nic|ip lists", base("www", { ip4: "em1|10.0.0.10,10.0.0.11,lo0|127.0.0.8", ip6: "lo1|fd00::5,fd00::6" })],
    ["every flag", base("www", every)],
    ["securelevel 3, fib 0, ruleset 4", base("www", { securelevel: "3", fib: "0", ruleset: "4" })],
    ["one-time ssh", base("www", { poststartssh: "yes" })],
    ["a zone jail", newJailRecord(hostLayout("lab"), { name: "db", ip4: "10.0.1.4", ip6: "", interface: "lo1", oneTimeSsh: false })],
    ["an image jail", newJailRecord(layout, { name: "img", ip4: "10.0.0.6", ip6: "", interface: "lo1", oneTimeSsh: false, imageMiB: 2048 })],
    ...["ipf", "pf", "ipfw", "none"].map((fw): [string, JailRecord] => [`vnet ${fw}`, base("vn", vnet(fw))]),
    ["vnet with every flag", base("vn", { ...vnet("pf"), ...every, poststartssh: "" })],
    ["a long name", base("a-very-long_jail.name-0123456789")],
  ];
} // prettier-ignore

test("every jail.conf block qjail writes is one jail(8) takes: known parameters, value syntax, quoting", () => {
  const problems: string[] = [];
  for (const [what, rec] of shapes()) {
    const block = renderJailConf(rec);
    for (const p of checkBlock(block)) problems.push(`${what}: ${p}\n${block}`);
  }
  assert.deepEqual(problems, []);
});

test("the jail.conf check refuses what jail(8) refuses (it can fail)", () => {
  const ok = 'w {\npath = "/usr/jails/w";\nmount.devfs;\nip4.addr = 10.0.0.5;\n}\n';
  assert.deepEqual(checkBlock(ok), []);
  for (const [text, why] of [
    ["w {\nallow.foo;\n}\n", /unknown parameter: allow\.foo/],
    ["w {\npath = /usr/jails/w;\n}\n", /cannot start a token/],
    ['w {\nsecurelevel = "high";\n}\n', /bad integer high/],
    ["w {\nsecurelevel = 4;\n}\n", /bad integer 4/],
    ["w {\nip4.addr = 10.0.0.300;\n}\n", /bad address/],
    ["w {\nip6.addr = em0|10.0.0.3;\n}\n", /bad address/],
    ['w {\npath = "/x"\nmount.devfs;\n}\n', /missing ";"/],
    ['w {\nexec.start = "/bin/sh /etc/rc;\n}\n', /newline inside a quoted string|unterminated/],
    ['w {\nmount.devfs = "1";\n}\n', /is a boolean/],
    ['w {\npath += "/x";\n}\n', /not a list/],
    ['w {\npath = "/x";\n', /missing \}/],
  ] as const)
    assert.match(checkBlock(text).join("\n") || "accepted", why, text);
});
