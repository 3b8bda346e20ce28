// SPDX-License-Identifier: MIT
/*
 * simpler bench dispatch: per-task cost of empty tasks in four graph shapes
 * on one chip, N tasks per run, median of R runs after a warm-up.
 *
 * (indep, chain, diamond, stencil4: see shapes.h)
 *
 * "submit" is the time the orchestration function spent submitting, per
 * task; "total" is the whole simpler_run() per task.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "shapes.h"
#include "simpler.h"
#include "tool.h"

static char regions[SHAPE_REGIONS][64];

static int k_empty(const struct simpler_kernel_args *a)
{
	(void)a;
	return 0;
}

struct shape_run {
	int shape;
	uint64_t n;
	int cid;
	double submit_ns;
};

static int orch_shape(struct simpler_orch *o, void *arg)
{
	static const enum simpler_access acc[] = { SIMPLER_IN, SIMPLER_OUT, SIMPLER_INOUT };
	struct shape_run *r = arg;
	struct simpler_args *a = simpler_args_new();
	struct simpler_tensor t;
	struct shape_task st;
	uint64_t i, t0 = tool_now_ns();
	int ret = 0, k;

	for (i = 0; i < r->n && ret >= 0; i++) {
		shape_task(r->shape, i, &st);
		simpler_args_reset(a);
		for (k = 0; k < st.n; k++) {
			t = simpler_tensor_1d(regions[st.region[k]], 64, SIMPLER_U8);
			simpler_args_add_tensor(a, &t, acc[st.mode[k]]);
		}
		ret = simpler_submit(o, r->cid, a, NULL);
	}
	r->submit_ns = (double)(tool_now_ns() - t0);
	simpler_args_free(a);
	return ret < 0 ? ret : 0;
}

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
		struct shape_run r = { .shape = k, .n = n };

		r.cid = simpler_register(w, shape_names[k], k_empty);
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
			       "\"target_us\":%.1f}", k ? "," : "", shape_names[k], submit[k], total[k],
			       targets_us[k]);
		printf("]}\n");
		return 0;
	}
	printf("simpler bench dispatch: %llu empty tasks per run on 1 chip (threads), "
	       "median of %d runs, microseconds per task\n\n", (unsigned long long)n, reps);
	printf("%-10s %10s %10s %10s %16s\n", "shape", "submit", "total", "target",
	       "StarPU (issue)");
	for (k = 0; k < 4; k++)
		printf("%-10s %10.3f %10.3f %10.1f %16.1f%s\n", shape_names[k], submit[k], total[k],
		       targets_us[k], starpu_us[k], total[k] <= targets_us[k] ? "" : "  (over)");
	return 0;
}
