// SPDX-License-Identifier: MIT
/*
 * L4 workers with local nodes: each node an L3 worker with chips of its
 * own, in a process of its own (threads with SIMPLER_TEST_MODE=threads);
 * node functions run as complete L3 runs there; the L4's TensorMap orders
 * node tasks across nodes and against the L4's subs; a failure inside a
 * node comes back with the node's prefix stacked on the chip's and poisons
 * dependents at the L4; a killed node fails its task and is forked again at
 * the next run (process mode), its chips gone before that run goes on;
 * destroy returns only when every node's chips are gone, even those of a
 * killed node that cannot exit on their own; create fails cleanly naming a
 * node that cannot start; node functions and kernels registered after
 * create reach the nodes; a group spans nodes; callables run only where
 * they can.
 */
#include <pthread.h>
#include <stdbool.h>
#include <time.h>

#include "test_util.h"

/* processes the library forked (lib/worker.h) */
extern _Atomic unsigned long sx_forks;

#define N 1024
#define LATCH_WAIT_MS 10000
#define GONE_WAIT_S 30.0	/* catches a process that stays, nothing slower */

SHARED_ARRAY(float, A, N)
SHARED_ARRAY(float, B, N)
SHARED_ARRAY(float, C, N)
SHARED_ARRAY(float, D, N)
SHARED_ARRAY(_Atomic int, started, 4)	/* a blocking kernel started */
SHARED_ARRAY(_Atomic int, release, 1)	/* opens every blocking kernel */
SHARED_ARRAY(_Atomic int, fn_pid, 4)	/* the process a node fn ran in, by scalar 1 */
SHARED_ARRAY(_Atomic int, chip_pid, 8)	/* node n's chip c: [2 * n + c] (k_pid) */

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

/* ---- chip kernels (inside nodes) and sub kernels (on the L4) ---- */

/* out[i] = scalar0 + i, after a pause: a consumer that did not wait reads zeros */
static int k_fill(const struct simpler_kernel_args *a)
{
	float *x = (float *)a->tensors[0].addr;
	uint32_t i;

	sleep_ms(20);
	for (i = 0; i < a->tensors[0].shape[0]; i++)
		x[i] = (float)a->scalars[0] + (float)i;
	return 0;
}

/* out[i] = in[i] + 1 */
static int k_add1(const struct simpler_kernel_args *a)
{
	const float *x = (const float *)a->tensors[0].addr;
	float *y = (float *)a->tensors[1].addr;
	uint32_t i;

	for (i = 0; i < a->tensors[0].shape[0]; i++)
		y[i] = x[i] + 1;
	return 0;
}

/* waits (bounded) until *release: what the test must submit first is submitted */
static int k_block(const struct simpler_kernel_args *a)
{
	int i;

	atomic_store(&started[a->scalars[0]], 1);
	for (i = 0; i < LATCH_WAIT_MS && !atomic_load(release); i++)
		sleep_ms(1);
	return atomic_load(release) ? 0 : -ETIMEDOUT;
}

/* where it ran: chip_pid[scalars[0]] */
static int k_pid(const struct simpler_kernel_args *a)
{
	atomic_store(&chip_pid[a->scalars[0]], getpid());
	return 0;
}

/* fails once released, so the run's later submits are not refused (fail-fast) first */
static int k_fail(const struct simpler_kernel_args *a)
{
	int r = k_block(a);

	if (r)
		return r;
	simpler_kernel_errmsg(a, "vadd-boom");
	return -EINVAL;
}

/* ---- node functions: L3 orchestration on the node's own worker ---- */

static int node_submit(struct simpler_orch *o, const char *kernel, const struct simpler_tensor *in,
		       const struct simpler_tensor *out, uint64_t scalar, int chip)
{
	struct simpler_worker *w = simpler_orch_worker(o);
	struct simpler_args *a = simpler_args_new();
	SIMPLER_OPTS(simpler_submit_opts, so, .worker = chip);
	int r;

	if (in)
		simpler_args_add_tensor(a, in, SIMPLER_IN);
	if (out)
		simpler_args_add_tensor(a, out, SIMPLER_OUT);
	simpler_args_add_scalar(a, scalar);
	r = simpler_submit(o, simpler_callable(w, kernel), a, &so);
	simpler_args_free(a);
	return r < 0 ? r : 0;
}

/* tensors[0] OUT: fill it with scalars[0] + i on the node's chip 1 */
static int nf_fill(struct simpler_orch *o, const struct simpler_kernel_args *a)
{
	return node_submit(o, "fill", NULL, &a->tensors[0], a->scalars[0], 1);
}

/*
 * tensors[0] IN, tensors[1] OUT: out = in + 2, through a scratch tensor of
 * the node's run (two chips, a dependency the node's own TensorMap infers)
 */
static int nf_add2(struct simpler_orch *o, const struct simpler_kernel_args *a)
{
	float *tmp = simpler_orch_alloc(o, a->tensors[0].shape[0] * sizeof(float));
	struct simpler_tensor t = simpler_tensor_1d(tmp, a->tensors[0].shape[0], SIMPLER_F32);
	int r;

	if (!tmp)
		return -ENOMEM;
	r = node_submit(o, "add1", &a->tensors[0], &t, 0, 0);
	if (!r)
		r = node_submit(o, "add1", &t, &a->tensors[1], 0, 1);
	return r;
}

static int nf_bad(struct simpler_orch *o, const struct simpler_kernel_args *a)
{
	return node_submit(o, "vadd", NULL, &a->tensors[0], 2, 0);
}

/* a blocking kernel: scalars[0] is the started[] slot */
static int nf_block(struct simpler_orch *o, const struct simpler_kernel_args *a)
{
	return node_submit(o, "block", NULL, &a->tensors[0], a->scalars[0], 0);
}

/* k_pid on each of the node's chips: chip c at chip_pid[scalars[0] + c] */
static int nf_pids(struct simpler_orch *o, const struct simpler_kernel_args *a)
{
	int c, r = 0;

	for (c = 0; c < simpler_worker_nr_chips(simpler_orch_worker(o)) && !r; c++)
		r = node_submit(o, "pid", NULL, NULL, a->scalars[0] + (uint64_t)c, c);
	return r;
}

/* where it ran (scalars[1]), then a fill with the L4's kernel id in scalars[2] */
static int nf_fill_by_id(struct simpler_orch *o, const struct simpler_kernel_args *a)
{
	struct simpler_args *x = simpler_args_new();
	SIMPLER_OPTS(simpler_submit_opts, so, .worker = 0);
	int r;

	atomic_store(&fn_pid[a->scalars[1]], getpid());
	simpler_args_add_tensor(x, &a->tensors[0], SIMPLER_OUT);
	simpler_args_add_scalar(x, a->scalars[0]);
	r = simpler_submit(o, (int)a->scalars[2], x, &so);
	simpler_args_free(x);
	return r < 0 ? r : 0;
}

/* ---- the L4 side ---- */

static struct simpler_worker *l4_worker(int nodes, int subs,
					const struct simpler_worker_opts *const *node_opts)
{
	struct simpler_worker *w = NULL;
	TEST_OPTS(o, .level = 4, .nr_nodes = nodes, .nr_subs = subs, .flags = test_mode_flags(),
		  .node_opts = node_opts);
	int ret = simpler_worker_create(&o, &w);

	if (ret)
		FAILF("simpler_worker_create (L4): %d (%s): %s", ret, strerror(-ret),
		      simpler_last_errmsg());
	return w;
}

/* nodes of 2 chips in the suite's mode */
static struct simpler_worker *l4_two_nodes(int subs)
{
	static struct simpler_worker_opts n2;
	static const struct simpler_worker_opts *two[2] = { &n2, &n2 };

	n2 = (struct simpler_worker_opts){ .sz = sizeof(n2), .nr_chips = 2,
					   .flags = test_mode_flags(), .hostmem = test_hostmem() };
	return l4_worker(2, subs, two);
}

static void register_all(struct simpler_worker *w)
{
	CHECK_OK(simpler_register(w, "fill", k_fill), w);
	CHECK_OK(simpler_register(w, "add1", k_add1), w);
	CHECK_OK(simpler_register(w, "vadd", k_fail), w);
	CHECK_OK(simpler_register(w, "block", k_block), w);
	CHECK_OK(simpler_register(w, "pid", k_pid), w);
	CHECK_OK(simpler_register_node_fn(w, "nf_fill", nf_fill), w);
	CHECK_OK(simpler_register_node_fn(w, "nf_add2", nf_add2), w);
	CHECK_OK(simpler_register_node_fn(w, "step", nf_bad), w);
	CHECK_OK(simpler_register_node_fn(w, "nf_block", nf_block), w);
	CHECK_OK(simpler_register_node_fn(w, "nf_pids", nf_pids), w);
}

/* one L4 task: a node fn on node (-1: any), or a kernel on sub 0 (node = -2) */
static int l4_submit(struct simpler_orch *o, const char *fn, int node, float *in, float *out,
		     uint64_t scalar)
{
	struct simpler_worker *w = simpler_orch_worker(o);
	struct simpler_args *a = simpler_args_new();
	struct simpler_tensor ti = simpler_tensor_1d(in, N, SIMPLER_F32);
	struct simpler_tensor to = simpler_tensor_1d(out, N, SIMPLER_F32);
	SIMPLER_OPTS(simpler_submit_opts, so, .worker = node < -1 ? 0 : node,
		     .flags = node < -1 ? SIMPLER_SUBMIT_SUB : 0);
	int r;

	if (in)
		simpler_args_add_tensor(a, &ti, SIMPLER_IN);
	if (out)
		simpler_args_add_tensor(a, &to, SIMPLER_OUT);
	simpler_args_add_scalar(a, scalar);
	r = simpler_submit(o, simpler_callable(w, fn), a, &so);
	simpler_args_free(a);
	return r;
}

static void check_fill(const float *x, float base, const char *what)
{
	int i;

	for (i = 0; i < N; i++)
		CHECK_MSG(x[i] == base + (float)i, "%s[%d] = %g, want %g", what, i, (double)x[i],
			  (double)(base + (float)i));
}

/* one L4 task of a plan: fn on node (-1: any node, -2: sub 0), tensors by address of their pointer */
struct step {
	const char *fn;
	int node;
	float **in, **out;
	uint64_t scalar;
};

static int orch_plan(struct simpler_orch *o, void *arg)
{
	const struct step *s;
	int r;

	for (s = arg; s->fn; s++) {
		r = l4_submit(o, s->fn, s->node, s->in ? *s->in : NULL, s->out ? *s->out : NULL,
			      s->scalar);
		if (r < 0)
			return r;
	}
	return 0;
}

/* node 0 writes A; node 1 reads A, writes B; node 0 then overwrites A (WAR), reads B into C */
static const struct step cross[] = {
	{ "nf_fill", 0, NULL, &A, 7 },
	{ "nf_add2", 1, &A, &B, 0 },
	{ "nf_fill", 0, NULL, &A, 100 },
	{ "nf_add2", 0, &B, &C, 0 },
	{ NULL },
};

TEST(l4_orders_node_tasks_across_nodes)
{
	struct simpler_worker *w = l4_two_nodes(0);
	struct simpler_stats st = { .sz = sizeof(st) };
	int i;

	register_all(w);
	CHECK_EQ(simpler_worker_level(w), 4);
	CHECK_EQ(simpler_worker_nr_nodes(w), 2);
	CHECK_EQ(simpler_worker_nr_chips(w), 0);
	if (!test_threads()) {
		CHECK(simpler_node_pid(w, 0) > 0);
		CHECK(simpler_node_pid(w, 1) > 0);
		CHECK(simpler_node_pid(w, 0) != simpler_node_pid(w, 1));
		CHECK_EQ(simpler_chip_pid(w, 0), -EINVAL);
	}
	for (i = 0; i < 3; i++) {
		memset(A, 0, N * sizeof(float));
		memset(B, 0, N * sizeof(float));
		memset(C, 0, N * sizeof(float));
		CHECK_OK(simpler_run(w, orch_plan, (void *)cross), w);
		check_fill(B, 9, "B");		/* A = 7 + i, read before the WAR overwrite */
		check_fill(A, 100, "A");
		check_fill(C, 11, "C");
	}
	CHECK_OK(simpler_worker_stats(w, &st), w);
	CHECK_EQ(st.tasks_submitted, 12);
	CHECK_EQ(st.tasks_completed, 12);
	CHECK(st.edges >= 9);		/* RAW A, WAR A, RAW B per run */
	simpler_worker_destroy(w);
}

/* the L4's sub writes A, a node reads it into B, the sub reads B into C */
static const struct step subs[] = {
	{ "fill", -2, NULL, &A, 3 },
	{ "nf_add2", -1, &A, &B, 0 },
	{ "add1", -2, &B, &C, 0 },
	{ NULL },
};

TEST(l4_subs_and_nodes_share_one_tensormap)
{
	struct simpler_worker *w = l4_two_nodes(1);

	register_all(w);
	CHECK_OK(simpler_run(w, orch_plan, (void *)subs), w);
	check_fill(A, 3, "A");
	check_fill(B, 5, "B");
	check_fill(C, 6, "C");
	simpler_worker_destroy(w);
}

/* node 0's kernel fails writing A; node 1 reads A (poisoned); node 1 fills D (independent) */
static const struct step failing[] = {
	{ "step", 0, NULL, &A, 0 },
	{ "nf_add2", 1, &A, &B, 0 },
	{ "nf_fill", 1, NULL, &D, 42 },
	{ NULL },
};

static int orch_fail(struct simpler_orch *o, void *arg)
{
	int r = orch_plan(o, (void *)failing);

	atomic_store(release, 1);
	return r;
}

TEST(l4_node_failure_stacks_prefixes_and_poisons_dependents)
{
	struct simpler_worker *w = l4_two_nodes(0);
	struct simpler_stats st = { .sz = sizeof(st) };
	const char *m;
	char want[64];
	int i;

	register_all(w);
	CHECK_EQ(simpler_run(w, orch_fail, NULL), -EINVAL);
	m = simpler_worker_errmsg(w);
	printf("# %s\n", m);
	if (test_threads())
		snprintf(want, sizeof(want), "node 0: node fn 'step' (task #0): ");
	else
		snprintf(want, sizeof(want), "node 0 (pid %d): node fn 'step' (task #0): ",
			 simpler_node_pid(w, 0));
	CHECK_MSG(!strncmp(m, want, strlen(want)), "message '%s' does not start with '%s'", m,
		  want);
	CHECK_MSG(strstr(m, "chip 0") && strstr(m, "kernel 'vadd' (task #0, block 0 of 1) "
						"returned -22") && strstr(m, "vadd-boom"),
		  "message: %s", m);
	for (i = 0; i < N; i++)
		CHECK_EQ(B[i], 0);	/* poisoned: never ran */
	check_fill(D, 42, "D");		/* independent: ran */
	CHECK_OK(simpler_worker_stats(w, &st), w);
	CHECK_EQ(st.tasks_failed, 2);
	CHECK_EQ(st.tasks_completed, 1);
	/* the L4 is still usable */
	CHECK_OK(simpler_run(w, orch_plan, (void *)cross), w);
	check_fill(C, 11, "C");
	simpler_worker_destroy(w);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* exited: no such process, or a zombie (this test's orphans go to the harness, which reaps later) */
static bool pid_gone(pid_t pid)
{
	char path[64], buf[512], *p;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "r");
	if (!f)
		return true;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	p = strrchr(buf, ')');
	return !p || p[1] != ' ' || p[2] == 'Z' || p[2] == 'X';
}

/*
 * Gone, or in the last steps of exiting: the library waits until every
 * process of a node's subtree has released its files (the lifeline), which
 * leaves only the kernel's final steps of exit, microseconds unless the
 * host is starved.  Waits for those (a bound that only catches a process
 * that really stays) and says how long it waited.
 */
static void check_gone(pid_t pid, const char *what)
{
	double t0 = now_s(), waited;

	while (!pid_gone(pid) && now_s() - t0 < GONE_WAIT_S)
		sleep_ms(1);
	waited = now_s() - t0;
	if (waited > 0.001)
		printf("# %s (pid %d) was exiting: gone %.3f s later\n", what, pid, waited);
	CHECK_MSG(pid_gone(pid), "%s (pid %d) is still there after %.0f s", what, pid, waited);
}

static int orch_pids(struct simpler_orch *o, void *arg)
{
	int n, r = 0;

	for (n = 0; n < simpler_worker_nr_nodes(simpler_orch_worker(o)) && r >= 0; n++)
		r = l4_submit(o, "nf_pids", n, NULL, NULL, (uint64_t)(2 * n));
	return r < 0 ? r : 0;
}

/* chip_pid[]: the chips of every node of w (2 each), checked to be distinct processes */
static void collect_chip_pids(struct simpler_worker *w)
{
	int i, j, n = 2 * simpler_worker_nr_nodes(w);

	for (i = 0; i < n; i++)
		atomic_store(&chip_pid[i], 0);
	CHECK_OK(simpler_run(w, orch_pids, NULL), w);
	for (i = 0; i < n; i++) {
		CHECK_MSG(atomic_load(&chip_pid[i]) > 0, "no pid for chip %d of node %d", i % 2,
			  i / 2);
		for (j = 0; j < i; j++)
			CHECK(atomic_load(&chip_pid[i]) != atomic_load(&chip_pid[j]));
	}
}

/* node 1 blocks; node 0 fills D; a task depending on node 1's; then node 1 is killed */
static const struct step victim_plan[] = {
	{ "nf_block", 1, NULL, &A, 1 },
	{ "nf_fill", 0, NULL, &D, 5 },
	{ "nf_add2", -1, &A, &B, 0 },
	{ NULL },
};

static int orch_kill(struct simpler_orch *o, void *arg)
{
	pid_t *victim = arg;
	int i, r = orch_plan(o, (void *)victim_plan);

	for (i = 0; i < LATCH_WAIT_MS && !atomic_load(&started[1]); i++)
		sleep_ms(1);
	if (!atomic_load(&started[1]))
		return -ETIMEDOUT;
	kill(*victim, SIGKILL);
	return r;
}

static const struct step fill_node1[] = {
	{ "nf_fill", 1, NULL, &C, 9 },
	{ NULL },
};

TEST(l4_killed_node_fails_its_task_and_restarts)
{
	struct simpler_worker *w;
	struct simpler_stats st = { .sz = sizeof(st) };
	pid_t victim;
	char want[160];
	const char *m;

	if (test_threads())
		SKIP("nodes are threads of the application in thread mode: nothing to kill");
	pid_t chips[2];
	double t0;

	w = l4_two_nodes(0);
	register_all(w);
	victim = simpler_node_pid(w, 1);
	CHECK(victim > 0);
	collect_chip_pids(w);
	chips[0] = atomic_load(&chip_pid[2]);
	chips[1] = atomic_load(&chip_pid[3]);
	CHECK_EQ(simpler_run(w, orch_kill, &victim), -ECHILD);
	m = simpler_worker_errmsg(w);
	printf("# %s\n", m);
	snprintf(want, sizeof(want), "node 1 (pid %d) died while running node fn 'nf_block' "
		 "(task #0): killed by signal 9", victim);
	CHECK_MSG(strstr(m, want), "message '%s' lacks '%s'", m, want);
	check_fill(D, 5, "D");		/* node 0 went on */
	CHECK_EQ(B[0], 0);		/* the dependent was poisoned */
	CHECK_EQ(simpler_node_pid(w, 1), -ECHILD);
	/* the next run forks node 1 again, chips and all, and it works */
	t0 = now_s();
	CHECK_OK(simpler_run(w, orch_plan, (void *)fill_node1), w);
	printf("# the run that restarted node 1 took %.2f s\n", now_s() - t0);
	check_fill(C, 9, "C");
	/* the killed node's chips went with it, before its successor started */
	check_gone(chips[0], "the killed node's chip 0");
	check_gone(chips[1], "the killed node's chip 1");
	CHECK(simpler_node_pid(w, 1) > 0 && simpler_node_pid(w, 1) != victim);
	CHECK_OK(simpler_worker_stats(w, &st), w);
	CHECK_EQ(st.chip_restarts, 1);
	atomic_store(release, 1);
	simpler_worker_destroy(w);
}

/*
 * Node 0 is slow to stop (one of its chips is stopped: the node kills it
 * after its own wait); node 1 is killed while its chips are stopped (they
 * cannot notice and follow it).  Destroy returns only when every one of
 * them has exited: nothing the L4 forked, directly or not, outlives it.
 */
TEST(l4_destroy_waits_for_every_nodes_chips)
{
	struct simpler_worker *w;
	pid_t nodes[2], chips[4];
	char what[32];
	double t0;
	int i;

	if (test_threads())
		SKIP("nodes are threads of the application in thread mode: no processes");
	w = l4_two_nodes(0);
	register_all(w);
	collect_chip_pids(w);
	for (i = 0; i < 2; i++)
		nodes[i] = simpler_node_pid(w, i);
	for (i = 0; i < 4; i++)
		chips[i] = atomic_load(&chip_pid[i]);
	CHECK(nodes[0] > 0 && nodes[1] > 0);
	CHECK_EQ(kill(chips[1], SIGSTOP), 0);
	CHECK_EQ(kill(chips[2], SIGSTOP), 0);
	CHECK_EQ(kill(chips[3], SIGSTOP), 0);
	CHECK_EQ(kill(nodes[1], SIGKILL), 0);
	t0 = now_s();
	simpler_worker_destroy(w);
	printf("# destroy took %.2f s\n", now_s() - t0);
	for (i = 0; i < 2; i++)
		check_gone(nodes[i], i ? "node 1" : "node 0");
	for (i = 0; i < 4; i++) {
		snprintf(what, sizeof(what), "node %d's chip %d", i / 2, i % 2);
		check_gone(chips[i], what);
	}
}

TEST(l4_create_fails_naming_the_node_that_cannot_start)
{
	struct simpler_worker_opts good = { .sz = sizeof(good), .flags = test_mode_flags(),
					    .hostmem = test_hostmem() };
	struct simpler_worker_opts bad = good;
	const struct simpler_worker_opts *opts[3] = { &good, &bad, &good };
	struct simpler_worker *w = (struct simpler_worker *)1;
	const char *m;
	int ret;

	bad.platform = "nope";
	{
		TEST_OPTS(o, .level = 4, .nr_nodes = 3, .flags = test_mode_flags(), .node_opts = opts);

		ret = simpler_worker_create(&o, &w);
	}
	CHECK(ret < 0);
	CHECK(w == NULL);
	m = simpler_last_errmsg();
	printf("# %s\n", m);
	CHECK_MSG(strstr(m, "node 1") && strstr(m, "cannot start its L3 worker") &&
		  strstr(m, "unknown platform 'nope'"), "message: %s", m);
	CHECK_MSG(!strstr(m, "node 0") && !strstr(m, "node 2"), "message: %s", m);

	/* what an L4 cannot be */
	{
		TEST_OPTS(o, .level = 4, .nr_nodes = 2, .nr_chips = 2);

		CHECK_EQ(simpler_worker_create(&o, &w), -EINVAL);
		CHECK(strstr(simpler_last_errmsg(), "nr_chips must be 0"));
	}
	{
		TEST_OPTS(o, .level = 4);

		CHECK_EQ(simpler_worker_create(&o, &w), -EINVAL);
		CHECK(strstr(simpler_last_errmsg(), "nr_nodes 0 must be in 1..64"));
	}
	{
		TEST_OPTS(o, .nr_nodes = 2);

		CHECK_EQ(simpler_worker_create(&o, &w), -EINVAL);
		CHECK(strstr(simpler_last_errmsg(), "need level = 4"));
	}
	{
		struct simpler_worker_opts l4 = { .sz = sizeof(l4), .level = 4, .nr_nodes = 1 };
		const struct simpler_worker_opts *nested[1] = { &l4 };
		TEST_OPTS(o, .level = 4, .nr_nodes = 1, .node_opts = nested);

		CHECK_EQ(simpler_worker_create(&o, &w), -EINVAL);
		CHECK(strstr(simpler_last_errmsg(), "node_opts[0]: a node is an L3 worker"));
	}
}

static int orch_late(struct simpler_orch *o, void *arg)
{
	struct simpler_worker *w = simpler_orch_worker(o);
	struct simpler_args *a = simpler_args_new();
	struct simpler_tensor t = simpler_tensor_1d(C, N, SIMPLER_F32);
	SIMPLER_OPTS(simpler_submit_opts, so, .worker = 1);
	int r;

	simpler_args_add_tensor(a, &t, SIMPLER_OUT);
	simpler_args_add_scalar(a, 13);
	simpler_args_add_scalar(a, 1);
	simpler_args_add_scalar(a, (uint64_t)simpler_callable(w, "late_fill"));
	r = simpler_submit(o, simpler_callable(w, "late"), a, &so);
	simpler_args_free(a);
	return r < 0 ? r : 0;
}

TEST(l4_node_fns_and_kernels_registered_after_create_reach_the_nodes)
{
	struct simpler_worker *w = l4_two_nodes(0);

	register_all(w);
	CHECK_OK(simpler_run(w, orch_plan, (void *)cross), w);	/* nodes ran before the registrations */
	CHECK_OK(simpler_register_node_fn(w, "late", nf_fill_by_id), w);
	CHECK_OK(simpler_register(w, "late_fill", k_fill), w);
	CHECK_OK(simpler_run(w, orch_late, NULL), w);
	check_fill(C, 13, "C");
	if (!test_threads())
		CHECK_EQ(atomic_load(&fn_pid[1]), simpler_node_pid(w, 1));
	else
		CHECK_EQ(atomic_load(&fn_pid[1]), getpid());
	simpler_worker_destroy(w);
}

/* one group of nf_fill on nodes 1 and 0 (A and B), then node 0 reads both */
static int orch_group(struct simpler_orch *o, void *arg)
{
	struct simpler_worker *w = simpler_orch_worker(o);
	struct simpler_tensor ta = simpler_tensor_1d(A, N, SIMPLER_F32);
	struct simpler_tensor tb = simpler_tensor_1d(B, N, SIMPLER_F32);
	struct simpler_args *a[2] = { simpler_args_new(), simpler_args_new() };
	const int nodes[2] = { 1, 0 };
	int r;

	simpler_args_add_tensor(a[0], &ta, SIMPLER_OUT);
	simpler_args_add_scalar(a[0], 20);
	simpler_args_add_tensor(a[1], &tb, SIMPLER_OUT);
	simpler_args_add_scalar(a[1], 30);
	r = simpler_submit_group(o, simpler_callable(w, "nf_fill"), a, 2, nodes);
	simpler_args_free(a[0]);
	simpler_args_free(a[1]);
	if (r >= 0)
		r = l4_submit(o, "nf_add2", 0, B, C, 0);
	if (r >= 0)
		r = l4_submit(o, "nf_add2", 0, A, D, 0);
	return r < 0 ? r : 0;
}

TEST(l4_group_spans_nodes)
{
	struct simpler_worker *w = l4_two_nodes(0);

	register_all(w);
	CHECK_OK(simpler_run(w, orch_group, NULL), w);
	check_fill(A, 20, "A");
	check_fill(B, 30, "B");
	check_fill(C, 32, "C");
	check_fill(D, 22, "D");
	simpler_worker_destroy(w);
}

static int orch_wrong_kinds(struct simpler_orch *o, void *arg)
{
	struct simpler_worker *w = simpler_orch_worker(o);
	struct simpler_args *a = simpler_args_new();
	SIMPLER_OPTS(simpler_submit_opts, sub, .worker = 0, .flags = SIMPLER_SUBMIT_SUB);
	SIMPLER_OPTS(simpler_submit_opts, node, .worker = 0);
	SIMPLER_OPTS(simpler_submit_opts, blocks, .worker = 0, .block_dim = 2);
	SIMPLER_OPTS(simpler_submit_opts, none, .worker = 2);

	CHECK_EQ(simpler_submit(o, simpler_callable(w, "fill"), a, &node), -EINVAL);
	CHECK(strstr(simpler_worker_errmsg(w), "'fill' is a kernel: on an L4 worker"));
	CHECK_EQ(simpler_submit(o, simpler_callable(w, "nf_fill"), a, &sub), -EINVAL);
	CHECK(strstr(simpler_worker_errmsg(w), "'nf_fill' is a node function"));
	CHECK_EQ(simpler_submit(o, simpler_callable(w, "nf_fill"), a, &blocks), -EINVAL);
	CHECK_EQ(simpler_submit(o, simpler_callable(w, "nf_fill"), a, &none), -EINVAL);
	CHECK(strstr(simpler_worker_errmsg(w), "node 2 does not exist"));
	simpler_args_free(a);
	return 0;
}

TEST(l4_callables_run_only_where_they_can)
{
	struct simpler_worker *w = l4_two_nodes(1), *l3;
	uint64_t addr;
	uint64_t h;

	register_all(w);
	CHECK_OK(simpler_run(w, orch_wrong_kinds, NULL), w);
	CHECK_EQ(simpler_malloc(w, 0, 64, &addr), -EOPNOTSUPP);
	CHECK_EQ(simpler_host_register(w, A, 64, 0, &h), -EOPNOTSUPP);
	simpler_worker_destroy(w);
	w = NULL;
	l3 = make_worker(1, 0, 0, 0);
	CHECK_EQ(simpler_register_node_fn(l3, "nf", nf_fill), -EINVAL);
	CHECK_EQ(simpler_worker_level(l3), 3);
	CHECK_EQ(simpler_worker_nr_nodes(l3), 0);
	CHECK_EQ(simpler_node_pid(l3, 0), -EINVAL);
	simpler_worker_destroy(l3);
	simpler_worker_destroy(w);
}

/* create with SIMPLER_WORKER_MPI from o, in an environment that sets what env names */
static int mpi_create(const struct simpler_worker_opts *o, const char *rank, const char *size,
		      const char *plugin)
{
	struct simpler_worker *w = NULL;
	int r;

	unsetenv("OMPI_COMM_WORLD_RANK");
	unsetenv("PMIX_RANK");
	unsetenv("PMI_RANK");
	if (rank) {
		setenv("OMPI_COMM_WORLD_RANK", rank, 1);
		setenv("OMPI_COMM_WORLD_SIZE", size, 1);
	}
	if (plugin)
		setenv("SIMPLER_MPI_PLUGIN", plugin, 1);
	r = simpler_worker_create(o, &w);
	CHECK(!w);
	return r;
}

/* what needs no mpirun: every refusal before MPI would start */
TEST(l4_mpi_refuses_what_it_cannot_run)
{
	SIMPLER_OPTS(simpler_worker_opts, l3, .flags = SIMPLER_WORKER_MPI);
	SIMPLER_OPTS(simpler_worker_opts, thr, .level = 4, .flags = SIMPLER_WORKER_MPI |
		     SIMPLER_WORKER_THREADS);
	SIMPLER_OPTS(simpler_worker_opts, o, .level = 4, .flags = SIMPLER_WORKER_MPI);
	SIMPLER_OPTS(simpler_worker_opts, fast, .level = 4, .flags = SIMPLER_WORKER_MPI,
		     .node_timeout_ms = 10);
	SIMPLER_OPTS(simpler_worker_opts, nested, .flags = SIMPLER_WORKER_MPI);
	SIMPLER_OPTS(simpler_worker_opts, remote, .level = 4, .nr_nodes = 1, .remote_opts = &nested);
	unsigned long forks = sx_forks;

	CHECK_EQ(mpi_create(&l3, NULL, NULL, NULL), -EINVAL);
	CHECK(strstr(simpler_last_errmsg(), "need level = 4"));
	CHECK_EQ(mpi_create(&remote, NULL, NULL, NULL), -EINVAL);
	CHECK_EQ(mpi_create(&thr, "0", "2", NULL), -EINVAL);
	CHECK(strstr(simpler_last_errmsg(), "drop SIMPLER_WORKER_THREADS"));
	CHECK_EQ(mpi_create(&fast, "0", "2", NULL), -EINVAL);
	CHECK(strstr(simpler_last_errmsg(), "node_timeout_ms 10: at least 30"));
	CHECK_EQ(mpi_create(&o, NULL, NULL, NULL), -EINVAL);
	CHECK(strstr(simpler_last_errmsg(), "was not started by mpirun"));
	CHECK(strstr(simpler_last_errmsg(), "mpirun -np 1+N"));
	/* without the plugin (no Open MPI) everything else works; this says what to install */
	CHECK_EQ(mpi_create(&o, "0", "2", "/nonexistent/libsimpler-mpi.so.0"), -ENOPKG);
	CHECK(strstr(simpler_last_errmsg(), "cannot load the MPI plugin"));
	CHECK(strstr(simpler_last_errmsg(), "libopenmpi-dev"));
	CHECK_EQ(sx_forks, forks);	/* refused before anything forked */
}

TEST_MAIN()
