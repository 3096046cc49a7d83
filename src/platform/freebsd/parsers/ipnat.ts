/**
 * `ipnat -l` / `ipnat -lhd` output: the active NAT rules (with `-h`, each
 * prefixed by its hit count) then the active sessions.
 *
 *   List of active MAP/Redirect filters:
 *   12 rdr em0 0.0.0.0/0 port 6188 -> 10.0.0.3 port 80 tcp
 *
 *   List of active sessions:
 *   RDR 10.0.0.3        80    <- -> 198.51.100.1    6188  [203.0.113.9 51234]
 *
 * `-d` adds indented debug lines under rules and sessions; they are skipped.
 * Partner: {@link rdrFor} finds the redirect that owns a public port.
 */

export interface IpnatRule {
  hits?: number;
  text: string;
  kind: string;
  interface: string;
  /** rdr: the public side's port (or the low end of a range). */
  publicPort?: number;
  publicPortHigh?: number;
  /** rdr: translated address and port; map: the address pool after "->". */
  target?: string;
  targetPort?: number;
  /** Trailing protocol of an rdr ("tcp", "udp", "tcp/udp"). */
  proto?: string;
}

export interface IpnatSession {
  type: string;
  /** RDR: the jail side (new destination); MAP: the original source. */
  inside: { address: string; port?: number };
  /** RDR: the public address; MAP: the translated source. */
  outside: { address: string; port?: number };
  remote?: { address: string; port?: number };
}

export interface IpnatListing {
  rules: IpnatRule[];
  sessions: IpnatSession[];
}

function parseRule(line: string): IpnatRule | undefined {
  const m = /^\s*(?:(\d+)\s+)?((map|bimap|map-block|rdr|rewrite|divert|encap)\s+(\S+).*)$/.exec(line);
  if (!m) return undefined;
  const text = (m[2] as string).trim();
  const rule: IpnatRule = { text, kind: m[3] as string, interface: m[4] as string };
  if (m[1] !== undefined) rule.hits = Number(m[1]);
  const arrow = text.indexOf("->");
  const lhs = arrow >= 0 ? text.slice(0, arrow) : text;
  const rhs = arrow >= 0 ? text.slice(arrow + 2).trim() : "";
  if (rule.kind === "rdr") {
    const pm = /\bport\s+(?:=\s*)?(\d+)(?:\s*[-:]\s*(\d+))?/.exec(lhs);
    if (pm) {
      rule.publicPort = Number(pm[1]);
      if (pm[2] !== undefined) rule.publicPortHigh = Number(pm[2]);
    }
    const tm = /^(\S+?)(?:\/\d+)?(?:\s+port\s+(\d+))?(?:\s+(tcp\/udp|tcp|udp|icmp))?(?:\s|$)/.exec(rhs);
    if (tm) {
      rule.target = tm[1] as string;
      if (tm[2] !== undefined) rule.targetPort = Number(tm[2]);
      if (tm[3] !== undefined) rule.proto = tm[3];
    }
    if (rule.proto === undefined) {
      const pr = /\s(tcp\/udp|tcp|udp)\b/.exec(rhs);
      if (pr) rule.proto = pr[1];
    }
  } else if (rhs !== "") {
    rule.target = rhs.split(/\s+/)[0];
  }
  return rule;
}

function endpoint(address: string | undefined, port: string | undefined): { address: string; port?: number } {
  const e: { address: string; port?: number } = { address: address ?? "" };
  if (port !== undefined && /^\d+$/.test(port)) e.port = Number(port);
  return e;
}

function parseSession(line: string): IpnatSession | undefined {
  const m =
    /^(MAP|RDR|BIMAP|MAP-BLOCK|RWR|\w+)(?:\s+(?:CLONE|ORPHAN))*\s+(\S+)\s+(\d+)?\s*<-\s*->\s+(\S+)\s+(\d+)?\s*(?:\[(\S+)\s+(\d+)\])?/.exec(
      line.trim(),
    );
  if (!m) return undefined;
  const s: IpnatSession = {
    type: m[1] as string,
    inside: endpoint(m[2], m[3]),
    outside: endpoint(m[4], m[5]),
  };
  if (m[6] !== undefined) s.remote = endpoint(m[6], m[7]);
  return s;
}

export function parseIpnatList(text: string): IpnatListing {
  const out: IpnatListing = { rules: [], sessions: [] };
  let section: "rules" | "sessions" | undefined;
  for (const line of text.split("\n")) {
    if (/^List of active MAP\/Redirect filters:/.test(line)) section = "rules";
    else if (/^List of active sessions:/.test(line)) section = "sessions";
    else if (line.trim() === "" || (/^\s/.test(line) && !/^\s*\d+\s+(map|rdr|bimap)/.test(line))) continue;
    else if (section === "rules") {
      const r = parseRule(line);
      if (r) out.rules.push(r);
    } else if (section === "sessions") {
      const s = parseSession(line);
      if (s) out.sessions.push(s);
    }
  }
  return out;
}

/** The rdr rule that forwards public `port`/`proto` (ranges included), if any. */
export function rdrFor(rules: readonly IpnatRule[], port: number, proto: string): IpnatRule | undefined {
  return rules.find((r) => {
    if (r.kind !== "rdr" || r.publicPort === undefined) return false;
    const high = r.publicPortHigh ?? r.publicPort;
    const protoOk = r.proto === undefined || r.proto === proto || r.proto === "tcp/udp";
    return protoOk && port >= r.publicPort && port <= high;
  });
}
