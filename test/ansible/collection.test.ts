import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { REPO_ROOT } from "../helpers/cli.js";

/**
 * The Ansible collection qjail.qjail (ansible_collections/qjail/qjail): every
 * plugin's DOCUMENTATION, EXAMPLES and RETURN render with ansible-doc, and
 * galaxy.yml names the collection. The modules themselves run in the fleet
 * test (test/fleet/), against real hosts.
 */
const hasAnsible = spawnSync("ansible-doc", ["--version"], { encoding: "utf8" }).status === 0;
const env = { ...process.env, ANSIBLE_COLLECTIONS_PATH: REPO_ROOT, ANSIBLE_NOCOLOR: "1" };
const COLLECTION = join(REPO_ROOT, "ansible_collections/qjail/qjail");

test("galaxy.yml names the collection qjail.qjail", () => {
  const galaxy = readFileSync(join(COLLECTION, "galaxy.yml"), "utf8");
  assert.match(galaxy, /^namespace: qjail$/m);
  assert.match(galaxy, /^name: qjail$/m);
});

for (const [type, name, sections] of [
  ["module", "apply", ["OPTIONS", "ATTRIBUTES", "EXAMPLES", "RETURN VALUES"]],
  ["module", "jail", ["OPTIONS", "EXAMPLES", "RETURN VALUES"]],
  ["module", "expose", ["OPTIONS", "EXAMPLES", "RETURN VALUES"]],
  ["module", "info", ["OPTIONS", "EXAMPLES", "RETURN VALUES"]],
  ["inventory", "jails", ["OPTIONS", "EXAMPLES"]],
] as const) {
  test(
    `ansible-doc renders qjail.qjail.${name} (${type})`,
    { skip: !hasAnsible && "ansible-core is not installed (scripts/setup.sh installs it)" },
    () => {
      const r = spawnSync("ansible-doc", ["-t", type, `qjail.qjail.${name}`], { encoding: "utf8", env });
      assert.equal(r.status, 0, r.stderr);
      assert.doesNotMatch(r.stderr, /ERROR|WARNING/, r.stderr);
      assert.match(r.stdout, new RegExp(`QJAIL\\.QJAIL\\.${name.toUpperCase()}`));
      for (const s of sections) assert.match(r.stdout, new RegExp(`^${s}`, "m"), `${name}: ${s}`);
    },
  );
}

test("every module declares check mode and calls qjail's --json interface only", () => {
  for (const m of ["apply", "jail", "expose", "info"]) {
    const src = readFileSync(join(COLLECTION, "plugins/modules", `${m}.py`), "utf8");
    assert.match(src, /supports_check_mode=True/, m);
    assert.doesNotMatch(src, /run_command\(/, `${m} runs qjail only through module_utils/qjail.py`);
  }
  const util = readFileSync(join(COLLECTION, "plugins/module_utils/qjail.py"), "utf8");
  assert.match(util, /argv\.append\("--json"\)/);
});
