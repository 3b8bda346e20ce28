/* SPDX-License-Identifier: MIT */
/*
 * Real work for `simpler bench work` and its StarPU counterpart: three graph
 * shapes of compute-bound tile kernels, described once so that the
 * sequential reference, simpler (threads or processes) and StarPU run the
 * same kernels on the same tiles with the same dependencies.
 *
 *   gemm     C = A x B over n x n tiles (tile C[i][j] accumulates over k: a
 *            chain of n tasks per tile, n^2 chains in parallel), then
 *            E = gelu(C * s + b) tile by tile (the demo's shape)
 *   stencil  a 2-D Jacobi sweep over g x g tiles (periodic), iters times:
 *            tile (i, j) of sweep t+1 reads tiles (i, j) and its four
 *            neighbours of sweep t (two buffers, so sweep t+2 overwrites
 *            what sweep t+1 read: write-after-read edges too)
 *   indep    N independent tasks, each C_k = A x B into its own tile
 *
 * Every tile is a contiguous block of T x T floats.  A task is a kernel and
 * up to 6 tile arguments with their access modes; work_task(g, i) gives task
 * i in submission order.
 */
#ifndef SIMPLER_WORK_H
#define SIMPLER_WORK_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum work_shape { WS_GEMM, WS_STENCIL, WS_INDEP, NR_WORK_SHAPES };
enum work_kernel { WK_GEMM, WK_EW, WK_STENCIL, WK_INDEP, NR_WORK_KERNELS };
enum work_acc { WA_R, WA_W, WA_RW };

static const char *const work_shape_names[] = { "gemm", "stencil", "indep", NULL };
static const char *const work_kernel_names[] = { "gemm", "gelu", "jacobi", "gemm1" };

#define WORK_MAX_ARGS 6
#define WORK_STENCIL_G 4	/* 4 x 4 tiles: 16 tasks per sweep */

struct work_graph {
	int shape;
	uint32_t T;		/* tile edge, floats */
	uint32_t n;		/* gemm: tiles per edge; stencil: sweeps; indep: tasks */
	uint64_t tasks;
	uint64_t parallelism;	/* the most tasks that can run at once */
	size_t tile_floats;
	size_t nr_tiles;
	float *mem;		/* nr_tiles tiles, allocated by the caller */
};

struct work_arg {
	float *p;
	int acc;
};

struct work_task {
	int kernel;
	int nargs;
	struct work_arg a[WORK_MAX_ARGS];
};

/* ---- kernels: plain C on raw tiles (work.c, one object for every side) ---- */

/* C += A x B, T x T, row-major tiles */
void work_gemm(float *restrict c, const float *restrict a, const float *restrict b, uint32_t T);
/* E = gelu(C * 0.5 + 0.1), tanh form */
void work_gelu(float *restrict e, const float *restrict c, uint32_t T);
/* one Jacobi sweep of a tile: the mean of the four neighbours (periodic tiles) */
void work_jacobi(float *restrict out, const float *restrict c, const float *restrict up,
		 const float *restrict down, const float *restrict left,
		 const float *restrict right, uint32_t T);
/* C = A x B into a tile of its own */
void work_indep(float *restrict c, const float *restrict a, const float *restrict b, uint32_t T);
/* run kernel k on its arguments (in work_task's order) */
void work_run(int k, float *const *p, uint32_t T);

/* ---- graphs ---- */

/* size a graph: T, n; fills tasks, parallelism, tiles (mem stays NULL) */
static inline void work_graph_init(struct work_graph *g, int shape, uint32_t T, uint32_t n)
{
	uint64_t G = WORK_STENCIL_G;

	memset(g, 0, sizeof(*g));
	g->shape = shape;
	g->T = T;
	g->n = n;
	g->tile_floats = (size_t)T * T;
	switch (shape) {
	case WS_GEMM:	/* A, B, C, E: n^2 tiles each */
		g->nr_tiles = 4 * (size_t)n * n;
		g->tasks = (uint64_t)n * n * n + (uint64_t)n * n;
		g->parallelism = (uint64_t)n * n;
		break;
	case WS_STENCIL:	/* two buffers of G x G tiles */
		g->nr_tiles = 2 * G * G;
		g->tasks = G * G * n;
		g->parallelism = G * G;
		break;
	default:	/* A, B, then n outputs */
		g->nr_tiles = 2 + (size_t)n;
		g->tasks = n;
		g->parallelism = n;
		break;
	}
}

static inline size_t work_bytes(const struct work_graph *g)
{
	return g->nr_tiles * g->tile_floats * sizeof(float);
}

static inline float *work_tile(const struct work_graph *g, size_t t)
{
	return g->mem + t * g->tile_floats;
}

/* the same starting values every time: inputs from a hash, outputs zero */
static inline void work_fill(struct work_graph *g)
{
	size_t i, n = g->nr_tiles * g->tile_floats, inputs;
	uint32_t x;

	switch (g->shape) {
	case WS_GEMM:
		inputs = 2 * (size_t)g->n * g->n * g->tile_floats;
		break;
	case WS_STENCIL:
		inputs = (size_t)WORK_STENCIL_G * WORK_STENCIL_G * g->tile_floats;
		break;
	default:
		inputs = 2 * g->tile_floats;
		break;
	}
	for (i = 0; i < n; i++) {
		x = (uint32_t)i * 2654435761u;
		x ^= x >> 15;
		g->mem[i] = i < inputs ? (float)(x % 2001) / 1000.0f - 1.0f : 0.0f;
	}
}

static inline void work_arg(struct work_task *t, float *p, int acc)
{
	t->a[t->nargs].p = p;
	t->a[t->nargs].acc = acc;
	t->nargs++;
}

/* task i of the graph, in submission order */
static inline void work_task(const struct work_graph *g, uint64_t i, struct work_task *t)
{
	uint64_t n = g->n, G = WORK_STENCIL_G, sweep, k;
	uint32_t r, c, nxt, cur;

	t->nargs = 0;
	switch (g->shape) {
	case WS_GEMM:
		if (i < n * n * n) {	/* C[r][c] += A[r][k] B[k][c], k innermost */
			k = i % n;
			c = (uint32_t)(i / n % n);
			r = (uint32_t)(i / n / n);
			t->kernel = WK_GEMM;
			work_arg(t, work_tile(g, r * n + k), WA_R);
			work_arg(t, work_tile(g, n * n + k * n + c), WA_R);
			work_arg(t, work_tile(g, 2 * n * n + r * n + c), WA_RW);
		} else {	/* E[r][c] = gelu(C[r][c]) */
			k = i - n * n * n;
			t->kernel = WK_EW;
			work_arg(t, work_tile(g, 2 * n * n + k), WA_R);
			work_arg(t, work_tile(g, 3 * n * n + k), WA_W);
		}
		break;
	case WS_STENCIL:
		sweep = i / (G * G);
		k = i % (G * G);
		r = (uint32_t)(k / G);
		c = (uint32_t)(k % G);
		cur = (uint32_t)((sweep & 1) * G * G);
		nxt = (uint32_t)(((sweep + 1) & 1) * G * G);
		t->kernel = WK_STENCIL;
		work_arg(t, work_tile(g, cur + r * G + c), WA_R);
		work_arg(t, work_tile(g, cur + (r + G - 1) % G * G + c), WA_R);
		work_arg(t, work_tile(g, cur + (r + 1) % G * G + c), WA_R);
		work_arg(t, work_tile(g, cur + r * G + (c + G - 1) % G), WA_R);
		work_arg(t, work_tile(g, cur + r * G + (c + 1) % G), WA_R);
		work_arg(t, work_tile(g, nxt + r * G + c), WA_W);
		break;
	default:
		t->kernel = WK_INDEP;
		work_arg(t, work_tile(g, 0), WA_R);
		work_arg(t, work_tile(g, 1), WA_R);
		work_arg(t, work_tile(g, 2 + i), WA_W);
		break;
	}
}

/* every task of the graph in order, right here: the reference */
static inline void work_sequential(const struct work_graph *g)
{
	struct work_task t;
	float *p[WORK_MAX_ARGS];
	uint64_t i;
	int k;

	for (i = 0; i < g->tasks; i++) {
		work_task(g, i, &t);
		for (k = 0; k < t.nargs; k++)
			p[k] = t.a[k].p;
		work_run(t.kernel, p, g->T);
	}
}

/* FNV-1a over the whole memory: equal results, equal sums */
static inline uint64_t work_sum(const struct work_graph *g)
{
	const unsigned char *b = (const unsigned char *)g->mem;
	uint64_t h = 1469598103934665603ULL;
	size_t i, n = work_bytes(g);

	for (i = 0; i < n; i++)
		h = (h ^ b[i]) * 1099511628211ULL;
	return h;
}

#endif /* SIMPLER_WORK_H */
