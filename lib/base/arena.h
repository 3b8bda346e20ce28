/* SPDX-License-Identifier: MIT */
/*
 * The arena behind simpler_orch_alloc(): one shared anonymous mapping made
 * before any chip process is forked (so every chip sees it at the same
 * address), carved by a first-fit allocator.  Orchestrator thread only.
 */
#ifndef SIMPLER_ARENA_H
#define SIMPLER_ARENA_H

#include <stddef.h>
#include <stdint.h>

struct arena;

struct arena_block {
	struct arena_block *next;	/* the owning scope frame's list */
	uint64_t addr, size;
};

struct arena *sx_arena_new(uint64_t size);
void sx_arena_destroy(struct arena *a);
/* NULL with errno ENOMEM when nothing fits */
struct arena_block *sx_arena_alloc(struct arena *a, size_t n);
void sx_arena_free_list(struct arena *a, struct arena_block *list);
static inline void *arena_ptr(const struct arena_block *b)
{
	return (void *)(uintptr_t)b->addr;
}
uint64_t sx_arena_used(const struct arena *a);
uint64_t sx_arena_size(const struct arena *a);
/* is [p, p + n) inside the arena? */
int sx_arena_contains(const struct arena *a, const void *p, size_t n);

#endif /* SIMPLER_ARENA_H */
