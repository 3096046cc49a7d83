import { test, after, before, describe } from "node:test";
import assert from "node:assert/strict";
import { cpSync, mkdirSync, readdirSync, readFileSync } from "node:fs";
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { hostLayout, physical } from "../../src/core/paths.js";
import { qjailArgv, tempDir } from "../helpers/cli.js";
import { childArgv, runSync } from "./helpers/index.js";
import { createJails, installHost, releaseBase } from "./helpers/host.js";
import { digestDiff, fullDigest } from "./helpers/killloop.js";

// Fault injection (issue 7 §2): a full disk while a record is written, a
// failing firewall load, and concurrent qjail processes. The SIGKILL loops
// are in kill-create, kill-delete and kill-change.test.ts.

const tmp = tempDir(`qjail-faults-${process.pid}-`);
after(() => {
  tmp.cleanup();
  releaseBase();
});

const ON_FREEBSD_LAYOUT = ["--platform", "freebsd"];

/** An installed host with jails www (10.0.0.3) and ssh (10.0.0.2). */
const hostWithJails = join(tmp.dir, "template-host");
before(async () => {
  mkdirSync(hostWithJails, { recursive: true });
  await installHost(hostWithJails);
  await createJails(hostWithJails, [
    ["www", "10.0.0.3"],
    ["ssh", "10.0.0.2"],
  ]);
});

/** Parse the child's `digest {...}` line. */
function digestLine(stdout: string): Record<string, string> {
  const line = stdout.split("\n").find((l) => l.startsWith("digest "));
  assert.ok(line, `no digest line in:\n${stdout}`);
  return JSON.parse(line.slice("digest ".length)) as Record<string, string>;
}

describe("disk full while writing a record", () => {
  /**
   * The whole host lives on a small tmpfs in the child's private mount
   * namespace; after the fill, a real qjail command must fail cleanly.
   */
  function onFullDisk(
    label: string,
    argv: string[],
  ): { exit: string; stderr: string; before: Record<string, string>; after: Record<string, string> } {
    const dir = join(tmp.dir, `full-${label}`);
    mkdirSync(dir, { recursive: true });
    const root = join(dir, "root");
    const etc = physical(root, "/usr/local/etc");
    const r = runSync([
      "unshare",
      "-m",
      "--propagation",
      "private",
      "--",
      ...childArgv(),
      "--tmpfs",
      dir,
      "16m",
      "--then",
      "exec",
      "cp",
      "-a",
      hostWithJails,
      root,
      "--then",
      "fill",
      dir,
      "--then",
      "digest",
      etc,
      "--then",
      "exec",
      ...qjailArgv(),
      ...argv.slice(0, 1),
      "--root",
      root,
      ...ON_FREEBSD_LAYOUT,
      ...argv.slice(1),
      "--then",
      "digest",
      etc,
    ]);
    const lines = r.stdout.split("\n");
    const digests = lines.filter((l) => l.startsWith("digest ")).map((l) => digestLine(l));
    const exits = lines.filter((l) => l.startsWith("exit exec "));
    assert.equal(digests.length, 2, r.stdout + r.stderr);
    assert.equal(exits[0], "exit exec 0", `cp -a: ${r.stderr}`);
    return {
      exit: exits[1] ?? "",
      stderr: r.stderr,
      before: digests[0] as Record<string, string>,
      after: digests[1] as Record<string, string>,
    };
  }

  for (const [label, argv] of [
    ["config -k rewrites the record", ["config", "-k", "www"]],
    ["config -4 rewrites the record and jail.conf", ["config", "-4", "10.0.0.44", "www"]],
    ["expose writes the exposure file and rules", ["expose", "www", "tcp", "6188:80", "--no-load"]],
  ] as const) {
    test(`${label}: the command fails saying the disk is full, and every record is as it was`, () => {
      const r = onFullDisk(`${label.replace(/[^a-z0-9]/gi, "")}`, [...argv]);
      assert.notEqual(r.exit, "exit exec 0", "the command cannot succeed on a full disk");
      assert.deepEqual(
        r.after,
        r.before,
        "records, jail.conf blocks, fstabs and exposures must be as they were",
      );
      assert.match(r.stderr, /no space left on device/i);
      assert.doesNotMatch(
        r.stderr,
        /This is a bug in qjail/,
        "a full disk is not a bug in qjail: the message should say what to do",
      );
    });
  }

  test("the atomic record write fails with ENOSPC, the old record stays intact, no temp file is left", () => {
    const dir = join(tmp.dir, "full-atomic");
    mkdirSync(dir, { recursive: true });
    const record = join(dir, "www");
    // A 256 KiB tmpfs in the child's private mount namespace, filled to the last block.
    const r = runSync([
      "unshare",
      "-m",
      "--propagation",
      "private",
      "--",
      ...childArgv(),
      "--tmpfs",
      dir,
      "256k",
      "--then",
      "write",
      record,
      "300",
      "--then",
      "digest",
      dir,
      "--then",
      "fill",
      dir,
      "--then",
      "write",
      record,
      "5000",
      "1",
      "--then",
      "digest",
      dir,
    ]);
    const lines = r.stdout.split("\n");
    assert.ok(lines.includes("ok write 300"), r.stdout + r.stderr);
    const failures = lines.filter((l) => l.startsWith("error write "));
    assert.equal(failures.length, 2, r.stdout);
    for (const f of failures) assert.match(f, /^error write ENOSPC .*no space left on device/);
    const digests = lines.filter((l) => l.startsWith("digest ")).map((l) => digestLine(l));
    const [beforeFill, afterFailure] = digests;
    assert.ok(beforeFill && afterFailure);
    assert.equal(afterFailure.www, beforeFill.www, "the old record must be unchanged");
    assert.deepEqual(
      Object.keys(afterFailure).sort(),
      [".filler", "www"],
      "no temporary file may be left beside the record",
    );
  });
});

/** Run the real qjail asynchronously, so several run at the same time. */
function qjailAsync(
  argv: readonly string[],
  env: Record<string, string> = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const [cmd, ...pre] = qjailArgv();
  return new Promise((resolve, reject) => {
    const child = spawn(cmd as string, [...pre, ...argv], {
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...env },
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

function freshHost(label: string): string {
  const root = join(tmp.dir, label);
  cpSync(hostWithJails, root, { recursive: true, verbatimSymlinks: true });
  return root;
}

function recordNames(root: string, dir: string): string[] {
  return readdirSync(physical(root, dir)).sort();
}

describe("concurrent qjail commands", () => {
  test("ten parallel creates of distinct jails all succeed, and every record is whole", async () => {
    const root = freshHost("parallel-distinct");
    const names = Array.from({ length: 10 }, (_, i) => `par${i}`);
    const runs = await Promise.all(
      names.map((n, i) =>
        qjailAsync([
          "create",
          "--root",
          root,
          ...ON_FREEBSD_LAYOUT,
          "-n",
          "lo1",
          "-4",
          `10.0.1.${i + 10}`,
          n,
        ]),
      ),
    );
    runs.forEach((r, i) => assert.equal(r.code, 0, `create ${names[i]}: ${r.stderr}`));
    const layout = hostLayout();
    assert.deepEqual(recordNames(root, layout.local), [...names, "ssh", "www"].sort());
    assert.deepEqual(recordNames(root, layout.global), [...names, "ssh", "www"].sort());
    for (const n of names) {
      const local = readFileSync(physical(root, `${layout.local}/${n}`), "utf8");
      assert.equal(readFileSync(physical(root, `${layout.global}/${n}`), "utf8"), local);
      assert.match(local, new RegExp(`^name="${n}"\\n`));
    }
  });

  test("ten parallel creates of the same name: exactly one succeeds, nine refuse cleanly", async () => {
    const root = freshHost("parallel-same");
    const runs = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        qjailAsync([
          "create",
          "--root",
          root,
          ...ON_FREEBSD_LAYOUT,
          "-n",
          "lo1",
          "-4",
          `10.0.2.${i + 10}`,
          "twin",
        ]),
      ),
    );
    const ok = runs.filter((r) => r.code === 0);
    const refused = runs.filter((r) => r.code !== 0);
    assert.equal(ok.length, 1, runs.map((r) => `${r.code}: ${r.stderr}`).join("\n"));
    for (const r of refused) {
      assert.equal(r.code, 3, r.stderr);
      assert.match(r.stderr, /QJ1205: Jailname already exists\. "twin"/);
    }
    const layout = hostLayout();
    assert.deepEqual(recordNames(root, layout.local), ["ssh", "twin", "www"]);
    // The record is the winner's, whole: its address is one of the ten, once.
    assert.match(readFileSync(physical(root, `${layout.local}/twin`), "utf8"), /^ip4="10\.0\.2\.(1[0-9])"$/m);
  });

  test("a qjail killed while holding the host lock does not block the next one for good", async () => {
    const root = freshHost("stale-lock");
    const victim = await qjailAsync(
      ["create", "--root", root, ...ON_FREEBSD_LAYOUT, "-n", "lo1", "-4", "10.0.3.10", "victim"],
      { QJAIL_CRASH_AT: "step:1" },
    );
    assert.equal(victim.code, null, "the first create must have been killed");
    const t0 = Date.now();
    const next = await qjailAsync([
      "create",
      "--root",
      root,
      ...ON_FREEBSD_LAYOUT,
      "-n",
      "lo1",
      "-4",
      "10.0.3.11",
      "next",
    ]);
    assert.equal(next.code, 0, next.stderr);
    // proper-lockfile declares a lock stale after 10 s without updates (src/store/lock.ts).
    assert.ok(Date.now() - t0 < 25_000, `took ${Date.now() - t0} ms`);
  });
});

describe("a firewall load that fails", () => {
  const ns = `qjf${process.pid}${randomBytes(2).toString("hex")}`;
  let nsReady = false;
  before(() => {
    const r = runSync(["ip", "netns", "add", ns]);
    assert.equal(r.code, 0, `ip netns add: ${r.stderr}`);
    nsReady = true;
  });
  after(() => {
    if (nsReady) runSync(["ip", "netns", "del", ns]);
  });

  /** qjail inside the test's own network namespace, loading its nftables rules there (QJAIL_FW_LOAD=1 under --root). */
  const inNs = (argv: string[], env: Record<string, string> = {}) =>
    runSync(["ip", "netns", "exec", ns, ...qjailArgv(), ...argv], { QJAIL_FW_LOAD: "1", ...env });
  const liveTable = (): string =>
    runSync(["ip", "netns", "exec", ns, "nft", "list", "table", "inet", "qjail"]).stdout;

  test("the kernel refuses the new rules: the previous rules stay loaded and no state changes", () => {
    const root = freshHost("fw-load-fails");
    const first = inNs(["expose", "--root", root, "--platform", "linux", "www", "tcp", "6188:80"]);
    assert.equal(first.code, 0, first.stderr);
    const tableBefore = liveTable();
    assert.match(
      tableBefore,
      /dport 6188 (?:counter packets \d+ bytes \d+ )?dnat ip to 10\.0\.0\.3:80/,
      "the first exposure is live",
    );
    const stateBefore = fullDigest(root);

    const broken = { QJAIL_FAULT_NFT_RULE: "tcp dport 1 jump no_such_chain" };
    const second = inNs(["expose", "--root", root, "--platform", "linux", "ssh", "tcp", "6122:22"], broken);
    assert.equal(second.code, 3, `${second.stdout}\n${second.stderr}`);
    assert.match(second.stderr, /QJ\d{4}: .*nft -f refused the rules; the previous rules stay in force/);
    assert.equal(liveTable(), tableBefore, "the live table changed");
    assert.deepEqual(digestDiff(fullDigest(root), stateBefore), [], "a failed load changed qjail's state");

    const sync = inNs(["fw", "sync", "--root", root, "--platform", "linux"], broken);
    assert.equal(sync.code, 3, `${sync.stdout}\n${sync.stderr}`);
    assert.equal(liveTable(), tableBefore, "the live table changed after a failed fw sync");
    assert.deepEqual(digestDiff(fullDigest(root), stateBefore), [], "a failed fw sync changed qjail's state");
  });
});
