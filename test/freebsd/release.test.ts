import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import {
  archPath,
  mirrorBase,
  parseManifest,
  releaseFromUname,
  releaseUrl,
  DEFAULT_MIRROR,
} from "../../src/core/release.js";
import { parseUname } from "../../src/platform/freebsd/parsers/uname.js";
import { UsageError } from "../../src/core/errors.js";
import { SHARED } from "../helpers/cli.js";

function refusedWith(fn: () => unknown, code: string): UsageError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof UsageError, `expected a UsageError, got ${String(e)}`);
    assert.equal(e.code, code);
    return e;
  }
  assert.fail(`expected refusal ${code}`);
}

test("release from uname -r: patch suffix dropped, RELEASE kept", () => {
  assert.equal(releaseFromUname("14.1-RELEASE"), "14.1-RELEASE");
  assert.equal(releaseFromUname("13.2-RELEASE-p4\n"), "13.2-RELEASE");
  assert.equal(releaseFromUname("11.0-RELEASE"), "11.0-RELEASE");
});

test("release from the recorded uname -a of a 12.1 host (fixture uname-a-jc-1)", () => {
  const u = parseUname(readFileSync(join(SHARED, "fixtures/freebsd/uname-a-jc-1.txt"), "utf8"));
  assert.ok(u);
  assert.equal(releaseFromUname(u.release), "12.1-RELEASE");
  assert.equal(archPath(u.machine), "amd64/amd64");
});

test("a 10.1 host (fixture uname-a-jc-2) is refused with qjail's 4.9 advice", () => {
  const u = parseUname(readFileSync(join(SHARED, "fixtures/freebsd/uname-a-jc-2.txt"), "utf8"));
  assert.ok(u);
  const e = refusedWith(() => releaseFromUname(u.release), "QJ1504");
  assert.match(e.message, /"10\.1-RELEASE"/);
  assert.match(e.hint ?? "", /4\.9 is the last qjail version to handle the 10\.x/);
});

test("test builds are refused with the advice to use -f", () => {
  for (const r of ["14.2-BETA3", "14.2-RC1", "15.0-ALPHA2"]) {
    const e = refusedWith(() => releaseFromUname(r), "QJ1502");
    assert.match(e.hint ?? "", /-f/);
  }
});

test("development branches are refused with the UNAME_r advice", () => {
  for (const r of ["13.3-STABLE", "14.0-CURRENT", "13.3-PRERELEASE"]) {
    const e = refusedWith(() => releaseFromUname(r), "QJ1503");
    assert.match(e.hint ?? "", /UNAME_r=\d+\.\d-RELEASE/);
    assert.match(e.hint ?? "", /qjail update -b/);
  }
});

test("garbage from uname is refused, showing the value", () => {
  const e = refusedWith(() => releaseFromUname("Linux 6.1"), "QJ1501");
  assert.match(e.message, /"Linux 6\.1"/);
});

test("arch path: qjail's uname -p twice, and arm64/aarch64 when uname -m differs", () => {
  assert.equal(archPath("amd64"), "amd64/amd64");
  assert.equal(archPath("aarch64", "arm64"), "arm64/aarch64");
  refusedWith(() => archPath("../x"), "QJ1505");
});

test("mirror: default, QJAIL_MIRROR, --mirror, -h host; both at once refused", () => {
  assert.equal(mirrorBase({}), DEFAULT_MIRROR);
  assert.equal(
    mirrorBase({ env: { QJAIL_MIRROR: "http://127.0.0.1:8080/fbsd" } }),
    "http://127.0.0.1:8080/fbsd/",
  );
  assert.equal(
    mirrorBase({ mirror: "https://m.example.org/releases/", env: { QJAIL_MIRROR: "http://x/" } }),
    "https://m.example.org/releases/",
  );
  assert.equal(mirrorBase({ host: "ftp2.freebsd.org" }), "https://ftp2.freebsd.org/pub/FreeBSD/releases/");
  assert.equal(
    releaseUrl(DEFAULT_MIRROR, "amd64/amd64", "14.1-RELEASE"),
    "https://download.freebsd.org/releases/amd64/amd64/14.1-RELEASE/",
  );
  refusedWith(() => mirrorBase({ host: "a", mirror: "https://b/" }), "QJ1506");
  refusedWith(() => mirrorBase({ host: "evil/../x" }), "QJ1507");
  refusedWith(() => mirrorBase({ mirror: "ftp://ftp.freebsd.org/" }), "QJ1508");
});

test("MANIFEST: tab-separated columns per make-manifest.sh, malformed lines reported", () => {
  const sha = "a".repeat(64);
  const text = [
    `base.txz\t${sha}\t27034\tbase\t"Base system (MANDATORY)"\ton`,
    `src.txz\t${"b".repeat(64)}\t99000\tsrc\t"System source code"\toff`,
    `lib32.txz\tnothex\t1\tlib32\t"32-bit"\ton`,
    "",
  ].join("\n");
  const { entries, problems } = parseManifest(text);
  assert.deepEqual(entries.get("base.txz"), {
    file: "base.txz",
    sha256: sha,
    entries: 27034,
    set: "base",
    description: "Base system (MANDATORY)",
    selected: true,
  });
  assert.equal(entries.get("src.txz")?.selected, false);
  assert.equal(entries.has("lib32.txz"), false);
  assert.equal(problems.length, 1);
  assert.match(problems[0] ?? "", /line 3/);
});
