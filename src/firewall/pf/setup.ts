import type { Edit } from "../managed-section.js";
import { pfAnchorHooks } from "./generate.js";

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
 * Whether pf.conf skips lo0 (`set skip on lo0`, `set skip on { lo0 lo1 }`,
 * or the interface group `lo`): then pf never sees local connections and
 * qjail's `rdr on lo0` hairpin cannot apply.
 */
export function pfSkipsLoopback(pfConf: string): boolean {
  return pfConf.split("\n").some((l) => {
    const m = /^\s*set\s+skip\s+on\s+(\{[^}]*\}|\S+)/.exec(l);
    return m !== null && /(^|[\s{,])lo0?([\s},]|$)/.test(m[1] as string);
  });
}
