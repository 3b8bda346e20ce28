/* SPDX-License-Identifier: MIT */
/* Helpers shared by the host tests: worker creation, kernels, tensors. */
#ifndef SIMPLER_TEST_UTIL_H
#define SIMPLER_TEST_UTIL_H

#include <stdatomic.h>

#include "harness.h"
#include "simpler.h"

/* a worker in thread mode (process mode arrives with issue 4) */
static inline struct simpler_worker *make_worker(int chips, int subs, unsigned flags,
						 uint32_t ring)
{
	struct simpler_worker *w = NULL;
	SIMPLER_OPTS(simpler_worker_opts, o, .nr_chips = chips, .nr_subs = subs,
		     .flags = SIMPLER_WORKER_THREADS | flags, .ring_size = ring);
	int ret = simpler_worker_create(&o, &w);

	if (ret)
		FAILF("simpler_worker_create: %d (%s): %s", ret, strerror(-ret),
		      simpler_last_errmsg());
	return w;
}

static inline struct simpler_tensor t1d(const void *p, uint32_t n, uint8_t dtype)
{
	return simpler_tensor_1d(p, n, dtype);
}

/* byte tensor over [base + off, base + off + len) */
static inline struct simpler_tensor tbytes(const void *base, uint64_t off, uint32_t len)
{
	return simpler_tensor_1d((const char *)base + off, len, SIMPLER_U8);
}

#endif /* SIMPLER_TEST_UTIL_H */
