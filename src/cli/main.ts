import type { Ctx } from "./context.js";
import { COMMANDS } from "./index.js";
import { dispatch, processCtx } from "./dispatch.js";

export { outputPending } from "./dispatch.js";

/** Run qjail with every command (tests call this with captured streams). */
export function run(argv: readonly string[], ctx: Ctx): Promise<number> {
  return dispatch(COMMANDS, argv, ctx);
}

/** Entry point for bin/qjail.js (the bundle dist/qjail.cjs): real streams, real environment. */
export function main(argv: readonly string[]): Promise<number> {
  return run(argv, processCtx());
}
