/**
 * `ipfstat -i` / `-o` rule listings, with or without `-h` (hit count first)
 * and `-n` (`@N` rule number): `1523 @3 pass in quick on em0 proto tcp from
 * any to 10.0.0.2/32 port = 80 flags S/FSRPAU keep state`.
 *
 * Only the fields diagnostics need are pulled out of the rule text (what it
 * does, on which interface, to which address and port); the full grammar is
 * the IPFilter language module's job. Partner: {@link ruleMatchesDestination}
 * attributes a rule's hits to an exposure.
 */

export interface PortMatch {
  /** "=", "!=", "<", ">", "<=", ">=", "<>" (outside a range), "><" (inside), ":" (inclusive range). */
  op: string;
  /** Port number or service name as printed (ipfstat resolves names unless -R). */
  value: string;
  /** Upper bound for range operators. */
  high?: string;
}

export interface AddressMatch {
  negated: boolean;
  /** "any", "a.b.c.d/nn", a pool ("pool/1") or an interface name. */
  address: string;
  port?: PortMatch;
}

export interface IpfstatRule {
  /** Hit count (ipfstat -h), when present. */
  hits?: number;
  /** Rule number (ipfstat -n), when present. */
  number?: number;
  /** The rule text after the counters, as ipfstat printed it. */
  text: string;
  action: string;
  direction: "in" | "out" | undefined;
  quick: boolean;
  log: boolean;
  interface?: string;
  proto?: string;
  from?: AddressMatch;
  to?: AddressMatch;
  keepState: boolean;
  group?: string;
}

const PORT_OPS = new Set(["=", "!=", "<", ">", "<=", ">=", "eq", "ne", "lt", "gt", "le", "ge"]);

function readAddress(words: string[], i: number): { match: AddressMatch; next: number } {
  let negated = false;
  let at = i;
  if (words[at] === "!") {
    negated = true;
    at++;
  }
  let address = words[at] ?? "";
  if (address.startsWith("!")) {
    negated = true;
    address = address.slice(1);
  }
  at++;
  // "mask" form: "10.0.0.0 mask 255.0.0.0"
  if (words[at] === "mask" && words[at + 1] !== undefined) {
    address = `${address}/${words[at + 1]}`;
    at += 2;
  }
  const match: AddressMatch = { negated, address };
  if (words[at] === "port") {
    const a = words[at + 1];
    const b = words[at + 2];
    const c = words[at + 3];
    if (a !== undefined && PORT_OPS.has(a) && b !== undefined) {
      match.port = { op: a, value: b };
      at += 3;
    } else if (
      a !== undefined &&
      b !== undefined &&
      (b === "<>" || b === "><" || b === ":") &&
      c !== undefined
    ) {
      match.port = { op: b, value: a, high: c };
      at += 4;
    } else at += 1;
  }
  return { match, next: at };
}

export function parseIpfstatLine(line: string): IpfstatRule | undefined {
  const m = /^\s*(?:(\d+)\s+)?(?:@(\d+)\s+)?(.+?)\s*$/.exec(line);
  if (!m || m[3] === undefined) return undefined;
  const text = m[3];
  const words = text.split(/\s+/);
  const action = words[0] ?? "";
  if (!/^(pass|block|count|log|skip|call|auth|preauth|decapsulate|nomatch)/.test(action)) return undefined;
  const rule: IpfstatRule = {
    text,
    action,
    direction: undefined,
    quick: false,
    log: false,
    keepState: false,
  };
  if (m[1] !== undefined) rule.hits = Number(m[1]);
  if (m[2] !== undefined) rule.number = Number(m[2]);
  // "block return-icmp(port-unr)" and similar keep the variant in the action word
  let i = 1;
  while (i < words.length) {
    const w = words[i] as string;
    if (w === "in" || w === "out") rule.direction = w;
    else if (w === "quick") rule.quick = true;
    else if (w === "log") rule.log = true;
    else if (w === "on" && words[i + 1] !== undefined) rule.interface = words[++i];
    else if (w === "proto" && words[i + 1] !== undefined) rule.proto = words[++i];
    else if (w === "all") {
      rule.from = { negated: false, address: "any" };
      rule.to = { negated: false, address: "any" };
    } else if (w === "from") {
      const r = readAddress(words, i + 1);
      rule.from = r.match;
      i = r.next;
      continue;
    } else if (w === "to" && rule.from !== undefined && rule.to === undefined) {
      const r = readAddress(words, i + 1);
      rule.to = r.match;
      i = r.next;
      continue;
    } else if (w === "keep" && words[i + 1] === "state") {
      rule.keepState = true;
      i++;
    } else if (w === "group" && words[i + 1] !== undefined) rule.group = words[++i];
    i++;
  }
  return rule;
}

/** Every rule line of an `ipfstat -i`/`-o` listing (`-h`/`-n` prefixes optional). */
export function parseIpfstat(text: string): IpfstatRule[] {
  const rules: IpfstatRule[] = [];
  for (const line of text.split("\n")) {
    if (line.trim() === "") continue;
    const r = parseIpfstatLine(line);
    if (r) rules.push(r);
  }
  return rules;
}

/** Whether `port` (numeric, or the service name ipfstat printed for it) satisfies a port match. */
export function portMatches(match: PortMatch, port: number, serviceName?: string): boolean {
  const n = Number(match.value);
  const h = Number(match.high);
  if (!/^\d+$/.test(match.value))
    return (match.op === "=" || match.op === "eq") && match.value === serviceName;
  switch (match.op) {
    case "=":
    case "eq":
      return port === n;
    case "!=":
    case "ne":
      return port !== n;
    case "<":
    case "lt":
      return port < n;
    case ">":
    case "gt":
      return port > n;
    case "<=":
    case "le":
      return port <= n;
    case ">=":
    case "ge":
      return port >= n;
    case "<>":
      return port < n || port > h;
    case "><":
      return port > n && port < h;
    case ":":
      return port >= n && port <= h;
    default:
      return false;
  }
}

/**
 * Whether an inbound pass rule admits traffic to `address`:`port` — the rule
 * that counts a forwarded connection after rdr, as the howto's debug section
 * notes ("look for the rule that allows in the jail's ip address port number").
 */
export function ruleMatchesDestination(
  rule: IpfstatRule,
  address: string,
  port: number,
  serviceName?: string,
): boolean {
  const to = rule.to;
  if (!to || to.negated) return false;
  const addressOk =
    to.address === "any" ||
    to.address === address ||
    to.address === `${address}/32` ||
    to.address === `${address}/128`;
  if (!addressOk) return false;
  return to.port === undefined ? false : portMatches(to.port, port, serviceName);
}
