// SPDX-License-Identifier: MIT
/*
 * simpler bench allreduce: an allreduce across the chips of one comm domain
 * (2 and 4 chips, processes by default), every rank summing every rank's
 * window into its own result buffer, reading its peers' windows directly.
 * Per size: the time of one run (median of R), the algorithm bandwidth
 * (bytes per rank / time), the bytes the kernels read per second (every
 * rank reads every window), against plain memcpy of the same size measured
 * in the same run.
 */
#include <errno.h>
#include <stdint.h>

#include "cli.h"
#include "simpler.h"
#include "tool.h"

static const uint64_t sizes[] = { 64 << 10, 1 << 20, 16 << 20 };
#define NSIZES (sizeof(sizes) / sizeof(sizes[0]))

/* tensor 0: my sum; tensors 1..: every rank's x */
static int k_sum(const struct simpler_kernel_args *a)
{
	float *sum = (float *)(uintptr_t)a->tensors[0].addr;
	uint64_t n = simpler_tensor_nbytes(&a->tensors[0]) / 4, i;
	uint32_t r;

	for (r = 1; r < a->nr_tensors; r++) {
		const float *x = (const float *)(uintptr_t)a->tensors[r].addr;

		if (r == 1)
			for (i = 0; i < n; i++)
				sum[i] = x[i];
		else
			for (i = 0; i < n; i++)
				sum[i] += x[i];
	}
	return 0;
}

struct plan {
	int n;
	uint64_t bytes, x[4], sum[4];
};

static struct simpler_tensor ct(uint64_t addr, uint64_t bytes)
{
	struct simpler_tensor t = simpler_tensor_1d((void *)(uintptr_t)addr, (uint32_t)(bytes / 4),
						    SIMPLER_F32);

	t.child_memory = 1;
	return t;
}

static int orch_allreduce(struct simpler_orch *o, void *arg)
{
	struct plan *p = arg;
	struct simpler_worker *w = simpler_orch_worker(o);
	struct simpler_args *a = simpler_args_new();
	struct simpler_tensor t;
	int r, k, ret = 0;

	for (r = 0; r < p->n && ret >= 0; r++) {
		SIMPLER_OPTS(simpler_submit_opts, so, .worker = r);

		simpler_args_reset(a);
		t = ct(p->sum[r], p->bytes);
		simpler_args_add_tensor(a, &t, SIMPLER_OUT);
		for (k = 0; k < p->n; k++) {
			t = ct(p->x[k], p->bytes);
			simpler_args_add_tensor(a, &t, SIMPLER_IN);
		}
		ret = simpler_submit(o, simpler_callable(w, "sum"), a, &so);
	}
	simpler_args_free(a);
	return ret < 0 ? ret : 0;
}

struct row {
	int chips;
	uint64_t bytes;
	double run_us, algbw, readbw, memcpybw;
};

static double memcpy_bw(uint64_t bytes, int reps)
{
	char *a = malloc(bytes), *b = malloc(bytes);
	double t[16], v;
	int r;

	if (!a || !b) {
		free(a);
		free(b);
		return 0;
	}
	memset(a, 1, bytes);
	memset(b, 2, bytes);
	for (r = 0; r < reps; r++) {
		uint64_t t0 = tool_now_ns();

		memcpy(b, a, bytes);
		__asm__ __volatile__("" : : "r"(b) : "memory");
		t[r] = (double)(tool_now_ns() - t0);
	}
	v = (double)bytes / tool_median(t, reps);	/* bytes per ns = GB/s */
	free(a);
	free(b);
	return v;
}

static int measure(int chips, unsigned flags, int reps, struct row *rows,
		   struct tool_progress *prog)
{
	struct simpler_bootstrap_config c[4];
	struct simpler_buffer_config b[4][2];
	struct simpler_worker *w = NULL;
	uint64_t max = sizes[NSIZES - 1];
	struct plan p = { .n = chips };
	double t[16];
	size_t s;
	int r, k;

	for (r = 0; r < chips; r++) {
		b[r][0] = (struct simpler_buffer_config){ .name = "x", .nbytes = max };
		b[r][1] = (struct simpler_buffer_config){ .name = "sum", .nbytes = max };
		c[r] = (struct simpler_bootstrap_config){
			.comm = { .domain = "bench", .rank = r, .nranks = chips,
				  .window_size = 2 * max },
			.buffers = b[r], .nr_buffers = 2 };
	}
	{
		SIMPLER_OPTS(simpler_worker_opts, o, .nr_chips = chips, .flags = flags,
			     .bootstrap = c);

		if (simpler_worker_create(&o, &w)) {
			fprintf(stderr, "simpler: %s\n", simpler_last_errmsg());
			return -1;
		}
	}
	simpler_register(w, "sum", k_sum);
	for (r = 0; r < chips; r++) {
		simpler_chip_buffer(w, r, "x", &p.x[r]);
		simpler_chip_buffer(w, r, "sum", &p.sum[r]);
	}
	for (s = 0; s < NSIZES; s++) {
		tool_progress(prog, "%d chips, %llu bytes", chips, (unsigned long long)sizes[s]);
		p.bytes = sizes[s];
		if (simpler_run(w, orch_allreduce, &p))	/* warm-up: touches the windows */
			goto fail;
		for (k = 0; k < reps; k++) {
			uint64_t t0 = tool_now_ns();

			if (simpler_run(w, orch_allreduce, &p))
				goto fail;
			t[k] = (double)(tool_now_ns() - t0);
		}
		rows[s].chips = chips;
		rows[s].bytes = sizes[s];
		rows[s].run_us = tool_median(t, reps) / 1000;
		rows[s].algbw = (double)sizes[s] / (rows[s].run_us * 1000);
		rows[s].readbw = (double)sizes[s] * chips * chips / (rows[s].run_us * 1000);
		rows[s].memcpybw = memcpy_bw(sizes[s], reps);
	}
	simpler_worker_destroy(w);
	return 0;
fail:
	fprintf(stderr, "simpler: %s\n", simpler_worker_errmsg(w));
	simpler_worker_destroy(w);
	return -1;
}

int bench_allreduce(const struct cli_cmd *cmd, int argc, char **argv)
{
	struct bench_opts b = { .reps = 7 };
	struct row rows[2 * NSIZES];
	struct tool_progress prog;
	unsigned flags;
	int threads = 0, rc;
	size_t k;
	const struct cli_opt opts[] = {
		{ "threads", 0, NULL, "chips are threads, not processes", CLI_FLAG, &threads, 0, 0,
		  NULL, NULL },
		CLI_REPS(&b.reps), CLI_JSON(&b.json), CLI_N_UNUSED(&b.n), CLI_END,
	};

	rc = cli_parse(cmd, opts, argc, argv);
	if (rc != CLI_RUN)
		return rc;
	flags = threads ? SIMPLER_WORKER_THREADS : 0;
	tool_progress_start(&prog, 2 * NSIZES);
	rc = measure(2, flags, b.reps, rows, &prog) ||
	     measure(4, flags, b.reps, rows + NSIZES, &prog);
	tool_progress_end(&prog);
	if (rc)
		return 1;
	if (b.json) {
		printf("{\"bench\":\"allreduce\",\"mode\":\"%s\",\"reps\":%d,\"runs\":[",
		       flags ? "threads" : "process", b.reps);
		for (k = 0; k < 2 * NSIZES; k++)
			printf("%s{\"chips\":%d,\"bytes\":%llu,\"run_us\":%.1f,\"algbw_gbs\":%.3f,"
			       "\"read_gbs\":%.3f,\"memcpy_gbs\":%.3f,\"read_x_memcpy\":%.3f}",
			       k ? "," : "", rows[k].chips, (unsigned long long)rows[k].bytes,
			       rows[k].run_us, rows[k].algbw, rows[k].readbw, rows[k].memcpybw,
			       rows[k].readbw / rows[k].memcpybw);
		printf("]}\n");
		return 0;
	}
	printf("simpler bench allreduce: chips as %s, one comm domain, each rank sums every "
	       "rank's window\n(read through its peers' addresses) into its own buffer; median "
	       "of %d runs\n\n", flags ? "threads" : "processes", b.reps);
	printf("%-6s %10s %10s %12s %12s %12s %10s\n", "chips", "bytes", "run us", "algbw GB/s",
	       "read GB/s", "memcpy GB/s", "read/memcpy");
	for (k = 0; k < 2 * NSIZES; k++)
		printf("%-6d %10llu %10.1f %12.3f %12.3f %12.3f %10.2fx\n", rows[k].chips,
		       (unsigned long long)rows[k].bytes, rows[k].run_us, rows[k].algbw,
		       rows[k].readbw, rows[k].memcpybw, rows[k].readbw / rows[k].memcpybw);
	printf("\nalgbw = bytes per rank / run time; read = bytes the kernels read (chips x chips x "
	       "bytes) / run time;\nmemcpy = one thread copying the same bytes, this run\n");
	return 0;
}
