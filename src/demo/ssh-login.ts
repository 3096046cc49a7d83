import { spawn } from "node:child_process";
import { promises as fsp } from "node:fs";
import { join } from "node:path";
import { inNs } from "./netns.js";

/**
 * The page's "Use login name of ssh and first time password of ssh. You will
 * be prompted to change the password", driven without a human: ssh gets its
 * passwords from an askpass helper (SSH_ASKPASS_REQUIRE=force), which answers
 * by the prompt's wording; a change that sshd runs as passwd(1) on the remote
 * pty (`-tt`) is answered on stdin the same way. Then a second login with the
 * new password proves the change took.
 */

export interface SshLoginResult {
  ok: boolean;
  /** Prompts seen, in order (askpass and terminal), for the report. */
  prompts: string[];
  detail: string;
}

const ASKPASS = (node: string): string => `#!${node}
const prompt = process.argv[2] || "";
require("node:fs").appendFileSync(process.env.QJ_DEMO_PROMPTS, prompt.replace(/\\s+/g, " ").trim() + "\\n");
const e = process.env;
const answer = /new|retype|again/i.test(prompt) ? e.QJ_DEMO_NEW : /current|old/i.test(prompt) ? e.QJ_DEMO_OLD : e.QJ_DEMO_LOGIN;
process.stdout.write(answer + "\\n");
`;

function sshOnce(
  clientNs: string,
  target: { host: string; port: number; user: string },
  passwords: { login: string; old: string; next: string },
  files: { askpass: string; prompts: string },
  remoteCommand: string[],
): Promise<{ code: number; output: string; terminalPrompts: string[] }> {
  return new Promise((resolve) => {
    const argv = inNs(clientNs, [
      "ssh",
      "-tt",
      "-p",
      String(target.port),
      "-o",
      "StrictHostKeyChecking=no",
      "-o",
      "UserKnownHostsFile=/dev/null",
      "-o",
      "PubkeyAuthentication=no",
      "-o",
      "ConnectTimeout=10",
      "-o",
      "NumberOfPasswordPrompts=1",
      "-o",
      "LogLevel=ERROR",
      `${target.user}@${target.host}`,
      ...remoteCommand,
    ]);
    const child = spawn(argv[0] as string, argv.slice(1), {
      stdio: ["pipe", "pipe", "pipe"],
      env: {
        PATH: process.env.PATH,
        SSH_ASKPASS: files.askpass,
        SSH_ASKPASS_REQUIRE: "force",
        DISPLAY: ":0",
        QJ_DEMO_PROMPTS: files.prompts,
        QJ_DEMO_LOGIN: passwords.login,
        QJ_DEMO_OLD: passwords.old,
        QJ_DEMO_NEW: passwords.next,
      },
    });
    let output = "";
    let pending = "";
    const terminalPrompts: string[] = [];
    const onData = (d: Buffer): void => {
      output += d.toString();
      pending += d.toString();
      // passwd(1) on the remote pty: answer each prompt once, by its wording
      const m =
        /((?:\(current\) UNIX |Current |current )password:|New password:|Retype new password:|Re-enter new password:|new password again:)\s*$/i.exec(
          pending,
        );
      if (!m) return;
      const prompt = m[1] as string;
      terminalPrompts.push(prompt);
      pending = "";
      child.stdin!.write(`${/current/i.test(prompt) ? passwords.old : passwords.next}\n`);
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    const timer = setTimeout(() => child.kill("SIGKILL"), 45000);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? 1, output, terminalPrompts });
    });
  });
}

export async function sshFirstLogin(
  clientNs: string,
  target: { host: string; port: number; user: string },
  firstPassword: string,
  workDir: string,
): Promise<SshLoginResult> {
  const askpass = join(workDir, "askpass.cjs");
  const prompts = join(workDir, "prompts.log");
  await fsp.writeFile(askpass, ASKPASS(process.execPath), { mode: 0o700 });
  await fsp.writeFile(prompts, "");
  const next = `Qj-${Math.random().toString(36).slice(2, 10)}-7`;
  const first = await sshOnce(
    clientNs,
    target,
    { login: firstPassword, old: firstPassword, next },
    { askpass, prompts },
    ["echo", "qjail-demo-first-login"],
  );
  const afterFirst = (await fsp.readFile(prompts, "utf8")).split("\n").filter((l) => l !== "");
  const changed = [...afterFirst, ...first.terminalPrompts].some((p) => /new password/i.test(p));
  const second = await sshOnce(clientNs, target, { login: next, old: next, next }, { askpass, prompts }, [
    "echo",
    "qjail-demo-logged-in",
  ]);
  const all = [
    ...(await fsp.readFile(prompts, "utf8")).split("\n").filter((l) => l !== ""),
    ...first.terminalPrompts,
    ...second.terminalPrompts,
  ];
  const loggedIn = second.output.includes("qjail-demo-logged-in");
  if (changed && loggedIn)
    return {
      ok: true,
      prompts: all,
      detail: `password changed at first login, then logged in with the new one`,
    };
  const tail = (s: string): string => JSON.stringify(s.trim().split("\n").slice(-3).join(" | "));
  if (!changed)
    return {
      ok: false,
      prompts: all,
      detail: `no password change was asked for (first login exit ${first.code}: ${tail(first.output)})`,
    };
  return {
    ok: false,
    prompts: all,
    detail: `login with the new password failed (exit ${second.code}: ${tail(second.output)})`,
  };
}
