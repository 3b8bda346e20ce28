// SPDX-License-Identifier: MIT
/*
 * Bounded memory: a run of 10 million tiny tasks, touching ranges that keep
 * changing, must not grow the process by more than a fixed bound: in-flight
 * state lives in the slot ring and everything else is recycled.
 */
#include <sys/resource.h>

#include "test_util.h"

SHARED_ARRAY(char, buf, 1 << 20)

static int k_empty(const struct simpler_kernel_args *a)
{
	return 0;
}

static long rss_kb(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long v = -1;

	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, "VmRSS:", 6))
			v = strtol(line + 6, NULL, 10);
	if (f)
		fclose(f);
	return v;
}

static int orch_many(struct simpler_orch *o, void *arg)
{
	uint64_t n = *(uint64_t *)arg, i;
	struct simpler_args *a = simpler_args_new();
	struct simpler_tensor shared = simpler_tensor_1d(buf, 64, SIMPLER_U8), mine;
	int r = 0;

	for (i = 0; i < n && r >= 0; i++) {
		/* a read of a shared range and a write of a range that moves each time */
		mine = simpler_tensor_1d(buf + 4096 + (i * 64) % (1 << 19), 64, SIMPLER_U8);
		simpler_args_reset(a);
		simpler_args_add_tensor(a, &shared, SIMPLER_IN);
		simpler_args_add_tensor(a, &mine, SIMPLER_OUT);
		r = simpler_submit(o, 0, a, NULL);
	}
	simpler_args_free(a);
	return r < 0 ? r : 0;
}

TEST_TIMEOUT(ten_million_tasks_in_bounded_memory, 600)
{
	struct simpler_worker *w = make_worker(2, 0, 0, 1024);
	struct simpler_stats s = { .sz = sizeof(s) };
	uint64_t warm = 200000, n = 10000000;
	long before, after;

	simpler_register(w, "empty", k_empty);
	/* warm up: every pool reaches its steady size */
	CHECK_OK(simpler_run(w, orch_many, &warm), w);
	before = rss_kb();
	CHECK_OK(simpler_run(w, orch_many, &n), w);
	after = rss_kb();
	simpler_worker_stats(w, &s);
	CHECK_EQ(s.tasks_completed, warm + n);
	CHECK_EQ(s.tasks_failed, 0);
	printf("# RSS %ld kB before, %ld kB after 10M tasks\n", before, after);
	CHECK_MSG(after - before < 8192, "RSS grew by %ld kB over 10M tasks", after - before);
	simpler_worker_destroy(w);
}

TEST_MAIN()
