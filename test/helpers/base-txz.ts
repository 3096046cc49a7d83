import { mkdirSync, writeFileSync, symlinkSync, chmodSync } from "node:fs";
import { join, dirname } from "node:path";
import { execFileSync } from "node:child_process";
import { tempDir } from "./cli.js";

/**
 * A tiny base.txz with FreeBSD's directory layout, built with `tar -cJf`
 * (argv, no shell): a file or two in each directory qjail install moves to
 * sharedfs, drops (boot, rescue, usr/games) or keeps in the template (etc,
 * var, root), FreeBSD's `sys -> usr/src/sys` link and an etc/ssh/sshd_config
 * for the one-time ssh edits. Returns the directory holding base.txz.
 */
export const BASE_FILES: Record<string, string> = {
  "bin/sh": "#!/bin/sh shell stand-in\n",
  "bin/ls": "ls stand-in\n",
  "lib/libc.so.7": "libc stand-in\n",
  "libexec/ld-elf.so.1": "rtld stand-in\n",
  "sbin/init": "init stand-in\n",
  "usr/bin/login": "login stand-in\n",
  "usr/include/stdio.h": "/* stdio */\n",
  "usr/lib/libutil.so.9": "libutil stand-in\n",
  "usr/lib32/libc.so.7": "lib32 libc stand-in\n",
  "usr/libdata/pkgconfig/libc.pc": "Name: libc\n",
  "usr/libexec/sftp-server": "sftp stand-in\n",
  "usr/sbin/sshd": "sshd stand-in\n",
  "usr/share/misc/termcap": "termcap stand-in\n",
  "usr/src/README": "src placeholder\n",
  "usr/games/fortune": "fortune stand-in\n",
  "boot/kernel/kernel": "kernel stand-in\n",
  "rescue/sh": "rescue sh\n",
  "etc/rc.conf": "# base rc.conf\n",
  "etc/rc": "#!/bin/sh\n# rc stand-in\n",
  "etc/ssh/sshd_config": "# base sshd_config\n",
  "etc/master.passwd": "root:*:0:0::0:0:Charlie &:/root:/bin/csh\n",
  "var/log/messages": "",
  "root/.profile": "PATH=/bin:/usr/bin\n",
  "usr/local/.keep": "",
  "usr/home/.keep": "",
};

export function buildBaseTxz(): { dir: string; cleanup: () => void } {
  const src = tempDir(`qjail-base-src-${process.pid}-`);
  const out = tempDir(`qjail-base-${process.pid}-`);
  try {
    for (const [rel, content] of Object.entries(BASE_FILES)) {
      const p = join(src.dir, rel);
      mkdirSync(dirname(p), { recursive: true });
      writeFileSync(p, content);
    }
    chmodSync(join(src.dir, "bin/sh"), 0o555);
    mkdirSync(join(src.dir, "tmp"), { recursive: true });
    chmodSync(join(src.dir, "tmp"), 0o1777);
    symlinkSync("usr/src/sys", join(src.dir, "sys"));
    execFileSync("tar", ["-cJf", join(out.dir, "base.txz"), "-C", src.dir, "."]);
  } finally {
    src.cleanup();
  }
  return out;
}
