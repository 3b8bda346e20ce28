// SPDX-License-Identifier: MIT
/*
 * simpler bench hostbuf: what a host buffer allocated after the chips
 * started costs per run, against its size, on each host-memory backend.
 *
 * For each size (1 MiB to 256 MiB) a buffer is malloc()ed after create,
 * registered, and used by one task per run (INOUT over the whole buffer;
 * the kernel writes its first and last word).  The per-run overhead is the
 * median run time minus that of the same run on a 64-byte runtime-owned
 * tensor.  "first" is the first run after registering (the kmod backend
 * maps the buffer in the chip process then).  kmod copies nothing; shm
 * copies the buffer into its mirror and back every run.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "simpler.h"
#include "tool.h"

#define NSIZES 5
static const unsigned sizes_mib[NSIZES] = { 1, 4, 16, 64, 256 };

static int k_touch(const struct simpler_kernel_args *a)
{
	uint64_t *p = (uint64_t *)(uintptr_t)a->tensors[0].addr;
	uint64_t n = simpler_tensor_nbytes(&a->tensors[0]) / 8;

	p[0]++;
	p[n - 1]++;
	return 0;
}

struct hb_run {
	void *buf;		/* NULL: a runtime-owned 64-byte tensor */
	size_t len;
};

static int orch_touch(struct simpler_orch *o, void *arg)
{
	struct hb_run *r = arg;
	struct simpler_args *a = simpler_args_new();
	void *p = r->buf ? r->buf : simpler_orch_alloc(o, 64);
	struct simpler_tensor t = simpler_tensor_1d(p, (uint32_t)((r->buf ? r->len : 64) / 8),
						    SIMPLER_U64);
	int ret;

	if (!a || !p) {
		simpler_args_free(a);
		return -ENOMEM;
	}
	simpler_args_add_tensor(a, &t, SIMPLER_INOUT);
	ret = simpler_submit(o, 0, a, NULL);
	simpler_args_free(a);
	return ret < 0 ? ret : 0;
}

/* median run time in us over reps runs */
static int time_runs(struct simpler_worker *w, struct hb_run *r, int reps, double *us)
{
	double t[16];
	int i;

	for (i = 0; i < reps; i++) {
		uint64_t t0 = tool_now_ns();

		if (simpler_run(w, orch_touch, r))
			return -1;
		t[i] = (double)(tool_now_ns() - t0) / 1000.0;
	}
	*us = tool_median(t, reps);
	return 0;
}

struct hb_row {
	double first_us, run_us, per_run_us;	/* first run, median run, median minus base */
	uint64_t copied;	/* bytes per run */
};

static int measure(unsigned backend, int reps, struct hb_row *rows, double *base_out, char *why,
		   size_t len, struct tool_progress *prog)
{
	struct simpler_worker *w = NULL;
	SIMPLER_OPTS(simpler_worker_opts, o, .nr_chips = 1, .hostmem = backend,
		     .shm_mirror_size = 1ULL << 30);
	struct simpler_stats s0 = { .sz = sizeof(s0) }, s1 = { .sz = sizeof(s1) };
	struct hb_run base = { 0 };
	double base_us, us;
	uint64_t h, t0;
	int i;

	if (simpler_worker_create(&o, &w)) {
		snprintf(why, len, "%s", simpler_last_errmsg());
		return -1;
	}
	simpler_register(w, "touch", k_touch);
	if (time_runs(w, &base, 1, &us) || time_runs(w, &base, reps, &base_us))
		goto fail;
	*base_out = base_us;
	for (i = 0; i < NSIZES; i++) {
		struct hb_run r = { .len = (size_t)sizes_mib[i] << 20 };

		tool_progress(prog, "%s, %u MiB", backend == SIMPLER_HOSTMEM_KMOD ? "kmod" : "shm",
			      sizes_mib[i]);
		r.buf = malloc(r.len);
		if (!r.buf) {
			snprintf(why, len, "out of memory for %u MiB", sizes_mib[i]);
			goto out;
		}
		memset(r.buf, 1, r.len);	/* the application's data is there */
		if (simpler_host_register(w, r.buf, r.len, 0, &h)) {
			free(r.buf);
			goto fail;
		}
		t0 = tool_now_ns();
		if (simpler_run(w, orch_touch, &r))
			goto fail;
		rows[i].first_us = (double)(tool_now_ns() - t0) / 1000.0 - base_us;
		simpler_worker_stats(w, &s0);
		if (time_runs(w, &r, reps, &us))
			goto fail;
		simpler_worker_stats(w, &s1);
		rows[i].run_us = us;
		rows[i].per_run_us = us - base_us;
		rows[i].copied = (s1.host_bytes_copied - s0.host_bytes_copied) / (uint64_t)reps;
		simpler_host_unregister(w, h);
		free(r.buf);
	}
	simpler_worker_destroy(w);
	return 0;
fail:
	snprintf(why, len, "%s", simpler_worker_errmsg(w));
out:
	simpler_worker_destroy(w);
	return -1;
}

int bench_hostbuf(const struct cli_cmd *cmd, int argc, char **argv)
{
	struct bench_opts b = { .reps = 5 };
	struct hb_row rows[2][NSIZES];
	static const char *const names[2] = { "kmod", "shm" };
	struct tool_progress prog;
	char why[2][512];
	double base[2] = { 0, 0 };
	int ok[2], k, i;
	const struct cli_opt opts[] = { CLI_REPS(&b.reps), CLI_JSON(&b.json), CLI_N_UNUSED(&b.n),
					CLI_END };

	k = cli_parse(cmd, opts, argc, argv);
	if (k != CLI_RUN)
		return k;
	memset(rows, 0, sizeof(rows));
	tool_progress_start(&prog, 2 * NSIZES);
	ok[0] = !measure(SIMPLER_HOSTMEM_KMOD, b.reps, rows[0], &base[0], why[0], sizeof(why[0]),
			 &prog);
	ok[1] = !measure(SIMPLER_HOSTMEM_SHM, b.reps, rows[1], &base[1], why[1], sizeof(why[1]),
			 &prog);
	tool_progress_end(&prog);
	if (!ok[1]) {
		fprintf(stderr, "simpler: shm backend: %s\n", why[1]);
		return 1;
	}
	if (b.json) {
		printf("{\"bench\":\"hostbuf\",\"reps\":%d,\"backends\":[", b.reps);
		for (k = 0; k < 2; k++) {
			printf("%s{\"backend\":\"%s\",\"available\":%s,\"base_run_us\":%.1f",
			       k ? "," : "", names[k], ok[k] ? "true" : "false", base[k]);
			if (ok[k]) {
				printf(",\"sizes\":[");
				for (i = 0; i < NSIZES; i++)
					printf("%s{\"mib\":%u,\"first_us\":%.1f,\"run_us\":%.1f,"
					       "\"overhead_us\":%.1f,\"copied_per_run\":%llu}",
					       i ? "," : "", sizes_mib[i], rows[k][i].first_us,
					       rows[k][i].run_us, rows[k][i].per_run_us,
					       (unsigned long long)rows[k][i].copied);
				printf("]");
			}
			printf("}");
		}
		printf("]}\n");
		return 0;
	}
	printf("simpler bench hostbuf: a buffer malloc()ed after create, registered, one INOUT "
	       "task per run;\nmedian of %d runs, microseconds; overhead = run - the same run on "
	       "a 64-byte runtime-owned tensor\n\n", b.reps);
	if (!ok[0])
		printf("kmod: not measured: %s\n\n", why[0]);
	else
		printf("baseline run: kmod %.1f us, shm %.1f us\n\n", base[0], base[1]);
	printf("%8s %11s %10s %10s %11s %10s %10s %10s %9s\n", "size", "kmod first", "kmod run",
	       "kmod over", "shm first", "shm run", "shm over", "shm copy", "shm/kmod");
	for (i = 0; i < NSIZES; i++) {
		printf("%5u MiB ", sizes_mib[i]);
		if (ok[0])
			printf("%11.1f %10.1f %10.1f ", rows[0][i].first_us, rows[0][i].run_us,
			       rows[0][i].per_run_us);
		else
			printf("%11s %10s %10s ", "-", "-", "-");
		printf("%11.1f %10.1f %10.1f %6.0f MiB ", rows[1][i].first_us, rows[1][i].run_us,
		       rows[1][i].per_run_us, (double)rows[1][i].copied / (1 << 20));
		if (ok[0])
			printf("%8.0fx\n", rows[1][i].run_us / rows[0][i].run_us);
		else
			printf("%9s\n", "-");
	}
	if (ok[0])
		printf("\nkmod bytes copied per run: %llu (every size)\n",
		       (unsigned long long)(rows[0][0].copied + rows[0][NSIZES - 1].copied));
	printf("shm/kmod compares whole runs, baseline included\n");
	return 0;
}
