// SPDX-License-Identifier: MIT
/*
 * C kernels the Python tests register as "libpykern.so:symbol": what a
 * user's shared object of kernels looks like.
 */
#include <errno.h>
#include <stdint.h>
#include <time.h>

#include "simpler.h"

#define K __attribute__((visibility("default"))) int

K pk_empty(const struct simpler_kernel_args *a)
{
	(void)a;
	return 0;
}

/* tensors: x, y (in), z (out), float32, same shape: z = x + y */
K pk_vadd(const struct simpler_kernel_args *a)
{
	const float *x = (const float *)(uintptr_t)a->tensors[0].addr;
	const float *y = (const float *)(uintptr_t)a->tensors[1].addr;
	float *z = (float *)(uintptr_t)a->tensors[2].addr;
	uint64_t i, n = simpler_tensor_nbytes(&a->tensors[0]) / sizeof(float);

	for (i = 0; i < n; i++)
		z[i] = x[i] + y[i];
	return 0;
}

/* upstream's golden vector kernel: f = (a + b + 1) * (a + b + 2) + (a + b), float32 */
K pk_f(const struct simpler_kernel_args *a)
{
	const float *x = (const float *)(uintptr_t)a->tensors[0].addr;
	const float *y = (const float *)(uintptr_t)a->tensors[1].addr;
	float *f = (float *)(uintptr_t)a->tensors[2].addr;
	uint64_t i, n = simpler_tensor_nbytes(&a->tensors[0]) / sizeof(float);

	for (i = 0; i < n; i++) {
		float s = x[i] + y[i];

		f[i] = (s + 1) * (s + 2) + s;
	}
	return 0;
}

/* fails with -scalars[0] and a message */
K pk_fail(const struct simpler_kernel_args *a)
{
	simpler_kernel_errmsg(a, "pk_fail was asked to fail with %llu",
			      (unsigned long long)a->scalars[0]);
	return -(int)a->scalars[0];
}

/* tensor 0 (float32, inout): every element + scalars[0] as a double's bits */
K pk_add(const struct simpler_kernel_args *a)
{
	float *x = (float *)(uintptr_t)a->tensors[0].addr;
	uint64_t i, n = simpler_tensor_nbytes(&a->tensors[0]) / sizeof(float);
	union { uint64_t u; double d; } s = { .u = a->scalars[0] };

	for (i = 0; i < n; i++)
		x[i] += (float)s.d;
	return 0;
}

/* tensor 0: a 2-D float32 view; tensor 1 (out, float64[1]): the sum of its elements, walked by strides */
K pk_sum2d(const struct simpler_kernel_args *a)
{
	const float *t = (const float *)(uintptr_t)a->tensors[0].addr;
	double *out = (double *)(uintptr_t)a->tensors[1].addr, s = 0;
	uint64_t r, c, ld = simpler_kernel_stride(a, 0, 0), st = simpler_kernel_stride(a, 0, 1);

	for (r = 0; r < a->tensors[0].shape[0]; r++)
		for (c = 0; c < a->tensors[0].shape[1]; c++)
			s += t[r * ld + c * st];
	out[0] = s;
	return 0;
}

/* tensor 0 (int64, out): element [block_idx] = chip index * 1000 + block_idx */
K pk_where(const struct simpler_kernel_args *a)
{
	int64_t *p = (int64_t *)(uintptr_t)a->tensors[0].addr;

	p[a->block_idx] = (int64_t)a->chip * 1000 + a->block_idx;
	return 0;
}

/* sleeps scalars[0] microseconds */
K pk_sleep(const struct simpler_kernel_args *a)
{
	struct timespec ts = { (time_t)(a->scalars[0] / 1000000),
			       (long)(a->scalars[0] % 1000000) * 1000 };

	nanosleep(&ts, NULL);
	return 0;
}
