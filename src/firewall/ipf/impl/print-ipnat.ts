/**
 * Canonical printing of NAT rules, byte for byte as `ipnat -Rnv` lists them
 * (IPFilter 5.1.2 lib/printnat.c behaviour, derived from its regression files).
 */
import type { AddressMatch, CidrAddress, NatProtocol, NatRule, NatTarget } from "../ast.js";
import { INTERFACE_SUFFIX_WORD, printPortMatch } from "./print-ipf.js";
import { protocolName } from "./tables.js";

function isZero(address: string): boolean {
  return /^[0.:]+$/.test(address);
}

/** ipnat's printnataddr: IPv4 0.0.0.0 prints as `0/N`; IPv6 ::/0 as `any`. */
export function printNatCidr(c: CidrAddress): string {
  if (c.family === "inet" && isZero(c.address)) return `0/${c.prefix ?? -1}`;
  if (c.family === "inet6" && isZero(c.address) && c.prefix === 0) return "any";
  return `${c.address}/${c.prefix ?? c.mask}`;
}

function printNatAddress(a: AddressMatch, family: "inet" | "inet6"): string {
  switch (a.kind) {
    case "any":
      return family === "inet" ? "0/0" : "any";
    case "cidr":
      return printNatCidr(a);
    case "pool":
      return `${a.table}/${a.name}`;
    case "interface":
      return a.which === "address"
        ? a.name + (a.prefix !== undefined ? `/${a.prefix}` : "")
        : `${a.name}/${INTERFACE_SUFFIX_WORD[a.which]}`;
    case "inline-pool":
      return "pool/0";
  }
}

function printTarget(t: NatTarget, family: "inet" | "inet6"): string {
  switch (t.kind) {
    case "cidr":
      return printNatCidr(t.address);
    case "interface":
      return printNatAddress(t.address, family);
    case "range":
      return `${t.low}-${t.high}`;
    case "list":
      return t.addresses.map((a) => a.address).join(",");
    case "pool":
      return `dstlist/${t.pool.name}`;
    case "none":
      return "";
  }
}

/** The protocol word ipnat prints: `tcp/udp`, a name, `ip` for none, or the number. */
export function printNatProto(p: NatProtocol | null): string {
  if (p === null || p.kind === "ip") return "ip";
  if (p.kind === "tcpudp") return "tcp/udp";
  return protocolName(p.number) ?? String(p.number);
}

function isTcpUdp(p: NatProtocol | null): boolean {
  return p !== null && (p.kind === "tcpudp" || (p.kind === "number" && (p.number === 6 || p.number === 17)));
}

/** One NAT rule as `ipnat -Rnv` prints it, without the trailing newline. */
export function printNatRule(r: NatRule): string {
  const iface = r.interfaces.map((i) => (i.name === "-" ? `"-"` : i.name));
  const ifText = iface.length > 1 && iface[0] !== iface[1] ? `${iface[0]},${iface[1]}` : (iface[0] ?? "");
  let s: string;
  if (r.kind === "rewrite" || r.kind === "divert" || r.kind === "encap")
    s = `${r.kind} ${r.direction ?? "in"} on ${ifText} `;
  else s = `${r.kind} ${ifText} `;
  if (r.family === "inet6") s += "inet6 ";
  if (
    (r.kind === "rewrite" || r.kind === "divert" || r.kind === "encap") &&
    r.matchProto &&
    r.matchProto.kind !== "ip"
  )
    s += `proto ${printNatProto(r.matchProto)} `;
  if (r.match.kind === "fromto") {
    const m = r.match;
    if (m.negated) s += "! ";
    s += `from ${printNatAddress(m.from.address, r.family)}`;
    if (m.from.port) s += " " + printPortMatch(m.from.port);
    if (m.toNegated) s += " !";
    s += ` to ${printNatAddress(m.to.address, r.family)}`;
    if (m.to.port) s += " " + printPortMatch(m.to.port);
  }
  const tcpudp = isTcpUdp(r.proto);

  if (r.no) {
    if (r.match.kind === "simple") {
      s += printNatAddress(r.match.address, r.family);
      if (r.kind === "rdr" && tcpudp && r.match.ports)
        s +=
          ` port ${r.match.ports.low}` +
          (r.match.ports.high !== r.match.ports.low ? `-${r.match.ports.high}` : "");
    }
    return `no ${s} ${printNatProto(r.proto)};`;
  }

  if (r.rewrite) {
    const side = (name: string, x: NonNullable<NatRule["rewrite"]>["src"]) => {
      let t = ` ${name} ${printTarget(x.address, r.family)}`;
      if (r.kind === "divert") return t + `,${x.ports?.low ?? 0}`;
      if (tcpudp && x.ports && x.ports.low !== 0) {
        if (x.ports.fixed) t += `,port = ${x.ports.low}`;
        else t += `,${x.ports.low}` + (x.ports.high !== x.ports.low ? `-${x.ports.high}` : "");
      }
      return t;
    };
    s += " ->" + side("src", r.rewrite.src) + side("dst", r.rewrite.dst);
    if (r.kind === "divert") s += " udp";
    if (r.options.purge) s += " purge";
    return s + ";";
  }

  if (r.kind === "rdr") {
    if (r.match.kind === "simple") {
      s += printNatAddress(r.match.address, r.family);
      if (tcpudp && r.match.ports)
        s +=
          ` port ${r.match.ports.low}` +
          (r.match.ports.high !== r.match.ports.low ? `-${r.match.ports.high}` : "");
    }
    s += ` -> ${printTarget(r.target, r.family)}`;
    if (tcpudp && r.targetPort) {
      if (r.targetPort.fixed) s += ` port = ${r.targetPort.low}`;
      else
        s +=
          ` port ${r.targetPort.low}` +
          (r.targetPort.high !== r.targetPort.low ? `-${r.targetPort.high}` : "");
    } else if (tcpudp) s += " port 0";
    s += ` ${printNatProto(r.proto)}`;
    const o = r.options;
    if (o.roundRobin) s += " round-robin";
    if (o.frag) s += " frag";
    if (o.age) s += ` age ${o.age.forward}/${o.age.reply}`;
    if (o.sticky) s += " sticky";
    if (o.mssclamp) s += ` mssclamp ${o.mssclamp}`;
    if (r.proxy) s += ` proxy ${r.proxy.name}`;
    if (o.tag) s += ` tag ${o.tag}`;
    if (o.purge) s += " purge";
    return s;
  }

  let protoPrinted = false;
  if (r.match.kind === "simple") s += printNatAddress(r.match.address, r.family);
  s += ` -> ${r.target.kind === "range" ? "range " : ""}${printTarget(r.target, r.family)}`;
  const o = r.options;
  if (r.proxy) {
    s += ` proxy port ${r.proxy.port ?? ""} ${r.proxy.name}/${r.proxy.proto && r.proxy.proto.kind === "number" ? (protocolName(r.proxy.proto.number) ?? r.proxy.proto.number) : printNatProto(r.proxy.proto)}`;
    protoPrinted = true;
  } else if (r.kind === "map-block") {
    s += o.mapBlockPorts === "auto" ? " ports auto" : ` ports ${o.mapBlockPorts ?? 0}`;
  } else if (o.icmpidmap) {
    s += ` icmpidmap icmp ${o.icmpidmap.low}:${o.icmpidmap.high}`;
    protoPrinted = true;
  } else if (r.portmap) {
    s += ` portmap ${printNatProto(r.portmap.proto)}`;
    s += r.portmap.auto ? " auto" : ` ${r.portmap.low}:${r.portmap.high}`;
    if (r.portmap.sequential) s += " sequential";
    protoPrinted = true;
  }
  if (o.frag) s += " frag";
  if (o.age) s += ` age ${o.age.forward}/${o.age.reply}`;
  if (o.mssclamp) s += ` mssclamp ${o.mssclamp}`;
  if (o.tag) s += ` tag ${o.tag}`;
  if (!protoPrinted && r.proto !== null && r.proto.kind !== "ip") s += ` ${printNatProto(r.proto)}`;
  if (o.purge) s += " purge";
  return s;
}
