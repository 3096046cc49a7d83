/**
 * The interface of the default route, from `route -n get -inet default`
 * (qjail 5.x: `route get -inet default | grep -o "interface.*" | cut -d' ' -f2`).
 * Output has one `key: value` per line, right-aligned keys:
 *
 *        route to: default
 *     destination: default
 *         gateway: 192.0.2.1
 *       interface: em0
 *
 * Returns undefined when there is no `interface:` line (no default route).
 */
export function parseRouteGetInterface(text: string): string | undefined {
  for (const line of text.split("\n")) {
    const m = /^\s*interface:\s*(\S+)\s*$/.exec(line);
    if (m) return m[1];
  }
  return undefined;
}
