// SPDX-License-Identifier: MIT
/*
 * A kernel in a shared object the tests dlopen() after the chip processes
 * started: the chips must load it themselves to run it.  It writes its
 * scalar plus the chip index into every u64 of tensor 0, and a marker that
 * it ran in a process that loaded this object.
 */
#include <stdint.h>

#include "simpler.h"

static uint64_t loaded_marker = 0x5eed;

__attribute__((visibility("default"))) int kern_so_fill(const struct simpler_kernel_args *a)
{
	uint64_t *p = (uint64_t *)(uintptr_t)a->tensors[0].addr;
	uint32_t i, n = a->tensors[0].shape[0];

	for (i = 0; i < n; i++)
		p[i] = a->scalars[0] + (uint64_t)a->chip + loaded_marker;
	return 0;
}
