/**
 * src/cli/stdio.ts: the stand-ins for process.stdout/stderr write plain text
 * straight to a file or terminal, and hand everything else to the real
 * stream, for good once it was taken, so output keeps its order.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { closeSync, openSync, readFileSync } from "node:fs";
import { Writable } from "node:stream";
import { join } from "node:path";
import { lazyStdio } from "../../src/cli/stdio.js";
import { tempDir } from "../helpers/cli.js";

/** A stand-in over `fd` whose real stream records what it gets and counts how often it was made. */
function standIn(fd: number) {
  let text = "";
  let made = 0;
  const real = new Writable({
    write(chunk, _enc, cb) {
      text += String(chunk);
      cb();
    },
  });
  (real as Writable & { isTTY?: boolean }).isTTY = false;
  const out = lazyStdio(fd, () => {
    made++;
    return real;
  });
  return { out, real, text: () => text, made: () => made };
}

test("to a file: plain writes go to the descriptor; the real stream is made only when asked for more", () => {
  const t = tempDir(`qjail-stdio-${process.pid}-`);
  const file = join(t.dir, "out");
  const fd = openSync(file, "w");
  try {
    const s = standIn(fd);
    assert.equal(s.out.stream.write("one\n"), true);
    assert.equal(s.out.stream.write("héllo\n"), true);
    assert.equal(s.made(), 0, "no stream made for plain writes");
    assert.equal(readFileSync(file, "utf8"), "one\nhéllo\n");
    assert.equal(s.out.pending(), false);
    // isTTY (or a listener, pipe()…) takes the real stream; every later write goes there.
    assert.equal((s.out.stream as Writable & { isTTY?: boolean }).isTTY, false);
    assert.equal(s.made(), 1);
    s.out.stream.write("two\n");
    assert.equal(s.text(), "two\n");
    assert.equal(readFileSync(file, "utf8"), "one\nhéllo\n");
    s.out.stream.on("error", () => undefined);
    assert.equal(s.real.listenerCount("error"), 1);
    assert.equal(s.made(), 1, "made once");
  } finally {
    closeSync(fd);
    t.cleanup();
  }
});

test("a write with an encoding, or to anything but a file or terminal: the real stream from the start", () => {
  const t = tempDir(`qjail-stdio-${process.pid}-`);
  const file = openSync(join(t.dir, "out"), "w");
  // A directory stands in for a pipe or socket: neither a regular file nor a character device.
  const dir = openSync(t.dir, "r");
  try {
    const s = standIn(file);
    s.out.stream.write("x\n", "utf8");
    assert.equal(s.made(), 1);
    assert.equal(s.text(), "x\n");
    assert.equal(readFileSync(join(t.dir, "out"), "utf8"), "");
    const d = standIn(dir);
    d.out.stream.write("y\n");
    assert.equal(d.made(), 1);
    assert.equal(d.text(), "y\n");
  } finally {
    closeSync(file);
    closeSync(dir);
    t.cleanup();
  }
});
