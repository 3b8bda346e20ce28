// SPDX-License-Identifier: MIT
/* Tensor descriptors: element sizes, byte counts, validation. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "tensor.h"

static const uint8_t dtype_sizes[SIMPLER_DTYPE_COUNT] = {
	[SIMPLER_F32] = 4, [SIMPLER_F16] = 2, [SIMPLER_BF16] = 2, [SIMPLER_F64] = 8,
	[SIMPLER_I8] = 1,  [SIMPLER_I16] = 2, [SIMPLER_I32] = 4,  [SIMPLER_I64] = 8,
	[SIMPLER_U8] = 1,  [SIMPLER_U16] = 2, [SIMPLER_U32] = 4,  [SIMPLER_U64] = 8,
	[SIMPLER_BOOL] = 1,
};

SIMPLER_API uint32_t simpler_dtype_size(uint8_t dtype)
{
	return dtype < SIMPLER_DTYPE_COUNT ? dtype_sizes[dtype] : 0;
}

SIMPLER_API uint64_t simpler_tensor_nbytes(const struct simpler_tensor *t)
{
	uint64_t n = simpler_dtype_size(t->dtype);
	uint32_t i;

	if (!n || t->ndims < 1 || t->ndims > SIMPLER_MAX_DIMS)
		return 0;
	for (i = 0; i < t->ndims; i++) {
		if (t->shape[i] && n > UINT64_MAX / t->shape[i])
			return 0;
		n *= t->shape[i];
	}
	return n;
}

SIMPLER_API struct simpler_tensor simpler_tensor_1d(const void *addr, uint32_t n, uint8_t dtype)
{
	/* a literal, not memset + stores: no partial stores read back whole */
	return (struct simpler_tensor){ .addr = (uintptr_t)addr, .shape = { n }, .ndims = 1,
					.dtype = dtype };
}

/* 0, or -EINVAL with the reason */
int sx_tensor_check(const struct simpler_tensor *t, char *why, size_t len)
{
	uint64_t n;
	uint32_t i;

	if (t->ndims < 1 || t->ndims > SIMPLER_MAX_DIMS) {
		snprintf(why, len, "ndims is %u, must be 1..%d", t->ndims, SIMPLER_MAX_DIMS);
		return -EINVAL;
	}
	if (!simpler_dtype_size(t->dtype)) {
		snprintf(why, len, "dtype %u is unknown", t->dtype);
		return -EINVAL;
	}
	for (i = t->ndims; i < SIMPLER_MAX_DIMS; i++) {
		if (t->shape[i]) {
			snprintf(why, len, "shape[%u] is %u but ndims is %u: unused dims must be 0",
				 i, t->shape[i], t->ndims);
			return -EINVAL;
		}
	}
	for (i = 0; i < sizeof(t->reserved); i++) {
		if (t->reserved[i]) {
			snprintf(why, len, "reserved bytes must be zero");
			return -EINVAL;
		}
	}
	if (t->child_memory > 1) {
		snprintf(why, len, "child_memory is %u, must be 0 or 1", t->child_memory);
		return -EINVAL;
	}
	n = simpler_tensor_nbytes(t);
	if (!n) {
		for (i = 0; i < t->ndims; i++)
			if (!t->shape[i])
				return 0;	/* an empty tensor: nothing to track */
		snprintf(why, len, "the byte count overflows");
		return -EINVAL;
	}
	if (t->addr + n < t->addr) {
		snprintf(why, len, "0x%llx + %llu bytes wraps around the address space",
			 (unsigned long long)t->addr, (unsigned long long)n);
		return -EINVAL;
	}
	return 0;
}
