import http from "node:http";
import https from "node:https";
import { createHash } from "node:crypto";
import { createWriteStream, promises as fsp } from "node:fs";
import { posix } from "node:path";
import type { Writable } from "node:stream";
import { UsageError, shown } from "../core/errors.js";
import { parseManifest, releaseUrl } from "../core/release.js";

export interface FetchBaseOptions {
  /** Mirror base URL ending in "/" (see mirrorBase in src/core/release.ts). */
  mirror: string;
  /** "14.1-RELEASE" (see releaseFromUname). */
  release: string;
  /** "amd64/amd64" (see archPath). */
  arch: string;
  /** Physical directory that receives base.txz; created if missing. */
  dir: string;
  /** Progress and messages go here; a bar when it is a TTY, percentage lines otherwise. */
  stderr: Writable;
  /** Give up on a silent connection after this long (default 60 s). */
  idleTimeoutMs?: number;
}

const MAX_REDIRECTS = 5;
const MANIFEST_LIMIT = 1 << 20;

/**
 * Download `base.txz` of a release and check it against the release's
 * MANIFEST (SHA256, column 2), for `qjail install`. Resolves to `dir`, which
 * then holds `base.txz`, ready for the same extraction as `install -f dir`.
 */
export async function fetchBaseTxz(opts: FetchBaseOptions): Promise<string> {
  await fetchChecked({
    url: `${releaseUrl(opts.mirror, opts.arch, opts.release)}base.txz`,
    target: posix.join(opts.dir, "base.txz"),
    verify: "manifest",
    stderr: opts.stderr,
    idleTimeoutMs: opts.idleTimeoutMs,
    what: opts.release,
  });
  return opts.dir;
}

/**
 * Fetch `url` into the physical file `target` (the applier's `download`
 * step); with `verify: "manifest"`, checked against the SHA256 that the
 * MANIFEST beside it on the server (a FreeBSD release directory) gives for
 * its file name. The file is written as `target.part` and renamed only when
 * complete and checked, so a failed, cut or tampered download never leaves a
 * file at `target`, nor the part file.
 */
export async function fetchChecked(opts: {
  url: string;
  target: string;
  verify: "manifest" | undefined;
  stderr: Writable;
  idleTimeoutMs?: number | undefined;
  /** How the closing line names what was fetched (the release). */
  what?: string;
}): Promise<void> {
  const base = opts.url.slice(0, opts.url.lastIndexOf("/") + 1);
  const file = opts.url.slice(base.length);
  const idle = opts.idleTimeoutMs ?? 60_000;
  const entry = opts.verify === "manifest" ? await manifestEntry(base, file, idle) : undefined;
  await fsp.mkdir(posix.dirname(opts.target), { recursive: true });
  const part = `${opts.target}.part`;
  try {
    const sha = await get(opts.url, idle, (res) => saveWithProgress(res, part, opts.stderr, file));
    if (entry !== undefined && sha !== entry.sha256) {
      throw new UsageError(
        "QJ1513",
        `${file} from ${shown(base)} does not match its MANIFEST: SHA256 ${sha}, expected ${entry.sha256}`,
        "The download was damaged or altered and has been deleted. Try again, or another mirror with -h HOST (or QJAIL_MIRROR=URL).",
      );
    }
    await fsp.rename(part, opts.target);
  } catch (e) {
    await fsp.rm(part, { force: true });
    throw e;
  }
  if (entry !== undefined)
    opts.stderr.write(
      `${file}${opts.what === undefined ? "" : ` ${opts.what}`} checked against MANIFEST (SHA256 ${entry.sha256})\n`,
    );
}

/** The MANIFEST line for `file` in the release directory `base`; refused when it has none. */
async function manifestEntry(base: string, file: string, idle: number): Promise<{ sha256: string }> {
  const manifestText = (
    await get(`${base}MANIFEST`, idle, async (res) => readLimited(res, MANIFEST_LIMIT))
  ).toString("utf8");
  const { entries, problems } = parseManifest(manifestText);
  const entry = entries.get(file);
  if (!entry) {
    throw new UsageError(
      "QJ1512",
      `the MANIFEST at ${shown(`${base}MANIFEST`)} lists no ${file}${problems.length ? ` (${problems[0]})` : ""}`,
      "Check the mirror and release, or use 'qjail install -f DIR'.",
    );
  }
  return entry;
}

/** Where FreeBSD moves the distribution sets of releases past their end of life. */
export const OLD_RELEASES = "https://ftp-archive.freebsd.org/pub/FreeBSD-Archive/old-releases/";

type Body<T> = (res: http.IncomingMessage) => Promise<T>;

function get<T>(url: string, idleMs: number, body: Body<T>, redirects = 0): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const u = new URL(url);
    const mod = u.protocol === "https:" ? https : u.protocol === "http:" ? http : undefined;
    if (!mod) {
      reject(
        new UsageError(
          "QJ1510",
          `cannot download ${shown(url)}: unsupported protocol`,
          "Use an http or https mirror.",
        ),
      );
      return;
    }
    const req = mod.get(u, { headers: { "user-agent": "qjail" } }, (res) => {
      const status = res.statusCode ?? 0;
      if (status >= 300 && status < 400 && res.headers.location) {
        res.resume();
        if (redirects >= MAX_REDIRECTS) {
          reject(
            new UsageError(
              "QJ1510",
              `too many redirects fetching ${shown(url)}`,
              "Try another mirror with -h HOST (or QJAIL_MIRROR=URL).",
            ),
          );
          return;
        }
        get(new URL(res.headers.location, u).href, idleMs, body, redirects + 1).then(resolve, reject);
        return;
      }
      if (status !== 200) {
        res.resume();
        reject(
          new UsageError(
            "QJ1511",
            `download of ${shown(url)} failed: HTTP ${status}`,
            status === 404
              ? `Check that the release exists on this mirror for this architecture. A release past its end of life moves to ${OLD_RELEASES}: run 'QJAIL_MIRROR=${OLD_RELEASES} qjail install', or use 'qjail install -f DIR'.`
              : "Check that the release exists on this mirror for this architecture, or use 'qjail install -f DIR'.",
          ),
        );
        return;
      }
      body(res).then(resolve, (e: unknown) => reject(asDownloadError(e, url)));
    });
    req.setTimeout(idleMs, () => req.destroy(new Error(`no data for ${idleMs / 1000} s`)));
    req.on("error", (e) => reject(asDownloadError(e, url)));
  });
}

function asDownloadError(e: unknown, url: string): unknown {
  if (e instanceof UsageError) return e;
  return new UsageError(
    "QJ1510",
    `download of ${shown(url)} failed: ${(e as Error).message}`,
    "Check the network and the mirror, then run the command again.",
  );
}

function readLimited(res: http.IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    res.on("data", (c: Buffer) => {
      size += c.length;
      if (size > limit) res.destroy(new Error(`response larger than ${limit} bytes`));
      else chunks.push(c);
    });
    res.on("end", () => {
      if (!res.complete) reject(new Error("the connection closed before the end of the file"));
      else resolve(Buffer.concat(chunks));
    });
    res.on("error", reject);
    res.on("aborted", () => reject(new Error("the connection closed before the end of the file")));
  });
}

/** Stream to `path`, hashing as it goes; resolves to the hex SHA256. */
async function saveWithProgress(
  res: http.IncomingMessage,
  path: string,
  stderr: Writable,
  name: string,
): Promise<string> {
  const total = Number(res.headers["content-length"] ?? NaN);
  const progress = await makeProgress(stderr, Number.isFinite(total) ? total : undefined, name);
  return new Promise<string>((resolve, reject) => {
    const hash = createHash("sha256");
    const out = createWriteStream(path, { mode: 0o644 });
    let received = 0;
    let failed = false;
    const fail = (e: Error): void => {
      if (failed) return;
      failed = true;
      progress.stop();
      res.destroy();
      out.destroy();
      reject(e);
    };
    res.on("data", (c: Buffer) => {
      received += c.length;
      hash.update(c);
      progress.update(received);
      if (!out.write(c)) {
        res.pause();
        out.once("drain", () => res.resume());
      }
    });
    res.on("aborted", () => fail(new Error(`the connection closed after ${received} bytes`)));
    res.on("error", (e) => fail(e));
    out.on("error", (e) => fail(e));
    res.on("end", () => {
      if (failed) return;
      if (!res.complete || (Number.isFinite(total) && received !== total)) {
        fail(
          new Error(
            `the connection closed after ${received} of ${Number.isFinite(total) ? total : "?"} bytes`,
          ),
        );
        return;
      }
      out.end(() => {
        progress.stop();
        resolve(hash.digest("hex"));
      });
    });
  });
}

interface Progress {
  update(bytes: number): void;
  stop(): void;
}

async function makeProgress(stderr: Writable, total: number | undefined, name: string): Promise<Progress> {
  const tty = (stderr as Writable & { isTTY?: boolean }).isTTY === true;
  if (tty && total !== undefined) {
    // Loaded only when a download shows progress (install without -f on a terminal).
    const { default: cliProgress } = await import("cli-progress");
    const bar = new cliProgress.SingleBar(
      {
        stream: stderr as unknown as NodeJS.WritableStream,
        format: `${name} [{bar}] {percentage}% | {value}/{total} bytes`,
        hideCursor: true,
      },
      cliProgress.Presets.shades_classic,
    );
    bar.start(total, 0);
    return { update: (b) => bar.update(b), stop: () => bar.stop() };
  }
  // Not a terminal (a log, CI): a line per 10 % instead of a redrawn bar.
  let lastTenth = -1;
  return {
    update(bytes) {
      if (total === undefined || total === 0) return;
      const tenth = Math.floor((bytes / total) * 10);
      if (tenth > lastTenth) {
        lastTenth = tenth;
        stderr.write(`${name}: ${tenth * 10}% (${bytes} of ${total} bytes)\n`);
      }
    },
    stop() {},
  };
}
