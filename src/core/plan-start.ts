import type { Plan, Step } from "./plan.js";
import { recordFileName } from "./record.js";
import { writeRecordSteps } from "./jail.js";
import type { JailSpec, LiveJail } from "./jail.js";

/**
 * What `qjail start` / `restart` does with each selected jail
 * (docs/qjail-5.md §4.4), decided from the records and one look at the running
 * jails. Pure: the command executes the decisions through the platform.
 *
 * - `.norun` jails are skipped ("Bypassed norun status <file>");
 * - `.man` jails are started: only the boot script skips them;
 * - start on a running jail: "Jail already running.      <name>";
 * - restart on a stopped jail: "Jail already stopped.      <name>", and it
 *   stays stopped, as in qjail.
 */
export type LifecycleDecision =
  | { jail: JailSpec; action: "start" | "stop" | "restart" }
  | { jail: JailSpec; action: "skip"; message: string };

export type LifecycleVerb = "start" | "stop" | "restart";

export function decideLifecycle(
  verb: LifecycleVerb,
  jails: readonly JailSpec[],
  live: ReadonlyMap<string, LiveJail>,
): LifecycleDecision[] {
  return jails.map((jail): LifecycleDecision => {
    if (jail.status === "norun")
      return {
        jail,
        action: "skip",
        message: `Bypassed norun status ${recordFileName(jail.name, jail.status)}`,
      };
    const running = live.has(jail.name);
    if (verb === "start")
      return running
        ? { jail, action: "skip", message: `Jail already running.      ${jail.name}` }
        : { jail, action: "start" };
    return running
      ? { jail, action: verb }
      : { jail, action: "skip", message: `Jail already stopped.      ${jail.name}` };
  });
}

/**
 * After the first successful start of a jail created with `create -c`, the
 * one-time `exec.poststart` (pw adduser) is cleared: the record gets
 * `poststartssh=""` (local and global copy) and the line leaves the
 * jail.conf block, so a restart does not add the user again. Undefined when
 * there is nothing to clear. `confText` is the current block; every other
 * line of it is kept byte for byte.
 */
export function planClearPoststartssh(jail: JailSpec, confText: string): Plan | undefined {
  if (jail.record.poststartssh === "") return undefined;
  const record = { ...jail.record, poststartssh: "" };
  const conf = confText
    .split("\n")
    .filter((line) => !/^\s*exec\.poststart\s*\+?=/.test(line))
    .join("\n");
  const steps: Step[] = [
    ...writeRecordSteps({ ...jail, record }),
    { kind: "writeFile", path: jail.confPath, content: conf },
  ];
  return { title: `clear the one-time ssh user set-up of ${jail.name}`, steps };
}
