// SPDX-License-Identifier: MIT
/*
 * The TensorMap (see tensormap.h).  Plain ranges: per space, a skip list of
 * disjoint segments ordered by start, searched from the segment last
 * touched (accesses tend to come near the last one), and a hash of the
 * segments whose range is an access's, for exact repeats.  A segment's
 * writer and readers are links, also listed on their registration so that
 * a release finds them.  Views: records in the same hash, keyed by (space,
 * span, layout), and per space in an interval tree; each counts the other
 * view records it meets, zero meaning the fast path.
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

/* what the hash finds: a view record, or a segment when a plain access had its range */
struct tm_key {
	uint64_t start, end;
	uint32_t space;
	uint8_t view;			/* in a view record, else in a segment */
	uint8_t hashed;			/* in the hash */
};

/* a view: the fast path reads key, lay, overlaps, writer and readers, so they come first */
struct tm_rec {
	struct tm_key key;		/* the span, hashed with the layout */
	uint32_t overlaps;		/* other view records sharing a byte with this one */
	uint32_t nref;			/* tm_refs pointing here */
	struct task *writer;		/* last writer, NULL once released */
	struct tm_ref *readers;		/* readers since that write */
	struct sx_layout lay;
	struct itree_node node;		/* [start, end): the span again, in the tree */
	struct tm_rec *free_next;
};

/* a registration as the writer or a reader of a segment */
struct tm_link {
	struct tm_seg *seg;
	struct tm_ref *ref;
	struct tm_link *sprev, *snext;	/* in seg's readers (not for its writer) */
	struct tm_link *rprev, *rnext;	/* in ref's links */
};

/*
 * Skip list levels: a segment has level l with probability 4^-l, so 12 keep
 * searches logarithmic up to millions of segments.
 */
#define SEG_LEVELS	12

/* bytes [start, end) of a space, all with one history */
struct tm_seg {
	struct tm_key key;
	uint32_t height;
	struct tm_link w;		/* w.ref: the last writer, NULL if none is left */
	struct tm_link *readers;	/* readers since that write, newest first */
	struct tm_seg *prev;		/* at level 0: the head before the first */
	struct tm_seg *next[];		/* height levels */
};

struct tm_space {
	struct itree views;		/* view records by span */
	struct tm_seg *head;		/* the segments' skip list, SEG_LEVELS high */
	struct tm_seg *finger;		/* the segment last touched, or head */
};

struct tensormap {
	uint32_t nspaces;
	struct tm_space *spaces;
	/*
	 * View records, and segments whose range is an access's: a repeat finds
	 * them in one lookup.  Open addressing, a power of two.
	 */
	struct tm_key **slots;
	uint64_t mask, used;
	struct tm_rec *free_recs;
	struct tm_seg *free_segs[SEG_LEVELS + 1];	/* by height, linked by next[0] */
	struct tm_link *free_links;	/* linked by rnext */
	uint64_t live;			/* segments and view records */
	uint64_t rng;
};

struct deps_ctx {
	struct task *t;
	bool writes;
	tm_dep_fn dep;
	void *arg;
	struct tm_rec *created;		/* counting overlaps for this new record */
	uint64_t s, e;			/* the access: its span and layout (NULL: plain) */
	const struct sx_layout *lay;
	struct task *last;		/* the task reported last: segments repeat their tasks */
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

static inline struct tm_rec *rec_of(struct tm_key *k)
{
	return container_of(k, struct tm_rec, key);
}

static inline void report(struct deps_ctx *c, struct task *p)
{
	if (p == c->t || p == c->last || task_finished(p))
		return;
	c->last = p;
	c->dep(c->t, p, c->arg);
}

static struct tm_seg *seg_alloc(struct tensormap *tm, uint32_t height)
{
	struct tm_seg *g = tm->free_segs[height];

	if (g)
		tm->free_segs[height] = g->next[0];
	else if (!(g = malloc(sizeof(*g) + height * sizeof(g->next[0]))))
		return NULL;
	memset(g, 0, sizeof(*g) + height * sizeof(g->next[0]));
	g->height = height;
	return g;
}

struct tensormap *sx_tm_new(uint32_t nspaces)
{
	struct tensormap *tm = calloc(1, sizeof(*tm));
	uint32_t i;

	if (!tm)
		return NULL;
	tm->nspaces = nspaces;
	tm->rng = 0x9e3779b97f4a7c15ULL;
	tm->spaces = calloc(nspaces, sizeof(*tm->spaces));
	tm->mask = 1023;
	tm->slots = calloc(tm->mask + 1, sizeof(*tm->slots));
	if (!tm->spaces || !tm->slots)
		goto err;
	for (i = 0; i < nspaces; i++) {
		sx_itree_init(&tm->spaces[i].views);
		tm->spaces[i].head = seg_alloc(tm, SEG_LEVELS);
		if (!tm->spaces[i].head)
			goto err;
		tm->spaces[i].head->key.space = i;
		tm->spaces[i].finger = tm->spaces[i].head;
	}
	return tm;
err:
	sx_tm_free(tm);
	return NULL;
}

static void free_rec_chain(struct tm_rec *r)
{
	struct tm_rec *next;

	for (; r; r = next) {
		next = r->free_next;
		free(r);
	}
}

static void free_link_chain(struct tm_link *l)
{
	struct tm_link *next;

	for (; l; l = next) {
		next = l->rnext;
		free(l);
	}
}

static void free_seg_chain(struct tm_seg *g)
{
	struct tm_seg *next;
	struct tm_link *l, *lnext;

	for (; g; g = next) {
		next = g->next[0];
		for (l = g->readers; l; l = lnext) {
			lnext = l->snext;
			free(l);
		}
		free(g);
	}
}

void sx_tm_free(struct tensormap *tm)
{
	uint64_t i;

	if (!tm)
		return;
	if (tm->slots)
		for (i = 0; i <= tm->mask; i++)
			if (tm->slots[i] && tm->slots[i]->view)
				free(rec_of(tm->slots[i]));
	for (i = 0; tm->spaces && i < tm->nspaces; i++)
		free_seg_chain(tm->spaces[i].head);
	for (i = 0; i <= SEG_LEVELS; i++)
		free_seg_chain(tm->free_segs[i]);
	free_rec_chain(tm->free_recs);
	free_link_chain(tm->free_links);
	free(tm->slots);
	free(tm->spaces);
	free(tm);
}

uint64_t sx_tm_records(const struct tensormap *tm)
{
	return tm->live;
}

/* ---- hash ---- */

/* lay: NULL for a segment */
static inline struct tm_key *hash_find(struct tensormap *tm, uint32_t space, uint64_t s,
				       uint64_t e, const struct sx_layout *lay)
{
	uint64_t i = hash3(space, s, e) & tm->mask;
	struct tm_key *k;

	while ((k = tm->slots[i])) {
		if (k->start == s && k->end == e && k->space == space &&
		    (lay ? k->view && sx_layout_same(&rec_of(k)->lay, lay) : !k->view))
			return k;
		i = (i + 1) & tm->mask;
	}
	return NULL;
}

static void hash_put(struct tensormap *tm, struct tm_key *k)
{
	uint64_t i = hash3(k->space, k->start, k->end) & tm->mask;

	while (tm->slots[i])
		i = (i + 1) & tm->mask;
	tm->slots[i] = k;
	k->hashed = 1;
	tm->used++;
}

/* room for one more key: the table at most half full */
static int hash_room(struct tensormap *tm)
{
	struct tm_key **old = tm->slots;
	uint64_t oldmask = tm->mask, i;

	if ((tm->used + 1) * 2 <= tm->mask + 1)
		return 0;
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
static void hash_del(struct tensormap *tm, struct tm_key *k)
{
	uint64_t i = hash3(k->space, k->start, k->end) & tm->mask, j, h;

	while (tm->slots[i] != k)
		i = (i + 1) & tm->mask;
	tm->slots[i] = NULL;
	tm->used--;
	k->hashed = 0;
	for (j = (i + 1) & tm->mask; tm->slots[j]; j = (j + 1) & tm->mask) {
		h = hash3(tm->slots[j]->space, tm->slots[j]->start, tm->slots[j]->end) & tm->mask;
		/* move slots[j] into the hole if its home is not in (i, j] */
		if ((j > i && (h <= i || h > j)) || (j < i && (h <= i && h > j))) {
			tm->slots[i] = tm->slots[j];
			tm->slots[j] = NULL;
			i = j;
		}
	}
}

/* ---- view records ---- */

/* does the view lay at x share a byte with the plain range [s, e)? */
static inline bool plain_meets(const struct sx_layout *lay, uint64_t x, uint64_t s, uint64_t e)
{
	struct sx_layout plain = { .run = e - s };

	return sx_layout_overlap(lay, x, &plain, s) != 0;
}

/* do view records r and x, whose spans overlap, share a byte? */
static inline bool recs_meet(const struct tm_rec *r, const struct tm_rec *x)
{
	return sx_layout_overlap(&r->lay, r->node.start, &x->lay, x->node.start) != 0;
}

/* does view record r share a byte with the access of c (their spans overlap)? */
static inline bool rec_meets(const struct tm_rec *r, const struct deps_ctx *c)
{
	if (!c->lay)
		return plain_meets(&r->lay, r->node.start, c->s, c->e);
	return sx_layout_overlap(&r->lay, r->node.start, c->lay, c->s) != 0;
}

static int uncount_overlap(struct itree_node *n, void *arg)
{
	struct tm_rec *r = container_of(n, struct tm_rec, node), *self = arg;

	if (r != self && recs_meet(r, self))
		r->overlaps--;
	return 0;
}

static int create_cb(struct itree_node *n, void *arg);

/* a new view record; its overlaps are counted in the same pass that finds deps */
static struct tm_rec *rec_create(struct tensormap *tm, uint32_t space, struct deps_ctx *c)
{
	struct tm_rec *r = tm->free_recs;

	if (hash_room(tm))
		return NULL;
	if (r)
		tm->free_recs = r->free_next;
	else if (!(r = malloc(sizeof(*r))))
		return NULL;
	memset(r, 0, sizeof(*r));
	r->node.start = r->key.start = c->s;
	r->node.end = r->key.end = c->e;
	r->key.space = space;
	r->key.view = 1;
	r->lay = *c->lay;
	c->created = r;
	sx_itree_query(&tm->spaces[space].views, c->s, c->e, create_cb, c);
	sx_itree_insert(&tm->spaces[space].views, &r->node);
	hash_put(tm, &r->key);
	tm->live++;
	return r;
}

static void rec_delete(struct tensormap *tm, struct tm_rec *r)
{
	struct itree *views = &tm->spaces[r->key.space].views;

	sx_itree_remove(views, &r->node);
	sx_itree_query(views, r->node.start, r->node.end, uncount_overlap, r);
	hash_del(tm, &r->key);
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

/* the dependencies of an access on what view record r holds */
static void deps_on(struct tm_rec *r, struct deps_ctx *c)
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
	struct tm_rec *r = container_of(n, struct tm_rec, node);

	if (rec_meets(r, c))
		deps_on(r, c);
	return 0;
}

static int create_cb(struct itree_node *n, void *arg)
{
	struct deps_ctx *c = arg;
	struct tm_rec *r = container_of(n, struct tm_rec, node);

	if (r != c->created && rec_meets(r, c)) {
		r->overlaps++;
		c->created->overlaps++;
		deps_on(r, c);
	}
	return 0;
}

/* ---- segments ---- */

static void link_add(struct tm_link *l, struct tm_seg *g, struct tm_ref *ref)
{
	l->seg = g;
	l->ref = ref;
	l->rprev = NULL;
	l->rnext = ref->links;
	if (ref->links)
		ref->links->rprev = l;
	ref->links = l;
}

static void link_del(struct tm_link *l)
{
	if (l->rprev)
		l->rprev->rnext = l->rnext;
	else
		l->ref->links = l->rnext;
	if (l->rnext)
		l->rnext->rprev = l->rprev;
}

static void seg_set_writer(struct tm_seg *g, struct tm_ref *ref)
{
	if (g->w.ref)
		link_del(&g->w);
	g->w.ref = NULL;
	if (ref)
		link_add(&g->w, g, ref);
}

/* put reader link l of ref after prev in g's readers (prev NULL: first) */
static void reader_add(struct tm_seg *g, struct tm_link *prev, struct tm_link *l,
		       struct tm_ref *ref)
{
	struct tm_link *next = prev ? prev->snext : g->readers;

	l->sprev = prev;
	l->snext = next;
	if (prev)
		prev->snext = l;
	else
		g->readers = l;
	if (next)
		next->sprev = l;
	link_add(l, g, ref);
}

static struct tm_link *link_alloc(struct tensormap *tm)
{
	struct tm_link *l = tm->free_links;

	if (l)
		tm->free_links = l->rnext;
	else
		l = malloc(sizeof(*l));
	return l;
}

/* drop reader link l of g, from both of its lists */
static void reader_drop(struct tensormap *tm, struct tm_seg *g, struct tm_link *l)
{
	if (l->sprev)
		l->sprev->snext = l->snext;
	else
		g->readers = l->snext;
	if (l->snext)
		l->snext->sprev = l->sprev;
	link_del(l);
	l->rnext = tm->free_links;
	tm->free_links = l;
}

/* g gets writer ref (NULL: none) and no readers: all of them were ordered before ref */
static void seg_reset(struct tensormap *tm, struct tm_seg *g, struct tm_ref *ref)
{
	while (g->readers)
		reader_drop(tm, g, g->readers);
	seg_set_writer(g, ref);
}

/* g's range was an access's: a repeat finds it in one lookup (when the table has room) */
static void seg_hash(struct tensormap *tm, struct tm_seg *g)
{
	if (!g->key.hashed && !hash_room(tm))
		hash_put(tm, &g->key);
}

static void seg_rekey(struct tensormap *tm, struct tm_seg *g, uint64_t s, uint64_t e)
{
	if (g->key.hashed)
		hash_del(tm, &g->key);
	g->key.start = s;
	g->key.end = e;
}

/* each level above the first with probability 1/4 */
static uint32_t seg_height(struct tensormap *tm)
{
	tm->rng ^= tm->rng << 13;
	tm->rng ^= tm->rng >> 7;
	tm->rng ^= tm->rng << 17;
	return 1 + __builtin_ctzll(tm->rng | 1ULL << 2 * (SEG_LEVELS - 1)) / 2;
}

/* a segment [s, e) of space, with no history and in no list yet */
static struct tm_seg *seg_new(struct tensormap *tm, uint32_t space, uint64_t s, uint64_t e)
{
	struct tm_seg *g = seg_alloc(tm, seg_height(tm));

	if (!g)
		return NULL;
	g->key.start = s;
	g->key.end = e;
	g->key.space = space;
	tm->live++;
	return g;
}

/* g, unlinked and with no history, back to its free list */
static void seg_free(struct tensormap *tm, struct tm_seg *g)
{
	if (g->key.hashed)
		hash_del(tm, &g->key);
	g->next[0] = tm->free_segs[g->height];
	tm->free_segs[g->height] = g;
	tm->live--;
}

/* put g in the skip list after p (level 0), from p's level to g's height */
static void seg_link(struct tm_seg *p, struct tm_seg *g)
{
	uint32_t l;

	g->prev = p;
	g->next[0] = p->next[0];
	if (g->next[0])
		g->next[0]->prev = g;
	p->next[0] = g;
	/* at each level the predecessor is the nearest earlier segment that tall */
	for (l = 1; l < g->height; l++) {
		while (p->height <= l)
			p = p->prev;
		g->next[l] = p->next[l];
		p->next[l] = g;
	}
}

static void seg_delete(struct tensormap *tm, struct tm_seg *g)
{
	struct tm_space *sp = &tm->spaces[g->key.space];
	struct tm_seg *p = g->prev;
	uint32_t l;

	p->next[0] = g->next[0];
	if (g->next[0])
		g->next[0]->prev = p;
	for (l = 1; l < g->height; l++) {
		while (p->height <= l)
			p = p->prev;
		p->next[l] = g->next[l];
	}
	if (sp->finger == g)
		sp->finger = g->prev;
	seg_reset(tm, g, NULL);
	seg_free(tm, g);
}

/* the last segment starting before s, or the head */
static struct tm_seg *seg_seek(struct tm_space *sp, uint64_t s)
{
	struct tm_seg *x = sp->finger;
	int n, l;

	/* a few steps from the finger serve windows that slide or sweep */
	if (x != sp->head && x->key.start < s) {
		for (n = 0; n < 4; n++) {
			if (!x->next[0] || x->next[0]->key.start >= s)
				return x;
			x = x->next[0];
		}
	} else {
		for (n = 0; n < 4 && x != sp->head; n++) {
			x = x->prev;
			if (x == sp->head || x->key.start < s)
				return x;
		}
	}
	x = sp->head;
	for (l = SEG_LEVELS - 1; l >= 0; l--)
		while (x->next[l] && x->next[l]->key.start < s)
			x = x->next[l];
	return x;
}

/*
 * Cut g at `at` (inside it): g keeps [start, at), a new segment after it
 * gets [at, end) and a copy of g's history.  NULL if out of memory, g as it
 * was.
 */
static struct tm_seg *seg_split(struct tensormap *tm, struct tm_seg *g, uint64_t at)
{
	struct tm_seg *h = seg_new(tm, g->key.space, at, g->key.end);
	struct tm_link *l, *c, *last = NULL;

	if (!h)
		return NULL;
	for (l = g->readers; l; l = l->snext) {
		c = link_alloc(tm);
		if (!c) {
			seg_reset(tm, h, NULL);
			seg_free(tm, h);
			return NULL;
		}
		reader_add(h, last, c, l->ref);
		last = c;
	}
	seg_set_writer(h, g->w.ref);
	seg_rekey(tm, g, g->key.start, at);
	seg_link(g, h);
	return h;
}

static int seg_add_reader(struct tensormap *tm, struct tm_seg *g, struct tm_ref *ref)
{
	struct tm_link *l;

	/* the same task reading again through another argument: once is enough */
	if (g->readers && g->readers->ref->task == ref->task)
		return 0;
	l = link_alloc(tm);
	if (!l)
		return -ENOMEM;
	reader_add(g, NULL, l, ref);
	return 0;
}

/* the dependencies of an access on what segment g holds */
static inline void seg_deps(struct tm_seg *g, struct deps_ctx *c)
{
	struct tm_link *l;

	if (g->w.ref)
		report(c, g->w.ref->task);
	if (c->writes)
		for (l = g->readers; l; l = l->snext)
			report(c, l->ref->task);
}

/*
 * A write of [s, e): the deps of every segment inside, then one segment
 * [s, e) with ref as its writer; the segments it covers go, those across
 * its ends are cut back to them.  The first segment starting at or after s
 * is reused when covered, and the one that may be missing is made first, so
 * nothing has changed when that fails.
 */
static int seg_write(struct tensormap *tm, struct tm_space *sp, struct tm_ref *ref,
		     struct deps_ctx *c)
{
	struct tm_seg *p = seg_seek(sp, c->s), *x, *next, *keep;
	bool made = false;

	x = p != sp->head && p->key.end > c->s ? p : p->next[0];
	if (x == p && x->key.end > c->e && !seg_split(tm, x, c->e))
		return -ENOMEM;
	keep = x == p ? x->next[0] : x;
	if (!keep || keep->key.start >= c->e || keep->key.end > c->e) {
		keep = seg_new(tm, p->key.space, c->s, c->e);
		if (!keep)
			return -ENOMEM;
		made = true;
	}
	for (; x && x->key.start < c->e; x = next) {
		next = x->next[0];
		seg_deps(x, c);
		if (x->key.start < c->s)
			seg_rekey(tm, x, x->key.start, c->s);
		else if (x->key.end > c->e)
			seg_rekey(tm, x, c->e, x->key.end);
		else if (x != keep)
			seg_delete(tm, x);
	}
	if (made)
		seg_link(p, keep);	/* p ends at s at most now: keep goes right after it */
	else
		seg_rekey(tm, keep, c->s, c->e);
	seg_reset(tm, keep, ref);
	seg_hash(tm, keep);
	sp->finger = keep;
	return 0;
}

/* drop every segment link of ref, and the segments left with no history */
static void seg_release(struct tensormap *tm, struct tm_ref *ref)
{
	struct tm_link *l;
	struct tm_seg *g;

	while ((l = ref->links)) {
		g = l->seg;
		if (l == &g->w)
			seg_set_writer(g, NULL);
		else
			reader_drop(tm, g, l);
		if (!g->w.ref && !g->readers)
			seg_delete(tm, g);
	}
}

/*
 * A read of [s, e): the writer of every segment inside, the segments across
 * its ends cut there, the gaps (bytes no live access has touched) filled
 * with new segments, and ref added as a reader of each.
 */
static int seg_read(struct tensormap *tm, struct tm_space *sp, struct tm_ref *ref,
		    struct deps_ctx *c)
{
	struct tm_seg *p = seg_seek(sp, c->s), *x, *g = NULL, *first = NULL;
	uint64_t pos = c->s;

	if (p != sp->head && p->key.end > c->s && !seg_split(tm, p, c->s))
		return -ENOMEM;
	/* p: the segment before pos */
	while (pos < c->e) {
		x = p->next[0];
		if (!x || x->key.start > pos) {
			g = seg_new(tm, sp->head->key.space, pos,
				    x && x->key.start < c->e ? x->key.start : c->e);
			if (!g)
				goto fail;
			seg_link(p, g);
		} else {
			g = x;
			seg_deps(g, c);
			if (g->key.end > c->e && !seg_split(tm, g, c->e))
				goto fail;
		}
		if (seg_add_reader(tm, g, ref))
			goto fail;
		first = first ? first : g;
		pos = g->key.end;
		p = g;
	}
	if (first->key.end == c->e)
		seg_hash(tm, first);
	sp->finger = first;
	return 0;
fail:
	/* the cuts stay (they change no history); what ref was added to goes */
	if (g && !g->w.ref && !g->readers)
		seg_delete(tm, g);	/* made for ref, which it does not hold yet */
	seg_release(tm, ref);
	return -ENOMEM;
}

/* a view's deps on the segments it shares a byte with; true if there were any */
static bool seg_view_deps(struct tm_space *sp, struct deps_ctx *c)
{
	struct tm_seg *x;
	bool met = false;

	if (!sp->head->next[0])
		return false;
	x = seg_seek(sp, c->s);
	if (x == sp->head || x->key.end <= c->s)
		x = x->next[0];
	for (; x && x->key.start < c->e; x = x->next[0])
		if (plain_meets(c->lay, c->s, x->key.start, x->key.end)) {
			seg_deps(x, c);
			met = true;
		}
	return met;
}

/* ---- accesses ---- */

static int plain_access(struct tensormap *tm, struct tm_ref *ref, uint32_t space,
			struct deps_ctx *c)
{
	struct tm_space *sp = &tm->spaces[space];
	struct tm_key *k;
	struct tm_seg *g;

	if (sp->views.count)
		sx_itree_query(&sp->views, c->s, c->e, deps_cb, c);
	k = hash_find(tm, space, c->s, c->e, NULL);
	if (!k)
		return c->writes ? seg_write(tm, sp, ref, c) : seg_read(tm, sp, ref, c);
	/* the range is one segment already: nothing else to visit, nothing to cut */
	g = container_of(k, struct tm_seg, key);
	seg_deps(g, c);
	if (c->writes)
		seg_reset(tm, g, ref);
	else if (seg_add_reader(tm, g, ref))
		return -ENOMEM;
	sp->finger = g;
	return !sp->views.count;
}

static int view_access(struct tensormap *tm, struct tm_ref *ref, uint32_t space,
		       struct deps_ctx *c)
{
	struct tm_space *sp = &tm->spaces[space];
	struct tm_key *k = hash_find(tm, space, c->s, c->e, c->lay);
	struct tm_rec *r = k ? rec_of(k) : NULL;
	struct tm_ref *x, *next;
	int fast;

	if (r) {
		fast = r->overlaps == 0;
		if (fast)
			deps_on(r, c);
		else
			sx_itree_query(&sp->views, c->s, c->e, deps_cb, c);
	} else {
		/* a new view: one tree walk counts its overlaps and finds its deps */
		r = rec_create(tm, space, c);
		if (!r)
			return -ENOMEM;
		fast = 0;
	}
	if (seg_view_deps(sp, c))
		fast = 0;

	ref->rec = r;
	ref->prev = ref->next = NULL;
	ref->writer = ref->linked = 0;
	r->nref++;
	if (c->writes) {
		/* later accesses reach the old readers through t */
		for (x = r->readers; x; x = next) {
			next = x->next;
			x->linked = 0;
		}
		r->readers = NULL;
		r->writer = c->t;
		ref->writer = 1;
	} else if (!(r->readers && r->readers->task == c->t)) {
		ref->next = r->readers;
		if (r->readers)
			r->readers->prev = ref;
		r->readers = ref;
		ref->linked = 1;
	}
	return fast;
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

	ref->rec = NULL;
	ref->task = t;
	ref->links = NULL;
	if (e <= s)
		return 0;	/* no byte: nothing to order */
	return c.lay ? view_access(tm, ref, space, &c) : plain_access(tm, ref, space, &c);
}

void sx_tm_release(struct tensormap *tm, struct tm_ref *ref)
{
	struct tm_rec *r = ref->rec;

	if (!r) {
		seg_release(tm, ref);
		return;
	}
	if (ref->writer) {
		if (r->writer == ref->task)
			r->writer = NULL;
	} else if (ref->linked) {
		reader_unlink(r, ref);
	}
	ref->rec = NULL;
	ref->links = NULL;	/* released: a second release finds nothing */
	if (--r->nref == 0)
		rec_delete(tm, r);
}
