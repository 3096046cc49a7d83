import { test, after } from "node:test";
import assert from "node:assert/strict";
import {
  linkSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  readlinkSync,
  symlinkSync,
  writeFileSync,
  existsSync,
} from "node:fs";
import { join } from "node:path";
import * as tar from "tar";
import {
  archiveFileName,
  ARCHIVE_NAME_PATTERN,
  checkJailArchive,
  extractArchive,
  extractJailTree,
  latestArchive,
  readArchiveIndex,
  writeArchive,
  type ArchiveEntry,
} from "../../src/store/archive.js";
import { emptyRecord, formatRecord } from "../../src/core/record.js";
import { UsageError } from "../../src/core/errors.js";
import { tempDir, testdir, treeDigest } from "../helpers/cli.js";

const cleanups: (() => void)[] = [];
after(() => cleanups.forEach((c) => c()));
const scratch = (tag: string): string => {
  const t = tempDir(`qjail-arch-${tag}-${process.pid}-`);
  cleanups.push(t.cleanup);
  return t.dir;
};

const RECORD = formatRecord({ ...emptyRecord(), name: "www", path: "/usr/jails/www", ip4: "10.0.0.2" });

function jailHost(): string {
  const t = testdir(
    {
      "usr/local/etc/qjail.local/www": RECORD,
      "usr/local/etc/qjail.global/www": RECORD,
      "usr/local/etc/qjail.config/www": "www { }\n",
      "usr/local/etc/qjail.fstab/www": "/usr/jails/sharedfs /usr/jails/www/sharedfs nullfs ro 0 0\n",
      "usr/jails/www/etc/rc.conf": 'sshd_enable="YES"\n',
      "usr/jails/www/sharedfs/.keep": "",
    },
    `qjail-arch-host-${process.pid}-`,
  );
  cleanups.push(t.cleanup);
  const root = join(t.dir, "usr/jails/www");
  symlinkSync("/sharedfs/bin", join(root, "bin"));
  linkSync(join(root, "etc/rc.conf"), join(root, "etc/rc.conf.hard"));
  return t.dir;
}

const MEMBERS = [
  "/usr/local/etc/qjail.fstab/www",
  "/usr/local/etc/qjail.config/www",
  "/usr/local/etc/qjail.global/www",
  "/usr/local/etc/qjail.local/www",
  "/usr/jails/www",
];

test("archive names: qjail's <jail>@YYYYMMDDhhmm.SS.tar, matching Bastille's import pattern", () => {
  const name = archiveFileName("www", new Date(2017, 6, 1, 18, 3, 26));
  assert.equal(name, "www@201707011803.26.tar");
  assert.match(name, ARCHIVE_NAME_PATTERN);
  assert.equal(
    latestArchive(
      ["www@201707011803.26.tar", "www@201801010000.00.tar", "www2@209901010000.00.tar", "www@junk.tar"],
      "www",
    ),
    "www@201801010000.00.tar",
  );
});

test("an archive is gzip'd, stores absolute logical paths in qjail's member order, whatever --root is", async () => {
  const root = jailHost();
  await writeArchive(root, "/usr/jails/archive/www@201707011803.26.tar", MEMBERS);
  const file = join(root, "usr/jails/archive/www@201707011803.26.tar");
  assert.deepEqual([...readFileSync(file).subarray(0, 2)], [0x1f, 0x8b]);
  const { entries } = await readArchiveIndex(file);
  const paths = entries.map((e) => e.path);
  assert.deepEqual(paths.slice(0, 5), [...MEMBERS.slice(0, 4), "/usr/jails/www/"]);
  assert.ok(paths.every((p) => p.startsWith("/usr/")));
  assert.deepEqual(
    entries.find((e) => e.path === "/usr/jails/www/bin"),
    { path: "/usr/jails/www/bin", type: "SymbolicLink", linkpath: "/sharedfs/bin", size: 0 },
  );
  assert.equal(existsSync(`${file}.part`), false);
});

test("restore round trip: every member back at its logical path under another root, links intact", async () => {
  const root = jailHost();
  await writeArchive(root, "/usr/jails/archive/www@201707011803.26.tar", MEMBERS);
  const file = join(root, "usr/jails/archive/www@201707011803.26.tar");
  const { entries, texts } = await readArchiveIndex(file);
  const info = checkJailArchive("www@201707011803.26.tar", entries, texts);
  assert.equal(info.rootPath, "/usr/jails/www");
  const target = scratch("target");
  await extractArchive(target, file);
  const want = treeDigest(join(root, "usr"));
  want.delete("jails/archive");
  want.delete("jails/archive/www@201707011803.26.tar");
  assert.deepEqual(treeDigest(join(target, "usr")), want);
  assert.equal(readlinkSync(join(target, "usr/jails/www/bin")), "/sharedfs/bin");
  assert.equal(lstatSync(join(target, "usr/jails/www/etc/rc.conf.hard")).nlink, 2);
});

test("extractJailTree (for create -a): only the jail root, moved to the new path", async () => {
  const root = jailHost();
  await writeArchive(root, "/usr/jails/archive/www@201707011803.26.tar", MEMBERS);
  const target = join(scratch("tree"), "usr/jails/web2");
  const info = await extractJailTree(join(root, "usr/jails/archive/www@201707011803.26.tar"), target);
  assert.equal(info.name, "www");
  assert.equal(readFileSync(join(target, "etc/rc.conf"), "utf8"), 'sshd_enable="YES"\n');
  assert.equal(readlinkSync(join(target, "bin")), "/sharedfs/bin");
  assert.equal(lstatSync(join(target, "etc/rc.conf.hard")).nlink, 2);
  assert.equal(existsSync(join(target, "..", "..", "local")), false);
  await assert.rejects(
    extractJailTree(join(root, "usr/jails/archive/www@201707011803.26.tar"), target),
    (e: unknown) => e instanceof UsageError && e.code === "QJ1642",
  );
});

const ok = (path: string, type = "File", linkpath?: string): ArchiveEntry => ({
  path,
  type,
  linkpath,
  size: 1,
});
const base = [ok("/usr/local/etc/qjail.local/www"), ok("/usr/jails/www/", "Directory")];
const texts = new Map([["/usr/local/etc/qjail.local/www", RECORD]]);
const refusal = (extra: ArchiveEntry[], pattern: RegExp): void => {
  assert.throws(
    () => checkJailArchive("evil.tar", [...base, ...extra], texts),
    (e: unknown) => e instanceof UsageError && e.code === "QJ1641" && pattern.test(e.message),
  );
};

test("restore checks refuse every way out of the jail root and its control files", () => {
  assert.equal(
    checkJailArchive(
      "ok.tar",
      [
        ...base,
        ok("/usr/jails/www/bin", "SymbolicLink", "/sharedfs/bin"),
        ok("/usr/jails/www/lib", "SymbolicLink", "../www/x"),
      ],
      texts,
    ).name,
    "www",
  );
  refusal([ok("/etc/master.passwd")], /"\/etc\/master\.passwd" is outside the jail root/);
  refusal([ok("/usr/jails/www/../../../etc/rc.conf")], /not a plain absolute path/);
  refusal([ok("usr/jails/www/etc/x")], /not a plain absolute path/);
  refusal([ok("/usr/local/etc/qjail.local/other")], /2 qjail\.local records/);
  refusal([ok("/usr/local/etc/qjail.global/other")], /outside the jail root/);
  refusal([ok("/usr/jails/www/etc/pw", "Link", "/etc/master.passwd")], /hard link .* points outside/);
  refusal([ok("/usr/jails/www/up", "SymbolicLink", "../../../etc")], /climbs out/);
  refusal(
    [ok("/usr/jails/www/etc", "SymbolicLink", "/etc"), ok("/usr/jails/www/etc/passwd")],
    /below a symbolic link/,
  );
  refusal([ok("/usr/jails/www/dev/mem", "CharacterDevice")], /CharacterDevice/);
  refusal(
    [ok("/usr/local/etc/qjail.config/www", "SymbolicLink", "/etc/rc.conf")],
    /control file .* is a SymbolicLink/,
  );
  assert.throws(
    () => checkJailArchive("x.tar", [ok("/usr/jails/www/", "Directory")], texts),
    /no qjail\.local record/,
  );
  const moved = new Map([
    ["/usr/local/etc/qjail.local/www", formatRecord({ ...emptyRecord(), name: "www", path: "/etc" })],
  ]);
  assert.throws(
    () => checkJailArchive("x.tar", base, moved),
    /record's path "\/etc" is not "\/usr\/jails\/www"/,
  );
});

test("a real tar with a '..' member is refused before anything is written", async () => {
  const dir = scratch("evil");
  mkdirSync(join(dir, "src"), { recursive: true });
  writeFileSync(join(dir, "src/x"), "x");
  const file = join(dir, "evil.tar");
  await tar.c(
    {
      gzip: true,
      file,
      cwd: join(dir, "src"),
      preservePaths: true,
      onWriteEntry: (e) => (e.path = "/usr/jails/www/../../../tmp/x"),
    },
    ["x"],
  );
  const { entries, texts: t } = await readArchiveIndex(file);
  assert.throws(() => checkJailArchive("evil.tar", entries, t), UsageError);
});

test("bsdtar (FreeBSD's tar) imports the archive the way Bastille's import.sh does", async () => {
  const { runProgram } = await import("../../src/platform/run.js");
  const root = jailHost();
  await writeArchive(root, "/usr/jails/archive/www@201707011803.26.tar", MEMBERS);
  const archive = join(root, "usr/jails/archive/www@201707011803.26.tar");
  const listing = await runProgram(["bsdtar", "-tvf", archive]);
  assert.equal(listing.code, 0, listing.stderr);
  // import.sh workout_components: grep -wo "/.*/jails/NAME" | tail -n1 and grep -wo "/.*/qjail.config/NAME",
  // then strip as many components as the paths have slashes (+1 for the root).
  const lines = listing.stdout.split("\n");
  const jailPath = lines.flatMap((l) => /\/.*\/jails\/www\b/.exec(l) ?? []).at(-1);
  const jailConf = lines.flatMap((l) => /\/.*\/qjail\.config\/www\b/.exec(l) ?? []).at(-1);
  assert.equal(jailPath?.replace(/ -> .*$/, ""), "/usr/jails/www");
  assert.equal(jailConf, "/usr/local/etc/qjail.config/www");
  const slashes = (p: string): number => p.split("/").length - 1;
  const dest = scratch("bastille");
  mkdirSync(join(dest, "www/root"), { recursive: true });
  const conf = await runProgram([
    "bsdtar",
    "-xf",
    archive,
    "--strip-components",
    String(slashes(jailConf ?? "")),
    "-C",
    join(dest, "www"),
    jailConf ?? "",
  ]);
  assert.equal(conf.code, 0, conf.stderr);
  const tree = await runProgram([
    "bsdtar",
    "-xf",
    archive,
    "--strip-components",
    String(slashes("/usr/jails/www") + 1),
    "-C",
    join(dest, "www/root"),
    "/usr/jails/www",
  ]);
  assert.equal(tree.code, 0, tree.stderr);
  assert.equal(readFileSync(join(dest, "www/www"), "utf8"), "www { }\n");
  assert.equal(readFileSync(join(dest, "www/root/etc/rc.conf"), "utf8"), 'sshd_enable="YES"\n');
  assert.equal(readlinkSync(join(dest, "www/root/bin")), "/sharedfs/bin");
});

test("an archive that is almost all zeros (a fresh image jail) reads and unpacks: no decompression-ratio refusal", async () => {
  const dir = scratch("zeros");
  mkdirSync(join(dir, "usr/jails/img"), { recursive: true });
  // 24 MiB of zeros deflates about 1030:1, past node-tar's default 1000:1 limit
  writeFileSync(join(dir, "usr/jails/img/img.img"), Buffer.alloc(24 * 1024 * 1024));
  await writeArchive(dir, "/img.tar", ["/usr/jails/img"]);
  const archive = join(dir, "img.tar");
  await assert.rejects(
    tar.t({ file: archive, strict: true }),
    /max decompression ratio exceeded/,
    "node-tar's default limit refuses this archive",
  );
  const index = await readArchiveIndex(archive);
  assert.ok(index.entries.some((e) => e.path === "/usr/jails/img/img.img"));
  const out = scratch("zeros-out");
  await extractArchive(out, archive);
  assert.equal(lstatSync(join(out, "usr/jails/img/img.img")).size, 24 * 1024 * 1024);
});
