import { test, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { emptyRecord, formatRecord, type JailRecord } from "../../src/core/record.js";
import { runCli, testdir } from "../helpers/cli.js";

// FreeBSD console under --root --dry-run: the exact jexec/login/setfib argv
// (no FreeBSD kernel here), running jails from a recorded jls document. The
// test runner's stdin is not a terminal, so these are the plans without
// script(1); the terminal form is pinned in test/freebsd/platform.test.ts.

const cleanups: (() => void)[] = [];
after(() => cleanups.forEach((c) => c()));

function host(): { dir: string; env: Record<string, string> } {
  const files: Record<string, string> = {};
  const add = (file: string, name: string, extra: Partial<JailRecord> = {}): void => {
    const text = formatRecord({
      ...emptyRecord(),
      name,
      path: `/usr/jails/${name}`,
      ip4: "10.0.0.9",
      ...extra,
    });
    files[`usr/local/etc/qjail.local/${file}`] = text;
    files[`usr/local/etc/qjail.global/${file}`] = text;
  };
  add("www", "www");
  add("fibbed.man", "fibbed", { fib: "3" });
  add("old.norun", "old");
  add("down", "down");
  const jail = (name: string, jid: number) => ({
    jid,
    hostname: name,
    path: `/usr/jails/${name}`,
    name,
    state: "ACTIVE",
    cpusetid: 1,
    ipv4_addrs: ["10.0.0.9"],
    ipv6_addrs: [],
  });
  files["jls.json"] = JSON.stringify({
    __version: "2",
    "jail-information": { jail: [jail("www", 3), jail("fibbed", 4), jail("old", 5)] },
  });
  const t = testdir(files, `qjail-console-${process.pid}-`);
  cleanups.push(t.cleanup);
  return { dir: t.dir, env: { QJAIL_JLS_JSON: join(t.dir, "jls.json") } };
}

const consoleCli = (h: { dir: string; env: Record<string, string> }, args: string[]) =>
  runCli(["console", "--platform", "freebsd", "--root", h.dir, ...args], { env: h.env });

const assertLines = async (args: string[], expected: string): Promise<void> => {
  const h = host();
  const r = await consoleCli(h, ["--dry-run", ...args]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.split("\n")[1], expected);
};

test("console: root login", () => assertLines(["www"], "/usr/sbin/jexec -l www /usr/bin/login -f root"));
test("console -u: login as that user", () =>
  assertLines(["-u", "admin", "www"], "/usr/sbin/jexec -l www /usr/bin/login -f admin"));
test("console -c: the command, split into words, no login", () =>
  assertLines(["-c", "service nginx  status", "www"], "/usr/sbin/jexec -l www service nginx status"));
test("console -u -c: jexec -U user", () =>
  assertLines(["-u", "admin", "-c", "id", "www"], "/usr/sbin/jexec -l -U admin www id"));
test("console on a jail with a fib runs under setfib", () =>
  assertLines(["fibbed"], "/usr/sbin/setfib 3 /usr/sbin/jexec -l fibbed /usr/bin/login -f root"));
test("console -c words with shell characters stay single argv words", () =>
  assertLines(["-c", "echo $HOME;rm", "www"], "/usr/sbin/jexec -l www echo '$HOME;rm'"));

test("console refuses a norun jail even when it runs", async () => {
  const r = await consoleCli(host(), ["old"]);
  assert.equal(r.code, 3);
  assert.match(r.stderr, /QJ1423: This jail name is in norun status\. "old"/);
});

test("console on a stopped jail is a real error (qjail 5.x exited 0)", async () => {
  const r = await consoleCli(host(), ["down"]);
  assert.equal(r.code, 3);
  assert.match(r.stderr, /QJ1424: Jail is not running & it needs to be\. "down"/);
  assert.match(r.stderr, /qjail start down/);
});

test("console refuses bad input before looking at any jail", async () => {
  const h = host();
  for (const [args, code] of [
    [["-u", "ad min", "www"], "QJ1420"],
    [["-c", "  ", "www"], "QJ1421"],
    [[], "QJ1422"],
    [["www", "db"], "QJ1422"],
    [["w="], "QJ1422"],
  ] as const) {
    const r = await consoleCli(h, [...args]);
    assert.equal(r.code, 3, args.join(" "));
    assert.match(r.stderr, new RegExp(code), args.join(" "));
  }
  const missing = await consoleCli(h, ["nosuch"]);
  assert.match(missing.stderr, /Jail doesn't exist/);
});

test("console has no --json output and says so", async () => {
  const r = await consoleCli(host(), ["--json", "www"]);
  assert.equal(r.code, 3);
  assert.match(r.stderr, /QJ1004/);
});
