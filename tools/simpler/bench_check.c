// SPDX-License-Identifier: MIT
/*
 * simpler bench check: visibility checks per second, simpler.ko's QUERY
 * (kmod backend) against /proc/self/maps snapshots (shm backend).
 *
 * simpler_host_check() between runs looks afresh every time (the
 * application may have remapped anything): one QUERY ioctl, or one read and
 * parse of /proc/self/maps.  Measured on inherited shared memory, with the
 * process as it is and again with 1000 extra mappings (a big application's
 * address space makes procfs slower; QUERY looks up only the range).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "cli.h"
#include "simpler.h"
#include "tool.h"

#define EXTRA_MAPS 1000

struct ck_row {
	double per_s[2];	/* as is, with EXTRA_MAPS more mappings */
};

static double checks_per_s(struct simpler_worker *w, void *p, int reps, int *err)
{
	double v[16];
	int r, i, n = 200;

	for (r = 0; r < reps; r++) {
		uint64_t t0 = tool_now_ns();

		for (i = 0; i < n; i++) {
			*err = simpler_host_check(w, p, 4096);
			if (*err)
				return 0;
		}
		v[r] = n / ((double)(tool_now_ns() - t0) / 1e9);
	}
	return tool_median(v, reps);
}

static int measure(unsigned backend, void *shared, int reps, struct ck_row *row, char *why,
		   size_t len)
{
	struct simpler_worker *w = NULL;
	SIMPLER_OPTS(simpler_worker_opts, o, .nr_chips = 2, .hostmem = backend);
	void *extra[EXTRA_MAPS];
	int i, err = 0;

	if (simpler_worker_create(&o, &w)) {
		snprintf(why, len, "%s", simpler_last_errmsg());
		return -1;
	}
	row->per_s[0] = checks_per_s(w, shared, reps, &err);
	/* alternate protections so the kernel cannot merge them into one */
	for (i = 0; i < EXTRA_MAPS && !err; i++) {
		extra[i] = mmap(NULL, 4096, i % 2 ? PROT_READ : PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (extra[i] == MAP_FAILED)
			err = -errno;
	}
	if (!err)
		row->per_s[1] = checks_per_s(w, shared, reps, &err);
	while (--i >= 0)
		if (extra[i] != MAP_FAILED)
			munmap(extra[i], 4096);
	if (err)
		snprintf(why, len, "%s", simpler_worker_errmsg(w));
	simpler_worker_destroy(w);
	return err ? -1 : 0;
}

int bench_check(const struct cli_cmd *cmd, int argc, char **argv)
{
	struct bench_opts b = { .reps = 5 };
	static const char *const names[2] = { "kmod (QUERY)", "shm (/proc/self/maps)" };
	struct ck_row rows[2];
	char why[2][512];
	void *shared;
	int ok[2], k;
	const struct cli_opt opts[] = { CLI_REPS(&b.reps), CLI_JSON(&b.json), CLI_N_UNUSED(&b.n),
					CLI_END };

	k = cli_parse(cmd, opts, argc, argv);
	if (k != CLI_RUN)
		return k;
	/* inherited: mapped before the workers are created */
	shared = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (shared == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	memset(rows, 0, sizeof(rows));
	ok[0] = !measure(SIMPLER_HOSTMEM_KMOD, shared, b.reps, &rows[0], why[0], sizeof(why[0]));
	ok[1] = !measure(SIMPLER_HOSTMEM_SHM, shared, b.reps, &rows[1], why[1], sizeof(why[1]));
	munmap(shared, 1 << 20);
	if (!ok[1]) {
		fprintf(stderr, "simpler: shm backend: %s\n", why[1]);
		return 1;
	}
	if (b.json) {
		printf("{\"bench\":\"check\",\"reps\":%d,\"extra_maps\":%d,\"backends\":[", b.reps,
		       EXTRA_MAPS);
		for (k = 0; k < 2; k++) {
			printf("%s{\"backend\":\"%s\",\"available\":%s", k ? "," : "",
			       k ? "shm" : "kmod", ok[k] ? "true" : "false");
			if (ok[k])
				printf(",\"checks_per_s\":%.0f,\"checks_per_s_extra_maps\":%.0f",
				       rows[k].per_s[0], rows[k].per_s[1]);
			printf("}");
		}
		printf("]}\n");
		return 0;
	}
	printf("simpler bench check: simpler_host_check() of 4 KiB of inherited shared memory "
	       "between runs,\n2 chip processes, median of %d batches, checks per second\n\n",
	       b.reps);
	printf("%-24s %14s %22s\n", "backend", "as is", "+1000 mappings");
	for (k = 0; k < 2; k++) {
		if (ok[k])
			printf("%-24s %14.0f %22.0f\n", names[k], rows[k].per_s[0], rows[k].per_s[1]);
		else
			printf("%-24s not measured: %s\n", names[k], why[k]);
	}
	if (ok[0])
		printf("\nQUERY / procfs: %.0fx as is, %.0fx with 1000 more mappings\n",
		       rows[0].per_s[0] / rows[1].per_s[0], rows[0].per_s[1] / rows[1].per_s[1]);
	return 0;
}
