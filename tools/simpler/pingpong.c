// SPDX-License-Identifier: MIT
/*
 * The floor under any inter-process dispatch: two processes bouncing one
 * shared word, the parent setting it to 1 and waiting for 2, the child the
 * reverse.  "spin": both busy-wait; "futex": both sleep in FUTEX_WAIT and
 * are woken with FUTEX_WAKE every time.  Round trips, nanoseconds each.
 * Confined to one CPU, a spinner yields instead, as libsimpler's waits do.
 */
#include <errno.h>
#include <sched.h>
#include <linux/futex.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tool.h"

struct pp {
	_Atomic uint32_t word __attribute__((aligned(64)));
};

static bool one_cpu;

static void pp_wait(struct pp *p, uint32_t want, bool futex)
{
	uint32_t v;

	while ((v = atomic_load_explicit(&p->word, memory_order_acquire)) != want) {
		if (futex)
			syscall(SYS_futex, &p->word, FUTEX_WAIT, v, NULL, NULL, 0);
		else if (one_cpu)
			sched_yield();
		else
			__builtin_ia32_pause();
	}
}

static void pp_set(struct pp *p, uint32_t v, bool futex)
{
	atomic_store_explicit(&p->word, v, memory_order_release);
	if (futex)
		syscall(SYS_futex, &p->word, FUTEX_WAKE, 1, NULL, NULL, 0);
}

/* median round trip over reps batches of iters, in ns; < 0 on failure */
double pingpong_ns(bool futex, int iters, int reps)
{
	struct pp *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	double v[16];
	int r, i, total = iters * reps + iters / 10;
	pid_t child;

	if (p == MAP_FAILED)
		return -1;
	one_cpu = tool_cpus() == 1;
	atomic_store(&p->word, 0);
	child = fork();
	if (child < 0) {
		munmap(p, 4096);
		return -1;
	}
	if (child == 0) {
		for (i = 0; i < total; i++) {
			pp_wait(p, 1, futex);
			pp_set(p, 2, futex);
		}
		_exit(0);
	}
	/* a tenth of a batch to warm up, then the batches */
	for (i = 0; i < iters / 10; i++) {
		pp_set(p, 1, futex);
		pp_wait(p, 2, futex);
	}
	for (r = 0; r < reps && r < 16; r++) {
		uint64_t t0 = tool_now_ns();

		for (i = 0; i < iters; i++) {
			pp_set(p, 1, futex);
			pp_wait(p, 2, futex);
		}
		v[r] = (double)(tool_now_ns() - t0) / iters;
	}
	waitpid(child, NULL, 0);
	munmap(p, 4096);
	return tool_median(v, r);
}
