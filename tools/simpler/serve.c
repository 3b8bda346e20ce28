// SPDX-License-Identifier: MIT
/*
 * The serving half of simpler demo, the pattern behind upstream #1190: a
 * model's weights are loaded before the chips start (inherited shared
 * memory); then requests arrive with dynamic shapes (m rows of k features),
 * and each one's tensors are malloc()ed after the chips started, registered,
 * computed across the chips and a sub worker with every dependency
 * inferred, verified bit for bit against the same arithmetic on the host,
 * unregistered and freed.  One request is one simpler_run().
 *
 *   Y[rows] = X[rows] x W + bias     per chunk of CHUNK rows, any chip, 2 blocks
 *   Y[rows] = gelu(Y[rows])          per chunk (INOUT: waits for its GEMM)
 *   S       = sum of each row of Y   on a sub worker (waits for every chunk)
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "serve.h"
#include "simpler.h"
#include "tool.h"

#define CHUNK 32

struct model {
	uint32_t k, n;		/* features in, features out */
	float *w;		/* k x n, then the bias (n): inherited shared memory */
};

static struct model model;

int serve_load_model(uint32_t k, uint32_t n)
{
	size_t bytes = ((size_t)k * n + n) * sizeof(float);
	uint32_t i;

	/* before simpler_worker_create(): every chip process inherits it */
	model.w = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (model.w == MAP_FAILED) {
		model.w = NULL;
		return -ENOMEM;
	}
	model.k = k;
	model.n = n;
	for (i = 0; i < k * n + n; i++)
		model.w[i] = (float)((i * 2654435761u) % 1013) / 1013.0f - 0.5f;
	return 0;
}

static float gelu(float x)
{
	return 0.5f * x * (1.0f + tanhf(0.7978845608f * (x + 0.044715f * x * x * x)));
}

/* rows [r0, r1) of y = x w + bias: the same code on the chips and in the reference */
static void proj_rows(const float *x, const float *w, float *y, uint32_t k, uint32_t n,
		      uint32_t r0, uint32_t r1)
{
	const float *bias = w + (size_t)k * n;
	uint32_t r, i, c;

	for (r = r0; r < r1; r++) {
		for (c = 0; c < n; c++)
			y[(size_t)r * n + c] = bias[c];
		for (i = 0; i < k; i++) {
			float v = x[(size_t)r * k + i];

			for (c = 0; c < n; c++)
				y[(size_t)r * n + c] += v * w[(size_t)i * n + c];
		}
	}
}

static void rowsum(const float *y, float *s, uint32_t m, uint32_t n)
{
	uint32_t r, c;

	for (r = 0; r < m; r++) {
		float acc = 0;

		for (c = 0; c < n; c++)
			acc += y[(size_t)r * n + c];
		s[r] = acc;
	}
}

/* tensors: x chunk (rows x k), w (k x n + n), y chunk (rows x n) */
static int k_proj(const struct simpler_kernel_args *a)
{
	uint32_t k = a->tensors[0].shape[1], n = a->tensors[2].shape[1];
	uint32_t rows = a->tensors[0].shape[0];

	proj_rows((const float *)(uintptr_t)a->tensors[0].addr,
		  (const float *)(uintptr_t)a->tensors[1].addr,
		  (float *)(uintptr_t)a->tensors[2].addr, k, n,
		  rows * a->block_idx / a->block_dim, rows * (a->block_idx + 1) / a->block_dim);
	return 0;
}

static int k_gelu_rows(const struct simpler_kernel_args *a)
{
	float *y = (float *)(uintptr_t)a->tensors[0].addr;
	uint64_t i, n = simpler_tensor_nbytes(&a->tensors[0]) / sizeof(float);

	for (i = 0; i < n; i++)
		y[i] = gelu(y[i]);
	return 0;
}

static int k_rowsum(const struct simpler_kernel_args *a)
{
	rowsum((const float *)(uintptr_t)a->tensors[0].addr,
	       (float *)(uintptr_t)a->tensors[1].addr, a->tensors[0].shape[0],
	       a->tensors[0].shape[1]);
	return 0;
}

struct request {
	uint32_t m;
	float *x, *y, *s;
	int ids[3];
};

static struct simpler_tensor t2d(const void *p, uint32_t rows, uint32_t cols)
{
	struct simpler_tensor t = simpler_tensor_1d(p, rows, SIMPLER_F32);

	t.shape[1] = cols;
	t.ndims = 2;
	return t;
}

static int orch_request(struct simpler_orch *o, void *arg)
{
	struct request *q = arg;
	struct simpler_args *a = simpler_args_new();
	SIMPLER_OPTS(simpler_submit_opts, chips, .worker = -1, .block_dim = 2);
	SIMPLER_OPTS(simpler_submit_opts, sub, .worker = -1, .flags = SIMPLER_SUBMIT_SUB);
	struct simpler_tensor tx, tw, ty, ts;
	uint32_t r0, rows;
	int ret = 0;

	if (!a)
		return -ENOMEM;
	tw = simpler_tensor_1d(model.w, model.k * model.n + model.n, SIMPLER_F32);
	for (r0 = 0; r0 < q->m && ret >= 0; r0 += CHUNK) {
		rows = q->m - r0 < CHUNK ? q->m - r0 : CHUNK;
		tx = t2d(q->x + (size_t)r0 * model.k, rows, model.k);
		ty = t2d(q->y + (size_t)r0 * model.n, rows, model.n);
		simpler_args_reset(a);
		simpler_args_add_tensor(a, &tx, SIMPLER_IN);
		simpler_args_add_tensor(a, &tw, SIMPLER_IN);
		simpler_args_add_tensor(a, &ty, SIMPLER_OUT);
		ret = simpler_submit(o, q->ids[0], a, &chips);
		simpler_args_reset(a);
		simpler_args_add_tensor(a, &ty, SIMPLER_INOUT);
		if (ret >= 0)
			ret = simpler_submit(o, q->ids[1], a, NULL);
	}
	ty = t2d(q->y, q->m, model.n);
	ts = simpler_tensor_1d(q->s, q->m, SIMPLER_F32);
	simpler_args_reset(a);
	simpler_args_add_tensor(a, &ty, SIMPLER_IN);
	simpler_args_add_tensor(a, &ts, SIMPLER_OUT);
	if (ret >= 0)
		ret = simpler_submit(o, q->ids[2], a, &sub);
	simpler_args_free(a);
	return ret < 0 ? ret : 0;
}

/* the same arithmetic on the host: the result must match bit for bit */
static int verify(const struct request *q)
{
	size_t ny = (size_t)q->m * model.n, i;
	float *y = malloc(ny * sizeof(float)), *s = malloc(q->m * sizeof(float));
	uint32_t r0, rows;
	int bad = 0;

	if (!y || !s) {
		free(y);
		free(s);
		return -1;
	}
	for (r0 = 0; r0 < q->m; r0 += CHUNK) {
		rows = q->m - r0 < CHUNK ? q->m - r0 : CHUNK;
		/* two blocks per chunk, as on the chips */
		proj_rows(q->x + (size_t)r0 * model.k, model.w, y + (size_t)r0 * model.n, model.k,
			  model.n, 0, rows / 2);
		proj_rows(q->x + (size_t)r0 * model.k, model.w, y + (size_t)r0 * model.n, model.k,
			  model.n, rows / 2, rows);
	}
	for (i = 0; i < ny; i++)
		y[i] = gelu(y[i]);
	rowsum(y, s, q->m, model.n);
	bad = memcmp(y, q->y, ny * sizeof(float)) || memcmp(s, q->s, q->m * sizeof(float));
	free(y);
	free(s);
	return bad;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

int serve_run(struct simpler_worker *w, uint32_t nreq, uint32_t max_rows, uint64_t seed)
{
	struct request q = { 0 };
	uint64_t *lat = calloc(nreq, sizeof(*lat)), busy = 0, rows_total = 0, handles[3];
	struct simpler_stats s0 = { .sz = sizeof(s0) }, s1 = { .sz = sizeof(s1) };
	uint32_t i, hist[4] = { 0 }, failed = 0;
	int ret = 0;

	if (!lat)
		return -ENOMEM;
	q.ids[0] = simpler_register(w, "proj_chunk", k_proj);
	q.ids[1] = simpler_register(w, "gelu_rows", k_gelu_rows);
	q.ids[2] = simpler_register(w, "rowsum", k_rowsum);
	if (q.ids[0] < 0 || q.ids[1] < 0 || q.ids[2] < 0) {
		fprintf(stderr, "simpler demo: %s\n", simpler_worker_errmsg(w));
		free(lat);
		return -EINVAL;
	}
	printf("\nserving: %u requests, each m x %u floats in (m = 1..%u, drawn per request), "
	       "W %ux%u loaded before the chips started;\n  per request: malloc, "
	       "simpler_host_register, one run of ceil(m/%d) GEMM + GELU chunks on the chips "
	       "and a row sum on a sub,\n  verify, unregister, free; host-memory backend: %s\n",
	       nreq, model.k, max_rows, model.k, model.n, CHUNK, simpler_worker_hostmem(w));
	simpler_worker_stats(w, &s0);
	for (i = 0; i < nreq && !ret; i++) {
		uint64_t r0 = tool_now_ns(), e;

		/* a dynamic shape per request */
		seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
		q.m = 1 + (uint32_t)((seed >> 33) % max_rows);
		q.x = malloc((size_t)q.m * model.k * sizeof(float));
		q.y = malloc((size_t)q.m * model.n * sizeof(float));
		q.s = malloc((size_t)q.m * sizeof(float));
		if (!q.x || !q.y || !q.s) {
			ret = -ENOMEM;
			break;
		}
		for (e = 0; e < (uint64_t)q.m * model.k; e++)
			q.x[e] = (float)((e * 40503u + i) % 211) / 211.0f - 0.5f;
		ret = simpler_host_register(w, q.x, (size_t)q.m * model.k * sizeof(float), 0,
					    &handles[0]);
		if (!ret)
			ret = simpler_host_register(w, q.y, (size_t)q.m * model.n * sizeof(float),
						    0, &handles[1]);
		if (!ret)
			ret = simpler_host_register(w, q.s, q.m * sizeof(float), 0, &handles[2]);
		if (!ret)
			ret = simpler_run(w, orch_request, &q);
		if (ret) {
			fprintf(stderr, "simpler demo: request %u (m = %u): %s\n", i, q.m,
				simpler_worker_errmsg(w));
			break;
		}
		/* checking the answer is the demo's business, not the request's */
		e = tool_now_ns();
		failed += verify(&q) != 0;
		r0 += tool_now_ns() - e;
		simpler_host_unregister(w, handles[0]);
		simpler_host_unregister(w, handles[1]);
		simpler_host_unregister(w, handles[2]);
		free(q.x);
		free(q.y);
		free(q.s);
		q.x = q.y = q.s = NULL;
		lat[i] = tool_now_ns() - r0;
		busy += lat[i];
		rows_total += q.m;
		hist[q.m <= max_rows / 4 ? 0 : q.m <= max_rows / 2 ? 1 : q.m <= 3 * max_rows / 4 ? 2 : 3]++;
	}
	free(q.x);
	free(q.y);
	free(q.s);
	if (ret) {
		free(lat);
		return ret;
	}
	simpler_worker_stats(w, &s1);
	qsort(lat, nreq, sizeof(*lat), cmp_u64);
	printf("  shapes: m <= %u: %u, <= %u: %u, <= %u: %u, <= %u: %u\n", max_rows / 4, hist[0],
	       max_rows / 2, hist[1], 3 * max_rows / 4, hist[2], max_rows, hist[3]);
	printf("  latency per request (malloc to free, verification excluded): p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, "
	       "max %.2f ms\n", lat[nreq / 2] / 1e6, lat[nreq * 9 / 10] / 1e6,
	       lat[(nreq * 99) / 100] / 1e6, lat[nreq - 1] / 1e6);
	printf("  throughput: %.1f requests/s, %.0f rows/s; host bytes copied by the backend: "
	       "%llu\n", nreq / (busy / 1e9), rows_total / (busy / 1e9),
	       (unsigned long long)(s1.host_bytes_copied - s0.host_bytes_copied));
	if (failed)
		printf("  FAILED: %u of %u requests differ from the host's arithmetic\n", failed,
		       nreq);
	else
		printf("  verified: all %u requests equal the host's arithmetic bit for bit\n", nreq);
	free(lat);
	return failed ? 1 : 0;
}
