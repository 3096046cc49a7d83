/**
 * The npm package is the product: what `npm pack` puts in the tarball, and
 * whether the package, installed the way a user installs it
 * (`npm i -g --prefix P qjail-X.tgz`), runs on its own, from a directory
 * far from this repository, with no node_modules of its own.
 *
 * `npm test` builds first, so the tarball is packed with --ignore-scripts
 * from that build; package.json's prepack runs the same build when a
 * release is packed by hand (checked below, not re-run: it costs 15 s).
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync, type SpawnSyncReturns } from "node:child_process";
import {
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  realpathSync,
  statSync,
} from "node:fs";
import { gzipSync } from "node:zlib";
import { join, resolve } from "node:path";
import { REPO_ROOT, tempDir } from "../helpers/cli.js";
import { buildBaseTxz } from "../helpers/base-txz.js";
import { bootFiles } from "../../src/core/boot.js";

/**
 * The size budget (CI fails past it), in two parts, because the package holds
 * two kinds of thing that grow for different reasons:
 *
 * - JS and text (the bundle, its code cache, man pages, share/, etc/, the
 *   helper's C source): ~66 files, ~670 kB packed, ~2 MB unpacked today.
 *   Raised for `qjail apply` (issue 11): its YAML parser with source positions
 *   (yaml, ~250 kB in the bundle) and schema library (zod/mini, ~110 kB), both
 *   loaded only when apply/export run.
 * - The Linux jail helper, prebuilt static and stripped for x64 and arm64
 *   (share/linux/bin/linux-ARCH/qjail-helper, `make -C native`): ~700 and
 *   ~600 kB each, ~610 kB packed together. They are static glibc binaries so
 *   that a jail never runs a host library; their size is glibc's, not ours,
 *   and does not tell anything about the JS growing. So: exactly these two
 *   files, each under its own cap, kept executable, and left out of the JS
 *   and text budget.
 *
 * The packed share of each helper is measured as gzip -9 of it alone (npm
 * packs one gzip stream; per file it is within a few hundred bytes).
 * Raise a figure on purpose, in this file, with the reason in the commit.
 */
export const BUDGET = {
  files: 90,
  textPackedBytes: 800_000,
  textUnpackedBytes: 2_800_000,
  helperBytes: 800_000,
};
/** The prebuilt native helpers the package ships, one per architecture. */
export const HELPERS = ["share/linux/bin/linux-arm64/qjail-helper", "share/linux/bin/linux-x64/qjail-helper"];

interface PackEntry {
  path: string;
  size: number;
  mode: number;
}
interface PackResult {
  filename: string;
  size: number;
  unpackedSize: number;
  entryCount: number;
  files: PackEntry[];
}

const manifest = JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8")) as {
  version: string;
  files: string[];
  man: string[];
  bin: Record<string, string>;
  scripts: Record<string, string>;
  dependencies?: Record<string, string>;
  allowScripts?: Record<string, boolean>;
};

/** `npm pack` of this checkout into dir; the tarball's path and npm's own account of it. */
export function packInto(dir: string): { tarball: string; pack: PackResult } {
  const r = spawnSync(
    "npm",
    ["pack", "--ignore-scripts", "--json", "--pack-destination", dir, "--no-audit", "--no-fund"],
    { cwd: REPO_ROOT, encoding: "utf8", env: { ...process.env, npm_config_loglevel: "error" } },
  );
  assert.equal(r.status, 0, `npm pack failed: ${r.stderr}`);
  const pack = (JSON.parse(r.stdout) as PackResult[])[0] as PackResult;
  return { tarball: join(dir, pack.filename), pack };
}

function ok(r: SpawnSyncReturns<string>, what: string): string {
  assert.equal(r.status, 0, `${what} exited ${r.status}: ${r.stderr}${r.stdout}`);
  return r.stdout;
}

describe("the npm package", () => {
  const tmp = tempDir(`qjail-pack-${process.pid}-`);
  let pack: PackResult;
  let tarball: string;
  const prefix = join(tmp.dir, "prefix");
  /** A working directory with no repository above it and no package.json. */
  const away = join(tmp.dir, "away");
  const qjail = join(prefix, "bin", "qjail");
  const run = (args: string[], env: Record<string, string> = {}): SpawnSyncReturns<string> =>
    spawnSync(qjail, args, {
      cwd: away,
      encoding: "utf8",
      // The installed binary finds node through PATH (#!/usr/bin/env node), nothing else.
      env: { PATH: `${prefix}/bin:/usr/local/bin:/usr/bin:/bin`, ...env },
    });

  before(() => {
    assert.ok(existsSync(join(REPO_ROOT, "dist/qjail.cjs")), "npm test builds before testing");
    ({ tarball, pack } = packInto(tmp.dir));
    mkdirSync(away, { recursive: true });
    // --offline: the package must need nothing from a registry.
    ok(
      spawnSync(
        "npm",
        ["install", "-g", "--prefix", prefix, "--offline", "--no-audit", "--no-fund", tarball],
        { cwd: away, encoding: "utf8", env: { ...process.env, npm_config_loglevel: "error" } },
      ),
      "npm install -g",
    );
  });
  after(() => tmp.cleanup());

  test("holds only what runs: the bundle, bin, share, etc, man pages and the helper's source", () => {
    const paths = pack.files.map((f) => f.path).sort();
    for (const must of [
      "bin/qjail.js",
      "dist/qjail.cjs",
      "dist/qjail.cjs.cache",
      "dist/qjail-list.cjs",
      "dist/qjail-list.cjs.cache",
      "package.json",
      ...HELPERS,
    ])
      assert.ok(paths.includes(must), `${must} is in the tarball`);
    const allowed =
      /^(bin\/qjail\.js|bin\/package\.json|dist\/qjail(-list)?\.cjs(\.cache)?|share\/.+|man\/[a-z-]+\.8|etc\/.+|native\/(Makefile|qjail-helper\.c|toolchain\.txt)|package\.json|README\.md)$/;
    assert.deepEqual(
      paths.filter((p) => !allowed.test(p)),
      [],
      "nothing outside the files whitelist",
    );
    assert.deepEqual(
      paths.filter((p) => /\.ts$|^(src|test|bench|scripts|\.ci)\/|eslint|prettier|tsconfig|\.map$/.test(p)),
      [],
    );
  });

  test("fits the size budget: JS and text, and the two prebuilt helpers each on their own", () => {
    assert.ok(pack.entryCount <= BUDGET.files, `${pack.entryCount} files > budget ${BUDGET.files}`);
    const binaries = pack.files.filter((f) => f.path.startsWith("share/linux/bin/"));
    assert.deepEqual(binaries.map((f) => f.path).sort(), HELPERS, "exactly one helper per architecture");
    let helperPacked = 0;
    for (const f of binaries) {
      assert.ok(f.size <= BUDGET.helperBytes, `${f.path}: ${f.size} B > budget ${BUDGET.helperBytes}`);
      assert.equal(f.mode & 0o111, 0o111, `${f.path} is packed executable`);
      helperPacked += gzipSync(readFileSync(join(REPO_ROOT, f.path)), { level: 9 }).length;
    }
    const textUnpacked = pack.unpackedSize - binaries.reduce((n, f) => n + f.size, 0);
    const textPacked = pack.size - helperPacked;
    assert.ok(
      textPacked <= BUDGET.textPackedBytes,
      `JS and text: ~${textPacked} B packed > budget ${BUDGET.textPackedBytes}`,
    );
    assert.ok(
      textUnpacked <= BUDGET.textUnpackedBytes,
      `JS and text: ${textUnpacked} B unpacked > budget ${BUDGET.textUnpackedBytes}`,
    );
    // Installed, the helper a Linux host runs is still executable.
    const arch = process.arch === "arm64" ? "arm64" : "x64";
    const installed = join(prefix, "lib/node_modules/qjail/share/linux/bin", `linux-${arch}`, "qjail-helper");
    assert.equal(statSync(installed).mode & 0o111, 0o111, `${installed} is executable`);
  });

  test("package.json: prepack builds, every man page is listed, nothing to install at run time", () => {
    assert.match(manifest.scripts.prepack ?? "", /npm run build/);
    // npm 11 warns about every install script not named here (newcomer P15); esbuild's only
    // checks the binary its platform package (@esbuild/linux-x64 …) already holds, and the
    // build works without it, so it is denied.
    assert.equal(manifest.allowScripts?.esbuild, false);
    const pages = readdirSync(join(REPO_ROOT, "man"))
      .filter((f) => f.endsWith(".8"))
      .map((f) => `man/${f}`)
      .sort();
    assert.deepEqual([...manifest.man].sort(), pages);
    // The bundle carries every npm package it uses; the installed tree has none.
    assert.deepEqual(Object.keys(manifest.dependencies ?? {}), []);
    assert.equal(existsSync(join(prefix, "lib/node_modules/qjail/node_modules")), false);
  });

  test("npm i -g links the binary and every man page into the prefix", () => {
    assert.ok(lstatSync(qjail).isSymbolicLink());
    assert.equal(realpathSync(qjail), realpathSync(join(prefix, "lib/node_modules/qjail/bin/qjail.js")));
    for (const page of manifest.man) {
      const name = page.replace(/^man\//, "");
      const link = join(prefix, "share/man/man8", name);
      assert.ok(existsSync(link), `${link} exists`);
      assert.equal(
        resolve(join(prefix, "share/man/man8"), readlinkSync(link)),
        join(prefix, "lib/node_modules/qjail", page),
      );
    }
  });

  test("packaging/freebsd: pkg-plist lists exactly what the package installs; the Makefile matches", () => {
    const makefile = readFileSync(join(REPO_ROOT, "packaging/freebsd/Makefile"), "utf8");
    // What `npm i -g` really put in the prefix, in FreeBSD's layout (PREFIX=/usr/local).
    const installed: string[] = ["bin/qjail"];
    const walk = (dir: string, rel: string): void => {
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        if (e.isDirectory()) walk(join(dir, e.name), `${rel}/${e.name}`);
        else installed.push(`${rel}/${e.name}`);
      }
    };
    walk(join(prefix, "lib/node_modules/qjail"), "lib/node_modules/qjail");
    // ... less the prebuilt Linux helpers, which the port removes (static Linux ELF files).
    const linuxBin = "lib/node_modules/qjail/share/linux/bin/";
    assert.ok(installed.some((f) => f.startsWith(linuxBin)));
    installed.splice(0, installed.length, ...installed.filter((f) => !f.startsWith(linuxBin)));
    assert.match(makefile, /\$\{RM\} -r \$\{STAGEDIR\}\$\{PREFIX\}\/\$\{QJAIL_DIR\}\/share\/linux\/bin\n/);
    // bin/qjail.js's "#!/usr/bin/env node" names node by its path in the port (rc's and cron's PATH lack /usr/local/bin)
    assert.match(readFileSync(join(REPO_ROOT, "bin/qjail.js"), "utf8"), /^#!\/usr\/bin\/env node\n/);
    assert.ok(
      makefile.includes(
        "\t${SED} -i '' -e '1s|^#!/usr/bin/env node$$|#!${LOCALBASE}/bin/node|' \\\n\t\t${STAGEDIR}${PREFIX}/${QJAIL_DIR}/bin/qjail.js\n",
      ),
      "the port rewrites the shebang",
    );
    for (const page of readdirSync(join(prefix, "share/man/man8")))
      installed.push(`share/man/man8/${page}.gz`);
    // The port installs the rc.d scripts where 'qjail boot install' puts them.
    for (const f of bootFiles("rc.d")) installed.push(f.target.replace(/^\/usr\/local\//, ""));
    const plist = readFileSync(join(REPO_ROOT, "packaging/freebsd/pkg-plist"), "utf8")
      .split("\n")
      .filter((l) => l !== "" && !l.startsWith("@comment"));
    assert.deepEqual(
      plist,
      [...installed].sort(),
      "regenerate it: node scripts/freebsd-plist.mjs > packaging/freebsd/pkg-plist",
    );
    const variable = (name: string): string =>
      (new RegExp(`^${name}=\\s*((?:.*\\\\\\n)*.*)$`, "m").exec(makefile)?.[1] ?? "").replace(/\\\n/g, " ");
    assert.equal(variable("DISTVERSION").trim(), manifest.version);
    assert.match(variable("CONFLICTS_INSTALL"), /^qjail\b/);
    assert.deepEqual(
      variable("MAN8").split(/\s+/).filter(Boolean).sort(),
      manifest.man.map((m) => m.replace(/^man\//, "")).sort(),
    );
    for (const f of ["pkg-descr", "pkg-message"])
      assert.ok(existsSync(join(REPO_ROOT, "packaging/freebsd", f)), f);
  });

  test("the installed qjail runs outside the repository: --version and help", () => {
    assert.equal(ok(run(["--version"]), "qjail --version"), `qjail ${manifest.version}\n`);
    const help = ok(run(["help"]), "qjail help");
    assert.match(help, /Run 'qjail help COMMAND'/);
    assert.match(help, /expose/);
    assert.match(ok(run(["help", "boot", "install"]), "qjail help boot install"), /rc\.d|systemd/);
  });

  test("the installed qjail puts its systemd units and rc.d scripts in place, naming its own link", () => {
    const root = join(tmp.dir, "bootroot");
    assert.match(
      ok(run(["boot", "install", "--root", root, "--platform", "linux"]), "boot install"),
      /Installed/,
    );
    const unit = readFileSync(join(root, "etc/systemd/system/qjail.service"), "utf8");
    assert.ok(unit.includes(`ExecStart=${qjail} boot start`), unit);
    ok(run(["boot", "install", "--root", root, "--platform", "freebsd"]), "boot install (FreeBSD)");
    const rc = readFileSync(join(root, "usr/local/etc/rc.d/qjail"), "utf8");
    assert.ok(rc.includes(`: \${qjail_program:="${qjail}"}`), rc);
  });

  test("the installed qjail installs, creates, lists, archives and restores jails, then exposes a port and runs the fw, status, doctor, export and apply commands under --root (FreeBSD plans)", () => {
    const base = buildBaseTxz();
    const root = join(tmp.dir, "root");
    try {
      const g = ["--root", root, "--platform", "freebsd"];
      ok(run(["install", ...g, "-f", base.dir]), "qjail install");
      assert.ok(existsSync(join(root, "usr/jails/flavors/ssh-default/etc/ssh/sshd_config")));
      assert.match(
        ok(run(["create", ...g, "-n", "em0", "-4", "10.0.0.2", "-c", "ssh"]), "create"),
        /Successfully created {2}ssh/,
      );
      const list = ok(run(["list", ...g]), "list");
      assert.match(list, /em0 10\.0\.0\.2 +ssh/);
      const json = JSON.parse(ok(run(["list", "--json", ...g]), "list --json")) as {
        "qjail-information": { jail: { name: string }[] };
      };
      assert.deepEqual(
        json["qjail-information"].jail.map((j) => j.name),
        ["ssh"],
      );
      // archive and restore load tar and zlib, which the bundle loads late (a stand-in for
      // a late module once broke every archive in the installed qjail, not under dist/)
      assert.match(ok(run(["archive", ...g, "ssh"]), "archive"), /Successfully archived ssh/);
      const archives = readdirSync(join(root, "usr/jails/archive")).filter((f) => f.startsWith("ssh@"));
      assert.equal(archives.length, 1, `one archive of ssh: ${archives.join(" ")}`);
      ok(run(["delete", ...g, "ssh"]), "delete");
      assert.match(
        ok(run(["restore", ...g, join(root, "usr/jails/archive", archives[0]!)]), "restore"),
        /Successfully restored ssh/,
      );
      assert.match(ok(run(["list", ...g]), "list after restore"), /em0 10\.0\.0\.2 +ssh/);

      // The howto's network half through the bundle: each command loads its own modules late,
      // and only running it in the installed qjail shows that the bundle carries them.
      ok(run(["create", ...g, "-n", "em0", "-4", "10.0.0.3", "www"]), "create www");
      assert.match(ok(run(["fw", "setup", "--write", ...g]), "fw setup --write"), /Wrote .*ipnat\.rules/);
      assert.match(
        ok(run(["expose", ...g, "www", "tcp", "6188:80"]), "expose"),
        /Exposed tcp 6188 -> www:80/,
      );
      assert.match(ok(run(["ports", ...g]), "ports"), /6188 +tcp +\* +www:80/);
      assert.match(
        ok(run(["fw", "show", ...g]), "fw show"),
        /rdr em0 0\/0 port 6188 -> 10\.0\.0\.3\/32 port 80 tcp/,
      );
      assert.match(
        ok(run(["fw", "lint", "--print", ...g, join(root, "etc/ipnat.rules")]), "fw lint --print"),
        /^rdr em0 0\/0 port 6188 -> 10\.0\.0\.3\/32 port 80 tcp$/m,
      );
      assert.match(
        ok(
          run([
            "fw",
            "trace",
            ...g,
            "--dst-ip",
            "198.51.100.1",
            "tcp",
            "203.0.113.5:40000",
            "to",
            ":6188",
            "on",
            "em0",
          ]),
          "fw trace",
        ),
        /result: passed: tcp 203\.0\.113\.5,40000 > 10\.0\.0\.3,80 S/,
      );
      const status = JSON.parse(ok(run(["status", "--json", ...g]), "status --json")) as {
        jails: { name: string }[];
      };
      assert.deepEqual(status.jails.map((j) => j.name).sort(), ["ssh", "www"]);
      const doctor = run(["doctor", ...g]);
      assert.ok(
        doctor.status === 0 || doctor.status === 1,
        `doctor exited ${doctor.status}: ${doctor.stderr}`,
      );
      assert.match(doctor.stdout, /QJ\d{4}/);
      const spec = ok(run(["export", ...g]), "export");
      assert.match(spec, /^ {2}www:$/m);
      const check = spawnSync(qjail, ["apply", "--check", ...g, "-"], {
        cwd: away,
        encoding: "utf8",
        input: spec,
        env: { PATH: `${prefix}/bin:/usr/local/bin:/usr/bin:/bin` },
      });
      assert.match(ok(check, "export | apply --check -"), /no changes/);
      assert.match(ok(run(["unexpose", ...g, "www", "tcp", "6188"]), "unexpose"), /Unexposed tcp 6188/);
    } finally {
      base.cleanup();
    }
  });
});
