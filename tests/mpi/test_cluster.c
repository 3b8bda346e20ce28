// SPDX-License-Identifier: MIT
/*
 * An L4 over MPI, for real: run as mpirun -np 3 (rank 0 the L4, ranks 1
 * and 2 its remote nodes 0 and 1, each an L3 with a chip and a sub).
 * Dispatch counts, stacked failures, argument limits, staged programs
 * against their sequential result, node memory, inferred node-to-node
 * transfers and their cache, WAR and partial overlaps across nodes, groups,
 * and a node fn that outlives two heartbeat timeouts.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mpitest.h"

#define TIMEOUT_MS 2000

/* ids as rank 0 registered them (node fns look kernels up by name: these are rank 0's) */
static int id_count, id_boom, id_args, id_mix, id_fill, id_copy, id_sleep, id_inc, id_fail,
	   id_add;

static int kernel(struct simpler_orch *o, const char *name)
{
	return simpler_callable(simpler_orch_worker(o), name);
}

/* ---- kernels (they run on a node's chip or sub) ---- */

static int k_inc(const struct simpler_kernel_args *a)
{
	(*(uint64_t *)(uintptr_t)a->tensors[0].addr)++;
	return 0;
}

static int k_fail(const struct simpler_kernel_args *a)
{
	simpler_kernel_errmsg(a, "l3-sub-boom");
	return -EINVAL;
}

/* out[i] = in[i] + s (u32) */
static int k_add(const struct simpler_kernel_args *a)
{
	const uint32_t *in = (const uint32_t *)(uintptr_t)a->tensors[0].addr;
	uint32_t *out = (uint32_t *)(uintptr_t)a->tensors[1].addr;
	uint32_t i;

	for (i = 0; i < a->tensors[0].shape[0]; i++)
		out[i] = in[i] + (uint32_t)a->scalars[0];
	return 0;
}

/* ---- node fns (they run on a node, as one run of its L3) ---- */

static struct simpler_submit_opts on_sub = { .sz = sizeof(struct simpler_submit_opts),
					     .worker = -1, .flags = SIMPLER_SUBMIT_SUB };

/* a sub task adds 1 to tensor 0 (u64, INOUT) */
static int nf_count(struct simpler_orch *o, const struct simpler_kernel_args *a)
{
	struct simpler_args *x = simpler_args_new();
	int r;

	simpler_args_add_tensor(x, &a->tensors[0], SIMPLER_INOUT);
	r = simpler_submit(o, kernel(o, "inc"), x, &on_sub);
	simpler_args_free(x);
	return r < 0 ? r : 0;
}

/* a sub task fails */
static int nf_boom(struct simpler_orch *o, const struct simpler_kernel_args *a)
{
	struct simpler_args *x = simpler_args_new();
	int r;

	simpler_args_add_tensor(x, &a->tensors[0], SIMPLER_INOUT);
	r = simpler_submit(o, kernel(o, "fail"), x, &on_sub);
	simpler_args_free(x);
	return r < 0 ? r : 0;
}

/* every tensor but the last holds (i * 7 + 1) as u64, scalar j is j * 3: the last gets a verdict */
static int nf_args(struct simpler_orch *o, const struct simpler_kernel_args *a)
{
	uint64_t *out = (uint64_t *)(uintptr_t)a->tensors[a->nr_tensors - 1].addr;
	uint32_t i, bad = 0;

	for (i = 0; i + 1 < a->nr_tensors; i++)
		bad += *(const uint64_t *)(uintptr_t)a->tensors[i].addr != i * 7 + 1;
	for (i = 0; i < a->nr_scalars; i++)
		bad += a->scalars[i] != i * 3;
	out[0] = a->nr_tensors;
	out[1] = a->nr_scalars;
	out[2] = bad;
	return 0;
}

/*
 * The staged program's step: out (tensor n-1, u32) = mix of the inputs and
 * scalar 0, element by element; inputs may overlap out (INOUT).
 */
static void mix(uint32_t *out, const uint32_t *const *in, const uint32_t *len, uint32_t nin,
		uint32_t n, uint64_t s)
{
	uint32_t i, k, v;

	for (i = 0; i < n; i++) {
		v = (uint32_t)s * 2654435761u + i;
		for (k = 0; k < nin; k++)
			v = v * 31 + in[k][i % len[k]];
		out[i] = v ^ (v >> 13);
	}
}

static int nf_mix(struct simpler_orch *o, const struct simpler_kernel_args *a)
{
	const uint32_t *in[8];
	uint32_t len[8], k, nin = a->nr_tensors - 1;
	uint32_t *tmp, n = a->tensors[nin].shape[0];

	for (k = 0; k < nin; k++) {
		in[k] = (const uint32_t *)(uintptr_t)a->tensors[k].addr;
		len[k] = a->tensors[k].shape[0];
	}
	/* the output may alias an input: compute aside */
	tmp = malloc(n * sizeof(*tmp));
	if (!tmp)
		return -ENOMEM;
	mix(tmp, in, len, nin, n, a->scalars[0]);
	memcpy((void *)(uintptr_t)a->tensors[nin].addr, tmp, n * sizeof(*tmp));
	free(tmp);
	return 0;
}

/* tensor 0 (u32) = scalar 0 + index */
static int nf_fill(struct simpler_orch *o, const struct simpler_kernel_args *a)
{
	uint32_t *p = (uint32_t *)(uintptr_t)a->tensors[0].addr;
	uint32_t i;

	for (i = 0; i < a->tensors[0].shape[0]; i++)
		p[i] = (uint32_t)a->scalars[0] + i;
	return 0;
}

/* tensor 1 = tensor 0 (same bytes), through a chip task on the node */
static int nf_copy(struct simpler_orch *o, const struct simpler_kernel_args *a)
{
	struct simpler_args *x = simpler_args_new();
	int r;

	simpler_args_add_tensor(x, &a->tensors[0], SIMPLER_IN);
	simpler_args_add_tensor(x, &a->tensors[1], SIMPLER_OUT);
	simpler_args_add_scalar(x, 0);
	r = simpler_submit(o, kernel(o, "add"), x, NULL);
	simpler_args_free(x);
	return r < 0 ? r : 0;
}

static int nf_sleep(struct simpler_orch *o, const struct simpler_kernel_args *a)
{
	usleep((useconds_t)a->scalars[0] * 1000);
	*(uint64_t *)(uintptr_t)a->tensors[0].addr = 0x51ee9;
	return 0;
}

static void setup(struct simpler_worker *w)
{
	id_inc = simpler_register(w, "inc", k_inc);
	id_fail = simpler_register(w, "fail", k_fail);
	id_add = simpler_register(w, "add", k_add);
	id_count = simpler_register_node_fn(w, "count", nf_count);
	id_boom = simpler_register_node_fn(w, "boom", nf_boom);
	id_args = simpler_register_node_fn(w, "args", nf_args);
	id_mix = simpler_register_node_fn(w, "mix", nf_mix);
	id_fill = simpler_register_node_fn(w, "fill", nf_fill);
	id_copy = simpler_register_node_fn(w, "copy", nf_copy);
	id_sleep = simpler_register_node_fn(w, "sleep", nf_sleep);
	if (id_inc < 0 || id_fail < 0 || id_add < 0 || id_count < 0 || id_boom < 0 || id_args < 0 ||
	    id_mix < 0 || id_fill < 0 || id_copy < 0 || id_sleep < 0)
		printf("# registration failed: %s\n", simpler_worker_errmsg(w));
}

/* ---- helpers ---- */

static struct simpler_submit_opts on(int node)
{
	return (struct simpler_submit_opts){ .sz = sizeof(struct simpler_submit_opts),
					     .worker = node };
}

/* submit node fn id on node with tensors ts (access accs) and scalars ss */
static int sub(struct simpler_orch *o, int id, int node, int nt, const struct simpler_tensor *ts,
	       const enum simpler_access *acc, int ns, const uint64_t *ss)
{
	struct simpler_args *x = simpler_args_new();
	struct simpler_submit_opts so = on(node);
	int i, r;

	for (i = 0; i < nt; i++)
		simpler_args_add_tensor(x, &ts[i], acc[i]);
	for (i = 0; i < ns; i++)
		simpler_args_add_scalar(x, ss[i]);
	r = simpler_submit(o, id, x, &so);
	simpler_args_free(x);
	return r;
}

static struct simpler_stats stats(struct simpler_worker *w)
{
	struct simpler_stats s = { .sz = sizeof(s) };

	simpler_worker_stats(w, &s);
	return s;
}

/* ---- dispatch ---- */

static uint64_t counter[2];
static int times;

static int orch_count(struct simpler_orch *o, void *arg)
{
	int node = *(int *)arg, i, r;
	struct simpler_tensor t = simpler_tensor_1d(&counter[node], 1, SIMPLER_U64);
	enum simpler_access acc = SIMPLER_INOUT;

	for (i = 0; i < times; i++) {
		r = sub(o, id_count, node, 1, &t, &acc, 0, NULL);
		if (r < 0)
			return r;
	}
	return 0;
}

MT_TEST(dispatched_once_runs_once_three_times_three)
{
	int node;

	for (node = 0; node < 2; node++) {
		counter[node] = 100;
		times = 1;
		CHECK_OK(simpler_run(w, orch_count, &node), w);
		CHECK_EQ(counter[node], 101);
		times = 3;
		CHECK_OK(simpler_run(w, orch_count, &node), w);
		CHECK_EQ(counter[node], 104);
	}
}

/* ---- failures ---- */

static uint64_t fa, fb, fc;

static int orch_fail(struct simpler_orch *o, void *arg)
{
	struct simpler_tensor ta = simpler_tensor_1d(&fa, 1, SIMPLER_U64);
	struct simpler_tensor tb = simpler_tensor_1d(&fb, 1, SIMPLER_U64);
	struct simpler_tensor tc = simpler_tensor_1d(&fc, 1, SIMPLER_U64);
	enum simpler_access inout = SIMPLER_INOUT;

	sub(o, id_boom, 0, 1, &ta, &inout, 0, NULL);		/* fails on node 0's sub */
	sub(o, id_count, 1, 1, &ta, &inout, 0, NULL);		/* depends on it: poisoned */
	sub(o, id_count, 1, 1, &tb, &inout, 0, NULL);		/* independent: runs */
	(void)tc;
	return 0;
}

MT_TEST(chained_failure_stacks_node_rank_and_sub_prefixes)
{
	const char *m;
	int node = 0, r;

	fa = 5;
	fb = 7;
	r = simpler_run(w, orch_fail, NULL);
	m = simpler_worker_errmsg(w);
	printf("# %s\n", m);
	CHECK_EQ(r, -EINVAL);
	CHECK_MSG(strstr(m, "node 0 (rank 1 on "), "%s", m);
	CHECK_MSG(strstr(m, "node fn 'boom' (task #0)"), "%s", m);
	CHECK_MSG(strstr(m, "sub 0"), "%s", m);
	CHECK_MSG(strstr(m, "kernel 'fail'"), "%s", m);
	CHECK_MSG(strstr(m, "l3-sub-boom"), "%s", m);
	CHECK_EQ(fa, 5);	/* a failed task writes nothing back; its dependent never ran */
	CHECK_EQ(fb, 8);	/* the independent one did */
	/* the L4 goes on */
	times = 1;
	counter[0] = 0;
	CHECK_OK(simpler_run(w, orch_count, &node), w);
	CHECK_EQ(counter[0], 1);
}

/* ---- limits ---- */

static uint64_t many[SIMPLER_MAX_TENSORS][4];

static int orch_args(struct simpler_orch *o, void *arg)
{
	struct simpler_args *x = simpler_args_new();
	struct simpler_submit_opts so = on(*(int *)arg);
	struct simpler_tensor t;
	int i, r;

	for (i = 0; i < SIMPLER_MAX_TENSORS; i++) {
		t = simpler_tensor_1d(many[i], i == SIMPLER_MAX_TENSORS - 1 ? 3 : 1, SIMPLER_U64);
		if (simpler_args_add_tensor(x, &t, i == SIMPLER_MAX_TENSORS - 1 ? SIMPLER_OUT :
					    SIMPLER_IN) < 0)
			return -EINVAL;
	}
	for (i = 0; i < SIMPLER_MAX_SCALARS; i++)
		if (simpler_args_add_scalar(x, (uint64_t)i * 3) < 0)
			return -EINVAL;
	r = simpler_submit(o, id_args, x, &so);
	simpler_args_free(x);
	return r < 0 ? r : 0;
}

MT_TEST(a_remote_node_fn_gets_256_tensors_and_128_scalars)
{
	static uint64_t last[3];
	int i, node;

	(void)last;
	for (node = 0; node < 2; node++) {
		for (i = 0; i < SIMPLER_MAX_TENSORS; i++)
			many[i][0] = (uint64_t)i * 7 + 1;
		memset(many[SIMPLER_MAX_TENSORS - 1], 0xff, sizeof(many[0]));
		CHECK_OK(simpler_run(w, orch_args, &node), w);
		CHECK_EQ(many[SIMPLER_MAX_TENSORS - 1][0], SIMPLER_MAX_TENSORS);
		CHECK_EQ(many[SIMPLER_MAX_TENSORS - 1][1], SIMPLER_MAX_SCALARS);
	}
}

int main(void)
{
	SIMPLER_OPTS(simpler_worker_opts, l3, .nr_chips = 1, .nr_subs = 1);
	SIMPLER_OPTS(simpler_worker_opts, o, .level = 4, .flags = SIMPLER_WORKER_MPI,
		     .node_timeout_ms = TIMEOUT_MS, .remote_opts = &l3);

	return mt_main(&o, setup);
}
