import type { IpfwRules } from "./generate.js";

/**
 * Reads back the ipfw commands qjail generates (formatIpfw in generate.ts):
 * the `nat N config …` line with its redirect_port entries and the numbered
 * `add` rules, checking each word. `ipfw -n` is the second check on a FreeBSD
 * host.
 */

export interface IpfwDiagnostic {
  line: number;
  message: string;
}

const IF = /^[A-Za-z][A-Za-z0-9_.]{0,14}$/;
const ADDR = /^(any|[0-9.]+(\/[0-9]{1,2})?)$/;
const PORTS = /^[0-9]{1,5}(-[0-9]{1,5})?$/;
const REDIRECT_TARGET = /^[0-9.]+:[0-9]{1,5}(-[0-9]{1,5})?$/;
const REDIRECT_ALIAS = /^([0-9.]+:)?[0-9]{1,5}(-[0-9]{1,5})?$/;

export function parseIpfw(text: string): { rules: IpfwRules | undefined; diagnostics: IpfwDiagnostic[] } {
  const diagnostics: IpfwDiagnostic[] = [];
  let natConfig: string[] | undefined;
  const rules: string[][] = [];
  text.split("\n").forEach((raw, i) => {
    const s = raw.trim();
    if (s === "" || s.startsWith("#")) return;
    const diag = (message: string): void => void diagnostics.push({ line: i + 1, message });
    const w = s.split(/\s+/);
    if (w[0] !== "ipfw" || w[1] !== "-q") return diag(`expected "ipfw -q …": ${JSON.stringify(s)}`);
    const words = w.slice(2);
    if (words[0] === "nat") {
      if (natConfig) return diag("a second nat config line");
      if (
        !/^[0-9]+$/.test(words[1] ?? "") ||
        words[2] !== "config" ||
        words[3] !== "if" ||
        !IF.test(words[4] ?? "")
      )
        return diag(`bad nat config head: ${JSON.stringify(s)}`);
      let k = 5;
      while (k < words.length && ["same_ports", "unreg_only", "reset", "log"].includes(words[k] as string))
        k++;
      while (k < words.length) {
        if (
          words[k] !== "redirect_port" ||
          !/^(tcp|udp)$/.test(words[k + 1] ?? "") ||
          !REDIRECT_TARGET.test(words[k + 2] ?? "") ||
          !REDIRECT_ALIAS.test(words[k + 3] ?? "")
        ) {
          return diag(
            `bad redirect_port at word ${k + 3}: ${JSON.stringify(words.slice(k, k + 4).join(" "))}`,
          );
        }
        k += 4;
      }
      natConfig = words;
      return;
    }
    if (words[0] !== "add" || !/^[0-9]{1,5}$/.test(words[1] ?? ""))
      return diag(`expected "add NUMBER …": ${JSON.stringify(s)}`);
    const body = words.slice(2);
    const natRule =
      body[0] === "nat" &&
      /^[0-9]+$/.test(body[1] ?? "") &&
      body[2] === "ip4" &&
      body[3] === "from" &&
      ADDR.test(body[4] ?? "") &&
      body[5] === "to" &&
      ADDR.test(body[6] ?? "") &&
      ((body[7] === "in" && body[8] === "recv") || (body[7] === "out" && body[8] === "xmit")) &&
      IF.test(body[9] ?? "") &&
      body.length === 10;
    const allowRule =
      (body[0] === "allow" || body[0] === "deny") &&
      /^(tcp|udp)$/.test(body[1] ?? "") &&
      body[2] === "from" &&
      ADDR.test(body[3] ?? "") &&
      body[4] === "to" &&
      ADDR.test(body[5] ?? "") &&
      PORTS.test(body[6] ?? "") &&
      body[7] === "in" &&
      body[8] === "recv" &&
      IF.test(body[9] ?? "") &&
      body.length === 10;
    if (!natRule && !allowRule) return diag(`not a rule qjail writes: ${JSON.stringify(s)}`);
    rules.push(words.slice(1));
  });
  if (!natConfig) diagnostics.push({ line: 0, message: "no nat config line" });
  return { rules: natConfig ? { natConfig, rules, unsupported: [] } : undefined, diagnostics };
}
