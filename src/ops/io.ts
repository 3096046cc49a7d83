import type { Writable } from "node:stream";

/** What a use case may write to and read from its caller: a stream for warnings and the environment. */
export interface OpsIo {
  stderr: Writable;
  env: Readonly<Record<string, string | undefined>>;
}

/** Write one line (a newline is added unless the text ends with one). */
export function writeLine(stream: Writable, text: string): void {
  stream.write(text.endsWith("\n") || text === "" ? text : text + "\n");
}
