/* SPDX-License-Identifier: MIT */
/* Growing arrays: the one place that doubles a capacity. */
#ifndef SIMPLER_VEC_H
#define SIMPLER_VEC_H

#include <errno.h>
#include <stdlib.h>

/*
 * Make room for one more element in *v (n in use, *cap allocated, elem
 * bytes each), doubling from first.  0, or -ENOMEM with *v untouched.
 */
static inline int vec_room(void **v, size_t n, size_t *cap, size_t elem, size_t first)
{
	size_t c = *cap ? 2 * *cap : first;
	void *p;

	if (n < *cap)
		return 0;
	p = realloc(*v, c * elem);
	if (!p)
		return -ENOMEM;
	*v = p;
	*cap = c;
	return 0;
}

#define VEC_ROOM(v, n, cap, first) vec_room((void **)&(v), (n), &(cap), sizeof(*(v)), (first))

#endif /* SIMPLER_VEC_H */
