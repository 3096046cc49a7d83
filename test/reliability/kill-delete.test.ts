import { describe, test } from "node:test";
import { existsSync, readFileSync } from "node:fs";
import { hostLayout, physical } from "../../src/core/paths.js";
import { faultHosts, COMMIT_OPS, ETC_STATE, ON_FREEBSD_LAYOUT, RULE_FILES } from "./helpers/fault-hosts.js";

// Fault injection (issue 7 §2; split from faults.test.ts so each file stays well inside the
// per-file timeout): SIGKILL at every step boundary and inside every commit unit of delete.
const { loop, hostWithExposure } = faultHosts("kill-delete");

describe("SIGKILL at every step: the state is the before or the after state, and the next run finishes", () => {
  test("delete", () => {
    loop({ label: "delete", argv: (root) => ["delete", "--root", root, ...ON_FREEBSD_LAYOUT, "www"] }, [
      "delete-tree:0",
    ]);
  });
  test("delete of a jail with exposures: its forwards go in the same operation, never after its records", () => {
    const www = `${hostLayout().global}/www`;
    loop(
      {
        label: "delete exposed",
        template: hostWithExposure,
        visible: [...ETC_STATE, "/etc"],
        derived: RULE_FILES,
        argv: (root) => ["delete", "--root", root, ...ON_FREEBSD_LAYOUT, "www"],
        invariant: (root) => {
          if (existsSync(physical(root, www))) return undefined;
          const nat = readFileSync(physical(root, "/etc/ipnat.rules"), "utf8");
          return /10\.0\.0\.3/.test(nat)
            ? "www's records are gone but ipnat.rules still forwards to 10.0.0.3"
            : undefined;
        },
      },
      COMMIT_OPS,
    );
  });
});
