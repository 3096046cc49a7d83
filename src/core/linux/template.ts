/**
 * What a Linux jail's own tree holds: the FreeBSD-shaped layout of
 * docs/qjail-5.md §1.4 built from a Linux base. Partner of planLinuxInstall
 * (src/core/linux/install.ts), which writes these into the template, and of
 * the start planner (src/core/linux/lifecycle.ts), which mounts the shared
 * base under the jail's /sharedfs.
 *
 * The split mirrors qjail's: everything under /sharedfs is the shared base,
 * read-only in every jail; the jail's /usr is its own directory whose system
 * parts are symbolic links into /sharedfs/usr (as FreeBSD's usr/bin ->
 * /sharedfs/usr/bin), while /usr/local and /usr/home stay the jail's own.
 */

/** /usr parts that come from the shared base, linked from the jail's /usr. */
export const BASE_USR_DIRS = ["bin", "sbin", "lib", "lib64", "libexec", "share", "include", "src"] as const;

/** The merged-/usr links at the jail's root (Debian 12 and every current distribution). */
export const MERGED_USR_LINKS = ["bin", "sbin", "lib", "lib64"] as const;

/**
 * System configuration the base's programs need and that holds no secrets of
 * the host: taken from the base (read-only, under /sharedfs/etc) and linked
 * from the jail's /etc. Password files, host keys and the hostname are never
 * among them; each jail gets its own (see {@link templateEtcFiles}).
 */
export const BASE_ETC_ENTRIES: readonly { path: string; kind: "dir" | "file" }[] = [
  { path: "alternatives", kind: "dir" },
  { path: "pam.d", kind: "dir" },
  { path: "security", kind: "dir" },
  { path: "default", kind: "dir" },
  { path: "ld.so.conf.d", kind: "dir" },
  { path: "ld.so.conf", kind: "file" },
  { path: "ld.so.cache", kind: "file" },
  { path: "login.defs", kind: "file" },
  { path: "services", kind: "file" },
  { path: "protocols", kind: "file" },
  { path: "ssh/moduli", kind: "file" },
];

/** Directories of a fresh jail tree, with their modes. */
export const TEMPLATE_DIRS: readonly { path: string; mode: number }[] = [
  { path: "etc", mode: 0o755 },
  { path: "etc/rc.d", mode: 0o755 },
  { path: "etc/ssh", mode: 0o755 },
  { path: "root", mode: 0o700 },
  { path: "tmp", mode: 0o1777 },
  { path: "usr", mode: 0o755 },
  { path: "usr/home", mode: 0o755 },
  { path: "usr/local", mode: 0o755 },
  { path: "usr/local/bin", mode: 0o755 },
  { path: "usr/local/etc", mode: 0o755 },
  { path: "usr/local/www", mode: 0o755 },
  { path: "var", mode: 0o755 },
  { path: "var/log", mode: 0o755 },
  { path: "var/tmp", mode: 0o1777 },
  { path: "var/empty", mode: 0o755 },
  { path: "var/db", mode: 0o755 },
  { path: "var/cache", mode: 0o755 },
  { path: "var/lib", mode: 0o755 },
  { path: "var/spool", mode: 0o755 },
  { path: "var/mail", mode: 0o755 },
  { path: "mnt", mode: 0o755 },
  // mount points, filled at start
  { path: "sharedfs", mode: 0o755 },
  { path: "dev", mode: 0o755 },
  { path: "proc", mode: 0o555 },
  { path: "sys", mode: 0o555 },
  { path: "run", mode: 0o755 },
];

/** Symbolic links of a fresh jail tree: path (relative to the jail root) → target. */
export function templateLinks(): { path: string; target: string }[] {
  const links: { path: string; target: string }[] = [];
  for (const d of MERGED_USR_LINKS) links.push({ path: d, target: `usr/${d}` });
  for (const d of BASE_USR_DIRS) links.push({ path: `usr/${d}`, target: `/sharedfs/usr/${d}` });
  links.push({ path: "home", target: "usr/home" });
  for (const e of BASE_ETC_ENTRIES) links.push({ path: `etc/${e.path}`, target: `/sharedfs/etc/${e.path}` });
  links.push({ path: "etc/os-release", target: "../usr/lib/os-release" });
  links.push({ path: "etc/localtime", target: "/usr/share/zoneinfo/Etc/UTC" });
  links.push({ path: "etc/mtab", target: "../proc/self/mounts" });
  links.push({ path: "var/run", target: "/run" });
  links.push({ path: "var/lock", target: "/run/lock" });
  return links;
}

/** Users every jail starts with: root and system users only, never the host's accounts or hashes. */
const PASSWD = [
  "root:x:0:0:Charlie &:/root:/bin/sh",
  "daemon:x:1:1:Owner of many system processes:/usr/sbin:/usr/sbin/nologin",
  "bin:x:2:2:Binaries Commands and Source:/bin:/usr/sbin/nologin",
  "sys:x:3:3:System:/dev:/usr/sbin/nologin",
  "www:x:80:80:World Wide Web Owner:/nonexistent:/usr/sbin/nologin",
  "sshd:x:22:22:Secure Shell Daemon:/run/sshd:/usr/sbin/nologin",
  "nobody:x:65534:65534:Unprivileged user:/nonexistent:/usr/sbin/nologin",
];
const GROUP = [
  "root:x:0:",
  "daemon:x:1:",
  "bin:x:2:",
  "sys:x:3:",
  "adm:x:4:",
  "tty:x:5:",
  "wheel:x:10:root",
  "sshd:x:22:",
  "shadow:x:42:",
  "staff:x:50:",
  "www:x:80:",
  "users:x:100:",
  "nogroup:x:65534:",
];

/** Every account locked ("*"): root gets in through `qjail console`, which needs no password. */
function shadowFor(passwdLines: readonly string[]): string[] {
  return passwdLines.map((l) => `${l.slice(0, l.indexOf(":"))}:*:0:0:99999:7:::`);
}

const RC = `#!/bin/sh
# qjail's rc for a jail on Linux: the FreeBSD rc(8) contract in miniature.
# Starts every /etc/rc.d/<service> whose <service>_enable is YES in /etc/rc.conf,
# in name order. Run once by /etc/rc.init when the jail starts.
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export PATH
[ -r /etc/rc.conf ] && . /etc/rc.conf

enabled() {
	case $1 in *[!A-Za-z0-9_]*) return 1 ;; esac
	eval "value=\\\${$1_enable:-NO}"
	case $value in [Yy][Ee][Ss] | [Tt][Rr][Uu][Ee] | [Oo][Nn] | 1) return 0 ;; esac
	return 1
}

for script in /etc/rc.d/* /usr/local/etc/rc.d/*; do
	[ -f "$script" ] || continue
	service=\${script##*/}
	if enabled "$service"; then
		echo "Starting $service."
		/bin/sh "$script" start
	fi
done
`;

const RC_SHUTDOWN = `#!/bin/sh
# qjail's rc.shutdown for a jail on Linux: stops the services /etc/rc started,
# in reverse order. Run by qjail stop before the jail's processes are killed.
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export PATH
[ -r /etc/rc.conf ] && . /etc/rc.conf

enabled() {
	case $1 in *[!A-Za-z0-9_]*) return 1 ;; esac
	eval "value=\\\${$1_enable:-NO}"
	case $value in [Yy][Ee][Ss] | [Tt][Rr][Uu][Ee] | [Oo][Nn] | 1) return 0 ;; esac
	return 1
}

scripts=
for script in /etc/rc.d/* /usr/local/etc/rc.d/*; do
	[ -f "$script" ] && scripts="$script $scripts"
done
for script in $scripts; do
	service=\${script##*/}
	if enabled "$service"; then
		echo "Stopping $service."
		/bin/sh "$script" stop
	fi
done
`;

const RC_INIT = `#!/bin/sh
# PID 1 of this jail on Linux (written by qjail). Runs /etc/rc, then stays up
# reaping the processes the jail orphans until qjail stop ends the jail: when
# this process dies the kernel ends every process of the jail.
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export PATH
trap 'exit 0' TERM
/bin/sh /etc/rc </dev/null
# qjail start returns once this exists (jail(8) waits for exec.start the same way)
: >/run/qjail.rc-done
while :; do
	sleep 3600 &
	wait $!
	# 126/127: sleep itself is gone (the jail's tree was removed under it); nothing
	# can run here any more, and looping would spin. Ending PID 1 ends the jail.
	case $? in 126 | 127) exit 1 ;; esac
done
`;

const RC_SSHD = `#!/bin/sh
# sshd: the base's OpenSSH server. The host key is made per jail at first start,
# so no two jails (and never the host) share one.
PATH=/usr/sbin:/usr/bin:/sbin:/bin
pidfile=/run/sshd.pid
case $1 in
start)
	mkdir -p -m 755 /run/sshd
	if [ ! -f /etc/ssh/ssh_host_ed25519_key ]; then
		ssh-keygen -q -t ed25519 -N '' -f /etc/ssh/ssh_host_ed25519_key
	fi
	/usr/sbin/sshd -f /etc/ssh/sshd_config
	;;
stop)
	[ -f "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null
	rm -f "$pidfile"
	;;
*)
	echo "usage: $0 start|stop" >&2
	exit 64
	;;
esac
`;

const RC_HTTPD = `#!/bin/sh
# httpd: busybox's web server on port 80, serving /usr/local/www. Also started
# by apache24_enable="YES", so the qjail-howto's step 8 reads the same.
PATH=/usr/sbin:/usr/bin:/sbin:/bin
pidfile=/run/httpd.pid
running() { [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }
case $1 in
start)
	running && exit 0
	busybox httpd -f -p 80 -h /usr/local/www </dev/null >/dev/null 2>&1 &
	echo $! >"$pidfile"
	# return once port 80 listens (state 0A in /proc/net/tcp*), as a daemon's parent would
	tries=50
	while [ "$tries" -gt 0 ] && ! grep -qs ':0050 [0-9A-F:]*:0000 0A' /proc/net/tcp /proc/net/tcp6; do
		tries=$((tries - 1))
		sleep 0.1
	done
	;;
stop)
	running && kill "$(cat "$pidfile")"
	rm -f "$pidfile"
	;;
*)
	echo "usage: $0 start|stop" >&2
	exit 64
	;;
esac
`;

const RC_APACHE24 = `#!/bin/sh
# apache24: the name the qjail-howto uses; the same web server as httpd.
exec /bin/sh /etc/rc.d/httpd "$@"
`;

const SSHD_CONFIG = `# sshd_config of a qjail jail on Linux.
Port 22
HostKey /etc/ssh/ssh_host_ed25519_key
PidFile /run/sshd.pid
# PAM's session modules want to write the audit login UID, which a jail may not.
UsePAM no
PermitRootLogin no
PasswordAuthentication yes
KbdInteractiveAuthentication no
UseDNS no
Subsystem sftp internal-sftp
`;

export const IT_WORKED_PAGE = "<html><body><h1>It worked!</h1></body></html>\n";

export const DEFAULT_RC_CONF = `# rc.conf of a qjail jail. Enable a service with <service>_enable="YES";
# the scripts are in /etc/rc.d (sshd, httpd, apache24) and /usr/local/etc/rc.d.
`;

/** The jail's own /etc files (path relative to the jail root, content, mode). */
export function templateEtcFiles(resolvConf: string): { path: string; content: string; mode: number }[] {
  return [
    { path: "etc/passwd", content: PASSWD.join("\n") + "\n", mode: 0o644 },
    { path: "etc/group", content: GROUP.join("\n") + "\n", mode: 0o644 },
    { path: "etc/shadow", content: shadowFor(PASSWD).join("\n") + "\n", mode: 0o600 },
    {
      path: "etc/gshadow",
      content: GROUP.map((g) => `${g.slice(0, g.indexOf(":"))}:*::`).join("\n") + "\n",
      mode: 0o600,
    },
    { path: "etc/hosts", content: "127.0.0.1\tlocalhost\n::1\tlocalhost\n", mode: 0o644 },
    { path: "etc/resolv.conf", content: resolvConf, mode: 0o644 },
    {
      path: "etc/nsswitch.conf",
      content:
        "passwd: files\ngroup: files\nshadow: files\nhosts: files dns\nnetworks: files\nprotocols: files\nservices: files\n",
      mode: 0o644,
    },
    {
      path: "etc/shells",
      content: "/bin/sh\n/usr/bin/sh\n/bin/bash\n/usr/bin/bash\n/bin/dash\n/usr/bin/dash\n",
      mode: 0o644,
    },
    {
      path: "etc/profile",
      content:
        'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\nexport PATH\nPS1="$(id -un)@$(hostname):\\$PWD\\$ "\n',
      mode: 0o644,
    },
    { path: "etc/motd", content: "Welcome to a qjail jail.\n", mode: 0o644 },
    { path: "etc/rc.conf", content: DEFAULT_RC_CONF, mode: 0o644 },
    { path: "etc/rc", content: RC, mode: 0o755 },
    { path: "etc/rc.shutdown", content: RC_SHUTDOWN, mode: 0o755 },
    { path: "etc/rc.init", content: RC_INIT, mode: 0o755 },
    { path: "etc/rc.d/sshd", content: RC_SSHD, mode: 0o755 },
    { path: "etc/rc.d/httpd", content: RC_HTTPD, mode: 0o755 },
    { path: "etc/rc.d/apache24", content: RC_APACHE24, mode: 0o755 },
    { path: "etc/ssh/sshd_config", content: SSHD_CONFIG, mode: 0o644 },
    { path: "usr/local/www/index.html", content: IT_WORKED_PAGE, mode: 0o644 },
  ];
}
