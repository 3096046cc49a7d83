import { test, after, describe } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync, mkdirSync, writeFileSync, symlinkSync, linkSync, existsSync, rmSync } from "node:fs";
import { join, relative } from "node:path";
import { applyPlan } from "../../src/platform/apply.js";
import type { Plan, Step } from "../../src/core/plan.js";
import { UsageError } from "../../src/core/errors.js";
import { REPO_ROOT, tempDir, treeDigest } from "../helpers/cli.js";
import { childArgv, runSync } from "./helpers/index.js";

// Security checks (issue 7 §4): no host code builds a shell command string, a
// jail's root user cannot steer host-side writes or deletes outside the jail
// with links it plants, and the files qjail writes have sane modes.

// ---------------------------------------------------------------------------
// (a) Source scan: nothing in src/ or bin/ hands a string to a shell.

interface ShellFinding {
  file: string;
  line: number;
  pattern: string;
  text: string;
}

/**
 * Files whose text is data for a jail, not host code: their `sh -c` or
 * `exec` strings run inside the jail (written into the jail's /etc/rc and the
 * like), never on the host by qjail. Each entry needs its reason.
 */
const DATA_FILES: ReadonlyMap<string, string> = new Map<string, string>([
  // (none yet: add `["src/platform/linux/templates/rc.ts", "the jail's own /etc/rc script, written into the jail tree"]`)
]);

const SHELL_PATTERNS: readonly { name: string; re: RegExp }[] = [
  // exec/execSync run their argument through /bin/sh; execFile/spawn do not.
  { name: "child_process exec()", re: /\b(?:child_process|cp|childProcess)\s*\.\s*exec(?:Sync)?\s*\(/ },
  { name: "import of exec/execSync", re: /import\s*\{[^}]*\bexec(?:Sync)?\b(?!File)[^}]*\}\s*from\s*["'](?:node:)?child_process["']/ },
  { name: "require of exec/execSync", re: /\{[^}]*\bexec(?:Sync)?\b(?!File)[^}]*\}\s*=\s*require\(\s*["'](?:node:)?child_process["']\s*\)/ },
  { name: "shell: true", re: /\bshell\s*:\s*(?:true|["'`][^"'`]+["'`])/ },
  // A shell binary followed by -c, as separate argv words or one string.
  { name: "sh -c argv", re: /["'`](?:\/usr)?(?:\/local)?(?:\/bin\/)?(?:ba|da|k|z|c|tc)?sh["'`]\s*,\s*(?:\[\s*)?["'`]-c["'`]/ },
  // A string starting a shell with a command after -c; prose quoting 'sh -c' on its own is not code.
  { name: "sh -c string", re: /["'`](?:\/usr)?(?:\/local)?(?:\/bin\/)?(?:ba|da|k|z|c|tc)?sh\s+-c\s+["']?[\w$/{.-]/ },
];

export function scanForShell(file: string, text: string): ShellFinding[] {
  const out: ShellFinding[] = [];
  const lines = text.split("\n");
  for (const { name, re } of SHELL_PATTERNS) {
    const global = new RegExp(re.source, "g");
    for (const m of text.matchAll(global)) {
      const line = text.slice(0, m.index).split("\n").length;
      out.push({ file, line, pattern: name, text: (lines[line - 1] ?? "").trim() });
    }
  }
  return out;
}

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...sourceFiles(p));
    else if (/\.(?:ts|js|mjs|cjs)$/.test(name)) out.push(p);
  }
  return out;
}

describe("source scan: no shell command strings", () => {
  test("the scanner finds each forbidden pattern (so a clean scan means something)", () => {
    const planted = [
      `import { exec } from "node:child_process";`,
      `import { spawn, execSync } from "child_process";`,
      `const { exec } = require("child_process");`,
      `child_process.exec("ls " + dir);`,
      `spawn(cmd, args, { shell: true });`,
      `spawn("sh", ["-c", line]);`,
      `spawnSync("/bin/sh", ["-c", line]);`,
      `runProgram(["/bin/sh", "-c", text]);`,
      `runProgram(["bash", "-c", text]);`,
      "const cmd = `sh -c 'ifconfig ${nic}'`;",
    ];
    for (const line of planted) assert.ok(scanForShell("planted.ts", line).length > 0, `not detected: ${line}`);
    const allowed = [
      `import { spawn, execFile } from "node:child_process";`,
      `const m = /^x$/.exec(line);`,
      `runProgram(["jexec", name, "/bin/sh", "/etc/rc"]);`,
      `exec.start          =  "/bin/sh /etc/rc";`,
      `const shell = "/bin/csh";`,
      `details: "the command is not a shell string (run 'sh -c' inside the jail for that)",`,
    ];
    for (const line of allowed) assert.deepEqual(scanForShell("allowed.ts", line), [], `false positive: ${line}`);
  });

  test("src/ and bin/ never build a shell command", () => {
    const files = [...sourceFiles(join(REPO_ROOT, "src")), ...sourceFiles(join(REPO_ROOT, "bin"))];
    assert.ok(files.length > 10, "the scan must see the source tree");
    const findings = files
      .map((f) => relative(REPO_ROOT, f))
      .filter((rel) => !DATA_FILES.has(rel))
      .flatMap((rel) => scanForShell(rel, readFileSync(join(REPO_ROOT, rel), "utf8")));
    assert.deepEqual(
      findings.map((f) => `${f.file}:${f.line}: ${f.pattern}: ${f.text}`),
      [],
      "spawn programs with argv arrays (src/platform/run.ts), never through a shell",
    );
    for (const data of DATA_FILES.keys()) assert.ok(existsSync(join(REPO_ROOT, data)), `stale exclusion ${data}`);
  });
});

// ---------------------------------------------------------------------------
// (b) Planted links: the host-side applier never writes or deletes outside a jail.

const tmp = tempDir(`qjail-sec-${process.pid}-`);
after(() => tmp.cleanup());

interface PlantedHost {
  root: string;
  jail: string;
  /** Physical path of the jail root. */
  jailDir: string;
  /** A host directory the attacker wants to reach, with files in it. */
  hostEtc: string;
}

let hostCount = 0;
/** A --root with a jail tree at /usr/jails/evil and a host /etc full of canaries. */
function plantedHost(): PlantedHost {
  const root = join(tmp.dir, `host${hostCount++}`);
  const jail = "/usr/jails/evil";
  const jailDir = join(root, jail);
  const hostEtc = join(root, "etc");
  for (const d of ["etc/ssh", "root", "var/db"]) mkdirSync(join(root, d), { recursive: true });
  for (const d of ["etc/ssh", "root", "tmp", "var/log"]) mkdirSync(join(jailDir, d), { recursive: true });
  writeFileSync(join(hostEtc, "rc.conf"), 'hostname="host"\n');
  writeFileSync(join(hostEtc, "passwd"), "root:*:0:0::/root:/bin/sh\n");
  writeFileSync(join(hostEtc, "fstab"), "/dev/vda / ext4 rw 0 1\n");
  writeFileSync(join(hostEtc, "ssh/sshd_config"), "PermitRootLogin no\n");
  writeFileSync(join(root, "root/.profile"), "umask 022\n");
  writeFileSync(join(jailDir, "etc/rc.conf"), "");
  return { root, jail, jailDir, hostEtc };
}

/** Everything outside the jail tree, for "nothing outside changed" asserts. */
function outsideDigest(h: PlantedHost): Map<string, string> {
  const all = treeDigest(h.root);
  for (const k of [...all.keys()]) if (k === "usr/jails/evil" || k.startsWith("usr/jails/evil/")) all.delete(k);
  return all;
}

interface LinkAttack {
  name: string;
  /** What the jail's root user does inside its tree (paths are relative to the jail root). */
  plant(h: PlantedHost): void;
  /** The steps a host-side command would apply to this jail. */
  steps(h: PlantedHost): Step[];
  /**
   * "refused": the applier must throw QJ1101. "either": refusing, failing or
   * replacing the link are all safe; only a change outside the jail is not.
   */
  expect: "refused" | "either";
}

const rel = (h: PlantedHost, p: string): string => join(h.jailDir, p);

const LINK_ATTACKS: readonly LinkAttack[] = [
  {
    name: "etc/rc.conf.d → host /etc (relative link climbing out), host appends a file in it",
    plant: (h) => symlinkSync("../../../../etc", rel(h, "etc/rc.conf.d")),
    steps: (h) => [{ kind: "appendFile", path: `${h.jail}/etc/rc.conf.d/rc.conf`, content: 'sshd_enable="YES"\n', inJail: h.jail }],
    expect: "refused",
  },
  {
    name: "etc/rc.conf replaced by a link to host /etc/rc.conf, host appends sshd_enable",
    plant: (h) => {
      removeTree(rel(h, "etc/rc.conf"));
      symlinkSync(join(h.hostEtc, "rc.conf"), rel(h, "etc/rc.conf"));
    },
    steps: (h) => [{ kind: "appendFile", path: `${h.jail}/etc/rc.conf`, content: 'sshd_enable="YES"\n', inJail: h.jail }],
    expect: "refused",
  },
  {
    name: "etc/rc.conf → host file, host rewrites the whole file",
    plant: (h) => symlinkSync(join(h.hostEtc, "rc.conf"), rel(h, "etc/rc.conf.local")),
    steps: (h) => [{ kind: "writeFile", path: `${h.jail}/etc/rc.conf.local`, content: 'sshd_enable="YES"\n', inJail: h.jail }],
    expect: "either",
  },
  {
    name: "etc/ssh → host /etc/ssh, host appends UseDNS to sshd_config",
    plant: (h) => {
      removeTree(rel(h, "etc/ssh"));
      symlinkSync(join(h.hostEtc, "ssh"), rel(h, "etc/ssh"));
    },
    steps: (h) => [{ kind: "appendFile", path: `${h.jail}/etc/ssh/sshd_config`, content: "UseDNS no\n", inJail: h.jail }],
    expect: "refused",
  },
  {
    name: "etc/ssh → host /etc/ssh, host writes a new file in it",
    plant: (h) => {
      removeTree(rel(h, "etc/ssh"));
      symlinkSync(join(h.hostEtc, "ssh"), rel(h, "etc/ssh"));
    },
    steps: (h) => [{ kind: "writeFile", path: `${h.jail}/etc/ssh/sshd_config`, content: "UseDNS no\n", inJail: h.jail }],
    expect: "refused",
  },
  {
    name: "etc/ssh → host /etc/ssh, host creates a directory below it",
    plant: (h) => {
      removeTree(rel(h, "etc/ssh"));
      symlinkSync(join(h.hostEtc, "ssh"), rel(h, "etc/ssh"));
    },
    steps: (h) => [{ kind: "mkdir", path: `${h.jail}/etc/ssh/keys.d`, inJail: h.jail }],
    expect: "refused",
  },
  {
    name: "etc → host /etc (the whole directory), host writes etc/fstab",
    plant: (h) => {
      removeTree(rel(h, "etc"));
      symlinkSync(h.hostEtc, rel(h, "etc"));
    },
    steps: (h) => [{ kind: "writeFile", path: `${h.jail}/etc/fstab`, content: "", inJail: h.jail }],
    expect: "refused",
  },
  {
    name: "etc/fstab → host /etc/fstab, host removes it",
    plant: (h) => symlinkSync(join(h.hostEtc, "fstab"), rel(h, "etc/fstab")),
    steps: (h) => [{ kind: "remove", path: `${h.jail}/etc/fstab`, inJail: h.jail }],
    expect: "either",
  },
  {
    name: "etc/passwd → host /etc/passwd, host rewrites passwd",
    plant: (h) => symlinkSync(join(h.hostEtc, "passwd"), rel(h, "etc/passwd")),
    steps: (h) => [{ kind: "writeFile", path: `${h.jail}/etc/passwd`, content: "root:*:0:0::/root:/bin/csh\n", inJail: h.jail }],
    expect: "either",
  },
  {
    name: "etc/passwd hard-linked to host /etc/passwd, host appends a user",
    plant: (h) => linkSync(join(h.hostEtc, "passwd"), rel(h, "etc/passwd")),
    steps: (h) => [{ kind: "appendFile", path: `${h.jail}/etc/passwd`, content: "www:*:80:80::/nonexistent:/usr/sbin/nologin\n", inJail: h.jail }],
    expect: "refused",
  },
  {
    name: "etc/passwd hard-linked to host /etc/passwd, host rewrites passwd",
    plant: (h) => linkSync(join(h.hostEtc, "passwd"), rel(h, "etc/passwd")),
    steps: (h) => [{ kind: "writeFile", path: `${h.jail}/etc/passwd`, content: "root:*:0:0::/root:/bin/csh\n", inJail: h.jail }],
    expect: "either",
  },
  {
    name: "root → host /root, host removes root/.profile",
    plant: (h) => {
      removeTree(rel(h, "root"));
      symlinkSync(join(h.root, "root"), rel(h, "root"));
    },
    steps: (h) => [{ kind: "remove", path: `${h.jail}/root/.profile`, inJail: h.jail }],
    expect: "refused",
  },
  {
    name: "var → host /var, host deletes var/db recursively",
    plant: (h) => {
      removeTree(rel(h, "var"));
      symlinkSync(join(h.root, "var"), rel(h, "var"));
    },
    steps: (h) => [{ kind: "remove", path: `${h.jail}/var/db`, recursive: true, inJail: h.jail }],
    expect: "refused",
  },
  {
    name: "a link to host /etc inside the tree, host deletes the whole jail (delete)",
    plant: (h) => {
      symlinkSync(h.hostEtc, rel(h, "tmp/hostetc"));
      symlinkSync(join(h.hostEtc, "passwd"), rel(h, "tmp/passwd"));
    },
    steps: (h) => [{ kind: "remove", path: h.jail, recursive: true }],
    expect: "either",
  },
  {
    name: "the jail root itself replaced by a link to host /etc, host deletes the jail",
    plant: (h) => {
      removeTree(h.jailDir);
      symlinkSync(h.hostEtc, h.jailDir);
    },
    steps: (h) => [{ kind: "remove", path: h.jail, recursive: true, inJail: h.jail }],
    expect: "either",
  },
  {
    name: "the jail root itself replaced by a link to host /etc, host writes etc/rc.conf in it",
    plant: (h) => {
      removeTree(h.jailDir);
      symlinkSync(join(h.root, "/"), h.jailDir);
    },
    steps: (h) => [{ kind: "writeFile", path: `${h.jail}/etc/rc.conf`, content: 'sshd_enable="YES"\n', inJail: h.jail }],
    expect: "refused",
  },
  {
    name: "the jail root replaced by a link, host appends to etc/rc.conf",
    plant: (h) => {
      removeTree(h.jailDir);
      symlinkSync(h.root, h.jailDir);
    },
    steps: (h) => [{ kind: "appendFile", path: `${h.jail}/etc/rc.conf`, content: 'sshd_enable="YES"\n', inJail: h.jail }],
    expect: "refused",
  },
  {
    name: "the jail root replaced by a link, host renames the jail (config -n)",
    plant: (h) => {
      removeTree(h.jailDir);
      symlinkSync(h.hostEtc, h.jailDir);
    },
    steps: (h) => [{ kind: "rename", from: `${h.jail}/etc`, to: `${h.jail}/etc.old`, inJail: h.jail }],
    expect: "refused",
  },
  {
    name: "etc → host /etc, host renames a file inside (rename of a jail's file)",
    plant: (h) => {
      removeTree(rel(h, "etc"));
      symlinkSync(h.hostEtc, rel(h, "etc"));
    },
    steps: (h) => [{ kind: "rename", from: `${h.jail}/etc/rc.conf`, to: `${h.jail}/etc/rc.conf.bak`, inJail: h.jail }],
    expect: "refused",
  },
  {
    name: "etc → host /etc, host lays a flavor over the tree (create on an existing tree)",
    plant: (h) => {
      removeTree(rel(h, "etc"));
      symlinkSync(h.hostEtc, rel(h, "etc"));
      mkdirSync(join(h.root, "usr/jails/flavors/default/etc"), { recursive: true });
      writeFileSync(join(h.root, "usr/jails/flavors/default/etc/rc.conf"), 'sendmail_enable="NONE"\n');
    },
    steps: (h) => [{ kind: "copyTree", from: "/usr/jails/flavors/default", to: h.jail, overwrite: true, inJail: h.jail }],
    expect: "either",
  },
  {
    name: "etc/rc.conf → host file, host lays a flavor over the tree",
    plant: (h) => {
      removeTree(rel(h, "etc/rc.conf"));
      symlinkSync(join(h.hostEtc, "rc.conf"), rel(h, "etc/rc.conf"));
      mkdirSync(join(h.root, "usr/jails/flavors/default/etc"), { recursive: true });
      writeFileSync(join(h.root, "usr/jails/flavors/default/etc/rc.conf"), 'sendmail_enable="NONE"\n');
    },
    steps: (h) => [{ kind: "copyTree", from: "/usr/jails/flavors/default", to: h.jail, overwrite: true, inJail: h.jail }],
    expect: "either",
  },
  {
    name: "etc/rc.conf hard-linked to a host file, host lays a flavor over the tree",
    plant: (h) => {
      removeTree(rel(h, "etc/rc.conf"));
      linkSync(join(h.hostEtc, "rc.conf"), rel(h, "etc/rc.conf"));
      mkdirSync(join(h.root, "usr/jails/flavors/default/etc"), { recursive: true });
      writeFileSync(join(h.root, "usr/jails/flavors/default/etc/rc.conf"), 'sendmail_enable="NONE"\n');
    },
    steps: (h) => [{ kind: "copyTree", from: "/usr/jails/flavors/default", to: h.jail, overwrite: true, inJail: h.jail }],
    expect: "either",
  },
  {
    name: "a dangling link at the target of a new symlink step, pointing at host /etc/passwd",
    plant: (h) => symlinkSync(join(h.hostEtc, "passwd"), rel(h, "etc/localtime")),
    steps: (h) => [{ kind: "symlink", target: "/usr/share/zoneinfo/UTC", path: `${h.jail}/etc/localtime`, inJail: h.jail }],
    expect: "either",
  },
];

/** The attacker removes what is there before planting a link in its place. */
function removeTree(p: string): void {
  rmSync(p, { recursive: true, force: true });
}

async function applyAttack(h: PlantedHost, steps: Step[]): Promise<unknown> {
  const plan: Plan = { title: "attack", steps };
  try {
    await applyPlan(plan, { root: h.root, runCommands: false });
    return undefined;
  } catch (e) {
    return e;
  }
}

describe("planted links cannot steer host-side writes or deletes out of a jail", () => {
  for (const attack of LINK_ATTACKS) {
    test(attack.name, async () => {
      const h = plantedHost();
      attack.plant(h);
      const before = outsideDigest(h);
      const err = await applyAttack(h, attack.steps(h));
      assert.deepEqual(outsideDigest(h), before, "something outside the jail tree changed");
      if (attack.expect === "refused") {
        assert.ok(err instanceof UsageError, `expected a refusal, got ${String(err)}`);
        assert.equal(err.code, "QJ1101");
        assert.match(err.message, /refusing to touch "/);
      } else if (err !== undefined) {
        assert.ok(err instanceof Error, `a failure must be an Error, got ${String(err)}`);
      }
    });
  }

  test("deleting a jail does not descend into a filesystem mounted inside it", () => {
    const h = plantedHost();
    const shared = join(h.root, "usr/jails/sharedfs");
    mkdirSync(join(shared, "bin"), { recursive: true });
    writeFileSync(join(shared, "bin/sh"), "#!/bin/sh\n");
    mkdirSync(rel(h, "sharedfs"));
    const planFile = join(tmp.dir, `bind-${process.pid}.json`);
    writeFileSync(planFile, JSON.stringify([{ title: "delete", steps: [{ kind: "remove", path: h.jail, recursive: true }] }]));
    const before = treeDigest(shared);
    // The bind mount lives only in the child's private mount namespace.
    const r = runSync(["unshare", "-m", "--propagation", "private", "--", ...childArgv(), "--bind", shared, rel(h, "sharedfs"), "apply", h.root, planFile]);
    // Linux bind mounts of the same filesystem keep st_dev, so a st_dev check alone does not see them.
    assert.deepEqual(treeDigest(shared), before, "files of the filesystem mounted in the jail were deleted");
    assert.match(r.stdout, /^error apply QJ1101 refusing to touch ".*sharedfs": .*mounted/m, r.stderr);
  });
});
