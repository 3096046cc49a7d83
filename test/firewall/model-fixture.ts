import { defaultHostConfig, type HostConfig } from "../../src/core/hostconfig.js";
import {
  resolveExposures,
  type Exposure,
  type FirewallModel,
  type JailAddresses,
} from "../../src/core/exposure.js";

/**
 * The howto's own set-up as a model: host services on 22 and 80, public 6122
 * to the ssh jail's port 22, 6188 to the www jail's port 80.
 */
export const HOWTO_JAILS: JailAddresses[] = [
  { name: "ssh", ip4: ["10.0.0.2"], ip6: [] },
  { name: "www", ip4: ["10.0.0.3"], ip6: [] },
];

export function exposure(
  jail: string,
  proto: "tcp" | "udp",
  pub: [number, number],
  jailPort: [number, number],
  more: Partial<Exposure> = {},
): Exposure {
  return {
    jail,
    proto,
    public: { low: pub[0], high: pub[1] },
    jailPort: { low: jailPort[0], high: jailPort[1] },
    from: [],
    on: undefined,
    comment: "",
    ...more,
  };
}

export const HOWTO_EXPOSURES: Exposure[] = [
  exposure("ssh", "tcp", [6122, 6122], [22, 22]),
  exposure("www", "tcp", [6188, 6188], [80, 80]),
];

export function howtoHost(
  platform: "freebsd" | "linux",
  extIf: string,
  more: Partial<HostConfig> = {},
): HostConfig {
  return {
    ...defaultHostConfig(platform, { defaultRouteIf: extIf }),
    hostServices: [
      { port: 22, proto: "tcp" },
      { port: 80, proto: "tcp" },
    ],
    ...more,
  };
}

export function model(
  host: HostConfig,
  exposures: Exposure[],
  jails: JailAddresses[] = HOWTO_JAILS,
): FirewallModel {
  return { host, exposures: resolveExposures(exposures, jails).resolved };
}

/** A richer set: a range, --from, IPv6, two host addresses with --on, udp. */
export const MORE_JAILS: JailAddresses[] = [
  { name: "ssh", ip4: ["10.0.0.2"], ip6: [] },
  { name: "www", ip4: ["10.0.0.3"], ip6: ["fd00:6a61:696c::3"] },
  { name: "game", ip4: ["10.0.0.4"], ip6: [] },
  { name: "dns", ip4: ["10.0.0.5"], ip6: [] },
];
export const MORE_EXPOSURES: Exposure[] = [
  exposure("ssh", "tcp", [6122, 6122], [22, 22], {
    from: ["198.51.100.0/24", "203.0.113.7/32"],
    comment: "admins only",
  }),
  exposure("www", "tcp", [6188, 6188], [80, 80]),
  exposure("game", "udp", [27000, 27010], [27000, 27010]),
  exposure("game", "tcp", [8000, 8002], [9000, 9002]),
  exposure("dns", "udp", [53, 53], [53, 53], { on: { kind: "address", address: "192.0.2.5", family: 4 } }),
  exposure("www", "tcp", [443, 443], [443, 443], {
    on: { kind: "address", address: "192.0.2.6", family: 4 },
  }),
];
