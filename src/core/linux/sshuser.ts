import { createHash, randomBytes } from "node:crypto";

/**
 * The one-time ssh user of `create -c` (docs/qjail-5.md §5.3) for Linux jails:
 * login = jail name, password = jail name, primary group wheel, a home
 * directory, and a password change forced at first login. On FreeBSD a
 * jail.conf exec.poststart runs `pw adduser`; on Linux qjail writes the jail's
 * passwd, group and shadow itself at first start (lastchg 0 forces the change).
 */

const ITOA64 = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const SALT_CHARS = ITOA64;

function sha512(...parts: Buffer[]): Buffer {
  const h = createHash("sha512");
  for (const p of parts) h.update(p);
  return h.digest();
}

function repeatTo(source: Buffer, length: number): Buffer {
  const out = Buffer.alloc(length);
  for (let i = 0; i < length; i++) out[i] = source[i % source.length] as number;
  return out;
}

/**
 * SHA-512 crypt ("$6$", Ulrich Drepper's specification, glibc's default), the
 * hash the jail's shadow file holds. Default 5000 rounds, so the "rounds="
 * field is left out, as glibc does.
 */
export function sha512Crypt(password: string, salt: string): string {
  const P = Buffer.from(password, "utf8");
  const S = Buffer.from(salt.slice(0, 16), "utf8");
  const B = sha512(P, S, P);
  const a = createHash("sha512").update(P).update(S).update(repeatTo(B, P.length));
  for (let n = P.length; n > 0; n >>= 1) a.update(n & 1 ? B : P);
  const A = a.digest();
  const DP = sha512(...Array<Buffer>(P.length).fill(P));
  const Pseq = repeatTo(DP, P.length);
  const DS = sha512(...Array<Buffer>(16 + (A[0] as number)).fill(S));
  const Sseq = repeatTo(DS, S.length);
  let C = A;
  for (let i = 0; i < 5000; i++) {
    const h = createHash("sha512");
    h.update(i & 1 ? Pseq : C);
    if (i % 3) h.update(Sseq);
    if (i % 7) h.update(Pseq);
    h.update(i & 1 ? C : Pseq);
    C = h.digest();
  }
  let out = "";
  const emit = (b2: number, b1: number, b0: number, n: number): void => {
    let w = (b2 << 16) | (b1 << 8) | b0;
    for (let k = 0; k < n; k++) {
      out += ITOA64[w & 0x3f];
      w >>= 6;
    }
  };
  const byte = (i: number): number => C[i] as number;
  for (let k = 0; k < 21; k++) {
    const [x, y, z] = [k, k + 21, k + 42];
    if (k % 3 === 0) emit(byte(x), byte(y), byte(z), 4);
    else if (k % 3 === 1) emit(byte(y), byte(z), byte(x), 4);
    else emit(byte(z), byte(x), byte(y), 4);
  }
  emit(0, 0, byte(63), 2);
  return `$6$${salt.slice(0, 16)}$${out}`;
}

export function randomSalt(): string {
  return [...randomBytes(16)].map((b) => SALT_CHARS[b & 0x3f]).join("");
}

export interface AccountFiles {
  passwd: string;
  group: string;
  shadow: string;
}

const WHEEL_GID = 10;

/**
 * Where a Linux jail's one-time user's uid search starts (review L4). Without a
 * user namespace a jail's uid N is the host's kernel uid N, so if every jail's
 * first user were 1001 (FreeBSD pw's choice) they would all be one kernel user:
 * one RLIMIT_NPROC count, one inotify and pipe quota, one keyring (which the
 * seccomp filter closes anyway). Each jail gets its own block of 16 uids from
 * 1,000,000, picked by the low 16 bits of its first address (unique on a host
 * unless --force shared it): far above the host's own users, below 2,097,151
 * (the largest uid a ustar archive header holds).
 */
export function jailUidBase(firstAddress: string): number {
  let low16 = 0;
  if (firstAddress.includes(":")) {
    const last = firstAddress.split(":").at(-1) ?? "";
    low16 = last === "" ? 0 : parseInt(last, 16) & 0xffff;
  } else {
    const [, , c = "0", d = "0"] = firstAddress.split(".");
    low16 = ((Number(c) & 0xff) << 8) | (Number(d) & 0xff);
  }
  return 1_000_000 + (Number.isFinite(low16) ? low16 : 0) * 16;
}

/**
 * The jail's account files with the one-time user added (idempotent: an
 * existing entry of that name is left alone). The uid is the first free one
 * from `firstUid`: 1001 as FreeBSD's pw picks, or on Linux the jail's own
 * block ({@link jailUidBase}).
 */
export function addOneTimeUser(
  files: AccountFiles,
  name: string,
  salt: string,
  firstUid = 1001,
): AccountFiles & { home: string; uid: number } {
  const passwdLines = files.passwd.split("\n").filter((l) => l !== "");
  const home = `/usr/home/${name}`;
  const existing = passwdLines.find((l) => l.split(":")[0] === name);
  if (existing) {
    return { ...files, home: existing.split(":")[5] ?? home, uid: Number(existing.split(":")[2]) };
  }
  const used = new Set(passwdLines.map((l) => Number(l.split(":")[2])));
  let uid = firstUid;
  while (used.has(uid)) uid++;
  passwdLines.push(`${name}:x:${uid}:${WHEEL_GID}:Jail:${home}:/bin/sh`);
  const shadowLines = files.shadow.split("\n").filter((l) => l !== "" && l.split(":")[0] !== name);
  // lastchg 0: "the password must be changed at next login" (shadow(5))
  shadowLines.push(`${name}:${sha512Crypt(name, salt)}:0:0:99999:7:::`);
  const groupLines = files.group.split("\n").filter((l) => l !== "");
  const wheel = groupLines.findIndex((l) => l.startsWith("wheel:"));
  if (wheel >= 0) {
    const line = groupLines[wheel] as string;
    const members = (line.split(":")[3] ?? "").split(",").filter((m) => m !== "");
    if (!members.includes(name)) members.push(name);
    groupLines[wheel] = `${line.split(":").slice(0, 3).join(":")}:${members.join(",")}`;
  } else {
    groupLines.push(`wheel:x:${WHEEL_GID}:${name}`);
  }
  return {
    passwd: passwdLines.join("\n") + "\n",
    group: groupLines.join("\n") + "\n",
    shadow: shadowLines.join("\n") + "\n",
    home,
    uid,
  };
}
