import { test, after } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import * as tar from "tar";
import { emptyRecord, formatRecord } from "../../src/core/record.js";
import { renderJailConf } from "../../src/core/jailconf.js";
import { runCli, testdir, treeDigest } from "../helpers/cli.js";

// restore runs for real under --root: archive a jail, delete its files, restore,
// and compare the trees; hostile archives are built with node-tar and must be
// refused before anything is written.

const cleanups: (() => void)[] = [];
after(() => cleanups.forEach((c) => c()));
const NOW = new Date(2017, 6, 1, 18, 3, 26);
const WWW = {
  ...emptyRecord(),
  name: "www",
  path: "/usr/jails/www",
  fstab: "/usr/local/etc/qjail.fstab/www",
  ip4: "10.0.0.2",
  deffile: "/usr/local/etc/qjail.local/www.man",
};
const RECORD = formatRecord(WWW);

function host(): { dir: string; env: Record<string, string> } {
  const t = testdir(
    {
      "usr/local/etc/qjail.local/www.man": RECORD,
      "usr/local/etc/qjail.global/www.man": RECORD,
      // What qjail writes for this record: restore writes these anew, so a round trip is byte for byte.
      "usr/local/etc/qjail.config/www": renderJailConf(WWW),
      "usr/local/etc/qjail.fstab/www": "/usr/jails/sharedfs /usr/jails/www/sharedfs nullfs ro 0 0\n",
      "usr/jails/www/etc/rc.conf": 'hostname="www"\n',
      "usr/jails/sharedfs/bin/sh": "#!sh\n",
      "jls.json": JSON.stringify({ __version: "2", "jail-information": { jail: [] } }),
    },
    `qjail-restore-${process.pid}-`,
  );
  cleanups.push(t.cleanup);
  return { dir: t.dir, env: { QJAIL_JLS_JSON: join(t.dir, "jls.json") } };
}

const cli = (h: { dir: string; env: Record<string, string> }, cmd: string, args: string[]) =>
  runCli([cmd, "--platform", "freebsd", "--root", h.dir, ...args], { env: h.env, now: NOW });

function removeJail(dir: string): void {
  for (const p of [
    "usr/local/etc/qjail.local/www.man",
    "usr/local/etc/qjail.global/www.man",
    "usr/local/etc/qjail.config/www",
    "usr/local/etc/qjail.fstab/www",
    "usr/jails/www",
  ])
    rmSync(join(dir, p), { recursive: true });
}

test("archive, delete, restore by name: the jail's files come back byte for byte, status suffix included", async () => {
  const h = host();
  const before = treeDigest(join(h.dir, "usr"));
  assert.equal((await cli(h, "archive", ["www"])).code, 0);
  removeJail(h.dir);
  const r = await cli(h, "restore", ["www"]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, "Successfully restored www\n");
  const afterRestore = treeDigest(join(h.dir, "usr"));
  for (const k of [...afterRestore.keys()]) if (k.startsWith("jails/archive")) afterRestore.delete(k);
  assert.deepEqual(afterRestore, before);
});

test("restore refuses a jail that exists, changing nothing", async () => {
  const h = host();
  await cli(h, "archive", ["www"]);
  const before = treeDigest(h.dir);
  const r = await cli(h, "restore", ["www@201707011803.26.tar"]);
  assert.equal(r.code, 3);
  assert.match(r.stderr, /QJ1628: jail "www" already exists/);
  assert.match(r.stderr, /create -a/);
  assert.deepEqual(treeDigest(h.dir), before);
});

test("restore --dry-run --json: the plan as one JSON document, nothing written", async () => {
  const h = host();
  await cli(h, "archive", ["www"]);
  removeJail(h.dir);
  const before = treeDigest(h.dir);
  const r = await cli(h, "restore", ["--dry-run", "--json", "www"]);
  assert.equal(r.code, 0, r.stderr);
  const doc = JSON.parse(r.stdout) as { restored: { name: string; result: string; archive: string }[] };
  assert.equal(doc.restored[0]?.name, "www");
  assert.equal(doc.restored[0]?.result, "planned");
  assert.equal(doc.restored[0]?.archive, "/usr/jails/archive/www@201707011803.26.tar");
  assert.deepEqual(treeDigest(h.dir), before);
  // the human part is the one plan that runs: unpack beside, rename into place, records last
  const plan = r.stderr;
  const at = (re: RegExp): number => {
    const m = re.exec(plan);
    assert.ok(m, `the plan shows ${re}:\n${plan}`);
    return m.index;
  };
  const unpack = at(
    /extract jail-tree \S+ from \/usr\/jails\/archive\/www@201707011803\.26\.tar into \/usr\/jails\/\.www\.qjail-restore/,
  );
  const place = at(/mv \/usr\/jails\/\.www\.qjail-restore \/usr\/jails\/www/);
  const record = at(/write \/usr\/local\/etc\/qjail\.local\/www/);
  assert.ok(unpack < place && place < record);
});

async function hostileArchive(
  h: { dir: string },
  name: string,
  extra: { path: string; type?: "File" | "SymbolicLink" | "Link"; linkpath?: string }[],
): Promise<void> {
  const src = join(h.dir, "src");
  mkdirSync(src, { recursive: true });
  writeFileSync(join(src, "rec"), RECORD);
  writeFileSync(join(src, "x"), "owned\n");
  const rename: Record<string, { path: string; linkpath?: string }> = {
    rec: { path: "/usr/local/etc/qjail.local/www" },
  };
  const files = ["rec"];
  extra.forEach((e, i) => {
    const f = `e${i}`;
    if (e.type === "SymbolicLink") symlinkSync(e.linkpath ?? "/", join(src, f));
    else writeFileSync(join(src, f), "owned\n");
    rename[f] = { path: e.path, linkpath: e.linkpath };
    files.push(f);
  });
  tar.c(
    {
      sync: true,
      gzip: true,
      file: join(h.dir, "usr/jails/archive", name),
      cwd: src,
      preservePaths: true,
      onWriteEntry: (w) => {
        const to = rename[w.path];
        if (to) {
          w.path = to.path;
          if (to.linkpath) w.linkpath = to.linkpath;
        }
      },
    },
    files,
  );
  rmSync(src, { recursive: true });
}

test("hostile archives are refused before anything is written, naming the member", async () => {
  for (const [label, extra, pattern] of [
    ["host file", [{ path: "/etc/rc.conf" }], /"\/etc\/rc\.conf" is outside the jail root/],
    ["dot-dot", [{ path: "/usr/jails/www/../../../etc/rc.conf" }], /not a plain absolute path/],
    ["other jail's record", [{ path: "/usr/local/etc/qjail.global/db" }], /outside the jail root/],
    [
      "climbing symlink",
      [{ path: "/usr/jails/www/up", type: "SymbolicLink", linkpath: "../../../etc" }],
      /climbs out/,
    ],
  ] as const) {
    const h = host();
    removeJail(h.dir);
    mkdirSync(join(h.dir, "usr/jails/archive"), { recursive: true });
    await hostileArchive(h, "www@201707011803.26.tar", [...extra]);
    const before = treeDigest(h.dir);
    const r = await cli(h, "restore", ["www"]);
    assert.equal(r.code, 3, label);
    assert.match(r.stderr, /QJ1641/, label);
    assert.match(r.stderr, pattern, label);
    assert.deepEqual(treeDigest(h.dir), before, label);
  }
});

test("restore of several archives checks them all first: one bad archive, nothing restored", async () => {
  const h = host();
  await cli(h, "archive", ["www"]);
  removeJail(h.dir);
  await hostileArchive(h, "bad@201707011803.26.tar", [{ path: "/etc/passwd" }]);
  const before = treeDigest(h.dir);
  const r = await cli(h, "restore", ["www", "bad@201707011803.26.tar"]);
  assert.equal(r.code, 3);
  assert.deepEqual(treeDigest(h.dir), before);
});

test("restore sharedfs keeps the current tree as previous.sharedfs", async () => {
  const h = host();
  assert.equal((await cli(h, "archive", ["sharedfs"])).code, 0);
  writeFileSync(join(h.dir, "usr/jails/sharedfs/bin/sh"), "#!newer\n");
  const r = await cli(h, "restore", ["sharedfs"]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(readFileSync(join(h.dir, "usr/jails/sharedfs/bin/sh"), "utf8"), "#!sh\n");
  assert.equal(readFileSync(join(h.dir, "usr/jails/previous.sharedfs/bin/sh"), "utf8"), "#!newer\n");
  assert.equal(existsSync(join(h.dir, "usr/jails/sharedfs")), true);
});

test("restore with no archive of that name says how to make one", async () => {
  const h = host();
  const r = await cli(h, "restore", ["www"]);
  assert.equal(r.code, 3);
  assert.match(r.stderr, /QJ1623: no archive of "www"/);
});

test("a qjail 5.x image-jail archive (tree, no .img) is refused with the create -a advice", async () => {
  const h = host();
  const image = formatRecord({
    ...emptyRecord(),
    name: "www",
    path: "/usr/jails/www",
    imagetype: "simple",
    image: "/usr/jails/www/www.img",
  });
  for (const d of ["qjail.local/www.man", "qjail.global/www.man"])
    writeFileSync(join(h.dir, "usr/local/etc", d), image);
  assert.equal((await cli(h, "archive", ["www"])).code, 0);
  removeJail(h.dir);
  const before = treeDigest(h.dir);
  const r = await cli(h, "restore", ["www"]);
  assert.equal(r.code, 3);
  assert.match(r.stderr, /QJ1629: .*not its image "\/usr\/jails\/www\/www\.img"/);
  assert.deepEqual(treeDigest(h.dir), before);
});

test("restore reads an archive made by FreeBSD's tar czPf (bsdtar), as qjail 5.x writes them", async () => {
  const { runProgram } = await import("../../src/platform/run.js");
  const h = host();
  const before = treeDigest(join(h.dir, "usr"));
  mkdirSync(join(h.dir, "usr/jails/archive"), { recursive: true });
  const members = [
    "usr/local/etc/qjail.fstab/www",
    "usr/local/etc/qjail.config/www",
    "usr/local/etc/qjail.global/www.man",
    "usr/local/etc/qjail.local/www.man",
    "usr/jails/www",
  ];
  // -s maps the temporary root away so members carry the host's absolute paths, like qjail's.
  const made = await runProgram([
    "bsdtar",
    "-czPf",
    join(h.dir, "usr/jails/archive/www@201701010000.00.tar"),
    "-s",
    `,^${h.dir},,`,
    ...members.map((m) => join(h.dir, m)),
  ]);
  assert.equal(made.code, 0, made.stderr);
  removeJail(h.dir);
  const r = await cli(h, "restore", ["www"]);
  assert.equal(r.code, 0, r.stderr);
  const got = treeDigest(join(h.dir, "usr"));
  for (const k of [...got.keys()]) if (k.startsWith("jails/archive")) got.delete(k);
  assert.deepEqual(got, before);
});

/** A gzip'd tar whose members (logical path → text) are exactly `files`, like a crafted archive would be. */
function craftedArchive(file: string, files: Record<string, string>): void {
  const src = `${file}.src`;
  const names = Object.keys(files).map((_, i) => `m${i}`);
  mkdirSync(src, { recursive: true });
  Object.values(files).forEach((text, i) => writeFileSync(join(src, `m${i}`), text));
  const to = new Map(names.map((n, i) => [n, Object.keys(files)[i] as string]));
  tar.c(
    {
      sync: true,
      gzip: true,
      file,
      cwd: src,
      preservePaths: true,
      onWriteEntry: (w) => {
        w.path = to.get(w.path) ?? w.path;
      },
    },
    names,
  );
  rmSync(src, { recursive: true });
}

const WWW_FILES = (record: string): Record<string, string> => ({
  "/usr/local/etc/qjail.local/www": record,
  "/usr/local/etc/qjail.global/www": record,
  "/usr/local/etc/qjail.config/www": renderJailConf(WWW),
  "/usr/local/etc/qjail.fstab/www": "/usr/jails/sharedfs /usr/jails/www/sharedfs nullfs ro 0 0\n",
  "/usr/jails/www/etc/rc.conf": 'hostname="www"\n',
});

test("a record field that is not what qjail writes is refused, naming the field and its value", async () => {
  const cases: [string, Partial<typeof WWW>, RegExp][] = [
    [
      "fstab",
      { fstab: "/etc/master.passwd" },
      /record's fstab "\/etc\/master\.passwd" is not "\/usr\/local\/etc\/qjail\.fstab\/www"/,
    ],
    ["deffile", { deffile: "/etc/rc.conf" }, /record's deffile "\/etc\/rc\.conf"/],
    [
      "ip4 with a jail.conf parameter",
      { ip4: "10.0.0.2;exec.prestart=/tmp/x" },
      /record's ip4 "10\.0\.0\.2;exec\.prestart=\/tmp\/x"/,
    ],
    ["interface", { interface: "em0;mount.fstab" }, /record's interface "em0;mount\.fstab"/],
    ["a flag", { nullfs: "yes;exec.start" }, /record's nullfs "yes;exec\.start"/],
    ["image", { image: "/dev/ada0" }, /record's image "\/dev\/ada0"/],
  ];
  for (const [label, change, shows] of cases) {
    const h = host();
    removeJail(h.dir);
    mkdirSync(join(h.dir, "usr/jails/archive"), { recursive: true });
    craftedArchive(
      join(h.dir, "usr/jails/archive/www@201701010000.00.tar"),
      WWW_FILES(formatRecord({ ...WWW, deffile: "", ...change })),
    );
    const before = treeDigest(h.dir);
    const r = await cli(h, "restore", ["www"]);
    assert.equal(r.code, 3, `${label}: ${r.stderr}`);
    assert.match(r.stderr, /QJ1641/, label);
    assert.match(r.stderr, shows, label);
    assert.deepEqual(treeDigest(h.dir), before, `${label}: a refusal changes nothing`);
  }
});

test("a record with a NUL byte inside a value is refused as damaged", async () => {
  const h = host();
  removeJail(h.dir);
  mkdirSync(join(h.dir, "usr/jails/archive"), { recursive: true });
  craftedArchive(
    join(h.dir, "usr/jails/archive/www@201701010000.00.tar"),
    WWW_FILES(formatRecord(WWW).replace('ip4="10.0.0.2"', 'ip4="10.0.\u00000.2"')),
  );
  const r = await cli(h, "restore", ["www"]);
  assert.equal(r.code, 3, r.stderr);
  assert.match(r.stderr, /QJ1641: .*damaged: line \d+: value of ip4 contains a NUL byte/);
  assert.equal(existsSync(join(h.dir, "usr/jails/www")), false);
});

test("the archive's jail.conf block and fstab are not restored: both are written anew from the record", async () => {
  const h = host();
  removeJail(h.dir);
  mkdirSync(join(h.dir, "usr/jails/archive"), { recursive: true });
  const files = WWW_FILES(formatRecord(WWW));
  files["/usr/local/etc/qjail.config/www"] = renderJailConf(WWW).replace(
    "}\n",
    "exec.prestart = \"/bin/sh -c 'cp /bin/sh /tmp/rootsh; chmod 4755 /tmp/rootsh'\";\n}\n",
  );
  files["/usr/local/etc/qjail.fstab/www"] = "/ /usr/jails/www/host nullfs rw 0 0\n";
  craftedArchive(join(h.dir, "usr/jails/archive/www@201701010000.00.tar"), files);
  const r = await cli(h, "restore", ["www"]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(readFileSync(join(h.dir, "usr/local/etc/qjail.config/www"), "utf8"), renderJailConf(WWW));
  assert.equal(
    readFileSync(join(h.dir, "usr/local/etc/qjail.fstab/www"), "utf8"),
    "/usr/jails/sharedfs /usr/jails/www/sharedfs nullfs ro 0 0\n",
  );
  assert.equal(readFileSync(join(h.dir, "usr/jails/www/etc/rc.conf"), "utf8"), 'hostname="www"\n');
});

test("a restore cut short (marker, half tree, staging dir left) is finished by running it again", async () => {
  const h = host();
  const whole = treeDigest(join(h.dir, "usr"));
  assert.equal((await cli(h, "archive", ["www"])).code, 0);
  removeJail(h.dir);
  // What a kill inside the unpacking, or just after the rename, leaves: no record lists the jail.
  mkdirSync(join(h.dir, "var/db/qjail/creating/www"), { recursive: true });
  mkdirSync(join(h.dir, "usr/jails/.www.qjail-restore/etc"), { recursive: true });
  writeFileSync(join(h.dir, "usr/jails/.www.qjail-restore/etc/half"), "half\n");
  mkdirSync(join(h.dir, "usr/jails/www/etc"), { recursive: true });
  writeFileSync(join(h.dir, "usr/jails/www/etc/rc.conf"), "hos");
  const r = await cli(h, "restore", ["www"]);
  assert.equal(r.code, 0, r.stderr);
  const got = treeDigest(join(h.dir, "usr"));
  for (const k of [...got.keys()]) if (k.startsWith("jails/archive")) got.delete(k);
  assert.deepEqual(got, whole);
  assert.equal(
    existsSync(join(h.dir, "var/db/qjail/creating/www")),
    false,
    "the marker goes with the commit",
  );
});

test("without a marker, a tree at the jail's path is not restore's to replace", async () => {
  const h = host();
  assert.equal((await cli(h, "archive", ["www"])).code, 0);
  removeJail(h.dir);
  mkdirSync(join(h.dir, "usr/jails/www"), { recursive: true });
  const r = await cli(h, "restore", ["www"]);
  assert.equal(r.code, 3);
  assert.match(r.stderr, /QJ1628/);
});
