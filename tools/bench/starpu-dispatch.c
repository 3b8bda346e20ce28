// SPDX-License-Identifier: MIT
/*
 * simpler against StarPU in one run: the four dispatch shapes of shapes.h,
 * N empty tasks each, one chip (simpler, threads) against one CPU worker
 * (StarPU, default scheduler), median of R runs after a warm-up, per task.
 * Built by `make bench-starpu` when Debian's libstarpu-dev is installed.
 *
 *   starpu-dispatch [-n TASKS] [--reps R] [--json]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <starpu.h>

#include "cli.h"
#include "shapes.h"
#include "simpler.h"
#include "tool.h"

static char regions[SHAPE_REGIONS][64];
static starpu_data_handle_t handles[SHAPE_REGIONS];

/* ---- simpler ---- */

static int k_empty(const struct simpler_kernel_args *a)
{
	(void)a;
	return 0;
}

struct sim_run {
	int shape, cid;
	uint64_t n;
	double submit_ns;
};

static int orch_shape(struct simpler_orch *o, void *arg)
{
	static const enum simpler_access acc[] = { SIMPLER_IN, SIMPLER_OUT, SIMPLER_INOUT };
	struct sim_run *r = arg;
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

/* ---- StarPU ---- */

static void empty_cpu(void *buffers[], void *arg)
{
	(void)buffers;
	(void)arg;
}

static struct starpu_codelet cl = {
	.cpu_funcs = { empty_cpu },
	.nbuffers = STARPU_VARIABLE_NBUFFERS,
	.name = "empty",
};

/* submit n tasks of a shape; returns the submit time in ns, waits for all */
static double starpu_shape(int shape, uint64_t n, double *total_ns)
{
	static const enum starpu_data_access_mode modes[] = { STARPU_R, STARPU_W, STARPU_RW };
	struct starpu_data_descr d[4];
	struct shape_task st;
	uint64_t i, t0 = tool_now_ns(), t1;
	int k, ret;

	for (i = 0; i < n; i++) {
		shape_task(shape, i, &st);
		for (k = 0; k < st.n; k++) {
			d[k].handle = handles[st.region[k]];
			d[k].mode = modes[st.mode[k]];
		}
		ret = starpu_task_insert(&cl, STARPU_DATA_MODE_ARRAY, d, st.n, 0);
		if (ret) {
			fprintf(stderr, "starpu_task_insert: %d\n", ret);
			exit(1);
		}
	}
	t1 = tool_now_ns();
	starpu_task_wait_for_all();
	*total_ns = (double)(tool_now_ns() - t0);
	return (double)(t1 - t0);
}

int main(int argc, char **argv)
{
	struct bench_opts b = { .n = 100000, .reps = 5 };
	double ss[NSHAPES], st[NSHAPES], ps[NSHAPES], pt[NSHAPES], v1[16], v2[16], tot;
	struct simpler_worker *w = NULL;
	int s, i, ret;
	const struct cli_opt opts[] = {
		{ NULL, 'n', "TASKS", "tasks per run, at least 4", CLI_U64, &b.n, 4, 0, NULL, NULL },
		CLI_REPS(&b.reps), CLI_JSON(&b.json), CLI_END,
	};
	static const struct cli_cmd cmd = {
		"starpu-dispatch", "simpler (one chip as threads) against StarPU, the same four shapes",
		"Empty tasks in the graph shapes of simpler bench dispatch, submitted to both in\n"
		"one run: submit and total time per task.",
		NULL,
	};

	ret = cli_parse(&cmd, opts, argc, argv);
	if (ret != CLI_RUN)
		return ret;

	{
		SIMPLER_OPTS(simpler_worker_opts, o, .nr_chips = 1, .flags = SIMPLER_WORKER_THREADS);

		ret = simpler_worker_create(&o, &w);
		if (ret) {
			fprintf(stderr, "simpler: %s\n", simpler_last_errmsg());
			return 1;
		}
	}
	for (s = 0; s < NSHAPES; s++) {
		struct sim_run r = { .shape = s, .n = b.n };

		r.cid = simpler_register(w, shape_names[s], k_empty);
		simpler_run(w, orch_shape, &r);	/* warm-up */
		for (i = 0; i < b.reps; i++) {
			uint64_t t0 = tool_now_ns();

			if (simpler_run(w, orch_shape, &r)) {
				fprintf(stderr, "simpler: %s\n", simpler_worker_errmsg(w));
				return 1;
			}
			v1[i] = r.submit_ns / (double)b.n / 1000.0;
			v2[i] = (double)(tool_now_ns() - t0) / (double)b.n / 1000.0;
		}
		ss[s] = tool_median(v1, b.reps);
		st[s] = tool_median(v2, b.reps);
	}
	simpler_worker_destroy(w);

	/* one CPU worker, nothing else, quiet */
	setenv("STARPU_NCPU", "1", 1);
	setenv("STARPU_NCUDA", "0", 1);
	setenv("STARPU_NOPENCL", "0", 1);
	setenv("STARPU_SILENT", "1", 1);
	ret = starpu_init(NULL);
	if (ret) {
		fprintf(stderr, "starpu_init: %d\n", ret);
		return 1;
	}
	for (i = 0; i < SHAPE_REGIONS; i++)
		starpu_vector_data_register(&handles[i], STARPU_MAIN_RAM, (uintptr_t)regions[i], 64, 1);
	for (s = 0; s < NSHAPES; s++) {
		starpu_shape(s, b.n, &tot);	/* warm-up */
		for (i = 0; i < b.reps; i++) {
			v1[i] = starpu_shape(s, b.n, &tot) / (double)b.n / 1000.0;
			v2[i] = tot / (double)b.n / 1000.0;
		}
		ps[s] = tool_median(v1, b.reps);
		pt[s] = tool_median(v2, b.reps);
	}
	for (i = 0; i < SHAPE_REGIONS; i++)
		starpu_data_unregister(handles[i]);
	starpu_shutdown();

	if (b.json) {
		printf("{\"bench\":\"dispatch-vs-starpu\",\"tasks\":%llu,\"reps\":%d,\"shapes\":[",
		       (unsigned long long)b.n, b.reps);
		for (s = 0; s < NSHAPES; s++)
			printf("%s{\"shape\":\"%s\",\"simpler_submit_us\":%.3f,\"simpler_total_us\":%.3f,"
			       "\"starpu_submit_us\":%.3f,\"starpu_total_us\":%.3f,\"ratio\":%.2f}",
			       s ? "," : "", shape_names[s], ss[s], st[s], ps[s], pt[s], pt[s] / st[s]);
		printf("]}\n");
		return 0;
	}
	printf("dispatch, one run: %llu empty tasks, median of %d, microseconds per task\n"
	       "simpler: 1 chip, threads; StarPU %d.%d: 1 CPU worker\n\n", (unsigned long long)b.n,
	       b.reps, STARPU_MAJOR_VERSION, STARPU_MINOR_VERSION);
	printf("%-10s %12s %12s %12s %12s %10s\n", "shape", "simpler sub", "simpler tot",
	       "StarPU sub", "StarPU tot", "StarPU/simpler");
	for (s = 0; s < NSHAPES; s++)
		printf("%-10s %12.3f %12.3f %12.3f %12.3f %9.1fx\n", shape_names[s], ss[s], st[s], ps[s],
		       pt[s], pt[s] / st[s]);
	return 0;
}
