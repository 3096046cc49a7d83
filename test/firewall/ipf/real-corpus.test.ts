/**
 * qjail's IPFilter parser and printer against real ipf/ipnat 5.1.2 on
 * real-world rule files (../shared/corpus/ipfilter-real, read at run time and
 * never copied): for every case and repro file the same verdict as the real
 * tool (oracle/NAME.rc), and for files that load, the printed rules equal to
 * oracle/NAME.out (what `qjail fw lint --print` prints). Every disagreement
 * is listed by file and line; the ones that remain are named below with the
 * reason, and the test fails on any other — or when a listed one goes away,
 * so the list stays true.
 *
 * The same run checks lint: on every file that loads, each finding is one
 * this file justifies (no false alarms), and no rule is reported twice.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { SHARED } from "../../helpers/cli.js";
import { compareCorpus, corpusFiles, formatReport, ORACLE_HOSTS } from "../../../scripts/ipfilter-real.js";
import { parseIpf, parseIpnat } from "../../../src/firewall/ipf/index.js";
import { lintRules } from "../../../src/firewall/ipf/lint.js";

const CORPUS = join(SHARED, "corpus", "ipfilter-real");
const skip = existsSync(join(CORPUS, "oracle")) ? false : `ipfilter-real corpus not found at ${CORPUS}`;

/**
 * Disagreements that remain, each with its reason: the oracle ran on Debian
 * (its /etc/services and syslog names); qjail follows FreeBSD, the target.
 */
const KNOWN: Record<string, string> = {
  // FreeBSD's /etc/services has no "munin" (Debian's has munin 4949/tcp):
  // ipf on FreeBSD says "service unknown" and loads nothing; so does qjail.
  "cases/g-skylime-ipf.conf.ipf:12 false-reject": "munin is not in FreeBSD's /etc/services",
  "cases/g-skylime-ipf6.conf.ipf:12 false-reject": "munin is not in FreeBSD's /etc/services",
  "repro/false-reject-misc.ipf:4 false-reject": "munin is not in FreeBSD's /etc/services",
  // LOG_SECURITY exists on FreeBSD (printed "security"); glibc has no such
  // facility, so the Linux-built oracle printed "!!!".
  "cases/t-1h_ipf_parse_019_v4.ipf:18 print": "the security syslog facility is FreeBSD's, not Linux's",
};

test("ipfilter-real: the verdict and the print of real ipf/ipnat 5.1.2, file by file", { skip }, () => {
  const report = compareCorpus(CORPUS);
  const got = new Map(report.disagreements.map((d) => [`${d.file}:${d.line} ${d.kind}`, d]));
  const unexpected = [...got.keys()].filter((k) => !(k in KNOWN));
  const gone = Object.keys(KNOWN).filter((k) => !got.has(k));
  assert.ok(report.files >= 190, `only ${report.files} corpus files found`);
  assert.deepEqual(
    unexpected,
    [],
    `new disagreements with real ipf/ipnat (file:line kind):\n${formatReport({ ...report, disagreements: report.disagreements.filter((d) => unexpected.includes(`${d.file}:${d.line} ${d.kind}`)) })}`,
  );
  assert.deepEqual(gone, [], "listed disagreements no longer happen: take them off the KNOWN list");
  assert.equal(
    report.filesAgreeing,
    report.files - new Set(Object.keys(KNOWN).map((k) => k.split(":")[0])).size,
  );
});

/**
 * Lint findings on files that load, each justified. The t-1h_* files are
 * IPFilter's own parser tests: they list many variants of one rule, and every
 * variant after the first really is dead. ipnat.5 L360 (and its repro) shows
 * two spellings of the same rdr, so the second never gets traffic. The
 * instantiated Handbook set put 192.0.2.67 inside the 192.0.2.0/24 it blocks
 * quick on line 28.
 */
const LINT_JUSTIFIED: Record<string, { code: string; count: number }> = {
  "cases/f-handbook-ipf.rules-instantiated.ipf": { code: "QJ4105", count: 1 },
  "cases/m-ipnat_5-L360.nat": { code: "QJ4103", count: 1 },
  "cases/t-1h_ipf_parse_001_v4.ipf": { code: "QJ4105", count: 5 },
  "cases/t-1h_ipf_parse_019_v4.ipf": { code: "QJ4105", count: 17 },
  "cases/t-1h_ipnat_parse_002_v4.nat": { code: "QJ4103", count: 50 },
  "cases/t-1h_ipnat_parse_005_v4.nat": { code: "QJ4103", count: 18 },
  "repro/false-reject-range-spaces.nat": { code: "QJ4103", count: 1 },
};

test("ipfilter-real: lint raises no alarm it cannot justify, and names each dead rule once", { skip }, () => {
  const seenFiles = new Set<string>();
  for (const f of corpusFiles(CORPUS)) {
    const text = readFileSync(join(CORPUS, f.path), "utf8");
    const opts = { hosts: { ...ORACLE_HOSTS }, recover: true };
    const r = f.kind === "ipf" ? parseIpf(text, opts) : parseIpnat(text, opts);
    if (r.diagnostics.some((d) => d.severity === "error")) continue;
    const findings = lintRules(f.kind === "ipf" ? { ipf: r.rules as never } : { ipnat: r.rules as never });
    const keys = findings.map((x) => `${x.code}:${x.line}`);
    assert.equal(new Set(keys).size, keys.length, `${f.path}: a rule is reported twice: ${keys.join(" ")}`);
    const justified = LINT_JUSTIFIED[f.path];
    if (findings.length === 0) {
      assert.equal(justified, undefined, `${f.path}: the justified findings are gone; update LINT_JUSTIFIED`);
      continue;
    }
    seenFiles.add(f.path);
    assert.ok(
      justified,
      `${f.path}: unexpected lint findings:\n${findings.map((x) => `  ${x.line}: ${x.code} ${x.message}`).join("\n")}`,
    );
    assert.deepEqual(
      { code: [...new Set(findings.map((x) => x.code))].join(","), count: findings.length },
      justified,
      `${f.path}: ${findings.map((x) => `${x.line}:${x.code}`).join(" ")}`,
    );
  }
  assert.deepEqual([...seenFiles].sort(), Object.keys(LINT_JUSTIFIED).sort());
});
