/**
 * Stand-in for the qjail commands another developer has not registered yet
 * (install, create, delete): the same pieces the commands connect, driven
 * through the Linux platform API. test/linux/helpers/host.ts uses the real CLI
 * for every command src/cli/index.ts lists and this only for the others, so
 * the tests switch to the CLI by themselves as commands land.
 *
 * usage: driver.js ROOT COMMAND ARGS...  (run inside the test's host network namespace)
 */
import { readdirSync } from "node:fs";
import { parseArgs } from "node:util";
import { createLinuxPlatform } from "../../../src/platform/linux/index.js";
import { planLinuxInstall } from "../../../src/core/linux/install.js";
import { hostLayout, physical } from "../../../src/core/paths.js";
import {
  newJailRecord,
  specFromRecord,
  writeRecordSteps,
  removeRecordSteps,
} from "../../../src/core/jail.js";
import { readJails, selectJails } from "../../../src/store/jails.js";
import { RECORD_FLAG_VALUES } from "../../../src/core/record.js";
import { applyPlan } from "../../../src/platform/apply.js";
import { UsageError } from "../../../src/core/errors.js";

const [root, command, ...args] = process.argv.slice(2);
if (root === undefined || command === undefined) throw new Error("usage: driver.js ROOT COMMAND ARGS...");
const platform = createLinuxPlatform(root);
const layout = hostLayout();

async function jail(name: string) {
  const { jails } = await readJails(root as string, layout);
  const [spec] = selectJails(jails, [name]);
  if (!spec) throw new Error(`no jail ${name}`);
  return spec;
}

async function main(): Promise<number> {
  switch (command) {
    case "install": {
      const { values } = parseArgs({ args, options: { f: { type: "string", short: "f" } } });
      const base =
        values.f === undefined
          ? ({ kind: "host" } as const)
          : values.f.endsWith("/") || !/\.(tar|tgz|gz|xz|zst)$/.test(values.f)
            ? ({ kind: "directory", path: values.f } as const)
            : ({ kind: "tarball", path: values.f } as const);
      let existingFlavors: string[] = [];
      try {
        existingFlavors = readdirSync(physical(root as string, layout.flavors));
      } catch {
        existingFlavors = [];
      }
      await platform.apply(planLinuxInstall({ layout, root: root as string, base, existingFlavors }));
      console.log("Successfully installed qjail system.");
      return 0;
    }
    case "create": {
      const { values, positionals } = parseArgs({
        args,
        allowPositionals: true,
        options: {
          "4": { type: "string", short: "4" },
          "6": { type: "string", short: "6" },
          c: { type: "boolean", short: "c" },
          n: { type: "string", short: "n" },
        },
      });
      const name = positionals[0] as string;
      const record = newJailRecord(layout, {
        name,
        ip4: values["4"] ?? "",
        ip6: values["6"] ?? "",
        interface: values.n ?? (await platform.defaultJailInterface()),
        oneTimeSsh: values.c === true,
      });
      const spec = specFromRecord(layout, name, "normal", record);
      await applyPlan(
        {
          title: `create ${name}`,
          steps: [
            { kind: "copyTree", from: layout.template, to: spec.rootPath },
            { kind: "copyTree", from: `${layout.flavors}/default`, to: spec.rootPath, overwrite: true },
            ...writeRecordSteps(spec),
          ],
        },
        { root: root as string, runCommands: true },
      );
      console.log(`Successfully created  ${name}`);
      return 0;
    }
    case "start":
    case "stop":
    case "restart": {
      const spec = await jail(args[0] as string);
      const live = await platform.liveJails();
      if (command !== "start" && live.has(spec.name)) await platform.stop(spec);
      if (command !== "stop") {
        await platform.start(spec);
        if (spec.record.poststartssh === RECORD_FLAG_VALUES.poststartssh) {
          await applyPlan(
            {
              title: "clear poststartssh",
              steps: writeRecordSteps({ ...spec, record: { ...spec.record, poststartssh: "" } }),
            },
            { root: root as string, runCommands: false },
          );
        }
      }
      return 0;
    }
    case "console": {
      const { values, positionals } = parseArgs({
        args,
        allowPositionals: true,
        options: { u: { type: "string", short: "u" }, c: { type: "string", short: "c" } },
      });
      const spec = await jail(positionals[0] as string);
      return platform.console(spec, {
        ...(values.u ? { user: values.u } : {}),
        ...(values.c ? { command: values.c.split(/[ \t]+/).filter((w) => w !== "") } : {}),
      });
    }
    case "delete": {
      const spec = await jail(args[0] as string);
      if ((await platform.liveJails()).has(spec.name))
        throw new UsageError("QJ1999", `jail ${spec.name} is running`, "stop it");
      await platform.removeJailTree(spec.rootPath);
      await applyPlan(
        { title: "delete records", steps: removeRecordSteps(spec) },
        { root: root as string, runCommands: false },
      );
      return 0;
    }
    case "live": {
      console.log(JSON.stringify(Object.fromEntries(await platform.liveJails())));
      return 0;
    }
    default:
      throw new Error(`driver: unknown command ${command}`);
  }
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    const err = e as Error & { code?: string; hint?: string };
    console.error(
      e instanceof UsageError ? `qjail: ${err.code}: ${err.message}\n  ${err.hint ?? ""}` : err.stack,
    );
    process.exit(3);
  },
);
