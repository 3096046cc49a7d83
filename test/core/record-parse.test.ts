import { test } from "node:test";
import assert from "node:assert/strict";
import { emptyRecord, formatRecord, parseRecord } from "../../src/core/record.js";

/**
 * parseRecord reads a record qjail wrote (only key="value" lines) in one quick pass and
 * anything else line by line. Both must give the same record and the same problems: each
 * text below is parsed as it is (quick pass) and with a comment line appended, which sends
 * it down the line-by-line path without changing what it says or its line numbers.
 */
function written(): string {
  const r = emptyRecord();
  r.name = "web";
  r.ip4 = "lo1|10.0.0.5,10.0.0.6";
  r.ip6 = "fd00::5";
  r.path = "/usr/jails/web";
  r.interface = "lo1";
  r.deffile = "/usr/local/etc/qjail.local/web";
  return formatRecord(r);
}

const TEXTS: Record<string, string> = {
  "as qjail writes it": written(),
  "without the last newline": written().slice(0, -1),
  empty: "",
  "an unknown key": `${written()}colour="blue"\n`,
  "a key twice (the last wins)": `${written()}ip4="10.9.9.9"\n`,
  "no name": written().replace(/^name="web"\n/, ""),
  "no path": written().replace(/\npath="[^"]*"/, ""),
  "keys in another order than qjail writes them": `${written().trimEnd().split("\n").reverse().join("\n")}\n`,
  "keys that start like the expected one": written().replace(
    'name="web"',
    'names="web"\nnam="web"\nname="web"',
  ),
  "a key left out, then the rest in order": written().replace(/\nip6="[^"]*"/, ""),
  "rctl set": written().replace(/\n$/, '\nrctl="memoryuse=1g"\n'),
  "a value with a space, tab and carriage return inside": written().replace(
    'ip6="fd00::5"',
    'ip6="a b\tc\rd"',
  ),
};

for (const [what, text] of Object.entries(TEXTS)) {
  test(`record parsing, ${what}: the quick pass and the line-by-line path agree`, () => {
    const quick = parseRecord(text);
    const slow = parseRecord(`${text}${text === "" || text.endsWith("\n") ? "" : "\n"}# comment\n`);
    assert.deepEqual(quick, slow);
  });
}

test("record parsing: what a written record says comes back, and damage is still reported", () => {
  const { record, problems } = parseRecord(written());
  assert.deepEqual(problems, []);
  assert.equal(record.ip4, "lo1|10.0.0.5,10.0.0.6");
  assert.equal(record.path, "/usr/jails/web");
  assert.deepEqual(parseRecord(`${written()}colour="blue"\n`).problems, [
    { line: written().split("\n").length, message: 'unknown key "colour"' },
  ]);
  // Not key="value" lines: a leading space, a backquote, a NUL byte in a value.
  assert.equal(parseRecord(` ${written()}`).record.name, "web");
  assert.match(parseRecord(`${written()}x="a\`b"\n`).problems[0]?.message ?? "", /not a key="value" line/);
  assert.match(parseRecord(`${written()}tmpfs="a\0b"\n`).problems[0]?.message ?? "", /NUL byte/);
});
