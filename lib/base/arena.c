// SPDX-License-Identifier: MIT
/* The simpler_orch_alloc() arena (see arena.h). */
#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "arena.h"
#include "extalloc.h"

#define ARENA_ALIGN 64

struct arena {
	void *base;
	uint64_t size;
	struct extalloc ea;
	struct arena_block *spare;	/* recycled block descriptors */
};

struct arena *sx_arena_new(uint64_t size)
{
	struct arena *a = calloc(1, sizeof(*a));

	if (!a)
		return NULL;
	/* shared so forked chips see the same pages; reserved, committed on use */
	a->base = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (a->base == MAP_FAILED) {
		free(a);
		return NULL;
	}
	a->size = size;
	if (sx_extalloc_init(&a->ea, (uintptr_t)a->base, size, ARENA_ALIGN)) {
		munmap(a->base, size);
		free(a);
		return NULL;
	}
	return a;
}

void sx_arena_destroy(struct arena *a)
{
	struct arena_block *b, *next;

	if (!a)
		return;
	for (b = a->spare; b; b = next) {
		next = b->next;
		free(b);
	}
	sx_extalloc_fini(&a->ea);
	munmap(a->base, a->size);
	free(a);
}

struct arena_block *sx_arena_alloc(struct arena *a, size_t n)
{
	struct arena_block *b = a->spare;
	uint64_t addr;

	if (b)
		a->spare = b->next;
	else if (!(b = malloc(sizeof(*b))))
		return NULL;
	if (sx_extalloc_alloc(&a->ea, n, &addr)) {
		b->next = a->spare;
		a->spare = b;
		errno = ENOMEM;
		return NULL;
	}
	b->addr = addr;
	b->size = n;
	b->next = NULL;
	return b;
}

void sx_arena_free_list(struct arena *a, struct arena_block *list)
{
	struct arena_block *next;

	for (; list; list = next) {
		next = list->next;
		sx_extalloc_free(&a->ea, list->addr);
		list->next = a->spare;
		a->spare = list;
	}
}

uint64_t sx_arena_used(const struct arena *a)
{
	return a->ea.used;
}

uint64_t sx_arena_size(const struct arena *a)
{
	return a->size;
}

int sx_arena_contains(const struct arena *a, const void *p, size_t n)
{
	uintptr_t x = (uintptr_t)p, b = (uintptr_t)a->base;

	return x >= b && n <= a->size && x - b <= a->size - n;
}
