import { posix } from "node:path";

/**
 * Where qjail keeps things, as qjail 5.x lays them out (docs/qjail-5.md §1).
 *
 * Every path here is *logical*: the absolute path as the host sees it and as
 * qjail writes it into jail.conf blocks, fstabs and records. `--root DIR`
 * relocates the physical files only; use {@link physical} when touching disk,
 * and keep logical paths in plans and file contents so golden output is the
 * same whatever the root.
 */
export interface HostLayout {
  /** undefined for the default zone. */
  zone: string | undefined;
  jaildir: string;
  template: string;
  sharedfs: string;
  flavors: string;
  archive: string;
  download: string;
  /** qjail.local[.zone]: definition records of this zone. */
  local: string;
  /** qjail.global: a copy of every record, all zones. */
  global: string;
  /** qjail.config: one jail.conf block per jail. */
  config: string;
  /** qjail.fstab[.zone]: one one-line fstab per jail. */
  fstabDir: string;
  packages: string;
  vnetctl: string;
  examples: string;
  log: string;
  devfsRules: string;
  /** qjail's own additions, beside qjail's files in the same plain style. */
  hostConfig: string;
  exposures: string;
  lockFile: string;
  stateDir: string;
}

export const ETC = "/usr/local/etc";
export const DEFAULT_JAILDIR = "/usr/jails";

export function hostLayout(zone?: string): HostLayout {
  const z = zone ? `.${zone}` : "";
  const jaildir = `${DEFAULT_JAILDIR}${z}`;
  return {
    zone,
    jaildir,
    template: `${jaildir}/template`,
    sharedfs: `${jaildir}/sharedfs`,
    flavors: `${jaildir}/flavors`,
    archive: `${jaildir}/archive`,
    download: `${jaildir}/download`,
    local: `${ETC}/qjail.local${z}`,
    global: `${ETC}/qjail.global`,
    config: `${ETC}/qjail.config`,
    fstabDir: `${ETC}/qjail.fstab${z}`,
    packages: `${ETC}/qjail.packages`,
    vnetctl: `${ETC}/qjail.vnetctl`,
    examples: "/usr/local/share/examples/qjail",
    log: "/var/log/qjail.log",
    devfsRules: "/etc/devfs.rules",
    hostConfig: `${ETC}/qjail.host`,
    exposures: `${ETC}/qjail.expose`,
    lockFile: "/var/run/qjail.lock",
    stateDir: "/var/db/qjail",
  };
}

export function jailRootPath(layout: HostLayout, name: string): string {
  return `${layout.jaildir}/${name}`;
}
export function jailConfPath(layout: HostLayout, name: string): string {
  return `${layout.config}/${name}`;
}
export function jailFstabPath(layout: HostLayout, name: string): string {
  return `${layout.fstabDir}/${name}`;
}
/**
 * A jail's MAC address as qjail keeps it (the Linux backend writes it at the
 * jail's first start): one line, "02:xx:xx:xx:xx:xx". Rename moves it and
 * delete removes it, so a jail keeps its MAC whatever its name or addresses.
 */
export function jailMacPath(layout: Pick<HostLayout, "stateDir">, name: string): string {
  return `${layout.stateDir}/mac/${name}`;
}

export function pidFilePath(name: string): string {
  return `/var/run/qjail.${name}.pid`;
}
export function consoleLogPath(name: string): string {
  return `/var/log/qjail.${name}.console.log`;
}

/** Map a logical absolute path onto the physical tree under `root` ("/" = the real host). */
export function physical(root: string, logical: string): string {
  if (!posix.isAbsolute(logical)) throw new Error(`internal: logical path must be absolute: ${logical}`);
  if (root === "/" || root === "") return posix.normalize(logical);
  return posix.join(root, logical);
}
