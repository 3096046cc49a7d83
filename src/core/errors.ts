/**
 * The three kinds of failure qjail distinguishes. The mapping to exit codes and
 * to what is printed lives only in `src/cli/main.ts`.
 *
 * - {@link UsageError}: the user's input is wrong or the request is refused
 *   (bad name, duplicate port, jail running). Nothing was changed. Printed
 *   without a stack trace; exit 3, qjail's own error status.
 * - {@link ExitError}: the command already told the user what happened and
 *   only wants a particular exit status.
 * - anything else: a bug. main prints the stack and asks for a report.
 */

/** Stable message codes: QJ1xxx core, QJ2xxx linux backend, QJ3xxx expose/firewall,
 *  QJ4xxx IPFilter diagnostics, QJ5xxx diagnostics/demo, QJ6xxx reliability. */
export type MessageCode = `QJ${number}`;

export class UsageError extends Error {
  readonly code: MessageCode;
  /** What the user can do next, printed on its own line after the message. */
  readonly hint: string | undefined;
  constructor(code: MessageCode, message: string, hint?: string) {
    super(message);
    this.name = "UsageError";
    this.code = code;
    this.hint = hint;
  }
}

export class ExitError extends Error {
  readonly exitCode: number;
  constructor(exitCode: number, message = `exit ${exitCode}`) {
    super(message);
    this.name = "ExitError";
    this.exitCode = exitCode;
  }
}

/** qjail's documented exit statuses (docs/qjail-5.md §3). */
export const EXIT_OK = 0;
export const EXIT_NOT_ROOT = 2;
export const EXIT_ERROR = 3;
/** A bug in qjail itself (sysexits EX_SOFTWARE). */
export const EXIT_INTERNAL = 70;

/** Quote a user-supplied value for an error message so spaces, newlines and empty strings show. */
export function shown(value: string): string {
  return JSON.stringify(value);
}
