import type { LiveJail } from "../../core/jail.js";

/**
 * Parse `jls --libxo json -v` (the one query {@link createFreebsdPlatform}'s
 * liveJails makes). Two shapes exist in the wild:
 *
 * - libxo `__version` "2" (12.x and later): `ipv4_addrs` and `ipv6_addrs`
 *   are separate lists;
 * - `__version` "1" (11.x): IPv6 addresses were printed inside `ipv4_addrs`
 *   and `ipv6_addrs` may be missing, so every address is sorted by its family
 *   here rather than by the key it came under.
 *
 * Jails are keyed by `name`. Throws a plain Error naming what is malformed:
 * the caller turns it into a refusal that quotes the jls output.
 */
export function parseJlsJson(text: string): Map<string, LiveJail> {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new Error(`jls output is not JSON (${(e as Error).message}); this jls may lack --libxo support`);
  }
  const info = field(doc, "jail-information");
  const list = field(info, "jail");
  if (!Array.isArray(list)) throw new Error(`jls output has no "jail-information"."jail" list`);
  const out = new Map<string, LiveJail>();
  for (const [i, raw] of list.entries()) {
    const where = `jail #${i + 1}`;
    const jid = toInteger(field(raw, "jid"), `${where} jid`);
    const name = optionalString(field(raw, "name")) ?? String(jid);
    const path = optionalString(field(raw, "path")) ?? "";
    const addrs = [
      ...stringList(field(raw, "ipv4_addrs"), `${where} ipv4_addrs`),
      ...stringList(field(raw, "ipv6_addrs"), `${where} ipv6_addrs`),
    ];
    const ip4 = addrs.filter((a) => !a.includes(":"));
    const ip6 = addrs.filter((a) => a.includes(":"));
    // The non -v form carries a single "ipv4" string; keep it when that is all there is.
    const single = optionalString(field(raw, "ipv4"));
    if (ip4.length === 0 && single) ip4.push(single);
    out.set(name, { name, jid, path, ip4, ip6 });
  }
  return out;
}

function field(obj: unknown, key: string): unknown {
  if (obj === null || typeof obj !== "object" || Array.isArray(obj)) return undefined;
  return Object.prototype.hasOwnProperty.call(obj, key) ? (obj as Record<string, unknown>)[key] : undefined;
}

function optionalString(v: unknown): string | undefined {
  return typeof v === "string" && v !== "" ? v : undefined;
}

// Named-parameter modes print numbers as strings, -v prints JSON numbers; accept both.
function toInteger(v: unknown, what: string): number {
  const n = typeof v === "number" ? v : typeof v === "string" && /^\d+$/.test(v) ? Number(v) : NaN;
  if (!Number.isSafeInteger(n) || n < 0)
    throw new Error(`jls output: ${what} is not a jail id: ${JSON.stringify(v)}`);
  return n;
}

function stringList(v: unknown, what: string): string[] {
  if (v === undefined) return [];
  if (!Array.isArray(v) || !v.every((x) => typeof x === "string"))
    throw new Error(`jls output: ${what} is not a list of addresses`);
  return v.filter((x) => x !== "");
}
