import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { runProgram } from "../../src/platform/run.js";
import { makeTestHost, hostMountsUnder, type TestHost } from "./helpers/host.js";

/**
 * A jail's disk limit on Linux (isolation-2.md M1: "1 GiB on the host disk, no
 * quota"): `create -i SIZE` makes an image jail, its tree an ext4 file system
 * of that size in `<jail>/<name>.img`, mounted through a loop device while it
 * runs. What the jail's root can write is measured from inside.
 */
const canRun = process.platform === "linux" && process.getuid?.() === 0;

describe(
  "disk limit of a Linux jail: create -i (isolation-2.md M1)",
  { skip: !canRun && "needs root on Linux" },
  () => {
    let host: TestHost;
    const ok = async (args: string[]): Promise<string> => {
      const r = await host.qjail(args);
      assert.equal(r.code, 0, `qjail ${args.join(" ")} exited ${r.code}\n${r.stdout}\n${r.stderr}`);
      return r.stdout;
    };
    /** Loop devices backed by this host's image files. */
    const loops = async (): Promise<string> =>
      (await runProgram(["losetup", "-a"])).stdout
        .split("\n")
        .filter((l) => l.includes(host.root))
        .join("\n");

    before(async () => {
      host = await makeTestHost("disk");
      await ok(["install"]);
    });
    after(async () => {
      await host?.cleanup();
    });

    it("create -i 48m: the tree is an image of that size, nothing mounted while stopped", async () => {
      await ok(["create", "-i", "48m", "-4", "10.0.0.61", "img"]);
      assert.match(
        readFileSync(host.path("/usr/local/etc/qjail.local/img"), "utf8"),
        /^imagetype="simple"$/m,
      );
      assert.deepEqual(readdirSync(host.path("/usr/jails/img")), ["img.img"]);
      assert.deepEqual(hostMountsUnder(host.path("/usr/jails/img")), []);
    });

    it("-c with -i is refused on Linux, and nothing is created", async () => {
      const r = await host.qjail(["create", "-i", "48m", "-c", "-4", "10.0.0.62", "img2"]);
      assert.equal(r.code, 3, r.stdout + r.stderr);
      assert.match(r.stderr, /QJ1216/);
      assert.equal(readdirSync(host.path("/usr/jails")).includes("img2"), false);
    });

    it("running, the jail's root cannot write past the image's size", async () => {
      await ok(["start", "img"]);
      assert.deepEqual(hostMountsUnder(host.path("/usr/jails/img")), [host.path("/usr/jails/img")]);
      const r = await host.qjail(
        ["console", "-c", "busybox dd if=/dev/zero of=/root/fill bs=1048576 count=200", "img"],
        120_000,
      );
      assert.notEqual(r.code, 0, `the jail wrote 200 MiB into a 48 MiB image: ${r.stderr}`);
      assert.match(r.stderr, /No space left on device/);
      const df = await host.qjail(["console", "-c", "busybox df -k /", "img"]);
      const total = Number(/\s(\d+)\s+\d+\s+\d+\s+\d+%/.exec(df.stdout)?.[1]);
      assert.ok(total > 0 && total <= 48 * 1024, `the jail's / has ${total} KiB:\n${df.stdout}`);
    });

    it("--writebps throttles the jail's writes to its own loop device (io rates, M1)", async () => {
      await ok(["console", "-c", "rm /root/fill", "img"]); // the image was left full by the test above
      /** Seconds the jail takes to write 4 MiB with O_DIRECT (no page cache in between). */
      const write4M = async (file: string): Promise<number> => {
        const t0 = Date.now();
        const r = await host.qjail(
          ["console", "-c", `busybox dd if=/dev/zero of=${file} bs=1048576 count=4 oflag=direct`, "img"],
          120_000,
        );
        assert.equal(r.code, 0, r.stderr);
        return (Date.now() - t0) / 1000;
      };
      const free = await write4M("/root/fast");
      await ok(["stop", "img"]);
      await ok(["config", "--writebps", "1M", "img"]);
      await ok(["start", "img"]);
      const throttled = await write4M("/root/slow");
      // 4 MiB at 1 MiB/s: about 3 s more than the same write unthrottled
      assert.ok(
        throttled >= 2.5 && throttled >= free + 1.5,
        `4 MiB written in ${throttled} s with --writebps 1M, ${free} s without`,
      );
      await ok(["stop", "img"]);
      await ok(["config", "--writebps", "unlimited", "img"]);
      await ok(["start", "img"]);
    });

    it("stop unmounts the image and releases its loop device; the data stays for the next start", async () => {
      await ok(["stop", "img"]);
      assert.deepEqual(hostMountsUnder(host.path("/usr/jails/img")), []);
      assert.equal(await loops(), "");
      await ok(["start", "img"]);
      const r = await host.qjail(["console", "-c", "ls /root/slow", "img"]);
      assert.equal(r.code, 0, r.stderr);
      await ok(["stop", "img"]);
    });

    it("delete removes the image jail whole", async () => {
      await ok(["delete", "img"]);
      assert.equal(readdirSync(host.path("/usr/jails")).includes("img"), false);
      assert.equal(await loops(), "");
    });
  },
);
