/**
 * B4: every example qjail shows — in `qjail help COMMAND` and in the manual
 * pages — is safe to paste into sh: no unquoted redirection, pipe, command
 * separator, substitution or glob, and the words parse as the command they
 * name (registered command, known options).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { COMMANDS, findCommand } from "../../src/cli/index.js";
import { parseInvocation } from "../../src/cli/command.js";
import { REPO_ROOT } from "../helpers/cli.js";

/**
 * Split a line into words as sh would (quotes, backslashes), with its
 * operators (|, ||, &&, ;, >, >>, <) as words of their own, and list what sh
 * would do that the writer cannot have meant: a redirection glued to a word
 * (the `->` of fw trace: `-> :6188` is `-` and a file named `:6188`), a
 * substitution, a glob, a comment. A spaced `> FILE` or `| qjail …` is meant.
 */
export function shellWords(line: string): { words: string[]; hazards: string[] } {
  const words: string[] = [];
  const hazards: string[] = [];
  let word: string | undefined;
  let i = 0;
  const add = (c: string): void => {
    word = (word ?? "") + c;
  };
  const end = (): void => {
    if (word !== undefined) words.push(word);
    word = undefined;
  };
  while (i < line.length) {
    const c = line[i] as string;
    if (c === "'") {
      const close = line.indexOf("'", i + 1);
      if (close < 0) {
        hazards.push("unterminated '");
        break;
      }
      word = (word ?? "") + line.slice(i + 1, close);
      i = close + 1;
    } else if (c === '"') {
      let j = i + 1;
      let text = "";
      while (j < line.length && line[j] !== '"') {
        if (line[j] === "\\" && j + 1 < line.length) j++;
        else if (line[j] === "$" || line[j] === "`") hazards.push(`${line[j]} inside "..."`);
        text += line[j];
        j++;
      }
      if (j >= line.length) hazards.push('unterminated "');
      word = (word ?? "") + text;
      i = j + 1;
    } else if (c === "\\") {
      add(line[i + 1] ?? "");
      i += 2;
    } else if (c === " " || c === "\t") {
      end();
      i++;
    } else if ("<>|&;".includes(c)) {
      if ((c === ">" || c === "<") && word !== undefined) hazards.push(`${word}${c} glued: a redirection`);
      end();
      const op = /^(\|\||&&|>>|[|;&<>])/.exec(line.slice(i))?.[1] as string;
      if (op === "&") hazards.push("unquoted & runs it in the background");
      words.push(op);
      i += op.length;
    } else {
      if (c === "`") hazards.push("unquoted `");
      if (c === "$" && line[i + 1] === "(") hazards.push("unquoted $(");
      if ("*?[".includes(c)) hazards.push(`unquoted glob ${c}`);
      if (c === "#" && word === undefined) hazards.push("unquoted # starts a comment");
      add(c);
      i++;
    }
  }
  end();
  return { words, hazards };
}

/** The commands of a pipeline or list, each without its redirections. */
export function shellCommands(words: readonly string[]): string[][] {
  const out: string[][] = [[]];
  for (let i = 0; i < words.length; i++) {
    const w = words[i] as string;
    if (["|", "||", "&&", ";"].includes(w)) out.push([]);
    else if ([">", ">>", "<"].includes(w)) i++;
    else out[out.length - 1]!.push(w);
  }
  return out.filter((c) => c.length > 0);
}

/** Every example: help's (per command) and the manual pages' .Dl lines and literal blocks. */
function examples(): { where: string; line: string }[] {
  const out: { where: string; line: string }[] = [];
  for (const c of COMMANDS)
    for (const ex of c.examples) out.push({ where: `help ${c.path.join(" ")}`, line: ex.command });
  const man = join(REPO_ROOT, "man");
  for (const page of readdirSync(man).filter((f) => f.endsWith(".8"))) {
    const lines = readFileSync(join(man, page), "utf8").split("\n");
    let literal = false;
    for (const raw of lines) {
      if (raw.startsWith(".Bd -literal")) literal = true;
      else if (raw.startsWith(".Ed")) literal = false;
      const text = raw.startsWith(".Dl ") ? raw.slice(4) : literal && !raw.startsWith(".") ? raw : undefined;
      if (text === undefined) continue;
      const line = text.replace(/\\&/g, "").replace(/\\-/g, "-").replace(/\\e/g, "\\").trim();
      if (/^qjail\s/.test(line)) out.push({ where: `man/${page}`, line });
    }
  }
  return out;
}

test("the shell-word reader sees the fw trace trap and accepts quoted arrows and meant pipelines", () => {
  assert.deepEqual(shellWords("qjail fw trace tcp 1.2.3.4:5 -> :6188 on em0").hazards, [
    "-> glued: a redirection",
  ]);
  const quoted = shellWords("qjail fw trace tcp 1.2.3.4:5 '->' :6188 on em0");
  assert.deepEqual(quoted.hazards, []);
  assert.equal(quoted.words[5], "->");
  assert.deepEqual(shellWords("qjail list web*").hazards, ["unquoted glob *"]);
  assert.deepEqual(shellWords(`qjail console -c "id; hostname" www`).words.slice(3), ["id; hostname", "www"]);
  const pipe = shellWords("qjail export > host.yml && qjail export | qjail apply --check -");
  assert.deepEqual(pipe.hazards, []);
  assert.deepEqual(shellCommands(pipe.words), [
    ["qjail", "export"],
    ["qjail", "export"],
    ["qjail", "apply", "--check", "-"],
  ]);
});

test("every example in help and the manual pages is safe to paste into sh and parses as its command", () => {
  const all = examples();
  assert.ok(all.length > 60, `found ${all.length} examples`);
  const problems: string[] = [];
  const ctx = {
    stdout: new PassThrough(),
    stderr: new PassThrough(),
    env: {},
    cwd: "/",
    now: () => new Date(),
    isTTY: false,
  };
  for (const { where, line } of all) {
    const { words, hazards } = shellWords(line);
    if (hazards.length > 0) problems.push(`${where}: ${line}: ${hazards.join(", ")}`);
    for (const cmd of shellCommands(words)) {
      if (cmd[0] !== "qjail") continue;
      const argv = cmd.slice(1).filter((w, i, a) => !(w === "--root" || a[i - 1] === "--root"));
      const leading: string[] = [];
      while (argv[0] !== undefined && ["--dry-run", "--json"].includes(argv[0])) leading.push(argv.shift()!);
      const found = findCommand(argv);
      if (!found) {
        problems.push(`${where}: ${line}: not a qjail command`);
        continue;
      }
      try {
        parseInvocation(found.def, [...found.rest, ...leading], ctx);
      } catch (e) {
        problems.push(`${where}: ${line}: ${(e as Error).message}`);
      }
    }
  }
  assert.deepEqual(problems, []);
});
