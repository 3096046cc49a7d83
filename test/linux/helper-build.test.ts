import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runProgram } from "../../src/platform/run.js";
import { REPO_ROOT } from "../helpers/cli.js";
import { linuxHelperBinary } from "../../src/platform/linux/index.js";

/**
 * The native helper ships prebuilt (share/linux/bin/linux-{x64,arm64}), so the
 * package runs where no compiler exists; these tests prove the shipped bytes
 * are what native/Makefile builds from the source in the repository.
 */

const ELF_MACHINE = { x64: 62, arm64: 183 } as const;

function elf(path: string): { machine: number; dynamic: boolean } {
  const b = readFileSync(path);
  assert.deepEqual([...b.subarray(0, 4)], [0x7f, 0x45, 0x4c, 0x46], `${path} is an ELF file`);
  const machine = b.readUInt16LE(18);
  // a program header of type PT_INTERP (3) means a dynamic loader would be read, maybe from a jail's tree
  const phoff = Number(b.readBigUInt64LE(32));
  const phentsize = b.readUInt16LE(54);
  const phnum = b.readUInt16LE(56);
  let dynamic = false;
  for (let i = 0; i < phnum; i++) if (b.readUInt32LE(phoff + i * phentsize) === 3) dynamic = true;
  return { machine, dynamic };
}

test("the shipped helpers are static executables for linux-x64 and linux-arm64", () => {
  for (const arch of ["x64", "arm64"] as const) {
    const path = join(REPO_ROOT, "share/linux/bin", `linux-${arch}`, "qjail-helper");
    const st = statSync(path);
    assert.ok((st.mode & 0o111) !== 0, `${path} is executable`);
    const e = elf(path);
    assert.equal(e.machine, ELF_MACHINE[arch], `${path} is built for ${arch}`);
    assert.equal(e.dynamic, false, `${path} needs no dynamic loader`);
  }
  if (process.platform === "linux" && (process.arch === "x64" || process.arch === "arm64"))
    assert.equal(
      linuxHelperBinary(),
      join(REPO_ROOT, "share/linux/bin", `linux-${process.arch}`, "qjail-helper"),
    );
  assert.throws(() => linuxHelperBinary("riscv64"), /QJ2050|native helper for linux-riscv64/);
});

test("native/Makefile rebuilds the shipped helpers byte for byte with the recorded toolchain", async (t) => {
  const recorded = readFileSync(join(REPO_ROOT, "native/toolchain.txt"), "utf8");
  const have = async (cc: string): Promise<string | undefined> => {
    const r = await runProgram([cc, "--version"]).catch(() => undefined);
    return r && r.code === 0 ? r.stdout.split("\n")[0] : undefined;
  };
  const gcc = await have("gcc");
  const cross = await have("aarch64-linux-gnu-gcc");
  const targets: string[] = [];
  if (gcc && recorded.includes(`x64: ${gcc} `)) targets.push("x64");
  if (cross && recorded.includes(`arm64: ${cross} `)) targets.push("arm64");
  if (targets.length === 0) {
    t.skip(
      `this machine's compilers (${gcc ?? "no gcc"}, ${cross ?? "no aarch64-linux-gnu-gcc"}) are not the recorded ones`,
    );
    return;
  }
  const out = mkdtempSync(join(tmpdir(), "qjail-helper-build-"));
  try {
    const r = await runProgram(["make", "-s", "-C", join(REPO_ROOT, "native"), `OUT=${out}`, ...targets], {
      timeoutMs: 120_000,
    });
    assert.equal(r.code, 0, r.stderr);
    for (const arch of targets) {
      const built = readFileSync(join(out, `linux-${arch}`, "qjail-helper"));
      const shipped = readFileSync(join(REPO_ROOT, "share/linux/bin", `linux-${arch}`, "qjail-helper"));
      assert.ok(
        built.equals(shipped),
        `share/linux/bin/linux-${arch}/qjail-helper is not what native/ builds: run make -C native`,
      );
    }
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});
