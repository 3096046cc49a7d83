import { test } from "node:test";
import assert from "node:assert/strict";
import {
  cgroupPlan,
  effectiveLinuxLimits,
  parseLimitValue,
  parseRctl,
  rctlRules,
  showLimit,
  withLimit,
} from "../../src/core/limits.js";
import { formatPlan } from "../../src/core/plan.js";
import { emptyRecord, formatRecord, parseRecord } from "../../src/core/record.js";
import { hostLayout } from "../../src/core/paths.js";
import { specFromRecord } from "../../src/core/jail.js";
import { planFreebsdStart, planFreebsdStop } from "../../src/core/freebsd/lifecycle.js";

/** Resource limits named after rctl(8) resources: values, the record, cgroup files, FreeBSD rules. */

test("values: sizes with suffixes, counts, unlimited; refusals say what is wrong", () => {
  assert.equal(parseLimitValue("memoryuse", "512M"), 512 * 1024 ** 2);
  assert.equal(parseLimitValue("memoryuse", "1g"), 1024 ** 3);
  assert.equal(parseLimitValue("maxproc", "256"), 256);
  assert.equal(parseLimitValue("pcpu", "unlimited"), "unlimited");
  assert.throws(() => parseLimitValue("maxproc", "12k"), /QJ1350|invalid maxproc/);
  assert.throws(() => parseLimitValue("memoryuse", "1M"), /below 16M/);
  assert.throws(() => parseLimitValue("maxproc", "-3"), /invalid maxproc/);
  assert.equal(showLimit("memoryuse", 512 * 1024 ** 2), "512M");
});

test("the record keeps them as rctl=...; a qjail 5.x record without it writes back unchanged", () => {
  const v = withLimit(withLimit("", "maxproc", 64), "memoryuse", 64 * 1024 ** 2);
  assert.equal(v, "memoryuse=67108864,maxproc=64");
  assert.deepEqual(parseRctl(v), { memoryuse: 67108864, maxproc: 64 });
  assert.equal(withLimit(v, "maxproc", undefined), "memoryuse=67108864");
  const rec = { ...emptyRecord(), name: "www", path: "/usr/jails/www" };
  assert.doesNotMatch(formatRecord(rec), /rctl/);
  const withRctl = formatRecord({ ...rec, rctl: v });
  assert.match(withRctl, /^rctl="memoryuse=67108864,maxproc=64"$/m);
  assert.deepEqual(parseRecord(withRctl).problems, []);
  assert.equal(effectiveLinuxLimits("", 8 * 1024 ** 3).memoryuse, 4 * 1024 ** 3, "default: half of RAM");
  assert.equal(effectiveLinuxLimits("", 8 * 1024 ** 3).maxproc, 1024);
});

test("cgroup files: v2 in one hierarchy, v1 per controller", () => {
  const limits = effectiveLinuxLimits("memoryuse=67108864,maxproc=64,pcpu=50", 8 * 1024 ** 3);
  const v2 = cgroupPlan({ kind: "v2", root: "/sys/fs/cgroup" }, "qjail-www", limits);
  assert.deepEqual(v2.dirs, ["/sys/fs/cgroup/qjail/qjail-www"]);
  assert.deepEqual(v2.writes, [
    ["/sys/fs/cgroup/qjail/qjail-www/memory.max", "67108864"],
    ["/sys/fs/cgroup/qjail/qjail-www/memory.swap.max", "0"],
    ["/sys/fs/cgroup/qjail/qjail-www/pids.max", "64"],
    ["/sys/fs/cgroup/qjail/qjail-www/cpu.max", "50000 100000"],
  ]);
  assert.deepEqual(v2.parents[1], ["/sys/fs/cgroup/qjail/cgroup.subtree_control", "+memory +pids +cpu"]);
  const v1 = cgroupPlan(
    { kind: "v1", memory: "/sys/fs/cgroup/memory", pids: "/sys/fs/cgroup/pids", cpu: "/sys/fs/cgroup/cpu" },
    "qjail-www",
    limits,
  );
  assert.equal(v1.dirs.length, 3);
  assert.deepEqual(v1.writes.at(-1), ["/sys/fs/cgroup/cpu/qjail/qjail-www/cpu.cfs_quota_us", "50000"]);
});

test("FreeBSD: each set limit is an rctl rule added at start and removed at stop", () => {
  const spec = specFromRecord(hostLayout(), "www", "normal", {
    ...emptyRecord(),
    name: "www",
    path: "/usr/jails/www",
    rctl: "memoryuse=536870912,maxproc=256,pcpu=unlimited",
  });
  assert.deepEqual(rctlRules("www", spec.record.rctl), [
    "jail:www:memoryuse:deny=536870912",
    "jail:www:maxproc:deny=256",
  ]);
  const start = formatPlan(planFreebsdStart(spec));
  assert.match(
    start,
    /^\/usr\/sbin\/jail -q -f .* -c\n[^]*\/usr\/bin\/rctl -a jail:www:memoryuse:deny=536870912\n\/usr\/bin\/rctl -a jail:www:maxproc:deny=256$/m,
  );
  assert.match(
    formatPlan(planFreebsdStop(spec)),
    /^\/usr\/bin\/rctl -r jail:www\n\/usr\/sbin\/jail -q -f .* -r www$/m,
  );
  const plain = specFromRecord(hostLayout(), "www", "normal", {
    ...emptyRecord(),
    name: "www",
    path: "/usr/jails/www",
  });
  assert.doesNotMatch(formatPlan(planFreebsdStart(plain)) + formatPlan(planFreebsdStop(plain)), /rctl/);
});

test("io rates: rctl throttle rules on FreeBSD, the jail's disk throttled in its cgroup on Linux", () => {
  assert.equal(parseLimitValue("readbps", "10M/s"), 10 * 1024 ** 2);
  assert.equal(parseLimitValue("writeiops", "200"), 200);
  assert.throws(() => parseLimitValue("readiops", "2k"), /invalid readiops value/);
  assert.deepEqual(rctlRules("www", "memoryuse=67108864,readbps=1048576,writeiops=100"), [
    "jail:www:memoryuse:deny=67108864",
    "jail:www:readbps:throttle=1048576",
    "jail:www:writeiops:throttle=100",
  ]);
  assert.equal(showLimit("readbps", 1024 ** 2), "1M/s");
  const limits = effectiveLinuxLimits("readbps=1048576,writeiops=100", 8 * 1024 ** 3);
  const v1 = cgroupPlan(
    {
      kind: "v1",
      memory: "/cg/memory",
      pids: "/cg/pids",
      cpu: "/cg/cpu",
      cpuacct: "/cg/cpuacct",
      blkio: "/cg/blkio",
    },
    "qjail-www",
    limits,
  );
  assert.deepEqual(v1.dirs, [
    "/cg/memory/qjail/qjail-www",
    "/cg/pids/qjail/qjail-www",
    "/cg/cpu/qjail/qjail-www",
    "/cg/cpuacct/qjail/qjail-www",
    "/cg/blkio/qjail/qjail-www",
  ]);
  assert.deepEqual(
    v1.writes.filter(([f]) => f.includes("blkio")),
    [
      ["/cg/blkio/qjail/qjail-www/blkio.throttle.read_bps_device", "@DEVICE@ 1048576"],
      ["/cg/blkio/qjail/qjail-www/blkio.throttle.write_iops_device", "@DEVICE@ 100"],
    ],
  );
  assert.equal(v1.needsDevice, true);
  assert.equal(v1.ioUnsupported, false);
  const v2 = cgroupPlan({ kind: "v2", root: "/cg", io: true }, "qjail-www", limits);
  assert.deepEqual(v2.parents[0], ["/cg/cgroup.subtree_control", "+memory +pids +cpu +io"]);
  assert.deepEqual(
    v2.writes.find(([f]) => f.endsWith("io.max")),
    ["/cg/qjail/qjail-www/io.max", "@DEVICE@ rbps=1048576 wbps=max riops=max wiops=100"],
  );
  // a host that cannot carry them: the start refuses instead of running the jail unthrottled
  assert.equal(cgroupPlan({ kind: "v2", root: "/cg", io: false }, "qjail-www", limits).ioUnsupported, true);
  assert.equal(cgroupPlan({ kind: "v1", memory: "/cg/memory" }, "qjail-www", limits).ioUnsupported, true);
  // no io limit: no device needed, nothing written for io
  const none = cgroupPlan(
    { kind: "v1", blkio: "/cg/blkio" },
    "qjail-www",
    effectiveLinuxLimits("", 8 * 1024 ** 3),
  );
  assert.equal(none.needsDevice, false);
  assert.deepEqual(
    none.dirs,
    ["/cg/blkio/qjail/qjail-www"],
    "still its own blkio group (an equal io weight)",
  );
});
