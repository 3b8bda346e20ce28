// SPDX-License-Identifier: MIT
/*
 * The kernels of `simpler bench work` (work.h), compiled once into one
 * object that the simpler command and the StarPU side both link: every
 * side runs the same machine code, so their times compare the runtimes,
 * not the compilers' choices.
 */
#include <math.h>
#include <string.h>

#include "work.h"

void work_gemm(float *restrict c, const float *restrict a, const float *restrict b, uint32_t T)
{
	uint32_t i, k, j;

	for (i = 0; i < T; i++)
		for (k = 0; k < T; k++) {
			float aik = a[i * T + k];

			for (j = 0; j < T; j++)
				c[i * T + j] += aik * b[k * T + j];
		}
}

void work_gelu(float *restrict e, const float *restrict c, uint32_t T)
{
	uint32_t i;

	for (i = 0; i < T * T; i++) {
		float x = c[i] * 0.5f + 0.1f;

		e[i] = 0.5f * x * (1.0f + tanhf(0.7978845608f * (x + 0.044715f * x * x * x)));
	}
}

void work_jacobi(float *restrict out, const float *restrict c, const float *restrict up,
		 const float *restrict down, const float *restrict left,
		 const float *restrict right, uint32_t T)
{
	uint32_t y, x;

	for (y = 0; y < T; y++)
		for (x = 0; x < T; x++) {
			float n = y ? c[(y - 1) * T + x] : up[(T - 1) * T + x];
			float s = y + 1 < T ? c[(y + 1) * T + x] : down[x];
			float w = x ? c[y * T + x - 1] : left[y * T + T - 1];
			float e = x + 1 < T ? c[y * T + x + 1] : right[y * T];

			out[y * T + x] = 0.25f * (n + s + w + e);
		}
}

void work_indep(float *restrict c, const float *restrict a, const float *restrict b, uint32_t T)
{
	memset(c, 0, (size_t)T * T * sizeof(float));
	work_gemm(c, a, b, T);
}

void work_run(int k, float *const *p, uint32_t T)
{
	switch (k) {
	case WK_GEMM:
		work_gemm(p[2], p[0], p[1], T);
		break;
	case WK_EW:
		work_gelu(p[1], p[0], T);
		break;
	case WK_STENCIL:
		work_jacobi(p[5], p[0], p[1], p[2], p[3], p[4], T);
		break;
	default:
		work_indep(p[2], p[0], p[1], T);
		break;
	}
}
