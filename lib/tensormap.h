/* SPDX-License-Identifier: MIT */
/*
 * The TensorMap: who last wrote, and who has read since, every byte range
 * tasks have touched, per address space (0: host; 1 + c: chip c memory).
 *
 * Each distinct range is a record holding its last writer and the readers
 * since that write.  A strided view is a record of its span and its layout
 * (base/tensor.h): records overlap when they share a byte, decided exactly
 * (sx_layout_overlap()), so disjoint tiles of one matrix, whose spans
 * interleave, do not.  An access to a record that overlaps no other takes
 * the fast path: one hash lookup.  Otherwise every overlapping record is
 * found through an interval tree of spans, so no edge is ever missed:
 *   read  -> waits for writers (RAW)
 *   write -> waits for writers (WAW) and readers (WAR)
 * Edges to finished tasks are not made.  Registrations are dropped when the
 * task's slot is recycled, which bounds the map by the number of slots.
 * Orchestrator thread only.
 */
#ifndef SIMPLER_TENSORMAP_H
#define SIMPLER_TENSORMAP_H

#include <stdint.h>

struct sx_layout;
struct task;
struct tensormap;
struct tm_rec;

struct tm_ref {
	struct tm_rec *rec;
	struct tm_ref *prev, *next;	/* in rec's reader list */
	struct task *task;
	uint8_t writer;			/* registered as the writer */
	uint8_t linked;			/* in rec's reader list */
};

/* called for every task the access must wait for; may see a task twice */
typedef void (*tm_dep_fn)(struct task *consumer, struct task *producer, void *arg);

struct tensormap *sx_tm_new(uint32_t nspaces);
void sx_tm_free(struct tensormap *tm);

/*
 * Register access acc (SIMPLER_IN..OUT_EXISTING) of task t to [s, e) of
 * space, reporting dependencies through dep.  ref is t's storage for this
 * registration.  Returns 1 if the fast path served it, 0 if not, -ENOMEM.
 */
int sx_tm_access(struct tensormap *tm, struct task *t, struct tm_ref *ref, uint32_t space,
		 uint64_t s, uint64_t e, unsigned acc, tm_dep_fn dep, void *arg);
/* the same for a view: [s, e) is its span, lay its layout (NULL: every byte, as above) */
int sx_tm_access_layout(struct tensormap *tm, struct task *t, struct tm_ref *ref, uint32_t space,
			uint64_t s, uint64_t e, const struct sx_layout *lay, unsigned acc,
			tm_dep_fn dep, void *arg);
/* drop the registration ref (the task's slot is being recycled) */
void sx_tm_release(struct tensormap *tm, struct tm_ref *ref);
/* live records, for tests of boundedness */
uint64_t sx_tm_records(const struct tensormap *tm);

#endif /* SIMPLER_TENSORMAP_H */
