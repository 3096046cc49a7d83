import { defineCommand } from "../command.js";
import { UsageError, shown } from "../../core/errors.js";
import {
  checkNewExposure,
  describeExposure,
  parseFromList,
  parsePortMapping,
  parseProtocol,
  parsePublicSide,
  planExposureFile,
  validateComment,
  type Exposure,
} from "../../core/exposure.js";
import { validateJailName } from "../../core/validate.js";
import { explainHostWriteErrors } from "../../platform/apply.js";
import { applyChange } from "../expose-common.js";
import { loadExposeState, checkThenLocked, refuseBrokenState } from "../../ops/expose-state.js";

export const exposeCommand = defineCommand({
  path: ["expose"],
  summary: "Forward a public port of the host to a jail's port, and load the firewall rules for it.",
  usage: [
    "expose jailname tcp|udp PUBLIC[-PUBLIC_END]:JAILPORT[-JAILPORT_END] [--from CIDR]... [--on ADDRESS|IFACE] [--comment TEXT] [--no-load]",
  ],
  details: `
Does for one service what qjail-howto(8) does by hand: a NAT redirect of the
public port to the jail's address and port, a pass rule for the translated
packet, and the outbound map for the jail network, in the firewall named in
/usr/local/etc/qjail.host (IPFilter, pf, ipfw or nftables). The exposure is
stored in /usr/local/etc/qjail.expose/JAIL, one line per exposure.

Refused, with nothing changed: a public port/protocol/address already
forwarded to any jail (the howto's rule 2), a port the host's own services use
(host_services in qjail.host; the howto's rule 5), an unknown jail, a jail
without an address of the needed family, malformed or unequal ranges, ports
outside 1-65535, bad --from networks. A jail whose address is not private
(RFC 1918 / ULA) gets a warning.

--from limits the sources (repeat it or give a comma list). --on takes one of
the host's addresses (the port is forwarded on that address only) or an
interface (all its addresses); without it the port is forwarded on ext_if,
following its address when it changes (DHCP). The rules are loaded, checked
and only then recorded; a refused load leaves rules and records as they were.
--no-load records the exposure and writes the rule files without loading
('qjail fw sync' loads later). QJAIL_FW_LOAD=0 in the environment does the
same; QJAIL_FW_LOAD=1 loads even under --root (tests in their own namespaces).`,
  examples: [
    {
      command: "qjail expose www tcp 6188:80",
      description: "the howto's www jail: public port 6188 to port 80 of jail www",
    },
    {
      command: "qjail expose ssh tcp 6122:22 --from 198.51.100.0/24",
      description: "ssh to the ssh jail, only from one network",
    },
    {
      command: "qjail expose game udp 27000-27010:27000-27010 --on 192.0.2.5",
      description: "a port range on one of two host addresses",
    },
  ],
  options: {
    from: { type: "string", multiple: true },
    on: { type: "string" },
    comment: { type: "string" },
    "no-load": { type: "boolean" },
  },
  json: true,
  mutates: true,
  async run(inv) {
    const [jailName, protoText, mapping, ...extra] = inv.positionals;
    if (jailName === undefined || protoText === undefined || mapping === undefined || extra.length > 0) {
      throw new UsageError(
        "QJ3019",
        `expected JAIL tcp|udp PUBLIC:JAILPORT, got ${shown(inv.positionals.join(" "))}`,
        "Example: qjail expose www tcp 6188:80",
      );
    }
    validateJailName(jailName);
    const ports = parsePortMapping(mapping);
    const request: Exposure = {
      jail: jailName,
      proto: parseProtocol(protoText),
      public: ports.public,
      jailPort: ports.jailPort,
      from: parseFromList((inv.values.from as string[] | undefined) ?? []),
      on: typeof inv.values.on === "string" ? parsePublicSide(inv.values.on) : undefined,
      comment: validateComment(typeof inv.values.comment === "string" ? inv.values.comment : ""),
    };
    const check = async () => {
      const state = await loadExposeState(inv.global);
      refuseBrokenState(state);
      return {
        state,
        ...checkNewExposure(request, { jails: state.jails, exposures: state.exposures, host: state.host }),
      };
    };
    return checkThenLocked(inv.global, check, async ({ state, warnings }) => {
      const all = [...state.exposures, request];
      const mine = all.filter((e) => e.jail === jailName);
      return explainHostWriteErrors(`expose ${describeExposure(request)}`, () =>
        applyChange(inv, state, {
          title: `expose ${describeExposure(request)}`,
          exposures: all,
          statePlan: planExposureFile(state.layout, jailName, mine, `record ${describeExposure(request)}`),
          noLoad: inv.values["no-load"] === true,
          warnings,
          report: {
            exposed: {
              jail: request.jail,
              proto: request.proto,
              public: request.public,
              jailPort: request.jailPort,
              from: request.from,
              on: request.on ?? null,
              comment: request.comment,
            },
          },
          done: `Exposed ${describeExposure(request)}`,
        }),
      );
    });
  },
});
