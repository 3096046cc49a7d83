/*
 * qjail-helper: the only code that stands between the host and a Linux jail
 * when qjail starts a jail or runs something inside one. Static, no NSS, no
 * dynamic loader: nothing it does reads a file or a library from a jail's
 * tree while it holds more than the jail's own capabilities.
 *
 *   qjail-helper launch --netns FILE --log FILE --log-max BYTES [--share-ipc]
 *                       [--cgroup DIR]... -- PROGRAM ARG...
 *       Start a jail: join its cgroups and network namespace, make new mount,
 *       UTS, PID, cgroup and IPC (unless --share-ipc: config -y) namespaces, and run PROGRAM (qjail's own
 *       jail-init.sh, from the host) as PID 1 there with stdout and stderr on a
 *       pipe. This process stays outside the jail's PID namespace and copies
 *       the pipe into the console log, rotating it at --log-max bytes (one old
 *       file, LOG.0), so the jail never holds the host file itself.
 *
 *   qjail-helper init --root DIR --caps LIST [--rlimit RES=N]... -- PROGRAM ARG...
 *       The last step of jail-init.sh (PID 1, every mount in place):
 *       pivot_root into DIR, detach the host's tree, close every descriptor
 *       but 0-2, install the syscall filter, keep only the capabilities in
 *       LIST, then exec PROGRAM from the jail's tree.
 *
 *   qjail-helper enter --pid PID --starttime TICKS [--ipc] [--cgroup DIR]...
 *                      --caps LIST --uid N --gid N [--groups N,N...] [--cwd DIR]
 *                      [--env K=V]... [--rlimit RES=N]... -- PROGRAM ARG...
 *       Run PROGRAM inside a running jail (console, rc.shutdown): enter the
 *       namespaces of its init (checked by start time), fork a child that
 *       becomes a new session, drops to the jail's capabilities and the user,
 *       installs the filter and only then execs. The child never gets one of
 *       the caller's descriptors: where the caller has a terminal it gets the
 *       slave of a new pty in the jail's own devpts, elsewhere pipes; this
 *       process, outside the jail's PID namespace and without capabilities,
 *       relays the bytes.
 *
 *   qjail-helper version
 *
 * LIST is comma-separated capability names without "cap_" (chown,kill,...).
 * Exit status: PROGRAM's, or 125 when the helper itself failed (message on
 * stderr), 126/127 when PROGRAM could not be run.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/audit.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/sched.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#define QJAIL_HELPER_VERSION "1"
#define FAIL 125

#ifndef CLONE_NEWCGROUP
#define CLONE_NEWCGROUP 0x02000000
#endif
#ifndef TIOCGPTPEER
#define TIOCGPTPEER _IO('T', 0x41)
#endif
#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT 47
#define PR_CAP_AMBIENT_CLEAR_ALL 4
#endif
#ifndef SECCOMP_RET_KILL_PROCESS
#define SECCOMP_RET_KILL_PROCESS 0x80000000U
#endif

static const char *prog = "qjail-helper";

static void die(const char *what) {
	fprintf(stderr, "%s: %s: %s\n", prog, what, strerror(errno));
	_exit(FAIL);
}

static void dief(const char *msg, const char *arg) {
	fprintf(stderr, "%s: %s%s\n", prog, msg, arg ? arg : "");
	_exit(FAIL);
}

/* ---------------------------------------------------------------- capabilities */

static const char *const CAP_NAMES[] = {
	"chown", "dac_override", "dac_read_search", "fowner", "fsetid", "kill", "setgid", "setuid",
	"setpcap", "linux_immutable", "net_bind_service", "net_broadcast", "net_admin", "net_raw",
	"ipc_lock", "ipc_owner", "sys_module", "sys_rawio", "sys_chroot", "sys_ptrace", "sys_pacct",
	"sys_admin", "sys_boot", "sys_nice", "sys_resource", "sys_time", "sys_tty_config", "mknod",
	"lease", "audit_write", "audit_control", "setfcap", "mac_override", "mac_admin", "syslog",
	"wake_alarm", "block_suspend", "audit_read", "perfmon", "bpf", "checkpoint_restore",
};
#define NCAPS (sizeof CAP_NAMES / sizeof CAP_NAMES[0])

static uint64_t parse_caps(const char *list) {
	uint64_t set = 0;
	char *copy = strdup(list), *save = NULL;
	if (!copy) die("strdup");
	for (char *w = strtok_r(copy, ",", &save); w; w = strtok_r(NULL, ",", &save)) {
		if (*w == '+') w++;
		if (!strncmp(w, "cap_", 4)) w += 4;
		size_t i;
		for (i = 0; i < NCAPS; i++)
			if (!strcmp(w, CAP_NAMES[i])) break;
		if (i == NCAPS) dief("unknown capability: ", w);
		set |= 1ULL << i;
	}
	free(copy);
	return set;
}

static void set_caps(uint64_t keep) {
	struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct d[2];
	memset(d, 0, sizeof d);
	d[0].effective = d[0].permitted = (uint32_t)keep;
	d[1].effective = d[1].permitted = (uint32_t)(keep >> 32);
	if (syscall(SYS_capset, &h, d) != 0) die("capset");
}

/* Bounding set down to `keep` (needs CAP_SETPCAP, so before set_caps), ambient cleared. */
static void drop_bounding(uint64_t keep) {
	for (int c = 0; c < 64; c++) {
		if (keep & (1ULL << c)) continue;
		if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) != 0 && errno != EINVAL) die("PR_CAPBSET_DROP");
	}
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL)
		die("PR_CAP_AMBIENT_CLEAR_ALL");
}

/* ---------------------------------------------------------------- seccomp */

/*
 * Modelled on Docker's default profile: what a container without extra
 * capabilities cannot call is refused with EPERM here. Written as a deny list
 * plus a ceiling: syscalls newer than this list knows return ENOSYS (libc
 * falls back), so a future kernel adds nothing to the jail's surface.
 */
static const int DENIED[] = {
#ifdef __NR_acct
	__NR_acct,
#endif
	__NR_add_key, __NR_keyctl, __NR_request_key, __NR_bpf, __NR_clock_adjtime, __NR_clock_settime,
#ifdef __NR_settimeofday
	__NR_settimeofday,
#endif
#ifdef __NR_stime
	__NR_stime,
#endif
#ifdef __NR_create_module
	__NR_create_module,
#endif
	__NR_init_module, __NR_finit_module, __NR_delete_module,
#ifdef __NR_get_kernel_syms
	__NR_get_kernel_syms,
#endif
#ifdef __NR_query_module
	__NR_query_module,
#endif
	__NR_get_mempolicy, __NR_set_mempolicy, __NR_mbind, __NR_move_pages,
#ifdef __NR_ioperm
	__NR_ioperm,
#endif
#ifdef __NR_iopl
	__NR_iopl,
#endif
	__NR_kexec_load,
#ifdef __NR_kexec_file_load
	__NR_kexec_file_load,
#endif
	__NR_lookup_dcookie, __NR_mount, __NR_umount2,
#ifdef __NR_umount
	__NR_umount,
#endif
	__NR_pivot_root, __NR_name_to_handle_at, __NR_open_by_handle_at,
#ifdef __NR_nfsservctl
	__NR_nfsservctl,
#endif
	__NR_perf_event_open, __NR_quotactl, 443 /* quotactl_fd */, __NR_reboot, __NR_setns, __NR_unshare,
	__NR_swapon, __NR_swapoff,
#ifdef __NR_sysfs
	__NR_sysfs,
#endif
#ifdef __NR__sysctl
	__NR__sysctl,
#endif
#ifdef __NR_uselib
	__NR_uselib,
#endif
#ifdef __NR_ustat
	__NR_ustat,
#endif
#ifdef __NR_vm86
	__NR_vm86,
#endif
#ifdef __NR_vm86old
	__NR_vm86old,
#endif
	__NR_userfaultfd, __NR_syslog, __NR_vhangup,
	/* io_uring (not in a 2016 profile; Docker blocks it since 25.0) */
	425, 426, 427,
	/* the new mount API: fsopen, fsconfig, fsmount, fspick, move_mount, open_tree, mount_setattr */
	430, 431, 432, 433, 429, 428, 442,
	438, /* pidfd_getfd: another process's descriptors (CAP_SYS_PTRACE in Docker) */
	457, 458, /* statmount, listmount */
	467, /* open_tree_attr */
};
#define LAST_KNOWN_SYSCALL 469

#if defined(__x86_64__)
#define NATIVE_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define NATIVE_ARCH AUDIT_ARCH_AARCH64
#else
#error "qjail-helper: only x86_64 and aarch64 are supported"
#endif

#define NS_FLAGS                                                                                 \
	(CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET | \
	 CLONE_NEWCGROUP | 0x00000080 /* CLONE_NEWTIME */)

#define ERRNO(e) (SECCOMP_RET_ERRNO | ((e) & SECCOMP_RET_DATA))
#define STMT(c, k) ((struct sock_filter)BPF_STMT(c, k))
#define JUMP(c, k, t, f) ((struct sock_filter)BPF_JUMP(c, k, t, f))

static void install_seccomp(void) {
	enum { MAX = 256 };
	struct sock_filter f[MAX];
	int n = 0;
	size_t ndenied = sizeof DENIED / sizeof DENIED[0];
	const uint32_t arg0 = offsetof(struct seccomp_data, args[0]);
	const uint32_t arg1 = offsetof(struct seccomp_data, args[1]);

	/* another ABI (i386 via int 0x80, AArch32) would bypass a table keyed on native numbers */
	f[n++] = STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch));
	f[n++] = JUMP(BPF_JMP | BPF_JEQ | BPF_K, NATIVE_ARCH, 1, 0);
	f[n++] = STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);
	f[n++] = STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
#if defined(__x86_64__)
	f[n++] = JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000 /* x32 */, 0, 1);
	f[n++] = STMT(BPF_RET | BPF_K, ERRNO(ENOSYS));
#endif
	f[n++] = JUMP(BPF_JMP | BPF_JGT | BPF_K, LAST_KNOWN_SYSCALL, 0, 1);
	f[n++] = STMT(BPF_RET | BPF_K, ERRNO(ENOSYS));
	/* clone3 passes its flags in memory: ENOSYS makes libc fall back to clone, which is checked */
	f[n++] = JUMP(BPF_JMP | BPF_JEQ | BPF_K, 435 /* clone3 */, 0, 1);
	f[n++] = STMT(BPF_RET | BPF_K, ERRNO(ENOSYS));
	for (size_t i = 0; i < ndenied; i++) {
		f[n++] = JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)DENIED[i], 0, 1);
		f[n++] = STMT(BPF_RET | BPF_K, ERRNO(EPERM));
	}
	/* clone: no new namespaces (flags are the first argument on x86_64 and aarch64) */
	f[n++] = JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_clone, 0, 4);
	f[n++] = STMT(BPF_LD | BPF_W | BPF_ABS, arg0);
	f[n++] = JUMP(BPF_JMP | BPF_JSET | BPF_K, NS_FLAGS, 0, 1);
	f[n++] = STMT(BPF_RET | BPF_K, ERRNO(EPERM));
	f[n++] = STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
	/* ioctl: no typing into a terminal (TIOCSTI) or the virtual console's TIOCLINUX */
	f[n++] = JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_ioctl, 0, 5);
	f[n++] = STMT(BPF_LD | BPF_W | BPF_ABS, arg1);
	f[n++] = JUMP(BPF_JMP | BPF_JEQ | BPF_K, TIOCSTI, 1, 0);
	f[n++] = JUMP(BPF_JMP | BPF_JEQ | BPF_K, TIOCLINUX, 0, 1);
	f[n++] = STMT(BPF_RET | BPF_K, ERRNO(EPERM));
	f[n++] = STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
	/* personality: only the values Docker allows (Linux, 32-bit addresses, UNAME26, both, query) */
	f[n++] = JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_personality, 0, 8);
	f[n++] = STMT(BPF_LD | BPF_W | BPF_ABS, arg0);
	f[n++] = JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x0, 5, 0);
	f[n++] = JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x8, 4, 0);
	f[n++] = JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x20000, 3, 0);
	f[n++] = JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x20008, 2, 0);
	f[n++] = JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0xffffffff, 1, 0);
	f[n++] = STMT(BPF_RET | BPF_K, ERRNO(EPERM));
	f[n++] = STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
	f[n++] = STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
	if (n > MAX) dief("internal: seccomp program too long", NULL);

	struct sock_fprog p = {(unsigned short)n, f};
	/* with CAP_SYS_ADMIN still held no_new_privs is not needed: setuid programs keep working in the jail */
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &p) != 0) die("seccomp");
}

/* ---------------------------------------------------------------- small tools */

static void close_from(int lowest) {
	if (syscall(436 /* close_range */, lowest, ~0U, 0) == 0) return;
	/* kernels before 5.9: every possible descriptor */
	struct rlimit rl;
	long max = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_max != RLIM_INFINITY ? (long)rl.rlim_max : 65536;
	for (long fd = lowest; fd < max; fd++) close((int)fd);
}

static long parse_num(const char *s, const char *what) {
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || *s == 0 || *end != 0 || v < 0 || v > LONG_MAX) dief("not a number: ", what);
	return (long)v;
}

static void set_rlimit(const char *spec) {
	static const struct { const char *name; int res; } R[] = {
		{"nofile", RLIMIT_NOFILE}, {"nproc", RLIMIT_NPROC}, {"core", RLIMIT_CORE},
		{"memlock", RLIMIT_MEMLOCK}, {"stack", RLIMIT_STACK}, {"data", RLIMIT_DATA},
		{"as", RLIMIT_AS}, {"cpu", RLIMIT_CPU}, {"fsize", RLIMIT_FSIZE},
	};
	const char *eq = strchr(spec, '=');
	if (!eq) dief("--rlimit wants RES=N: ", spec);
	for (size_t i = 0; i < sizeof R / sizeof R[0]; i++) {
		if (strlen(R[i].name) != (size_t)(eq - spec) || strncmp(spec, R[i].name, eq - spec)) continue;
		rlim_t v = (rlim_t)parse_num(eq + 1, spec);
		struct rlimit rl = {v, v};
		if (setrlimit(R[i].res, &rl) != 0) die("setrlimit");
		return;
	}
	dief("unknown rlimit: ", spec);
}

static int write_all(int fd, const char *buf, size_t n) {
	while (n > 0) {
		ssize_t w = write(fd, buf, n);
		if (w < 0) {
			if (errno == EINTR) continue;
			return -1;
		}
		buf += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Move this process into the cgroup DIR (v1 or v2), before anything is forked. */
static void join_cgroup(const char *dir) {
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s/cgroup.procs", dir);
	int fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) die(path);
	if (write_all(fd, "0\n", 2) != 0) die(path);
	close(fd);
}

/* execve, or a PATH search for a bare name (done inside the jail, as the jail's user) */
static void exec_program(char **argv, char **envp) {
	if (strchr(argv[0], '/')) {
		execve(argv[0], argv, envp);
	} else {
		const char *path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
		for (char **e = envp; *e; e++)
			if (!strncmp(*e, "PATH=", 5)) path = *e + 5;
		char buf[PATH_MAX];
		int saw_eacces = 0;
		for (const char *p = path; *p;) {
			const char *colon = strchr(p, ':');
			size_t len = colon ? (size_t)(colon - p) : strlen(p);
			if (len > 0 && len + strlen(argv[0]) + 2 < sizeof buf) {
				memcpy(buf, p, len);
				buf[len] = '/';
				strcpy(buf + len + 1, argv[0]);
				execve(buf, argv, envp);
				if (errno == EACCES) saw_eacces = 1;
			}
			p = colon ? colon + 1 : p + len;
		}
		if (saw_eacces) errno = EACCES;
	}
	int e = errno;
	fprintf(stderr, "%s: %s: %s\n", prog, argv[0], strerror(e));
	_exit(e == ENOENT ? 127 : 126);
}

/* ---------------------------------------------------------------- options */

struct opts {
	const char *netns, *log, *root, *caps, *cwd;
	long log_max, pid, uid, gid;
	const char *starttime, *groups;
	int ipc, share_ipc;
	const char *cgroups[8];
	int ncgroups;
	const char *env[64];
	int nenv;
	const char *rlimits[16];
	int nrlimits;
	char **argv;
};

static void parse_opts(int argc, char **argv, struct opts *o) {
	memset(o, 0, sizeof *o);
	o->log_max = 1 << 20;
	o->pid = o->uid = o->gid = -1;
	int i;
	for (i = 0; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "--")) {
			i++;
			break;
		}
		if (!strcmp(a, "--ipc")) {
			o->ipc = 1;
			continue;
		}
		if (!strcmp(a, "--share-ipc")) {
			o->share_ipc = 1;
			continue;
		}
		if (!v) dief("option without a value: ", a);
		i++;
		if (!strcmp(a, "--netns")) o->netns = v;
		else if (!strcmp(a, "--log")) o->log = v;
		else if (!strcmp(a, "--log-max")) o->log_max = parse_num(v, a);
		else if (!strcmp(a, "--root")) o->root = v;
		else if (!strcmp(a, "--caps")) o->caps = v;
		else if (!strcmp(a, "--cwd")) o->cwd = v;
		else if (!strcmp(a, "--pid")) o->pid = parse_num(v, a);
		else if (!strcmp(a, "--starttime")) o->starttime = v;
		else if (!strcmp(a, "--uid")) o->uid = parse_num(v, a);
		else if (!strcmp(a, "--gid")) o->gid = parse_num(v, a);
		else if (!strcmp(a, "--groups")) o->groups = v;
		else if (!strcmp(a, "--cgroup") && o->ncgroups < 8) o->cgroups[o->ncgroups++] = v;
		else if (!strcmp(a, "--env") && o->nenv < 63) o->env[o->nenv++] = v;
		else if (!strcmp(a, "--rlimit") && o->nrlimits < 16) o->rlimits[o->nrlimits++] = v;
		else dief("unknown option: ", a);
	}
	if (i >= argc) dief("no program given after --", NULL);
	o->argv = argv + i;
}

/* ---------------------------------------------------------------- launch */

static int open_log(const char *path) {
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) die(path);
	return fd;
}

static int cmd_launch(struct opts *o) {
	if (!o->netns || !o->log) dief("launch needs --netns and --log", NULL);
	int logfd = open_log(o->log);
	for (int i = 0; i < o->ncgroups; i++) join_cgroup(o->cgroups[i]);
	int nsfd = open(o->netns, O_RDONLY | O_CLOEXEC);
	if (nsfd < 0) die(o->netns);
	if (setns(nsfd, CLONE_NEWNET) != 0) die("setns(net)");
	close(nsfd);
	int flags = CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWPID | (o->ncgroups ? CLONE_NEWCGROUP : 0);
	if (!o->share_ipc) flags |= CLONE_NEWIPC;
	if (unshare(flags) != 0) die("unshare");
	int p[2];
	if (pipe2(p, O_CLOEXEC) != 0) die("pipe");
	pid_t child = fork();
	if (child < 0) die("fork");
	if (child == 0) {
		/* PID 1 of the jail: its console is the pipe, nothing else of ours */
		setsid();
		int null = open("/dev/null", O_RDONLY);
		if (null < 0 || dup2(null, 0) < 0 || dup2(p[1], 1) < 0 || dup2(p[1], 2) < 0) die("dup2");
		close_from(3);
		char *envp[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL};
		execve(o->argv[0], o->argv, envp);
		die(o->argv[0]);
	}
	close(p[1]);
	/* The relay needs no privilege: it writes to descriptors it already has. */
	drop_bounding(0);
	set_caps(0);
	prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	signal(SIGHUP, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	char buf[16384];
	for (;;) {
		ssize_t n = read(p[0], buf, sizeof buf);
		if (n < 0 && errno == EINTR) continue;
		if (n <= 0) break;
		struct stat st;
		if (o->log_max > 0 && fstat(logfd, &st) == 0 && st.st_size + n > o->log_max) {
			/* rotate: LOG -> LOG.0 (replacing the older one), then a new LOG */
			char old[PATH_MAX];
			snprintf(old, sizeof old, "%s.0", o->log);
			if (rename(o->log, old) == 0) {
				close(logfd);
				logfd = open(o->log, O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
				if (logfd < 0) break;
			} else if (ftruncate(logfd, 0) != 0) {
				break;
			}
		}
		if (write_all(logfd, buf, (size_t)n) != 0) break;
	}
	int status = 0;
	while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* ---------------------------------------------------------------- init */

static int cmd_init(struct opts *o) {
	if (!o->root || !o->caps) dief("init needs --root and --caps", NULL);
	uint64_t keep = parse_caps(o->caps);
	if (chdir(o->root) != 0) die(o->root);
	if (syscall(SYS_pivot_root, ".", ".") != 0) die("pivot_root");
	if (umount2(".", MNT_DETACH) != 0) die("umount the host's tree");
	if (chdir("/") != 0) die("chdir /");
	close_from(3);
	for (int i = 0; i < o->nrlimits; i++) set_rlimit(o->rlimits[i]);
	install_seccomp();
	drop_bounding(keep);
	set_caps(keep);
	char *envp[] = {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/", NULL};
	exec_program(o->argv, envp);
	return FAIL;
}

/* ---------------------------------------------------------------- enter */

static volatile sig_atomic_t got_winch, got_signal;
static void on_winch(int s) { (void)s; got_winch = 1; }
static void on_signal(int s) { got_signal = s; }

static void check_starttime(long pid, const char *want) {
	char path[64], buf[1024];
	snprintf(path, sizeof path, "/proc/%ld/stat", pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) dief("the jail's init is gone", NULL);
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0) dief("the jail's init is gone", NULL);
	buf[n] = 0;
	char *p = strrchr(buf, ')');
	if (!p) dief("unreadable /proc/PID/stat", NULL);
	/* field 22 (starttime) is the 20th after the ") " */
	p += 2;
	for (int f = 0; f < 19 && p; f++) {
		p = strchr(p, ' ');
		if (p) p++;
	}
	if (!p || strncmp(p, want, strlen(want)) != 0 || (p[strlen(want)] != ' ' && p[strlen(want)] != 0))
		dief("the jail's init is not the recorded process (PID reused)", NULL);
}

/*
 * Enter the namespaces of the jail's init. The process is pinned first (a
 * pidfd, or its namespace files on kernels before 5.8) and only then checked
 * against the recorded start time, so a PID reused meanwhile is never entered.
 */
static void enter_namespaces(long pid, const char *starttime, int ipc, int cgroupns) {
	int flags = CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWNET | CLONE_NEWPID | (ipc ? CLONE_NEWIPC : 0) |
		    (cgroupns ? CLONE_NEWCGROUP : 0);
	int pidfd = (int)syscall(434 /* pidfd_open */, (pid_t)pid, 0);
	if (pidfd >= 0) {
		check_starttime(pid, starttime);
		if (setns(pidfd, flags) == 0) {
			close(pidfd);
			return;
		}
		if (errno != EINVAL) die("setns");
		close(pidfd);
	}
	static const struct { const char *name; int flag; } NS[] = {
		{"cgroup", CLONE_NEWCGROUP}, {"ipc", CLONE_NEWIPC}, {"uts", CLONE_NEWUTS},
		{"net", CLONE_NEWNET}, {"pid", CLONE_NEWPID}, {"mnt", CLONE_NEWNS},
	};
	enum { N = sizeof NS / sizeof NS[0] };
	int fds[N];
	for (int i = 0; i < N; i++) {
		char path[64];
		fds[i] = -1;
		if (!(flags & NS[i].flag)) continue;
		snprintf(path, sizeof path, "/proc/%ld/ns/%s", pid, NS[i].name);
		fds[i] = open(path, O_RDONLY | O_CLOEXEC);
		if (fds[i] < 0) die(path);
	}
	check_starttime(pid, starttime);
	for (int i = 0; i < N; i++)
		if (fds[i] >= 0 && setns(fds[i], NS[i].flag) != 0) die("setns");
}

static void parse_groups(const char *list, gid_t *out, int *n) {
	*n = 0;
	if (!list || !*list) return;
	char *copy = strdup(list), *save = NULL;
	for (char *w = strtok_r(copy, ",", &save); w && *n < 64; w = strtok_r(NULL, ",", &save))
		out[(*n)++] = (gid_t)parse_num(w, "--groups");
	free(copy);
}

static void set_nonblock(int fd) { fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK); }

static int cmd_enter(struct opts *o) {
	if (o->pid < 2 || !o->starttime || !o->caps || o->uid < 0 || o->gid < 0)
		dief("enter needs --pid, --starttime, --caps, --uid and --gid", NULL);
	uint64_t keep = parse_caps(o->caps);
	gid_t groups[64];
	int ngroups;
	parse_groups(o->groups, groups, &ngroups);
	int tty[3];
	int any_tty = 0;
	for (int fd = 0; fd < 3; fd++) any_tty |= tty[fd] = isatty(fd);

	for (int i = 0; i < o->ncgroups; i++) join_cgroup(o->cgroups[i]);
	enter_namespaces(o->pid, o->starttime, o->ipc, o->ncgroups > 0);
	if (chdir("/") != 0) die("chdir /");

	/* the jail's end of every stream: a pty of the jail's own devpts, or pipes */
	int master = -1, slave = -1;
	if (any_tty) {
		master = open("/dev/pts/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC | O_NOFOLLOW);
		if (master < 0) die("the jail's /dev/pts/ptmx");
		int unlock = 0;
		if (ioctl(master, TIOCSPTLCK, &unlock) != 0) die("unlockpt");
		slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY);
		if (slave < 0) die("TIOCGPTPEER");
		struct winsize ws;
		for (int fd = 0; fd < 3; fd++)
			if (tty[fd] && ioctl(fd, TIOCGWINSZ, &ws) == 0) {
				ioctl(master, TIOCSWINSZ, &ws);
				break;
			}
	}
	int pipes[3][2] = {{-1, -1}, {-1, -1}, {-1, -1}};
	for (int fd = 0; fd < 3; fd++)
		if (!tty[fd] && pipe2(pipes[fd], O_CLOEXEC) != 0) die("pipe");

	pid_t child = fork();
	if (child < 0) die("fork");
	if (child == 0) {
		prctl(PR_SET_DUMPABLE, 0, 0, 0, 0); /* no /proc/PID access from the jail until exec */
		if (setsid() < 0) die("setsid");
		if (slave >= 0 && ioctl(slave, TIOCSCTTY, 0) != 0) die("TIOCSCTTY");
		for (int fd = 0; fd < 3; fd++) {
			int src = tty[fd] ? slave : pipes[fd][fd == 0 ? 0 : 1];
			if (dup2(src, fd) < 0) die("dup2");
		}
		close_from(3);
		for (int i = 0; i < o->nrlimits; i++) set_rlimit(o->rlimits[i]);
		install_seccomp();
		drop_bounding(keep);
		if (setgroups((size_t)ngroups, groups) != 0) die("setgroups");
		if (setresgid((gid_t)o->gid, (gid_t)o->gid, (gid_t)o->gid) != 0) die("setresgid");
		if (setresuid((uid_t)o->uid, (uid_t)o->uid, (uid_t)o->uid) != 0) die("setresuid");
		if (o->uid == 0) set_caps(keep);
		if (o->cwd && chdir(o->cwd) != 0) chdir("/");
		char *envp[65];
		for (int i = 0; i < o->nenv; i++) envp[i] = (char *)o->env[i];
		envp[o->nenv] = NULL;
		exec_program(o->argv, envp);
	}

	/* the relay: outside the jail's PID namespace, no capabilities, nothing of the jail's run */
	if (slave >= 0) close(slave);
	for (int fd = 0; fd < 3; fd++)
		if (pipes[fd][0] >= 0) close(pipes[fd][fd == 0 ? 0 : 1]);
	drop_bounding(0);
	set_caps(0);
	prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);

	struct termios saved;
	int raw = 0;
	if (tty[0] && tcgetattr(0, &saved) == 0) {
		struct termios t = saved;
		cfmakeraw(&t);
		if (tcsetattr(0, TCSANOW, &t) == 0) raw = 1;
	}
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_winch;
	sigaction(SIGWINCH, &sa, NULL);
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGQUIT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	/* sources: the caller's stdin → (master | stdin pipe); master / out pipes → caller's 1 and 2 */
	int in_open = 1;
	int in_to = any_tty && tty[0] ? master : pipes[0][1];
	int out_src[3] = {-1, -1, -1}; /* [1], [2]: pipe read ends; [0]: master */
	if (master >= 0) out_src[0] = master;
	if (!tty[1]) out_src[1] = pipes[1][0];
	if (!tty[2]) out_src[2] = pipes[2][0];
	int master_to = tty[1] ? 1 : 2; /* where the pty's output goes */
	if (!any_tty) master_to = -1;
	if (master >= 0) set_nonblock(master);
	for (int i = 1; i < 3; i++)
		if (out_src[i] >= 0) set_nonblock(out_src[i]);

	int status = 0, exited = 0;
	char buf[16384];
	for (;;) {
		if (got_winch && master >= 0) {
			struct winsize ws;
			got_winch = 0;
			for (int fd = 0; fd < 3; fd++)
				if (tty[fd] && ioctl(fd, TIOCGWINSZ, &ws) == 0) {
					ioctl(master, TIOCSWINSZ, &ws);
					break;
				}
		}
		if (got_signal) {
			kill(child, got_signal);
			got_signal = 0;
		}
		if (!exited) {
			pid_t w = waitpid(child, &status, WNOHANG);
			if (w == child) exited = 1;
		}
		struct pollfd pf[4];
		int np = 0, idx_in = -1, idx_src[3] = {-1, -1, -1};
		if (in_open && !exited) {
			idx_in = np;
			pf[np++] = (struct pollfd){0, POLLIN, 0};
		}
		for (int i = 0; i < 3; i++)
			if (out_src[i] >= 0) {
				idx_src[i] = np;
				pf[np++] = (struct pollfd){out_src[i], POLLIN, 0};
			}
		if (idx_src[0] < 0 && idx_src[1] < 0 && idx_src[2] < 0 && exited) break;
		/* once the program has exited, drain what is buffered and stop (background processes may hold the pipes) */
		int r = poll(pf, (nfds_t)np, exited ? 100 : 200);
		if (r < 0 && errno != EINTR) break;
		if (r == 0 && exited) break;
		if (r <= 0) continue;
		if (idx_in >= 0 && (pf[idx_in].revents & (POLLIN | POLLHUP | POLLERR))) {
			ssize_t n = read(0, buf, sizeof buf);
			if (n > 0) {
				if (write_all(in_to, buf, (size_t)n) != 0) in_open = 0;
			} else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
				in_open = 0;
				if (!tty[0] && pipes[0][1] >= 0) {
					close(pipes[0][1]);
					pipes[0][1] = -1;
				}
			}
		}
		for (int i = 0; i < 3; i++) {
			if (idx_src[i] < 0 || !(pf[idx_src[i]].revents & (POLLIN | POLLHUP | POLLERR))) continue;
			ssize_t n = read(out_src[i], buf, sizeof buf);
			if (n > 0) {
				write_all(i == 0 ? master_to : i, buf, (size_t)n);
			} else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
				/* EOF, or EIO from a pty master once every slave is closed */
				close(out_src[i]);
				out_src[i] = -1;
			}
		}
	}
	if (raw) tcsetattr(0, TCSANOW, &saved);
	if (!exited) {
		while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
		}
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int main(int argc, char **argv) {
	if (argc < 2) {
		fprintf(stderr, "usage: %s launch|init|enter|version ...\n", prog);
		return FAIL;
	}
	if (!strcmp(argv[1], "version")) {
		printf("qjail-helper %s\n", QJAIL_HELPER_VERSION);
		return 0;
	}
	struct opts o;
	parse_opts(argc - 2, argv + 2, &o);
	if (!strcmp(argv[1], "launch")) return cmd_launch(&o);
	if (!strcmp(argv[1], "init")) return cmd_init(&o);
	if (!strcmp(argv[1], "enter")) return cmd_enter(&o);
	dief("unknown command: ", argv[1]);
	return FAIL;
}
