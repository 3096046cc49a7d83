import type { Platform } from "./types.js";
import { createFreebsdPlatform } from "./freebsd/index.js";
import { createLinuxPlatform } from "./linux/index.js";
import type { HostFacts } from "../core/hostconfig.js";
import { detectLinuxHostFacts } from "./linux/firewall.js";
import { detectFreebsdHostFacts } from "./freebsd/firewall.js";
import { platformNameFor, type PlatformChoice, type PlatformIo, type PlatformName } from "./choice.js";

export { platformNameFor, type PlatformChoice, type PlatformIo, type PlatformName } from "./choice.js";

/** The platform a command runs on. */
export function platformFor(choice: PlatformChoice, io: PlatformIo = {}): Platform {
  return platformNameFor(choice) === "freebsd"
    ? createFreebsdPlatform(choice.root, io)
    : createLinuxPlatform(choice.root);
}

/** Defaults the host config falls back to, detected on this machine (the default route's interface...). */
export function detectHostFacts(name: PlatformName): Promise<HostFacts> {
  return name === "linux" ? detectLinuxHostFacts() : detectFreebsdHostFacts();
}
