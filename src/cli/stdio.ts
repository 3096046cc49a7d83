import { fstatSync, writeSync } from "node:fs";
import type { Writable } from "node:stream";

/**
 * process.stdout and process.stderr without their cost when a command only
 * writes text. Reading process.stdout makes node load its stream modules
 * (some twenty of them, ~8 ms of `qjail list`'s start-up); `node -e 0` never
 * does. The stand-in returned here writes with fs.writeSync while the file
 * descriptor is a regular file or a character device (a terminal, /dev/null),
 * which is what node's own stream does for those (synchronously, the same
 * bytes). Anything else — a pipe or socket, a listener, pipe(), isTTY, a
 * write that fails — takes the real stream (`real()`), and from then on every
 * call goes to it, so the order of the output is kept.
 */
export interface LazyStdio {
  stream: Writable;
  /** Whether the real stream was taken and still holds unwritten output. */
  pending(): boolean;
}

export function lazyStdio(fd: number, real: () => Writable): LazyStdio {
  let taken: Writable | undefined;
  let direct: boolean | undefined;
  const take = (): Writable => (taken ??= real());
  const directOk = (): boolean => {
    if (direct === undefined) {
      try {
        const st = fstatSync(fd);
        direct = st.isFile() || st.isCharacterDevice();
      } catch {
        direct = false;
      }
    }
    return direct;
  };
  function write(chunk: unknown, ...rest: unknown[]): boolean {
    if (taken === undefined && typeof chunk === "string" && rest.length === 0 && directOk()) {
      const bytes = Buffer.from(chunk, "utf8");
      let done = 0;
      try {
        while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done);
        return true;
      } catch {
        // EAGAIN (a terminal left non-blocking by another program), a full disk…: the real
        // stream writes the rest and reports a failure as it always did.
        return take().write(bytes.subarray(done));
      }
    }
    return (take().write as (...a: unknown[]) => boolean)(chunk, ...rest);
  }
  const stream = new Proxy({} as Writable, {
    get(_, key) {
      if (key === "write" && taken === undefined) return write;
      const r = take();
      const v = Reflect.get(r, key, r) as unknown;
      return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(r) : v;
    },
    set: (_, key, value) => Reflect.set(take(), key, value),
    has: (_, key) => key in take(),
    getPrototypeOf: () => Object.getPrototypeOf(take()) as object | null,
  });
  return { stream, pending: () => taken !== undefined && taken.writableLength > 0 };
}
