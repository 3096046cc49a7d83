/**
 * Absolute paths of the FreeBSD programs the backend runs, so a PATH
 * inherited from the caller (or the reduced PATH of rc(8) and service(8))
 * can never substitute another binary or fail to find one. Every program
 * qjail runs on FreeBSD is named here; test/freebsd/plan-syntax.test.ts
 * checks each plan line against what that program accepts.
 */
export const FREEBSD = {
  jail: "/usr/sbin/jail",
  jls: "/usr/sbin/jls",
  jexec: "/usr/sbin/jexec",
  setfib: "/usr/sbin/setfib",
  login: "/usr/bin/login",
  script: "/usr/bin/script",
  mdconfig: "/sbin/mdconfig",
  mount: "/sbin/mount",
  umount: "/sbin/umount",
  chflags: "/bin/chflags",
  route: "/sbin/route",
  rctl: "/usr/bin/rctl",
  ifconfig: "/sbin/ifconfig",
  sysctl: "/sbin/sysctl",
  sysrc: "/usr/sbin/sysrc",
  service: "/usr/sbin/service",
  kldload: "/sbin/kldload",
  ipf: "/sbin/ipf",
  ipnat: "/sbin/ipnat",
  ipfstat: "/sbin/ipfstat",
  pfctl: "/sbin/pfctl",
  ipfw: "/sbin/ipfw",
  sockstat: "/usr/bin/sockstat",
  netstat: "/usr/bin/netstat",
  uname: "/usr/bin/uname",
  git: "/usr/local/bin/git",
  pkg: "/usr/sbin/pkg",
} as const;
