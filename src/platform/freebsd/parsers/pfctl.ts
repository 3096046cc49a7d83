/**
 * pfctl(8) listings: `-s info` (status and counters), `-vvsr` / `-vvvsr`
 * (rules with evaluation, packet and state counters), and `-s nat` (nat, rdr,
 * binat rules). Partner: {@link pfRuleCounters} maps labels to hit counts so
 * an exposure's rules (labelled by the generator) get their counts attributed.
 */

export interface PfInfo {
  enabled: boolean;
  /** "0 days 00:26:05" as printed; seconds in {@link PfInfo.uptimeSeconds}. */
  uptime: string;
  uptimeSeconds: number;
  debug: string;
  /** "Interface Stats for re1" when a loginterface is set. */
  loginterface?: string;
  interfaceStats: Map<string, { ipv4: number; ipv6: number }>;
  stateTable: Map<string, number>;
  counters: Map<string, number>;
}

function durationSeconds(text: string): number {
  const m = /(\d+) days (\d+):(\d+):(\d+)/.exec(text);
  if (!m) return 0;
  return Number(m[1]) * 86400 + Number(m[2]) * 3600 + Number(m[3]) * 60 + Number(m[4]);
}

export function parsePfInfo(text: string): PfInfo | undefined {
  const lines = text.split("\n");
  const status = /^Status: (Enabled|Disabled)(?: for (.+?))?\s+Debug: (\S+)/.exec(lines[0] ?? "");
  if (!status) return undefined;
  const uptime = (status[2] ?? "").trim();
  const info: PfInfo = {
    enabled: status[1] === "Enabled",
    uptime,
    uptimeSeconds: durationSeconds(uptime),
    debug: status[3] as string,
    interfaceStats: new Map(),
    stateTable: new Map(),
    counters: new Map(),
  };
  let section: "iface" | "state" | "counters" | "other" = "other";
  let subheading = "";
  for (const line of lines.slice(1)) {
    const ifm = /^Interface Stats for (\S+)/.exec(line);
    if (ifm) {
      info.loginterface = ifm[1];
      section = "iface";
      continue;
    }
    if (/^State Table/.test(line)) section = "state";
    else if (/^Counters/.test(line)) section = "counters";
    else if (/^\S/.test(line)) section = "other";
    else if (section === "iface") {
      const m = /^\s+(.+?)\s+(\d+)\s+(\d+)\s*$/.exec(line);
      if (m)
        info.interfaceStats.set(subheading ? `${subheading} ${m[1] as string}` : (m[1] as string), {
          ipv4: Number(m[2]),
          ipv6: Number(m[3]),
        });
      else if (/^\s{2}\S/.test(line)) subheading = line.trim();
      if (m && /^\s{2}\S/.test(line)) subheading = "";
    } else if (section === "state" || section === "counters") {
      const m = /^\s+(\S+(?: \S+)*?)\s+(\d+)(?:\s|$)/.exec(line);
      if (m) (section === "state" ? info.stateTable : info.counters).set(m[1] as string, Number(m[2]));
    }
  }
  return info;
}

export interface PfRule {
  number: number;
  /** pfSense ≥ 2.2 / FreeBSD ≥ 10 print `@N(ridentifier)`. */
  ridentifier?: number;
  text: string;
  action: string;
  label?: string;
  evaluations?: number;
  packets?: number;
  bytes?: number;
  states?: number;
  insertedPid?: number;
  insertedUid?: number;
  stateCreations?: number;
  /** "scrub"/"anchor" lines restart numbering in pfctl's output; section counts them. */
  section: number;
}

export function parsePfRules(text: string): PfRule[] {
  const rules: PfRule[] = [];
  let section = 0;
  let previousNumber = -1;
  let current: PfRule | undefined;
  for (const line of text.split("\n")) {
    const head = /^@(\d+)(?:\((\d+)\))?\s+(.*)$/.exec(line);
    if (head) {
      const number = Number(head[1]);
      if (number <= previousNumber) section++;
      previousNumber = number;
      const ruleText = (head[3] as string).trim();
      current = { number, text: ruleText, action: ruleText.split(/\s+/)[0] ?? "", section };
      if (head[2] !== undefined) current.ridentifier = Number(head[2]);
      const label = /\blabel "([^"]*)"/.exec(ruleText);
      if (label) current.label = label[1];
      rules.push(current);
      continue;
    }
    if (!current) continue;
    const counts =
      /\[\s*Evaluations:\s*(\d+)\s+Packets:\s*(\d+)\s+Bytes:\s*(\d+)\s+States:\s*(\d+)\s*\]/.exec(line);
    if (counts) {
      current.evaluations = Number(counts[1]);
      current.packets = Number(counts[2]);
      current.bytes = Number(counts[3]);
      current.states = Number(counts[4]);
      continue;
    }
    const inserted = /\[\s*Inserted:\s*(?:uid (\d+)\s+)?pid (\d+)(?:\s+State Creations:\s*(\d+))?\s*\]/.exec(
      line,
    );
    if (inserted) {
      if (inserted[1] !== undefined) current.insertedUid = Number(inserted[1]);
      current.insertedPid = Number(inserted[2]);
      if (inserted[3] !== undefined) current.stateCreations = Number(inserted[3]);
    }
  }
  return rules;
}

/** Packets per label, summed over every rule carrying it. */
export function pfRuleCounters(rules: readonly PfRule[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const r of rules) {
    if (r.label === undefined) continue;
    out.set(r.label, (out.get(r.label) ?? 0) + (r.packets ?? 0));
  }
  return out;
}

export interface PfNatRule {
  text: string;
  kind: "nat" | "rdr" | "binat" | "no";
  pass: boolean;
  interface?: string;
  family?: string;
  proto?: string;
  from?: string;
  to?: string;
  /** Destination port matched ("= 6188" → "6188"). */
  toPort?: string;
  /** What follows "->": an address, "(bridge0:0)", a table. */
  target?: string;
  targetPort?: string;
  staticPort: boolean;
}

export function parsePfNat(text: string): PfNatRule[] {
  const out: PfNatRule[] = [];
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    const m = /^(nat|rdr|binat|no)\b/.exec(line);
    if (!m) continue;
    const rule: PfNatRule = {
      text: line,
      kind: m[1] as PfNatRule["kind"],
      pass: /^\w+ pass\b/.test(line),
      staticPort: /\bstatic-port\b/.test(line),
    };
    const on = /\bon (\S+)/.exec(line);
    if (on) rule.interface = on[1];
    const fam = /\b(inet6?)\b/.exec(line);
    if (fam) rule.family = fam[1];
    const proto = /\bproto (\S+)/.exec(line);
    if (proto) rule.proto = proto[1];
    const [lhs, rhs] = line.split(/\s->\s/);
    const from = /\bfrom (! ?)?(\S+)/.exec(lhs ?? "");
    if (from) rule.from = `${from[1] ?? ""}${from[2] as string}`;
    const to = /\bto (! ?)?(\S+)(?: port (?:= )?(\S+))?/.exec(lhs ?? "");
    if (to) {
      rule.to = `${to[1] ?? ""}${to[2] as string}`;
      if (to[3] !== undefined) rule.toPort = to[3];
    }
    if (rhs !== undefined) {
      const t = /^(\S+)(?: port (\S+))?/.exec(rhs);
      if (t) {
        rule.target = t[1];
        if (t[2] !== undefined) rule.targetPort = t[2];
      }
    }
    out.push(rule);
  }
  return out;
}
