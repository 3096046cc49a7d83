import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { parseJlsJson } from "../../src/platform/freebsd/jls.js";
import { parseRouteGetInterface } from "../../src/platform/freebsd/route.js";
import { definedRulesets } from "../../src/platform/freebsd/devfs.js";
import { parseMountPoints } from "../../src/platform/freebsd/index.js";
import { SHARED } from "../helpers/cli.js";

// No FreeBSD kernel here: the readers are run on outputs recorded on real
// hosts (/work/shared/fixtures/freebsd, see PROVENANCE.md there).
const FIXTURES = join(SHARED, "fixtures/freebsd");
const fixture = (name: string): string => readFileSync(join(FIXTURES, name), "utf8");

test("recorded jls -v --libxo=json (nodemanager, libxo v2): three jails with their IPv4 and IPv6", () => {
  const jails = parseJlsJson(fixture("jls-v-libxo-json-nodemanager-1.txt"));
  assert.deepEqual([...jails.keys()], ["git7", "sto2", "git6"]);
  assert.deepEqual(jails.get("sto2"), {
    name: "sto2",
    jid: 105,
    path: "/usr/local/bastille/jails/sto2/root",
    ip4: ["172.16.20.112"],
    ip6: ["2001:470:e8af:20::532"],
  });
  assert.deepEqual(jails.get("git7")?.ip6, []);
});

test("recorded jls --libxo json -v -j 83 (jocker, libxo v2): name is the jid, two IPv4 addresses", () => {
  const jails = parseJlsJson(fixture("jls-v-libxo-json-jocker-1.txt"));
  assert.deepEqual(jails.get("83"), {
    name: "83",
    jid: 83,
    path: "/zroot/jocker_basejail",
    ip4: ["172.17.0.1", "172.17.0.2"],
    ip6: [],
  });
});

test("every recorded jls JSON fixture parses; the text-format ones are refused as not JSON", () => {
  const files = readdirSync(FIXTURES).filter((f) => f.startsWith("jls-"));
  assert.ok(files.length >= 5);
  for (const f of files) {
    const text = fixture(f);
    if (f.includes("libxo-json")) assert.ok(parseJlsJson(text).size >= 1, f);
    else assert.throws(() => parseJlsJson(text), /not JSON/, f);
  }
});

test("libxo v1 (11.x) shape: IPv6 inside ipv4_addrs is sorted by family", () => {
  // Hand-built to the 11.x shape the libioc capture shows (libxo "__version": "1",
  // IPv6 printed under ipv4_addrs, no ipv6_addrs); no clean real capture exists.
  const v1 = `{"__version": "1", "jail-information": {"jail": [{"jid":4,"hostname":"www","path":"/usr/jails/www","name":"www","state":"ACTIVE","cpusetid":3, "ipv4_addrs": ["10.0.0.2","fd00::2"]}]}}\n`;
  assert.deepEqual(parseJlsJson(v1).get("www"), {
    name: "www",
    jid: 4,
    path: "/usr/jails/www",
    ip4: ["10.0.0.2"],
    ip6: ["fd00::2"],
  });
});

test("no jails, and a malformed jid, are told apart", () => {
  assert.equal(parseJlsJson(`{"__version": "2", "jail-information": {"jail": []}}`).size, 0);
  assert.throws(
    () => parseJlsJson(`{"__version": "2", "jail-information": {"jail": [{"jid":"x","name":"a"}]}}`),
    /jid is not a jail id: "x"/,
  );
  assert.throws(() => parseJlsJson(`{"__version": "2"}`), /no "jail-information"/);
});

test("route -n get -inet default: the interface line (format of route(8) get; hand-written sample)", () => {
  const text = [
    "   route to: default",
    "destination: default",
    "       mask: default",
    "    gateway: 192.0.2.1",
    "        fib: 0",
    "  interface: vtnet0",
    "      flags: <UP,GATEWAY,DONE,STATIC>",
  ].join("\n");
  assert.equal(parseRouteGetInterface(text), "vtnet0");
  assert.equal(parseRouteGetInterface("route: route has not been found\n"), undefined);
});

test("devfs.rules: [name=N] headers plus the default rulesets 1-5", () => {
  const text = [
    "# local rules",
    "[devfsrules_qjail_bpf=50]",
    "add include $devfsrules_jail",
    "add path 'bpf*' unhide",
    "  [ vjail_pf = 70 ]  # pf in vnet",
    "#[commented=60]",
  ].join("\n");
  const sets = definedRulesets(text);
  assert.deepEqual(
    [...sets.keys()].sort((a, b) => a - b),
    [1, 2, 3, 4, 5, 50, 70],
  );
  assert.equal(sets.get(50), "devfsrules_qjail_bpf");
  assert.equal(definedRulesets(text, false).has(4), false);
});

test("mount -p: mount points with fstab escapes decoded", () => {
  const text =
    "/dev/ada0p2\t\t/\t\tufs\trw\t1 1\n/usr/jails/sharedfs\t/usr/jails/my\\040www/sharedfs\tnullfs\tro\t0 0\n";
  assert.deepEqual(parseMountPoints(text), ["/", "/usr/jails/my www/sharedfs"]);
});
