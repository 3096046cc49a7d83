import { test, before, after, describe } from "node:test";
import assert from "node:assert/strict";
import { cpSync, mkdirSync, rmSync, writeFileSync, symlinkSync, readFileSync, linkSync } from "node:fs";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import { hostLayout, physical } from "../../src/core/paths.js";
import { runCli, tempDir, type CliResult } from "../helpers/cli.js";
import { rootDigest as treeDigest } from "./helpers/index.js";
import { buildArchive, evilArchive, type TarMember } from "./helpers/archive.js";
import { createJails, installHost, releaseBase } from "./helpers/host.js";
import {
  HOSTILE_IPV4,
  HOSTILE_IPV6,
  HOSTILE_NAMES,
  HOSTILE_PORT_MAPPINGS,
  OPTION_LIKE_NAMES,
  type Hostile,
} from "./helpers/hostile.js";

// The bad-input corpus (issue 7 §3): every hostile input is refused with a
// stable code and a message that shows the value, exits non-zero, and leaves
// the whole --root byte for byte as it was.

const tmp = tempDir(`qjail-bad-${process.pid}-`);
/** The fixture every case starts from: installed, jails www and ssh, www exposing tcp 6188 → 80, one archive of www. */
const pristine = join(tmp.dir, "pristine");
/** The root the refusal cases share (they change nothing, and the digest after each one proves it). */
const shared = join(tmp.dir, "shared");
let pristineDigest: Map<string, string>;
let triedInputs = 0;

function copyPristine(to: string): void {
  rmSync(to, { recursive: true, force: true });
  cpSync(pristine, to, { recursive: true, verbatimSymlinks: true, preserveTimestamps: true });
}

before(async () => {
  mkdirSync(pristine, { recursive: true });
  await installHost(pristine);
  await createJails(pristine, [
    ["www", "10.0.0.3"],
    ["ssh", "10.0.0.2"],
    ["pub", "203.0.113.20"],
  ]);
  for (const argv of [
    ["expose", "--root", pristine, "--platform", "freebsd", "www", "tcp", "6188:80", "--no-load"],
    ["archive", "--root", pristine, "--platform", "freebsd", "www"],
  ]) {
    const r = await runCli(argv);
    assert.equal(r.code, 0, `fixture: ${argv.join(" ")}: ${r.stderr}`);
  }
  copyPristine(shared);
  pristineDigest = treeDigest(shared);
});

after(() => {
  process.stderr.write(`bad input corpus: ${triedInputs} hostile inputs tried\n`);
  tmp.cleanup();
  releaseBase();
});

/** argv with the global options placed right after the command words, so the command's parser sees them. */
function withRoot(words: number, argv: readonly string[], root: string): string[] {
  return [...argv.slice(0, words), "--root", root, "--platform", "freebsd", ...argv.slice(words)];
}

/** The message must show the value (JSON-quoted, as core/errors.ts shown() does) or one comma/pipe/colon part of it. */
function showsValue(stderr: string, value: string): boolean {
  if (value === "") return stderr.includes('""') || /\bempty\b/.test(stderr);
  // A bare port number may be shown as "22/tcp".
  if (/^[0-9]+$/.test(value) && new RegExp(`\\b${value}/(tcp|udp)\\b`).test(stderr)) return true;
  const parts = new Set([value, ...value.split(/[,|]/), ...value.split(/[,|:-]/), value.trim()]);
  // A path or file name may be shown as the full path it was resolved to ("/" → "/tmp/root/").
  const escaped = JSON.stringify(value)
    .slice(1, -1)
    .replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const asPathTail = new RegExp(value.startsWith("/") ? `"[^"]*${escaped}"` : `"(?:[^"]*/)?${escaped}"`).test(
    stderr,
  );
  // An empty part of a list ("lo1|" has an empty address) is shown as "".
  return (
    asPathTail ||
    [...parts].some((p) => (p !== "" || /[,|]/.test(value)) && stderr.includes(JSON.stringify(p)))
  );
}

interface RefusalCase {
  /** A distinct description: command and what the input tries. */
  id: string;
  argv: readonly string[];
  /** How many leading argv words name the command ("fw sync" = 2). */
  words?: number;
  code: RegExp;
  /** The value the message must show; undefined when the refusal is about a combination, not one value. */
  shows?: string;
}

function assertRefusal(c: RefusalCase, r: CliResult): void {
  assert.equal(r.code, 3, `exit status\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  const m = /^qjail: (QJ\d{4}): /m.exec(r.stderr);
  assert.ok(m, `no "qjail: QJxxxx:" line in:\n${r.stderr}`);
  assert.match(m[1] as string, c.code, `code in:\n${r.stderr}`);
  if (c.shows !== undefined)
    assert.ok(
      showsValue(r.stderr, c.shows),
      `the message does not show ${JSON.stringify(c.shows)}:\n${r.stderr}`,
    );
  assert.ok(
    !/internal error|at .*\.(ts|js):\d+/.test(r.stderr),
    `a refusal must not be an internal error:\n${r.stderr}`,
  );
}

async function runRefusal(c: RefusalCase): Promise<void> {
  triedInputs++;
  const r = await runCli(withRoot(c.words ?? 1, c.argv, shared));
  try {
    assertRefusal(c, r);
  } finally {
    const now = treeDigest(shared);
    const changed = [...new Set([...now.keys(), ...pristineDigest.keys()])].filter(
      (k) => now.get(k) !== pristineDigest.get(k),
    );
    if (changed.length > 0) copyPristine(shared);
    assert.deepEqual(changed, [], "a refused command changed the state");
  }
}

function caseGroup(title: string, cases: readonly RefusalCase[]): void {
  describe(title, () => {
    const ids = new Set<string>();
    for (const c of cases) {
      assert.ok(!ids.has(c.id), `duplicate case ${c.id}`);
      ids.add(c.id);
      test(c.id, () => runRefusal(c));
    }
  });
}

const label = (h: Hostile): string => `${h.why} (${JSON.stringify(h.value).slice(0, 40)})`;

// ---------------------------------------------------------------------------
// Names: every hostile name, in every place a name goes.

const JAIL_NAME = /^QJ101[0-3]$/;
caseGroup(
  "hostile jail names: create",
  HOSTILE_NAMES.map((h) => ({
    id: `create ${label(h)}`,
    argv: ["create", "-n", "lo1", "-4", "10.0.0.50", "--", h.value],
    code: JAIL_NAME,
    shows: h.value,
  })),
);
caseGroup(
  "hostile jail names: config -n (rename)",
  HOSTILE_NAMES.map((h) => ({
    id: `config -n ${label(h)}`,
    argv: ["config", "-n", h.value, "ssh"],
    code: JAIL_NAME,
    shows: h.value,
  })),
);
caseGroup(
  "hostile jail names: restore",
  HOSTILE_NAMES.map((h) => ({
    id: `restore ${label(h)}`,
    argv: ["restore", "--", h.value],
    code: /^QJ16[2-4]\d$/,
    shows: h.value,
  })),
);
caseGroup(
  "hostile jail names: delete",
  HOSTILE_NAMES.map((h) => ({
    id: `delete ${label(h)}`,
    argv: ["delete", "--", h.value],
    code: /^QJ11(1\d)$/,
    shows: h.value,
  })),
);
caseGroup(
  "hostile jail names: expose",
  HOSTILE_NAMES.map((h) => ({
    id: `expose ${label(h)}`,
    argv: ["expose", "--", h.value, "tcp", "7000:80"],
    code: /^QJ(101[0-3]|30\d\d)$/,
    shows: h.value,
  })),
);
caseGroup(
  "hostile zone names: list -z",
  HOSTILE_NAMES.map((h) => ({
    id: `list -z ${label(h)}`,
    argv: ["list", "-z", h.value],
    code: /^QJ1(015|116)$/,
    shows: h.value,
  })),
);
caseGroup(
  "hostile flavor names: create -f",
  HOSTILE_NAMES.map((h) => ({
    id: `create -f ${label(h)}`,
    argv: ["create", "-n", "lo1", "-4", "10.0.0.50", "-f", h.value, "flv"],
    code: /^QJ12?0(17|3)$|^QJ1203$/,
    shows: h.value,
  })),
);
caseGroup(
  "option-like jail names",
  OPTION_LIKE_NAMES.map((h) => ({
    id: `create ${label(h)}`,
    argv: ["create", "-n", "lo1", "-4", "10.0.0.50", h.value],
    code: /^QJ1002$/,
  })),
);

// ---------------------------------------------------------------------------
// Addresses and ports.

const ADDRESS = /^QJ1(0(1[6]|2\d)|2\d\d|3\d\d)$/;
caseGroup(
  "hostile IPv4 lists: create -4",
  HOSTILE_IPV4.map((h) => ({
    id: `create -4 ${label(h)}`,
    argv: ["create", "-n", "lo1", "-4", h.value, "addr"],
    code: ADDRESS,
    shows: h.value,
  })),
);
caseGroup(
  "hostile IPv4 lists: config -4",
  HOSTILE_IPV4.map((h) => ({
    id: `config -4 ${label(h)}`,
    argv: ["config", "-4", h.value, "ssh"],
    code: ADDRESS,
    shows: h.value,
  })),
);
caseGroup(
  "hostile IPv6 lists: create -6",
  HOSTILE_IPV6.map((h) => ({
    id: `create -6 ${label(h)}`,
    argv: ["create", "-n", "lo1", "-6", h.value, "addr"],
    code: ADDRESS,
    shows: h.value,
  })),
);
caseGroup(
  "hostile IPv6 lists: config -6",
  HOSTILE_IPV6.map((h) => ({
    id: `config -6 ${label(h)}`,
    argv: ["config", "-6", h.value, "ssh"],
    code: ADDRESS,
    shows: h.value,
  })),
);
caseGroup(
  "hostile port mappings: expose",
  HOSTILE_PORT_MAPPINGS.map((h) => ({
    id: `expose ${label(h)}`,
    argv: ["expose", "ssh", "tcp", "--", h.value],
    code: /^QJ30\d\d$/,
    shows: h.value === "22:22" ? "22" : h.value,
  })),
);
caseGroup(
  "hostile ports: unexpose",
  ["0", "65536", "abc", "-1", "6188-6190", "", "1e3", "6188;id"].map((p) => ({
    id: `unexpose www tcp ${JSON.stringify(p)}`,
    argv: ["unexpose", "www", "tcp", "--", p],
    code: /^QJ30\d\d$/,
    shows: p,
  })),
);
caseGroup("hostile exposure options", [
  { id: "expose protocol icmp", argv: ["expose", "ssh", "icmp", "7000:22"], code: /^QJ3010$/, shows: "icmp" },
  {
    id: "expose protocol TCP in capitals",
    argv: ["expose", "ssh", "TCP", "7000:22"],
    code: /^QJ3010$/,
    shows: "TCP",
  },
  {
    id: "expose protocol with a command",
    argv: ["expose", "ssh", "tcp;id", "7000:22"],
    code: /^QJ3010$/,
    shows: "tcp;id",
  },
  { id: "expose protocol empty", argv: ["expose", "ssh", "", "7000:22"], code: /^QJ3010$/, shows: "" },
  { id: "expose protocol sctp", argv: ["expose", "ssh", "sctp", "7000:22"], code: /^QJ3010$/, shows: "sctp" },
  {
    id: "expose --from prefix 33",
    argv: ["expose", "ssh", "tcp", "7000:22", "--from", "10.0.0.0/33"],
    code: /^QJ3015$/,
    shows: "10.0.0.0/33",
  },
  {
    id: "expose --from not a network",
    argv: ["expose", "ssh", "tcp", "7000:22", "--from", "not-a-net"],
    code: /^QJ3015$/,
    shows: "not-a-net",
  },
  {
    id: "expose --from with a command",
    argv: ["expose", "ssh", "tcp", "7000:22", "--from", "0.0.0.0/0;id"],
    code: /^QJ3015$/,
    shows: "0.0.0.0/0;id",
  },
  {
    id: "expose --from IPv6 prefix 129",
    argv: ["expose", "ssh", "tcp", "7000:22", "--from", "fd00::/129"],
    code: /^QJ30\d\d$/,
    shows: "fd00::/129",
  },
  {
    id: "expose --from IPv6 to an IPv4-only jail",
    argv: ["expose", "ssh", "tcp", "7000:22", "--from", "2001:db8::/32"],
    code: /^QJ3021$/,
    shows: "2001:db8::/32",
  },
  {
    id: "expose --from empty",
    argv: ["expose", "ssh", "tcp", "7000:22", "--from", ""],
    code: /^QJ3015$/,
    shows: "",
  },
  {
    id: "expose --on bad interface",
    argv: ["expose", "ssh", "tcp", "7000:22", "--on", "bad if!"],
    code: /^QJ3016$/,
    shows: "bad if!",
  },
  {
    id: "expose --on address out of range",
    argv: ["expose", "ssh", "tcp", "7000:22", "--on", "999.1.1.1"],
    code: /^QJ3016$/,
    shows: "999.1.1.1",
  },
  {
    id: "expose --on empty",
    argv: ["expose", "ssh", "tcp", "7000:22", "--on", ""],
    code: /^QJ3016$/,
    shows: "",
  },
  {
    id: "expose --on IPv6 for an IPv4-only jail",
    argv: ["expose", "ssh", "tcp", "7000:22", "--on", "2001:db8::5"],
    code: /^QJ3021$/,
    shows: "2001:db8::5",
  },
  {
    id: "expose --comment with a quote",
    argv: ["expose", "ssh", "tcp", "7000:22", "--comment", 'a"b'],
    code: /^QJ3017$/,
    shows: 'a"b',
  },
  {
    id: "expose --comment with a newline",
    argv: ["expose", "ssh", "tcp", "7000:22", "--comment", "a\nrdr em0 0/0 port 1 -> 1.2.3.4 port 1 tcp"],
    code: /^QJ3017$/,
  },
  {
    id: "expose --comment with $()",
    argv: ["expose", "ssh", "tcp", "7000:22", "--comment", "$(id)"],
    code: /^QJ3017$/,
    shows: "$(id)",
  },
  {
    id: "expose --comment with backquotes",
    argv: ["expose", "ssh", "tcp", "7000:22", "--comment", "`id`"],
    code: /^QJ3017$/,
    shows: "`id`",
  },
  {
    id: "expose --comment 201 characters",
    argv: ["expose", "ssh", "tcp", "7000:22", "--comment", "c".repeat(201)],
    code: /^QJ3017$/,
  },
  {
    id: "expose a public port already forwarded to another jail",
    argv: ["expose", "ssh", "tcp", "6188:22"],
    code: /^QJ3022$/,
    shows: "6188",
  },
  {
    id: "expose the same exposure twice",
    argv: ["expose", "www", "tcp", "6188:80"],
    code: /^QJ3022$/,
    shows: "6188",
  },
  {
    id: "expose an overlapping range",
    argv: ["expose", "ssh", "tcp", "6180-6190:6180-6190"],
    code: /^QJ3022$/,
    shows: "6180-6190",
  },
  {
    id: "unexpose an exposure that does not exist",
    argv: ["unexpose", "www", "udp", "6188"],
    code: /^QJ3024$/,
    shows: "www",
  },
]);

// ---------------------------------------------------------------------------
// Flags combined illegally, and global options.

caseGroup("illegal flag combinations", [
  {
    id: "create -c with -f ssh-default",
    argv: ["create", "-n", "lo1", "-4", "10.0.0.50", "-c", "-f", "ssh-default", "cx"],
    code: /^QJ1202$/,
    shows: "ssh-default",
  },
  {
    id: "create -a with -f",
    argv: ["create", "-n", "lo1", "-4", "10.0.0.50", "-a", "www", "-f", "default", "cx"],
    code: /^QJ1212$/,
  },
  {
    id: "create -A without -a",
    argv: ["create", "-n", "lo1", "-4", "10.0.0.50", "-A", "lab", "cx"],
    code: /^QJ1211$/,
    shows: "lab",
  },
  { id: "create with no address", argv: ["create", "-n", "lo1", "cx"], code: /^QJ1201$/, shows: "cx" },
  {
    id: "create -d 0",
    argv: ["create", "-n", "lo1", "-4", "10.0.0.50", "-d", "0", "cx"],
    code: /^QJ1214$/,
    shows: "0",
  },
  {
    id: "create -d 255",
    argv: ["create", "-n", "lo1", "-4", "10.0.0.50", "-d", "255", "cx"],
    code: /^QJ1214$/,
    shows: "255",
  },
  {
    id: "create -d abc",
    argv: ["create", "-n", "lo1", "-4", "10.0.0.50", "-d", "abc", "cx"],
    code: /^QJ1214$/,
    shows: "abc",
  },
  {
    id: "create -d with -6",
    argv: ["create", "-n", "lo1", "-4", "10.0.0.50", "-6", "fd00::50", "-d", "3", "cx"],
    code: /^QJ1208$/,
    shows: "fd00::50",
  },
  {
    id: "create -d running past .254",
    argv: ["create", "-n", "lo1", "-4", "10.0.0.253", "-d", "3", "cx"],
    code: /^QJ1209$/,
    shows: "10.0.0.253",
  },
  {
    id: "create -d with two addresses",
    argv: ["create", "-n", "lo1", "-4", "10.0.0.50,10.0.0.51", "-d", "2", "cx"],
    code: /^QJ1207$/,
    shows: "10.0.0.50,10.0.0.51",
  },
  {
    id: "create -i abc",
    argv: ["create", "-n", "lo1", "-4", "10.0.0.50", "-i", "abc", "cx"],
    code: /^QJ1030$/,
    shows: "abc",
  },
  {
    id: "create -i below 10m",
    argv: ["create", "-n", "lo1", "-4", "10.0.0.50", "-i", "5m", "cx"],
    code: /^QJ1031$/,
    shows: "5m",
  },
  {
    id: "create two names",
    argv: ["create", "-n", "lo1", "-4", "10.0.0.50", "cx", "cy"],
    code: /^QJ1210$/,
    shows: "cy",
  },
  { id: "create no name", argv: ["create", "-n", "lo1", "-4", "10.0.0.50"], code: /^QJ1210$/ },
  { id: "create -4 without its value", argv: ["create", "-n", "lo1", "cx", "-4"], code: /^QJ1002$/ },
  { id: "create unknown option -Z", argv: ["create", "-Z", "-4", "10.0.0.50", "cx"], code: /^QJ1002$/ },
  {
    id: "create an existing name",
    argv: ["create", "-n", "lo1", "-4", "10.0.0.50", "www"],
    code: /^QJ1205$/,
    shows: "www",
  },
  {
    id: "create -n bad interface",
    argv: ["create", "-n", "em0;id", "-4", "10.0.0.50", "cx"],
    code: /^QJ1016$/,
    shows: "em0;id",
  },
  { id: "config two options", argv: ["config", "-k", "-K", "ssh"], code: /^QJ1331$/ },
  { id: "config no option", argv: ["config", "ssh"], code: /^QJ1330$/ },
  { id: "config -A with a name", argv: ["config", "-A", "-k", "ssh"], code: /^QJ1334$/ },
  { id: "config -s not a number", argv: ["config", "-s", "abc", "ssh"], code: /^QJ1340$/, shows: "abc" },
  { id: "config -s out of range", argv: ["config", "-s", "-5", "ssh"], code: /^QJ1340$/, shows: "-5" },
  { id: "config -f fib not a number", argv: ["config", "-f", "x1", "ssh"], code: /^QJ13\d\d$/, shows: "x1" },
  {
    id: "config -b ruleset not a number",
    argv: ["config", "-b", "4;id", "ssh"],
    code: /^QJ13\d\d$/,
    shows: "4;id",
  },
  {
    id: "config -n to an existing name",
    argv: ["config", "-n", "www", "ssh"],
    code: /^QJ13\d\d$/,
    shows: "www",
  },
  { id: "config -n with two old names", argv: ["config", "-n", "web", "ssh", "www"], code: /^QJ13\d\d$/ },
  {
    id: "config -v unknown firewall",
    argv: ["config", "-v", "iptables", "ssh"],
    code: /^QJ13\d\d$/,
    shows: "iptables",
  },
  { id: "delete -A with a name", argv: ["delete", "-A", "ssh"], code: /^QJ1320$/ },
  { id: "delete without names", argv: ["delete"], code: /^QJ1321$/ },
  { id: "archive -A with a name", argv: ["archive", "-A", "ssh"], code: /^QJ1602$/, shows: "ssh" },
  { id: "archive without names", argv: ["archive"], code: /^QJ1603$/ },
  { id: "restore -s with a name", argv: ["restore", "-s", "www"], code: /^QJ1624$/ },
  { id: "restore without names", argv: ["restore"], code: /^QJ1620$/ },
  { id: "restore a jail that exists", argv: ["restore", "www"], code: /^QJ1628$/, shows: "www" },
  { id: "list prefix written backwards", argv: ["list", "=www"], code: /^QJ1111$/, shows: "=www" },
  { id: "list prefix with more names", argv: ["list", "ww=", "ssh"], code: /^QJ1112$/, shows: "ww=" },
  { id: "list prefix that matches nothing", argv: ["list", "zzz="], code: /^QJ1114$/, shows: "zzz" },
  { id: "list prefix not first", argv: ["list", "ssh", "ww="], code: /^QJ1113$/, shows: "ww=" },
  {
    id: "start --json where not supported",
    argv: ["install", "--json", "-f", "/nonexistent"],
    code: /^QJ1004$/,
  },
  { id: "--platform solaris", argv: ["list", "--platform", "solaris"], code: /^QJ1003$/, shows: "solaris" },
  { id: "expose with a missing mapping", argv: ["expose", "www", "tcp"], code: /^QJ30\d\d$/ },
  { id: "expose with extra words", argv: ["expose", "www", "tcp", "7001:80", "extra"], code: /^QJ30\d\d$/ },
  {
    id: "help for a command that does not exist",
    argv: ["help", "frobnicate"],
    code: /^QJ1006$/,
    shows: "frobnicate",
  },
]);

describe("global option values", () => {
  test("--root that is not absolute", async () => {
    triedInputs++;
    const r = await runCli(["list", "--root", "relative/dir"]);
    assertRefusal({ id: "", argv: [], code: /^QJ1005$/, shows: "relative/dir" }, r);
  });
});

// ---------------------------------------------------------------------------
// Public addresses only warn: a jail may really have a public address.

describe("warnings that do not refuse", () => {
  test("exposing a jail whose address is public warns (QJ3030) and --dry-run changes nothing", async () => {
    triedInputs++;
    const r = await runCli(withRoot(1, ["expose", "pub", "tcp", "7100:80", "--dry-run"], shared));
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr + r.stdout, /QJ3030: jail "pub" address 203\.0\.113\.20 is not private/);
    assert.deepEqual(treeDigest(shared), pristineDigest);
  });
});

// ---------------------------------------------------------------------------
// Damaged records and jail.conf blocks: list still works and names the damage.

const L = hostLayout();
interface Damage {
  id: string;
  damage(root: string): void;
  /** Text the output must contain to name the damaged file. */
  names: RegExp;
  /** Still listed: these jails (the undamaged ones at least). */
  lists: readonly string[];
}

const wwwRecord = (root: string): string => physical(root, `${L.local}/www`);
const wwwText = (root: string): string => readFileSync(wwwRecord(root), "utf8");
const WWW_RECORD = /qjail\.local\/www/;

const DAMAGES: readonly Damage[] = [
  {
    id: "record truncated after two lines",
    damage: (r) => writeFileSync(wwwRecord(r), wwwText(r).split("\n").slice(0, 2).join("\n")),
    names: WWW_RECORD,
    lists: ["ssh"],
  },
  {
    id: "record truncated mid-line",
    damage: (r) => writeFileSync(wwwRecord(r), wwwText(r).slice(0, 40)),
    names: WWW_RECORD,
    lists: ["ssh"],
  },
  { id: "record empty", damage: (r) => writeFileSync(wwwRecord(r), ""), names: WWW_RECORD, lists: ["ssh"] },
  {
    id: "record binary garbage",
    damage: (r) =>
      writeFileSync(wwwRecord(r), Buffer.from([0xff, 0xfe, 0x00, 0x01, 0x1b, 0x5b, 0x32, 0x4a, 0x0a])),
    names: WWW_RECORD,
    lists: ["ssh"],
  },
  // The record's syntax is intact (the NUL is inside a quoted value): list must still work; flagging the value is not asked here.
  {
    id: "record with NUL bytes inside a value",
    damage: (r) => writeFileSync(wwwRecord(r), wwwText(r).replace('ip4="10.0.0.3"', 'ip4="10.0.\u00000.3"')),
    names: /./,
    lists: ["ssh"],
  },
  // qjail's own parser trims each line, so a CRLF record still reads: nothing to name, both jails listed.
  {
    id: "record with CRLF line ends",
    damage: (r) => writeFileSync(wwwRecord(r), wwwText(r).replace(/\n/g, "\r\n")),
    names: /./,
    lists: ["ssh", "www"],
  },
  {
    id: "record with an unknown key",
    damage: (r) => writeFileSync(wwwRecord(r), wwwText(r) + 'exec="rm -rf /"\n'),
    names: WWW_RECORD,
    lists: ["ssh", "www"],
  },
  {
    id: "record line without quotes",
    damage: (r) => writeFileSync(wwwRecord(r), wwwText(r).replace('ip4="10.0.0.3"', "ip4=10.0.0.3")),
    names: WWW_RECORD,
    lists: ["ssh"],
  },
  {
    id: "record value with command substitution",
    damage: (r) => writeFileSync(wwwRecord(r), wwwText(r).replace('ip4="10.0.0.3"', 'ip4="$(reboot)"')),
    names: WWW_RECORD,
    lists: ["ssh"],
  },
  {
    id: "record value with backquotes",
    damage: (r) => writeFileSync(wwwRecord(r), wwwText(r).replace('interface="lo1"', 'interface="`reboot`"')),
    names: WWW_RECORD,
    lists: ["ssh"],
  },
  {
    id: "record naming another jail",
    damage: (r) => writeFileSync(wwwRecord(r), wwwText(r).replace('name="www"', 'name="evil"')),
    names: WWW_RECORD,
    lists: ["ssh"],
  },
  {
    id: "record of 1 MiB",
    damage: (r) => writeFileSync(wwwRecord(r), wwwText(r) + "#".repeat(1024 * 1024) + "\n"),
    names: /qjail\.local\/www|ssh/,
    lists: ["ssh"],
  },
  {
    id: "record replaced by a directory",
    damage: (r) => (rmSync(wwwRecord(r)), mkdirSync(wwwRecord(r))),
    names: WWW_RECORD,
    lists: ["ssh"],
  },
  {
    id: "record replaced by a symlink to a host file",
    damage: (r) => (rmSync(wwwRecord(r)), symlinkSync("/etc/passwd", wwwRecord(r))),
    names: WWW_RECORD,
    lists: ["ssh"],
  },
  {
    id: "record replaced by a FIFO (list must not hang)",
    damage: (r) => (rmSync(wwwRecord(r)), spawnSync("mkfifo", [wwwRecord(r)])),
    names: WWW_RECORD,
    lists: ["ssh"],
  },
  {
    id: "record present twice, as www and www.norun",
    damage: (r) => cpSync(wwwRecord(r), `${wwwRecord(r)}.norun`),
    names: /www\.norun|"www"/,
    lists: ["ssh"],
  },
  {
    id: "record hard-linked to another jail's record",
    damage: (r) => (rmSync(wwwRecord(r)), linkSync(physical(r, `${L.local}/ssh`), wwwRecord(r))),
    names: WWW_RECORD,
    lists: ["ssh"],
  },
  {
    id: "jail.conf block truncated",
    damage: (r) => writeFileSync(physical(r, `${L.config}/www`), "www {\nhost.hostname = "),
    names: /./,
    lists: ["ssh", "www"],
  },
  {
    id: "jail.conf block replaced by garbage",
    damage: (r) => writeFileSync(physical(r, `${L.config}/www`), "}}}{{{\u0000"),
    names: /./,
    lists: ["ssh", "www"],
  },
  {
    id: "jail.conf block missing",
    damage: (r) => rmSync(physical(r, `${L.config}/www`)),
    names: /./,
    lists: ["ssh", "www"],
  },
  {
    id: "fstab line corrupted",
    damage: (r) => writeFileSync(physical(r, `${L.fstabDir}/www`), "nullfs nullfs nullfs\n"),
    names: /./,
    lists: ["ssh", "www"],
  },
];

describe("damaged records and jail.conf blocks: list still works and names the damaged file", () => {
  for (const d of DAMAGES) {
    test(d.id, { timeout: 30_000 }, async () => {
      triedInputs++;
      const root = join(tmp.dir, `damage-${d.id.replace(/[^A-Za-z0-9]/g, "_")}`);
      copyPristine(root);
      d.damage(root);
      const before = treeDigest(root);
      const text = await runCli(withRoot(1, ["list"], root));
      const json = await runCli(withRoot(1, ["list", "--json"], root));
      assert.equal(text.code, 0, `list exits 0: ${text.stderr}`);
      for (const j of d.lists) assert.match(text.stdout, new RegExp(` ${j}\\n`), `list shows ${j}`);
      assert.match(text.stderr + text.stdout, d.names, "list names the damaged file");
      const doc = JSON.parse(json.stdout) as { "qjail-information": { jail: { name: string }[] } };
      for (const j of d.lists)
        assert.ok(
          doc["qjail-information"].jail.some((x) => x.name === j),
          `list --json shows ${j}`,
        );
      assert.deepEqual(treeDigest(root), before, "list changed the state");
      rmSync(root, { recursive: true, force: true });
    });
  }
});

// ---------------------------------------------------------------------------
// Hostile archives: restore refuses before writing anything.

interface ArchiveAttack {
  id: string;
  members: TarMember[];
  /** Raw bytes instead of a tar (truncated, not gzip...). */
  raw?: (good: Buffer) => Buffer;
  shows?: string;
}

const ARCHIVE_ATTACKS: readonly ArchiveAttack[] = [
  {
    id: "member at an absolute host path (/etc/passwd)",
    members: evilArchive([{ path: "/etc/passwd", content: "root::0:0::/root:/bin/sh\n" }]),
    shows: "/etc/passwd",
  },
  {
    id: "member in /root/.ssh (authorized_keys)",
    members: evilArchive([{ path: "/root/.ssh/authorized_keys", content: "ssh-ed25519 AAAA attacker\n" }]),
    shows: "/root/.ssh/authorized_keys",
  },
  {
    id: "member climbing out with ..",
    members: evilArchive([{ path: "/usr/jails/evil/../../../etc/passwd", content: "x\n" }]),
    shows: "/usr/jails/evil/../../../etc/passwd",
  },
  {
    id: "relative member with ..",
    members: evilArchive([{ path: "../../etc/passwd", content: "x\n" }]),
    shows: "../../etc/passwd",
  },
  {
    id: "relative member without a leading slash",
    members: evilArchive([{ path: "usr/jails/evil/etc/motd", content: "x\n" }]),
    shows: "usr/jails/evil/etc/motd",
  },
  {
    id: "member with a dot segment",
    members: evilArchive([{ path: "/usr/jails/evil/./etc/motd", content: "x\n" }]),
    shows: "/usr/jails/evil/./etc/motd",
  },
  {
    id: "member with a double slash",
    members: evilArchive([{ path: "/usr/jails/evil//etc/motd", content: "x\n" }]),
    shows: "/usr/jails/evil//etc/motd",
  },
  {
    id: "symlink to host /etc, then a file through it",
    members: evilArchive([
      { path: "/usr/jails/evil/hostetc", type: "SymbolicLink", linkpath: "/etc" },
      { path: "/usr/jails/evil/hostetc/passwd", content: "x\n" },
    ]),
    shows: "/usr/jails/evil/hostetc/passwd",
  },
  {
    id: "relative symlink climbing out of the jail root",
    members: evilArchive([{ path: "/usr/jails/evil/up", type: "SymbolicLink", linkpath: "../../../etc" }]),
    shows: "/usr/jails/evil/up",
  },
  {
    id: "relative symlink climbing out, then a file through it",
    members: evilArchive([
      { path: "/usr/jails/evil/up", type: "SymbolicLink", linkpath: "../../../etc" },
      { path: "/usr/jails/evil/up/shadow", content: "x\n" },
    ]),
    shows: "/usr/jails/evil/up",
  },
  {
    id: "hard link to a host file",
    members: evilArchive([{ path: "/usr/jails/evil/etc/pw", type: "Link", linkpath: "/etc/master.passwd" }]),
    shows: "/usr/jails/evil/etc/pw",
  },
  {
    id: "hard link to the jail root itself",
    members: evilArchive([{ path: "/usr/jails/evil/self", type: "Link", linkpath: "/usr/jails/evil" }]),
    shows: "/usr/jails/evil/self",
  },
  {
    id: "device node (/dev/null major/minor)",
    members: evilArchive([{ path: "/usr/jails/evil/dev/mem", type: "CharacterDevice" }]),
    shows: "/usr/jails/evil/dev/mem",
  },
  {
    id: "member in another jail's tree",
    members: evilArchive([{ path: "/usr/jails/www/etc/rc.conf", content: 'sshd_enable="YES"\n' }]),
    shows: "/usr/jails/www/etc/rc.conf",
  },
  {
    id: "record for another jail",
    members: evilArchive([{ path: "/usr/local/etc/qjail.global/www", content: 'name="www"\n' }]),
    shows: "/usr/local/etc/qjail.global/www",
  },
  {
    id: "a second qjail.local record",
    members: evilArchive([
      { path: "/usr/local/etc/qjail.local/evil2", content: 'name="evil2"\npath="/usr/jails/evil2"\n' },
    ]),
  },
  {
    id: "the host's qjail.host config",
    members: evilArchive([{ path: "/usr/local/etc/qjail.host", content: 'ext_if="lo0"\n' }]),
    shows: "/usr/local/etc/qjail.host",
  },
  {
    id: "a control file that is a symlink",
    members: evilArchive([]).map((m) =>
      m.path === "/usr/local/etc/qjail.config/evil"
        ? { path: m.path, type: "SymbolicLink" as const, linkpath: "/etc/rc.conf" }
        : m,
    ),
    shows: "/usr/local/etc/qjail.config/evil",
  },
  {
    id: "record path pointing at the host root",
    members: evilArchive([], (t) => t.replace('path="/usr/jails/evil"', 'path="/"')),
    shows: "/",
  },
  {
    id: "record path pointing at another jail",
    members: evilArchive([], (t) => t.replace('path="/usr/jails/evil"', 'path="/usr/jails/www"')),
    shows: "/usr/jails/www",
  },
  {
    id: "record name that is not the file's",
    members: evilArchive([], (t) => t.replace('name="evil"', 'name="www"')),
    shows: "www",
  },
  {
    id: "record with no jail at all",
    members: evilArchive([]).filter((m) => !m.path.includes("qjail.local")),
  },
  {
    id: "truncated gzip",
    members: evilArchive([]),
    raw: (good) => good.subarray(0, Math.floor(good.length / 2)),
  },
  { id: "not gzip at all", members: [], raw: () => Buffer.from("this is not an archive\n") },
  { id: "empty file", members: [], raw: () => Buffer.alloc(0) },
];

describe("hostile archives: restore refuses and writes nothing", () => {
  for (const a of ARCHIVE_ATTACKS) {
    test(a.id, async () => {
      triedInputs++;
      const root = join(tmp.dir, `archive-${a.id.replace(/[^A-Za-z0-9]/g, "_")}`);
      copyPristine(root);
      const file = physical(root, `${L.archive}/evil@202611301200.00.tar`);
      buildArchive(file, a.members);
      if (a.raw) writeFileSync(file, a.raw(readFileSync(file)));
      const before = treeDigest(root);
      const r = await runCli(withRoot(1, ["restore", "evil@202611301200.00.tar"], root));
      assertRefusal(
        { id: a.id, argv: [], code: /^QJ16[2-4]\d$/, shows: a.shows ?? "evil@202611301200.00.tar" },
        r,
      );
      assert.deepEqual(treeDigest(root), before, "restore changed the state");
      rmSync(root, { recursive: true, force: true });
    });
  }
});
