import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { writeFileSync, chmodSync } from "node:fs";
import { join } from "node:path";
import {
  buildUpdateRequest,
  classifyAnswer,
  validateDyndnsSettings,
  watchLoop,
  type WatchEffects,
  type DyndnsSettings,
} from "../../src/core/dyndns.js";
import { sendUpdate, readPasswordFile } from "../../src/platform/dyndns-client.js";
import { UsageError } from "../../src/core/errors.js";
import { tempDir } from "../helpers/cli.js";

/**
 * A dyndns2 server on 127.0.0.1: checks basic auth and the hostname like a
 * provider, remembers the address per host, and can be told to answer
 * abuse/911 or to reset connections.
 */
type Mode = "normal" | "abuse" | "911" | "reset";
const server = {
  mode: "normal" as Mode,
  requests: [] as { hostname: string | null; myip: string | null; agent: string | undefined }[],
  records: new Map<string, string>(),
  http: undefined as http.Server | undefined,
  port: 0,
};
const sockets = new Set<Socket>();

before(async () => {
  server.http = http.createServer((req, res) => {
    const u = new URL(req.url ?? "/", "http://127.0.0.1");
    server.requests.push({
      hostname: u.searchParams.get("hostname"),
      myip: u.searchParams.get("myip"),
      agent: req.headers["user-agent"],
    });
    if (server.mode === "reset") {
      req.socket.destroy();
      return;
    }
    const answer = (text: string): void => {
      res.writeHead(200, { "Content-Type": "text/plain" });
      res.end(text + "\n");
    };
    if (u.pathname !== "/nic/update") return answer("badagent");
    if (req.headers.authorization !== `Basic ${Buffer.from("alice:s3cret").toString("base64")}`)
      return answer("badauth");
    if (server.mode === "abuse") return answer("abuse");
    if (server.mode === "911") return answer("911");
    const host = u.searchParams.get("hostname") ?? "";
    if (host !== "host.example.org") return answer("nohost");
    const ip = u.searchParams.get("myip") ?? "";
    const was = server.records.get(host);
    server.records.set(host, ip);
    return answer(was === ip ? `nochg ${ip}` : `good ${ip}`);
  });
  server.http.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.http!.listen(0, "127.0.0.1", r));
  server.port = (server.http.address() as AddressInfo).port;
});

after(async () => {
  for (const s of sockets) s.destroy();
  await new Promise((r) => server.http?.close(r));
});

function reset(mode: Mode = "normal"): void {
  server.mode = mode;
  server.requests = [];
  server.records.clear();
}

const settings = (over: Partial<DyndnsSettings> = {}): DyndnsSettings => ({
  url: `http://127.0.0.1:${server.port}/nic/update`,
  user: "alice",
  password: "s3cret",
  hostname: "host.example.org",
  ...over,
});

/** Effects with a scripted address sequence, a fake clock and real HTTP to the local server. */
function effects(addresses: (string | undefined)[], s: DyndnsSettings, persisted?: { value?: string }) {
  let clock = 0;
  let i = 0;
  const log: string[] = [];
  const synced: string[] = [];
  const store = persisted ?? {};
  const fx: WatchEffects = {
    currentAddress: async () => addresses[Math.min(i++, addresses.length - 1)],
    resync: async (a) => void synced.push(a),
    update: (a) => sendUpdate(buildUpdateRequest(s, a), 2000),
    loadLastUpdated: async () => store.value,
    saveLastUpdated: async (a) => void (store.value = a),
    sleep: async (ms) => void (clock += ms),
    now: () => clock,
    log: (l) => void log.push(l),
  };
  return { fx, log, synced, store };
}

const OPTS = { intervalMs: 60_000, backoffMs: 30 * 60_000, maxBackoffMs: 4 * 3600_000 };

test("answers: good/nochg update, abuse/911/dnserr back off, badauth/nohost stop", () => {
  assert.deepEqual(classifyAnswer(200, "good 198.51.100.7\n"), {
    action: "updated",
    code: "good",
    address: "198.51.100.7",
    message: "DNS updated to 198.51.100.7",
  });
  assert.equal(classifyAnswer(200, "nochg 198.51.100.7").action, "updated");
  for (const c of ["abuse", "911", "dnserr"]) assert.equal(classifyAnswer(200, c).action, "backoff", c);
  for (const c of ["badauth", "nohost", "notfqdn", "numhost", "!donator", "badagent"])
    assert.equal(classifyAnswer(200, c).action, "stop", c);
  assert.match(classifyAnswer(200, "badauth").message, /--dyndns-user or the password file/);
  assert.equal(classifyAnswer(503, "").action, "backoff");
  assert.equal(classifyAnswer(401, "").action, "stop");
  assert.equal(classifyAnswer(200, "<html>").action, "retry");
});

test("the request: hostname and myip in the query, basic auth, a dyndns2 user agent", () => {
  const r = buildUpdateRequest(settings(), "198.51.100.7");
  const u = new URL(r.url);
  assert.equal(u.searchParams.get("hostname"), "host.example.org");
  assert.equal(u.searchParams.get("myip"), "198.51.100.7");
  assert.equal(r.headers.Authorization, `Basic ${Buffer.from("alice:s3cret").toString("base64")}`);
  assert.match(r.headers["User-Agent"] ?? "", /^qjail - fw watch - \d+\.\d+\.\d+$/);
});

test("settings refused before anything is sent: plain http off-host, credentials in the URL, not an FQDN", () => {
  const code = (f: () => void): string => {
    try {
      f();
    } catch (e) {
      if (e instanceof UsageError) return e.code;
    }
    return "none";
  };
  assert.equal(
    code(() => validateDyndnsSettings({ ...settings(), url: "http://members.example.net/nic/update" })),
    "QJ5102",
  );
  assert.equal(
    code(() => validateDyndnsSettings({ ...settings(), url: "https://u:p@members.example.net/nic/update" })),
    "QJ5103",
  );
  assert.equal(
    code(() => validateDyndnsSettings({ ...settings(), hostname: "localhost" })),
    "QJ5104",
  );
  assert.equal(
    code(() => validateDyndnsSettings({ ...settings(), url: "not a url" })),
    "QJ5101",
  );
  assert.equal(
    code(() => validateDyndnsSettings(settings())),
    "none",
  );
  assert.equal(
    code(() => validateDyndnsSettings({ ...settings(), url: "https://members.example.net/nic/update" })),
    "none",
  );
});

test("a world-readable password file is refused with the chmod that fixes it; mode 600 is read", async () => {
  const t = tempDir("qjail-dyndns-");
  try {
    const p = join(t.dir, "pw");
    writeFileSync(p, "s3cret\n");
    chmodSync(p, 0o644);
    await assert.rejects(
      readPasswordFile(p),
      (e: UsageError) => e.code === "QJ5108" && e.hint === `Try: chmod 600 ${p}`,
    );
    chmodSync(p, 0o600);
    assert.equal(await readPasswordFile(p), "s3cret");
    await assert.rejects(readPasswordFile(join(t.dir, "absent")), (e: UsageError) => e.code === "QJ5106");
  } finally {
    t.cleanup();
  }
});

test("success: one update, rules synced once, the address persisted", async () => {
  reset();
  const { fx, synced, store } = effects(["198.51.100.7"], settings());
  const out = await watchLoop(fx, { ...OPTS, maxChecks: 1 });
  assert.equal(out.updates, 1);
  assert.deepEqual(synced, ["198.51.100.7"]);
  assert.equal(store.value, "198.51.100.7");
  assert.equal(server.records.get("host.example.org"), "198.51.100.7");
  assert.match(server.requests[0]?.agent ?? "", /^qjail - fw watch/);
});

test("no double update: an unchanged address is never sent again, even after a restart", async () => {
  reset();
  const persisted: { value?: string } = {};
  const seq = ["198.51.100.7", "198.51.100.7", "198.51.100.7", "203.0.113.9", "203.0.113.9"];
  const first = effects(seq, settings(), persisted);
  const out = await watchLoop(first.fx, { ...OPTS, maxChecks: seq.length });
  assert.equal(out.checks, 5);
  assert.deepEqual(
    server.requests.map((r) => r.myip),
    ["198.51.100.7", "203.0.113.9"],
  );
  assert.deepEqual(first.synced, ["198.51.100.7", "203.0.113.9"]);
  const restarted = effects(["203.0.113.9"], settings(), persisted);
  await watchLoop(restarted.fx, { ...OPTS, maxChecks: 3 });
  assert.equal(server.requests.length, 2, "a restart with the same address sends nothing");
  assert.deepEqual(restarted.synced, ["203.0.113.9"], "but the rules are synced once at start");
});

test("bad auth: the watcher stops at once with the provider's reason", async () => {
  reset();
  const { fx } = effects(["198.51.100.7"], settings({ password: "wrong" }));
  const out = await watchLoop(fx, { ...OPTS, maxChecks: 10 });
  assert.equal(out.stopped?.code, "badauth");
  assert.equal(out.checks, 1);
  assert.equal(server.requests.length, 1);
});

test("nohost: stops with a message naming --hostname", async () => {
  reset();
  const { fx } = effects(["198.51.100.7"], settings({ hostname: "other.example.org" }));
  const out = await watchLoop(fx, { ...OPTS, maxChecks: 10 });
  assert.equal(out.stopped?.code, "nohost");
  assert.match(out.stopped?.message ?? "", /--hostname/);
});

test("rate limit (abuse): backs off, doubling, and retries only after the wait", async () => {
  reset("abuse");
  const { fx, log } = effects(["198.51.100.7"], settings());
  // 30 min back-off at 1 min checks: 1 request at t=0, the next at t=30 min, then t=90 min
  const out = await watchLoop(fx, { ...OPTS, maxChecks: 95 });
  assert.equal(out.updates, 0);
  assert.equal(out.stopped, undefined);
  assert.equal(server.requests.length, 3);
  assert.ok(log.some((l) => /next update attempt in 1800 s/.test(l)));
  assert.ok(log.some((l) => /next update attempt in 3600 s/.test(l)));
  server.mode = "normal";
  const later = await watchLoop(fx, { ...OPTS, maxChecks: 1 });
  assert.equal(later.updates, 1, "a fresh watcher updates once the provider accepts again");
});

test("911 backs off the same way", async () => {
  reset("911");
  const { fx } = effects(["198.51.100.7"], settings());
  await watchLoop(fx, { ...OPTS, maxChecks: 10 });
  assert.equal(server.requests.length, 1);
});

test("network error (connection reset): retried on the next check, then succeeds once", async () => {
  reset("reset");
  const { fx, log } = effects(["198.51.100.7"], settings());
  const flaky = fx.update!;
  let calls = 0;
  fx.update = async (a) => {
    if (++calls === 3) server.mode = "normal";
    return flaky(a);
  };
  const out = await watchLoop(fx, { ...OPTS, maxChecks: 5 });
  assert.ok(
    log.some((l) => /connection reset|socket hang up/.test(l)),
    log.join("\n"),
  );
  assert.equal(out.updates, 1);
  assert.equal(calls, 3, "two failed attempts, one success, then nothing more for the same address");
});

test("network error (connection refused): reported, no update recorded", async () => {
  const closed = http.createServer();
  await new Promise<void>((r) => closed.listen(0, "127.0.0.1", r));
  const port = (closed.address() as AddressInfo).port;
  await new Promise((r) => closed.close(r));
  const { fx, log, store } = effects(
    ["198.51.100.7"],
    settings({ url: `http://127.0.0.1:${port}/nic/update` }),
  );
  const out = await watchLoop(fx, { ...OPTS, maxChecks: 2 });
  assert.equal(out.updates, 0);
  assert.equal(store.value, undefined);
  assert.equal(log.filter((l) => /connection refused \(ECONNREFUSED\)/.test(l)).length, 2);
});

test("no address on the interface: nothing synced or sent", async () => {
  reset();
  const { fx, synced, log } = effects([undefined], settings());
  await watchLoop(fx, { ...OPTS, maxChecks: 2 });
  assert.deepEqual(synced, []);
  assert.equal(server.requests.length, 0);
  assert.match(log[0] ?? "", /no IPv4 address/);
});
