import http from "node:http";
import https from "node:https";
import { promises as fsp } from "node:fs";
import { UsageError, shown } from "../core/errors.js";
import type { UpdateRequest } from "../core/dyndns.js";

/**
 * The dyndns2 client's I/O: one HTTP(S) GET per update, and reading the
 * password file. Request building and answer meaning are pure, in
 * src/core/dyndns.ts.
 */

/** Send one update; a transport failure resolves to {network} instead of throwing. */
export function sendUpdate(
  req: UpdateRequest,
  timeoutMs = 15000,
): Promise<{ status: number; body: string } | { network: string }> {
  return new Promise((resolve) => {
    const url = new URL(req.url);
    const lib = url.protocol === "https:" ? https : http;
    const request = lib.get(url, { headers: req.headers, timeout: timeoutMs }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => {
        // an update answer is one short line per host; anything huge is not dyndns2
        if (body.length < 4096) body += d;
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      res.on("error", (e) => resolve({ network: describe(e) }));
    });
    request.on("timeout", () =>
      request.destroy(Object.assign(new Error(`no answer within ${timeoutMs} ms`), { code: "ETIMEDOUT" })),
    );
    request.on("error", (e) => resolve({ network: describe(e) }));
  });
}

function describe(e: Error & { code?: string }): string {
  const what: Record<string, string> = {
    ECONNREFUSED: "connection refused",
    ECONNRESET: "connection reset",
    ETIMEDOUT: "timed out",
    ENOTFOUND: "host name not found",
    EAI_AGAIN: "name resolution failed",
    EHOSTUNREACH: "host unreachable",
    ENETUNREACH: "network unreachable",
  };
  return e.code && what[e.code] ? `${what[e.code]} (${e.code})` : e.message;
}

/**
 * Read the dyndns password from a file the admin made for it. Passwords on the
 * command line show in ps(1) to every user, so there is no --password option;
 * and a file other users can read is refused with the chmod that fixes it.
 */
export async function readPasswordFile(path: string, shownPath = path): Promise<string> {
  let st;
  try {
    st = await fsp.stat(path);
  } catch {
    throw new UsageError(
      "QJ5106",
      `password file ${shown(shownPath)} does not exist`,
      `Create it with the password on one line: install -m 600 /dev/null ${shownPath}; then edit it.`,
    );
  }
  if (!st.isFile())
    throw new UsageError(
      "QJ5107",
      `password file ${shown(shownPath)} is not a regular file`,
      "Give the path of a file holding the password on one line.",
    );
  if ((st.mode & 0o004) !== 0) {
    throw new UsageError(
      "QJ5108",
      `password file ${shown(shownPath)} is readable by every user (mode ${(st.mode & 0o777).toString(8)})`,
      `Try: chmod 600 ${shownPath}`,
    );
  }
  const password = (await fsp.readFile(path, "utf8")).replace(/\r?\n$/, "");
  if (password === "" || password.includes("\n")) {
    throw new UsageError(
      "QJ5109",
      `password file ${shown(shownPath)} must hold exactly one non-empty line`,
      "Put only the password in it, on one line.",
    );
  }
  return password;
}
