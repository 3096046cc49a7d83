import { readFileSync } from "node:fs";
import { isAbsolute, resolve } from "node:path";
import type { HostConfig } from "../core/hostconfig.js";
import { hostLayout, physical } from "../core/paths.js";
import { readHostConfig } from "../store/exposures.js";
import { pfRulesFile } from "../platform/freebsd/firewall.js";

/**
 * The pf rule texts `qjail fw lint --pf` and `qjail fw trace --pf` read: the
 * files named on the command line, or by default the host's pf.conf (host
 * config pf_conf) and the rules qjail last loaded into its anchor
 * (`<pf_anchor>/expose`, from the state directory). Files named on the
 * command line are read from the real file system relative to the working
 * directory; the host's files from under --root.
 */

export interface PfRuleText {
  /** The path shown in messages. */
  path: string;
  text: string;
  /** "" for pf.conf, else the anchor the rules are loaded into. */
  anchor: string;
  /** False when the file does not exist (read as empty). */
  exists: boolean;
}

export interface PfRuleTexts {
  files: PfRuleText[];
  host: HostConfig;
  /** Reads `include`d and table files the way pfctl would on the host (absolute paths under --root). */
  readFile: (path: string) => string | undefined;
}

function readMaybe(full: string): string | undefined {
  try {
    return readFileSync(full, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") return undefined;
    throw e;
  }
}

export class PfRuleFileError extends Error {
  constructor(
    readonly path: string,
    message: string,
  ) {
    super(message);
  }
}

export async function readPfRuleTexts(
  choice: { root: string; platform?: "freebsd" | "linux" | undefined },
  req: { cwd: string; pf?: string | undefined; anchorFile?: string | undefined },
): Promise<PfRuleTexts> {
  const layout = hostLayout();
  const { config: host } = await readHostConfig(choice.root, layout, choice.platform ?? "freebsd");
  const cli = (p: string): string => (isAbsolute(p) ? p : resolve(req.cwd, p));
  const fromCli = (path: string, anchor: string): PfRuleText => {
    let text: string | undefined;
    try {
      text = readMaybe(cli(path));
    } catch (e) {
      throw new PfRuleFileError(path, (e as Error).message);
    }
    if (text === undefined) throw new PfRuleFileError(path, "no such file");
    return { path, text, anchor, exists: true };
  };
  const fromHost = (path: string, anchor: string): PfRuleText => {
    const text = readMaybe(physical(choice.root, path));
    return { path, text: text ?? "", anchor, exists: text !== undefined };
  };
  const anchor = `${host.pfAnchor}/expose`;
  const files: PfRuleText[] = [
    req.pf !== undefined ? fromCli(req.pf, "") : fromHost(host.pfConf, ""),
    req.anchorFile !== undefined
      ? fromCli(req.anchorFile, anchor)
      : req.pf !== undefined
        ? { path: `anchor ${anchor}`, text: "", anchor, exists: false }
        : fromHost(pfRulesFile(host, layout.stateDir), anchor),
  ];
  const readFile = (path: string): string | undefined =>
    readMaybe(
      req.pf !== undefined && !isAbsolute(path)
        ? cli(path)
        : physical(choice.root, isAbsolute(path) ? path : `/${path}`),
    );
  return { files, host, readFile };
}

/** Whether the host config says firewall="pf" (then `fw lint`/`fw trace` read pf rules by default). */
export async function hostUsesPf(choice: {
  root: string;
  platform?: "freebsd" | "linux" | undefined;
}): Promise<boolean> {
  const { config } = await readHostConfig(choice.root, hostLayout(), choice.platform ?? "freebsd");
  return config.firewall === "pf";
}
