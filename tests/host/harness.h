/* SPDX-License-Identifier: MIT */
/*
 * A small test harness for the host tests: TEST(name) registers a test;
 * main() runs each in a forked child under a timeout and prints TAP lines,
 * then "N passed, N failed, N skipped".  CHECK* fail the test with the
 * values they saw; SKIP() skips it with a reason (exit 77 in the child).
 * SIMPLER_TEST=name runs only that test.
 *
 * Memory a test shares with the chip processes (kernels run there in
 * process mode) comes from SHARED()/SHARED_ARRAY(): MAP_SHARED, mapped at
 * startup so every worker inherits it, and fresh (zero) in each test.
 * After each test the harness checks that it left no process behind (the
 * runner is a subreaper, so orphaned chip processes come back to it) and
 * no file descriptor open.
 */
#ifndef SIMPLER_HARNESS_H
#define SIMPLER_HARNESS_H

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TH_MAX 256

/* LeakSanitizer's check, when the test is built with it: _exit() would skip it */
extern void __lsan_do_leak_check(void) __attribute__((weak));

struct th_test {
	const char *name;
	void (*fn)(void);
	int timeout;
};

static struct th_test th_tests[TH_MAX];
static int th_count;
static int th_default_timeout = 120;

/* ---- memory shared with chip processes ---- */

struct th_region {
	void *p;
	size_t len;
};

static struct th_region th_regions[64];
static int th_nregions;

static inline void *th_shared(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED || th_nregions == 64) {
		fprintf(stderr, "# cannot map %zu bytes of shared test memory\n", len);
		exit(1);
	}
	th_regions[th_nregions++] = (struct th_region){ p, len };
	return p;
}

/* each test gets its own zeroed pages at the same addresses */
static inline void th_shared_fresh(void)
{
	int i;

	for (i = 0; i < th_nregions; i++)
		if (mmap(th_regions[i].p, th_regions[i].len, PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED)
			_exit(3);
}

/* static type name[n], visible to chip processes: SHARED_ARRAY(int, hits, 16) */
#define SHARED_ARRAY(type, name, n)                                                \
	static type *name;                                                         \
	__attribute__((constructor)) static void th_shm_##name(void)              \
	{                                                                          \
		name = th_shared(sizeof(type) * (n));                              \
	}

static inline int th_count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n - 1;	/* the directory's own */
}

/*
 * Processes the test left behind, reparented to this subreaper: given 1.5 s
 * to exit (children of a dead application must go within one second), then
 * killed and counted.
 */
static inline int th_leftovers(void)
{
	struct timespec ms = { 0, 10 * 1000 * 1000 };
	char path[64];
	FILE *f;
	int i, n = 0, pid;

	for (i = 0; i < 150; i++) {
		while (waitpid(-1, NULL, WNOHANG) > 0)
			;
		if (waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD)
			return 0;
		nanosleep(&ms, NULL);
	}
	snprintf(path, sizeof(path), "/proc/self/task/%d/children", getpid());
	f = fopen(path, "r");
	while (f && fscanf(f, "%d", &pid) == 1) {
		printf("#   left behind: pid %d\n", pid);
		kill(pid, SIGKILL);
		n++;
	}
	if (f)
		fclose(f);
	while (waitpid(-1, NULL, 0) > 0)
		;
	return n ? n : 1;
}

static inline void th_register(const char *name, void (*fn)(void), int timeout)
{
	if (th_count < TH_MAX)
		th_tests[th_count++] = (struct th_test){ name, fn, timeout };
}

#define TEST_TIMEOUT(name, secs)                                                   \
	static void name(void);                                                    \
	__attribute__((constructor)) static void th_reg_##name(void)              \
	{                                                                          \
		th_register(#name, name, secs);                                    \
	}                                                                          \
	static void name(void)

#define TEST(name) TEST_TIMEOUT(name, 0)

/* a failed check ends the test's process */
#define TH_OUT stderr
#define TH_ABORT() _exit(1)
#include "checks.h"

#define SKIP(...)                                                                  \
	do {                                                                       \
		printf("# skip reason: ");                                         \
		printf(__VA_ARGS__);                                               \
		printf("\n");                                                      \
		fflush(stdout);                                                    \
		_exit(77);                                                         \
	} while (0)

static inline int th_main(void)
{
	const char *only = getenv("SIMPLER_TEST");
	int i, pass = 0, fail = 0, skip = 0, n = 0, st;
	struct timespec t0, t1;
	pid_t pid;

	for (i = 0; i < th_count; i++)
		if (!only || !strcmp(only, th_tests[i].name))
			n++;
	printf("1..%d\n", n);
	fflush(stdout);
	prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
	n = 0;
	for (i = 0; i < th_count; i++) {
		struct th_test *t = &th_tests[i];

		if (only && strcmp(only, t->name))
			continue;
		n++;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		pid = fork();
		if (pid == 0) {
			int fds;

			alarm(t->timeout ? t->timeout : th_default_timeout);
			th_shared_fresh();
			fds = th_count_fds();
			t->fn();
			fflush(stdout);
			if (th_count_fds() != fds) {
				fprintf(stderr, "#   the test left %d file descriptors open\n",
					th_count_fds() - fds);
				_exit(1);
			}
			if (__lsan_do_leak_check)
				__lsan_do_leak_check();
			_exit(0);
		}
		if (pid < 0 || waitpid(pid, &st, 0) != pid) {
			printf("not ok %d %s # cannot run: %s\n", n, t->name, strerror(errno));
			fail++;
			continue;
		}
		if (th_leftovers()) {
			printf("not ok %d %s # processes were left running\n", n, t->name);
			fail++;
			continue;
		}
		clock_gettime(CLOCK_MONOTONIC, &t1);
		if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
			printf("ok %d %s # %.2f s\n", n, t->name,
			       (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
			pass++;
		} else if (WIFEXITED(st) && WEXITSTATUS(st) == 77) {
			printf("ok %d %s # SKIP\n", n, t->name);
			skip++;
		} else {
			if (WIFSIGNALED(st))
				printf("not ok %d %s # killed by signal %d%s\n", n, t->name,
				       WTERMSIG(st), WTERMSIG(st) == SIGALRM ? " (timeout)" : "");
			else
				printf("not ok %d %s # exit %d\n", n, t->name, WEXITSTATUS(st));
			fail++;
		}
		fflush(stdout);
	}
	printf("%d passed, %d failed, %d skipped\n", pass, fail, skip);
	return fail ? 1 : 0;
}

#define TEST_MAIN() int main(void) { return th_main(); }

#endif /* SIMPLER_HARNESS_H */
