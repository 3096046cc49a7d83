/**
 * qjail's marked section inside a file the admin owns (/etc/ipf.rules,
 * /etc/ipnat.rules): qjail rewrites only the lines between its BEGIN and END
 * markers and leaves every byte outside them as the admin wrote it.
 *
 * Changes are computed as an edit list and applied in one separate step, in the
 * manner of jsonc-parser's modify()/applyEdits(): tests pin
 * `applyEdits(original, edits) === golden`, and {@link applyEdits} refuses
 * edits that overlap, run backwards or leave the text.
 *
 * Partner functions: {@link sectionEdits} (replace or add the section),
 * {@link readSection} (what qjail wrote last time), {@link insertLineEdits}
 * (anchor hooks in pf.conf).
 */

export interface Edit {
  offset: number;
  length: number;
  content: string;
}

export const SECTION_BEGIN =
  "# BEGIN qjail managed section: 'qjail fw sync' rewrites the lines up to END; edit outside them";
export const SECTION_END = "# END qjail managed section";
const BEGIN_RE = /^# BEGIN qjail managed section\b.*$/gm;
const END_RE = /^# END qjail managed section\b.*$/gm;

export class SectionError extends Error {}

/** Where the section's body lies: from just after the BEGIN line to the start of the END line. */
export interface SectionSpan {
  bodyStart: number;
  bodyEnd: number;
}

export function findSection(text: string): SectionSpan | undefined {
  const begins = [...text.matchAll(BEGIN_RE)];
  const ends = [...text.matchAll(END_RE)];
  if (begins.length === 0 && ends.length === 0) return undefined;
  if (begins.length !== 1 || ends.length !== 1) {
    throw new SectionError(
      `found ${begins.length} BEGIN and ${ends.length} END qjail markers; expected one of each`,
    );
  }
  const b = begins[0] as RegExpMatchArray;
  const e = ends[0] as RegExpMatchArray;
  const bodyStart = (b.index as number) + b[0].length + 1;
  const bodyEnd = e.index as number;
  if (bodyEnd < bodyStart - 1) throw new SectionError("the qjail END marker comes before its BEGIN marker");
  return { bodyStart: Math.min(bodyStart, bodyEnd), bodyEnd };
}

/** The current body of qjail's section, or undefined when the file has none. */
export function readSection(text: string): string | undefined {
  const span = findSection(text);
  return span ? text.slice(span.bodyStart, span.bodyEnd) : undefined;
}

/**
 * Edits that make the section's body `body` (which ends with a newline or is
 * empty). With no section yet, the whole section is appended at the end of the
 * file: quick rules there still win over the admin's earlier non-quick rules,
 * and the admin can move the markers anywhere afterwards.
 */
export function sectionEdits(original: string, body: string): Edit[] {
  if (body !== "" && !body.endsWith("\n")) body += "\n";
  const span = findSection(original);
  if (span) {
    if (original.slice(span.bodyStart, span.bodyEnd) === body) return [];
    return [{ offset: span.bodyStart, length: span.bodyEnd - span.bodyStart, content: body }];
  }
  const sep = original === "" || original.endsWith("\n") ? "" : "\n";
  return [{ offset: original.length, length: 0, content: `${sep}${SECTION_BEGIN}\n${body}${SECTION_END}\n` }];
}

/** Check edits are in bounds, sorted and non-overlapping (jsonc-parser's assertEdit discipline). */
export function assertEdits(text: string, edits: readonly Edit[]): void {
  let last = 0;
  for (const e of edits) {
    if (e.offset < 0 || e.length < 0 || e.offset + e.length > text.length)
      throw new SectionError(`edit out of bounds at ${e.offset}+${e.length}`);
    if (e.offset < last) throw new SectionError(`edits overlap or are unsorted at ${e.offset}`);
    last = e.offset + e.length;
  }
}

/** Apply edits (sorted, non-overlapping) in one pass. */
export function applyEdits(text: string, edits: readonly Edit[]): string {
  assertEdits(text, edits);
  let out = "";
  let pos = 0;
  for (const e of edits) {
    out += text.slice(pos, e.offset) + e.content;
    pos = e.offset + e.length;
  }
  return out + text.slice(pos);
}
