// Development entry for running the CLI from source under tsx (tests use it when not compiled).
import { main } from "./main.js";

process.exitCode = await main(process.argv.slice(2));
