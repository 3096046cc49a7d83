/*
 * C2: a library the jail's root names in its own /etc/ld.so.preload. Every
 * dynamic program that starts inside the jail's root loads it; when one runs
 * with CAP_SYS_ADMIN (a host-side program qjail ran inside the jail's tree),
 * it records that in /tmp/preload-escalation.log inside the jail.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

__attribute__((constructor)) static void qjail_test_preload(void) {
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	while (f && fgets(line, sizeof line, f)) {
		if (strncmp(line, "CapEff:", 7) != 0) continue;
		unsigned long long v = strtoull(line + 8, 0, 16);
		if ((v >> 21) & 1) {
			FILE *log = fopen("/tmp/preload-escalation.log", "a");
			char exe[256] = {0};
			FILE *c = fopen("/proc/self/comm", "r");
			if (c) { fgets(exe, sizeof exe, c); fclose(c); }
			if (log) { fprintf(log, "ESCALATED %s", exe); fclose(log); }
		}
		break;
	}
	if (f) fclose(f);
}
