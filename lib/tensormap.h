/* SPDX-License-Identifier: MIT */
/*
 * The TensorMap: who last wrote, and who has read since, every byte range
 * tasks have touched, per address space (0: host; 1 + c: chip c memory).
 *
 * A plain range lands in a map of disjoint segments, each with one
 * history: its last writer and the readers since.  An access splits the
 * segments at its ends and visits only those inside, so the edges it gets
 * are exactly its conflicts with what each of its bytes holds now:
 *   read  -> waits for the last writer (RAW)
 *   write -> waits for the last writer (WAW) and the readers since (WAR),
 *            then its range becomes one segment with it as the writer
 * Earlier accesses to those bytes are reached through the writer, which
 * waited for them: a sliding window touches a few segments, not every live
 * access it overlaps.  An exact repeat of a segment's range is one lookup
 * (the fast path).
 *
 * A strided view is a record of its span and its layout (base/tensor.h):
 * views meet when they share a byte, decided exactly (sx_layout_overlap()),
 * so disjoint tiles of one matrix, whose spans interleave, do not.  Each
 * distinct view is one record (last writer and readers since), found by
 * hash; one that meets no other view and no segment takes the fast path.
 * Otherwise every view record whose span overlaps is found through an
 * interval tree and tested exactly; plain accesses test the views and
 * views the segments the same way, so no edge is ever missed.
 *
 * Edges to finished tasks are not made.  Registrations are dropped when the
 * task's slot is recycled (the task has finished, so has everything it
 * waited for); a segment with no registration left goes, which bounds the
 * map by the live registrations.  Orchestrator thread only.
 */
#ifndef SIMPLER_TENSORMAP_H
#define SIMPLER_TENSORMAP_H

#include <stdint.h>

struct sx_layout;
struct task;
struct tensormap;
struct tm_link;
struct tm_rec;

struct tm_ref {
	struct tm_rec *rec;		/* a view's record; NULL for a plain range */
	struct task *task;
	union {
		struct tm_link *links;	/* a plain range: the segments it wrote or read */
		struct {
			struct tm_ref *prev, *next;	/* a view: in rec's reader list */
		};
	};
	uint8_t writer;			/* a view: registered as rec's writer */
	uint8_t linked;			/* a view: in rec's reader list */
};

/* called for every task the access must wait for; may see a task twice */
typedef void (*tm_dep_fn)(struct task *consumer, struct task *producer, void *arg);

struct tensormap *sx_tm_new(uint32_t nspaces);
void sx_tm_free(struct tensormap *tm);

/*
 * Register access acc (SIMPLER_IN..OUT_EXISTING) of task t to [s, e) of
 * space, reporting dependencies through dep.  ref is t's storage for this
 * registration; it must stay where it is until released.  Returns 1 if the
 * fast path served it, 0 if not, -ENOMEM (then nothing is registered).
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
