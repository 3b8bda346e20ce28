/* SPDX-License-Identifier: MIT */
/*
 * Tensor descriptors: the public helpers (simpler_dtype_size(),
 * simpler_tensor_nbytes(), simpler_tensor_1d()) and the one validation
 * every layer uses.  Pure functions, thread-safe.
 */
#ifndef SIMPLER_BASE_TENSOR_H
#define SIMPLER_BASE_TENSOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "simpler.h"

/* 0, or -EINVAL with the reason in why */
int sx_tensor_check(const struct simpler_tensor *t, char *why, size_t len);
/* the same for a view (sx_tensor_check() of v->t, then its strides and extent) */
int sx_view_check(const struct simpler_view *v, char *why, size_t len);

/*
 * Tensor i's strides in a per-tensor table where [i][0] == 0 marks a plain
 * tensor (args, tasks, frames); NULL for a plain tensor or no table.
 */
static inline const uint64_t *sx_strides_at(const uint64_t (*tab)[SIMPLER_MAX_DIMS], uint32_t i)
{
	return tab && tab[i][0] ? tab[i] : NULL;
}

/* strides (elements) of a plain tensor: row-major, 0 past ndims */
void sx_rowmajor_strides(const struct simpler_tensor *t, uint64_t *strides);

/*
 * The bytes an argument covers, whatever its dims and strides: a run of
 * `run` contiguous bytes at every point of up to 5 outer dims (decreasing
 * strides, in bytes; counts >= 2).  A contiguous tensor is one run (nd 0).
 * Dims of one element are dropped and contiguous dims folded into the run,
 * so views covering the same bytes the same way have the same layout.
 */
struct sx_layout {
	uint64_t run;
	uint32_t nd;
	uint64_t stride[SIMPLER_MAX_DIMS];
	uint64_t count[SIMPLER_MAX_DIMS];
};

/* t's layout; strides in elements, NULL for a plain tensor (t must be valid) */
void sx_layout_of(const struct simpler_tensor *t, const uint64_t *strides, struct sx_layout *l);

/* bytes from the first byte to the end of the last */
static inline uint64_t sx_layout_span(const struct sx_layout *l)
{
	uint64_t n = l->run;
	uint32_t d;

	for (d = 0; d < l->nd; d++)
		n += (l->count[d] - 1) * l->stride[d];
	return n;
}

/* the span of a valid argument: strides NULL for a plain tensor */
static inline uint64_t sx_arg_span(const struct simpler_tensor *t, const uint64_t *strides)
{
	struct sx_layout l;

	if (!strides)
		return simpler_tensor_nbytes(t);
	sx_layout_of(t, strides, &l);
	return sx_layout_span(&l);
}

static inline bool sx_layout_same(const struct sx_layout *a, const struct sx_layout *b)
{
	uint32_t d;

	if (a->nd != b->nd || a->run != b->run)
		return false;
	for (d = 0; d < a->nd; d++)
		if (a->stride[d] != b->stride[d] || a->count[d] != b->count[d])
			return false;
	return true;
}

/*
 * Do a at address x and b at address y share a byte?  1 yes, 0 no: exact,
 * by a bounded search over the dims (a few steps when the strides nest, as
 * tiles of one matrix do); SX_OVERLAP_ASSUMED (also true) when the search
 * gave up after SX_OVERLAP_BUDGET steps.
 */
#define SX_OVERLAP_ASSUMED	2
#define SX_OVERLAP_BUDGET	4096
int sx_layout_overlap(const struct sx_layout *a, uint64_t x, const struct sx_layout *b,
		      uint64_t y);

/* fn(start, bytes, arg) for every run of l at address x, in order of the outer dims */
void sx_layout_runs(const struct sx_layout *l, uint64_t x,
		    void (*fn)(uint64_t s, uint64_t len, void *arg), void *arg);

#endif /* SIMPLER_BASE_TENSOR_H */
