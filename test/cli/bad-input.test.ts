import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { runCli, tempDir, treeDigest } from "../helpers/cli.js";
import { buildBaseTxz } from "../helpers/base-txz.js";

/**
 * Every refusal: exit 3, the stable code, the offending value shown
 * (JSON-quoted), and the --root tree byte-for-byte as it was.
 */
let base: { dir: string; cleanup: () => void };
let root: { dir: string; cleanup: () => void };
const qjail = (cmd: string, ...args: string[]) =>
  runCli([cmd, "--root", root.dir, "--platform", "freebsd", ...args]);

before(async () => {
  base = buildBaseTxz();
  root = tempDir(`qjail-bad-input-${process.pid}-`);
  for (const argv of [
    ["install", "-f", base.dir],
    ["create", "-n", "lo1", "-4", "10.0.0.5", "www"],
    ["create", "-n", "lo1", "-4", "10.0.0.6", "app"],
    ["create", "-n", "lo1", "-4", "10.0.0.7", "old"],
    ["config", "-r", "old"],
  ]) {
    const r = await qjail(argv[0] as string, ...argv.slice(1));
    assert.equal(r.code, 0, `${argv.join(" ")}: ${r.stderr}`);
  }
  // A directory no record names: create must not copy a jail over it.
  mkdirSync(join(root.dir, "usr/jails/stray/data"), { recursive: true });
});
after(() => {
  base?.cleanup();
  root?.cleanup();
});

const long = "x".repeat(51);
const cases: [string[], RegExp][] = [
  // create: names
  [["create", "-4", "10.0.0.9", "bad name"], /QJ1011: invalid jail name "bad name"/],
  [["create", "-4", "10.0.0.9", "12345"], /QJ1012: invalid jail name "12345": it is all digits/],
  [["create", "-4", "10.0.0.9", "sharedfs"], /QJ1013: invalid jail name "sharedfs"/],
  [["create", "-4", "10.0.0.9", ".hidden"], /QJ1010: invalid jail name ".hidden": it starts with a dot/],
  [["create", "-4", "10.0.0.9", "--", "-dash"], /QJ1010: invalid jail name "-dash": it starts with a dash/],
  [["create", "-4", "10.0.0.9", "a/b"], /QJ1010: invalid jail name "a\/b": it contains a path separator/],
  [
    ["create", "-4", "10.0.0.9", long],
    new RegExp(`QJ1010: invalid jail name "${long}": it is longer than 50`),
  ],
  [
    ["create", "-4", "10.0.0.9", "a\tb"],
    /QJ1010: invalid jail name "a\\tb": it contains a control character/,
  ],
  [["create", "-4", "10.0.0.9", "web.1"], /QJ1011: invalid jail name "web.1"/],
  [["create", "-4", "10.0.0.9", "www"], /QJ1205: Jailname already exists. "www"/],
  [
    ["create", "-4", "10.0.0.9", "stray"],
    /QJ1230: "\/usr\/jails\/stray" already exists, but no jail record names it/,
  ],
  [["create", "-4", "10.0.0.9", "db", "extra"], /QJ1210: one jail name expected, got "db" "extra"/],
  [["create", "-4", "10.0.0.9"], /QJ1210: no jail name given/],
  // create: addresses
  [["create", "-4", "10.0.0.9/24", "db"], /QJ1024: -4 address "10.0.0.9\/24" has a netmask/],
  [["create", "-4", "10.0.0.300", "db"], /QJ1025: invalid IPv4 address "10.0.0.300"/],
  [
    ["create", "-4", "10.0.0.9, 10.0.0.10", "db"],
    /QJ1021: -4 list "10.0.0.9, 10.0.0.10" contains white space/,
  ],
  [["create", "-4", "10.0.0.9,,10.0.0.10", "db"], /QJ1022: -4 list "10.0.0.9,,10.0.0.10" has an empty entry/],
  [["create", "-4", "|10.0.0.9", "db"], /QJ1023: malformed -4 entry "\|10.0.0.9"/],
  [["create", "-4", "0em|10.0.0.9", "db"], /QJ1016: invalid interface name "0em"/],
  [["create", "-4", "10.0.0.9,10.0.0.9", "db"], /QJ1027: -4 list "10.0.0.9,10.0.0.9" names "10.0.0.9" twice/],
  [
    ["create", "-4", "255.255.255.255", "db"],
    /QJ1026: IPv4 address "255.255.255.255" cannot be given to a jail/,
  ],
  [["create", "-6", "fd00::zz", "db"], /QJ1025: invalid IPv6 address "fd00::zz"/],
  [["create", "-6", "10.0.0.9", "db"], /QJ1025: invalid IPv6 address "10.0.0.9"/],
  [["create", "-6", "", "db"], /QJ1020: empty -6 address list/],
  [["create", "db"], /QJ1201: no address for jail "db"/],
  [["create", "-4", "10.0.0.5", "db"], /QJ1206: address "10.0.0.5" is already assigned to jail "www"/],
  [["create", "-4", "lo1|10.0.0.6", "db"], /QJ1206: address "10.0.0.6" is already assigned to jail "app"/],
  // create: other options
  [["create", "-4", "10.0.0.9", "-f", "nope", "db"], /QJ1203: Flavor not found. "nope"/],
  [["create", "-4", "10.0.0.9", "-f", "../etc", "db"], /QJ1017: invalid flavor name "..\/etc"/],
  [
    ["create", "-4", "10.0.0.9", "-c", "-f", "ssh-default", "db"],
    /QJ1202: -c and -f "ssh-default" cannot be used together/,
  ],
  [["create", "-4", "10.0.0.9", "-i", "5m", "db"], /QJ1031: image size "5m" is below the 10m minimum/],
  [["create", "-4", "10.0.0.9", "-i", "10k", "db"], /QJ1030: invalid image size "10k"/],
  [["create", "-4", "10.0.0.9", "-i", "1g", "db"], /QJ1215: image jails \(-i "1g"\) need mdconfig and newfs/],
  [["create", "-4", "10.0.0.9", "-d", "0", "db"], /QJ1214: -d copy count "0" is out of range/],
  [["create", "-4", "10.0.0.9", "-d", "two", "db"], /QJ1214: invalid -d copy count "two"/],
  [["create", "-4", "10.0.0.250", "-d", "10", "db"], /QJ1209: -d 10 from "10.0.0.250" runs past .254/],
  [
    ["create", "-4", "10.0.0.9,10.0.0.10", "-d", "2", "db"],
    /QJ1207: -d 2 needs exactly one IPv4 address, got "10.0.0.9,10.0.0.10"/,
  ],
  [["create", "-4", "10.0.0.9", "-a", "www", "db"], /QJ1219: No archive file found for "www"/],
  [["create", "-4", "10.0.0.9", "-a", "../www", "db"], /QJ1217: invalid archive name "..\/www"/],
  [
    ["create", "-4", "10.0.0.9", "-a", "www@202601010000.00.tar", "db"],
    /QJ1218: Full archive file name not found. "\/usr\/jails\/archive\/www@202601010000.00.tar"/,
  ],
  [
    ["create", "-4", "10.0.0.9", "-a", "www", "-f", "default", "db"],
    /QJ1212: -a and -f cannot be used together/,
  ],
  [["create", "-4", "10.0.0.9", "-a", "www", "-d", "2", "db"], /QJ1213: -a "www" cannot be combined with -d/],
  [["create", "-4", "10.0.0.9", "-a", "www", "-A", "nolab", "db"], /QJ1116: Un-known zone. "nolab"/],
  [["create", "-4", "10.0.0.9", "-A", "lab", "db"], /QJ1211: -A "lab" is only valid together with -a/],
  [["create", "-4", "10.0.0.9", "-z", "99", "db"], /QJ1015: invalid zone name "99": it is all digits/],
  [["create", "-4", "10.0.0.9", "-z", "nozone", "db"], /QJ1116: Un-known zone. "nozone"/],
  [["create", "-4", "10.0.0.9", "-n", "em0;x", "db"], /QJ1016: invalid interface name "em0;x"/],
  [["create", "-4", "10.0.0.9", "--bogus", "db"], /QJ1002: .*'--bogus'/],
  // list
  [["list", "nope"], /QJ1115: Jail doesn't exist. "nope"/],
  [["list", "=www"], /QJ1111: invalid group prefix "=www"/],
  [["list", "zz="], /QJ1114: No match for group prefix. "zz"/],
  [["list", "-z", "lab2"], /QJ1116: Un-known zone. "lab2"/],
  [["list", "--platform", "solaris"], /QJ1003: unknown platform "solaris"/],
  // delete
  [["delete"], /QJ1321: no jail named to delete/],
  [["delete", "-A", "www"], /QJ1320: Must not specify jailnames on delete -A/],
  [["delete", "nope"], /QJ1115: Jail doesn't exist. "nope"/],
  [["delete", "www=", "app"], /QJ1112: a group prefix "www=" cannot be combined with more names \("app"\)/],
  // config
  [["config", "www"], /QJ1330: No options coded/],
  [["config", "-k", "-y", "www"], /QJ1331: Only 1 option allowed at a time, got "-k", "-y"/],
  [["config", "-s", "4", "www"], /QJ1340: -s securelevel "4" is out of range/],
  [["config", "-s", "-2", "www"], /QJ1340: -s securelevel "-2" is out of range/],
  [["config", "-f", "x", "www"], /QJ1339: invalid -f fib number "x"/],
  [["config", "-b", "51", "www"], /QJ1305: devfs.rules # 51 does not exist/],
  [["config", "-b", "abc", "www"], /QJ1341: invalid -b devfs ruleset number "abc"/],
  [["config", "-v", "bogus", "www"], /QJ1342: invalid -v firewall "bogus"/],
  [["config", "-v", "pf", "www"], /QJ1308: jail "www" has no vnet interface/],
  [["config", "-n", "9999", "www"], /QJ1012: invalid jail name "9999"/],
  [["config", "-n", "old", "www"], /QJ1311: Jailname already exists. "old"/],
  [["config", "-n", "x", "www", "app"], /QJ1333: -n "x" needs exactly one old jail name, got 2/],
  [["config", "-4", "10.0.0.9/24", "www"], /QJ1024: -4 address "10.0.0.9\/24" has a netmask/],
  [["config", "-4", "10.0.0.6", "www"], /QJ1302: address "10.0.0.6" is already assigned to jail "app"/],
  [["config", "-A", "-4", "10.0.0.9"], /QJ1335: Option -A is not valid with -4/],
  [["config", "-A", "-k", "www"], /QJ1334: -A cannot be combined with jail names/],
  [["config", "-k"], /QJ1336: jailname is required unless -A is coded/],
  [["config", "-k", "old"], /QJ1301: jail "old" is in norun status/],
  [["config", "-c", "bad nic", "www"], /QJ1016: invalid interface name "bad nic"/],
  [["config", "-w", "", "www"], /QJ1016: invalid interface name ""/],
  [["config", "-p", "www"], /QJ1343: -p opens an editor, but there is no terminal/],
  [["config", "--packages", "nginx", "www"], /QJ1332: --packages only goes with -p/],
  [["config", "-p", "--packages", "nginx;rm", "www"], /QJ1033: invalid package name "nginx;rm"/],
  [["config", "-d", "www="], /QJ1337: -d takes exactly one jail name, got "www="/],
  [["config", "-k", "ghost"], /QJ1115: Jail doesn't exist. "ghost"/],
  // install
  [["install", "extra"], /QJ1220: install takes no arguments, got "extra"/],
  [
    ["install", "-f", "/nonexistent-qjail-dir"],
    /QJ1222: Install file not found "\/nonexistent-qjail-dir\/base.txz"/,
  ],
  [["install", "-z", "9", "-f", "/tmp"], /QJ1015: invalid zone name "9"/],
  [["install", "-f", "/tmp", "-h", "mirror.example"], /QJ1221: -f and -h cannot be used together/],
  [["install", "-h", "bad host!"], /QJ1507: invalid mirror host "bad host!"/],
];

test(`${cases.length} distinct bad inputs are refused with their value shown and nothing changed`, async () => {
  assert.ok(cases.length >= 50);
  assert.equal(new Set(cases.map(([a]) => JSON.stringify(a))).size, cases.length, "cases are distinct");
  for (const [argv, expected] of cases) {
    const before = treeDigest(root.dir);
    const r = await qjail(argv[0] as string, ...argv.slice(1));
    const label = JSON.stringify(argv);
    assert.equal(r.code, 3, `${label} exit status; stderr: ${r.stderr}`);
    assert.match(r.stderr, expected, label);
    assert.match(r.stderr, /\n {2}\S/, `${label} says what to do next`);
    assert.deepEqual(treeDigest(root.dir), before, `${label} changed the state`);
  }
});

test("a refusal under --json is one JSON error document", async () => {
  const r = await qjail("list", "--json", "nope");
  assert.equal(r.code, 3);
  assert.deepEqual(JSON.parse(r.stdout), {
    error: {
      code: "QJ1115",
      message: `Jail doesn't exist. "nope"`,
      hint: "Run 'qjail list' to see the jail names (and -z ZONE for a zone).",
    },
  });
});
