/* SPDX-License-Identifier: MIT */
/* Shared bits of the simpler command: time, medians, progress, the commands. */
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

/*
 * How much n samples scatter, relative to their median: the median absolute
 * deviation scaled to estimate a standard deviation (x 1.4826), so one
 * sample's noise; 0 with fewer than 3 samples (or more than 256).
 */
static inline double tool_spread(const double *v, int n, double median)
{
	double dev[256];
	int i;

	if (n < 3 || n > 256 || median <= 0)
		return 0;
	for (i = 0; i < n; i++)
		dev[i] = v[i] > median ? v[i] - median : median - v[i];
	return 1.4826 * tool_median(dev, n) / median;
}

/* the options every bench takes: -n COUNT, --reps R (1..16), --json */
struct bench_opts {
	uint64_t n;
	int reps;
	int json;
};

/* progress.c: a "\r"-rewritten line on stderr, shown only when stdout and stderr are terminals */
struct tool_progress {
	bool on;
	int done, total;
	uint64_t t0;
};

void tool_progress_start(struct tool_progress *p, int total);
/* step done + 1 of total begins: what it is, printf-style */
void tool_progress(struct tool_progress *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* clear the line, before the results are printed */
void tool_progress_end(struct tool_progress *p);

/* pingpong.c: the median inter-process round trip, ns (< 0 if fork failed) */
double pingpong_ns(bool futex, int iters, int reps);

/* the commands (main.c has their table): read their options, then run */
struct cli_cmd;
int bench_dispatch(const struct cli_cmd *c, int argc, char **argv);
int bench_allreduce(const struct cli_cmd *c, int argc, char **argv);
int bench_hostbuf(const struct cli_cmd *c, int argc, char **argv);
int bench_check(const struct cli_cmd *c, int argc, char **argv);
int bench_tensormap(const struct cli_cmd *c, int argc, char **argv);
int bench_work(const struct cli_cmd *c, int argc, char **argv);
int bench_cluster(const struct cli_cmd *c, int argc, char **argv);
int cmd_demo(const struct cli_cmd *c, int argc, char **argv);
int cmd_info(const struct cli_cmd *c, int argc, char **argv);
int cmd_version(const struct cli_cmd *c, int argc, char **argv);

#endif /* SIMPLER_TOOL_H */
