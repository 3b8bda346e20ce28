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

/* what a tensor and a view share: dims, dtype, unused fields */
static int header_check(const struct simpler_tensor *t, char *why, size_t len)
{
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
	return 0;
}

/* 0, or -EINVAL with the reason */
int sx_tensor_check(const struct simpler_tensor *t, char *why, size_t len)
{
	uint64_t n;
	uint32_t i;
	int ret = header_check(t, why, len);

	if (ret)
		return ret;
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

/* elements from the first to the last element of v, plus one; 0 on overflow */
static uint64_t view_elems(const struct simpler_view *v)
{
	uint64_t n = 1, step;
	uint32_t d;

	for (d = 0; d < v->t.ndims; d++) {
		if (__builtin_mul_overflow((uint64_t)v->t.shape[d] - 1, v->strides[d], &step) ||
		    __builtin_add_overflow(n, step, &n))
			return 0;
	}
	return n;
}

SIMPLER_API uint64_t simpler_view_span(const struct simpler_view *v)
{
	char why[8];
	uint64_t n;

	if (!v || sx_view_check(v, why, sizeof(why)))
		return 0;
	n = view_elems(v);
	return n * simpler_dtype_size(v->t.dtype);
}

SIMPLER_API struct simpler_view simpler_view_2d(const void *base, uint64_t ld, uint64_t row0,
						uint64_t col0, uint32_t rows, uint32_t cols,
						uint8_t dtype)
{
	uint64_t off;

	/* an offset that overflows becomes one that cannot fit: add_view says so */
	if (__builtin_mul_overflow(row0, ld, &off) || __builtin_add_overflow(off, col0, &off))
		off = UINT64_MAX;
	return (struct simpler_view){
		.t = { .addr = (uintptr_t)base, .shape = { rows, cols }, .ndims = 2, .dtype = dtype },
		.offset = off,
		.strides = { ld, 1 },
	};
}

int sx_view_check(const struct simpler_view *v, char *why, size_t len)
{
	const struct simpler_tensor *t = &v->t;
	uint64_t es = simpler_dtype_size(t->dtype), n, first, bytes;
	uint32_t d;
	int ret = header_check(t, why, len);

	if (ret)
		return ret;
	for (d = 0; d < SIMPLER_MAX_DIMS; d++) {
		if (d < t->ndims && (!t->shape[d] || !v->strides[d])) {
			snprintf(why, len, "%s[%u] is 0: a view's shape and strides must be > 0 in "
				 "each of its %u dims", t->shape[d] ? "strides" : "shape", d,
				 t->ndims);
			return -EINVAL;
		}
		if (d >= t->ndims && v->strides[d]) {
			snprintf(why, len, "strides[%u] is %llu but ndims is %u: unused dims must "
				 "be 0", d, (unsigned long long)v->strides[d], t->ndims);
			return -EINVAL;
		}
	}
	n = view_elems(v);
	if (!n || __builtin_mul_overflow(n, es, &bytes) ||
	    __builtin_mul_overflow(v->offset, es, &first) ||
	    __builtin_add_overflow(t->addr, first, &first) ||
	    __builtin_add_overflow(first, bytes, &bytes)) {
		snprintf(why, len, "the view's extent (offset %llu, shape and strides) overflows "
			 "the address space", (unsigned long long)v->offset);
		return -EINVAL;
	}
	return 0;
}

void sx_rowmajor_strides(const struct simpler_tensor *t, uint64_t *strides)
{
	uint64_t s = 1;
	int d;

	for (d = SIMPLER_MAX_DIMS - 1; d >= 0; d--) {
		if ((uint32_t)d >= t->ndims) {
			strides[d] = 0;
			continue;
		}
		strides[d] = s;
		s *= t->shape[d];
	}
}

void sx_layout_of(const struct simpler_tensor *t, const uint64_t *strides, struct sx_layout *l)
{
	uint64_t es = simpler_dtype_size(t->dtype), st, c;
	uint32_t d, k;

	l->nd = 0;
	l->run = es;
	if (!strides) {
		l->run = simpler_tensor_nbytes(t);
		return;
	}
	/* the dims of more than one element, by decreasing stride (insertion sort) */
	for (d = 0; d < t->ndims; d++) {
		if (t->shape[d] < 2)
			continue;
		st = strides[d] * es;
		for (k = l->nd; k > 0 && l->stride[k - 1] < st; k--) {
			l->stride[k] = l->stride[k - 1];
			l->count[k] = l->count[k - 1];
		}
		l->stride[k] = st;
		l->count[k] = t->shape[d];
		l->nd++;
	}
	/* fold the innermost dims into the run while they continue it */
	while (l->nd && l->stride[l->nd - 1] == l->run) {
		c = l->count[--l->nd];
		l->run *= c;
	}
}

/* ---- overlap ---- */

typedef __int128 i128;

struct odim {
	uint64_t s;
	i128 lo, hi;
};

static i128 floor_div(i128 a, uint64_t b)
{
	i128 q = a / (i128)b;

	return (a % (i128)b && a < 0) ? q - 1 : q;
}

static i128 ceil_div(i128 a, uint64_t b)
{
	i128 q = a / (i128)b;

	return (a % (i128)b && a > 0) ? q + 1 : q;
}

/*
 * Is r = sum over j >= k of d[j].s * z_j with lo_j <= z_j <= hi_j?  mn[k]
 * and mx[k] bound the dims after k, so only the z_k that leave a reachable
 * remainder are tried: with nested strides, at most two per dim.
 */
static int solve(const struct odim *d, uint32_t k, uint32_t n, i128 r, const i128 *mn,
		 const i128 *mx, unsigned *budget)
{
	i128 z, zlo, zhi;
	int ret;

	if (k == n - 1)
		return r % (i128)d[k].s == 0 && r / (i128)d[k].s >= d[k].lo &&
		       r / (i128)d[k].s <= d[k].hi;
	zlo = ceil_div(r - mx[k], d[k].s);
	zhi = floor_div(r - mn[k], d[k].s);
	if (zlo < d[k].lo)
		zlo = d[k].lo;
	if (zhi > d[k].hi)
		zhi = d[k].hi;
	for (z = zlo; z <= zhi; z++) {
		if (!--*budget)
			return SX_OVERLAP_ASSUMED;
		ret = solve(d, k + 1, n, r - z * (i128)d[k].s, mn, mx, budget);
		if (ret)
			return ret;
	}
	return 0;
}

/* add dim (s, [lo, hi]) to d, sorted by decreasing stride, equal strides merged */
static void odim_add(struct odim *d, uint32_t *n, uint64_t s, i128 lo, i128 hi)
{
	uint32_t k;

	for (k = 0; k < *n && d[k].s > s; k++)
		;
	if (k < *n && d[k].s == s) {
		d[k].lo += lo;
		d[k].hi += hi;
		return;
	}
	memmove(&d[k + 1], &d[k], (*n - k) * sizeof(*d));
	d[k] = (struct odim){ s, lo, hi };
	(*n)++;
}

/*
 * a's byte x + sum(sa * i) + u and b's byte y + sum(sb * j) + v meet when
 * sum(sa * i) - sum(sb * j) + (u - v) = y - x: one linear equation over
 * boxes, with the run offsets as a stride-1 dim.
 */
int sx_layout_overlap(const struct sx_layout *a, uint64_t x, const struct sx_layout *b,
		      uint64_t y)
{
	struct odim d[2 * SIMPLER_MAX_DIMS + 1];
	i128 mn[2 * SIMPLER_MAX_DIMS + 1], mx[2 * SIMPLER_MAX_DIMS + 1];
	unsigned budget = SX_OVERLAP_BUDGET;
	uint32_t n = 0, k;

	/* no byte outside the two spans can be shared */
	if (x >= y + sx_layout_span(b) || y >= x + sx_layout_span(a))
		return 0;
	if (!a->nd && !b->nd)
		return 1;
	for (k = 0; k < a->nd; k++)
		odim_add(d, &n, a->stride[k], 0, (i128)a->count[k] - 1);
	for (k = 0; k < b->nd; k++)
		odim_add(d, &n, b->stride[k], -((i128)b->count[k] - 1), 0);
	odim_add(d, &n, 1, -((i128)b->run - 1), (i128)a->run - 1);
	mn[n - 1] = mx[n - 1] = 0;
	for (k = n - 1; k > 0; k--) {
		mn[k - 1] = mn[k] + (i128)d[k].s * d[k].lo;
		mx[k - 1] = mx[k] + (i128)d[k].s * d[k].hi;
	}
	return solve(d, 0, n, (i128)y - (i128)x, mn, mx, &budget);
}

void sx_layout_runs(const struct sx_layout *l, uint64_t x,
		    void (*fn)(uint64_t s, uint64_t len, void *arg), void *arg)
{
	uint64_t idx[SIMPLER_MAX_DIMS] = { 0 }, s = x;
	int d;

	for (;;) {
		fn(s, l->run, arg);
		/* the next point of the outer dims, last dim fastest */
		for (d = (int)l->nd - 1; d >= 0; d--) {
			if (++idx[d] < l->count[d]) {
				s += l->stride[d];
				break;
			}
			s -= (idx[d] - 1) * l->stride[d];
			idx[d] = 0;
		}
		if (d < 0)
			return;
	}
}
