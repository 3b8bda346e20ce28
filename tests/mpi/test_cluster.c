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
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mpitest.h"

#define TIMEOUT_MS 2000

/* ids as rank 0 registered them (node fns look kernels up by name: these are rank 0's) */
static int id_count, id_boom, id_args, id_mix, id_fill, id_copy, id_sleep, id_inc, id_fail,
	   id_add, id_bump, id_bump2d, id_shapes, id_affine, id_oops;
static uint64_t empty_out[4];

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

/* kernel name on a sub of the node, with the node fn's tensor 0 INOUT */
static int on_a_sub(struct simpler_orch *o, const struct simpler_kernel_args *a, const char *name)
{
	struct simpler_args *x = simpler_args_new();
	int r;

	simpler_args_add_tensor(x, &a->tensors[0], SIMPLER_INOUT);
	r = simpler_submit(o, kernel(o, name), x, &on_sub);
	simpler_args_free(x);
	return r < 0 ? r : 0;
}

/* a sub task adds 1 to tensor 0 (u64) */
static int nf_count(struct simpler_orch *o, const struct simpler_kernel_args *a)
{
	return on_a_sub(o, a, "inc");
}

/* a sub task fails */
static int nf_boom(struct simpler_orch *o, const struct simpler_kernel_args *a)
{
	return on_a_sub(o, a, "fail");
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

/* tensor 0 (u32, INOUT) += scalar 0 */
static int nf_bump(struct simpler_orch *o, const struct simpler_kernel_args *a)
{
	uint32_t *p = (uint32_t *)(uintptr_t)a->tensors[0].addr;
	uint32_t i;

	for (i = 0; i < a->tensors[0].shape[0]; i++)
		p[i] += (uint32_t)a->scalars[0];
	return 0;
}

/* a 2-D view (u32, INOUT): every element += scalar 0, walking its strides */
static int nf_bump2d(struct simpler_orch *o, const struct simpler_kernel_args *a)
{
	uint32_t *p = (uint32_t *)(uintptr_t)a->tensors[0].addr;
	uint64_t ld = simpler_kernel_stride(a, 0, 0), r, c;

	for (r = 0; r < a->tensors[0].shape[0]; r++)
		for (c = 0; c < a->tensors[0].shape[1]; c++)
			p[r * ld + c] += (uint32_t)a->scalars[0];
	return 0;
}

static int nf_sleep(struct simpler_orch *o, const struct simpler_kernel_args *a)
{
	usleep((useconds_t)a->scalars[0] * 1000);
	*(uint64_t *)(uintptr_t)a->tensors[0].addr = 0x51ee9;
	return 0;
}

/* tensor 0 (u64, INOUT) = tensor 0 * 3 + scalar 0: the order of a chain shows */
static int nf_affine(struct simpler_orch *o, const struct simpler_kernel_args *a)
{
	uint64_t *p = (uint64_t *)(uintptr_t)a->tensors[0].addr;

	*p = *p * 3 + a->scalars[0];
	return 0;
}

/* fails before it touches tensor 0 */
static int nf_oops(struct simpler_orch *o, const struct simpler_kernel_args *a)
{
	return -EIO;
}

/* tensor 3 (u64[4]) = how many tensors, and the first dim of tensors 0..2 */
static int nf_shapes(struct simpler_orch *o, const struct simpler_kernel_args *a)
{
	uint64_t *out = (uint64_t *)(uintptr_t)a->tensors[a->nr_tensors - 1].addr;
	uint32_t i;

	out[0] = a->nr_tensors;
	for (i = 0; i + 1 < a->nr_tensors && i < 3; i++)
		out[i + 1] = a->tensors[i].shape[0];
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
	id_bump = simpler_register_node_fn(w, "bump", nf_bump);
	id_bump2d = simpler_register_node_fn(w, "bump2d", nf_bump2d);
	id_shapes = simpler_register_node_fn(w, "shapes", nf_shapes);
	id_affine = simpler_register_node_fn(w, "affine", nf_affine);
	id_oops = simpler_register_node_fn(w, "oops", nf_oops);
	if (id_inc < 0 || id_fail < 0 || id_add < 0 || id_count < 0 || id_boom < 0 || id_args < 0 ||
	    id_mix < 0 || id_fill < 0 || id_copy < 0 || id_sleep < 0 || id_bump < 0 ||
	    id_affine < 0 || id_oops < 0)
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

/* ---- chains in node memory: sent ahead of their producers ---- */

#define AHEAD 300
static uint64_t amem[2];	/* node 0's memory: the chain's word, an independent word */
static int oops_at;		/* where the failing step goes, or -1 */
static int ahead_n;		/* steps submitted (a run that failed refuses the rest) */

static struct simpler_tensor word(uint64_t addr)
{
	struct simpler_tensor t = simpler_tensor_1d(NULL, 1, SIMPLER_U64);

	t.addr = addr;
	t.child_memory = 1;
	return t;
}

static int orch_ahead(struct simpler_orch *o, void *arg)
{
	struct simpler_tensor a = word(amem[0]), b = word(amem[1]);
	enum simpler_access inout = SIMPLER_INOUT;
	uint64_t s;
	int i, r = 0;

	for (i = 0; i < AHEAD && r >= 0; i++) {
		s = (uint64_t)i + 1;
		if (i == oops_at)
			r = sub(o, id_oops, 0, 1, &a, &inout, 0, NULL);
		else if (i % 7 == 3)	/* independent of the chain, on the same node */
			r = sub(o, id_affine, 0, 1, &b, &inout, 1, &s);
		else
			r = sub(o, id_affine, 0, 1, &a, &inout, 1, &s);
		ahead_n = i + (r >= 0);
	}
	return 0;
}

/* what the chain's word and the independent word hold after steps [0, upto) */
static void ahead_expect(int upto, uint64_t *a, uint64_t *b)
{
	int i;

	*a = 1;
	*b = 2;
	for (i = 0; i < upto; i++) {
		if (i == oops_at)
			break;
		if (i % 7 == 3)
			*b = *b * 3 + (uint64_t)i + 1;
		else
			*a = *a * 3 + (uint64_t)i + 1;
	}
	/* the independent steps after a failure of the chain still run */
	for (; i < upto; i++)
		if (i % 7 == 3 && i != oops_at)
			*b = *b * 3 + (uint64_t)i + 1;
}

static void ahead_set(struct simpler_worker *w)
{
	uint64_t one = 1, two = 2;

	CHECK_OK(simpler_copy_to(w, 0, amem[0], &one, 8), w);
	CHECK_OK(simpler_copy_to(w, 0, amem[1], &two, 8), w);
}

MT_TEST(a_chain_in_node_memory_runs_ahead_in_order_and_stops_at_a_failure)
{
	struct simpler_stats a, b;
	uint64_t got[2], want[2], nfail;
	const char *m;
	int r;

	CHECK_OK(simpler_malloc(w, 0, 8, &amem[0]), w);
	CHECK_OK(simpler_malloc(w, 0, 8, &amem[1]), w);
	/* in order: the word is an affine map of every step, in submission order */
	oops_at = -1;
	ahead_set(w);
	a = stats(w);
	CHECK_OK(simpler_run(w, orch_ahead, NULL), w);
	b = stats(w);
	CHECK_OK(simpler_copy_from(w, 0, got, amem[0], 8), w);
	CHECK_OK(simpler_copy_from(w, 0, &got[1], amem[1], 8), w);
	CHECK_EQ(ahead_n, AHEAD);
	ahead_expect(AHEAD, &want[0], &want[1]);
	CHECK_EQ(got[0], want[0]);
	CHECK_EQ(got[1], want[1]);
	printf("# %" PRIu64 " of %d tasks went to node 0 before their producers finished\n",
	       b.tasks_sent_ahead - a.tasks_sent_ahead, AHEAD);
	/* most steps wait for the one before, sent before it ended */
	CHECK(b.tasks_sent_ahead - a.tasks_sent_ahead > AHEAD / 4);
	CHECK_EQ(b.tasks_failed - a.tasks_failed, 0);
	/* a failing step: the chain's later steps do not run, the independent ones do */
	oops_at = 40;
	ahead_set(w);
	a = stats(w);
	r = simpler_run(w, orch_ahead, NULL);
	m = simpler_worker_errmsg(w);
	b = stats(w);
	printf("# %s\n", m);
	/* once the failure is seen, later submits are refused: those steps never were */
	printf("# %d of %d steps submitted before the run saw step 40 fail\n", ahead_n, AHEAD);
	CHECK(ahead_n > 40 && ahead_n <= AHEAD);
	CHECK_EQ(r, -EIO);
	CHECK_MSG(strstr(m, "node fn 'oops' (task #40)"), "%s", m);
	CHECK_OK(simpler_copy_from(w, 0, got, amem[0], 8), w);
	CHECK_OK(simpler_copy_from(w, 0, &got[1], amem[1], 8), w);
	ahead_expect(ahead_n, &want[0], &want[1]);
	CHECK_EQ(got[0], want[0]);
	CHECK_EQ(got[1], want[1]);
	/* the failed step and every later step of the chain */
	for (r = 40, nfail = 0; r < ahead_n; r++)
		nfail += r % 7 != 3;
	CHECK_EQ(b.tasks_failed - a.tasks_failed, nfail);
	/* and the node goes on */
	oops_at = -1;
	ahead_set(w);
	CHECK_OK(simpler_run(w, orch_ahead, NULL), w);
	CHECK_OK(simpler_copy_from(w, 0, got, amem[0], 8), w);
	ahead_expect(AHEAD, &want[0], &want[1]);
	CHECK_EQ(got[0], want[0]);
	CHECK_OK(simpler_free(w, 0, amem[0]), w);
	CHECK_OK(simpler_free(w, 0, amem[1]), w);
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

/* ---- a staged random program against its sequential result ---- */

#define PN 4096			/* u32 elements of the program's memory */
static uint32_t pmem[PN], pref[PN];

struct step {
	int node, nin;
	uint32_t in[3], inlen[3], out, outlen;
	uint64_t s;
};

static struct step steps[200];
static int nsteps;

static uint32_t rnd(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return (uint32_t)(*x >> 11);
}

static void program(uint64_t seed)
{
	uint64_t x = seed * 0x9E3779B97F4A7C15ULL + 1;
	int i, k;

	nsteps = 200;
	for (i = 0; i < nsteps; i++) {
		struct step *st = &steps[i];

		st->node = rnd(&x) % 2;
		st->nin = 1 + rnd(&x) % 3;
		for (k = 0; k < st->nin; k++) {
			st->inlen[k] = 16 + rnd(&x) % 500;
			st->in[k] = rnd(&x) % (PN - st->inlen[k]);
		}
		st->outlen = 16 + rnd(&x) % 500;
		st->out = rnd(&x) % (PN - st->outlen);
		st->s = rnd(&x);
	}
}

static int orch_program(struct simpler_orch *o, void *arg)
{
	struct simpler_tensor ts[4];
	enum simpler_access acc[4] = { SIMPLER_IN, SIMPLER_IN, SIMPLER_IN, SIMPLER_IN };
	int i, k, r;

	for (i = 0; i < nsteps; i++) {
		const struct step *st = &steps[i];

		for (k = 0; k < st->nin; k++)
			ts[k] = simpler_tensor_1d(&pmem[st->in[k]], st->inlen[k], SIMPLER_U32);
		ts[k] = simpler_tensor_1d(&pmem[st->out], st->outlen, SIMPLER_U32);
		acc[k] = SIMPLER_OUT;
		r = sub(o, id_mix, st->node, st->nin + 1, ts, acc, 1, &st->s);
		acc[k] = SIMPLER_IN;
		if (r < 0)
			return r;
	}
	return 0;
}

MT_TEST(staged_random_program_over_two_nodes_equals_sequential_order)
{
	const uint32_t *in[3];
	uint32_t tmp[PN];
	uint64_t seed;
	int i, k;

	for (seed = 1; seed <= 3; seed++) {
		program(seed);
		for (i = 0; i < PN; i++)
			pmem[i] = pref[i] = i * 2654435761u;
		for (i = 0; i < nsteps; i++) {
			const struct step *st = &steps[i];

			for (k = 0; k < st->nin; k++)
				in[k] = &pref[st->in[k]];
			mix(tmp, in, st->inlen, (uint32_t)st->nin, st->outlen, st->s);
			memcpy(&pref[st->out], tmp, st->outlen * sizeof(*tmp));
		}
		CHECK_OK(simpler_run(w, orch_program, NULL), w);
		for (i = 0; i < PN && pmem[i] == pref[i]; i++)
			;
		CHECK_MSG(i == PN, "seed %llu: element %d is 0x%x, sequentially 0x%x",
			  (unsigned long long)seed, i, pmem[i], pref[i]);
	}
}

/* ---- node memory and inferred transfers ---- */

#define XN 1024			/* u32 elements of node 0's X */
static uint64_t X;
static uint32_t h1[XN], h2[XN], h3[XN];

static struct simpler_tensor xt(uint32_t first, uint32_t n)
{
	struct simpler_tensor t = simpler_tensor_1d(NULL, n, SIMPLER_U32);

	t.addr = X + first * 4ULL;
	t.child_memory = 1;
	return t;
}

static int fill(struct simpler_orch *o, int node, struct simpler_tensor t, uint64_t s)
{
	enum simpler_access acc = SIMPLER_OUT;

	return sub(o, id_fill, node, 1, &t, &acc, 1, &s);
}

/* node copies t (IN) into host h */
static int copy(struct simpler_orch *o, int node, struct simpler_tensor t, uint32_t *h)
{
	struct simpler_tensor ts[2] = { t, simpler_tensor_1d(h, t.shape[0], SIMPLER_U32) };
	enum simpler_access acc[2] = { SIMPLER_IN, SIMPLER_OUT };

	return sub(o, id_copy, node, 2, ts, acc, 0, NULL);
}

static int orch_xfer(struct simpler_orch *o, void *arg)
{
	int r = fill(o, 0, xt(0, XN), 1000);

	if (r >= 0)
		r = copy(o, 1, xt(0, XN), h1);	/* a transfer node 0 -> node 1 */
	if (r >= 0)
		r = copy(o, 1, xt(0, XN), h2);	/* the same range again: cached */
	if (r >= 0)
		r = copy(o, 0, xt(0, XN), h3);	/* node 0 reads its own: nothing moves */
	return r < 0 ? r : 0;
}

static int orch_read1(struct simpler_orch *o, void *arg)
{
	int r = copy(o, 1, xt(0, XN), h1);

	return r < 0 ? r : 0;
}

static void check_fill(const uint32_t *h, uint32_t n, uint32_t s, const char *what)
{
	uint32_t i;

	for (i = 0; i < n && h[i] == s + i; i++)
		;
	CHECK_MSG(i == n, "%s: element %u is %u, not %u", what, i, h[i], s + i);
}

MT_TEST(inferred_transfer_moves_node_memory_once_then_hits_the_cache)
{
	struct simpler_stats a, b, c;

	CHECK_OK(simpler_malloc(w, 0, XN * 4, &X), w);
	a = stats(w);
	CHECK_OK(simpler_run(w, orch_xfer, NULL), w);
	b = stats(w);
	check_fill(h1, XN, 1000, "first reader");
	check_fill(h2, XN, 1000, "second reader");
	check_fill(h3, XN, 1000, "the owner");
	CHECK_EQ(b.transfers - a.transfers, 1);
	CHECK_EQ(b.transfer_cache_hits - a.transfer_cache_hits, 1);
	/* node memory stays, and so does the copy on node 1, across runs */
	memset(h1, 0, sizeof(h1));
	CHECK_OK(simpler_run(w, orch_read1, NULL), w);
	c = stats(w);
	check_fill(h1, XN, 1000, "a reader in the next run");
	CHECK_EQ(c.transfers - b.transfers, 0);
	CHECK_EQ(c.transfer_cache_hits - b.transfer_cache_hits, 1);
	CHECK_OK(simpler_free(w, 0, X), w);
}

static int orch_war(struct simpler_orch *o, void *arg)
{
	int r = copy(o, 1, xt(0, XN), h1);	/* reads the old X ... */

	if (r >= 0)
		r = fill(o, 0, xt(0, XN), 2000);	/* ... before this overwrites it */
	if (r >= 0)
		r = copy(o, 1, xt(0, XN), h2);	/* a new transfer: the copy was invalidated */
	return r < 0 ? r : 0;
}

static int orch_fill0(struct simpler_orch *o, void *arg)
{
	int r = fill(o, 0, xt(0, XN), (uint64_t)(uintptr_t)arg);

	return r < 0 ? r : 0;
}

MT_TEST(war_across_nodes_reads_the_old_value_then_the_new)
{
	struct simpler_stats a, b;
	int rep;

	CHECK_OK(simpler_malloc(w, 0, XN * 4, &X), w);
	for (rep = 0; rep < 5; rep++) {
		CHECK_OK(simpler_run(w, orch_fill0, (void *)(uintptr_t)1), w);
		a = stats(w);
		CHECK_OK(simpler_run(w, orch_war, NULL), w);
		b = stats(w);
		check_fill(h1, XN, 1, "the reader before the write");
		check_fill(h2, XN, 2000, "the reader after the write");
		CHECK_EQ(b.transfers - a.transfers, 2);
	}
	CHECK_OK(simpler_free(w, 0, X), w);
}

static int orch_overlap(struct simpler_orch *o, void *arg)
{
	int r = fill(o, 0, xt(0, XN), 5);		/* all of X */

	if (r >= 0)
		r = copy(o, 1, xt(256, 256), h1);	/* a part of it, on node 1 */
	if (r >= 0)
		r = fill(o, 0, xt(0, 256), 9);		/* the part before: not that one */
	if (r >= 0)
		r = copy(o, 1, xt(256, 256), h2);	/* still cached */
	if (r >= 0)
		r = copy(o, 1, xt(0, XN), h3);		/* all of it: both writes */
	return r < 0 ? r : 0;
}

MT_TEST(partial_overlaps_across_nodes_order_exactly)
{
	struct simpler_stats a, b;
	uint32_t i;

	CHECK_OK(simpler_malloc(w, 0, XN * 4, &X), w);
	a = stats(w);
	CHECK_OK(simpler_run(w, orch_overlap, NULL), w);
	b = stats(w);
	check_fill(h1, 256, 5 + 256, "the part");
	check_fill(h2, 256, 5 + 256, "the part, after a write beside it");
	check_fill(h3, 256, 9, "the first quarter of the whole");
	for (i = 256; i < XN; i++)
		CHECK_EQ(h3[i], 5 + i);
	CHECK_EQ(b.transfers - a.transfers, 2);
	CHECK_EQ(b.transfer_cache_hits - a.transfer_cache_hits, 1);
	CHECK_OK(simpler_free(w, 0, X), w);
}

static uint64_t M;

static int orch_bump(struct simpler_orch *o, void *arg)
{
	struct simpler_tensor t = simpler_tensor_1d(NULL, XN, SIMPLER_U32);
	enum simpler_access acc = SIMPLER_INOUT;
	uint64_t s = (uint64_t)(uintptr_t)arg;
	int r;

	t.addr = M;
	t.child_memory = 1;
	r = sub(o, id_bump, 1, 1, &t, &acc, 1, &s);
	return r < 0 ? r : 0;
}

MT_TEST(node_memory_stays_across_runs_and_copies_reach_it)
{
	static uint32_t v[XN], back[XN];
	struct simpler_stats a, b;
	uint64_t big;
	uint32_t i;
	int r;

	for (i = 0; i < XN; i++)
		v[i] = i * 3;
	CHECK_OK(simpler_malloc(w, 1, XN * 4, &M), w);
	a = stats(w);
	CHECK_OK(simpler_copy_to(w, 1, M, v, sizeof(v)), w);
	CHECK_OK(simpler_run(w, orch_bump, (void *)(uintptr_t)1), w);
	CHECK_OK(simpler_run(w, orch_bump, (void *)(uintptr_t)2), w);
	CHECK_OK(simpler_copy_from(w, 1, back, M, sizeof(back)), w);
	b = stats(w);
	for (i = 0; i < XN; i++)
		CHECK_EQ(back[i], i * 3 + 3);
	CHECK_EQ(b.bytes_to_nodes - a.bytes_to_nodes, sizeof(v));
	CHECK_EQ(b.bytes_from_nodes - a.bytes_from_nodes, sizeof(back));
	/* a range past the allocation moves nothing */
	r = simpler_copy_from(w, 1, back, M + 8, sizeof(back));
	CHECK_EQ(r, -EFAULT);
	CHECK_MSG(strstr(simpler_worker_errmsg(w), "not inside one live allocation of node 1"),
		  "%s", simpler_worker_errmsg(w));
	/* node 0's free of node 1's memory says whose it is */
	r = simpler_free(w, 0, M);
	CHECK_EQ(r, -EINVAL);
	CHECK_OK(simpler_free(w, 1, M), w);
	r = simpler_free(w, 1, M);
	CHECK_EQ(r, -EINVAL);
	r = simpler_malloc(w, 1, (size_t)1 << 40, &big);
	CHECK_EQ(r, -ENOMEM);
	CHECK_MSG(strstr(simpler_worker_errmsg(w), "do not fit in node 1's memory"), "%s",
		  simpler_worker_errmsg(w));
}

/* ---- views of L4 host memory ---- */

#define MN 64			/* a 64x64 u32 matrix */
static uint32_t mat[MN * MN];

static int orch_tiles(struct simpler_orch *o, void *arg)
{
	struct simpler_args *x = simpler_args_new();
	struct simpler_submit_opts so;
	struct simpler_view v;
	int i, j, r = 0;

	/* 16x16 tiles, every other one, alternating nodes; each bumped by its index */
	for (i = 0; i < 4 && r >= 0; i++)
		for (j = (i & 1); j < 4 && r >= 0; j += 2) {
			v = simpler_view_2d(mat, MN, 16 * i, 16 * j, 16, 16, SIMPLER_U32);
			simpler_args_reset(x);
			simpler_args_add_view(x, &v, SIMPLER_INOUT);
			simpler_args_add_scalar(x, (uint64_t)(i * 4 + j + 1));
			so = on((i + j) / 2 % 2);
			r = simpler_submit(o, id_bump2d, x, &so);
		}
	simpler_args_free(x);
	return r < 0 ? r : 0;
}

MT_TEST(views_of_host_memory_go_out_whole_and_come_back_run_by_run)
{
	uint32_t r, c, want, tile;

	for (r = 0; r < MN * MN; r++)
		mat[r] = r;
	CHECK_OK(simpler_run(w, orch_tiles, NULL), w);
	for (r = 0; r < MN; r++)
		for (c = 0; c < MN; c++) {
			tile = (r / 16) * 4 + c / 16 + 1;
			want = r * MN + c + (((r / 16) + (c / 16)) % 2 == 0 ? tile : 0);
			CHECK_MSG(mat[r * MN + c] == want, "(%u, %u) is %u, not %u", r, c,
				  mat[r * MN + c], want);
		}
}

/* ---- what submit refuses ---- */

static int refusals[4];

static int orch_refuse(struct simpler_orch *o, void *arg)
{
	struct simpler_args *x = simpler_args_new();
	struct simpler_submit_opts so = on(1);
	struct simpler_tensor t = xt(0, XN);

	/* another node's memory, read where SIMPLER_SUBMIT_NO_TRANSFER forbids moving it */
	simpler_args_add_tensor(x, &t, SIMPLER_IN);
	so.flags = SIMPLER_SUBMIT_NO_TRANSFER;
	refusals[0] = simpler_submit(o, id_fill, x, &so);
	/* another node's memory written */
	simpler_args_reset(x);
	simpler_args_add_tensor(x, &t, SIMPLER_OUT);
	so.flags = 0;
	refusals[1] = simpler_submit(o, id_fill, x, &so);
	/* something that is no node's memory */
	simpler_args_reset(x);
	t.addr = 0x1000;
	simpler_args_add_tensor(x, &t, SIMPLER_IN);
	refusals[2] = simpler_submit(o, id_fill, x, &so);
	simpler_args_free(x);
	return 0;
}

MT_TEST(submit_refuses_writes_of_another_nodes_memory_and_no_transfer_reads)
{
	CHECK_OK(simpler_malloc(w, 0, XN * 4, &X), w);
	CHECK_OK(simpler_run(w, orch_refuse, NULL), w);
	CHECK_EQ(refusals[0], -EXDEV);
	CHECK_EQ(refusals[1], -EXDEV);
	CHECK_EQ(refusals[2], -EINVAL);
	CHECK_OK(simpler_free(w, 0, X), w);
}

/* ---- groups, heartbeats, info ---- */

static int orch_group(struct simpler_orch *o, void *arg)
{
	struct simpler_args *a[2] = { simpler_args_new(), simpler_args_new() };
	struct simpler_tensor t0 = simpler_tensor_1d(&counter[0], 1, SIMPLER_U64);
	struct simpler_tensor t1 = simpler_tensor_1d(&counter[1], 1, SIMPLER_U64);
	int nodes[2] = { 0, 1 }, r;

	simpler_args_add_tensor(a[0], &t0, SIMPLER_INOUT);
	simpler_args_add_tensor(a[1], &t1, SIMPLER_INOUT);
	r = simpler_submit_group(o, id_count, a, 2, nodes);
	simpler_args_free(a[0]);
	simpler_args_free(a[1]);
	return r < 0 ? r : 0;
}

MT_TEST(a_group_spans_both_remote_nodes)
{
	counter[0] = 10;
	counter[1] = 20;
	CHECK_OK(simpler_run(w, orch_group, NULL), w);
	CHECK_EQ(counter[0], 11);
	CHECK_EQ(counter[1], 21);
}

static uint64_t slept;

static int orch_sleep(struct simpler_orch *o, void *arg)
{
	struct simpler_tensor t = simpler_tensor_1d(&slept, 1, SIMPLER_U64);
	enum simpler_access acc = SIMPLER_OUT;
	uint64_t ms = TIMEOUT_MS * 2 + TIMEOUT_MS / 4;
	int r = sub(o, id_sleep, 1, 1, &t, &acc, 1, &ms);

	return r < 0 ? r : 0;
}

MT_TEST(a_node_fn_longer_than_two_heartbeat_timeouts_succeeds)
{
	double t0 = mt_now();

	slept = 0;
	CHECK_OK(simpler_run(w, orch_sleep, NULL), w);
	CHECK_EQ(slept, 0x51ee9);
	CHECK(mt_now() - t0 >= 2.0 * TIMEOUT_MS / 1000);
	printf("# slept %.2f s with a %d ms heartbeat timeout\n", mt_now() - t0, TIMEOUT_MS);
}

/* empty tensors: a host one, one of node 0's memory, one of node 1's; then tensor 3 back */
static int orch_empty(struct simpler_orch *o, void *arg)
{
	const uint64_t *mem = arg;
	static uint64_t host[4];
	struct simpler_tensor ts[4] = {
		simpler_tensor_1d(host, 0, SIMPLER_U64),
		simpler_tensor_1d(NULL, 0, SIMPLER_U64),
		simpler_tensor_1d(NULL, 0, SIMPLER_U64),
		simpler_tensor_1d(empty_out, 4, SIMPLER_U64),
	};
	enum simpler_access acc[4] = { SIMPLER_IN, SIMPLER_IN, SIMPLER_IN, SIMPLER_OUT };
	int r;

	ts[1].addr = mem[0];
	ts[1].child_memory = 1;
	ts[2].addr = mem[1];
	ts[2].child_memory = 1;
	r = sub(o, id_shapes, 0, 4, ts, acc, 0, NULL);
	return r < 0 ? r : 0;
}

MT_TEST(empty_tensors_move_nothing_and_lose_no_node)
{
	struct simpler_node_info i = { .sz = sizeof(i) };
	uint64_t mem[2];
	int node;

	CHECK_OK(simpler_malloc(w, 0, 64, &mem[0]), w);
	CHECK_OK(simpler_malloc(w, 1, 64, &mem[1]), w);
	memset(empty_out, 0xff, sizeof(empty_out));
	CHECK_OK(simpler_run(w, orch_empty, mem), w);
	CHECK_EQ(empty_out[0], 4);
	CHECK_EQ(empty_out[1], 0);
	CHECK_EQ(empty_out[2], 0);
	CHECK_EQ(empty_out[3], 0);
	for (node = 0; node < 2; node++) {
		CHECK_OK(simpler_node_info(w, node, &i), w);
		CHECK_EQ(i.lost, 0);
	}
	CHECK_EQ(stats(w).nodes_lost, 0);
	/* and the nodes still serve */
	times = 1;
	counter[0] = 0;
	node = 0;
	CHECK_OK(simpler_run(w, orch_count, &node), w);
	CHECK_EQ(counter[0], 1);
	CHECK_OK(simpler_free(w, 0, mem[0]), w);
	CHECK_OK(simpler_free(w, 1, mem[1]), w);
}

MT_TEST(a_ping_longer_than_the_timeout_loses_no_other_node)
{
	struct simpler_node_info i = { .sz = sizeof(i) };
	uint64_t ns, reps;
	int node = 1;

	CHECK_OK(simpler_node_ping(w, 0, 8, 1000, &ns), w);
	/* about 1.5 heartbeat timeouts of round trips with node 0 alone */
	reps = 3ULL * TIMEOUT_MS * 1000000 / 2 / (ns / 1000 + 1);
	CHECK_OK(simpler_node_ping(w, 0, 8, (uint32_t)reps, &ns), w);
	printf("# %" PRIu64 " round trips with node 0 took %.2f s (timeout %d ms)\n", reps,
	       ns / 1e9, TIMEOUT_MS);
	CHECK(ns > 0);
	CHECK_OK(simpler_node_info(w, 1, &i), w);
	CHECK_EQ(i.lost, 0);
	times = 1;
	counter[1] = 0;
	CHECK_OK(simpler_run(w, orch_count, &node), w);
	CHECK_EQ(counter[1], 1);
	CHECK_EQ(stats(w).nodes_lost, 0);
}

MT_TEST(a_ping_between_two_nodes_times_mpi_alone_and_leaves_both_serving)
{
	uint64_t ns = 0, ns2 = 0;
	int node;

	/* short: neither node sends heartbeats meanwhile (a loaded machine stretches it) */
	CHECK_OK(simpler_node_ping_pair(w, 0, 1, 8, 20, &ns), w);
	CHECK_OK(simpler_node_ping_pair(w, 1, 0, 1 << 20, 2, &ns2), w);
	printf("# 20 round trips of 8 bytes between the nodes: %.2f us each; 2 of 1 MiB: %.2f "
	       "GB/s\n", ns / 20e3, 2.0 * 2 * (1 << 20) / (double)ns2);
	CHECK(ns > 0 && ns2 > 0);
	CHECK_EQ(simpler_node_ping_pair(w, 0, 0, 8, 1, &ns), -EINVAL);
	CHECK_MSG(strstr(simpler_worker_errmsg(w), "not two remote nodes"), "%s",
		  simpler_worker_errmsg(w));
	CHECK_EQ(simpler_node_ping_pair(w, 0, 2, 8, 1, &ns), -EINVAL);
	CHECK_EQ(simpler_node_ping_pair(w, 0, 1, 8, 1, NULL), -EINVAL);
	CHECK_EQ(simpler_node_ping_pair(NULL, 0, 1, 8, 1, &ns), -EINVAL);
	/* both still serve, and neither was lost */
	for (node = 0; node < 2; node++) {
		times = 1;
		counter[node] = 0;
		CHECK_OK(simpler_run(w, orch_count, &node), w);
		CHECK_EQ(counter[node], 1);
	}
	CHECK_EQ(stats(w).nodes_lost, 0);
}

MT_TEST(node_info_names_rank_pid_host_and_shape)
{
	struct simpler_node_info i = { .sz = sizeof(i) };
	int node;

	CHECK_EQ(simpler_worker_nr_nodes(w), 2);
	for (node = 0; node < 2; node++) {
		CHECK_OK(simpler_node_info(w, node, &i), w);
		CHECK_EQ(i.rank, node + 1);
		CHECK(i.pid > 0 && i.pid != getpid());
		CHECK_EQ(simpler_node_pid(w, node), i.pid);
		CHECK_EQ(i.nr_chips, 1);
		CHECK_EQ(i.nr_subs, 1);
		CHECK_EQ(i.lost, 0);
		CHECK(i.host[0]);
	}
	CHECK_EQ(simpler_node_info(w, 2, &i), -EINVAL);
}

/* SIMPLER_MPI_NAP=1 (run.sh runs the suite so once more) turned Open MPI's idle yields off at init */
MT_TEST(nap_mode_turns_open_mpi_idle_yields_off)
{
	const char *nap = getenv("SIMPLER_MPI_NAP"), *y = getenv("OMPI_MCA_mpi_yield_when_idle");

	if (nap && !strcmp(nap, "1"))
		CHECK(y && !strcmp(y, "0"));
	else
		CHECK(!y);	/* run.sh sets neither; the library left it alone (auto: at run time) */
}

int main(void)
{
	SIMPLER_OPTS(simpler_worker_opts, l3, .nr_chips = 1, .nr_subs = 1);
	SIMPLER_OPTS(simpler_worker_opts, o, .level = 4, .flags = SIMPLER_WORKER_MPI,
		     .node_timeout_ms = TIMEOUT_MS, .remote_opts = &l3);

	return mt_main(&o, setup);
}
