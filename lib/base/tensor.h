/* SPDX-License-Identifier: MIT */
/*
 * Tensor descriptors: the public helpers (simpler_dtype_size(),
 * simpler_tensor_nbytes(), simpler_tensor_1d()) and the one validation
 * every layer uses.  Pure functions, thread-safe.
 */
#ifndef SIMPLER_BASE_TENSOR_H
#define SIMPLER_BASE_TENSOR_H

#include <stddef.h>

#include "simpler.h"

/* 0, or -EINVAL with the reason in why */
int sx_tensor_check(const struct simpler_tensor *t, char *why, size_t len);

#endif /* SIMPLER_BASE_TENSOR_H */
