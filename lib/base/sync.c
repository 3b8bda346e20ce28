// SPDX-License-Identifier: MIT
/* The process-wide CPU facts the waiting primitives of sync.h read, and the host's load. */
#include <limits.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sync.h"

_Atomic bool sx_one_cpu;

int sx_usable_cpus(void)
{
	cpu_set_t set;
	long n = 0;

	if (!sched_getaffinity(0, sizeof(set), &set))
		n = CPU_COUNT(&set);
	if (n < 1)	/* more CPUs than a cpu_set_t holds, or no answer */
		n = sysconf(_SC_NPROCESSORS_ONLN);
	if (n < 1)
		n = 1;
	/* relaxed: a hint read by spinners; a stale value costs a spin, not correctness */
	atomic_store_explicit(&sx_one_cpu, n == 1, memory_order_relaxed);
	return (int)n;
}

int sx_loadavg_running(const char *text)
{
	const char *p = text;
	char *end;
	long v;
	int i;

	/* "0.13 0.15 0.06 2/80 1915": three averages, then running/threads */
	for (i = 0; i < 3; i++) {
		p = strchr(p, ' ');
		if (!p)
			return -1;
		p++;
	}
	v = strtol(p, &end, 10);
	return end == p || *end != '/' || v < 0 || v > INT_MAX ? -1 : (int)v;
}

int sx_loadavg_read(int fd)
{
	char text[128];
	ssize_t n = pread(fd, text, sizeof(text) - 1, 0);

	if (n <= 0)
		return -1;
	text[n] = 0;
	return sx_loadavg_running(text);
}
