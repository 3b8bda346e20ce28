/* SPDX-License-Identifier: MIT */
/* Compiler helpers every layer uses: cache-line placement, branch hints, container_of. */
#ifndef SIMPLER_BASE_COMPILER_H
#define SIMPLER_BASE_COMPILER_H

#include <stddef.h>

/*
 * Fields written by different threads live on different cache lines: every
 * shared line that moves between cores per task costs more than the task.
 */
#define CACHELINE 64
#define __line __attribute__((aligned(CACHELINE)))

#define likely(x)	__builtin_expect(!!(x), 1)
#define unlikely(x)	__builtin_expect(!!(x), 0)
#define container_of(p, type, member) ((type *)((char *)(p) - offsetof(type, member)))
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#endif /* SIMPLER_BASE_COMPILER_H */
