/* SPDX-License-Identifier: MIT */
/*
 * Growing arrays, and the one binary search the sorted ones use.  Single
 * owner: no locking here.
 */
#ifndef SIMPLER_VEC_H
#define SIMPLER_VEC_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* the capacity that holds need elements: cap doubled (from first) until it does */
static inline size_t vec_grown(size_t cap, size_t need, size_t first)
{
	size_t c = cap ? cap : first;

	while (c < need)
		c *= 2;
	return c;
}

/* resize *v to c elements of elem bytes: 0, or -ENOMEM with *v untouched */
static inline int vec_resize(void **v, size_t c, size_t elem)
{
	void *p = realloc(*v, c * elem);

	if (!p)
		return -ENOMEM;
	*v = p;
	return 0;
}

/* room for need elements in *v (*cap allocated): 0, or -ENOMEM with *v and *cap untouched */
static inline int vec_reserve(void **v, size_t need, size_t *cap, size_t elem, size_t first)
{
	size_t c;

	if (need <= *cap)
		return 0;
	c = vec_grown(*cap, need, first);
	if (vec_resize(v, c, elem))
		return -ENOMEM;
	*cap = c;
	return 0;
}

#define VEC_RESIZE(v, c) vec_resize((void **)&(v), (c), sizeof(*(v)))
#define VEC_RESERVE(v, need, cap, first) \
	vec_reserve((void **)&(v), (need), &(cap), sizeof(*(v)), (first))
/* room for one more after the n in use */
#define VEC_ROOM(v, n, cap, first) VEC_RESERVE(v, (size_t)(n) + 1, cap, first)

/*
 * In v[0..n), sorted by the uint64_t key at byte offset off of each elem-byte
 * element: the index of the first element whose key is above a (at or above
 * a with inclusive), n if none.
 */
static inline size_t vec_first_above(const void *v, size_t n, size_t elem, size_t off, uint64_t a,
				     bool inclusive)
{
	size_t lo = 0, hi = n, mid;
	uint64_t k;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		memcpy(&k, (const char *)v + mid * elem + off, sizeof(k));
		if (k < a || (k == a && !inclusive))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* the first of v[0..n) whose uint64_t field is above a (FIRST_AT_LEAST: at or above) */
#define VEC_FIRST(v, n, field, a, inclusive) ({                                        \
		_Static_assert(sizeof((v)->field) == sizeof(uint64_t), "a uint64_t key"); \
		vec_first_above((v), (n), sizeof(*(v)), offsetof(__typeof__(*(v)), field), \
				(a), (inclusive));                                        \
	})
#define FIRST_ABOVE(v, n, field, a) VEC_FIRST(v, n, field, a, false)
#define FIRST_AT_LEAST(v, n, field, a) VEC_FIRST(v, n, field, a, true)

#endif /* SIMPLER_VEC_H */
