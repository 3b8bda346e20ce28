/* SPDX-License-Identifier: MIT */
/*
 * A harness for tests that run under mpirun, where MPI (and so the L4
 * session) can start only once per process: every rank calls mt_main(),
 * which creates one L4 with SIMPLER_WORKER_MPI; node ranks serve inside
 * simpler_worker_create() and return; rank 0 runs each MT_TEST in turn on
 * that one worker and prints TAP lines and "N passed, N failed, N
 * skipped".  A check that fails ends its test (not the program); a test
 * that leaves the worker unusable fails the ones after it, which say so.
 */
#ifndef SIMPLER_MPITEST_H
#define SIMPLER_MPITEST_H

#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <time.h>
#include <unistd.h>

#include "simpler.h"

#define MT_MAX 64

struct mt_test {
	const char *name;
	void (*fn)(struct simpler_worker *w);
};

static struct mt_test mt_tests[MT_MAX];
static int mt_count;
static jmp_buf mt_jmp;

static inline void mt_register(const char *name, void (*fn)(struct simpler_worker *))
{
	if (mt_count < MT_MAX)
		mt_tests[mt_count++] = (struct mt_test){ name, fn };
}

#define MT_TEST(name)                                                              \
	static void name(struct simpler_worker *w);                                \
	__attribute__((constructor)) static void mt_reg_##name(void)              \
	{                                                                          \
		mt_register(#name, name);                                          \
	}                                                                          \
	static void name(struct simpler_worker *w)

/* a failed check ends its test, not the program (one L4 serves them all) */
#define TH_OUT stdout
#define TH_ABORT() longjmp(mt_jmp, 1)
#include "checks.h"

static inline double mt_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * Open file descriptors, but the one Open MPI keeps after MPI_Finalize on
 * an already deleted /dev/shm/open_mpi.NNNN (it is libmpi's, not ours, and
 * names nothing in /dev/shm any more).
 */
static inline int mt_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	char path[300], to[300];
	ssize_t k;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/fd/%s", e->d_name);
		k = readlink(path, to, sizeof(to) - 1);
		to[k > 0 ? k : 0] = 0;
		if (!strncmp(to, "/dev/shm/open_mpi.", 18) && strstr(to, "(deleted)"))
			continue;
		n++;
	}
	closedir(d);
	return n - 1;	/* the directory's own */
}

/*
 * Run every test (SIMPLER_TEST=name: that one) on one L4 created from o on
 * every rank.  setup(w) runs on rank 0 after create (registrations).
 */
static inline int mt_main(const struct simpler_worker_opts *o,
			  void (*setup)(struct simpler_worker *w))
{
	const char *only = getenv("SIMPLER_TEST");
	struct simpler_worker *w = NULL;
	volatile int i, n = 0, pass = 0, fail = 0;
	int ret;
	double t0;

	int fds = mt_fds();

	setvbuf(stdout, NULL, _IOLBF, 0);
	ret = simpler_worker_create(o, &w);
	if (ret == 1) {
		/* a node rank: it served rank 0 until the end, and leaves no fd behind */
		if (mt_fds() != fds) {
			fprintf(stderr, "# node rank: %d file descriptors before, %d after\n", fds,
				mt_fds());
			return 1;
		}
		return 0;
	}
	for (i = 0; i < mt_count; i++)
		n += !only || !strcmp(only, mt_tests[i].name);
	printf("1..%d\n", n + 1);
	if (ret < 0) {
		printf("# simpler_worker_create: %d (%s): %s\n", ret, strerror(-ret),
		       simpler_last_errmsg());
		printf("not ok 1 create # every test needs the L4\n");
		printf("0 passed, %d failed, 0 skipped\n", n ? n : 1);
		return 1;
	}
	if (setup)
		setup(w);
	n = 0;
	for (i = 0; i < mt_count; i++) {
		if (only && strcmp(only, mt_tests[i].name))
			continue;
		n++;
		t0 = mt_now();
		if (!setjmp(mt_jmp)) {
			mt_tests[i].fn(w);
			printf("ok %d %s # %.2f s\n", n, mt_tests[i].name, mt_now() - t0);
			pass++;
		} else {
			printf("not ok %d %s # %.2f s\n", n, mt_tests[i].name, mt_now() - t0);
			fail++;
		}
	}
	simpler_worker_destroy(w);
	/* nothing of the session stays open (MPI's included: the library finalised it) */
	if (mt_fds() != fds) {
		printf("not ok %d fds_released # %d file descriptors before create, %d after "
		       "destroy\n", ++n, fds, mt_fds());
		fail++;
	} else {
		printf("ok %d fds_released\n", ++n);
		pass++;
	}
	printf("%d passed, %d failed, 0 skipped\n", pass, fail);
	return fail ? 1 : 0;
}

/* node fns of the loss suites: the whole rank dies (its runner thread is this one's) after a
 * short while */
static inline int nf_die(struct simpler_orch *o, const struct simpler_kernel_args *a)
{
	usleep(100 * 1000);
	kill(getpid(), SIGKILL);
	pause();
	return 0;
}

/* tensor 0 (u64) += 1 after scalar 0 ms */
static inline int nf_nap(struct simpler_orch *o, const struct simpler_kernel_args *a)
{
	usleep((useconds_t)a->scalars[0] * 1000);
	(*(uint64_t *)(uintptr_t)a->tensors[0].addr)++;
	return 0;
}

#endif /* SIMPLER_MPITEST_H */
