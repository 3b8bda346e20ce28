/* SPDX-License-Identifier: MIT */
/*
 * A first-fit allocator of address ranges that knows every live allocation:
 * used for simulated chip memory (platform/sim) and for the orchestrator's
 * arena.  Free ranges coalesce.  O(n) in the number of allocations, which is
 * fine for what it serves.  Not thread-safe.
 */
#ifndef SIMPLER_EXTALLOC_H
#define SIMPLER_EXTALLOC_H

#include <stdint.h>
#include <stddef.h>

struct extent {
	uint64_t addr, size;
};

struct extents {
	struct extent *v;
	size_t n, cap;
};

struct extalloc {
	uint64_t base, size, align;
	struct extents live;		/* by address */
	struct extents free;		/* by address, coalesced */
	uint64_t used;
};

int sx_extalloc_init(struct extalloc *a, uint64_t base, uint64_t size, uint64_t align);
void sx_extalloc_fini(struct extalloc *a);
/* 0 and *addr, or -ENOMEM; n > 0 */
int sx_extalloc_alloc(struct extalloc *a, uint64_t n, uint64_t *addr);
/* the live allocation containing addr, or NULL */
const struct extent *sx_extalloc_find(const struct extalloc *a, uint64_t addr);
/* free the allocation starting at addr: 0, or -EINVAL if there is none */
int sx_extalloc_free(struct extalloc *a, uint64_t addr);

#endif /* SIMPLER_EXTALLOC_H */
