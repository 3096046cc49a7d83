/**
 * pf's decision for one packet, in pf's order (FreeBSD 12 pf_test_rule):
 *
 * 1. an interface in `set skip` is not filtered at all;
 * 2. translation: inbound packets meet the rdr rules, then binat; outbound
 *    packets meet binat, then nat. The first match decides (`no rdr`
 *    matches but does not translate); anchors are evaluated in place;
 * 3. the filter rules see the translated packet (an rdr'd packet carries the
 *    jail's address and port, a nat'd one the public address). The last
 *    matching rule decides unless a matching rule is `quick`, which stops
 *    there, also inside an anchor. No match passes. `rdr pass` skips the
 *    filter rules;
 * 4. a passing rule with `keep state` creates a state entry.
 *
 * Every rule considered is recorded with why it did or did not match, so a
 * trace can explain the verdict. What cannot be known offline is said so:
 * `user`/`group` (socket lookups), `os` (fingerprints), `no-route`
 * (the routing table) never match here, and tables hold only what the
 * configuration lists.
 */
import type { PfAddress, PfAnchor, PfCompare, PfRule, PfRulesetKind, PfTableEntry } from "../ast.js";
import { bitsOfMask, maskOfBits, ntop, type AddressFamily } from "../impl/address.js";
import { printAddress } from "../impl/print.js";
import { lookupInterface, type PfHostEnv } from "../impl/hosts.js";
import { IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP } from "../impl/rule.js";
import type { PfPacket } from "./packet.js";

export interface PfEvalConfig {
  /** The main ruleset (pf.conf). */
  main: PfAnchor;
  /** Rulesets loaded into named anchors (`pfctl -a qjail/expose -f …`), by path. */
  anchors: ReadonlyMap<string, PfAnchor>;
  tables: ReadonlyMap<string, readonly PfTableEntry[]>;
  skip: readonly string[];
  env: PfHostEnv;
}

export interface PfRuleStep {
  rule: PfRule;
  /** The anchor path the rule sits in ("" for pf.conf itself). */
  anchor: string;
  matched: boolean;
  why: string | null;
  depth: number;
}

export interface PfTranslation {
  rule: PfRule;
  anchor: string;
  kind: "rdr" | "nat" | "binat" | "no rdr" | "no nat" | "no binat";
  before: { src: bigint; sport: number | null; dst: bigint; dport: number | null };
  after: { src: bigint; sport: number | null; dst: bigint; dport: number | null };
  /** Source ports nat may choose from, when it picks one. */
  portRange: [number, number] | null;
}

export interface PfOutcome {
  skipped: boolean;
  translationSteps: PfRuleStep[];
  translation: PfTranslation | null;
  filterSteps: PfRuleStep[];
  /** The rule that decided, or null when none matched (pf passes). */
  decidedBy: { rule: PfRule; anchor: string; how: "quick" | "last match" | "rdr pass" } | null;
  verdict: "pass" | "block";
  /** The packet as the filter saw it (translated). */
  packet: PfPacket;
  state: { rule: PfRule; kind: "keep" | "modulate" | "synproxy" } | null;
  notes: string[];
}

type Match = { ok: true } | { ok: false; why: string };
const OK: Match = { ok: true };
const no = (why: string): Match => ({ ok: false, why });

function famOf(af: PfRule["af"]): AddressFamily | 0 {
  return af === "inet" ? 4 : af === "inet6" ? 6 : 0;
}

const FAM_MASK = { 4: 0xffffffffn << 96n, 6: (1n << 128n) - 1n } as const;

/** pf_match_port(). */
export function portMatches(c: PfCompare, p: number): boolean {
  switch (c.op) {
    case "><":
      return p > c.a && p < c.b;
    case "<>":
      return p < c.a || p > c.b;
    case ":":
      return p >= c.a && p <= c.b;
    case "=":
      return p === c.a;
    case "!=":
      return p !== c.a;
    case "<":
      return p < c.a;
    case "<=":
      return p <= c.a;
    case ">":
      return p > c.a;
    case ">=":
      return p >= c.a;
  }
}

export class PfEngine {
  constructor(private readonly cfg: PfEvalConfig) {}

  private interfaceMatches(name: string, ifname: string): boolean {
    if (name === ifname) return true;
    const iface = this.cfg.env.interfaces.find((i) => i.name === ifname);
    return iface?.groups.includes(name) ?? false;
  }

  /** Addresses an interface has in a family, as (address, mask) pairs for a dynamic address. */
  private dynAddresses(
    a: Extract<PfAddress, { type: "dynif" }>,
    fam: AddressFamily,
  ): { addr: bigint; mask: bigint }[] {
    const nodes = lookupInterface(this.cfg.env, a.ifname, a.flags);
    const ruleBits = bitsOfMask(a.mask);
    const out: { addr: bigint; mask: bigint }[] = [];
    for (const n of nodes) {
      if (n.af !== fam || n.address.type !== "addrmask") continue;
      const bits = Math.min(bitsOfMask(n.address.mask), fam === 4 ? Math.min(ruleBits, 32) : ruleBits);
      const mask = maskOfBits(bits);
      out.push({ addr: n.address.addr & mask, mask });
    }
    return out;
  }

  private tableMatch(name: string, fam: AddressFamily, x: bigint): boolean {
    const entries = this.cfg.tables.get(name) ?? [];
    let best: PfTableEntry | null = null;
    let bestBits = -1;
    for (const e of entries) {
      if (e.family !== fam || e.address.type !== "addrmask") continue;
      const m = e.address.mask;
      if ((x & m) !== e.address.addr) continue;
      const bits = bitsOfMask(m);
      if (bits > bestBits) {
        best = e;
        bestBits = bits;
      }
    }
    return best !== null && !best.neg;
  }

  /** Whether address `a` covers `x` (pf's PF_MATCHA and friends), before negation; a string explains an unknowable one. */
  addressMatches(a: PfAddress, fam: AddressFamily, x: bigint): boolean | string {
    switch (a.type) {
      case "addrmask": {
        if (a.addr === 0n && a.mask === 0n) return true;
        const m = a.mask & FAM_MASK[fam];
        return (x & m) === (a.addr & FAM_MASK[fam]);
      }
      case "range":
        return x >= a.addr && x <= a.end;
      case "dynif":
        return this.dynAddresses(a, fam).some((d) => (x & d.mask) === d.addr);
      case "table":
        return this.tableMatch(a.name, fam, x);
      case "noroute":
        return "no-route needs the routing table, which a trace does not have";
      case "urpf-failed":
        return "urpf-failed needs the routing table, which a trace does not have";
    }
  }

  private side(
    role: "source" | "destination",
    ra: PfRule["src"],
    p: PfPacket,
    addr: bigint,
    port: number | null,
    proto: number,
  ): Match {
    const hit = this.addressMatches(ra.address, p.family, addr);
    if (typeof hit === "string") return no(hit);
    if (hit === ra.neg)
      return no(
        `${role} ${ntop(p.family, addr) ?? "?"} ${ra.neg ? "is" : "is not"} ${describeAddress(ra.address, p.family)}`,
      );
    if (ra.port) {
      if ((proto !== IPPROTO_TCP && proto !== IPPROTO_UDP) || port === null)
        return no(`${role} port needs tcp or udp`);
      if (!portMatches(ra.port, port)) return no(`${role} port ${port} is not ${describePort(ra.port)}`);
    }
    return OK;
  }

  /** Why `r` does not match the packet, or OK; `tag` is the tag earlier rules put on it. */
  matchRule(r: PfRule, p: PfPacket, tag: string, translation: boolean): Match {
    if (r.interface) {
      const on = this.interfaceMatches(r.interface.name, p.ifname);
      if (on === r.interface.not)
        return no(`interface ${p.ifname} is ${r.interface.not ? "" : "not "}${r.interface.name}`);
    }
    if (!translation && r.direction && r.direction !== p.direction)
      return no(`direction is ${p.direction}, not ${r.direction}`);
    const fam = famOf(r.af);
    if (fam && fam !== p.family) return no(`family is ${p.family === 4 ? "inet" : "inet6"}, not ${r.af}`);
    if (r.proto !== null && r.proto !== p.proto) return no(`protocol is not ${protoName(r.proto)}`);
    const src = this.side("source", r.src, p, p.src, p.sport, p.proto);
    if (!src.ok) return src;
    const dst = this.side("destination", r.dst, p, p.dst, p.dport, p.proto);
    if (!dst.ok) return dst;
    if (r.uid || r.gid) return no("user/group need a local socket lookup, which a trace does not have");
    if (r.os !== null) return no("OS fingerprints cannot be matched in a trace");
    if (r.flagset && p.proto === IPPROTO_TCP && (p.tcpFlags & r.flagset) !== r.flags)
      return no(`TCP flags do not match ${flagsText(r.flags)}/${flagsText(r.flagset)}`);
    if (r.icmpType !== null) {
      if (p.proto !== IPPROTO_ICMP && p.proto !== IPPROTO_ICMPV6) return no("icmp-type needs an ICMP packet");
      if (p.icmpType !== r.icmpType) return no(`ICMP type ${p.icmpType} is not ${r.icmpType}`);
      if (r.icmpCode !== null && p.icmpCode !== r.icmpCode)
        return no(`ICMP code ${p.icmpCode} is not ${r.icmpCode}`);
    }
    if (r.tos && p.tos !== r.tos) return no(`TOS is not 0x${r.tos.toString(16)}`);
    if (r.fragment) return no("the packet is not a fragment");
    if (r.tagged && (tag === r.tagged) === r.taggedNot)
      return no(`the packet is ${r.taggedNot ? "" : "not "}tagged ${r.tagged}`);
    return OK;
  }

  /** The rulesets an anchor call evaluates: the anchor itself, or for `name/*` each anchor below it. */
  private called(r: PfRule): { path: string; anchor: PfAnchor }[] {
    const a = r.anchor as PfAnchor;
    if (a.inline) return [{ path: a.path, anchor: a }];
    const path = a.path;
    if (path.endsWith("/*") || path === "*") {
      const base = path === "*" ? "" : path.slice(0, -2);
      return [...this.cfg.anchors.entries()]
        .filter(([p]) =>
          base === ""
            ? !p.includes("/")
            : p.startsWith(base + "/") && !p.slice(base.length + 1).includes("/"),
        )
        .sort(([x], [y]) => x.localeCompare(y))
        .map(([p, anchor]) => ({ path: p, anchor }));
    }
    const loaded = this.cfg.anchors.get(path.replace(/^\//, ""));
    return loaded ? [{ path, anchor: loaded }] : [];
  }

  /** First-match translation in one ruleset kind, anchors included. */
  private findTranslation(
    kind: PfRulesetKind,
    anchor: PfAnchor,
    path: string,
    p: PfPacket,
    steps: PfRuleStep[],
    depth: number,
  ): { rule: PfRule; anchor: string } | null {
    for (const r of anchor.ruleset[kind]) {
      const m = this.matchRule(kind === "binat" && p.direction === "in" ? binatInbound(r) : r, p, "", true);
      steps.push({ rule: r, anchor: path, matched: m.ok, why: m.ok ? null : m.why, depth });
      if (!m.ok) continue;
      if (r.anchor) {
        for (const c of this.called(r)) {
          const hit = this.findTranslation(kind, c.anchor, c.path, p, steps, depth + 1);
          if (hit) return hit;
        }
        continue;
      }
      return { rule: r, anchor: path };
    }
    return null;
  }

  /** A concrete address inside `a` (the first one), for building sample packets; null when none is known. */
  firstAddress(a: PfAddress, fam: AddressFamily): bigint | null {
    switch (a.type) {
      case "addrmask":
        return a.addr;
      case "range":
        return a.addr;
      case "dynif":
        return this.dynAddresses({ ...a, mask: maskOfBits(128) }, fam)[0]?.addr ?? null;
      case "table": {
        const e = (this.cfg.tables.get(a.name) ?? []).find((t) => t.family === fam && !t.neg);
        return e && e.address.type === "addrmask" ? e.address.addr : null;
      }
      default:
        return null;
    }
  }

  private translate(hit: { rule: PfRule; anchor: string }, p: PfPacket, notes: string[]): PfTranslation {
    const r = hit.rule;
    const before = { src: p.src, sport: p.sport, dst: p.dst, dport: p.dport };
    const after = { ...before };
    let portRange: [number, number] | null = null;
    const kind = r.action as PfTranslation["kind"];
    const poolAddr = r.pool?.addresses[0]?.address;
    const target = poolAddr ? this.firstAddress(poolAddr, p.family) : null;
    if (r.action === "rdr" && r.pool) {
      if (target === null)
        notes.push("the rdr target has no address in this family; the packet is not translated");
      else {
        after.dst = mapNetwork(target, poolAddr as PfAddress, p.dst);
        const [p0, p1] = r.pool.proxyPort;
        if (p0 && p.dport !== null) {
          const base = r.dst.port ? r.dst.port.a : p.dport;
          after.dport = p1 && p1 !== p0 ? p0 + (p.dport - base) : p0;
        }
      }
    } else if (r.action === "nat" && r.pool) {
      if (target === null)
        notes.push("the nat address has no address in this family; the packet is not translated");
      else {
        after.src = mapNetwork(target, poolAddr as PfAddress, p.src);
        const [p0, p1] = r.pool.proxyPort;
        if (p.sport !== null && !(p0 === 0 && p1 === 0)) {
          if (p.sport < p0 || p.sport > p1) {
            portRange = [p0, p1];
            after.sport = p0;
          }
        }
      }
    } else if (r.action === "binat" && r.pool && target !== null) {
      if (p.direction === "out") after.src = mapNetwork(target, poolAddr as PfAddress, p.src);
      else {
        const inner = r.src.address;
        if (inner.type === "addrmask")
          after.dst = (inner.addr & inner.mask) | (p.dst & ~inner.mask & FAM_MASK[p.family]);
      }
    }
    return { rule: r, anchor: hit.anchor, kind, before, after, portRange };
  }

  /** Filter rules: last match wins unless quick; anchors in place. Returns whether a quick rule stopped it. */
  private filter(
    anchor: PfAnchor,
    path: string,
    p: PfPacket,
    st: { tag: string; last: { rule: PfRule; anchor: string } | null; steps: PfRuleStep[] },
    depth: number,
  ): boolean {
    for (const r of anchor.ruleset.filter) {
      const m = this.matchRule(r, p, st.tag, false);
      st.steps.push({ rule: r, anchor: path, matched: m.ok, why: m.ok ? null : m.why, depth });
      if (!m.ok) continue;
      if (r.tag) st.tag = r.tag;
      if (r.anchor) {
        let stopped = false;
        for (const c of this.called(r)) {
          if (this.filter(c.anchor, c.path, p, st, depth + 1)) {
            stopped = true;
            break;
          }
        }
        if (stopped) return true;
        // `anchor … quick`: the anchor's last match is final.
        if (r.quick && st.last) return true;
        continue;
      }
      st.last = { rule: r, anchor: path };
      if (r.quick) return true;
    }
    return false;
  }

  process(packet: PfPacket): PfOutcome {
    const notes: string[] = [];
    const skipped = this.cfg.skip.some((s) => this.interfaceMatches(s, packet.ifname));
    if (skipped)
      return {
        skipped: true,
        translationSteps: [],
        translation: null,
        filterSteps: [],
        decidedBy: null,
        verdict: "pass",
        packet,
        state: null,
        notes: [`pf does not look at packets on ${packet.ifname} (set skip): no translation, no filtering`],
      };
    const translationSteps: PfRuleStep[] = [];
    const order: PfRulesetKind[] = packet.direction === "in" ? ["rdr", "binat"] : ["binat", "nat"];
    let hit: { rule: PfRule; anchor: string } | null = null;
    for (const kind of order) {
      hit = this.findTranslation(kind, this.cfg.main, "", packet, translationSteps, 0);
      if (hit) break;
    }
    let translation: PfTranslation | null = null;
    let p = packet;
    if (hit) {
      translation = this.translate(hit, packet, notes);
      p = { ...packet, ...translation.after };
      if (hit.rule.natpass && hit.rule.action !== "no rdr" && hit.rule.action !== "no nat") {
        const state = { rule: hit.rule, kind: "keep" as const };
        return {
          skipped: false,
          translationSteps,
          translation,
          filterSteps: [],
          decidedBy: { rule: hit.rule, anchor: hit.anchor, how: "rdr pass" },
          verdict: "pass",
          packet: p,
          state,
          notes,
        };
      }
    }
    const st = {
      tag: hit?.rule.tag ?? "",
      last: null as { rule: PfRule; anchor: string } | null,
      steps: [] as PfRuleStep[],
    };
    const stopped = this.filter(this.cfg.main, "", p, st, 0);
    const decided = st.last;
    const verdict = decided && decided.rule.action === "block" ? "block" : "pass";
    const keep = decided && decided.rule.action === "pass" ? decided.rule.keepState : null;
    return {
      skipped: false,
      translationSteps,
      translation,
      filterSteps: st.steps,
      decidedBy: decided
        ? {
            rule: decided.rule,
            anchor: decided.anchor,
            how: stopped && decided.rule.quick ? "quick" : "last match",
          }
        : null,
      verdict,
      packet: p,
      state:
        decided && keep
          ? { rule: decided.rule, kind: keep }
          : translation && verdict === "pass"
            ? { rule: translation.rule, kind: "keep" }
            : null,
      notes,
    };
  }
}

/** A translation to a network maps host bits across (pf's bitmask pool); a single address replaces. */
function mapNetwork(target: bigint, pool: PfAddress, orig: bigint): bigint {
  if (pool.type !== "addrmask") return target;
  const full =
    pool.mask === (1n << 128n) - 1n ||
    (bitsOfMask(pool.mask) >= 32 && (pool.mask & ((1n << 96n) - 1n)) === 0n);
  if (full) return target;
  return (target & pool.mask) | (orig & ~pool.mask & ((1n << 128n) - 1n));
}

/** binat seen from outside: the packet comes from the rule's `to` side to its public (pool) address. */
function binatInbound(r: PfRule): PfRule {
  const pub = r.pool?.addresses[0]?.address ?? { type: "addrmask" as const, addr: 0n, mask: 0n };
  return { ...r, src: r.dst, dst: { address: pub, neg: false, port: null } };
}

function protoName(p: number): string {
  return p === IPPROTO_TCP
    ? "tcp"
    : p === IPPROTO_UDP
      ? "udp"
      : p === IPPROTO_ICMP
        ? "icmp"
        : p === IPPROTO_ICMPV6
          ? "ipv6-icmp"
          : String(p);
}

function flagsText(f: number): string {
  let s = "";
  for (let i = 0; i < 8; i++) if (f & (1 << i)) s += "FSRPAUEW".charAt(i);
  return s;
}

function describePort(c: PfCompare): string {
  switch (c.op) {
    case ":":
      return `${c.a}:${c.b}`;
    case "><":
      return `${c.a} >< ${c.b}`;
    case "<>":
      return `${c.a} <> ${c.b}`;
    default:
      return `${c.op} ${c.a}`;
  }
}

function describeAddress(a: PfAddress, fam: AddressFamily): string {
  switch (a.type) {
    case "table":
      return `in <${a.name}>`;
    case "dynif":
      return `an address of ${printAddress(a, 0)}`;
    default:
      return printAddress(a, fam);
  }
}
