import { listCommand } from "./commands/list.js";
import { dispatch, processCtx } from "./dispatch.js";

export { outputPending } from "./dispatch.js";

/**
 * The entry point of dist/qjail-list.cjs, the bundle bin/qjail.js loads for
 * `qjail list`: the same dispatcher with only the list command, so `list`
 * loads none of the other commands and no backend. It must answer exactly as
 * the whole CLI does (test/build/startup.test.ts compares the two).
 */
export function main(argv: readonly string[]): Promise<number> {
  return dispatch([listCommand], argv, processCtx());
}
