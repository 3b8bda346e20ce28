/* SPDX-License-Identifier: MIT */
/*
 * The four dispatch-benchmark shapes as one generator, so that simpler and
 * the StarPU comparison submit exactly the same task streams.  Task i of a
 * shape accesses up to 4 regions of 64 bytes, named by index:
 *
 *   indep     region 0 (read, shared by all) and its own slot 1 + i % 1024 (write)
 *   chain     region 0, read-write, every task
 *   diamond   repeated A: 0 rw; B: 0 r, 1 w; C: 0 r, 2 w; D: 1 r, 2 r, 0 rw
 *   stencil4  tile k of generation g: read tiles k-1, k, k+1 of buffer g%2,
 *             write tile k of buffer (g+1)%2 (64 tiles per buffer)
 */
#ifndef SIMPLER_SHAPES_H
#define SIMPLER_SHAPES_H

#include <stdint.h>

#define SHAPE_REGIONS 1025	/* enough for every shape */
#define SHAPE_TILES 64

enum { SA_R, SA_W, SA_RW };

struct shape_task {
	int n;
	int region[4];
	int mode[4];
};

static const char *const shape_names[] = { "indep", "chain", "diamond", "stencil4" };
#define NSHAPES 4

static inline void shape_task(int shape, uint64_t i, struct shape_task *t)
{
	uint32_t k = (uint32_t)(i % SHAPE_TILES), g = (uint32_t)(i / SHAPE_TILES);
	int cur = (int)(g & 1) * SHAPE_TILES, nxt = (int)((g + 1) & 1) * SHAPE_TILES;

	switch (shape) {
	case 0:
		*t = (struct shape_task){ 2, { 0, 1 + (int)(i % 1024) }, { SA_R, SA_W } };
		break;
	case 1:
		*t = (struct shape_task){ 1, { 0 }, { SA_RW } };
		break;
	case 2:
		switch (i % 4) {
		case 0:
			*t = (struct shape_task){ 1, { 0 }, { SA_RW } };
			break;
		case 1:
			*t = (struct shape_task){ 2, { 0, 1 }, { SA_R, SA_W } };
			break;
		case 2:
			*t = (struct shape_task){ 2, { 0, 2 }, { SA_R, SA_W } };
			break;
		default:
			*t = (struct shape_task){ 3, { 1, 2, 0 }, { SA_R, SA_R, SA_RW } };
			break;
		}
		break;
	default:
		*t = (struct shape_task){ 4,
			{ cur + (int)((k + SHAPE_TILES - 1) % SHAPE_TILES), cur + (int)k,
			  cur + (int)((k + 1) % SHAPE_TILES), nxt + (int)k },
			{ SA_R, SA_R, SA_R, SA_W } };
		break;
	}
}

#endif /* SIMPLER_SHAPES_H */
