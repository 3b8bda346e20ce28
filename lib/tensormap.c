// SPDX-License-Identifier: MIT
/*
 * The TensorMap (see tensormap.h): records in an open-addressing hash keyed
 * by (space, start, end) and, per space, in an interval tree.  Each record
 * counts the other records overlapping it; zero means the fast path.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "base/itree.h"
#include "base/tensor.h"
#include "task.h"
#include "tensormap.h"

struct tm_rec {
	struct itree_node node;		/* [start, end): the span */
	uint32_t space;
	uint32_t overlaps;		/* other records sharing a byte with this one */
	uint32_t nref;			/* tm_refs pointing here */
	struct task *writer;		/* last writer, NULL once released */
	struct tm_ref *readers;		/* readers since that write */
	struct tm_rec *free_next;
	struct sx_layout lay;		/* lay.nd == 0: every byte of the span */
};

struct tensormap {
	uint32_t nspaces;
	struct itree *trees;
	struct tm_rec **slots;		/* hash table, power of two */
	uint64_t mask, used;
	struct tm_rec *free_recs;
	uint64_t live;
};

struct deps_ctx {
	struct task *t;
	bool writes;
	tm_dep_fn dep;
	void *arg;
	struct tm_rec *created;		/* counting overlaps for this new record */
	uint64_t s, e;			/* the access: its span and layout (NULL: plain) */
	const struct sx_layout *lay;
};

static inline uint64_t hash3(uint32_t space, uint64_t s, uint64_t e)
{
	uint64_t h = s * 0x9e3779b97f4a7c15ULL ^ (e + space) * 0xc2b2ae3d27d4eb4fULL;

	return h ^ (h >> 29);
}

static inline bool task_finished(struct task *t)
{
	/* pairs with the release store of the final state in sx_task_finish() */
	return atomic_load_explicit(&t->state, memory_order_acquire) >= TS_DONE;
}

struct tensormap *sx_tm_new(uint32_t nspaces)
{
	struct tensormap *tm = calloc(1, sizeof(*tm));
	uint32_t i;

	if (!tm)
		return NULL;
	tm->nspaces = nspaces;
	tm->trees = calloc(nspaces, sizeof(*tm->trees));
	tm->mask = 1023;
	tm->slots = calloc(tm->mask + 1, sizeof(*tm->slots));
	if (!tm->trees || !tm->slots) {
		sx_tm_free(tm);
		return NULL;
	}
	for (i = 0; i < nspaces; i++)
		sx_itree_init(&tm->trees[i]);
	return tm;
}

static void free_rec_chain(struct tm_rec *r)
{
	struct tm_rec *next;

	for (; r; r = next) {
		next = r->free_next;
		free(r);
	}
}

void sx_tm_free(struct tensormap *tm)
{
	uint64_t i;

	if (!tm)
		return;
	if (tm->slots)
		for (i = 0; i <= tm->mask; i++)
			free(tm->slots[i]);
	free_rec_chain(tm->free_recs);
	free(tm->slots);
	free(tm->trees);
	free(tm);
}

uint64_t sx_tm_records(const struct tensormap *tm)
{
	return tm->live;
}

/* ---- hash ---- */

/* lay: NULL for a plain range */
static struct tm_rec *hash_find(struct tensormap *tm, uint32_t space, uint64_t s, uint64_t e,
				const struct sx_layout *lay)
{
	uint64_t i = hash3(space, s, e) & tm->mask;
	struct tm_rec *r;

	while ((r = tm->slots[i])) {
		if (r->node.start == s && r->node.end == e && r->space == space &&
		    (lay ? sx_layout_same(&r->lay, lay) : !r->lay.nd))
			return r;
		i = (i + 1) & tm->mask;
	}
	return NULL;
}

static void hash_put(struct tensormap *tm, struct tm_rec *r)
{
	uint64_t i = hash3(r->space, r->node.start, r->node.end) & tm->mask;

	while (tm->slots[i])
		i = (i + 1) & tm->mask;
	tm->slots[i] = r;
	tm->used++;
}

static int hash_grow(struct tensormap *tm)
{
	struct tm_rec **old = tm->slots;
	uint64_t oldmask = tm->mask, i;

	tm->slots = calloc(2 * (oldmask + 1), sizeof(*tm->slots));
	if (!tm->slots) {
		tm->slots = old;
		return -ENOMEM;
	}
	tm->mask = 2 * (oldmask + 1) - 1;
	tm->used = 0;
	for (i = 0; i <= oldmask; i++)
		if (old[i])
			hash_put(tm, old[i]);
	free(old);
	return 0;
}

/* remove by backward shift: no tombstones, probes stay short */
static void hash_del(struct tensormap *tm, struct tm_rec *r)
{
	uint64_t i = hash3(r->space, r->node.start, r->node.end) & tm->mask, j, k;

	while (tm->slots[i] != r)
		i = (i + 1) & tm->mask;
	tm->slots[i] = NULL;
	tm->used--;
	for (j = (i + 1) & tm->mask; tm->slots[j]; j = (j + 1) & tm->mask) {
		k = hash3(tm->slots[j]->space, tm->slots[j]->node.start, tm->slots[j]->node.end) &
		    tm->mask;
		/* move slots[j] into the hole if its home is not in (i, j] */
		if ((j > i && (k <= i || k > j)) || (j < i && (k <= i && k > j))) {
			tm->slots[i] = tm->slots[j];
			tm->slots[j] = NULL;
			i = j;
		}
	}
}

/* ---- records ---- */

/* do records r and x, whose spans overlap, share a byte? */
static inline bool recs_meet(const struct tm_rec *r, const struct tm_rec *x)
{
	return !(r->lay.nd | x->lay.nd) ||
	       sx_layout_overlap(&r->lay, r->node.start, &x->lay, x->node.start) != 0;
}

/* does r share a byte with the access of c (their spans overlap)? */
static inline bool rec_meets(const struct tm_rec *r, const struct deps_ctx *c)
{
	struct sx_layout plain;

	if (!c->lay) {
		if (!r->lay.nd)
			return true;
		plain.nd = 0;
		plain.run = c->e - c->s;
		return sx_layout_overlap(&r->lay, r->node.start, &plain, c->s) != 0;
	}
	return sx_layout_overlap(&r->lay, r->node.start, c->lay, c->s) != 0;
}

static int uncount_overlap(struct itree_node *n, void *arg)
{
	struct tm_rec *r = (struct tm_rec *)n, *self = arg;

	if (r != self && recs_meet(r, self))
		r->overlaps--;
	return 0;
}

static int create_cb(struct itree_node *n, void *arg);

/* a new record; its overlaps are counted in the same pass that finds deps */
static struct tm_rec *rec_create(struct tensormap *tm, uint32_t space, uint64_t s, uint64_t e,
				 struct deps_ctx *c)
{
	struct tm_rec *r = tm->free_recs;

	if ((tm->used + 1) * 2 > tm->mask + 1 && hash_grow(tm))
		return NULL;
	if (r)
		tm->free_recs = r->free_next;
	else if (!(r = malloc(sizeof(*r))))
		return NULL;
	memset(r, 0, sizeof(*r));
	r->node.start = s;
	r->node.end = e;
	r->space = space;
	if (c->lay)
		r->lay = *c->lay;
	else
		r->lay.run = e - s;
	c->created = r;
	sx_itree_query(&tm->trees[space], s, e, create_cb, c);
	sx_itree_insert(&tm->trees[space], &r->node);
	hash_put(tm, r);
	tm->live++;
	return r;
}

static void rec_delete(struct tensormap *tm, struct tm_rec *r)
{
	sx_itree_remove(&tm->trees[r->space], &r->node);
	sx_itree_query(&tm->trees[r->space], r->node.start, r->node.end, uncount_overlap, r);
	hash_del(tm, r);
	tm->live--;
	r->free_next = tm->free_recs;
	tm->free_recs = r;
}

static inline void reader_unlink(struct tm_rec *r, struct tm_ref *ref)
{
	if (ref->prev)
		ref->prev->next = ref->next;
	else
		r->readers = ref->next;
	if (ref->next)
		ref->next->prev = ref->prev;
	ref->linked = 0;
}

/* ---- accesses ---- */

/* the dependencies of an access on what record r holds */
static void deps_on(struct tm_rec *r, const struct deps_ctx *c)
{
	struct tm_ref *ref, *next;

	if (r->writer && r->writer != c->t) {
		if (task_finished(r->writer))
			r->writer = NULL;	/* nothing left to wait for */
		else
			c->dep(c->t, r->writer, c->arg);
	}
	if (!c->writes)
		return;
	for (ref = r->readers; ref; ref = next) {
		next = ref->next;
		if (ref->task == c->t)
			continue;
		if (task_finished(ref->task))
			reader_unlink(r, ref);	/* prune as we go */
		else
			c->dep(c->t, ref->task, c->arg);
	}
}

static int deps_cb(struct itree_node *n, void *arg)
{
	struct deps_ctx *c = arg;

	if (rec_meets((struct tm_rec *)n, c))
		deps_on((struct tm_rec *)n, c);
	return 0;
}

static int create_cb(struct itree_node *n, void *arg)
{
	struct deps_ctx *c = arg;
	struct tm_rec *r = (struct tm_rec *)n;

	if (r != c->created && rec_meets(r, c)) {
		r->overlaps++;
		c->created->overlaps++;
		deps_on(r, c);
	}
	return 0;
}

int sx_tm_access(struct tensormap *tm, struct task *t, struct tm_ref *ref, uint32_t space,
		 uint64_t s, uint64_t e, unsigned acc, tm_dep_fn dep, void *arg)
{
	return sx_tm_access_layout(tm, t, ref, space, s, e, NULL, acc, dep, arg);
}

int sx_tm_access_layout(struct tensormap *tm, struct task *t, struct tm_ref *ref, uint32_t space,
			uint64_t s, uint64_t e, const struct sx_layout *lay, unsigned acc,
			tm_dep_fn dep, void *arg)
{
	struct deps_ctx c = {
		.t = t,
		.writes = acc != SIMPLER_IN,
		.dep = dep,
		.arg = arg,
		.s = s,
		.e = e,
		.lay = lay && lay->nd ? lay : NULL,
	};
	struct tm_rec *r = hash_find(tm, space, s, e, c.lay);
	struct tm_ref *x, *next;
	int fast;

	if (r) {
		fast = r->overlaps == 0;
		if (fast)
			deps_on(r, &c);
		else
			sx_itree_query(&tm->trees[space], s, e, deps_cb, &c);
	} else {
		/* a new range: one tree walk counts its overlaps and finds its deps */
		r = rec_create(tm, space, s, e, &c);
		if (!r)
			return -ENOMEM;
		fast = 0;
	}

	ref->rec = r;
	ref->task = t;
	ref->prev = ref->next = NULL;
	ref->linked = 0;
	r->nref++;
	if (c.writes) {
		/* later accesses reach the old readers through t */
		for (x = r->readers; x; x = next) {
			next = x->next;
			x->linked = 0;
		}
		r->readers = NULL;
		r->writer = t;
		ref->writer = 1;
	} else {
		ref->writer = 0;
		if (!(r->readers && r->readers->task == t)) {
			ref->next = r->readers;
			if (r->readers)
				r->readers->prev = ref;
			r->readers = ref;
			ref->linked = 1;
		}
	}
	return fast;
}

void sx_tm_release(struct tensormap *tm, struct tm_ref *ref)
{
	struct tm_rec *r = ref->rec;

	if (!r)
		return;
	if (ref->writer) {
		if (r->writer == ref->task)
			r->writer = NULL;
	} else if (ref->linked) {
		reader_unlink(r, ref);
	}
	ref->rec = NULL;
	if (--r->nref == 0)
		rec_delete(tm, r);
}
