import type { Edit } from "../managed-section.js";
import { pfAnchorHooks } from "./generate.js";
import { parsePf, type PfDiagnostic, type PfParseOptions } from "./index.js";

/**
 * The edits that add qjail's anchor hooks to an admin's pf.conf, placed where
 * pfctl requires them: the translation hooks after the last translation rule
 * (or before the first filter rule), the filter hook at the end, where pf's
 * last-match rule lets qjail's pass rules decide for forwarded ports while the
 * admin's quick blocks still win. Hooks already present are not added again;
 * every other byte stays as the admin wrote it.
 */

const TRANSLATION = /^\s*(nat|rdr|binat|nat-anchor|rdr-anchor|binat-anchor|no\s+(nat|rdr|binat))\b/;
const FILTER = /^\s*(pass|block|anchor|match|antispoof|load\s+anchor)\b/;

interface LogicalLine {
  text: string;
  start: number;
  /** Offset just past the line's final newline (continuations with a trailing '\' included). */
  end: number;
}

function logicalLines(text: string): LogicalLine[] {
  const out: LogicalLine[] = [];
  let pos = 0;
  while (pos < text.length) {
    const start = pos;
    let body = "";
    for (;;) {
      const nl = text.indexOf("\n", pos);
      const line = nl < 0 ? text.slice(pos) : text.slice(pos, nl);
      pos = nl < 0 ? text.length : nl + 1;
      if (line.endsWith("\\") && pos < text.length) body += line.slice(0, -1) + " ";
      else {
        body += line;
        break;
      }
    }
    out.push({ text: body, start, end: pos });
  }
  return out;
}

export function pfHookEdits(pfConf: string, anchor: string): Edit[] {
  const hooks = pfAnchorHooks(anchor);
  const lines = logicalLines(pfConf);
  const present = new Set(lines.map((l) => l.text.trim()));
  const missingTranslation = hooks.translation.filter((h) => !present.has(h));
  const missingFilter = hooks.filter.filter((h) => !present.has(h));
  const edits: Edit[] = [];
  const endsWithNewline = pfConf === "" || pfConf.endsWith("\n");
  if (missingTranslation.length > 0) {
    const comment = "# qjail: forwarded ports (see 'qjail ports')\n";
    const block = comment + missingTranslation.map((h) => h + "\n").join("");
    const lastTranslation = [...lines].reverse().find((l) => TRANSLATION.test(l.text));
    const firstFilter = lines.find((l) => FILTER.test(l.text));
    if (lastTranslation) {
      const needNl = lastTranslation.end === pfConf.length && !endsWithNewline;
      edits.push({ offset: lastTranslation.end, length: 0, content: (needNl ? "\n" : "") + block });
    } else if (firstFilter) edits.push({ offset: firstFilter.start, length: 0, content: block + "\n" });
    else edits.push({ offset: pfConf.length, length: 0, content: (endsWithNewline ? "" : "\n") + block });
  }
  if (missingFilter.length > 0) {
    const content = missingFilter.map((h) => h + "\n").join("");
    const last = edits[edits.length - 1];
    if (last && last.offset === pfConf.length) last.content += content;
    else edits.push({ offset: pfConf.length, length: 0, content: (endsWithNewline ? "" : "\n") + content });
  }
  return edits;
}

/**
 * The parse-back of `fw setup --write`: the problems the edited pf.conf has
 * that the original did not (an edit must never make pfctl refuse the file),
 * and the hooks pf would still not evaluate after the edit.
 */
export function checkPfConfEdits(
  original: string,
  edited: string,
  anchor: string,
  opts?: PfParseOptions,
): { introduced: PfDiagnostic[]; missingHooks: string[] } {
  const before = parsePf(original, opts).diagnostics;
  const after = parsePf(edited, opts);
  const seen = new Map<string, number>();
  for (const d of before) seen.set(`${d.code} ${d.message}`, (seen.get(`${d.code} ${d.message}`) ?? 0) + 1);
  const introduced: PfDiagnostic[] = [];
  for (const d of after.diagnostics) {
    const key = `${d.code} ${d.message}`;
    const n = seen.get(key) ?? 0;
    if (n > 0) seen.set(key, n - 1);
    else if (d.severity === "error") introduced.push(d);
  }
  const path = `${anchor}/*`;
  const calls = (kind: "nat" | "rdr" | "filter"): boolean =>
    after.main.ruleset[kind].some((r) => r.anchor !== null && !r.anchor.inline && r.anchor.path === path);
  const hooks = pfAnchorHooks(anchor);
  const missingHooks = [
    ...(calls("nat") ? [] : [hooks.translation[0] as string]),
    ...(calls("rdr") ? [] : [hooks.translation[1] as string]),
    ...(calls("filter") ? [] : [hooks.filter[0] as string]),
  ];
  return { introduced, missingHooks };
}

/**
 * Whether pf.conf skips lo0 (`set skip on lo0`, `set skip on { lo0 lo1 }`,
 * through a macro, or the interface group `lo`): then pf never sees local
 * connections and qjail's `rdr on lo0` hairpin cannot apply.
 */
export function pfSkipsLoopback(pfConf: string): boolean {
  return parsePf(pfConf).statements.some(
    (s) => s.kind === "skip" && s.interfaces.some((i) => i === "lo0" || i === "lo"),
  );
}
