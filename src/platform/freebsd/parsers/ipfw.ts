/**
 * `ipfw show [FIRST-LAST]` (rule number, packets, bytes, rule text) and
 * `ipfw nat N show config` (the instance's config line). No real capture of
 * either is in the fixtures (see PROVENANCE.md), so the format follows
 * ipfw(8): the number is zero-padded to five digits, the counters are
 * right-aligned, `ipfw show` prints the rule as `ipfw list` does.
 * Partner: {@link ipfwAllowFor} attributes an allow rule's packets to an exposure.
 */

export interface IpfwRule {
  number: number;
  packets: number;
  bytes: number;
  text: string;
  action: string;
}

export function parseIpfwShow(text: string): IpfwRule[] {
  const out: IpfwRule[] = [];
  for (const line of text.split("\n")) {
    const m = /^(\d{1,5})\s+(\d+)\s+(\d+)\s+(.+?)\s*$/.exec(line);
    if (!m) continue;
    const ruleText = m[4] as string;
    out.push({
      number: Number(m[1]),
      packets: Number(m[2]),
      bytes: Number(m[3]),
      text: ruleText,
      action: ruleText.split(/\s+/)[0] ?? "",
    });
  }
  return out;
}

export interface IpfwRedirect {
  proto: string;
  target: string;
  targetPort: number;
  targetPortHigh?: number;
  publicPort: number;
  publicPortHigh?: number;
}

/** The redirect_port clauses of an `ipfw nat N show config` line. */
export function parseIpfwNatConfig(text: string): { interface?: string; redirects: IpfwRedirect[] } {
  const out: { interface?: string; redirects: IpfwRedirect[] } = { redirects: [] };
  const iface = /\bif (\S+)/.exec(text);
  if (iface) out.interface = iface[1];
  for (const m of text.matchAll(
    /redirect_port (tcp|udp) ([\d.]+|[0-9a-fA-F:]+):(\d+)(?:-(\d+))? (\d+)(?:-(\d+))?/g,
  )) {
    const r: IpfwRedirect = {
      proto: m[1] as string,
      target: m[2] as string,
      targetPort: Number(m[3]),
      publicPort: Number(m[5]),
    };
    if (m[4] !== undefined) r.targetPortHigh = Number(m[4]);
    if (m[6] !== undefined) r.publicPortHigh = Number(m[6]);
    out.redirects.push(r);
  }
  return out;
}

/** The allow rule that admits `proto` traffic to `address` `port` (qjail's rules after nat), if any. */
export function ipfwAllowFor(
  rules: readonly IpfwRule[],
  proto: string,
  address: string,
  port: number,
): IpfwRule | undefined {
  const re = new RegExp(
    `^allow ${proto} from \\S+ to ${address.replace(/\./g, "\\.")}(?:/32)? ${port}(?:\\s|$)`,
  );
  return rules.find((r) => re.test(r.text));
}
