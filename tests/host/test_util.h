/* SPDX-License-Identifier: MIT */
/* Helpers shared by the host tests: worker creation, kernels, tensors. */
#ifndef SIMPLER_TEST_UTIL_H
#define SIMPLER_TEST_UTIL_H

#include <stdatomic.h>

#include "harness.h"
#include "simpler.h"

/*
 * The suite runs in the mode SIMPLER_TEST_MODE names: "process" (the
 * default: chips are processes) or "threads"; SIMPLER_TEST_HOSTMEM picks
 * the backend ("kmod", "shm", else automatic).
 */
static inline int test_threads(void)
{
	const char *m = getenv("SIMPLER_TEST_MODE");

	return m && !strcmp(m, "threads");
}

static inline unsigned test_mode_flags(void)
{
	return test_threads() ? SIMPLER_WORKER_THREADS : 0;
}

static inline unsigned test_hostmem(void)
{
	const char *m = getenv("SIMPLER_TEST_HOSTMEM");

	if (m && !strcmp(m, "kmod"))
		return SIMPLER_HOSTMEM_KMOD;
	if (m && !strcmp(m, "shm"))
		return SIMPLER_HOSTMEM_SHM;
	return SIMPLER_HOSTMEM_AUTO;
}

/* options in the suite's mode */
#define TEST_OPTS(name, ...) \
	SIMPLER_OPTS(simpler_worker_opts, name, .hostmem = test_hostmem(), __VA_ARGS__)

static inline struct simpler_worker *make_worker(int chips, int subs, unsigned flags,
						 uint32_t ring)
{
	struct simpler_worker *w = NULL;
	TEST_OPTS(o, .nr_chips = chips, .nr_subs = subs, .flags = test_mode_flags() | flags,
		  .ring_size = ring);
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
