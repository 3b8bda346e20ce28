// SPDX-License-Identifier: MIT
/* Sorted, merged byte-range sets (see rangeset.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "rangeset.h"
#include "vec.h"

void sx_rangeset_free(struct rangeset *r)
{
	free(r->v);
	r->v = NULL;
	r->n = r->cap = 0;
}

bool sx_rangeset_covers(const struct rangeset *r, uint64_t s, uint64_t e)
{
	size_t i = FIRST_ABOVE(r->v, r->n, e, s);

	return i < r->n && r->v[i].s <= s && e <= r->v[i].e;
}

int sx_rangeset_add(struct rangeset *r, uint64_t s, uint64_t e)
{
	size_t i = FIRST_AT_LEAST(r->v, r->n, e, s), j;

	if (s >= e)
		return 0;
	for (j = i; j < r->n && r->v[j].s <= e; j++) {
		s = r->v[j].s < s ? r->v[j].s : s;
		e = r->v[j].e > e ? r->v[j].e : e;
	}
	if (j == i) {	/* touches nothing: insert */
		if (VEC_ROOM(r->v, r->n, r->cap, 16))
			return -ENOMEM;
		memmove(&r->v[i + 1], &r->v[i], (r->n - i) * sizeof(*r->v));
		r->n++;
	} else {	/* ranges i..j-1 merge into i */
		memmove(&r->v[i + 1], &r->v[j], (r->n - j) * sizeof(*r->v));
		r->n -= j - i - 1;
	}
	r->v[i] = (struct range){ s, e };
	return 0;
}

void sx_rangeset_gaps(const struct rangeset *r, uint64_t s, uint64_t e,
		      void (*fn)(uint64_t s, uint64_t e, void *arg), void *arg)
{
	size_t i;

	for (i = FIRST_ABOVE(r->v, r->n, e, s); i < r->n && r->v[i].s < e && s < e; i++) {
		if (r->v[i].s > s)
			fn(s, r->v[i].s, arg);
		s = r->v[i].e;
	}
	if (s < e)
		fn(s, e, arg);
}
