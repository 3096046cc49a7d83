/**
 * Canonical printing of filter rules, byte for byte as `ipf -Rnv` lists them
 * (IPFilter 5.1.2 lib/printfr.c behaviour, derived from its regression files).
 */
import type {
  AddressMatch,
  FilterRule,
  InlinePool,
  InterfaceName,
  PortMatch,
  RouteTarget,
  WithOption,
} from "../ast.js";
import {
  ICMP_CODES,
  IP_OPTIONS,
  SECURITY_CLASSES,
  TCP_FLAG_BITS,
  TCP_FLAG_LETTERS,
  WITH_FLAGS,
  icmpTypeName,
  protocolName,
} from "./tables.js";

export interface PrintOptions {
  /**
   * Interfaces that exist on the host. ipf marks every other name with `(!)`;
   * the default (none) matches `ipf -n` on a machine without those interfaces,
   * which is what the regression files record.
   */
  interfaces?: ReadonlySet<string> | "all";
  /** Add ipf -v's `# count N` state counter (default true, as `ipf -Rnv` prints). */
  verbose?: boolean;
  /**
   * The number an inline `pool=(…)`/`hash=(…)` table got when loaded. ipf -n
   * prints 0 (nothing was loaded); ipftest's -D dump prints the kernel's number.
   */
  inlinePoolNumber?: (pool: InlinePool) => string;
  /** Print the `table role=ipf …` lines of inline pools before the rule (default true, as ipf -Rnv does). */
  inlinePoolTables?: boolean;
}

function ifname(name: string, opts: PrintOptions): string {
  if (name === "-" || name === "*" || opts.interfaces === "all" || opts.interfaces?.has(name)) return name;
  return `${name}(!)`;
}

function ifList(list: InterfaceName[], opts: PrintOptions): string {
  return list.map((i) => ifname(i.name, opts)).join(",");
}

function route(tag: string, t: RouteTarget, opts: PrintOptions): string {
  if (t.kind === "dstlist") return `${tag} dstlist/${t.name}`;
  if (t.address !== null) return `${tag} ${t.name}:${t.address}`;
  return `${tag} ${ifname(t.name, opts)}`;
}

/** The suffix ipf prints after an interface name for each kind of interface address (lib/printaddr.c). */
export const INTERFACE_SUFFIX_WORD = {
  address: "",
  network: "net",
  netmasked: "netmasked",
  broadcast: "bcast",
  peer: "peer",
} as const;

/**
 * An address as ipf prints it. Interface addresses print under `onName`, the
 * rule's first `on` interface (lib/printaddr.c is handed fr_ifnames[0], not
 * the address's own interface), or nothing when the rule has none.
 */
export function printAddress(a: AddressMatch, opts: PrintOptions = {}, onName?: string): string {
  switch (a.kind) {
    case "any":
      return "any";
    case "cidr":
      if (/^[0.:]+$/.test(a.address) && a.prefix === 0) return "any";
      return `${a.address}/${a.prefix ?? a.mask}`;
    case "interface": {
      const name = onName ?? (a.dynamic ? "" : a.name);
      return a.which === "address"
        ? name + (a.prefix !== undefined ? `/${a.prefix}` : "")
        : `${name}/${INTERFACE_SUFFIX_WORD[a.which]}`;
    }
    case "pool":
      return `${a.table}/${a.name}`;
    case "inline-pool":
      return `${a.table ?? "pool"}/${opts.inlinePoolNumber?.(a) ?? "0"}`;
  }
}

export function printPortMatch(p: PortMatch): string {
  if (p.kind === "compare") return `port ${p.op} ${p.port}`;
  if (p.op === ":") return `port ${p.low}:${p.high}`;
  return `port ${p.low} ${p.op} ${p.high}`;
}

function flagLetters(bits: number): string {
  if (bits & ~0xff) return `0x${bits.toString(16)}`;
  let s = "";
  for (let i = 0; i < TCP_FLAG_LETTERS.length; i++)
    if (bits & (TCP_FLAG_BITS[i] as number)) s += TCP_FLAG_LETTERS[i];
  return s;
}

/** The ` with …` clause: IP options first (or ipopts), then the packet properties in ipf's fixed order. */
function printWith(list: WithOption[]): string {
  if (list.length === 0) return "";
  let optMask = 0;
  let optBits = 0;
  let secMask = 0;
  let secBits = 0;
  const flags = new Map<string, boolean>();
  const v6hdrs: string[] = [];
  for (const w of list) {
    if (w.name === "v6hdr") {
      v6hdrs.push((w.negated ? "not " : "") + "v6hdr " + w.options.join(","));
    } else if (w.name === "opt") {
      for (const o of w.options) {
        const bit = IP_OPTIONS.find((io) => io.name === o)?.bit ?? 0;
        optMask |= bit;
        if (!w.negated) optBits |= bit;
      }
      if (w.secClasses.length > 0) {
        const secBit = IP_OPTIONS.find((io) => io.name === "sec")?.bit ?? 0;
        optMask |= secBit;
        optBits |= secBit;
        for (const c of w.secClasses) {
          const bit = SECURITY_CLASSES.find((s) => s.name === c)?.bit ?? 0;
          secMask |= bit;
          if (!w.negated) secBits |= bit;
        }
      }
    } else flags.set(w.name, !w.negated);
  }
  let out = " with";
  let sep = " ";
  if (optMask || secMask) {
    let s = " opt ";
    for (const io of IP_OPTIONS) {
      if (io.bit & optMask && (io.bit & optMask) === (io.bit & optBits)) {
        if (io.name !== "sec" || (!secMask && !secBits)) {
          out += s + io.name;
          s = ",";
        }
      }
    }
    if (secMask & secBits) {
      out += `${s}sec-class`;
      s = " ";
      for (const so of SECURITY_CLASSES) {
        if (secMask & so.bit && (so.bit & secMask) === (so.bit & secBits)) {
          out += s + so.name;
          s = ",";
        }
      }
    }
    if ((optMask && optMask !== optBits) || (secMask && secMask !== secBits)) {
      s = " ";
      out += " not opt";
      if (optMask !== optBits) {
        for (const io of IP_OPTIONS) {
          if (io.bit & optMask && (io.bit & optMask) !== (io.bit & optBits)) {
            if (io.name !== "sec" || (!secMask && !secBits)) {
              out += s + io.name;
              s = ",";
            }
          }
        }
      }
      if (secMask !== secBits) {
        out += `${s}sec-class`;
        s = " ";
        for (const so of SECURITY_CLASSES) {
          if (so.bit & secMask && (so.bit & secMask) !== (so.bit & secBits)) {
            out += s + so.name;
            s = ",";
          }
        }
      }
    }
  } else if (flags.has("ipopts")) {
    out += sep + (flags.get("ipopts") ? "" : "not ") + "ipopts";
    sep = ",";
  }
  for (const f of WITH_FLAGS) {
    if (!flags.has(f)) continue;
    out += sep + (flags.get(f) ? "" : "not ") + f;
    sep = ",";
  }
  for (const h of v6hdrs) {
    out += sep + h;
    sep = " ";
  }
  return out;
}

function inlinePoolLines(r: FilterRule): string[] {
  const out: string[] = [];
  for (const a of [r.from.address, r.to.address]) {
    if (a.kind !== "inline-pool") continue;
    const entries = [...a.entries]
      .reverse()
      .map((e) => `${e.negated ? "! " : ""}${e.address.address}/${e.address.prefix ?? e.address.mask}`);
    out.push(
      `table role=ipf type=${a.table === "hash" ? "hash" : "tree"} number=`,
      `\t{ ${entries.join("; ")}; };`,
    );
  }
  return out;
}

/**
 * One filter rule as `ipf -Rnv` prints it, without the trailing newline. A
 * rule with an inline `pool=(…)` prints the table definitions on the lines
 * before it, as ipf does.
 */
export function printFilterRule(r: FilterRule, opts: PrintOptions = {}): string {
  const verbose = opts.verbose ?? true;
  const words: string[] = [];
  if (r.collect) words.push(String(r.collect));
  const a = r.action;
  switch (a.kind) {
    case "block": {
      let s = "block";
      if (a.return?.kind === "return-rst") s += " return-rst";
      else if (a.return) {
        s += ` ${a.return.kind}`;
        const code = a.return.code;
        if (code) s += code < ICMP_CODES.length ? `(${ICMP_CODES[code]})` : `(${code})`;
      }
      words.push(s);
      break;
    }
    case "log":
      words.push(printLog(r));
      break;
    case "skip":
      words.push(`skip ${a.count}`);
      break;
    case "call":
      words.push(`call${a.now ? " now" : ""} ${a.func}`);
      break;
    case "auth": {
      let s = "auth";
      if (a.return?.kind === "return-rst") s += " return-rst";
      else if (a.return) {
        s += ` ${a.return.kind}`;
        const code = a.return.code;
        if (code) s += code < ICMP_CODES.length ? `(${ICMP_CODES[code]})` : `(${code})`;
      }
      words.push(s);
      break;
    }
    default:
      words.push(a.kind);
  }
  words.push(r.direction);
  if (r.log && a.kind !== "log") words.push(printLog(r));
  if (r.quick) words.push("quick");
  if (r.on.length > 0) words.push(`on ${ifList(r.on, opts)}`);
  if (r.routeTo) words.push(route("to", r.routeTo, opts));
  if (r.dupTo) words.push(route("dup-to", r.dupTo, opts));
  if (r.replyTo) words.push(route("reply-to", r.replyTo, opts));
  if (r.fastroute) words.push("fastroute");
  const via = r.inVia.length > 0 ? r.inVia : r.outVia;
  if (via.length > 0) words.push(`${r.direction === "out" ? "in-via" : "out-via"} ${ifList(via, opts)}`);
  if (r.family) words.push(r.family);
  if (r.tos !== null) words.push(`tos ${r.tos === 0 ? "0" : "0x" + r.tos.toString(16)}`);
  if (r.ttl !== null) words.push(`ttl ${r.ttl}`);
  if (r.proto) {
    words.push(
      r.proto.kind === "tcpudp" ? "proto tcp/udp" : `proto ${protocolName(r.proto.number) ?? r.proto.number}`,
    );
  }
  let line = words.join(" ");
  if (r.expression) {
    const clauses = r.expression.clauses.map((c) => `${c.field} ${c.op} ${c.values.join(",")};`);
    line += ` exp { "${clauses.join(" ")}" } `;
  } else if (r.all) {
    line += " all";
  } else {
    const onName = r.on[0]?.name ?? "";
    line += ` from ${r.from.negated ? "!" : ""}${printAddress(r.from.address, opts, onName)}`;
    if (r.from.port) line += " " + printPortMatch(r.from.port);
    line += ` to ${r.to.negated ? "!" : ""}${printAddress(r.to.address, opts, onName)}`;
    if (r.to.port) line += " " + printPortMatch(r.to.port);
    const protoNumber = r.proto?.kind === "number" ? r.proto.number : -1;
    if ((protoNumber === 1 || protoNumber === 58) && r.icmp) {
      line += ` icmp-type ${icmpTypeName(r.icmp.type, r.family === "inet6" ? "inet6" : "inet") ?? r.icmp.type}`;
      if (r.icmp.code !== null) line += ` code ${r.icmp.code}`;
    }
    if (protoNumber === 6 && r.flags && (r.flags.set || r.flags.mask)) {
      line += ` flags ${flagLetters(r.flags.set)}${r.flags.mask ? "/" + flagLetters(r.flags.mask) : ""}`;
    }
    line += printWith(r.with);
  }
  if (r.keepState) {
    const k = r.keepState;
    line += " keep state";
    if (k.strict || k.newisn || k.noIcmpErr || k.sync || k.limit || (k.age && k.age.forward) || k.maxSrcs) {
      const parts: string[] = [];
      if (k.limit) parts.push(`limit ${k.limit}`);
      if (k.maxSrcs)
        parts.push(
          `max-nodes ${k.maxSrcs}` +
            (k.maxPerSrc ? `, max-per-src ${k.maxPerSrc.count}/${k.maxPerSrc.mask}` : ""),
        );
      if (k.strict) parts.push("strict");
      if (k.loose) parts.push("loose");
      if (k.newisn) parts.push("newisn");
      if (k.noIcmpErr) parts.push("no-icmp-err");
      if (k.sync) parts.push("sync");
      if (k.age && (k.age.forward || k.age.reply)) parts.push(`age ${k.age.forward}/${k.age.reply}`);
      line += ` (${parts.join(",")})`;
    }
  }
  if (r.keepFrags) line += r.keepFrags.strict ? " keep frags (strict)" : " keep frags";
  if (r.head !== null) line += ` head ${r.head}`;
  if (r.group !== null) line += ` group ${r.group}`;
  if (r.setTag && (r.setTag.log !== null || r.setTag.nat)) {
    const parts: string[] = [];
    if (r.setTag.log !== null) parts.push(`log=${r.setTag.log}`);
    if (r.setTag.nat) parts.push(`nat=${r.setTag.nat}`);
    line += ` set-tag(${parts.join(", ")})`;
  }
  if (r.pps) line += ` pps ${r.pps}`;
  if (r.comment !== null) line += ` comment "${r.comment}"`;
  if (r.keepState && verbose) {
    line += " # count 0";
    if (r.ruleTtl) line += ` rule-ttl ${r.ruleTtl}`;
  } else if (r.ruleTtl) line += ` # rule-ttl ${r.ruleTtl}`;
  return [...(opts.inlinePoolTables === false ? [] : inlinePoolLines(r)), line].join("\n");
}

function printLog(r: FilterRule): string {
  const l = r.log;
  let s = "log";
  if (!l) return s;
  if (l.body) s += " body";
  if (l.first) s += " first";
  if (l.orBlock) s += " or-block";
  if (l.level) s += ` level ${l.level.facility ?? "!!!"}.${l.level.priority ?? "!!!"}`;
  return s;
}
