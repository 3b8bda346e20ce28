/* SPDX-License-Identifier: MIT */
/*
 * A set of byte ranges [s, e): sorted, disjoint, merged when they touch.
 * Lookups are binary searches; adding is a memmove.  Used for the ranges
 * found visible during a run and for what a shm mirror holds and what a run
 * wrote into it.
 */
#ifndef SIMPLER_RANGESET_H
#define SIMPLER_RANGESET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct range {
	uint64_t s, e;
};

struct rangeset {
	struct range *v;
	size_t n, cap;
};

static inline void rangeset_clear(struct rangeset *r)
{
	r->n = 0;
}

void sx_rangeset_free(struct rangeset *r);
/* is [s, e) inside one range of the set? */
bool sx_rangeset_covers(const struct rangeset *r, uint64_t s, uint64_t e);
/* add [s, e); -ENOMEM leaves the set as it was */
int sx_rangeset_add(struct rangeset *r, uint64_t s, uint64_t e);
/* call fn on each part of [s, e) the set does not hold, in order */
void sx_rangeset_gaps(const struct rangeset *r, uint64_t s, uint64_t e,
		      void (*fn)(uint64_t s, uint64_t e, void *arg), void *arg);

#endif /* SIMPLER_RANGESET_H */
