import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { COMMANDS } from "../../src/cli/index.js";
import { REPO_ROOT } from "../helpers/cli.js";

const MAN_DIR = join(REPO_ROOT, "man");
const PAGES = readdirSync(MAN_DIR)
  .filter((f) => f.endsWith(".8"))
  .sort();

const mandocAvailable = spawnSync("mandoc", ["-V"], { encoding: "utf8" }).error === undefined;

test(
  "every manual page passes mandoc -T lint -W warning",
  { skip: mandocAvailable ? false : "mandoc not installed (scripts/setup.sh installs it)" },
  () => {
    const problems: string[] = [];
    for (const page of PAGES) {
      const r = spawnSync("mandoc", ["-T", "lint", "-W", "warning", join(MAN_DIR, page)], {
        encoding: "utf8",
      });
      const out = `${r.stdout}${r.stderr}`.trim();
      if (r.status !== 0 || out !== "") problems.push(out || `${page}: mandoc exited ${r.status}`);
    }
    assert.deepEqual(problems, []);
  },
);

test(
  "the lint test can fail: mandoc reports a page with a warning",
  { skip: mandocAvailable ? false : "mandoc not installed" },
  () => {
    const broken =
      ".Dd November 30, 2026\n.Dt QJAIL-BROKEN 8\n.Os\n.Sh NAME\n.Nm qjail-broken\n.Nd x\n.Sh DESCRIPTION\nOne. Two.\n";
    const r = spawnSync("mandoc", ["-T", "lint", "-W", "warning"], { input: broken, encoding: "utf8" });
    assert.match(`${r.stdout}${r.stderr}`, /WARNING/);
  },
);

/** The `Fl` arguments of a page's SYNOPSIS: "z", "A", "-json", "-dyndns-url", … */
export function synopsisFlags(page: string): Set<string> {
  const lines = page.split("\n");
  const start = lines.indexOf(".Sh SYNOPSIS");
  assert.ok(start >= 0, "page has a SYNOPSIS");
  const end = lines.findIndex((l, i) => i > start && l.startsWith(".Sh "));
  const flags = new Set<string>();
  for (const line of lines.slice(start + 1, end < 0 ? undefined : end)) {
    const words = line.replace(/^\./, "").split(/\s+/);
    words.forEach((w, i) => {
      if (w !== "Fl") return;
      // `Fl k | K | y` and `Fl kK` both declare each letter.
      for (let j = i + 1; j < words.length; j++) {
        const arg = words[j] as string;
        if (arg === "|" || arg === ",") continue;
        if (/^[A-Z][a-z]$/.test(arg) && arg !== "Fl") break;
        if (arg === "Fl") break;
        if (arg.startsWith("-")) flags.add(arg);
        else for (const ch of arg) flags.add(ch);
      }
    });
  }
  return flags;
}

test("each command's SYNOPSIS mentions every option its definition declares", () => {
  const missing: string[] = [];
  for (const c of COMMANDS) {
    const file = `qjail-${c.path.join("-")}.8`;
    const flags = synopsisFlags(readFileSync(join(MAN_DIR, file), "utf8"));
    for (const [long, spec] of Object.entries(c.options)) {
      const short = spec.short;
      if (!(flags.has(`-${long}`) || (short !== undefined && flags.has(short)))) {
        missing.push(`${file}: ${short ? `-${short} or ` : ""}--${long}`);
      }
    }
    if (c.json && !flags.has("-json")) missing.push(`${file}: --json`);
  }
  assert.deepEqual(missing, []);
});

test("the synopsis reader sees grouped, alternated and long flags", () => {
  const page = [
    ".Sh SYNOPSIS",
    ".Nm qjail",
    ".Op Fl kK",
    ".Fl r | R Ar x",
    ".Op Fl -dyndns-url Ar url",
    ".Sh DESCRIPTION",
    ".Fl q",
  ].join("\n");
  assert.deepEqual([...synopsisFlags(page)].sort(), ["-dyndns-url", "K", "R", "k", "r"]);
});

test("qjail.8 lists every command and names every one's page", () => {
  const overview = readFileSync(join(MAN_DIR, "qjail.8"), "utf8");
  for (const c of COMMANDS) {
    const words = c.path.join(" ");
    assert.match(overview, new RegExp(`^\\.Cm ${words}$`, "m"), `qjail.8 SYNOPSIS: ${words}`);
    assert.match(
      overview,
      new RegExp(`^\\.Xr qjail-${c.path.join("-")} 8`, "m"),
      `qjail.8 SEE ALSO: qjail-${c.path.join("-")}`,
    );
  }
});

test(
  "every page is clean at mandoc's STYLE level too, but for references to pages not installed here (newcomer P14)",
  { skip: mandocAvailable ? false : "mandoc not installed (scripts/setup.sh installs it)" },
  () => {
    const notes: string[] = [];
    for (const page of PAGES) {
      const r = spawnSync("mandoc", ["-T", "lint", "-W", "style", join(MAN_DIR, page)], { encoding: "utf8" });
      for (const line of `${r.stdout}${r.stderr}`.split("\n"))
        // Which pages exist is the host's business (on FreeBSD after install, all of them do).
        if (line.trim() !== "" && !/referenced manual not found|outdated mandoc\.db/.test(line))
          notes.push(line);
    }
    assert.deepEqual(notes, []);
    // A bare .Os, as FreeBSD's own pages have: mandoc on FreeBSD prints the running release
    // ("FreeBSD 14.1") in the footer; groff elsewhere prints "BSD" (newcomer P14: decided so).
    assert.deepEqual(
      PAGES.filter((p) => !/^\.Os$/m.test(readFileSync(join(MAN_DIR, p), "utf8"))),
      [],
    );
  },
);

/** A page's examples: its .Dl lines and the lines of its literal displays, unescaped. */
function pageExamples(text: string): string[] {
  const out: string[] = [];
  let literal = false;
  for (const raw of text.split("\n")) {
    if (raw.startsWith(".Bd -literal")) literal = true;
    else if (raw.startsWith(".Ed")) literal = false;
    else if (raw.startsWith(".Dl ")) out.push(raw.slice(4));
    else if (literal && !raw.startsWith(".")) out.push(raw);
  }
  return out.map((l) => l.replace(/\\&/g, "").replace(/\\-/g, "-").replace(/\\e/g, "\\").trim());
}

test("every example 'qjail help COMMAND' shows is in the command's manual page (newcomer C14)", () => {
  const missing: string[] = [];
  // A trailing redirection of the output is the example's, not the command's.
  const bare = (s: string): string => s.replace(/\s+>\s+\S+$/, "").trim();
  for (const c of COMMANDS) {
    const page = `qjail-${c.path.join("-")}.8`;
    const have = pageExamples(readFileSync(join(MAN_DIR, page), "utf8")).map(bare);
    for (const ex of c.examples) if (!have.includes(bare(ex.command))) missing.push(`${page}: ${ex.command}`);
  }
  assert.deepEqual(missing, []);
});
