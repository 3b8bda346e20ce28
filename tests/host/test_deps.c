// SPDX-License-Identifier: MIT
/*
 * Dependency inference, rule by rule, with exact assertions on which task
 * waited for which: RAW, WAR, WAW; partial overlap; adjacent and nested
 * ranges; NO_DEP; chip address spaces separate from the host and from each
 * other; no self-edges; one edge per producer.  Ordered pairs run on two
 * different chips (only an edge can order them); unordered pairs prove they
 * ran at the same time with a latch.
 */
#include <sched.h>

#include "probe.h"

SHARED_ARRAY(char, X, 1 << 16)
static int cid;
static struct simpler_worker *W;

static void setup(int chips)
{
	probe_reset();
	W = make_worker(chips, 0, 0, 0);
	cid = simpler_register(W, "probe", k_probe);
}

static uint64_t edges(void)
{
	struct simpler_stats s = { .sz = sizeof(s) };

	simpler_worker_stats(W, &s);
	return s.edges;
}

/* A on chip 0 (sleeping 20 ms) then B on chip 1: B must wait */
#define ORDERED_PAIR(name, a_acc, b_acc)                                           \
	static int orch_##name(struct simpler_orch *o, void *arg)                  \
	{                                                                          \
		int r = probe_submit(o, cid, 0, 0, P_NONE, 0, 20000, 1, a_acc);    \
		return r < 0 ? r : probe_submit(o, cid, 1, 1, P_NONE, 0, 0, 1, b_acc); \
	}                                                                          \
	TEST(name)                                                                 \
	{                                                                          \
		setup(2);                                                          \
		CHECK_OK(simpler_run(W, orch_##name, NULL), W);                    \
		CHECK_MSG(waited(1, 0), "start[B]=%lu end[A]=%lu",                 \
			  (unsigned long)probe_start[1], (unsigned long)probe_end[0]); \
		CHECK_EQ(edges(), 1);                                              \
		simpler_worker_destroy(W);                                         \
	}

/* A on chip 0 waits for a latch that B, on chip 1, opens: they must overlap */
#define CONCURRENT_PAIR(name, a_acc, b_acc)                                        \
	static int orch_##name(struct simpler_orch *o, void *arg)                  \
	{                                                                          \
		int r = probe_submit(o, cid, 0, 0, P_WAIT, 1, 0, 1, a_acc);        \
		return r < 0 ? r : probe_submit(o, cid, 1, 1, P_OPEN, 1, 0, 1, b_acc); \
	}                                                                          \
	TEST(name)                                                                 \
	{                                                                          \
		setup(2);                                                          \
		CHECK_OK(simpler_run(W, orch_##name, NULL), W);                    \
		CHECK(ran(0) && ran(1));                                           \
		CHECK(probe_start[1] < probe_end[0]);                              \
		CHECK_EQ(edges(), 0);                                              \
		simpler_worker_destroy(W);                                         \
	}

ORDERED_PAIR(raw_reader_waits_for_writer, ACC(X, 0, 256, SIMPLER_OUT), ACC(X, 0, 256, SIMPLER_IN))
ORDERED_PAIR(war_writer_waits_for_reader, ACC(X, 0, 256, SIMPLER_IN), ACC(X, 0, 256, SIMPLER_OUT))
ORDERED_PAIR(waw_writer_waits_for_writer, ACC(X, 0, 256, SIMPLER_OUT), ACC(X, 0, 256, SIMPLER_OUT))
ORDERED_PAIR(inout_waits_for_writer, ACC(X, 0, 256, SIMPLER_OUT), ACC(X, 0, 256, SIMPLER_INOUT))
ORDERED_PAIR(writer_waits_for_inout, ACC(X, 0, 256, SIMPLER_INOUT), ACC(X, 0, 256, SIMPLER_OUT_EXISTING))
ORDERED_PAIR(partial_overlap_raw, ACC(X, 0, 100, SIMPLER_OUT), ACC(X, 99, 100, SIMPLER_IN))
ORDERED_PAIR(partial_overlap_war, ACC(X, 50, 100, SIMPLER_IN), ACC(X, 0, 51, SIMPLER_OUT))
ORDERED_PAIR(partial_overlap_waw, ACC(X, 10, 10, SIMPLER_OUT), ACC(X, 19, 30, SIMPLER_OUT_EXISTING))
ORDERED_PAIR(nested_read_inside_write, ACC(X, 0, 4096, SIMPLER_OUT), ACC(X, 1000, 8, SIMPLER_IN))
ORDERED_PAIR(nested_write_around_read, ACC(X, 1000, 8, SIMPLER_IN), ACC(X, 0, 4096, SIMPLER_OUT))
ORDERED_PAIR(one_byte_overlap, ACC(X, 0, 64, SIMPLER_OUT), ACC(X, 63, 64, SIMPLER_OUT))

CONCURRENT_PAIR(readers_run_together, ACC(X, 0, 256, SIMPLER_IN), ACC(X, 0, 256, SIMPLER_IN))
CONCURRENT_PAIR(adjacent_writes_independent, ACC(X, 0, 64, SIMPLER_OUT), ACC(X, 64, 64, SIMPLER_OUT))
CONCURRENT_PAIR(adjacent_read_write_independent, ACC(X, 64, 64, SIMPLER_IN), ACC(X, 0, 64, SIMPLER_OUT))
CONCURRENT_PAIR(no_dep_is_not_tracked, ACC(X, 0, 256, SIMPLER_OUT), ACC(X, 0, 256, SIMPLER_NO_DEP))
CONCURRENT_PAIR(no_dep_writer_is_not_tracked, ACC(X, 0, 256, SIMPLER_NO_DEP), ACC(X, 0, 256, SIMPLER_OUT))
CONCURRENT_PAIR(disjoint_buffers_independent, ACC(X, 0, 256, SIMPLER_INOUT), ACC(X, 8192, 256, SIMPLER_INOUT))

/* ---- chip address spaces ---- */

static uint64_t chip0;

static int orch_host_vs_chip(struct simpler_orch *o, void *arg)
{
	/* the same bytes, named as host memory by one task and chip memory by another */
	struct acc as_host = { (const void *)(uintptr_t)chip0, 0, 64, SIMPLER_OUT, 0 };
	struct acc as_chip = { (const void *)(uintptr_t)chip0, 0, 64, SIMPLER_OUT, 1 };
	int r = probe_submit(o, cid, 0, 1, P_WAIT, 1, 0, 1, as_host);

	return r < 0 ? r : probe_submit(o, cid, 1, 0, P_OPEN, 1, 0, 1, as_chip);
}

TEST(chip_space_separate_from_host_space)
{
	uint64_t h = 0;
	void *p;

	setup(2);
	CHECK_OK(simpler_malloc(W, 0, 4096, &chip0), W);
	if (!test_threads()) {
		/* chip memory lives in the chip process: give the host the same numbers */
		p = mmap((void *)(uintptr_t)chip0, 4096, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
		CHECK_MSG(p == (void *)(uintptr_t)chip0, "cannot map host memory at 0x%llx: %s",
			  (unsigned long long)chip0, strerror(errno));
		CHECK_OK(simpler_host_register(W, p, 4096, 0, &h), W);
	}
	CHECK_OK(simpler_run(W, orch_host_vs_chip, NULL), W);
	CHECK(probe_start[1] < probe_end[0]);
	CHECK_EQ(edges(), 0);
	if (h) {
		CHECK_OK(simpler_host_unregister(W, h), W);
		munmap((void *)(uintptr_t)chip0, 4096);
	}
	simpler_worker_destroy(W);
}

static int orch_chip_raw(struct simpler_orch *o, void *arg)
{
	struct acc w = { (const void *)(uintptr_t)chip0, 0, 64, SIMPLER_OUT, 1 };
	struct acc r = { (const void *)(uintptr_t)chip0, 32, 64, SIMPLER_IN, 1 };
	/* still running when the reader arrives, so the edge is needed */
	int ret = probe_submit(o, cid, 0, 0, P_NONE, 0, 50000, 1, w);

	return ret < 0 ? ret : probe_submit(o, cid, 1, 0, P_NONE, 0, 0, 1, r);
}

TEST(chip_memory_dependencies_tracked)
{
	setup(2);
	CHECK_OK(simpler_malloc(W, 0, 4096, &chip0), W);
	CHECK_OK(simpler_run(W, orch_chip_raw, NULL), W);
	CHECK(waited(1, 0));
	CHECK_EQ(edges(), 1);
	simpler_worker_destroy(W);
}

static int orch_child_without_chip(struct simpler_orch *o, void *arg)
{
	struct acc c = { (const void *)(uintptr_t)chip0, 0, 64, SIMPLER_OUT, 1 };

	return probe_submit(o, cid, 0, -1, P_NONE, 0, 0, 1, c);
}

TEST(child_memory_without_named_chip_rejected)
{
	setup(2);
	CHECK_OK(simpler_malloc(W, 0, 4096, &chip0), W);
	CHECK_EQ(simpler_run(W, orch_child_without_chip, NULL), -EINVAL);
	CHECK(strstr(simpler_worker_errmsg(W), "child_memory"));
	CHECK(!ran(0));
	simpler_worker_destroy(W);
}

/* ---- edges ---- */

static int orch_self(struct simpler_orch *o, void *arg)
{
	return probe_submit(o, cid, 0, 0, P_NONE, 0, 0, 3, ACC(X, 0, 64, SIMPLER_IN),
			    ACC(X, 32, 64, SIMPLER_IN), ACC(X, 0, 128, SIMPLER_INOUT));
}

TEST(task_never_depends_on_itself)
{
	setup(1);
	CHECK_OK(simpler_run(W, orch_self, NULL), W);
	CHECK(ran(0));
	CHECK_EQ(edges(), 0);
	simpler_worker_destroy(W);
}

static int orch_dup(struct simpler_orch *o, void *arg)
{
	int r = probe_submit(o, cid, 0, 0, P_NONE, 0, 20000, 2, ACC(X, 0, 64, SIMPLER_OUT),
			     ACC(X, 1000, 64, SIMPLER_OUT));

	/* B touches both of A's ranges, three times: one edge */
	return r < 0 ? r : probe_submit(o, cid, 1, 1, P_NONE, 0, 0, 3, ACC(X, 0, 64, SIMPLER_IN),
					ACC(X, 1000, 64, SIMPLER_IN), ACC(X, 10, 2, SIMPLER_INOUT));
}

TEST(duplicate_edges_collapse)
{
	setup(2);
	CHECK_OK(simpler_run(W, orch_dup, NULL), W);
	CHECK(waited(1, 0));
	CHECK_EQ(edges(), 1);
	simpler_worker_destroy(W);
}

static int orch_transitive(struct simpler_orch *o, void *arg)
{
	/* W1 writes, R1 R2 read, W2 writes: W2 waits for both readers and W1 */
	int r = probe_submit(o, cid, 0, 0, P_NONE, 0, 50000, 1, ACC(X, 0, 64, SIMPLER_OUT));

	if (r >= 0)
		r = probe_submit(o, cid, 1, 1, P_NONE, 0, 50000, 1, ACC(X, 0, 64, SIMPLER_IN));
	if (r >= 0)
		r = probe_submit(o, cid, 2, 2, P_NONE, 0, 50000, 1, ACC(X, 0, 64, SIMPLER_IN));
	if (r >= 0)
		r = probe_submit(o, cid, 3, 3, P_NONE, 0, 0, 1, ACC(X, 0, 64, SIMPLER_OUT));
	return r;
}

TEST(writer_waits_for_every_reader_since_last_write)
{
	setup(4);
	CHECK_OK(simpler_run(W, orch_transitive, NULL), W);
	CHECK(waited(1, 0) && waited(2, 0));
	CHECK(waited(3, 1) && waited(3, 2));
	/* R1, R2 on W1; W2 on R1, R2 and W1 */
	CHECK_EQ(edges(), 5);
	simpler_worker_destroy(W);
}

SHARED_ARRAY(_Atomic int, counter_order, 64)
SHARED_ARRAY(_Atomic int, counter_pos, 1)

static int k_append(const struct simpler_kernel_args *a)
{
	uint64_t *v = (uint64_t *)(uintptr_t)a->tensors[0].addr;

	atomic_store(&counter_order[atomic_fetch_add(counter_pos, 1)], (int)a->scalars[0]);
	*v = *v * 31 + a->scalars[0];	/* order-sensitive */
	return 0;
}

static int orch_chain(struct simpler_orch *o, void *arg)
{
	struct simpler_args *a = simpler_args_new();
	struct simpler_tensor t = t1d(X, 1, SIMPLER_U64);
	int i, r = 0, k = simpler_callable(simpler_orch_worker(o), "append");

	for (i = 0; i < 64 && r >= 0; i++) {
		simpler_args_reset(a);
		simpler_args_add_tensor(a, &t, SIMPLER_INOUT);
		simpler_args_add_scalar(a, (uint64_t)i);
		r = simpler_submit(o, k, a, NULL);	/* any chip */
	}
	simpler_args_free(a);
	return r;
}

TEST(inout_chain_runs_in_submission_order_across_chips)
{
	uint64_t expect = 0;
	int i;

	setup(4);
	simpler_register(W, "append", k_append);
	memset(X, 0, 8);
	CHECK_OK(simpler_run(W, orch_chain, NULL), W);
	for (i = 0; i < 64; i++) {
		CHECK_EQ(counter_order[i], i);
		expect = expect * 31 + (uint64_t)i;
	}
	CHECK_EQ(*(uint64_t *)X, expect);
	/* a producer that already finished needs no edge */
	CHECK(edges() <= 63);
	simpler_worker_destroy(W);
}

/* each task finds the count its predecessor left, or the chain broke */
static int k_step(const struct simpler_kernel_args *a)
{
	uint64_t *v = (uint64_t *)(uintptr_t)a->tensors[0].addr;

	if (*v != a->scalars[0]) {
		simpler_kernel_errmsg(a, "step %llu found %llu", (unsigned long long)a->scalars[0],
				      (unsigned long long)*v);
		return -EINVAL;
	}
	*v = a->scalars[0] + 1;
	return 0;
}

#define ONE_CPU_CHAIN 10000	/* past the 4096-slot ring: the orchestrator must wait */

static int orch_steps(struct simpler_orch *o, void *arg)
{
	struct simpler_args *a = simpler_args_new();
	struct simpler_tensor t = t1d(X, 1, SIMPLER_U64);
	int i, r = 0, k = simpler_callable(simpler_orch_worker(o), "step");

	for (i = 0; i < ONE_CPU_CHAIN && r >= 0; i++) {
		simpler_args_reset(a);
		simpler_args_add_tensor(a, &t, SIMPLER_INOUT);
		simpler_args_add_scalar(a, (uint64_t)i);
		r = simpler_submit(o, k, a, NULL);	/* any chip */
	}
	simpler_args_free(a);
	return r < 0 ? r : 0;
}

/*
 * Confined to one CPU (a cpuset or taskset), every wait yields instead of
 * spinning: the chain still runs in order, to the end, on every chip.
 */
TEST(a_long_chain_on_one_cpu_runs_in_order)
{
	cpu_set_t saved, one;
	int cpu;

	CHECK(!sched_getaffinity(0, sizeof(saved), &saved));
	for (cpu = 0; cpu < CPU_SETSIZE && !CPU_ISSET(cpu, &saved); cpu++)
		;
	CPU_ZERO(&one);
	CPU_SET(cpu, &one);
	CHECK(!sched_setaffinity(0, sizeof(one), &one));	/* the worker inherits it */
	setup(2);
	simpler_register(W, "step", k_step);
	memset(X, 0, 8);
	CHECK_OK(simpler_run(W, orch_steps, NULL), W);
	CHECK_EQ(*(uint64_t *)X, ONE_CPU_CHAIN);
	memset(X, 0, 8);
	CHECK_OK(simpler_run(W, orch_steps, NULL), W);	/* and again, warm */
	CHECK_EQ(*(uint64_t *)X, ONE_CPU_CHAIN);
	simpler_worker_destroy(W);
	CHECK(!sched_setaffinity(0, sizeof(saved), &saved));
}

TEST_MAIN()
