/**
 * Crafted qjail archives for the reliability suite: gzip'd tars built member
 * by member with node-tar's Header, so hostile paths (absolute, with "..",
 * links out of the jail) are stored exactly as given.
 */
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import * as tar from "tar";

export interface TarMember {
  path: string;
  type?: "File" | "Directory" | "SymbolicLink" | "Link" | "CharacterDevice";
  content?: string;
  linkpath?: string;
  mode?: number;
}

/** A gzip'd tar built member by member with node-tar's Header, so paths are stored exactly as given. */
export function buildArchive(file: string, members: readonly TarMember[]): void {
  const blocks: Buffer[] = [];
  for (const m of members) {
    const type = m.type ?? "File";
    const body = Buffer.from(type === "File" ? (m.content ?? "") : "");
    const header = new tar.Header({
      path: m.path,
      type,
      mode: m.mode ?? (type === "Directory" ? 0o755 : 0o644),
      size: body.length,
      linkpath: m.linkpath ?? "",
      mtime: new Date("2026-11-30T12:00:00Z"),
      uid: 0,
      gid: 0,
      uname: "root",
      gname: "wheel",
      devmaj: type === "CharacterDevice" ? 1 : 0,
      devmin: type === "CharacterDevice" ? 3 : 0,
    });
    const block = Buffer.alloc(512);
    header.encode(block, 0);
    blocks.push(block);
    if (body.length > 0) {
      blocks.push(body);
      blocks.push(Buffer.alloc((512 - (body.length % 512)) % 512));
    }
  }
  blocks.push(Buffer.alloc(1024));
  const gz = spawnSync("gzip", ["-c"], { input: Buffer.concat(blocks) });
  writeFileSync(file, gz.stdout);
}

/** A qjail archive of jail "evil" as `qjail archive` makes it, plus `extra` members. */
export function evilArchive(
  extra: readonly TarMember[],
  recordOverride?: (text: string) => string,
): TarMember[] {
  const record = [
    'name="evil"',
    'ip4="10.0.0.66"',
    'ip6=""',
    'path="/usr/jails/evil"',
    'interface="lo1"',
    'fstab="/usr/local/etc/qjail.fstab/evil"',
    ...[
      "securelevel",
      "cpuset",
      "fib",
      "vnet",
      "vinterface",
      "rsockets",
      "ruleset",
      "sysvipc",
      "quotas",
      "nullfs",
      "tmpfs",
      "zfs",
      "poststartssh",
    ].map((k) => `${k}=""`),
    'deffile="/usr/local/etc/qjail.local/evil"',
    ...["image", "imagetype", "imageblockcount", "imagedevice"].map((k) => `${k}=""`),
    "",
  ].join("\n");
  const rec = recordOverride ? recordOverride(record) : record;
  return [
    {
      path: "/usr/local/etc/qjail.fstab/evil",
      content: "/usr/jails/sharedfs /usr/jails/evil/sharedfs nullfs ro 0 0\n",
    },
    {
      path: "/usr/local/etc/qjail.config/evil",
      content: 'evil {\nhost.hostname = "evil";\npath = "/usr/jails/evil";\n}\n',
    },
    { path: "/usr/local/etc/qjail.global/evil", content: rec },
    { path: "/usr/local/etc/qjail.local/evil", content: rec },
    { path: "/usr/jails/evil/", type: "Directory" },
    { path: "/usr/jails/evil/etc/", type: "Directory" },
    { path: "/usr/jails/evil/etc/rc.conf", content: 'sshd_enable="YES"\n' },
    ...extra,
  ];
}
