/**
 * `ipfw show [FIRST-LAST]` (rule number, packets, bytes, rule text) and
 * `ipfw nat N show config` (the instance's config line). No real capture of
 * either is in ../shared/fixtures/freebsd (its PROVENANCE.md lists what is), so the format follows
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
  /** The alias address when the redirect names one (`--on ADDRESS`: `192.0.2.5:53`). */
  publicAddress?: string;
  publicPort: number;
  publicPortHigh?: number;
}

/**
 * The redirect_port clauses of an `ipfw nat N show config` line (or of the
 * config qjail sends, which has the same words). sbin/ipfw/nat.c prints each
 * as `redirect_port PROTO LADDR:LPORT[-LPORT2] [PADDR:]PPORT[-PPORT2]
 * [RADDR[:RPORT]]`. The kernel keeps them in a list it inserts at the head
 * of, so the order printed is the reverse of the order sent: compare them
 * with {@link sameRedirects}, never as one string.
 */
export function parseIpfwNatConfig(text: string): { interface?: string; redirects: IpfwRedirect[] } {
  const out: { interface?: string; redirects: IpfwRedirect[] } = { redirects: [] };
  const iface = /\bif (\S+)/.exec(text);
  if (iface) out.interface = iface[1];
  for (const m of text.matchAll(
    /\bredirect_port (tcp|udp|sctp) ([\d.]+):(\d+)(?:-(\d+))? (?:([\d.]+):)?(\d+)(?:-(\d+))?(?=\s|$)/g,
  )) {
    const r: IpfwRedirect = {
      proto: m[1] as string,
      target: m[2] as string,
      targetPort: Number(m[3]),
      publicPort: Number(m[6]),
    };
    if (m[4] !== undefined) r.targetPortHigh = Number(m[4]);
    if (m[5] !== undefined) r.publicAddress = m[5];
    if (m[7] !== undefined) r.publicPortHigh = Number(m[7]);
    out.redirects.push(r);
  }
  return out;
}

function redirectKey(r: IpfwRedirect): string {
  return [
    r.proto,
    r.target,
    r.targetPort,
    r.targetPortHigh ?? r.targetPort,
    r.publicAddress ?? "",
    r.publicPort,
    r.publicPortHigh ?? r.publicPort,
  ].join(" ");
}

/**
 * Whether two redirect lists hold the same redirects, in any order and
 * counting repeats (a multiset). Returns what is missing from `live` and
 * what it has in excess, as `proto target:port public` words.
 */
export function sameRedirects(
  wanted: readonly IpfwRedirect[],
  live: readonly IpfwRedirect[],
): { missing: string[]; extra: string[] } {
  const left = new Map<string, number>();
  for (const r of live) left.set(redirectKey(r), (left.get(redirectKey(r)) ?? 0) + 1);
  const missing: string[] = [];
  for (const r of wanted) {
    const k = redirectKey(r);
    const n = left.get(k) ?? 0;
    if (n === 0) missing.push(k);
    else left.set(k, n - 1);
  }
  const extra = [...left].flatMap(([k, n]) => Array<string>(n).fill(k));
  return { missing, extra };
}

/** The allow rule that admits `proto` traffic to `address` `port` (qjail's rules after nat), if any. */
export function ipfwAllowFor(
  rules: readonly IpfwRule[],
  proto: string,
  address: string,
  port: number,
): IpfwRule | undefined {
  const re = new RegExp(
    `^allow ${proto} from \\S+ to ${address.replace(/\./g, "\\.")}(?:/32)? ${port}(?:-\\d+)?(?:\\s|$)`,
  );
  return rules.find((r) => re.test(r.text));
}
