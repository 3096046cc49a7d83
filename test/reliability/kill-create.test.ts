import { describe, test } from "node:test";
import { faultHosts, TIMED_KILLS, COMMIT_OPS, ON_FREEBSD_LAYOUT } from "./helpers/fault-hosts.js";

// Fault injection (issue 7 §2; split from faults.test.ts so each file stays well inside the
// per-file timeout): SIGKILL at every step boundary, inside every commit unit and at times,
// of the commands that make jails (delete's are in kill-delete.test.ts).
const { loop, hostWithBigTemplate, hostWithArchiveOnly } = faultHosts("kill-create", {
  big: true,
  archived: true,
});

describe("SIGKILL at every step: the state is the before or the after state, and the next run finishes", () => {
  test("create", () => {
    loop(
      {
        label: "create",
        argv: (root) => [
          "create",
          "--root",
          root,
          ...ON_FREEBSD_LAYOUT,
          "-n",
          "lo1",
          "-4",
          "10.0.0.9",
          "mail",
        ],
      },
      COMMIT_OPS,
    );
  });
  test("create, killed at times inside its tree copy", () => {
    // A kill inside a copy leaves half-written files and directories that no step boundary shows.
    loop(
      {
        label: "create (timed)",
        template: hostWithBigTemplate,
        argv: (root) => [
          "create",
          "--root",
          root,
          ...ON_FREEBSD_LAYOUT,
          "-n",
          "lo1",
          "-4",
          "10.0.0.9",
          "mail",
        ],
      },
      [],
      TIMED_KILLS,
    );
  });
  test("create -c (one-time ssh)", () => {
    loop({
      label: "create -c",
      argv: (root) => [
        "create",
        "--root",
        root,
        ...ON_FREEBSD_LAYOUT,
        "-n",
        "lo1",
        "-4",
        "10.0.0.10",
        "-c",
        "sshjail",
      ],
    });
  });
  test("create -a (the archived tree is unpacked by the plan itself)", () => {
    loop({
      label: "create -a",
      template: hostWithArchiveOnly,
      argv: (root) => [
        "create",
        "--root",
        root,
        ...ON_FREEBSD_LAYOUT,
        "-n",
        "lo1",
        "-4",
        "10.0.0.40",
        "-a",
        "www",
        "web9",
      ],
    });
  });
  test("create -d 2 (two numbered copies)", () => {
    loop({
      label: "create -d",
      argv: (root) => [
        "create",
        "--root",
        root,
        ...ON_FREEBSD_LAYOUT,
        "-n",
        "lo1",
        "-4",
        "10.0.0.20",
        "-d",
        "2",
        "web",
      ],
    });
  });
});
