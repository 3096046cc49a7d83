/**
 * Where qjail's own files (share/, bin/) are, whichever way qjail runs: the
 * sources under tsx (src/), tsc's output (dist/src/), or the one-file bundle
 * (dist/qjail.mjs). Each of those sits at a different depth below the
 * package, so counting "../" from a module breaks as soon as the code moves;
 * the package's own package.json is the one landmark all three share.
 */
import { existsSync, readFileSync, realpathSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const PACKAGE_NAME = "qjail";

let cachedRoot: string | undefined;

function isQjailPackage(dir: string): boolean {
  const manifest = join(dir, "package.json");
  if (!existsSync(manifest)) return false;
  try {
    return (JSON.parse(readFileSync(manifest, "utf8")) as { name?: unknown }).name === PACKAGE_NAME;
  } catch {
    // A package.json that is not JSON is not ours; keep walking up.
    return false;
  }
}

/** The directory holding qjail's package.json, found by walking up from this module. */
export function packageRoot(): string {
  if (cachedRoot !== undefined) return cachedRoot;
  const start = dirname(fileURLToPath(import.meta.url));
  for (let dir = start; ; dir = dirname(dir)) {
    if (isQjailPackage(dir)) return (cachedRoot = dir);
    if (dirname(dir) === dir) break;
  }
  throw new Error(`internal: no package.json named "${PACKAGE_NAME}" above ${start}`);
}

/** share/: stock flavors (share/flavors) and the Linux helper scripts (share/linux). */
export function shareDir(): string {
  return join(packageRoot(), "share");
}

/** The published entry point, bin/qjail.js. */
export function binPath(): string {
  return join(packageRoot(), "bin", "qjail.js");
}

/** True when qjail runs from its TypeScript sources (tsx), not from a build. */
export function runningFromSources(): boolean {
  return fileURLToPath(import.meta.url).endsWith(".ts");
}

/** argv that runs this same qjail build as a child: the sources under tsx, or bin/qjail.js. */
export function qjailCommand(): string[] {
  return runningFromSources()
    ? [process.execPath, "--import", "tsx", join(packageRoot(), "src", "cli", "entry-dev.ts")]
    : [process.execPath, binPath()];
}

/**
 * The command that runs this qjail, for files that start it later (boot
 * scripts, units): npm's link in the install prefix (PREFIX/bin/qjail for a
 * package in PREFIX/lib/node_modules/qjail) when it leads here, else the
 * entry point itself (bin/qjail.js, run by its #! line).
 */
export function installedProgram(): string {
  const root = packageRoot();
  const modules = dirname(root);
  if (basename(modules) === "node_modules" && basename(dirname(modules)) === "lib") {
    const link = join(dirname(dirname(modules)), "bin", "qjail");
    try {
      if (realpathSync(link) === realpathSync(binPath())) return link;
    } catch {
      // No link there (installed without bin links): fall back to the entry point.
    }
  }
  return binPath();
}
