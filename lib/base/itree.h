/* SPDX-License-Identifier: MIT */
/*
 * An interval tree of half-open byte ranges [start, end): a treap keyed by
 * start, each node carrying the largest end in its subtree, so every range
 * overlapping a query is found in O(log n + k).  Nodes are embedded in their
 * owners; the tree allocates nothing.  Not thread-safe.
 */
#ifndef SIMPLER_ITREE_H
#define SIMPLER_ITREE_H

#include <stdint.h>

struct itree_node {
	uint64_t start, end;
	uint64_t max_end;		/* largest end in this subtree */
	uint32_t prio;
	struct itree_node *left, *right;
};

struct itree {
	struct itree_node *root;
	uint32_t rng;
	uint64_t count;
};

void sx_itree_init(struct itree *t);
/* n->start and n->end set, end > start */
void sx_itree_insert(struct itree *t, struct itree_node *n);
void sx_itree_remove(struct itree *t, struct itree_node *n);
/*
 * Call cb for every node overlapping [s, e) (touching ranges do not overlap).
 * cb must not change the tree.  Stops early if cb returns non-zero.
 */
int sx_itree_query(const struct itree *t, uint64_t s, uint64_t e,
		   int (*cb)(struct itree_node *n, void *arg), void *arg);

#endif /* SIMPLER_ITREE_H */
