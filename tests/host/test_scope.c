// SPDX-License-Identifier: MIT
/*
 * Scopes and simpler_orch_alloc(): nesting limits and errors, memory that
 * lives until its scope ended and every task submitted in it finished (and
 * not longer), memory visible to kernels, and a clear ENOMEM when the arena
 * cannot hold what open scopes keep.
 */
#include "probe.h"

static int cid;
static struct simpler_worker *W;

static struct simpler_worker *worker_with_arena(uint64_t arena)
{
	struct simpler_worker *w = NULL;
	SIMPLER_OPTS(simpler_worker_opts, o, .nr_chips = 2, .flags = SIMPLER_WORKER_THREADS,
		     .arena_size = arena);

	CHECK_EQ(simpler_worker_create(&o, &w), 0);
	probe_reset();
	cid = simpler_register(w, "probe", k_probe);
	return w;
}

static int orch_scope_errors(struct simpler_orch *o, void *arg)
{
	int i;

	CHECK_EQ(simpler_scope_end(o), -EINVAL);	/* the run's own scope is not ours */
	CHECK(strstr(simpler_worker_errmsg(simpler_orch_worker(o)), "without a matching"));
	for (i = 0; i < 63; i++)
		CHECK_EQ(simpler_scope_begin(o), 0);
	CHECK_EQ(simpler_scope_begin(o), -EINVAL);	/* 64 deep with the run's */
	CHECK(strstr(simpler_worker_errmsg(simpler_orch_worker(o)), "at most 64"));
	for (i = 0; i < 63; i++)
		CHECK_EQ(simpler_scope_end(o), 0);
	CHECK_EQ(simpler_scope_end(o), -EINVAL);
	/* scopes left open are closed by the run */
	CHECK_EQ(simpler_scope_begin(o), 0);
	CHECK_EQ(simpler_scope_begin(o), 0);
	return 0;
}

TEST(scope_nesting_and_errors)
{
	W = worker_with_arena(0);
	CHECK_OK(simpler_run(W, orch_scope_errors, NULL), W);
	CHECK_EQ(simpler_scope_begin(NULL), -EINVAL);
	simpler_worker_destroy(W);
}

struct life {
	char *a, *b;
	uint64_t b_time;	/* event clock when the second allocation returned */
};

static int orch_lifetime(struct simpler_orch *o, void *arg)
{
	struct life *l = arg;
	int r;

	/* 40 KiB of a 64 KiB arena, used by a slow task, in a scope that ends at once */
	simpler_scope_begin(o);
	l->a = simpler_orch_alloc(o, 40 << 10);
	CHECK(l->a != NULL);
	r = probe_submit(o, cid, 0, 0, P_NONE, 0, 100000, 1, ACC(l->a, 0, 64, SIMPLER_OUT));
	simpler_scope_end(o);
	/* the next 40 KiB cannot exist until that task finished */
	simpler_scope_begin(o);
	l->b = simpler_orch_alloc(o, 40 << 10);
	l->b_time = atomic_fetch_add(&probe_clock, 1) + 1;
	simpler_scope_end(o);
	return r < 0 ? r : 0;
}

TEST(orch_alloc_lives_until_scope_end_and_consumers_done)
{
	struct life l = { 0 };

	W = worker_with_arena(64 << 10);
	CHECK_OK(simpler_run(W, orch_lifetime, &l), W);
	CHECK(l.b != NULL);
	CHECK(l.b_time > probe_end[0]);	/* not freed while its consumer ran */
	CHECK(l.b == l.a);		/* but freed right after: the space came back */
	simpler_worker_destroy(W);
}

static int orch_no_fit(struct simpler_orch *o, void *arg)
{
	char *a = simpler_orch_alloc(o, 48 << 10), *b;

	CHECK(a != NULL);
	/* the run's own scope is open: nothing can be freed */
	b = simpler_orch_alloc(o, 48 << 10);
	CHECK(b == NULL && errno == ENOMEM);
	CHECK(strstr(simpler_worker_errmsg(simpler_orch_worker(o)), "raise arena_size"));
	return 0;
}

TEST(orch_alloc_that_cannot_fit_fails_with_enomem)
{
	W = worker_with_arena(64 << 10);
	CHECK_OK(simpler_run(W, orch_no_fit, NULL), W);
	simpler_worker_destroy(W);
}

static int k_fill(const struct simpler_kernel_args *a)
{
	uint32_t *p = (uint32_t *)(uintptr_t)a->tensors[0].addr, i;

	for (i = 0; i < a->tensors[0].shape[0]; i++)
		p[i] = i * (uint32_t)a->scalars[0];
	return 0;
}

static int k_sum(const struct simpler_kernel_args *a)
{
	const uint32_t *p = (const uint32_t *)(uintptr_t)a->tensors[0].addr;
	uint64_t *out = (uint64_t *)(uintptr_t)a->tensors[1].addr, s = 0;
	uint32_t i;

	for (i = 0; i < a->tensors[0].shape[0]; i++)
		s += p[i];
	*out = s;
	return 0;
}

SHARED_ARRAY(uint64_t, result_, 1)
#define result (*result_)

static int orch_intermediate(struct simpler_orch *o, void *arg)
{
	struct simpler_worker *w = simpler_orch_worker(o);
	struct simpler_args *a = simpler_args_new();
	SIMPLER_OPTS(simpler_submit_opts, on0, .worker = 0);
	SIMPLER_OPTS(simpler_submit_opts, on1, .worker = 1);
	uint32_t *tmp = simpler_orch_alloc(o, 1000 * sizeof(uint32_t));
	struct simpler_tensor t = t1d(tmp, 1000, SIMPLER_U32), r = t1d(&result, 1, SIMPLER_U64);
	int ret;

	/* chip 0 fills runtime-owned memory, chip 1 reduces it */
	simpler_args_add_tensor(a, &t, SIMPLER_OUT);
	simpler_args_add_scalar(a, 3);
	ret = simpler_submit(o, simpler_callable(w, "fill"), a, &on0);
	simpler_args_reset(a);
	simpler_args_add_tensor(a, &t, SIMPLER_IN);
	simpler_args_add_tensor(a, &r, SIMPLER_OUT);
	if (ret >= 0)
		ret = simpler_submit(o, simpler_callable(w, "sum"), a, &on1);
	simpler_args_free(a);
	return ret < 0 ? ret : 0;
}

TEST(orch_alloc_memory_carries_data_between_chips)
{
	W = worker_with_arena(0);
	simpler_register(W, "fill", k_fill);
	simpler_register(W, "sum", k_sum);
	CHECK_OK(simpler_run(W, orch_intermediate, NULL), W);
	CHECK_EQ(result, 3ULL * 999 * 1000 / 2);
	simpler_worker_destroy(W);
}

static int orch_many_scopes(struct simpler_orch *o, void *arg)
{
	int i, r = 0;
	char *p;

	/* 2000 scopes x 16 KiB through a 256 KiB arena: memory must recycle */
	for (i = 0; i < 2000 && r >= 0; i++) {
		simpler_scope_begin(o);
		p = simpler_orch_alloc(o, 16 << 10);
		CHECK_MSG(p != NULL, "scope %d: %s", i, simpler_worker_errmsg(simpler_orch_worker(o)));
		r = probe_submit(o, cid, i % PROBE_MAX, i % 2, P_NONE, 0, 0, 1,
				 ACC(p, 0, 4096, SIMPLER_OUT));
		simpler_scope_end(o);
	}
	return r < 0 ? r : 0;
}

TEST(scoped_memory_recycles_across_many_scopes)
{
	W = worker_with_arena(256 << 10);
	CHECK_OK(simpler_run(W, orch_many_scopes, NULL), W);
	simpler_worker_destroy(W);
}

TEST_MAIN()
