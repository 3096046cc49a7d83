import { test } from "node:test";
import assert from "node:assert/strict";
import {
  applyEdits,
  assertEdits,
  readSection,
  sectionEdits,
  SectionError,
  SECTION_BEGIN,
  SECTION_END,
} from "../../src/firewall/managed-section.js";

const ADMIN = [
  "# /etc/ipnat.rules, by the admin",
  "map rl0 192.168.1.0/24 -> 0/32",
  "",
  "   # odd spacing kept",
  "rdr rl0 0/0 port 2222 -> 192.168.1.5 port 22 tcp",
].join("\n");

test("no section yet: appended at the end, a newline added only where the admin's file lacks one", () => {
  const edits = sectionEdits(ADMIN, "rdr rl0 0/0 port 6188 -> 10.0.0.3 port 80 tcp\n");
  assertEdits(ADMIN, edits);
  assert.equal(
    applyEdits(ADMIN, edits),
    `${ADMIN}\n${SECTION_BEGIN}\nrdr rl0 0/0 port 6188 -> 10.0.0.3 port 80 tcp\n${SECTION_END}\n`,
  );
  assert.equal(applyEdits("", sectionEdits("", "x\n")), `${SECTION_BEGIN}\nx\n${SECTION_END}\n`);
});

test("an existing section is replaced in place; every byte around it is the admin's", () => {
  const original = `${ADMIN}\n${SECTION_BEGIN}\nold rule\n${SECTION_END}\n# admin's tail\npass in all\n`;
  const edits = sectionEdits(original, "new rule 1\nnew rule 2");
  assert.equal(edits.length, 1);
  assert.equal(
    applyEdits(original, edits),
    `${ADMIN}\n${SECTION_BEGIN}\nnew rule 1\nnew rule 2\n${SECTION_END}\n# admin's tail\npass in all\n`,
  );
  assert.equal(readSection(applyEdits(original, edits)), "new rule 1\nnew rule 2\n");
  assert.deepEqual(
    sectionEdits(applyEdits(original, edits), "new rule 1\nnew rule 2\n"),
    [],
    "no edit when nothing changes",
  );
  assert.equal(
    applyEdits(original, sectionEdits(original, "")),
    `${ADMIN}\n${SECTION_BEGIN}\n${SECTION_END}\n# admin's tail\npass in all\n`,
  );
});

test("markers moved by the admin into the middle of the file stay where they are", () => {
  const original = `block in all\n${SECTION_BEGIN}\n${SECTION_END}\npass out all\n`;
  assert.equal(
    applyEdits(original, sectionEdits(original, "rule\n")),
    `block in all\n${SECTION_BEGIN}\nrule\n${SECTION_END}\npass out all\n`,
  );
});

test("damaged markers are refused rather than guessed", () => {
  assert.throws(() => sectionEdits(`${SECTION_BEGIN}\nx\n`, "y\n"), SectionError);
  assert.throws(
    () => sectionEdits(`${SECTION_BEGIN}\n${SECTION_END}\n${SECTION_BEGIN}\n${SECTION_END}\n`, "y\n"),
    SectionError,
  );
  assert.throws(() => sectionEdits(`${SECTION_END}\nx\n${SECTION_BEGIN}\n`, "y\n"), SectionError);
});

test("applyEdits refuses overlapping, unsorted and out-of-bounds edits", () => {
  assert.throws(
    () =>
      applyEdits("abcdef", [
        { offset: 2, length: 2, content: "" },
        { offset: 3, length: 1, content: "" },
      ]),
    /overlap/,
  );
  assert.throws(
    () =>
      applyEdits("abcdef", [
        { offset: 4, length: 0, content: "" },
        { offset: 1, length: 0, content: "" },
      ]),
    /overlap or are unsorted/,
  );
  assert.throws(() => applyEdits("abc", [{ offset: 2, length: 5, content: "" }]), /out of bounds/);
  assert.equal(
    applyEdits("abcdef", [
      { offset: 1, length: 1, content: "X" },
      { offset: 4, length: 0, content: "Y" },
    ]),
    "aXcdYef",
  );
});
