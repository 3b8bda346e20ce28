// SPDX-License-Identifier: MIT
/* First-fit range allocator with provenance (see extalloc.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "extalloc.h"
#include "vec.h"

static int insert_at(struct extents *e, size_t i, uint64_t addr, uint64_t size)
{
	if (VEC_ROOM(e->v, e->n, e->cap, 64))
		return -ENOMEM;
	memmove(&e->v[i + 1], &e->v[i], (e->n - i) * sizeof(*e->v));
	e->v[i] = (struct extent){ addr, size };
	e->n++;
	return 0;
}

static void remove_at(struct extents *e, size_t i)
{
	memmove(&e->v[i], &e->v[i + 1], (e->n - i - 1) * sizeof(*e->v));
	e->n--;
}

int sx_extalloc_init(struct extalloc *a, uint64_t base, uint64_t size, uint64_t align)
{
	memset(a, 0, sizeof(*a));
	a->base = base;
	a->size = size;
	a->align = align ? align : 1;
	return insert_at(&a->free, 0, base, size);
}

void sx_extalloc_fini(struct extalloc *a)
{
	free(a->live.v);
	free(a->free.v);
	memset(a, 0, sizeof(*a));
}

int sx_extalloc_alloc(struct extalloc *a, uint64_t n, uint64_t *addr)
{
	uint64_t want = (n + a->align - 1) / a->align * a->align;
	size_t i;

	if (!n || want < n)
		return -ENOMEM;
	for (i = 0; i < a->free.n; i++)
		if (a->free.v[i].size >= want)
			break;
	if (i == a->free.n)
		return -ENOMEM;
	*addr = a->free.v[i].addr;
	if (insert_at(&a->live, FIRST_ABOVE(a->live.v, a->live.n, addr, *addr), *addr, want))
		return -ENOMEM;
	a->free.v[i].addr += want;
	a->free.v[i].size -= want;
	if (!a->free.v[i].size)
		remove_at(&a->free, i);
	a->used += want;
	return 0;
}

const struct extent *sx_extalloc_find(const struct extalloc *a, uint64_t addr)
{
	size_t i = FIRST_ABOVE(a->live.v, a->live.n, addr, addr);

	if (i && addr - a->live.v[i - 1].addr < a->live.v[i - 1].size)
		return &a->live.v[i - 1];
	return NULL;
}

int sx_extalloc_free(struct extalloc *a, uint64_t addr)
{
	size_t i = FIRST_ABOVE(a->live.v, a->live.n, addr, addr);
	uint64_t size;

	if (!i || a->live.v[i - 1].addr != addr)
		return -EINVAL;
	size = a->live.v[i - 1].size;
	remove_at(&a->live, i - 1);
	a->used -= size;
	/* give [addr, addr + size) back, merging with its neighbours */
	i = FIRST_ABOVE(a->free.v, a->free.n, addr, addr);
	if (i > 0 && a->free.v[i - 1].addr + a->free.v[i - 1].size == addr) {
		a->free.v[i - 1].size += size;
		if (i < a->free.n && addr + size == a->free.v[i].addr) {
			a->free.v[i - 1].size += a->free.v[i].size;
			remove_at(&a->free, i);
		}
		return 0;
	}
	if (i < a->free.n && addr + size == a->free.v[i].addr) {
		a->free.v[i].addr = addr;
		a->free.v[i].size += size;
		return 0;
	}
	/* out of memory for the free array: the range is lost, nothing is corrupt */
	(void)insert_at(&a->free, i, addr, size);
	return 0;
}
