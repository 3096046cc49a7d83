/**
 * Reads back the pf anchor text qjail generates (src/firewall/pf/generate.ts):
 * `nat`, `rdr` and `pass` rules of the forms qjail writes, translation rules
 * before filter rules as pfctl requires. Anything else is a diagnostic with
 * line and column; `pfctl -a … -nf` is the second check on a FreeBSD host.
 *
 * Partner: {@link printPf} prints the parsed rules back.
 */

export interface PfDiagnostic {
  line: number;
  column: number;
  message: string;
}

export type PfRule =
  | { kind: "nat"; iface: string; family: "inet" | "inet6"; from: string; to: string; target: string }
  | {
      kind: "rdr";
      iface: string;
      family: "inet" | "inet6";
      proto: "tcp" | "udp";
      from: string;
      to: string;
      port: string;
      target: string;
      targetPort: string;
    }
  | {
      kind: "pass";
      iface: string;
      family: "inet" | "inet6";
      proto: "tcp" | "udp";
      from: string;
      to: string;
      port: string;
      state: string;
    };

const IF = "([A-Za-z][A-Za-z0-9_.]{0,14})";
const FAM = "(inet|inet6)";
const ADDR = "[0-9A-Fa-f:.]+(?:/[0-9]{1,3})?";
const HOSTS = `(any|${ADDR}|\\{ (?:${ADDR} )+\\}|\\(${IF.slice(1, -1)}(?::0)?\\))`;
const PORT = "([0-9]{1,5}(?::[0-9]{1,5})?)";
const NAT = new RegExp(`^nat on ${IF} ${FAM} from ${HOSTS} to ${HOSTS} -> (\\(${IF.slice(1, -1)}:0\\))$`);
const RDR = new RegExp(
  `^rdr on ${IF} ${FAM} proto (tcp|udp) from ${HOSTS} to ${HOSTS} port ${PORT} -> (${ADDR}) port ([0-9]{1,5}(?::\\*)?)$`,
);
const PASS = new RegExp(
  `^pass in on ${IF} ${FAM} proto (tcp|udp) from ${HOSTS} to (${ADDR}) port ${PORT} (flags S/SA keep state|keep state)$`,
);

export function parsePf(text: string): { rules: PfRule[]; diagnostics: PfDiagnostic[] } {
  const rules: PfRule[] = [];
  const diagnostics: PfDiagnostic[] = [];
  let sawFilter = false;
  text.split("\n").forEach((raw, i) => {
    const s = raw.trim();
    if (s === "" || s.startsWith("#")) return;
    const diag = (message: string): void =>
      void diagnostics.push({ line: i + 1, column: raw.indexOf(s) + 1, message });
    let m: RegExpExecArray | null;
    if ((m = NAT.exec(s))) {
      if (sawFilter) return diag("translation rule after a filter rule (pfctl: Rules must be in order)");
      rules.push({
        kind: "nat",
        iface: m[1]!,
        family: m[2] as "inet",
        from: m[3]!,
        to: m[4]!,
        target: m[5]!,
      });
    } else if ((m = RDR.exec(s))) {
      if (sawFilter) return diag("translation rule after a filter rule (pfctl: Rules must be in order)");
      rules.push({
        kind: "rdr",
        iface: m[1]!,
        family: m[2] as "inet",
        proto: m[3] as "tcp",
        from: m[4]!,
        to: m[5]!,
        port: m[6]!,
        target: m[7]!,
        targetPort: m[8]!,
      });
    } else if ((m = PASS.exec(s))) {
      sawFilter = true;
      rules.push({
        kind: "pass",
        iface: m[1]!,
        family: m[2] as "inet",
        proto: m[3] as "tcp",
        from: m[4]!,
        to: m[5]!,
        port: m[6]!,
        state: m[7]!,
      });
    } else diag(`not a rule qjail writes: ${JSON.stringify(s)}`);
  });
  for (const r of rules) {
    if (r.kind === "rdr" && (r.target.includes(":") ? "inet6" : "inet") !== r.family) {
      diagnostics.push({
        line: 0,
        column: 0,
        message: `rdr target ${r.target} is not ${r.family} (pfctl: no translation address with matching address family)`,
      });
    }
  }
  return { rules, diagnostics };
}

export function printPf(rules: readonly PfRule[]): string {
  return rules
    .map((r) => {
      switch (r.kind) {
        case "nat":
          return `nat on ${r.iface} ${r.family} from ${r.from} to ${r.to} -> ${r.target}`;
        case "rdr":
          return `rdr on ${r.iface} ${r.family} proto ${r.proto} from ${r.from} to ${r.to} port ${r.port} -> ${r.target} port ${r.targetPort}`;
        case "pass":
          return `pass in on ${r.iface} ${r.family} proto ${r.proto} from ${r.from} to ${r.to} port ${r.port} ${r.state}`;
      }
    })
    .map((l) => l + "\n")
    .join("");
}
