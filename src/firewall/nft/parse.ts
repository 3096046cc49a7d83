/**
 * Reads back the nftables text qjail generates (src/firewall/nft/generate.ts)
 * — enough of the language to prove a generated table is well formed before
 * `nft -c` sees it: one table, base chains with their `type … hook …` line,
 * and rules built only from the expressions qjail uses. Anything else is a
 * diagnostic with its line and column, so a generator bug is caught in the
 * tests and at load time, not by the kernel.
 *
 * Partner: {@link printNft} prints the tree back; for qjail's output
 * `printNft(parseNft(text).table) === text` (comment lines aside).
 */

export interface NftDiagnostic {
  line: number;
  column: number;
  message: string;
}

export interface NftChain {
  name: string;
  /** The base chain line, e.g. "type nat hook prerouting priority dstnat; policy accept;". */
  head: string;
  rules: string[];
}

export interface NftTable {
  family: string;
  name: string;
  chains: NftChain[];
}

const STRING = /^"[A-Za-z0-9_.:\-/ ]*"$/;
const ADDR = /^[0-9A-Fa-f:.]+(\/[0-9]{1,3})?$/;
const PORTS = /^[0-9]{1,5}(-[0-9]{1,5})?$/;
const HEAD =
  /^type (nat|filter) hook (prerouting|input|forward|output|postrouting) priority (-?[0-9]+|dstnat|srcnat|filter); policy (accept|drop);$/;

/** Tokens of one rule: words, quoted strings and `{ a, b }` sets kept whole. */
function tokens(text: string): string[] | string {
  const out: string[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i] as string;
    if (c === " " || c === "\t") {
      i++;
    } else if (c === '"') {
      const end = text.indexOf('"', i + 1);
      if (end < 0) return "unterminated string";
      out.push(text.slice(i, end + 1));
      i = end + 1;
    } else if (c === "{") {
      const end = text.indexOf("}", i);
      if (end < 0) return "unterminated set";
      out.push(text.slice(i, end + 1));
      i = end + 1;
    } else {
      let j = i;
      while (j < text.length && text[j] !== " " && text[j] !== "\t") j++;
      out.push(text.slice(i, j));
      i = j;
    }
  }
  return out;
}

function isAddrOrSet(t: string): boolean {
  if (t.startsWith("{")) {
    const items = t
      .slice(1, -1)
      .split(",")
      .map((s) => s.trim());
    return items.length > 0 && items.every((s) => ADDR.test(s));
  }
  return ADDR.test(t);
}

/** Check one rule against the expressions qjail generates; returns a message for the first bad token. */
export function checkRule(text: string): string | undefined {
  const t = tokens(text);
  if (typeof t === "string") return t;
  let i = 0;
  let verdict = false;
  let counted = false;
  const at = (k: number): string => t[k] ?? "";
  while (i < t.length) {
    const w = at(i);
    if (verdict && w !== "comment") return `${JSON.stringify(w)} after the verdict`;
    if ((w === "iifname" || w === "oifname") && STRING.test(at(i + 1))) i += 2;
    else if (w === "meta" && at(i + 1) === "nfproto" && /^ipv[46]$/.test(at(i + 2))) i += 3;
    else if ((w === "ip" || w === "ip6") && /^[sd]addr$/.test(at(i + 1))) {
      i += 2;
      if (at(i) === "!=") i++;
      if (!isAddrOrSet(at(i))) return `bad address ${JSON.stringify(at(i))}`;
      i++;
    } else if (w === "fib" && at(i + 1) === "daddr" && at(i + 2) === "type" && at(i + 3) === "local") i += 4;
    else if ((w === "tcp" || w === "udp") && at(i + 1) === "dport" && PORTS.test(at(i + 2))) i += 3;
    else if (
      w === "ct" &&
      at(i + 1) === "state" &&
      /^(new|established|related|invalid)(,(new|established|related|invalid))*$/.test(at(i + 2))
    )
      i += 3;
    else if (w === "ct" && at(i + 1) === "status" && at(i + 2) === "dnat") i += 3;
    else if (w === "dnat" && /^ip6?$/.test(at(i + 1)) && at(i + 2) === "to") {
      const target = at(i + 3);
      const ok =
        at(i + 1) === "ip"
          ? /^[0-9.]+(:[0-9]{1,5}(-[0-9]{1,5})?)?$/.test(target)
          : /^\[[0-9a-fA-F:]+\](:[0-9]{1,5}(-[0-9]{1,5})?)?$|^[0-9a-fA-F:]+$/.test(target);
      if (!ok) return `bad dnat target ${JSON.stringify(target)}`;
      i += 4;
      verdict = true;
    } else if (w === "counter" && !counted) {
      // `nft list` prints the running counts back ("counter packets 3 bytes 180"), so a listed
      // table reads back as well as a generated one.
      counted = true;
      i +=
        at(i + 1) === "packets" &&
        /^[0-9]+$/.test(at(i + 2)) &&
        at(i + 3) === "bytes" &&
        /^[0-9]+$/.test(at(i + 4))
          ? 5
          : 1;
    } else if (w === "masquerade" || w === "accept" || w === "drop") {
      i += 1;
      verdict = true;
    } else if (w === "comment" && STRING.test(at(i + 1))) i += 2;
    else return `unexpected ${JSON.stringify(w)}`;
  }
  if (!verdict) return "rule has no verdict or nat statement";
  return undefined;
}

export function parseNft(text: string): { table: NftTable | undefined; diagnostics: NftDiagnostic[] } {
  const diagnostics: NftDiagnostic[] = [];
  let table: NftTable | undefined;
  let chain: NftChain | undefined;
  let closedTable = false;
  text.split("\n").forEach((raw, idx) => {
    const line = idx + 1;
    const column = raw.length - raw.trimStart().length + 1;
    const s = raw.trim();
    const diag = (message: string): void => void diagnostics.push({ line, column, message });
    if (s === "" || s.startsWith("#")) return;
    if (closedTable) return diag("text after the table");
    if (!table) {
      const m = /^table (inet|ip|ip6) ([A-Za-z_][A-Za-z0-9_]*) \{$/.exec(s);
      if (!m) return diag(`expected "table FAMILY NAME {", got ${JSON.stringify(s)}`);
      table = { family: m[1] as string, name: m[2] as string, chains: [] };
      return;
    }
    if (!chain) {
      if (s === "}") {
        closedTable = true;
        return;
      }
      const m = /^chain ([A-Za-z_][A-Za-z0-9_]*) \{$/.exec(s);
      if (!m) return diag(`expected "chain NAME {", got ${JSON.stringify(s)}`);
      chain = { name: m[1] as string, head: "", rules: [] };
      return;
    }
    if (s === "}") {
      if (chain.head === "") diag(`chain ${chain.name} has no type/hook line`);
      table.chains.push(chain);
      chain = undefined;
      return;
    }
    if (chain.head === "" && s.startsWith("type ")) {
      if (!HEAD.test(s)) diag(`bad base chain line ${JSON.stringify(s)}`);
      chain.head = s;
      return;
    }
    const problem = checkRule(s);
    if (problem) diag(`${problem} in rule ${JSON.stringify(s)}`);
    chain.rules.push(s);
  });
  if (table && !closedTable)
    diagnostics.push({ line: text.split("\n").length, column: 1, message: "table is not closed" });
  if (!table) diagnostics.push({ line: 1, column: 1, message: "no table" });
  return { table, diagnostics };
}

export function printNft(table: NftTable): string {
  const chains = table.chains.map((c) =>
    [`\tchain ${c.name} {`, `\t\t${c.head}`, ...c.rules.map((r) => `\t\t${r}`), "\t}"].join("\n"),
  );
  return `table ${table.family} ${table.name} {\n${chains.join("\n\n")}\n}\n`;
}

/** Number of rules per chain: what `nft -j list table` must show after a load. */
export function ruleCounts(table: NftTable): Record<string, number> {
  return Object.fromEntries(table.chains.map((c) => [c.name, c.rules.length]));
}

/**
 * Number of rules with a `counter` statement per chain: `nft -j list table`
 * must show as many counter objects, or `qjail status` would have nothing to
 * report. Partner: {@link ruleCounts}; both are checked by compareLive in
 * src/platform/linux/firewall.ts.
 */
export function counterCounts(table: NftTable): Record<string, number> {
  return Object.fromEntries(table.chains.map((c) => [c.name, c.rules.filter((r) => hasCounter(r)).length]));
}

function hasCounter(rule: string): boolean {
  const t = tokens(rule);
  return typeof t !== "string" && t.includes("counter");
}
