/**
 * One IPFilter instance: filter rules, NAT rules, state table, fragment cache
 * and lookup tables, fed one packet at a time in the order fil.c ipf_check
 * uses:
 *
 * - inbound: NAT (rdr, reverse of map sessions) → accounting → fragment cache
 *   and state table → filter rules;
 * - outbound: fragment cache and state table → filter rules → accounting →
 *   NAT (map, reverse of rdr sessions), only when the packet passed.
 *
 * Every step can be recorded ({@link PacketOutcome.trace}) for `qjail fw trace`.
 */
import type { FilterRule, NatRule } from "../ast.js";
import type { AddressTable, DestinationList, InterfaceAddresses } from "./address.js";
import {
  buildFilterSet,
  FastFilterSet,
  scanList,
  type Decision,
  type FilterSet,
  type GroupCalls,
  type RuleStep,
  type Verdict,
} from "./filter.js";
import type { GroupMap } from "./pools.js";
import { NatTable, type NatResult, type NatStep } from "./nat.js";
import { FragmentCache, StateTable, type StateEntry } from "./state.js";
import type { Packet } from "./packet.js";
import { dstKey, srcKey } from "./hash.js";

export interface EngineOptions {
  /** Interface name → its IPv4 address (for `0/32` NAT targets and `em0/32` filter addresses). */
  interfaces?: InterfaceAddresses;
  tables?: ReadonlyMap<string, AddressTable>;
  dstlists?: ReadonlyMap<string, DestinationList>;
  /** ippool group-maps by number, for `call now srcgrpmap/N` rules. */
  groupMaps?: ReadonlyMap<string, GroupMap>;
  /** ipf tunables as ipftest's -T sets them (state_max, update_ipid). */
  tunables?: ReadonlyMap<string, number>;
  /** Record every rule considered (slower; for traces). */
  trace?: boolean;
}

export interface PacketTrace {
  natIn: NatStep[];
  natOut: NatStep[];
  rules: RuleStep[];
  /** The state entry the packet matched before any rule was looked at. */
  stateMatched: { entry: StateEntry; reverse: boolean } | undefined;
  /** The entry created by a `keep state` rule, or why it could not be. */
  stateCreated: StateEntry | undefined;
  stateRefused: string | undefined;
  fragmentMatched: boolean;
}

export interface PacketOutcome {
  verdict: Verdict;
  /** The filter rule that decided, if any. */
  decidedBy: Decision["rule"];
  /** The packet as it leaves (after NAT). */
  packet: Packet;
  natIn: NatResult | undefined;
  natOut: NatResult | undefined;
  /** NAT refused the packet (ipftest prints FRB_NATV4 = 15 / FRB_NATV6 = 16). */
  natRejected: boolean;
  /**
   * A `to IF` / `to dstlist/NAME` rule sent the packet out another interface
   * itself (ipf_fastroute): this is the packet as it left, after outbound NAT.
   */
  routed: Packet | undefined;
  trace: PacketTrace | undefined;
}

const NO_DECISION: Decision = { verdict: "nomatch", quick: false, rule: undefined };

export class IpfEngine {
  readonly filters: FilterSet;
  /** The compiled lists the per-packet path scans (traces use {@link scanList} to explain each rule). */
  private readonly fast: FastFilterSet;
  readonly nat: NatTable;
  readonly state: StateTable;
  readonly frags = new FragmentCache();
  private readonly tracing: boolean;
  /** Read once: whether there are NAT rules and accounting rules per direction (most rule sets have none of the latter). */
  private readonly hasNat: boolean;
  private readonly accountIn: boolean;
  private readonly accountOut: boolean;
  private readonly dstlists: ReadonlyMap<string, DestinationList>;
  private readonly calls: GroupCalls;
  /** What {@link filter} returns for a packet the state table passes (refilled each time). */
  private readonly stateDecision: Decision & { routeIf: string | undefined } = {
    verdict: "nomatch",
    quick: true,
    rule: undefined,
    routeIf: undefined,
  };

  /** What {@link filter} returns when a `keep state` rule could not make its entry (refilled each time). */
  private readonly refusedDecision: Decision & { routeIf: string | undefined } = {
    verdict: "nomatch",
    quick: false,
    rule: undefined,
    routeIf: undefined,
  };

  constructor(filterRules: readonly FilterRule[], natRules: readonly NatRule[], opts: EngineOptions = {}) {
    const ctx = {
      interfaces: opts.interfaces ?? new Map<string, bigint>(),
      tables: opts.tables ?? new Map<string, AddressTable>(),
      dstlists: opts.dstlists ?? new Map<string, DestinationList>(),
    };
    const groupMaps = opts.groupMaps ?? new Map<string, GroupMap>();
    // A `call` to a group-map that does not exist cannot be loaded; ipf rejects the rule.
    const loadable = filterRules.filter((r) => {
      if (r.action.kind !== "call") return true;
      const m = /^(src|dst)grpmap\/(.+)$/.exec(r.action.func);
      return !m || groupMaps.has(m[2] ?? "");
    });
    this.filters = buildFilterSet(loadable, ctx);
    this.fast = new FastFilterSet(this.filters);
    this.nat = new NatTable(natRules, ctx);
    this.state = new StateTable(opts.tunables?.get("state_max") ?? 4013);
    this.tracing = opts.trace === true;
    this.hasNat = this.nat.rules.length > 0;
    this.accountIn = this.fast.accounting.in.rules.length > 0;
    this.accountOut = this.fast.accounting.out.rules.length > 0;
    this.dstlists = ctx.dstlists;
    this.calls = {
      groups: this.filters.groups,
      groupFor: (func, p) => {
        const m = /^(src|dst)grpmap\/(.+)$/.exec(func);
        const map = m ? groupMaps.get(m[2] ?? "") : undefined;
        return m && map ? map.groupFor(p.family, m[1] === "src" ? p.src : p.dst) : undefined;
      },
    };
  }

  get hasFilterRules(): boolean {
    return this.filters.rules.length > 0;
  }

  /** What {@link process} returns, refilled for every packet. */
  private readonly outcome: PacketOutcome = {
    verdict: "nomatch",
    decidedBy: undefined,
    packet: undefined as unknown as Packet,
    natIn: undefined,
    natOut: undefined,
    natRejected: false,
    routed: undefined,
    trace: undefined,
  };

  /**
   * Run one packet through; `p` is rewritten in place by NAT. The outcome
   * (and the NAT results in it) is one object per engine, refilled by every
   * call: read it before the next packet, copy what must be kept.
   */
  process(p: Packet): PacketOutcome {
    const trace: PacketTrace | undefined = this.tracing
      ? {
          natIn: [],
          natOut: [],
          rules: [],
          stateMatched: undefined,
          stateCreated: undefined,
          stateRefused: undefined,
          fragmentMatched: false,
        }
      : undefined;
    // One outcome object, refilled per packet (see process()).
    const outcome = this.outcome;
    outcome.verdict = "nomatch";
    outcome.decidedBy = undefined;
    outcome.packet = p;
    outcome.natIn = undefined;
    outcome.natOut = undefined;
    outcome.natRejected = false;
    outcome.routed = undefined;
    outcome.trace = trace;
    if (p.bad) {
      outcome.verdict = "bad-packet";
      return outcome;
    }
    const inbound = p.dir === "in";
    if (inbound && this.hasNat) {
      outcome.natIn = this.nat.translate(p, trace?.natIn);
      if (outcome.natIn?.rejected) {
        outcome.natRejected = true;
        outcome.verdict = "block";
        return outcome;
      }
    }
    if (inbound && this.accountIn) this.account(p);
    const decision = this.filter(p, trace);
    outcome.verdict = decision.verdict;
    outcome.decidedBy = decision.rule;
    if (decision.routeIf !== undefined && outcome.verdict === "pass") {
      const out: Packet = { ...p, dir: "out", ifname: decision.routeIf };
      if (this.hasNat) this.nat.translate(out, trace?.natOut);
      outcome.routed = out;
      return outcome;
    }
    if (!inbound && this.accountOut) this.account(p);
    const passes = outcome.verdict === "pass" || outcome.verdict === "nomatch";
    if (!inbound && passes && this.hasNat) {
      outcome.natOut = this.nat.translate(p, trace?.natOut);
      if (outcome.natOut?.rejected) {
        outcome.natRejected = true;
        outcome.verdict = "block";
      }
    }
    return outcome;
  }

  private account(p: Packet): void {
    const list = this.fast.accounting[p.dir];
    if (list.rules.length === 0) return;
    const v4 = p.family === 4;
    list.scan(p, v4 ? srcKey(p) : 0, v4 ? dstKey(p) : 0, NO_DECISION, this.fast);
  }

  /** The interface a `to` rule sends a newly matched packet out of. */
  private routeFor(rule: Decision["rule"], p: Packet): string | undefined {
    if (rule === undefined || !rule.routes) return undefined;
    const target = rule.ast.routeTo;
    if (!target) return undefined;
    if (target.kind === "interface") return target.name;
    return this.dstlists.get(`dstlist/${target.name}`)?.select(p.family, p.src, p.dst)?.ifname;
  }

  private filter(p: Packet, trace: PacketTrace | undefined): Decision & { routeIf?: string } {
    const fragVerdict = this.frags.lookup(p);
    if (fragVerdict !== undefined) {
      if (trace) trace.fragmentMatched = true;
      return { verdict: fragVerdict, quick: true, rule: undefined };
    }
    const hs = srcKey(p);
    const hd = dstKey(p);
    const state = this.state;
    const st = state.lookup(p, hs, hd);
    if (st >= 0) {
      const reverse = state.reverse;
      const verdict = state.verdictOf(st);
      if (trace) trace.stateMatched = { entry: state.entry(st), reverse };
      // A fragment passed by state opens the way for the rest of its packet when the rule keeps frags.
      if (state.ruleOf(st).keepFrags) this.frags.remember(p, verdict);
      const routeIf = reverse ? undefined : state.routeIfOf(st);
      if (routeIf !== undefined) state.countRouted(st, p);
      // One decision object refilled per packet (process() reads it at once and keeps none of it).
      const d = this.stateDecision;
      d.verdict = verdict;
      d.rule = state.ruleOf(st);
      d.routeIf = routeIf;
      return d;
    }
    let decision: Decision;
    if (trace) {
      decision = scanList(this.filters.main[p.dir], p, NO_DECISION, trace.rules, 0, this.calls).decision;
    } else {
      const v4 = p.family === 4;
      decision = (p.dir === "in" ? this.fast.main.in : this.fast.main.out).scan(
        p,
        v4 ? hs : 0,
        v4 ? hd : 0,
        NO_DECISION,
        this.fast,
        this.calls,
      );
    }
    const rule = decision.rule;
    const routeIf = decision.verdict === "pass" ? this.routeFor(rule, p) : undefined;
    if (rule?.keepState) {
      // A decision carries its rule's verdict (filter.ts builds every one with verdictOf): no need to
      // read it again from the rule's AST, which is cold memory by now.
      const added = state.addEntry(p, rule, decision.verdict);
      if (added < 0) {
        if (trace) trace.stateRefused = state.refused;
        // No entry: the packet counts as unmatched (one decision object, refilled).
        const d = this.refusedDecision;
        d.quick = decision.quick;
        d.rule = rule;
        return d;
      }
      if (trace) trace.stateCreated = state.entry(added);
      if (routeIf !== undefined) {
        state.setRouteIf(added, routeIf);
        state.countRouted(added, p);
      }
    }
    if (rule?.keepFrags) this.frags.remember(p, decision.verdict);
    return routeIf !== undefined ? { ...decision, routeIf } : decision;
  }

  /** What ipftest does between packets. */
  endOfPacket(): void {
    this.state.flushClosing();
  }
}
