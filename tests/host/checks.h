/* SPDX-License-Identifier: MIT */
/*
 * The checks every test harness uses (harness.h, tests/mpi/mpitest.h): a
 * failed one prints where and what it saw on TH_OUT, then TH_ABORT() ends
 * the test, both defined by the harness before it includes this.
 */
#ifndef SIMPLER_CHECKS_H
#define SIMPLER_CHECKS_H

#include <stdio.h>
#include <string.h>

#define FAILF(...)                                                                 \
	do {                                                                       \
		fprintf(TH_OUT, "#   %s:%d: ", __FILE__, __LINE__);                   \
		fprintf(TH_OUT, __VA_ARGS__);                                      \
		fprintf(TH_OUT, "\n");                                             \
		fflush(TH_OUT);                                                    \
		TH_ABORT();                                                        \
	} while (0)

#define CHECK(cond)                                                                \
	do {                                                                       \
		if (!(cond))                                                       \
			FAILF("check failed: %s", #cond);                          \
	} while (0)

#define CHECK_MSG(cond, ...)                                                       \
	do {                                                                       \
		if (!(cond)) {                                                     \
			fprintf(TH_OUT, "#   %s:%d: check failed: %s: ", __FILE__, __LINE__, \
				#cond);                                            \
			fprintf(TH_OUT, __VA_ARGS__);                              \
			fprintf(TH_OUT, "\n");                                     \
			fflush(TH_OUT);                                            \
			TH_ABORT();                                                \
		}                                                                  \
	} while (0)

#define CHECK_EQ(a, b)                                                             \
	do {                                                                       \
		long long __a = (long long)(a), __b = (long long)(b);              \
		if (__a != __b)                                                    \
			FAILF("%s == %s: %lld != %lld", #a, #b, __a, __b);         \
	} while (0)

#define CHECK_OK(expr, w)                                                          \
	do {                                                                       \
		long long __r = (long long)(expr);                                 \
		if (__r < 0)                                                       \
			FAILF("%s returned %lld (%s): %s", #expr, __r, strerror((int)-__r), \
			      simpler_worker_errmsg(w));                           \
	} while (0)

#endif /* SIMPLER_CHECKS_H */
