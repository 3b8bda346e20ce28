// SPDX-License-Identifier: MIT
/*
 * The interval tree behind the TensorMap's overlap search (see itree.h).
 * Treap operations by split and merge; recursion depth is the treap height,
 * O(log n) expected.
 */
#include <stddef.h>

#include "itree.h"

void sx_itree_init(struct itree *t)
{
	t->root = NULL;
	t->rng = 0x9e3779b9u;
	t->count = 0;
}

static inline uint64_t max_end_of(const struct itree_node *n)
{
	return n ? n->max_end : 0;
}

static inline void update(struct itree_node *n)
{
	uint64_t m = n->end, l = max_end_of(n->left), r = max_end_of(n->right);

	n->max_end = m > l ? (m > r ? m : r) : (l > r ? l : r);
}

/* strict order on (start, node address) so equal starts are distinct keys */
static inline int before(const struct itree_node *a, const struct itree_node *b)
{
	return a->start < b->start || (a->start == b->start && a < b);
}

/* split t into keys before k (*l) and the rest (*r) */
static void split(struct itree_node *t, const struct itree_node *k, struct itree_node **l,
		  struct itree_node **r)
{
	if (!t) {
		*l = *r = NULL;
	} else if (before(t, k)) {
		split(t->right, k, &t->right, r);
		update(t);
		*l = t;
	} else {
		split(t->left, k, l, &t->left);
		update(t);
		*r = t;
	}
}

/* every key of l is before every key of r */
static struct itree_node *merge(struct itree_node *l, struct itree_node *r)
{
	if (!l)
		return r;
	if (!r)
		return l;
	if (l->prio > r->prio) {
		l->right = merge(l->right, r);
		update(l);
		return l;
	}
	r->left = merge(l, r->left);
	update(r);
	return r;
}

static uint32_t next_prio(struct itree *t)
{
	/* xorshift32: priorities only need to be well spread */
	t->rng ^= t->rng << 13;
	t->rng ^= t->rng >> 17;
	t->rng ^= t->rng << 5;
	return t->rng;
}

void sx_itree_insert(struct itree *t, struct itree_node *n)
{
	struct itree_node *l, *r;

	n->prio = next_prio(t);
	n->left = n->right = NULL;
	n->max_end = n->end;
	split(t->root, n, &l, &r);
	t->root = merge(merge(l, n), r);
	t->count++;
}

static struct itree_node *remove_from(struct itree_node *t, struct itree_node *n)
{
	if (!t)
		return NULL;
	if (t == n)
		return merge(t->left, t->right);
	if (before(n, t))
		t->left = remove_from(t->left, n);
	else
		t->right = remove_from(t->right, n);
	update(t);
	return t;
}

void sx_itree_remove(struct itree *t, struct itree_node *n)
{
	t->root = remove_from(t->root, n);
	n->left = n->right = NULL;
	t->count--;
}

static int query(struct itree_node *n, uint64_t s, uint64_t e,
		 int (*cb)(struct itree_node *n, void *arg), void *arg)
{
	int ret;

	if (!n || n->max_end <= s)
		return 0;
	ret = query(n->left, s, e, cb, arg);
	if (ret)
		return ret;
	if (n->start >= e)
		return 0;	/* everything to the right starts even later */
	if (n->end > s) {
		ret = cb(n, arg);
		if (ret)
			return ret;
	}
	return query(n->right, s, e, cb, arg);
}

int sx_itree_query(const struct itree *t, uint64_t s, uint64_t e,
		   int (*cb)(struct itree_node *n, void *arg), void *arg)
{
	return query(t->root, s, e, cb, arg);
}
