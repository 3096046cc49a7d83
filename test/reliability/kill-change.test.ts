import { describe, test } from "node:test";
import {
  faultHosts,
  RULE_FILES,
  TIMED_KILLS,
  COMMIT_OPS,
  ETC_STATE,
  ON_FREEBSD_LAYOUT,
} from "./helpers/fault-hosts.js";

// Fault injection (issue 7 §2; split from faults.test.ts): SIGKILL at every step boundary,
// inside every commit unit and at times, of the commands that change jails and forwards.
const { loop, hostWithExposure, hostWithArchiveOnly } = faultHosts("kill-change", { archived: true });

/**
 * Two archives of the same jail made at different times differ in their
 * name's timestamp and in tar/gzip time fields; for before/after purposes
 * an archive of www is an archive of www.
 */
function sameArchiveWhenever(d: Map<string, string>): Map<string, string> {
  const out = new Map<string, string>();
  for (const [k, v] of d) {
    const m = /^(.*\/archive\/[^/@]+)@[0-9]{12}\.[0-9]{2}\.tar$/.exec(k);
    out.set(m ? `${m[1]}@TIMESTAMP.tar` : k, m ? "archive" : v);
  }
  return out;
}

describe("SIGKILL at every step: the state is the before or the after state, and the next run finishes", () => {
  test("config -n (rename)", () => {
    loop(
      {
        label: "config -n",
        argv: (root) => ["config", "--root", root, ...ON_FREEBSD_LAYOUT, "-n", "web", "www"],
      },
      COMMIT_OPS,
    );
  });
  test("config -4 (new address)", () => {
    loop({
      label: "config -4",
      argv: (root) => ["config", "--root", root, ...ON_FREEBSD_LAYOUT, "-4", "10.0.0.33", "www"],
    });
  });
  test("expose (IPFilter rule files written, not loaded)", () => {
    // The rule files are derived from the exposure files: 'fw sync' (or the next expose) rewrites them.
    loop({
      label: "expose",
      visible: [...ETC_STATE, "/etc"],
      derived: RULE_FILES,
      argv: (root) => ["expose", "--root", root, ...ON_FREEBSD_LAYOUT, "www", "tcp", "6188:80", "--no-load"],
    });
  });
  test("fw sync (IPFilter rule files rewritten from a changed exposure file)", () => {
    loop(
      {
        label: "fw sync",
        template: hostWithExposure,
        visible: [...ETC_STATE, "/etc"],
        argv: (root) => ["fw", "sync", "--root", root, ...ON_FREEBSD_LAYOUT, "--no-load"],
      },
      COMMIT_OPS,
      TIMED_KILLS,
    );
  });
  test("config -h (one-time ssh in an existing jail)", () => {
    loop({
      label: "config -h",
      argv: (root) => ["config", "--root", root, ...ON_FREEBSD_LAYOUT, "-h", "www"],
    });
  });
  test("unexpose", () => {
    loop(
      {
        label: "unexpose",
        template: hostWithExposure,
        visible: [...ETC_STATE, "/etc"],
        derived: RULE_FILES,
        argv: (root) => ["unexpose", "--root", root, ...ON_FREEBSD_LAYOUT, "www", "tcp", "6188", "--no-load"],
      },
      COMMIT_OPS,
    );
  });
  test("config -r (norun: the record files are renamed)", () => {
    loop({
      label: "config -r",
      argv: (root) => ["config", "--root", root, ...ON_FREEBSD_LAYOUT, "-r", "www"],
    });
  });
  test("archive", () => {
    loop(
      {
        label: "archive",
        visible: [...ETC_STATE, "/usr/jails/archive"],
        normalize: sameArchiveWhenever,
        argv: (root) => ["archive", "--root", root, ...ON_FREEBSD_LAYOUT, "www"],
      },
      [],
      TIMED_KILLS,
    );
  });
  test("restore", () => {
    loop(
      {
        label: "restore",
        template: hostWithArchiveOnly,
        visible: [...ETC_STATE, "/usr/jails/archive"],
        argv: (root) => ["restore", "--root", root, ...ON_FREEBSD_LAYOUT, "www"],
      },
      [],
      TIMED_KILLS,
    );
  });
});
