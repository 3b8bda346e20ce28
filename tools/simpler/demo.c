// SPDX-License-Identifier: MIT
/*
 * simpler demo: a tiled matrix multiply feeding an elementwise chain, on
 * simulated chips (each a process by default), with every dependency
 * inferred from the tensors; then the serving pattern of serve.c.
 *
 *   C[i][j] += A[i][k] * B[k][j]   for k in order (INOUT chain per C tile,
 *                                  C in runtime-owned orch_alloc memory)
 *   E[i][j]  = C[i][j] * s + b     (reads C, writes E)
 *   E[i][j]  = gelu(E[i][j])       (INOUT)
 *
 * A, B, C and E are plain row-major n x n matrices; every task gets its
 * tiles as strided views (simpler_view_2d()), nothing is re-laid out, and
 * the kernels walk them through their strides.  Tiles of different (i, j)
 * are independent (their views interleave in memory but share no byte) and
 * spread over the chips; the result is checked bit for bit against the
 * same arithmetic run sequentially.  A, B and E are malloc()ed, so the chip
 * processes see them through simpler_host_register().  Prints what ran where, throughput and a
 * progress bar.  The counters the kernels bump live in shared memory.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/mman.h>

#include "cli.h"
#include "serve.h"
#include "simpler.h"
#include "tool.h"

#define MAX_CHIPS 64

struct demo {
	uint32_t n, tile, nt;		/* matrix size, tile size, tiles per side */
	int chips;
	uint32_t requests, max_rows;	/* the serving loop's */
	float *a, *b, *e;		/* row-major n x n */
	float scale, bias;
	int k_gemm, k_affine, k_gelu;
	uint64_t tasks;
	int *c_chip;			/* which chip produced each C tile (last k) */
};

/* bumped by the kernels, in whichever process they run: shared memory */
struct counters {
	_Atomic uint64_t done_tasks;
	_Atomic uint64_t ran_on[MAX_CHIPS][3];	/* per chip, per kernel */
};
static struct counters *ctr;
#define done_tasks (ctr->done_tasks)
#define ran_on (ctr->ran_on)

/* the first element of tile (i, j) of a row-major n x n matrix */
static inline float *tile_at(float *m, const struct demo *d, uint32_t i, uint32_t j)
{
	return m + ((size_t)i * d->n + j) * d->tile;
}

/* a t x t tile and how far apart its rows are (its leading dimension) */
struct tile {
	float *p;
	uint64_t ld;
};

/* rows [r0, r1) of c += a * b for one tile: the same code runs both ways */
static void gemm_rows(struct tile a, struct tile b, struct tile c, uint32_t t, uint32_t r0,
		      uint32_t r1)
{
	uint32_t r, k, col;

	for (r = r0; r < r1; r++)
		for (k = 0; k < t; k++) {
			float x = a.p[r * a.ld + k];

			for (col = 0; col < t; col++)
				c.p[r * c.ld + col] += x * b.p[k * b.ld + col];
		}
}

/* tensor argument i of a kernel as a tile: a 2-D view with unit column stride */
static struct tile arg_tile(const struct simpler_kernel_args *a, uint32_t i)
{
	return (struct tile){ (float *)(uintptr_t)a->tensors[i].addr,
			      simpler_kernel_stride(a, i, 0) };
}

static float gelu(float x)
{
	return 0.5f * x * (1.0f + tanhf(0.7978845608f * (x + 0.044715f * x * x * x)));
}

static int k_gemm(const struct simpler_kernel_args *a)
{
	uint32_t t = (uint32_t)a->scalars[0];
	uint32_t r0 = t * a->block_idx / a->block_dim, r1 = t * (a->block_idx + 1) / a->block_dim;

	gemm_rows(arg_tile(a, 0), arg_tile(a, 1), arg_tile(a, 2), t, r0, r1);
	if (a->block_idx == 0) {
		atomic_fetch_add(&ran_on[a->chip][0], 1);
		atomic_fetch_add(&done_tasks, 1);
	}
	return 0;
}

static int k_affine(const struct simpler_kernel_args *a)
{
	struct tile c = arg_tile(a, 0), e = arg_tile(a, 1);
	uint32_t r, col, rows = a->tensors[0].shape[0], cols = a->tensors[0].shape[1];
	float s, b;

	memcpy(&s, &a->scalars[0], sizeof(s));
	memcpy(&b, &a->scalars[1], sizeof(b));
	for (r = 0; r < rows; r++)
		for (col = 0; col < cols; col++)
			e.p[r * e.ld + col] = c.p[r * c.ld + col] * s + b;
	atomic_fetch_add(&ran_on[a->chip][1], 1);
	atomic_fetch_add(&done_tasks, 1);
	return 0;
}

static int k_gelu(const struct simpler_kernel_args *a)
{
	struct tile e = arg_tile(a, 0);
	uint32_t r, col, rows = a->tensors[0].shape[0], cols = a->tensors[0].shape[1];

	for (r = 0; r < rows; r++)
		for (col = 0; col < cols; col++)
			e.p[r * e.ld + col] = gelu(e.p[r * e.ld + col]);
	atomic_fetch_add(&ran_on[a->chip][2], 1);
	atomic_fetch_add(&done_tasks, 1);
	return 0;
}

/* tile (i, j) of the row-major matrix m as a view */
static struct simpler_view tile_view(const float *m, const struct demo *d, uint32_t i, uint32_t j)
{
	return simpler_view_2d(m, d->n, (uint64_t)i * d->tile, (uint64_t)j * d->tile, d->tile,
			       d->tile, SIMPLER_F32);
}

static int orch_demo(struct simpler_orch *o, void *arg)
{
	struct demo *d = arg;
	uint32_t i, j, k;
	struct simpler_args *x = simpler_args_new();
	SIMPLER_OPTS(simpler_submit_opts, gemm_opts, .worker = -1, .block_dim = 2);
	float *c = simpler_orch_alloc(o, (size_t)d->n * d->n * sizeof(float));
	struct simpler_view ta, tb, tc, te;
	uint64_t sb;
	int r = 0;

	if (!c || !x) {
		simpler_args_free(x);
		return -ENOMEM;
	}
	memset(c, 0, (size_t)d->n * d->n * sizeof(float));
	for (i = 0; i < d->nt && r >= 0; i++) {
		for (j = 0; j < d->nt && r >= 0; j++) {
			tc = tile_view(c, d, i, j);
			for (k = 0; k < d->nt && r >= 0; k++) {
				ta = tile_view(d->a, d, i, k);
				tb = tile_view(d->b, d, k, j);
				simpler_args_reset(x);
				simpler_args_add_view(x, &ta, SIMPLER_IN);
				simpler_args_add_view(x, &tb, SIMPLER_IN);
				simpler_args_add_view(x, &tc, SIMPLER_INOUT);
				simpler_args_add_scalar(x, d->tile);
				r = simpler_submit(o, d->k_gemm, x, &gemm_opts);
			}
			te = tile_view(d->e, d, i, j);
			simpler_args_reset(x);
			simpler_args_add_view(x, &tc, SIMPLER_IN);
			simpler_args_add_view(x, &te, SIMPLER_OUT);
			sb = 0;
			memcpy(&sb, &d->scale, sizeof(float));
			simpler_args_add_scalar(x, sb);
			memcpy(&sb, &d->bias, sizeof(float));
			simpler_args_add_scalar(x, sb);
			if (r >= 0)
				r = simpler_submit(o, d->k_affine, x, NULL);
			simpler_args_reset(x);
			simpler_args_add_view(x, &te, SIMPLER_INOUT);
			if (r >= 0)
				r = simpler_submit(o, d->k_gelu, x, NULL);
		}
	}
	simpler_args_free(x);
	return r < 0 ? r : 0;
}

/* the same arithmetic, one task after another */
static void reference(const struct demo *d, float *e)
{
	uint32_t t = d->tile, i, j, k, r, col;
	struct tile c = { calloc((size_t)t * t, sizeof(float)), t }, a, b;

	for (i = 0; i < d->nt; i++)
		for (j = 0; j < d->nt; j++) {
			memset(c.p, 0, (size_t)t * t * sizeof(float));
			for (k = 0; k < d->nt; k++) {
				a = (struct tile){ tile_at(d->a, d, i, k), d->n };
				b = (struct tile){ tile_at(d->b, d, k, j), d->n };
				/* two blocks, as the chips run it */
				gemm_rows(a, b, c, t, 0, t / 2);
				gemm_rows(a, b, c, t, t / 2, t);
			}
			for (r = 0; r < t; r++)
				for (col = 0; col < t; col++)
					tile_at(e, d, i, j)[r * d->n + col] =
						gelu(c.p[r * t + col] * d->scale + d->bias);
		}
	free(c.p);
}

struct progress {
	uint64_t total;
	_Atomic int stop;
	int tty;
};

static void *progress_main(void *arg)
{
	struct progress *p = arg;
	int last = -1, pct, w;
	uint64_t v;

	for (;;) {
		int stop = atomic_load(&p->stop);

		v = atomic_load(&done_tasks);
		pct = (int)(100 * v / (p->total ? p->total : 1));
		if (p->tty) {
			w = pct / 4;
			printf("\r  [%-25.*s] %3d%%  %llu/%llu tasks", w,
			       "#########################", pct, (unsigned long long)v,
			       (unsigned long long)p->total);
			fflush(stdout);
		} else if (pct / 25 != last / 25) {
			printf("  progress: %3d%% (%llu/%llu tasks)\n", pct, (unsigned long long)v,
			       (unsigned long long)p->total);
			fflush(stdout);
		}
		last = pct;
		if (stop)
			break;
		usleep(50000);
	}
	if (p->tty)
		printf("\n");
	return NULL;
}

/* --quick: a smaller matrix and fewer requests (an option after it overrides it) */
static const char *opt_quick(const char *value, void *dst)
{
	struct demo *d = dst;

	(void)value;
	d->n = 256;
	d->requests = 16;
	return NULL;
}

int cmd_demo(const struct cli_cmd *cmd, int argc, char **argv)
{
	static const char *const backends[] = { "kmod", "shm", NULL };
	struct demo d = { .n = 768, .tile = 64, .chips = 4, .scale = 0.01f, .bias = -0.5f,
			  .requests = 64, .max_rows = 256 };
	struct simpler_stats st = { .sz = sizeof(st) };
	struct simpler_worker *w = NULL;
	unsigned flags = 0, hostmem = SIMPLER_HOSTMEM_AUTO;
	int staging = 0, threads = 0, backend = -1;
	struct progress prog = { 0 };
	uint64_t h[3];
	pthread_t pt;
	uint64_t t0, t1, t2, mismatches = 0;
	uint32_t i, elems;
	double secs, gflop;
	int free_cpus;
	float *ref;
	int ret, c, served;
	const struct cli_opt opts[] = {
		{ "chips", 0, "N", "simulated chips, 1..64", CLI_INT, &d.chips, 1, 64, NULL, NULL },
		{ "size", 0, "N", "N x N matrices, a multiple of the tile", CLI_U32, &d.n, 2, 0,
		  NULL, NULL },
		{ "tile", 0, "T", "T x T tiles, at least 2", CLI_U32, &d.tile, 2, 0, NULL, NULL },
		{ "quick", 0, NULL, "as --size 256 --requests 16", CLI_FN, &d, 0, 0, NULL,
		  opt_quick },
		{ "staging", 0, NULL, "stage host tensors through chip memory, like a discrete device",
		  CLI_FLAG, &staging, 0, 0, NULL, NULL },
		{ "threads", 0, NULL, "chips and the sub worker are threads, not processes", CLI_FLAG,
		  &threads, 0, 0, NULL, NULL },
		{ "hostmem", 0, "kmod|shm", "the host-memory backend (default: kmod if /dev/simpler opens)",
		  CLI_CHOICE, &backend, 0, 0, backends, NULL },
		{ "requests", 0, "N", "requests of the serving loop, 1..100000", CLI_U32, &d.requests, 1,
		  100000, NULL, NULL },
		{ "max-rows", 0, "M", "the most rows of a request, 4..65536", CLI_U32, &d.max_rows, 4,
		  65536, NULL, NULL },
		CLI_END,
	};

	ret = cli_parse(cmd, opts, argc, argv);
	if (ret != CLI_RUN)
		return ret;
	if (d.n < d.tile || d.n % d.tile)
		return cli_error(cmd, "--size %u is not a multiple of --tile %u", d.n, d.tile);
	flags = (staging ? SIMPLER_WORKER_STAGING : 0) | (threads ? SIMPLER_WORKER_THREADS : 0);
	if (backend >= 0)
		hostmem = backend ? SIMPLER_HOSTMEM_SHM : SIMPLER_HOSTMEM_KMOD;
	/* shared with the chip processes: mapped before they start */
	ctr = mmap(NULL, sizeof(*ctr), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (ctr == MAP_FAILED || serve_load_model(256, 256)) {
		fprintf(stderr, "simpler demo: cannot map shared memory\n");
		return 1;
	}
	d.nt = d.n / d.tile;
	elems = d.n * d.n;
	d.a = malloc(elems * sizeof(float));
	d.b = malloc(elems * sizeof(float));
	d.e = calloc(elems, sizeof(float));
	ref = calloc(elems, sizeof(float));
	if (!d.a || !d.b || !d.e || !ref) {
		fprintf(stderr, "simpler demo: out of memory\n");
		return 1;
	}
	for (i = 0; i < elems; i++) {
		d.a[i] = (float)((i * 7919u) % 97) / 97.0f - 0.5f;
		d.b[i] = (float)((i * 104729u) % 89) / 89.0f - 0.5f;
	}
	d.tasks = (uint64_t)d.nt * d.nt * (d.nt + 2);

	{
		SIMPLER_OPTS(simpler_worker_opts, o, .nr_chips = d.chips, .nr_subs = 1,
			     .flags = flags, .hostmem = hostmem,
			     .arena_size = (uint64_t)elems * sizeof(float) + (1 << 20));

		ret = simpler_worker_create(&o, &w);
		if (ret) {
			fprintf(stderr, "simpler demo: %s\n", simpler_last_errmsg());
			return 1;
		}
	}
	d.k_gemm = simpler_register(w, "gemm_tile", k_gemm);
	d.k_affine = simpler_register(w, "scale_bias", k_affine);
	d.k_gelu = simpler_register(w, "gelu", k_gelu);
	/* malloc()ed memory reaches the chip processes once registered */
	if (simpler_host_register(w, d.a, elems * sizeof(float), 0, &h[0]) ||
	    simpler_host_register(w, d.b, elems * sizeof(float), 0, &h[1]) ||
	    simpler_host_register(w, d.e, elems * sizeof(float), 0, &h[2])) {
		fprintf(stderr, "simpler demo: %s\n", simpler_worker_errmsg(w));
		simpler_worker_destroy(w);
		return 1;
	}

	printf("simpler demo: C = A x B (%ux%u floats, %ux%u tiles of %ux%u), then E = gelu(C*%.2f%+.2f)\n",
	       d.n, d.n, d.nt, d.nt, d.tile, d.tile, (double)d.scale, (double)d.bias);
	printf("  %d simulated chips (%s%s), %llu tasks, dependencies inferred from tensors\n",
	       d.chips, flags & SIMPLER_WORKER_THREADS ? "threads" : "processes",
	       flags & SIMPLER_WORKER_STAGING ? ", staging like a discrete device" : "",
	       (unsigned long long)d.tasks);
	printf("  host memory: %s backend (A, B, E registered after the chips started)\n",
	       simpler_worker_hostmem(w));
	free_cpus = tool_free_cpus();
	if (free_cpus < d.chips)
		printf("  note: %d simulated chips share %d free CPU%s (of %d usable%s): expect at "
		       "most %dx the sequential speed\n", d.chips, free_cpus, free_cpus == 1 ? "" : "s",
		       tool_cpus(), free_cpus < tool_cpus() ? "; other programs keep the rest busy" : "",
		       free_cpus > 1 ? free_cpus : 1);

	prog.total = d.tasks;
	prog.tty = isatty(STDOUT_FILENO);
	pthread_create(&pt, NULL, progress_main, &prog);
	t0 = tool_now_ns();
	ret = simpler_run(w, orch_demo, &d);
	t1 = tool_now_ns();
	atomic_store(&prog.stop, 1);
	pthread_join(pt, NULL);
	if (ret) {
		fprintf(stderr, "simpler demo: run failed: %s\n", simpler_worker_errmsg(w));
		simpler_worker_destroy(w);
		return 1;
	}
	simpler_worker_stats(w, &st);

	reference(&d, ref);
	t2 = tool_now_ns();
	for (i = 0; i < elems; i++)
		if (memcmp(&d.e[i], &ref[i], sizeof(float)))
			mismatches++;

	secs = (double)(t1 - t0) / 1e9;
	gflop = 2.0 * d.n * d.n * (double)d.n / 1e9;
	printf("\n  what ran where:\n  %-6s %10s %10s %10s\n", "chip", "gemm_tile", "scale_bias",
	       "gelu");
	for (c = 0; c < d.chips; c++)
		printf("  %-6d %10llu %10llu %10llu\n", c,
		       (unsigned long long)atomic_load(&ran_on[c][0]),
		       (unsigned long long)atomic_load(&ran_on[c][1]),
		       (unsigned long long)atomic_load(&ran_on[c][2]));
	printf("\n  %llu tasks in %.3f s: %.0f tasks/s, %.2f GFLOP/s (sequential reference: %.3f s, "
	       "%.2fx its speed)\n",
	       (unsigned long long)st.tasks_completed, secs, (double)st.tasks_completed / secs,
	       gflop / secs, (double)(t2 - t1) / 1e9, (double)(t2 - t1) / 1e9 / secs);
	printf("  %llu dependency edges inferred; TensorMap fast path %llu, overlap search %llu\n",
	       (unsigned long long)st.edges, (unsigned long long)st.tensormap_fast,
	       (unsigned long long)st.tensormap_slow);
	if (mismatches) {
		printf("  FAILED: %llu of %u elements differ from the sequential reference\n",
		       (unsigned long long)mismatches, elems);
		ret = 1;
	} else {
		printf("  verified: all %u elements equal the sequential reference bit for bit\n",
		       elems);
	}
	simpler_host_unregister(w, h[0]);
	simpler_host_unregister(w, h[1]);
	simpler_host_unregister(w, h[2]);

	served = ret ? 1 : serve_run(w, d.requests, d.max_rows, 42);
	if (served < 0)
		ret = 1;
	else if (served > 0)
		ret = 1;
	if (!ret)
		printf("\nverified: all (the matrix product and %u requests)\n", d.requests);
	simpler_worker_destroy(w);
	free(d.a);
	free(d.b);
	free(d.e);
	free(ref);
	return ret ? 1 : 0;
}
