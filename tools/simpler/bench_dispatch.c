// SPDX-License-Identifier: MIT
/*
 * simpler bench dispatch: the cost of dispatching empty tasks in four graph
 * shapes (indep, chain, diamond, stencil4: see shapes.h).
 *
 * Default, process mode (chips are processes): for 1 and 4 chips, runs of
 * N/4 .. N tasks are timed (median of R each, sizes taking turns), and
 * 1-task runs back to back (median of R batches of 200).  "marginal", what
 * one more task costs, is the least-squares slope over the large runs;
 * "fixed", what a run costs beyond its tasks, is the 1-task run minus one
 * marginal.  Both are set against the raw inter-process round
 * trip measured in the same run (two processes bouncing a shared word,
 * spinning and through futexes): every dependent task needs at least one.
 * The same runs with chips as threads (SIMPLER_WORKER_THREADS) go beside
 * them: the part of a task that no process boundary adds.
 *
 * --threads: chips as threads, one chip, N tasks per run, median of R:
 * "submit" is the time the orchestration function spent submitting, per
 * task; "total" the whole simpler_run() per task.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "cli.h"
#include "shapes.h"
#include "simpler.h"
#include "tool.h"

/*
 * The tensors' memory: shared memory mapped before the chips start (thread
 * mode), or, in process mode, runtime-owned memory from simpler_orch_alloc()
 * per run, which needs no visibility check: this measures dispatch, and
 * `simpler bench check` the checks.
 */
static char (*regions)[64];
static int orch_regions;

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
	char (*reg)[64] = regions;
	int ret = 0, k;

	if (orch_regions) {
		reg = simpler_orch_alloc(o, SHAPE_REGIONS * 64);
		if (!reg)
			return -ENOMEM;
	}

	for (i = 0; i < r->n && ret >= 0; i++) {
		shape_task(r->shape, i, &st);
		simpler_args_reset(a);
		for (k = 0; k < st.n; k++) {
			t = simpler_tensor_1d(reg[st.region[k]], 64, SIMPLER_U8);
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

static int map_regions(void)
{
	regions = mmap(NULL, SHAPE_REGIONS * 64, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (regions == MAP_FAILED) {
		fprintf(stderr, "simpler: cannot map the benchmark's regions\n");
		return -1;
	}
	return 0;
}

static int bench_threads(const struct bench_opts *b)
{
	unsigned flags = SIMPLER_WORKER_THREADS;
	double submit[4], total[4], s[16], t[16];
	struct simpler_worker *w = NULL;
	struct tool_progress prog;
	int i, k, ret, reps = b->reps, json = b->json;
	uint64_t n = b->n;

	{
		SIMPLER_OPTS(simpler_worker_opts, o, .nr_chips = 1, .flags = flags);

		ret = simpler_worker_create(&o, &w);
		if (ret) {
			fprintf(stderr, "simpler: %s\n", simpler_last_errmsg());
			return 1;
		}
	}
	tool_progress_start(&prog, 4);
	for (k = 0; k < 4; k++) {
		struct shape_run r = { .shape = k, .n = n };

		tool_progress(&prog, "1 chip as threads, %s", shape_names[k]);
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
	tool_progress_end(&prog);
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

/* ---- process mode ---- */

#define NSIZES 5

static uint32_t spin_us;	/* --spin-us: the workers' spin before sleeping (0: default) */
static int verbose;		/* -v: the measured points on stderr */

/* least squares over (x, y): y = a + b x */
static void fit(const double *x, const double *y, int n, double *a, double *b)
{
	double sx = 0, sy = 0, sxx = 0, sxy = 0;
	int i;

	for (i = 0; i < n; i++) {
		sx += x[i];
		sy += y[i];
		sxx += x[i] * x[i];
		sxy += x[i] * y[i];
	}
	*b = (n * sxy - sx * sy) / (n * sxx - sx * sx);
	*a = (sy - *b * sx) / n;
}

/* one shape on one worker: the points measured and the line through them */
struct fitres {
	double fixed_us, marginal_us;
	double tasks[NSIZES], run_us[NSIZES];	/* tasks per run, median run time */
};

struct pconf {
	int chips, shape;
	struct fitres proc, thr;	/* chips as processes, as threads */
};

static int measure(struct simpler_worker *w, int cid, int shape, uint64_t max, int reps,
		   struct fitres *f)
{
	double *x = f->tasks, *y = f->run_us, t[NSIZES][16];
	struct shape_run run[NSIZES];
	int i, r, k;

	for (i = 0; i < NSIZES; i++) {
		/* 1, then up to max in even steps */
		run[i] = (struct shape_run){ .shape = shape, .cid = cid,
					     .n = i ? max * (uint64_t)i / (NSIZES - 1) : 1 };
		x[i] = (double)run[i].n;
		if (simpler_run(w, orch_shape, &run[i]))	/* warm-up */
			return -1;
	}
	/* the large sizes take turns, so a noisy moment hits them alike */
	for (r = 0; r < reps; r++) {
		for (i = 1; i < NSIZES; i++) {
			uint64_t t0 = tool_now_ns();

			if (simpler_run(w, orch_shape, &run[i]))
				return -1;
			t[i][r] = (double)(tool_now_ns() - t0) / 1000.0;
		}
	}
	/* 1-task runs back to back, as a loop of small runs issues them: batches of 200 */
	for (k = 0; k < 1000; k++)
		if (simpler_run(w, orch_shape, &run[0]))
			return -1;
	for (r = 0; r < reps; r++) {
		uint64_t t0 = tool_now_ns();

		for (k = 0; k < 200; k++)
			if (simpler_run(w, orch_shape, &run[0]))
				return -1;
		t[0][r] = (double)(tool_now_ns() - t0) / 1000.0 / 200;
	}
	for (i = 0; i < NSIZES; i++)
		y[i] = tool_median(t[i], reps);
	/* the slope from the large runs; the fixed cost from the 1-task run */
	fit(x + 1, y + 1, NSIZES - 1, &f->fixed_us, &f->marginal_us);
	f->fixed_us = y[0] - f->marginal_us;
	if (verbose)
		for (i = 0; i < NSIZES; i++)
			fprintf(stderr, "# %-9s N=%-6.0f %10.1f us\n", shape_names[shape], x[i],
				y[i]);
	return 0;
}


/* a fixed cost as text: "noisy" when the slope's noise made it negative */
static void fmt_fixed(char *buf, size_t len, const char *fmt, double us, double scale)
{
	if (us < 0)
		snprintf(buf, len, "noisy");
	else
		snprintf(buf, len, fmt, us * scale);
}

/* "points":[{"tasks":N,"run_us":T},...] */
static void json_points(const char *key, const struct fitres *f)
{
	int i;

	printf(",\"%s\":[", key);
	for (i = 0; i < NSIZES; i++)
		printf("%s{\"tasks\":%.0f,\"run_us\":%.3f}", i ? "," : "", f->tasks[i], f->run_us[i]);
	printf("]");
}

static int bench_process(const struct bench_opts *b)
{
	static const int chip_counts[] = { 1, 4 };
	struct pconf conf[2 * NSHAPES];
	struct tool_progress prog;
	double spin_ns, futex_ns;
	int i, k, nc = 0, cid;

	orch_regions = 1;
	tool_progress_start(&prog, 2 + 4 * NSHAPES);
	prog.on = prog.on && !verbose;	/* -v writes its points on the same stderr */
	tool_progress(&prog, "inter-process round trip, spinning");
	spin_ns = pingpong_ns(false, 20000, b->reps);
	tool_progress(&prog, "inter-process round trip, futex");
	futex_ns = pingpong_ns(true, 5000, b->reps);
	if (spin_ns <= 0 || futex_ns <= 0) {
		fprintf(stderr, "simpler: cannot measure the ping-pong floor (fork failed)\n");
		return 1;
	}
	/* process mode, then the same in thread mode: what a task costs with no process boundary */
	for (i = 0; i < 4; i++) {
		struct simpler_worker *w = NULL;
		bool thr = i >= 2;
		SIMPLER_OPTS(simpler_worker_opts, o, .nr_chips = chip_counts[i % 2],
			     .spin_us = spin_us, .flags = thr ? SIMPLER_WORKER_THREADS : 0);

		if (simpler_worker_create(&o, &w)) {
			fprintf(stderr, "simpler: %s\n", simpler_last_errmsg());
			return 1;
		}
		cid = simpler_register(w, "empty", k_empty);
		for (k = 0; k < NSHAPES; k++) {
			struct pconf *c = &conf[(i % 2) * NSHAPES + k];

			c->chips = chip_counts[i % 2];
			c->shape = k;
			tool_progress(&prog, "%d chip%s as %s, %s", c->chips, c->chips > 1 ? "s" : "",
				      thr ? "threads" : "processes", shape_names[k]);
			if (verbose)
				fprintf(stderr, "# %d chips, %s:\n", c->chips,
					thr ? "threads" : "processes");
			if (measure(w, cid, k, b->n, b->reps, thr ? &c->thr : &c->proc)) {
				tool_progress_end(&prog);
				fprintf(stderr, "simpler: %s\n", simpler_worker_errmsg(w));
				simpler_worker_destroy(w);
				return 1;
			}
		}
		simpler_worker_destroy(w);
	}
	tool_progress_end(&prog);
	nc = 2 * NSHAPES;

	if (b->json) {
		printf("{\"bench\":\"dispatch\",\"mode\":\"process\",\"max_tasks\":%llu,"
		       "\"reps\":%d,\"floor\":{\"spin_us\":%.3f,\"futex_us\":%.3f},\"runs\":[",
		       (unsigned long long)b->n, b->reps, spin_ns / 1000, futex_ns / 1000);
		for (i = 0; i < nc; i++) {
			printf("%s{\"chips\":%d,\"shape\":\"%s\",\"fixed_us\":%.3f,"
			       "\"marginal_us\":%.3f,\"fixed_x_spin\":%.2f,\"marginal_x_spin\":%.2f,"
			       "\"threads_fixed_us\":%.3f,\"threads_marginal_us\":%.3f",
			       i ? "," : "", conf[i].chips, shape_names[conf[i].shape],
			       conf[i].proc.fixed_us, conf[i].proc.marginal_us,
			       conf[i].proc.fixed_us * 1000 / spin_ns,
			       conf[i].proc.marginal_us * 1000 / spin_ns, conf[i].thr.fixed_us,
			       conf[i].thr.marginal_us);
			json_points("points", &conf[i].proc);
			json_points("threads_points", &conf[i].thr);
			printf("}");
		}
		printf("]}\n");
		return 0;
	}
	printf("simpler bench dispatch: chips as processes, empty tasks on simpler_orch_alloc() "
	       "memory;\nmarginal = slope over runs of %llu..%llu tasks, fixed = a 1-task run "
	       "(back to back) minus one marginal (median of %d)\n\n", (unsigned long long)b->n / 4,
	       (unsigned long long)b->n, b->reps);
	printf("inter-process round trip, same run: spin %.3f us, futex %.3f us%s\n\n",
	       spin_ns / 1000, futex_ns / 1000,
	       tool_cpus() == 1 ? " (confined to one CPU: every spin yields the CPU instead)" : "");
	printf("%-6s %-10s %10s %12s %11s %14s %22s\n", "chips", "shape", "fixed us",
	       "marginal us", "fixed/spin", "marginal/spin", "threads fixed/marginal");
	for (i = 0; i < nc; i++) {
		char fixed[32], fixed_x[32], thr_fixed[32];

		/* a slope inflated by noise can exceed the whole 1-task run */
		fmt_fixed(fixed, sizeof(fixed), "%.3f", conf[i].proc.fixed_us, 1);
		fmt_fixed(fixed_x, sizeof(fixed_x), "%.2fx", conf[i].proc.fixed_us, 1000 / spin_ns);
		fmt_fixed(thr_fixed, sizeof(thr_fixed), "%.3f", conf[i].thr.fixed_us, 1);
		printf("%-6d %-10s %10s %12.3f %11s %13.2fx %12s / %.3f\n", conf[i].chips,
		       shape_names[conf[i].shape], fixed, conf[i].proc.marginal_us, fixed_x,
		       conf[i].proc.marginal_us * 1000 / spin_ns, thr_fixed, conf[i].thr.marginal_us);
	}
	printf("\ntargets: marginal <= 2x, fixed <= 5x the spin round trip; \"threads\": the "
	       "same runs with chips\nas threads, no process boundary (what submitting, "
	       "inferring and retiring cost alone)\n");
	return 0;
}

int bench_dispatch(const struct cli_cmd *cmd, int argc, char **argv)
{
	struct bench_opts b = { .n = 0, .reps = 9 };
	int threads = 0, rc;
	const struct cli_opt opts[] = {
		{ "threads", 0, NULL, "chips as threads, one chip: submit and total time per task",
		  CLI_FLAG, &threads, 0, 0, NULL, NULL },
		{ NULL, 'n', "TASKS", "most tasks per run, >= 4 (default 16384; --threads: 100000)",
		  CLI_U64, &b.n, 4, 0, NULL, NULL },
		CLI_REPS(&b.reps),
		{ "spin-us", 0, "US", "the workers' spin before sleeping (0: the library's default)",
		  CLI_U32, &spin_us, 0, 0, NULL, NULL },
		{ "verbose", 'v', NULL, "print the measured points on stderr", CLI_FLAG, &verbose, 0,
		  0, NULL, NULL },
		CLI_JSON(&b.json), CLI_END,
	};

	rc = cli_parse(cmd, opts, argc, argv);
	if (rc != CLI_RUN)
		return rc;
	if (!b.n)
		b.n = threads ? 100000 : 16384;	/* 4x the default ring: it fills up */
	if (map_regions())
		return 1;
	return threads ? bench_threads(&b) : bench_process(&b);
}
