/* SPDX-License-Identifier: MIT */
/*
 * The probe kernel: records when each task started and ended on one global
 * event clock, and can sleep, wait on a latch or open one.  "B waited for A"
 * is then exactly end[A] < start[B]; "A and B ran concurrently" is proven by
 * A waiting on a latch only B opens (a wrong edge would time out the latch).
 *
 * scalars: [0] task id, [1] action, [2] latch, [3] sleep in microseconds
 */
#ifndef SIMPLER_PROBE_H
#define SIMPLER_PROBE_H

#include <stdatomic.h>
#include <stdarg.h>

#include "test_util.h"

#define PROBE_MAX 4096
#define LATCHES 64

enum { P_NONE, P_WAIT, P_OPEN };

/* shared: the kernels run in the chip processes */
SHARED_ARRAY(_Atomic uint64_t, probe_clock_, 1)
SHARED_ARRAY(_Atomic uint64_t, probe_start, PROBE_MAX)
SHARED_ARRAY(_Atomic uint64_t, probe_end, PROBE_MAX)
SHARED_ARRAY(_Atomic int, probe_chip, PROBE_MAX)
SHARED_ARRAY(_Atomic int, latches, LATCHES)
#define probe_clock (*probe_clock_)

static int k_probe(const struct simpler_kernel_args *a)
{
	uint64_t id = a->scalars[0], action = a->scalars[1], latch = a->scalars[2];
	uint64_t sleep_us = a->scalars[3];
	struct timespec ts = { 0, 0 };
	int i;

	atomic_store(&probe_start[id], atomic_fetch_add(&probe_clock, 1) + 1);
	atomic_store(&probe_chip[id], a->chip);
	if (action == P_OPEN)
		atomic_store(&latches[latch], 1);
	if (action == P_WAIT) {
		/* bounded: a missing concurrency shows as a failure, not a hang */
		for (i = 0; i < 5000 && !atomic_load(&latches[latch]); i++) {
			ts.tv_nsec = 1000000;
			nanosleep(&ts, NULL);
		}
		if (!atomic_load(&latches[latch])) {
			simpler_kernel_errmsg(a, "latch %lu never opened: the task that opens it "
					      "was ordered after this one", (unsigned long)latch);
			return -ETIMEDOUT;
		}
	}
	if (sleep_us) {
		ts.tv_sec = (time_t)(sleep_us / 1000000);
		ts.tv_nsec = (long)(sleep_us % 1000000) * 1000;
		nanosleep(&ts, NULL);
	}
	atomic_store(&probe_end[id], atomic_fetch_add(&probe_clock, 1) + 1);
	return 0;
}

static inline void probe_reset(void)
{
	int i;

	atomic_store(&probe_clock, 0);
	for (i = 0; i < PROBE_MAX; i++) {
		atomic_store(&probe_start[i], 0);
		atomic_store(&probe_end[i], 0);
	}
	for (i = 0; i < LATCHES; i++)
		atomic_store(&latches[i], 0);
}

/* did task b start after task a ended? */
static inline int waited(int b, int a)
{
	return atomic_load(&probe_end[a]) && atomic_load(&probe_start[b]) > atomic_load(&probe_end[a]);
}

static inline int ran(int id)
{
	return atomic_load(&probe_end[id]) != 0;
}

/* one tensor access of a probe task */
struct acc {
	const void *base;
	uint64_t off, len;
	int mode;		/* enum simpler_access */
	int child;		/* child_memory */
};

#define ACC(b, o, l, m) ((struct acc){ (b), (o), (l), (m), 0 })

/*
 * submit probe task id on chip (or -1) with an action; n accesses follow.
 * Returns simpler_submit()'s result.
 */
static inline int probe_submit(struct simpler_orch *o, int cid, int id, int chip, int action,
			       int latch, int sleep_us, int n, ...)
{
	struct simpler_args *a = simpler_args_new();
	SIMPLER_OPTS(simpler_submit_opts, so, .worker = chip);
	struct simpler_tensor t;
	va_list ap;
	int i, ret;

	va_start(ap, n);
	for (i = 0; i < n; i++) {
		struct acc x = va_arg(ap, struct acc);

		t = tbytes(x.base, x.off, (uint32_t)x.len);
		t.child_memory = (uint8_t)x.child;
		ret = simpler_args_add_tensor(a, &t, (enum simpler_access)x.mode);
		if (ret < 0) {
			va_end(ap);
			simpler_args_free(a);
			return ret;
		}
	}
	va_end(ap);
	simpler_args_add_scalar(a, (uint64_t)id);
	simpler_args_add_scalar(a, (uint64_t)action);
	simpler_args_add_scalar(a, (uint64_t)latch);
	simpler_args_add_scalar(a, (uint64_t)sleep_us);
	ret = simpler_submit(o, cid, a, &so);
	simpler_args_free(a);
	return ret;
}

#endif /* SIMPLER_PROBE_H */
