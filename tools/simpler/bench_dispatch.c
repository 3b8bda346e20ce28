// SPDX-License-Identifier: MIT
/*
 * simpler bench dispatch: per-task cost of empty tasks in four graph shapes
 * on one chip, N tasks per run, median of R runs after a warm-up.
 *
 *   indep     each task reads one shared 64 B range and writes its own slot
 *   chain     each task INOUTs the same 64 B range
 *   diamond   repeated A(X) -> B(X->Y), C(X->Z) -> D(Y,Z->X)
 *   stencil4  tiles in two buffers; task (g, i) reads tiles i-1, i, i+1 of
 *             generation g and writes tile i of g+1: 4 tensors per task
 *
 * "submit" is the time the orchestration function spent submitting, per
 * task; "total" is the whole simpler_run() per task.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "simpler.h"
#include "tool.h"

#define TILES 64

static char buf[2][TILES * 64];
static char slots[1024 * 64];

static int k_empty(const struct simpler_kernel_args *a)
{
	(void)a;
	return 0;
}

struct shape_run {
	const char *shape;
	uint64_t n;
	int cid;
	double submit_ns;
};

static int add(struct simpler_args *a, const void *p, enum simpler_access acc)
{
	struct simpler_tensor t = simpler_tensor_1d(p, 64, SIMPLER_U8);

	return simpler_args_add_tensor(a, &t, acc);
}

static int orch_shape(struct simpler_orch *o, void *arg)
{
	struct shape_run *r = arg;
	struct simpler_args *a = simpler_args_new();
	uint64_t i, g, t0 = tool_now_ns();
	int ret = 0;
	uint32_t k;

	if (!strcmp(r->shape, "indep")) {
		for (i = 0; i < r->n && ret >= 0; i++) {
			simpler_args_reset(a);
			add(a, buf[0], SIMPLER_IN);
			add(a, slots + (i % 1024) * 64, SIMPLER_OUT);
			ret = simpler_submit(o, r->cid, a, NULL);
		}
	} else if (!strcmp(r->shape, "chain")) {
		for (i = 0; i < r->n && ret >= 0; i++) {
			simpler_args_reset(a);
			add(a, buf[0], SIMPLER_INOUT);
			ret = simpler_submit(o, r->cid, a, NULL);
		}
	} else if (!strcmp(r->shape, "diamond")) {
		for (i = 0; i + 4 <= r->n && ret >= 0; i += 4) {
			simpler_args_reset(a);
			add(a, buf[0], SIMPLER_INOUT);
			ret = simpler_submit(o, r->cid, a, NULL);
			simpler_args_reset(a);
			add(a, buf[0], SIMPLER_IN);
			add(a, buf[0] + 64, SIMPLER_OUT);
			if (ret >= 0)
				ret = simpler_submit(o, r->cid, a, NULL);
			simpler_args_reset(a);
			add(a, buf[0], SIMPLER_IN);
			add(a, buf[0] + 128, SIMPLER_OUT);
			if (ret >= 0)
				ret = simpler_submit(o, r->cid, a, NULL);
			simpler_args_reset(a);
			add(a, buf[0] + 64, SIMPLER_IN);
			add(a, buf[0] + 128, SIMPLER_IN);
			add(a, buf[0], SIMPLER_INOUT);
			if (ret >= 0)
				ret = simpler_submit(o, r->cid, a, NULL);
		}
	} else {
		for (i = 0, g = 0; i < r->n && ret >= 0; g++) {
			char *prev = buf[g & 1], *next = buf[(g + 1) & 1];

			for (k = 0; k < TILES && i < r->n && ret >= 0; k++, i++) {
				simpler_args_reset(a);
				add(a, prev + ((k + TILES - 1) % TILES) * 64, SIMPLER_IN);
				add(a, prev + k * 64, SIMPLER_IN);
				add(a, prev + ((k + 1) % TILES) * 64, SIMPLER_IN);
				add(a, next + k * 64, SIMPLER_OUT);
				ret = simpler_submit(o, r->cid, a, NULL);
			}
		}
	}
	r->submit_ns = (double)(tool_now_ns() - t0);
	simpler_args_free(a);
	return ret < 0 ? ret : 0;
}

static const char *const shapes[] = { "indep", "chain", "diamond", "stencil4" };
static const double targets_us[] = { 0.5, 1.0, 1.2, 1.5 };
static const double starpu_us[] = { 3.1, 4.0, 5.2, 6.0 };

int bench_dispatch(int argc, char **argv)
{
	struct bench_opts b = { .n = 100000, .reps = 5 };
	unsigned flags = SIMPLER_WORKER_THREADS;
	double submit[4], total[4], s[16], t[16];
	struct simpler_worker *w = NULL;
	int i, k, ret, reps, json;
	uint64_t n;

	if (bench_parse(argc, argv, &b, "bench dispatch [-n TASKS >= 4] [--reps 1..16] [--json]"))
		return 2;
	n = b.n;
	reps = b.reps;
	json = b.json;
	{
		SIMPLER_OPTS(simpler_worker_opts, o, .nr_chips = 1, .flags = flags);

		ret = simpler_worker_create(&o, &w);
		if (ret) {
			fprintf(stderr, "simpler: %s\n", simpler_last_errmsg());
			return 1;
		}
	}
	for (k = 0; k < 4; k++) {
		struct shape_run r = { .shape = shapes[k], .n = n };

		r.cid = simpler_register(w, shapes[k], k_empty);
		/* warm-up: pools reach their steady size */
		if (simpler_run(w, orch_shape, &r)) {
			fprintf(stderr, "simpler: %s\n", simpler_worker_errmsg(w));
			return 1;
		}
		for (i = 0; i < reps; i++) {
			uint64_t t0 = tool_now_ns();

			if (simpler_run(w, orch_shape, &r)) {
				fprintf(stderr, "simpler: %s\n", simpler_worker_errmsg(w));
				return 1;
			}
			t[i] = (double)(tool_now_ns() - t0) / (double)n / 1000.0;
			s[i] = r.submit_ns / (double)n / 1000.0;
		}
		submit[k] = tool_median(s, reps);
		total[k] = tool_median(t, reps);
	}
	simpler_worker_destroy(w);

	if (json) {
		printf("{\"bench\":\"dispatch\",\"mode\":\"threads\",\"chips\":1,\"tasks\":%llu,"
		       "\"reps\":%d,\"shapes\":[", (unsigned long long)n, reps);
		for (k = 0; k < 4; k++)
			printf("%s{\"shape\":\"%s\",\"submit_us\":%.3f,\"total_us\":%.3f,"
			       "\"target_us\":%.1f}", k ? "," : "", shapes[k], submit[k], total[k],
			       targets_us[k]);
		printf("]}\n");
		return 0;
	}
	printf("simpler bench dispatch: %llu empty tasks per run on 1 chip (threads), "
	       "median of %d runs, microseconds per task\n\n", (unsigned long long)n, reps);
	printf("%-10s %10s %10s %10s %16s\n", "shape", "submit", "total", "target",
	       "StarPU (issue)");
	for (k = 0; k < 4; k++)
		printf("%-10s %10.3f %10.3f %10.1f %16.1f%s\n", shapes[k], submit[k], total[k],
		       targets_us[k], starpu_us[k], total[k] <= targets_us[k] ? "" : "  (over)");
	return 0;
}
