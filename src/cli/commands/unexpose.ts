import { defineCommand } from "../command.js";
import { UsageError, shown } from "../../core/errors.js";
import {
  describeExposure,
  findExposure,
  parseProtocol,
  parsePublicSide,
  planExposureFile,
  sameExposure,
} from "../../core/exposure.js";
import { validateJailName } from "../../core/validate.js";
import { explainHostWriteErrors } from "../../platform/apply.js";
import { applyChange } from "../expose-common.js";
import { loadExposeState, checkThenLocked, refuseBrokenState } from "../../ops/expose-state.js";

export const unexposeCommand = defineCommand({
  path: ["unexpose"],
  summary: "Stop forwarding a public port to a jail, and reload the firewall rules without it.",
  usage: ["unexpose jailname tcp|udp PUBLIC [--on ADDRESS|IFACE] [--no-load]"],
  details: `
Removes the exposure whose first public port is PUBLIC from
/usr/local/etc/qjail.expose/JAIL and reloads qjail's firewall rules without
it: the rdr/DNAT and the pass rule go, other exposures stay. The rules are
loaded and verified before the exposure file changes; a refused load leaves
both as they were. When two exposures share the port on different --on
addresses, --on says which one.`,
  examples: [
    { command: "qjail unexpose www tcp 6188", description: "stop forwarding public port 6188 to jail www" },
    {
      command: "qjail unexpose dns udp 53 --on 192.0.2.5",
      description: "remove the one on address 192.0.2.5",
    },
  ],
  options: {
    on: { type: "string" },
    "no-load": { type: "boolean" },
  },
  json: true,
  mutates: true,
  async run(inv) {
    const [jailName, protoText, portText, ...extra] = inv.positionals;
    if (jailName === undefined || protoText === undefined || portText === undefined || extra.length > 0) {
      throw new UsageError(
        "QJ3019",
        `expected JAIL tcp|udp PUBLIC, got ${shown(inv.positionals.join(" "))}`,
        "Example: qjail unexpose www tcp 6188",
      );
    }
    validateJailName(jailName);
    const proto = parseProtocol(protoText);
    if (!/^[0-9]{1,5}$/.test(portText) || Number(portText) < 1 || Number(portText) > 65535) {
      throw new UsageError(
        "QJ3012",
        `public port ${shown(portText)} is not a port from 1 to 65535`,
        "Give the first public port of the exposure, as 'qjail ports' lists it.",
      );
    }
    const on = typeof inv.values.on === "string" ? parsePublicSide(inv.values.on) : undefined;
    const check = async () => {
      const state = await loadExposeState(inv.global);
      refuseBrokenState(state);
      return { state, gone: findExposure(state.exposures, jailName, proto, Number(portText), on) };
    };
    return checkThenLocked(inv.global, check, async ({ state, gone }) => {
      const all = state.exposures.filter((e) => !sameExposure(e, gone));
      return explainHostWriteErrors(`unexpose ${describeExposure(gone)}`, () =>
        applyChange(inv, state, {
          title: `unexpose ${describeExposure(gone)}`,
          exposures: all,
          statePlan: planExposureFile(
            state.layout,
            jailName,
            all.filter((e) => e.jail === jailName),
            `forget ${describeExposure(gone)}`,
          ),
          noLoad: inv.values["no-load"] === true,
          warnings: [],
          report: {
            unexposed: { jail: gone.jail, proto: gone.proto, public: gone.public, jailPort: gone.jailPort },
          },
          done: `Unexposed ${describeExposure(gone)}`,
        }),
      );
    });
  },
});
