import { test, after, describe } from "node:test";
import assert from "node:assert/strict";
import {
  readdirSync,
  readFileSync,
  statSync,
  mkdirSync,
  writeFileSync,
  symlinkSync,
  linkSync,
  existsSync,
  rmSync,
  cpSync,
  chmodSync,
} from "node:fs";
import { spawnSync } from "node:child_process";
import { join, relative } from "node:path";
import { applyPlan } from "../../src/platform/apply.js";
import type { Plan, Step } from "../../src/core/plan.js";
import { UsageError } from "../../src/core/errors.js";
import { hostLayout, physical } from "../../src/core/paths.js";
import { readPasswordFile } from "../../src/platform/dyndns-client.js";
import { REPO_ROOT, runCli, tempDir, treeDigest } from "../helpers/cli.js";
import { childArgv, runSync } from "./helpers/index.js";
import { createJails, installHost, releaseBase } from "./helpers/host.js";
import { buildArchive, evilArchive } from "./helpers/archive.js";

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
  {
    name: "import of exec/execSync",
    re: /import\s*\{[^}]*\bexec(?:Sync)?\b(?!File)[^}]*\}\s*from\s*["'](?:node:)?child_process["']/,
  },
  {
    name: "require of exec/execSync",
    re: /\{[^}]*\bexec(?:Sync)?\b(?!File)[^}]*\}\s*=\s*require\(\s*["'](?:node:)?child_process["']\s*\)/,
  },
  { name: "shell: true", re: /\bshell\s*:\s*(?:true|["'`][^"'`]+["'`])/ },
  // A shell binary followed by -c, as separate argv words or one string.
  {
    name: "sh -c argv",
    re: /["'`](?:\/usr)?(?:\/local)?(?:\/bin\/)?(?:ba|da|k|z|c|tc)?sh["'`]\s*,\s*(?:\[\s*)?["'`]-c["'`]/,
  },
  // A string starting a shell with a command after -c; prose quoting 'sh -c' on its own is not code.
  {
    name: "sh -c string",
    re: /["'`](?:\/usr)?(?:\/local)?(?:\/bin\/)?(?:ba|da|k|z|c|tc)?sh\s+-c\s+["']?[\w$/{.-]/,
  },
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
    for (const line of planted)
      assert.ok(scanForShell("planted.ts", line).length > 0, `not detected: ${line}`);
    const allowed = [
      `import { spawn, execFile } from "node:child_process";`,
      `const m = /^x$/.exec(line);`,
      `runProgram(["jexec", name, "/bin/sh", "/etc/rc"]);`,
      `exec.start          =  "/bin/sh /etc/rc";`,
      `const shell = "/bin/csh";`,
      `details: "the command is not a shell string (run 'sh -c' inside the jail for that)",`,
    ];
    for (const line of allowed)
      assert.deepEqual(scanForShell("allowed.ts", line), [], `false positive: ${line}`);
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
    for (const data of DATA_FILES.keys())
      assert.ok(existsSync(join(REPO_ROOT, data)), `stale exclusion ${data}`);
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
  for (const k of [...all.keys()])
    if (k === "usr/jails/evil" || k.startsWith("usr/jails/evil/")) all.delete(k);
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
    steps: (h) => [
      {
        kind: "appendFile",
        path: `${h.jail}/etc/rc.conf.d/rc.conf`,
        content: 'sshd_enable="YES"\n',
        inJail: h.jail,
      },
    ],
    expect: "refused",
  },
  {
    name: "etc/rc.conf replaced by a link to host /etc/rc.conf, host appends sshd_enable",
    plant: (h) => {
      removeTree(rel(h, "etc/rc.conf"));
      symlinkSync(join(h.hostEtc, "rc.conf"), rel(h, "etc/rc.conf"));
    },
    steps: (h) => [
      { kind: "appendFile", path: `${h.jail}/etc/rc.conf`, content: 'sshd_enable="YES"\n', inJail: h.jail },
    ],
    expect: "refused",
  },
  {
    name: "etc/rc.conf → host file, host rewrites the whole file",
    plant: (h) => symlinkSync(join(h.hostEtc, "rc.conf"), rel(h, "etc/rc.conf.local")),
    steps: (h) => [
      {
        kind: "writeFile",
        path: `${h.jail}/etc/rc.conf.local`,
        content: 'sshd_enable="YES"\n',
        inJail: h.jail,
      },
    ],
    expect: "either",
  },
  {
    name: "etc/ssh → host /etc/ssh, host appends UseDNS to sshd_config",
    plant: (h) => {
      removeTree(rel(h, "etc/ssh"));
      symlinkSync(join(h.hostEtc, "ssh"), rel(h, "etc/ssh"));
    },
    steps: (h) => [
      { kind: "appendFile", path: `${h.jail}/etc/ssh/sshd_config`, content: "UseDNS no\n", inJail: h.jail },
    ],
    expect: "refused",
  },
  {
    name: "etc/ssh → host /etc/ssh, host writes a new file in it",
    plant: (h) => {
      removeTree(rel(h, "etc/ssh"));
      symlinkSync(join(h.hostEtc, "ssh"), rel(h, "etc/ssh"));
    },
    steps: (h) => [
      { kind: "writeFile", path: `${h.jail}/etc/ssh/sshd_config`, content: "UseDNS no\n", inJail: h.jail },
    ],
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
    steps: (h) => [
      {
        kind: "writeFile",
        path: `${h.jail}/etc/passwd`,
        content: "root:*:0:0::/root:/bin/csh\n",
        inJail: h.jail,
      },
    ],
    expect: "either",
  },
  {
    name: "etc/passwd hard-linked to host /etc/passwd, host appends a user",
    plant: (h) => linkSync(join(h.hostEtc, "passwd"), rel(h, "etc/passwd")),
    steps: (h) => [
      {
        kind: "appendFile",
        path: `${h.jail}/etc/passwd`,
        content: "www:*:80:80::/nonexistent:/usr/sbin/nologin\n",
        inJail: h.jail,
      },
    ],
    expect: "refused",
  },
  {
    name: "etc/passwd hard-linked to host /etc/passwd, host rewrites passwd",
    plant: (h) => linkSync(join(h.hostEtc, "passwd"), rel(h, "etc/passwd")),
    steps: (h) => [
      {
        kind: "writeFile",
        path: `${h.jail}/etc/passwd`,
        content: "root:*:0:0::/root:/bin/csh\n",
        inJail: h.jail,
      },
    ],
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
    steps: (h) => [
      { kind: "writeFile", path: `${h.jail}/etc/rc.conf`, content: 'sshd_enable="YES"\n', inJail: h.jail },
    ],
    expect: "refused",
  },
  {
    name: "the jail root replaced by a link, host appends to etc/rc.conf",
    plant: (h) => {
      removeTree(h.jailDir);
      symlinkSync(h.root, h.jailDir);
    },
    steps: (h) => [
      { kind: "appendFile", path: `${h.jail}/etc/rc.conf`, content: 'sshd_enable="YES"\n', inJail: h.jail },
    ],
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
    steps: (h) => [
      { kind: "rename", from: `${h.jail}/etc/rc.conf`, to: `${h.jail}/etc/rc.conf.bak`, inJail: h.jail },
    ],
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
    steps: (h) => [
      { kind: "copyTree", from: "/usr/jails/flavors/default", to: h.jail, overwrite: true, inJail: h.jail },
    ],
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
    steps: (h) => [
      { kind: "copyTree", from: "/usr/jails/flavors/default", to: h.jail, overwrite: true, inJail: h.jail },
    ],
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
    steps: (h) => [
      { kind: "copyTree", from: "/usr/jails/flavors/default", to: h.jail, overwrite: true, inJail: h.jail },
    ],
    expect: "either",
  },
  {
    name: "a dangling link at the target of a new symlink step, pointing at host /etc/passwd",
    plant: (h) => symlinkSync(join(h.hostEtc, "passwd"), rel(h, "etc/localtime")),
    steps: (h) => [
      { kind: "symlink", target: "/usr/share/zoneinfo/UTC", path: `${h.jail}/etc/localtime`, inJail: h.jail },
    ],
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
    writeFileSync(
      planFile,
      JSON.stringify([{ title: "delete", steps: [{ kind: "remove", path: h.jail, recursive: true }] }]),
    );
    const before = treeDigest(shared);
    // The bind mount lives only in the child's private mount namespace.
    const r = runSync([
      "unshare",
      "-m",
      "--propagation",
      "private",
      "--",
      ...childArgv(),
      "--bind",
      shared,
      rel(h, "sharedfs"),
      "apply",
      h.root,
      planFile,
    ]);
    // Linux bind mounts of the same filesystem keep st_dev, so a st_dev check alone does not see them.
    assert.deepEqual(treeDigest(shared), before, "files of the filesystem mounted in the jail were deleted");
    assert.match(r.stdout, /^error apply QJ1101 refusing to touch ".*sharedfs": .*mounted/m, r.stderr);
  });
});

// ---------------------------------------------------------------------------
// (b, continued) The same attacks through the real commands, on an installed
// host under --root: a jail's root user plants links in its own tree, then the
// admin runs a host-side qjail command on that jail.

const cliHosts = tempDir(`qjail-sec-cli-${process.pid}-`);
let installedTemplate: string | undefined;
after(() => {
  cliHosts.cleanup();
  releaseBase();
});

/** A fresh installed host with jail www, and canary host files outside every jail. */
async function cliHost(
  label: string,
): Promise<{ root: string; www: string; digestOutside: () => Map<string, string> }> {
  if (installedTemplate === undefined) {
    installedTemplate = join(cliHosts.dir, "template");
    mkdirSync(installedTemplate, { recursive: true });
    await installHost(installedTemplate);
    await createJails(installedTemplate, [["www", "10.0.0.3"]]);
    for (const [p, c] of Object.entries(HOST_CANARIES)) {
      mkdirSync(join(installedTemplate, p, ".."), { recursive: true });
      writeFileSync(join(installedTemplate, p), c);
    }
  }
  const root = join(cliHosts.dir, label.replace(/[^A-Za-z0-9]/g, "_"));
  cpSync(installedTemplate, root, { recursive: true, verbatimSymlinks: true });
  // Everything a jail must never reach: the host's files, the shared base, the template.
  const watched = ["etc", "root", "usr/jails/sharedfs", "usr/jails/template", "usr/jails/flavors"];
  const digestOutside = (): Map<string, string> => {
    const out = new Map<string, string>();
    for (const w of watched) for (const [k, v] of treeDigest(join(root, w))) out.set(`${w}/${k}`, v);
    return out;
  };
  return { root, www: join(root, "usr/jails/www"), digestOutside };
}

const HOST_CANARIES: Record<string, string> = {
  "etc/rc.conf": 'hostname="host.example.org"\n',
  "etc/passwd": "root:*:0:0::/root:/bin/sh\n",
  "etc/master.passwd": "root:$6$secret:0:0::0:0::/root:/bin/sh\n",
  "etc/fstab": "/dev/ada0p2 / ufs rw 1 1\n",
  "etc/ssh/sshd_config": "PermitRootLogin no\n",
  "root/.ssh/authorized_keys": "ssh-ed25519 AAAA admin\n",
};

interface CliAttack {
  name: string;
  plant(h: { root: string; www: string }): void;
  argv: string[];
  /** Exit statuses that are acceptable (0 = did the work safely, 3 = refused clearly). */
  exits?: number[];
}

const replaceWithLink = (path: string, target: string): void => {
  rmSync(path, { recursive: true, force: true });
  symlinkSync(target, path);
};

const CLI_ATTACKS: readonly CliAttack[] = [
  {
    name: "config -h: etc/rc.conf → host /etc/rc.conf (relative)",
    plant: (h) => replaceWithLink(join(h.www, "etc/rc.conf"), "../../../../etc/rc.conf"),
    argv: ["config", "-h", "www"],
  },
  {
    name: "config -h: etc/rc.conf → host file (absolute physical path)",
    plant: (h) => replaceWithLink(join(h.www, "etc/rc.conf"), join(h.root, "etc/rc.conf")),
    argv: ["config", "-h", "www"],
  },
  {
    name: "config -h: etc/ssh → host /etc/ssh",
    plant: (h) => replaceWithLink(join(h.www, "etc/ssh"), join(h.root, "etc/ssh")),
    argv: ["config", "-h", "www"],
  },
  {
    name: "config -h: etc → host /etc",
    plant: (h) => replaceWithLink(join(h.www, "etc"), join(h.root, "etc")),
    argv: ["config", "-h", "www"],
  },
  {
    name: "config -h: etc/rc.conf hard-linked to host /etc/rc.conf",
    plant: (h) => {
      rmSync(join(h.www, "etc/rc.conf"), { force: true });
      linkSync(join(h.root, "etc/rc.conf"), join(h.www, "etc/rc.conf"));
    },
    argv: ["config", "-h", "www"],
  },
  {
    name: "config -h: etc/ssh/sshd_config hard-linked to the host's",
    plant: (h) => {
      rmSync(join(h.www, "etc/ssh/sshd_config"), { force: true });
      mkdirSync(join(h.www, "etc/ssh"), { recursive: true });
      linkSync(join(h.root, "etc/ssh/sshd_config"), join(h.www, "etc/ssh/sshd_config"));
    },
    argv: ["config", "-h", "www"],
  },
  {
    name: "config -h: the jail root replaced by a link to host /",
    plant: (h) => replaceWithLink(h.www, h.root),
    argv: ["config", "-h", "www"],
  },
  {
    name: "delete: links to host files and directories inside the jail",
    plant: (h) => {
      replaceWithLink(join(h.www, "etc/passwd"), join(h.root, "etc/passwd"));
      symlinkSync(join(h.root, "etc"), join(h.www, "hostetc"));
      symlinkSync("../../../../root", join(h.www, "hostroot"));
    },
    argv: ["delete", "www"],
  },
  {
    name: "delete: etc/fstab → host /etc/fstab",
    plant: (h) => replaceWithLink(join(h.www, "etc/fstab"), join(h.root, "etc/fstab")),
    argv: ["delete", "www"],
  },
  {
    name: "delete: the jail root replaced by a link to host /etc",
    plant: (h) => replaceWithLink(h.www, join(h.root, "etc")),
    argv: ["delete", "www"],
  },
  {
    name: "delete: the jail root replaced by a link to the shared base",
    plant: (h) => replaceWithLink(h.www, join(h.root, "usr/jails/sharedfs")),
    argv: ["delete", "www"],
  },
  {
    name: "delete: a hard link to a host file inside the jail",
    plant: (h) => linkSync(join(h.root, "etc/master.passwd"), join(h.www, "etc/stolen")),
    argv: ["delete", "www"],
  },
  {
    name: "config -n: the jail root replaced by a link to host /etc",
    plant: (h) => replaceWithLink(h.www, join(h.root, "etc")),
    argv: ["config", "-n", "web", "www"],
  },
  {
    name: "config -n: etc → host /etc",
    plant: (h) => replaceWithLink(join(h.www, "etc"), join(h.root, "etc")),
    argv: ["config", "-n", "web", "www"],
  },
  {
    name: "archive: etc → host /etc (the archive must not carry host files)",
    plant: (h) => replaceWithLink(join(h.www, "etc"), join(h.root, "etc")),
    argv: ["archive", "www"],
  },
  {
    name: "archive: the jail root replaced by a link to host /root",
    plant: (h) => replaceWithLink(h.www, join(h.root, "root")),
    argv: ["archive", "www"],
  },
  {
    name: "create on a leftover tree whose etc → host /etc",
    plant: (h) => {
      mkdirSync(join(h.root, "usr/jails/mail"), { recursive: true });
      symlinkSync(join(h.root, "etc"), join(h.root, "usr/jails/mail/etc"));
    },
    argv: ["create", "-n", "lo1", "-4", "10.0.0.9", "mail"],
  },
  {
    name: "create -c on a leftover tree whose etc/rc.conf → host file",
    plant: (h) => {
      mkdirSync(join(h.root, "usr/jails/mail/etc"), { recursive: true });
      symlinkSync(join(h.root, "etc/rc.conf"), join(h.root, "usr/jails/mail/etc/rc.conf"));
    },
    argv: ["create", "-n", "lo1", "-4", "10.0.0.9", "-c", "mail"],
  },
  {
    name: "create on a leftover tree that is a link to host /root",
    plant: (h) => symlinkSync(join(h.root, "root"), join(h.root, "usr/jails/mail")),
    argv: ["create", "-n", "lo1", "-4", "10.0.0.9", "mail"],
  },
];

let cliAttacksTried = 0;
describe("planted links through the real commands (--root, FreeBSD layout)", () => {
  after(() =>
    process.stderr.write(
      `symlink attacks: ${LINK_ATTACKS.length} on the plan applier, ${cliAttacksTried} through the CLI\n`,
    ),
  );
  for (const a of CLI_ATTACKS) {
    test(a.name, async () => {
      cliAttacksTried++;
      const h = await cliHost(a.name);
      a.plant(h);
      const before = h.digestOutside();
      const [cmd, ...rest] = a.argv;
      const r = await runCli([cmd as string, "--root", h.root, "--platform", "freebsd", ...rest]);
      assert.deepEqual(
        digestChanges(h.digestOutside(), before),
        [],
        `host files changed; qjail said:\n${r.stdout}${r.stderr}`,
      );
      assert.ok(
        (a.exits ?? [0, 3]).includes(r.code),
        `exit ${r.code}: a failure must be a clear refusal, not an internal error:\n${r.stderr}`,
      );
      if (a.argv[0] === "archive" && r.code === 0) {
        const listing = spawnSync(
          "tar",
          [
            "-tzvf",
            join(h.root, "usr/jails/archive", readdirSync(join(h.root, "usr/jails/archive"))[0] as string),
          ],
          { encoding: "utf8" },
        );
        assert.doesNotMatch(
          listing.stdout,
          /secret|authorized_keys|master\.passwd/,
          "the archive carries host files",
        );
      }
    });
  }
});

function digestChanges(a: Map<string, string>, b: Map<string, string>): string[] {
  return [...new Set([...a.keys(), ...b.keys()])].filter((k) => a.get(k) !== b.get(k)).sort();
}

// ---------------------------------------------------------------------------
// A restored archive must not be able to aim later host-side commands at host files.

describe("a crafted archive cannot aim host-side commands outside its jail", () => {
  test("a record whose fstab names a host file: restore refuses, or delete leaves that file alone", async () => {
    const h = await cliHost("restore-fstab");
    const file = join(h.root, "usr/jails/archive/evil@202611301200.00.tar");
    buildArchive(
      file,
      evilArchive([], (t) =>
        t.replace('fstab="/usr/local/etc/qjail.fstab/evil"', 'fstab="/etc/master.passwd"'),
      ),
    );
    const before = h.digestOutside();
    const restore = await runCli([
      "restore",
      "--root",
      h.root,
      "--platform",
      "freebsd",
      "evil@202611301200.00.tar",
    ]);
    if (restore.code === 0) {
      const del = await runCli(["delete", "--root", h.root, "--platform", "freebsd", "evil"]);
      assert.deepEqual(
        digestChanges(h.digestOutside(), before),
        [],
        `restore accepted fstab="/etc/master.passwd", and 'delete evil' then changed host files:\n${del.stderr}`,
      );
    } else {
      assert.equal(restore.code, 3, restore.stderr);
      assert.match(restore.stderr, /QJ16\d\d.*\/etc\/master\.passwd/);
    }
  });
});

describe("a crafted archive cannot make 'archive' carry host files", () => {
  test("a restored record whose fstab names /etc/master.passwd: restore refuses, or the next archive leaves that file out", async () => {
    const h = await cliHost("restore-fstab-archive");
    // Another time than the fixed clock runCli gives, so the next archive gets its own name.
    const crafted = "evil@202601010000.00.tar";
    buildArchive(
      join(h.root, "usr/jails/archive", crafted),
      evilArchive([], (t) =>
        t.replace('fstab="/usr/local/etc/qjail.fstab/evil"', 'fstab="/etc/master.passwd"'),
      ),
    );
    const restore = await runCli(["restore", "--root", h.root, "--platform", "freebsd", crafted]);
    if (restore.code !== 0) {
      assert.equal(restore.code, 3, restore.stderr);
      return;
    }
    const archive = await runCli(["archive", "--root", h.root, "--platform", "freebsd", "evil"]);
    if (archive.code !== 0) {
      assert.equal(archive.code, 3, archive.stderr);
      return;
    }
    const made = readdirSync(join(h.root, "usr/jails/archive")).filter(
      (f) => f.startsWith("evil@") && f !== crafted,
    );
    assert.equal(made.length, 1, made.join(" "));
    const listing = spawnSync("tar", ["-tzPf", join(h.root, "usr/jails/archive", made[0] as string)], {
      encoding: "utf8",
    });
    assert.doesNotMatch(
      listing.stdout,
      /^\/etc\/master\.passwd$/m,
      "the archive carries the host's /etc/master.passwd",
    );
  });
});

// ---------------------------------------------------------------------------
// (c) File modes: what a FreeBSD admin expects of files qjail writes.

describe("modes of the files qjail writes", () => {
  test("records, jail.conf blocks, fstabs, exposures, rules and archives: no file or directory is world-writable", async () => {
    const h = await cliHost("modes");
    for (const argv of [
      ["create", "-n", "lo1", "-4", "10.0.0.4", "-c", "mail"],
      ["expose", "www", "tcp", "6188:80", "--no-load"],
      ["fw", "sync", "--no-load"],
      ["archive", "www"],
      ["config", "-r", "mail"],
      ["start", "www"],
    ]) {
      const words = argv[0] === "fw" ? 2 : 1;
      const r = await runCli([
        ...argv.slice(0, words),
        "--root",
        h.root,
        "--platform",
        "freebsd",
        ...argv.slice(words),
      ]);
      assert.equal(r.code, 0, `${argv.join(" ")}: ${r.stderr}`);
    }
    const offenders: string[] = [];
    const l = hostLayout();
    for (const [path, entry] of treeDigest(h.root)) {
      const m = /^(file|dir) ([0-7]+)/.exec(entry);
      if (!m) continue;
      const mode = parseInt(m[2] as string, 8);
      // A world-writable directory is fine only with the sticky bit (a jail's /tmp).
      if ((mode & 0o002) !== 0 && !(m[1] === "dir" && (mode & 0o1000) !== 0))
        offenders.push(`${path} ${m[2]}`);
    }
    assert.deepEqual(offenders, [], "world-writable files or directories");
    const modeOf = (logical: string): string =>
      (statSync(physical(h.root, logical)).mode & 0o7777).toString(8);
    for (const f of [
      `${l.local}/www`,
      `${l.global}/www`,
      `${l.config}/www`,
      `${l.fstabDir}/www`,
      `${l.local}/mail.norun`,
      `${l.exposures}/www`,
    ]) {
      assert.ok(["644", "600"].includes(modeOf(f)), `${f} has mode ${modeOf(f)}, expected 0644 or 0600`);
    }
    for (const a of readdirSync(physical(h.root, l.archive))) {
      const mode = modeOf(`${l.archive}/${a}`);
      // An archive holds the jail's master.passwd: no other user may read it.
      assert.equal(
        parseInt(mode, 8) & 0o004,
        0,
        `archive ${a} is world-readable (mode ${mode}) and holds the jail's password hashes`,
      );
    }
  });

  test("the dyndns password file is refused when every user can read it", async () => {
    const dir = join(cliHosts.dir, "dyndns");
    mkdirSync(dir, { recursive: true });
    const file = join(dir, "qjail.dyndns");
    writeFileSync(file, "s3cret\n", { mode: 0o644 });
    chmodSync(file, 0o644);
    await assert.rejects(
      readPasswordFile(file),
      (e: unknown) =>
        e instanceof UsageError &&
        e.code === "QJ5108" &&
        /readable by every user \(mode 644\)/.test(e.message) &&
        /chmod 600/.test(e.hint ?? ""),
    );
    chmodSync(file, 0o604);
    await assert.rejects(
      readPasswordFile(file),
      (e: unknown) => e instanceof UsageError && e.code === "QJ5108",
    );
    chmodSync(file, 0o600);
    assert.equal(await readPasswordFile(file), "s3cret");
  });
});
