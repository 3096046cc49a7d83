import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { createHash, randomBytes } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { AddressInfo } from "node:net";
import { PassThrough } from "node:stream";
import { fetchBaseTxz } from "../../src/platform/download.js";
import { UsageError } from "../../src/core/errors.js";
import { tempDir } from "../helpers/cli.js";

// A stand-in mirror on 127.0.0.1 only (the workplace network rule): each
// release directory below exercises one outcome.
const BASE = randomBytes(300_000);
const SHA = createHash("sha256").update(BASE).digest("hex");
const manifest = (sha: string): string => `base.txz\t${sha}\t27034\tbase\t"Base system (MANDATORY)"\ton\n`;

let server: http.Server;
let mirror: string;
const dirs: (() => void)[] = [];

before(async () => {
  server = http.createServer((req, res) => {
    const url = req.url ?? "";
    const m = /^\/releases\/amd64\/amd64\/([^/]+)\/(MANIFEST|base\.txz)$/.exec(url);
    if (!m) {
      res.writeHead(404).end("not found");
      return;
    }
    const [, release, file] = m as unknown as [string, string, string];
    if (release === "moved-RELEASE") {
      res.writeHead(302, { location: `/releases/amd64/amd64/14.1-RELEASE/${file}` }).end();
      return;
    }
    if (file === "MANIFEST") {
      if (release === "nomanifest-RELEASE") res.writeHead(404).end();
      else res.writeHead(200).end(manifest(release === "tampered-RELEASE" ? "0".repeat(64) : SHA));
      return;
    }
    if (release === "missing-RELEASE") {
      res.writeHead(404).end();
      return;
    }
    if (release === "cut-RELEASE") {
      // Promise the whole file, send a third, then drop the connection.
      res.writeHead(200, { "content-length": String(BASE.length) });
      res.write(BASE.subarray(0, 100_000), () => res.socket?.destroy());
      return;
    }
    res.writeHead(200, { "content-length": String(BASE.length) }).end(BASE);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  mirror = `http://127.0.0.1:${(server.address() as AddressInfo).port}/releases/`;
});

after(() => {
  server.close();
  for (const c of dirs) c();
});

function target(): string {
  const t = tempDir(`qjail-dl-${process.pid}-`);
  dirs.push(t.cleanup);
  return join(t.dir, "download");
}

function capture(): { stream: PassThrough; text: () => string } {
  const stream = new PassThrough();
  let text = "";
  stream.on("data", (d: Buffer) => (text += d.toString()));
  return { stream, text: () => text };
}

async function refused(p: Promise<unknown>, code: string): Promise<UsageError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof UsageError, `expected UsageError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    return e;
  }
  assert.fail(`expected ${code}`);
}

test("a good download lands as base.txz with the bytes served, with percentage lines off a TTY", async () => {
  const dir = target();
  const err = capture();
  const out = await fetchBaseTxz({
    mirror,
    release: "14.1-RELEASE",
    arch: "amd64/amd64",
    dir,
    stderr: err.stream,
  });
  assert.equal(out, dir);
  assert.deepEqual(readFileSync(join(dir, "base.txz")), BASE);
  assert.deepEqual(readdirSync(dir), ["base.txz"]);
  assert.match(err.text(), /^base\.txz: \d+% \(\d+ of 300000 bytes\)$/m);
  assert.match(err.text(), /base\.txz: 100% \(300000 of 300000 bytes\)/);
  assert.match(err.text(), new RegExp(`SHA256 ${SHA}`));
});

test("a redirect is followed", async () => {
  const dir = target();
  await fetchBaseTxz({
    mirror,
    release: "moved-RELEASE",
    arch: "amd64/amd64",
    dir,
    stderr: capture().stream,
  });
  assert.deepEqual(readFileSync(join(dir, "base.txz")), BASE);
});

test("a checksum that does not match MANIFEST is refused and nothing is left", async () => {
  const dir = target();
  const e = await refused(
    fetchBaseTxz({ mirror, release: "tampered-RELEASE", arch: "amd64/amd64", dir, stderr: capture().stream }),
    "QJ1513",
  );
  assert.match(e.message, new RegExp(`SHA256 ${SHA}, expected 0{64}`));
  // the hint names only what install accepts (-h, QJAIL_MIRROR), no --mirror option (P22)
  assert.doesNotMatch(e.hint ?? "", /--mirror/);
  assert.deepEqual(readdirSync(dir), []);
});

test("a 404 for base.txz is refused with the URL and nothing is left", async () => {
  const dir = target();
  const e = await refused(
    fetchBaseTxz({ mirror, release: "missing-RELEASE", arch: "amd64/amd64", dir, stderr: capture().stream }),
    "QJ1511",
  );
  assert.match(e.message, /missing-RELEASE\/base\.txz.*HTTP 404/);
  // a release past its end of life is on ftp-archive; the hint names the way there (P22)
  assert.match(
    e.hint ?? "",
    /QJAIL_MIRROR=https:\/\/ftp-archive\.freebsd\.org\/pub\/FreeBSD-Archive\/old-releases\/ qjail install/,
  );
  assert.deepEqual(readdirSync(dir), []);
});

test("a missing MANIFEST is refused before anything is downloaded", async () => {
  const dir = target();
  await refused(
    fetchBaseTxz({
      mirror,
      release: "nomanifest-RELEASE",
      arch: "amd64/amd64",
      dir,
      stderr: capture().stream,
    }),
    "QJ1511",
  );
  assert.equal(existsSync(join(dir, "base.txz")), false);
});

test("a connection closed mid-way is refused and the part file is removed", async () => {
  const dir = target();
  const e = await refused(
    fetchBaseTxz({ mirror, release: "cut-RELEASE", arch: "amd64/amd64", dir, stderr: capture().stream }),
    "QJ1510",
  );
  assert.match(e.message, /closed/);
  assert.deepEqual(readdirSync(dir), []);
});

test("on a terminal the progress is a cli-progress bar, not percentage lines", async () => {
  const dir = target();
  const err = capture();
  Object.assign(err.stream, { isTTY: true, columns: 100 });
  await fetchBaseTxz({ mirror, release: "14.1-RELEASE", arch: "amd64/amd64", dir, stderr: err.stream });
  assert.match(err.text(), /base\.txz \[[^\]]*\] 100% \| 300000\/300000 bytes/);
  assert.doesNotMatch(err.text(), /^base\.txz: \d+%/m);
});
