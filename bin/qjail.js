#!/usr/bin/env node
// The published entry point. `npm run build` produces dist/qjail.mjs, one
// bundled module (scripts/bundle.mjs): loading it is several times faster
// than loading tsc's ~140 separate modules, which dominated qjail's start-up.
import { main } from "../dist/qjail.mjs";

process.exitCode = await main(process.argv.slice(2));
