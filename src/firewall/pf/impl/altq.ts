/**
 * ALTQ queue definitions (`altq on …`, `queue …`) as pfctl evaluates and
 * prints them (pfctl_altq.c): the interface's bandwidth and token bucket
 * size, each queue's bandwidth relative to its parent, and the lines
 * `pfctl -nv` prints. The kernel-side checks (one root and one default
 * queue per interface) are left to pfctl on the host.
 */
import type { PfHostEnv } from "./hosts.js";
import { interfaceByName } from "./hosts.js";
import type { QueueOpts, Scheduler, ServiceCurve } from "./parser.js";

interface Altq {
  ifname: string;
  scheduler: Scheduler["type"];
  ifbandwidth: number;
}

interface QueueEntry {
  queue: string;
  parent: string;
  ifname: string;
  scheduler: Scheduler["type"];
  bandwidth: number;
}

interface NodeIf {
  name: string;
  not: boolean;
}

const UINT_MAX = 0xffffffff;

/** pfctl's rate2str(): 100000 → "100Kb", 1500000 → "1.50Mb". */
export function rateText(rate: number): string {
  const units = " KMG";
  let i = 0;
  for (; rate >= 1000 && i <= 3; i++) rate /= 1000;
  const unit = units.charAt(i);
  if (Math.trunc(rate * 100) % 100) return `${rate.toFixed(2)}${unit}b`;
  return `${Math.trunc(rate)}${unit}b`;
}

function evalBw(bw: { absolute: number; percent: number }, ref: number): number {
  if (bw.absolute > 0) return Math.min(bw.absolute, ref);
  if (bw.percent > 0) return Math.floor(ref / 100) * bw.percent;
  return 0;
}

const FLAG_ORDER: Record<Scheduler["type"], string[]> = {
  cbq: [
    "red",
    "ecn",
    "rio",
    "codel",
    "cleardscp",
    "flowvalve",
    "borrow",
    "wrr",
    "efficient",
    "root",
    "default",
  ],
  priq: ["red", "ecn", "rio", "codel", "cleardscp", "default"],
  hfsc: ["red", "ecn", "rio", "codel", "cleardscp", "default"],
  fairq: ["red", "ecn", "rio", "codel", "cleardscp", "default"],
  codel: [],
};

/** The scheduler's option list as print_cbq_opts and friends print it, or "" when there is none. */
function schedulerOpts(type: Scheduler["type"], flags: ReadonlySet<string>, s: Scheduler | null): string {
  if (type === "codel") {
    if (!s || (!s.target && !s.interval && !s.flags.includes("ecn"))) return "";
    let out = "codel(";
    if (s.target) out += ` target ${s.target}`;
    if (s.interval) out += ` interval ${s.interval}`;
    if (s.flags.includes("ecn")) out += "ecn";
    return out + " ) ";
  }
  const curves: string[] = [];
  if ((type === "hfsc" || type === "fairq") && s) {
    const curve = (name: string, c: ServiceCurve | null): void => {
      if (!c) return;
      const bw = (b: { absolute: number; percent: number }): string =>
        b.percent > 0 ? `${b.percent}%` : rateText(b.absolute);
      if (c.d) curves.push(` ${name}(${c.m1 ? bw(c.m1) : "0 b"} ${c.d} ${bw(c.m2)})`);
      else curves.push(` ${name} ${bw(c.m2)}`);
    };
    if (type === "hfsc") curve("realtime", s.realtime);
    curve("linkshare", s.linkshare);
    if (type === "hfsc") curve("upperlimit", s.upperlimit);
  }
  const names = FLAG_ORDER[type].filter((f) => flags.has(f));
  if (names.length === 0 && curves.length === 0) return "";
  return `${type}(${names.map((n) => " " + n).join("")}${curves.join("")} ) `;
}

function flagSet(s: Scheduler | null): Set<string> {
  const f = new Set(s?.flags ?? []);
  if (f.has("ecn")) f.add("red");
  return f;
}

export class AltqState {
  private readonly interfaces = new Map<string, Altq>();
  private readonly queues: QueueEntry[] = [];

  constructor(
    private readonly env: PfHostEnv,
    private readonly enabled: boolean,
  ) {}

  /** `altq on IF …`: the line(s) pfctl prints; `fail` reports an error and does not return. */
  altq(
    ifs: readonly NodeIf[],
    qo: QueueOpts,
    children: readonly string[],
    fail: (m: string) => never,
  ): string[] {
    if (!qo.scheduler) fail("no scheduler specified!");
    const sched = qo.scheduler;
    if (children.length === 0 && sched.type !== "codel") fail("no child queues specified");
    if (!this.enabled) return [];
    const lines: string[] = [];
    for (const i of ifs) {
      if (i.not) fail("altq on ! <interface> is not supported");
      const iface = interfaceByName(this.env, i.name);
      let ifbandwidth: number;
      if (qo.bandwidth.absolute > 0) ifbandwidth = qo.bandwidth.absolute;
      else {
        const rate = iface?.speed ?? 0;
        if (rate === 0)
          fail(`interface ${i.name} does not know its bandwidth, please specify an absolute bandwidth`);
        ifbandwidth = evalBw(qo.bandwidth, rate) || rate;
      }
      if (sched.type !== "hfsc" && ifbandwidth > UINT_MAX) ifbandwidth = UINT_MAX;
      let tbrsize = qo.tbrsize;
      if (tbrsize === 0) {
        const rate = ifbandwidth;
        const size = rate <= 1e6 ? 1 : rate <= 10e6 ? 4 : rate <= 200e6 ? 8 : rate <= 2500e6 ? 24 : 128;
        tbrsize = size * (iface?.mtu ?? 1500);
      }
      this.interfaces.set(i.name, { ifname: i.name, scheduler: sched.type, ifbandwidth });
      let line = `altq on ${i.name} `;
      const opts = schedulerOpts(sched.type, flagSet(sched), sched);
      line += opts || `${sched.type} `;
      if (qo.bandwidth.percent > 0) {
        if (qo.bandwidth.percent < 100) line += `bandwidth ${qo.bandwidth.percent}% `;
      } else line += `bandwidth ${rateText(ifbandwidth)} `;
      if (qo.qlimit !== 50) line += `qlimit ${qo.qlimit} `;
      line += `tbrsize ${tbrsize} `;
      if (children.length > 0) line += `queue { ${children.map((c) => c + " ").join("")}}`;
      lines.push(line);
      const root = sched.type === "cbq" || sched.type === "hfsc" ? `root_${i.name}` : "";
      if (root)
        this.queues.push({
          queue: root,
          parent: "",
          ifname: i.name,
          scheduler: sched.type,
          bandwidth: ifbandwidth,
        });
      for (const c of children)
        this.queues.push({ queue: c, parent: root, ifname: i.name, scheduler: sched.type, bandwidth: 0 });
    }
    return lines;
  }

  /** `queue NAME …`: the line pfctl prints for each interface the queue lands on. */
  queue(
    name: string,
    ifs: readonly NodeIf[],
    qo: QueueOpts,
    children: readonly string[],
    fail: (m: string) => never,
  ): string[] {
    if (!this.enabled) return [];
    if (this.queues.length === 0) fail(`queue ${name} has no parent`);
    const lines: string[] = [];
    let found = 0;
    const specs = ifs.length > 0 ? ifs : [{ name: "", not: false }];
    for (const spec of specs) {
      for (const tq of [...this.queues]) {
        if (tq.queue !== name || tq.bandwidth > 0) continue;
        if (!(
          spec.name === "" ||
          (!spec.not && spec.name === tq.ifname) ||
          (spec.not && spec.name !== tq.ifname)
        ))
          continue;
        found++;
        if (qo.scheduler && qo.scheduler.type !== tq.scheduler)
          fail("exactly one scheduler type per interface allowed");
        if (tq.scheduler === "priq") {
          if (children.length > 0) fail("priq queues cannot have child queues");
          if (qo.bandwidth.absolute > 0 || qo.bandwidth.percent < 100) fail("priq doesn't take bandwidth");
        }
        const altq = this.interfaces.get(tq.ifname);
        if (!altq) fail(`altq not defined on ${tq.ifname}`);
        const parent = tq.parent
          ? this.queues.find((q) => q.queue === tq.parent && q.ifname === tq.ifname)
          : undefined;
        let bandwidth = 0;
        if (tq.scheduler === "cbq" || tq.scheduler === "hfsc" || tq.scheduler === "fairq") {
          bandwidth = evalBw(qo.bandwidth, parent ? parent.bandwidth : altq.ifbandwidth);
          if (bandwidth > altq.ifbandwidth) fail(`bandwidth for ${name} higher than interface`);
          if (parent && tq.scheduler !== "hfsc" && bandwidth > parent.bandwidth)
            fail(`bandwidth for ${name} higher than parent`);
        }
        if (tq.scheduler === "cbq" && qo.priority >= 8) fail("priority out of range: max 7");
        if (tq.scheduler === "priq" && qo.priority >= 16) fail("priority out of range: max 15");
        tq.bandwidth = Math.max(bandwidth, 1);
        for (const c of children) {
          if (c === name) fail("queue cannot have itself as child");
          this.queues.push({
            queue: c,
            parent: name,
            ifname: tq.ifname,
            scheduler: tq.scheduler,
            bandwidth: 0,
          });
        }
        if ((found === 1 && spec.name === "") || (found > 0 && spec.name !== "")) {
          let line = `queue ${name} `;
          if (spec.name !== "") line += `on ${tq.ifname} `;
          if (tq.scheduler === "cbq" || tq.scheduler === "hfsc" || tq.scheduler === "fairq") {
            if (qo.bandwidth.percent > 0) {
              if (qo.bandwidth.percent < 100) line += `bandwidth ${qo.bandwidth.percent}% `;
            } else line += `bandwidth ${rateText(bandwidth)} `;
          }
          if (qo.priority !== 1) line += `priority ${qo.priority} `;
          if (qo.qlimit !== 50) line += `qlimit ${qo.qlimit} `;
          if (tq.scheduler !== "codel")
            line += schedulerOpts(tq.scheduler, flagSet(qo.scheduler), qo.scheduler);
          if (children.length > 0) line += `{ ${children.map((c) => c + " ").join("")}}`;
          lines.push(line);
        }
      }
    }
    if (!found) fail(`queue ${name} has no parent`);
    return lines;
  }
}
