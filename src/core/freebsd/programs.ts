/**
 * Absolute paths of the FreeBSD base programs the backend runs, so a PATH
 * inherited from the caller can never substitute another binary.
 */
export const FREEBSD = {
  jail: "/usr/sbin/jail",
  jls: "/usr/sbin/jls",
  jexec: "/usr/sbin/jexec",
  setfib: "/usr/sbin/setfib",
  login: "/usr/bin/login",
  mdconfig: "/sbin/mdconfig",
  mount: "/sbin/mount",
  umount: "/sbin/umount",
  chflags: "/bin/chflags",
  route: "/sbin/route",
  rctl: "/usr/bin/rctl",
} as const;
