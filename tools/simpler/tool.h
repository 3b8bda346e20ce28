/* SPDX-License-Identifier: MIT */
/* Shared bits of the simpler command: time, medians, usage. */
#ifndef SIMPLER_TOOL_H
#define SIMPLER_TOOL_H

#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static inline uint64_t tool_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* the CPUs this process may run on (its affinity: a cpuset or taskset may allow fewer) */
static inline int tool_cpus(void)
{
	cpu_set_t set;
	long n = 0;

	if (!sched_getaffinity(0, sizeof(set), &set))
		n = CPU_COUNT(&set);
	if (n < 1)	/* more CPUs than a cpu_set_t holds */
		n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (int)n : 1;
}

/*
 * CPUs other programs leave free, roughly: usable CPUs minus the runnable
 * tasks of the machine besides this one (/proc/stat procs_running, the
 * median of a few looks 10 ms apart).  For telling the user why a run is
 * slow, not for deciding anything.
 */
static inline int tool_free_cpus(void)
{
	int cpus = tool_cpus(), k, j, v[5], t, others;
	char line[128];
	FILE *f;

	for (k = 0; k < 5; k++) {
		v[k] = 1;
		f = fopen("/proc/stat", "r");
		while (f && fgets(line, sizeof(line), f))
			if (sscanf(line, "procs_running %d", &v[k]) == 1)
				break;
		if (f)
			fclose(f);
		if (k < 4)
			usleep(10000);
	}
	for (k = 1; k < 5; k++)	/* insertion sort: the median of five */
		for (j = k; j > 0 && v[j - 1] > v[j]; j--) {
			t = v[j];
			v[j] = v[j - 1];
			v[j - 1] = t;
		}
	others = v[2] - 1;
	return others >= cpus ? 0 : cpus - (others > 0 ? others : 0);
}

static inline int tool_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static inline double tool_median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), tool_cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static inline int tool_usage(const char *what)
{
	fprintf(stderr, "usage: simpler %s\n", what);
	return 2;
}

/* the options every bench takes: -n COUNT, --reps R (1..16), --json; 0 or 2 (usage) */
struct bench_opts {
	uint64_t n;
	int reps;
	int json;
};

static inline int bench_parse(int argc, char **argv, struct bench_opts *b, const char *usage)
{
	int i;

	for (i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			b->json = 1;
		else if (!strcmp(argv[i], "-n") && i + 1 < argc)
			b->n = strtoull(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
			b->reps = atoi(argv[++i]);
		else
			return tool_usage(usage);
	}
	if (b->reps < 1 || b->reps > 16 || b->n < 4)
		return tool_usage(usage);
	return 0;
}

/* pingpong.c: the median inter-process round trip, ns (< 0 if fork failed) */
double pingpong_ns(bool futex, int iters, int reps);

int bench_dispatch(int argc, char **argv);
int bench_allreduce(int argc, char **argv);
int bench_hostbuf(int argc, char **argv);
int bench_check(int argc, char **argv);
int bench_tensormap(int argc, char **argv);
int bench_work(int argc, char **argv);
int cmd_demo(int argc, char **argv);
int cmd_info(int argc, char **argv);

#endif /* SIMPLER_TOOL_H */
