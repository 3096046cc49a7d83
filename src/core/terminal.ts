/**
 * Strings a jail chooses (process names, console log lines, listener
 * addresses) reach the admin's terminal through status, list and error
 * messages. Escaped here first: C0 and C1 control characters (ESC starts
 * every terminal escape sequence; BEL, CR, BS rewrite what is shown), DEL,
 * and the bidirectional overrides that reorder text on screen. Printable
 * text, newlines of our own and non-Latin letters stay as they are.
 */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const UNSAFE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/gu;

export function escapeForTerminal(text: string, opts: { keepNewlines?: boolean } = {}): string {
  const out = text.replace(UNSAFE, (c) => {
    const code = c.codePointAt(0) as number;
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, "0")}` : `\\u{${code.toString(16)}}`;
  });
  // \t and \n pass the pattern above; a one-line field must not break the layout either
  return opts.keepNewlines ? out : out.replace(/[\t\n]/g, (c) => (c === "\t" ? "\\t" : "\\n"));
}
