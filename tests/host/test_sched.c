// SPDX-License-Identifier: MIT
/*
 * Placement: named-chip affinity; a busy chip never delays another chip's
 * work; sub tasks never wait behind chip tasks; groups start all members at
 * once on distinct chips (named or chosen), complete once, reserve their
 * chips while blocked, and fail as one; a full ring makes submit sleep, not
 * spin; a task for any chip starts on the idle chip while the others are
 * busy (no wake-up lost to a chip that was woken for its own work).
 */
#include <sys/resource.h>

#include "probe.h"

SHARED_ARRAY(char, X, 1 << 16)
static int cid, bar_cid;
static struct simpler_worker *W;

typedef _Atomic int chip_row[8];
SHARED_ARRAY(_Atomic int, barrier, 16)
SHARED_ARRAY(chip_row, member_chip, 16)

/* group member: arrive at barrier[scalars[1]] and wait (bounded) for all n */
static int k_barrier(const struct simpler_kernel_args *a)
{
	uint64_t id = a->scalars[0], b = a->scalars[1], n = a->scalars[2], idx = a->scalars[3];
	struct timespec ts = { 0, 1000000 };
	int i;

	atomic_store(&probe_start[id], atomic_fetch_add(&probe_clock, 1) + 1);
	atomic_store(&member_chip[b][idx], a->chip);
	atomic_fetch_add(&barrier[b], 1);
	for (i = 0; i < 5000 && atomic_load(&barrier[b]) < (int)n; i++)
		nanosleep(&ts, NULL);
	if (atomic_load(&barrier[b]) < (int)n) {
		simpler_kernel_errmsg(a, "group members did not run at the same time");
		return -ETIMEDOUT;
	}
	if (a->scalars[4])
		return -(int)a->scalars[4];
	atomic_store(&probe_end[id], atomic_fetch_add(&probe_clock, 1) + 1);
	return 0;
}

static void setup(int chips, int subs, uint32_t ring)
{
	probe_reset();
	memset(barrier, 0, 16 * sizeof(*barrier));
	memset(member_chip, 0xff, 16 * sizeof(*member_chip));
	W = make_worker(chips, subs, 0, ring);
	cid = simpler_register(W, "probe", k_probe);
	bar_cid = simpler_register(W, "barrier", k_barrier);
}

/* group with barrier b: member i has id base + i and writes X[b*64 + i*8..] */
static int submit_group(struct simpler_orch *o, int base, int b, int n, const int *workers,
			int fail_member, int fail_err)
{
	struct simpler_args *a[8] = { 0 };
	struct simpler_tensor t;
	int i, r;

	for (i = 0; i < n; i++) {
		a[i] = simpler_args_new();
		t = tbytes(X, (uint64_t)b * 64 + (uint64_t)i * 8, 8);
		simpler_args_add_tensor(a[i], &t, SIMPLER_OUT);
		simpler_args_add_scalar(a[i], (uint64_t)(base + i));
		simpler_args_add_scalar(a[i], (uint64_t)b);
		simpler_args_add_scalar(a[i], (uint64_t)n);
		simpler_args_add_scalar(a[i], (uint64_t)i);
		simpler_args_add_scalar(a[i], (uint64_t)(i == fail_member ? fail_err : 0));
	}
	r = simpler_submit_group(o, bar_cid, a, n, workers);
	for (i = 0; i < n; i++)
		simpler_args_free(a[i]);
	return r;
}

/* ---- affinity ---- */

static int orch_affinity(struct simpler_orch *o, void *arg)
{
	int i, r = 0;

	for (i = 0; i < 12 && r >= 0; i++)
		r = probe_submit(o, cid, i, i % 3, P_NONE, 0, 0, 1, ACC(X, (uint64_t)i * 64, 64,
									SIMPLER_OUT));
	return r;
}

TEST(named_chip_runs_there)
{
	int i;

	setup(3, 0, 0);
	CHECK_OK(simpler_run(W, orch_affinity, NULL), W);
	for (i = 0; i < 12; i++)
		CHECK_EQ(probe_chip[i], i % 3);
	simpler_worker_destroy(W);
}

static int orch_busy_chip(struct simpler_orch *o, void *arg)
{
	int i, r;

	/* chip 0 is stuck until the last task opens its latch; 20 any-chip tasks still run */
	r = probe_submit(o, cid, 0, 0, P_WAIT, 1, 0, 0);
	for (i = 1; i <= 20 && r >= 0; i++)
		r = probe_submit(o, cid, i, -1, P_NONE, 0, 0, 1, ACC(X, (uint64_t)i * 64, 64,
								     SIMPLER_OUT));
	/* reads what they wrote: the latch opens only after all 20 finished */
	if (r >= 0)
		r = probe_submit(o, cid, 21, 1, P_OPEN, 1, 0, 1, ACC(X, 64, 20 * 64, SIMPLER_IN));
	return r;
}

TEST(busy_chip_does_not_delay_other_chips)
{
	int i;

	setup(2, 0, 0);
	CHECK_OK(simpler_run(W, orch_busy_chip, NULL), W);
	for (i = 1; i <= 20; i++) {
		CHECK_EQ(probe_chip[i], 1);		/* chip 1 took them all */
		CHECK(probe_end[i] < probe_end[0]);	/* while chip 0 was stuck */
	}
	simpler_worker_destroy(W);
}

static int orch_sub_not_behind_chips(struct simpler_orch *o, void *arg)
{
	SIMPLER_OPTS(simpler_submit_opts, so, .worker = -1, .flags = SIMPLER_SUBMIT_SUB);
	struct simpler_args *a = simpler_args_new();
	int r, i;

	/* every chip waits for a latch only a sub task opens */
	r = probe_submit(o, cid, 0, 0, P_WAIT, 1, 0, 0);
	if (r >= 0)
		r = probe_submit(o, cid, 1, 1, P_WAIT, 1, 0, 0);
	for (i = 2; i < 10 && r >= 0; i++)
		r = probe_submit(o, cid, i, -1, P_NONE, 0, 0, 0);
	simpler_args_add_scalar(a, 10);
	simpler_args_add_scalar(a, P_OPEN);
	simpler_args_add_scalar(a, 1);
	simpler_args_add_scalar(a, 0);
	if (r >= 0)
		r = simpler_submit(o, cid, a, &so);
	simpler_args_free(a);
	return r;
}

TEST(sub_tasks_never_wait_behind_chip_tasks)
{
	setup(2, 1, 0);
	CHECK_OK(simpler_run(W, orch_sub_not_behind_chips, NULL), W);
	CHECK_EQ(probe_chip[10], -1);	/* ran on a sub */
	CHECK(probe_start[10] < probe_end[0] && probe_start[10] < probe_end[1]);
	simpler_worker_destroy(W);
}

/* ---- groups ---- */

static int orch_group_named(struct simpler_orch *o, void *arg)
{
	static const int workers[3] = { 2, 0, 3 };

	return submit_group(o, 0, 0, 3, workers, -1, 0);
}

TEST(group_runs_members_together_on_named_chips)
{
	setup(4, 0, 0);
	CHECK_OK(simpler_run(W, orch_group_named, NULL), W);
	CHECK_EQ(member_chip[0][0], 2);
	CHECK_EQ(member_chip[0][1], 0);
	CHECK_EQ(member_chip[0][2], 3);
	CHECK_EQ(barrier[0], 3);
	simpler_worker_destroy(W);
}

static int orch_group_any(struct simpler_orch *o, void *arg)
{
	int r = submit_group(o, 0, 0, 4, NULL, -1, 0);

	return r < 0 ? r : submit_group(o, 4, 1, 2, NULL, -1, 0);
}

TEST(group_without_names_gets_distinct_chips)
{
	int i, j;

	setup(4, 0, 0);
	CHECK_OK(simpler_run(W, orch_group_any, NULL), W);
	for (i = 0; i < 4; i++)
		for (j = i + 1; j < 4; j++)
			CHECK(member_chip[0][i] != member_chip[0][j]);
	CHECK(member_chip[1][0] != member_chip[1][1]);
	simpler_worker_destroy(W);
}

static int orch_group_completion(struct simpler_orch *o, void *arg)
{
	int r;

	/* a reader of every member's output waits for the whole group */
	r = submit_group(o, 0, 0, 3, NULL, -1, 0);
	return r < 0 ? r : probe_submit(o, cid, 10, -1, P_NONE, 0, 0, 1,
					ACC(X, 0, 24, SIMPLER_IN));
}

TEST(group_completes_once_every_member_did)
{
	setup(4, 0, 0);
	CHECK_OK(simpler_run(W, orch_group_completion, NULL), W);
	CHECK(waited(10, 0) && waited(10, 1) && waited(10, 2));
	simpler_worker_destroy(W);
}

static int orch_group_reserves(struct simpler_orch *o, void *arg)
{
	static const int workers[2] = { 0, 1 };
	int r;

	/* chip 0 is busy; the group on {0,1} blocks and reserves chip 1 */
	r = probe_submit(o, cid, 20, 0, P_NONE, 0, 100000, 1, ACC(X, 4096, 8, SIMPLER_OUT));
	if (r >= 0)
		r = submit_group(o, 0, 0, 2, workers, -1, 0);
	/* submitted after the group, independent of it: waits behind it on chip 1 */
	if (r >= 0)
		r = probe_submit(o, cid, 21, 1, P_NONE, 0, 0, 1, ACC(X, 8192, 8, SIMPLER_OUT));
	/* chip 2 is not reserved: runs at once */
	if (r >= 0)
		r = probe_submit(o, cid, 22, 2, P_NONE, 0, 0, 1, ACC(X, 9000, 8, SIMPLER_OUT));
	return r;
}

TEST(blocked_group_reserves_its_chips)
{
	setup(3, 0, 0);
	CHECK_OK(simpler_run(W, orch_group_reserves, NULL), W);
	CHECK(probe_start[0] > probe_end[20]);	/* the group waited for chip 0 */
	CHECK(probe_start[21] > probe_start[1]);	/* task 21 queued behind the group */
	CHECK(probe_end[22] < probe_end[20]);	/* chip 2 was not held up */
	simpler_worker_destroy(W);
}

static int consumer_submit;

static int orch_group_fail(struct simpler_orch *o, void *arg)
{
	int r = submit_group(o, 0, 0, 3, NULL, 1, EIO);

	if (r < 0)
		return r;
	/* the group may have failed already: then this submit fails fast with its error */
	consumer_submit = probe_submit(o, cid, 10, -1, P_NONE, 0, 0, 1, ACC(X, 0, 24, SIMPLER_IN));
	return consumer_submit;
}

TEST(group_fails_as_one_and_poisons_consumers)
{
	struct simpler_stats s = { .sz = sizeof(s) };

	setup(3, 0, 0);
	CHECK_EQ(simpler_run(W, orch_group_fail, NULL), -EIO);
	CHECK(strstr(simpler_worker_errmsg(W), "kernel 'barrier'"));
	CHECK(ran(0) && ran(2));	/* the other members finished */
	CHECK(!ran(10));
	simpler_worker_stats(W, &s);
	/* the group (one node), and its consumer if it was submitted before the failure */
	CHECK_MSG(consumer_submit >= 0 || consumer_submit == -EIO, "%d", consumer_submit);
	CHECK_EQ(s.tasks_failed, consumer_submit >= 0 ? 2 : 1);
	simpler_worker_destroy(W);
}

static int orch_group_errors(struct simpler_orch *o, void *arg)
{
	struct simpler_worker *w = simpler_orch_worker(o);
	static const int dup[2] = { 1, 1 }, bad[2] = { 0, 9 };
	struct simpler_args *a[3] = { simpler_args_new(), simpler_args_new(), simpler_args_new() };

	CHECK_EQ(simpler_submit_group(o, bar_cid, a, 3, NULL), -EINVAL);
	CHECK(strstr(simpler_worker_errmsg(w), "3 members need as many distinct chips"));
	CHECK_EQ(simpler_submit_group(o, bar_cid, a, 2, dup), -EINVAL);
	CHECK(strstr(simpler_worker_errmsg(w), "named twice"));
	CHECK_EQ(simpler_submit_group(o, bar_cid, a, 2, bad), -EINVAL);
	CHECK_EQ(simpler_submit_group(o, bar_cid, a, 0, NULL), -EINVAL);
	simpler_args_free(a[0]);
	simpler_args_free(a[1]);
	simpler_args_free(a[2]);
	return 0;
}

TEST(group_placement_errors)
{
	setup(2, 0, 0);
	CHECK_OK(simpler_run(W, orch_group_errors, NULL), W);
	simpler_worker_destroy(W);
}

/* ---- back-pressure ---- */

static int orch_backpressure(struct simpler_orch *o, void *arg)
{
	struct timespec *cpu = arg;
	int i, r = 0;

	for (i = 0; i < 6 && r >= 0; i++)
		r = probe_submit(o, cid, i, -1, P_NONE, 0, 100000, 1,
				 ACC(X, (uint64_t)i * 64, 64, SIMPLER_OUT));
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, cpu);
	return r;
}

TEST(full_ring_blocks_submit_without_spinning)
{
	struct simpler_stats s = { .sz = sizeof(s) };
	struct timespec before, after;
	double used;
	int i;

	setup(1, 0, 2);	/* two slots, one chip, 100 ms tasks */
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &before);
	CHECK_OK(simpler_run(W, orch_backpressure, &after), W);
	for (i = 0; i < 6; i++)
		CHECK(ran(i));
	simpler_worker_stats(W, &s);
	CHECK(s.submit_waits >= 3);
	/* submit waited ~400 ms for slots; it must have slept, not spun */
	used = (double)(after.tv_sec - before.tv_sec) + (after.tv_nsec - before.tv_nsec) / 1e9;
	CHECK_MSG(used < 0.05, "the orchestrator used %.3f s of CPU while blocked", used);
	simpler_worker_destroy(W);
}

static int orch_chain8(struct simpler_orch *o, void *arg)
{
	int i, r = 0;

	for (i = 0; i < 8 && r >= 0; i++)
		r = probe_submit(o, cid, i, -1, P_NONE, 0, 0, 1, ACC(X, 0, 64, SIMPLER_INOUT));
	return r;
}

/*
 * Finished tasks' slots are reused before fresh ones: 50 runs of 8 tasks
 * in a ring of 256 stay within a few dozen slots (taking fresh slots
 * first would have used all 256: page faults and cold caches each run).
 */
TEST(finished_slots_are_reused_first)
{
	struct simpler_stats s = { .sz = sizeof(s) };
	int k;

	setup(1, 0, 256);
	for (k = 0; k < 50; k++)
		CHECK_OK(simpler_run(W, orch_chain8, NULL), W);
	CHECK(ran(7));
	CHECK_OK(simpler_worker_stats(W, &s), W);
	CHECK_EQ(s.tasks_submitted, 400);
	/* 8 in flight, plus slots a finisher had not yet given back as a run ended */
	CHECK_MSG(s.slots_used >= 1 && s.slots_used <= 32, "%llu slots used by 50 runs of 8 tasks",
		  (unsigned long long)s.slots_used);
	simpler_worker_destroy(W);
}

TEST(idle_executors_use_no_cpu)
{
	struct rusage r0, r1;
	struct timespec ts = { 0, 300 * 1000 * 1000 };
	double used;

	setup(4, 2, 0);
	getrusage(RUSAGE_SELF, &r0);
	nanosleep(&ts, NULL);
	getrusage(RUSAGE_SELF, &r1);
	used = (double)(r1.ru_utime.tv_sec - r0.ru_utime.tv_sec + r1.ru_stime.tv_sec -
			r0.ru_stime.tv_sec) + (double)(r1.ru_utime.tv_usec - r0.ru_utime.tv_usec +
						       r1.ru_stime.tv_usec - r0.ru_stime.tv_usec) / 1e6;
	CHECK_MSG(used < 0.03, "6 idle executors used %.3f s of CPU in 0.3 s", used);
	simpler_worker_destroy(W);
}

/* ---- a task for any chip, with every other chip busy ---- */

SHARED_ARRAY(_Atomic int, any_round, 1)

/* a busy chip: hold until this round's task for any chip ran (bounded) */
static int k_hold(const struct simpler_kernel_args *a)
{
	struct timespec ts = { 0, 1000000 };
	int i, round = (int)a->scalars[0];

	for (i = 0; i < 5000 && atomic_load(&any_round[0]) != round; i++)
		nanosleep(&ts, NULL);
	if (atomic_load(&any_round[0]) != round) {
		simpler_kernel_errmsg(a, "round %d: the task for any chip did not start in 5 s "
				      "while this chip was busy and another one idle", round);
		return -ETIMEDOUT;
	}
	return 0;
}

static int k_mark(const struct simpler_kernel_args *a)
{
	atomic_store(&any_round[0], (int)a->scalars[0]);
	return 0;
}

static int hold_cid, mark_cid;

static int orch_any_chip(struct simpler_orch *o, void *arg)
{
	int round = *(int *)arg, c, r = 0;
	struct simpler_args *a = simpler_args_new();
	SIMPLER_OPTS(simpler_submit_opts, so);
	struct simpler_tensor t;

	/* chips 0..2 busy with their own work, woken one after the other */
	for (c = 0; c < 3 && r >= 0; c++) {
		simpler_args_reset(a);
		t = tbytes(X, (uint64_t)c * 64, 8);
		simpler_args_add_tensor(a, &t, SIMPLER_OUT);
		simpler_args_add_scalar(a, (uint64_t)round);
		so.worker = c;
		r = simpler_submit(o, hold_cid, a, &so);
	}
	/* then work for any chip: only chip 3 is free to take it */
	simpler_args_reset(a);
	t = tbytes(X, 7 * 64, 8);
	simpler_args_add_tensor(a, &t, SIMPLER_OUT);
	simpler_args_add_scalar(a, (uint64_t)round);
	if (r >= 0)
		r = simpler_submit(o, mark_cid, a, NULL);
	simpler_args_free(a);
	return r < 0 ? r : 0;
}

TEST(task_for_any_chip_starts_on_the_idle_chip)
{
	struct timespec idle = { 0, 2000000 };
	int round;

	setup(4, 0, 0);
	hold_cid = simpler_register(W, "hold", k_hold);
	mark_cid = simpler_register(W, "mark", k_mark);
	atomic_store(&any_round[0], 0);
	for (round = 1; round <= 200; round++) {
		/* every executor goes to sleep between rounds */
		nanosleep(&idle, NULL);
		CHECK_OK(simpler_run(W, orch_any_chip, &round), W);
	}
	simpler_worker_destroy(W);
}

static int k_nop(const struct simpler_kernel_args *a)
{
	return 0;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* independent tasks, alternately for any chip and for a named one */
static int orch_mixed(struct simpler_orch *o, void *arg)
{
	int nchips = simpler_worker_nr_chips(simpler_orch_worker(o)), cid = *(int *)arg, i, r;

	for (i = 0; i < 64; i++) {
		SIMPLER_OPTS(simpler_submit_opts, so, .worker = i % 2 ? (i / 2) % nchips : -1);

		r = simpler_submit(o, cid, NULL, &so);
		if (r < 0)
			return r;
	}
	return 0;
}

/*
 * Work named for a chip wakes that chip even when a wake-up for work of
 * the pool claimed it a moment before it slept (it slept on with its own
 * work queued, and the run never ended).  Executors that sleep at once
 * (spin_us 1) make the race frequent; a lost wake-up hangs a run, which the
 * harness's timeout turns into a failure.
 */
TEST_TIMEOUT(named_work_wakes_its_chip_after_a_pool_wake_up, 300)
{
	TEST_OPTS(o, .nr_chips = 4, .flags = test_mode_flags(), .spin_us = 1);
	const char *env = getenv("SIMPLER_STRESS_SECONDS");
	double t0 = now_s(), secs = env ? atof(env) : 2;
	struct simpler_worker *w = NULL;
	int cid, runs;

	CHECK_EQ(simpler_worker_create(&o, &w), 0);
	cid = simpler_register(w, "nop", k_nop);
	for (runs = 0; now_s() - t0 < secs; runs++)
		CHECK_OK(simpler_run(w, orch_mixed, &cid), w);
	printf("# %d runs of 64 mixed tasks in %.1f s\n", runs, now_s() - t0);
	simpler_worker_destroy(w);
}

TEST_MAIN()
