// SPDX-License-Identifier: MIT
/*
 * Basic behaviour: creating workers, registering kernels, running tasks on
 * chips and subs, results computed where they should be.
 */
#include "test_util.h"

static int k_vadd(const struct simpler_kernel_args *a)
{
	const float *x = (const float *)(uintptr_t)a->tensors[0].addr;
	const float *y = (const float *)(uintptr_t)a->tensors[1].addr;
	float *z = (float *)(uintptr_t)a->tensors[2].addr;
	uint32_t n = a->tensors[0].shape[0], i, lo, hi;

	lo = (uint32_t)((uint64_t)n * a->block_idx / a->block_dim);
	hi = (uint32_t)((uint64_t)n * (a->block_idx + 1) / a->block_dim);
	for (i = lo; i < hi; i++)
		z[i] = x[i] + y[i];
	return 0;
}

TEST(create_runs_chips_as_the_mode_says)
{
	struct simpler_worker *w = make_worker(2, 1, 0, 0);
	int c0 = simpler_chip_pid(w, 0), c1 = simpler_chip_pid(w, 1), s0 = simpler_sub_pid(w, 0);

	if (test_threads()) {
		CHECK_EQ(c0, -EINVAL);
		CHECK_EQ(s0, -EINVAL);
		CHECK(!strcmp(simpler_worker_hostmem(w), "threads"));
	} else {
		/* three distinct live children of this process */
		CHECK(c0 > 0 && c1 > 0 && s0 > 0);
		CHECK(c0 != c1 && c1 != s0 && c0 != s0);
		CHECK_EQ(kill(c0, 0), 0);
		CHECK_EQ(kill(s0, 0), 0);
		CHECK(!strcmp(simpler_worker_hostmem(w), "kmod") ||
		      !strcmp(simpler_worker_hostmem(w), "shm"));
	}
	CHECK_EQ(simpler_chip_pid(w, 2), -EINVAL);
	CHECK_EQ(simpler_sub_pid(w, 1), -EINVAL);
	simpler_worker_destroy(w);
	if (!test_threads()) {
		/* destroy reaped them: the pids are gone */
		CHECK_EQ(kill(c0, 0), -1);
		CHECK_EQ(kill(s0, 0), -1);
	}
}

TEST(create_rejects_bad_options)
{
	struct simpler_worker *w;
	TEST_OPTS(o, .flags = test_mode_flags(), .ring_size = 1000);

	CHECK_EQ(simpler_worker_create(&o, &w), -EINVAL);
	CHECK(strstr(simpler_last_errmsg(), "power of two"));
	o.ring_size = 0;
	o.nr_chips = 65;
	CHECK_EQ(simpler_worker_create(&o, &w), -EINVAL);
	o.nr_chips = 1;
	o.platform = "nosuch";
	CHECK_EQ(simpler_worker_create(&o, &w), -ENOENT);
	CHECK(strstr(simpler_last_errmsg(), "nosuch"));
	o.platform = NULL;
	o.hostmem = 7;
	CHECK_EQ(simpler_worker_create(&o, &w), -EINVAL);
	CHECK(strstr(simpler_last_errmsg(), "SIMPLER_HOSTMEM_AUTO"));
}

TEST(register_names_are_unique)
{
	struct simpler_worker *w = make_worker(1, 0, 0, 0);

	CHECK_EQ(simpler_register(w, "vadd", k_vadd), 0);
	CHECK_EQ(simpler_register(w, "vadd2", k_vadd), 1);
	CHECK_EQ(simpler_register(w, "vadd", k_vadd), -EEXIST);
	CHECK_EQ(simpler_callable(w, "vadd2"), 1);
	CHECK_EQ(simpler_callable(w, "nope"), -ENOENT);
	CHECK_EQ(simpler_register(w, "", k_vadd), -EINVAL);
	CHECK_EQ(simpler_register(w, "x", NULL), -EINVAL);
	simpler_worker_destroy(w);
}

struct vadd_run {
	int cid;
	float *x, *y, *z;
	uint32_t n, tiles, block_dim;
};

static int orch_vadd(struct simpler_orch *o, void *arg)
{
	struct vadd_run *r = arg;
	struct simpler_args *a = simpler_args_new();
	SIMPLER_OPTS(simpler_submit_opts, so, .worker = -1, .block_dim = r->block_dim);
	uint32_t t, tile = r->n / r->tiles;
	int ret = 0;

	for (t = 0; t < r->tiles && ret >= 0; t++) {
		struct simpler_tensor x = t1d(r->x + t * tile, tile, SIMPLER_F32);
		struct simpler_tensor y = t1d(r->y + t * tile, tile, SIMPLER_F32);
		struct simpler_tensor z = t1d(r->z + t * tile, tile, SIMPLER_F32);

		simpler_args_reset(a);
		simpler_args_add_tensor(a, &x, SIMPLER_IN);
		simpler_args_add_tensor(a, &y, SIMPLER_IN);
		simpler_args_add_tensor(a, &z, SIMPLER_OUT);
		ret = simpler_submit(o, r->cid, a, &so);
	}
	simpler_args_free(a);
	return ret < 0 ? ret : 0;
}

static void vadd_case(int chips, uint32_t block_dim, unsigned flags)
{
	struct simpler_worker *w = make_worker(chips, 0, flags, 0);
	struct vadd_run r = { .n = 1 << 16, .tiles = 64, .block_dim = block_dim };
	struct simpler_stats st = { .sz = sizeof(st) };
	uint64_t hx, hy, hz, bytes = r.n * sizeof(float);
	uint32_t i;

	r.cid = simpler_register(w, "vadd", k_vadd);
	/* allocated after the chips started: registered */
	r.x = malloc(bytes);
	r.y = malloc(bytes);
	r.z = calloc(r.n, sizeof(float));
	CHECK_OK(simpler_host_register(w, r.x, bytes, 0, &hx), w);
	CHECK_OK(simpler_host_register(w, r.y, bytes, 0, &hy), w);
	CHECK_OK(simpler_host_register(w, r.z, bytes, 0, &hz), w);
	for (i = 0; i < r.n; i++) {
		r.x[i] = (float)i;
		r.y[i] = 2.0f * (float)i;
	}
	CHECK_OK(simpler_run(w, orch_vadd, &r), w);
	for (i = 0; i < r.n; i++)
		CHECK_MSG(r.z[i] == 3.0f * (float)i, "z[%u] = %f", i, r.z[i]);
	CHECK_OK(simpler_worker_stats(w, &st), w);
	CHECK_EQ(st.tasks_submitted, r.tiles);
	CHECK_EQ(st.tasks_completed, r.tiles);
	CHECK_EQ(st.edges, 0);
	if (flags & SIMPLER_WORKER_STAGING)
		CHECK_EQ(st.bytes_staged, 3ULL * r.n * sizeof(float));
	else
		CHECK_EQ(st.bytes_staged, 0);
	/* shm copies x and y in and z (OUT: written whole) back; kmod and threads nothing */
	if (!strcmp(simpler_worker_hostmem(w), "shm"))
		CHECK_EQ(st.host_bytes_copied, 3 * bytes);
	else
		CHECK_EQ(st.host_bytes_copied, 0);
	CHECK_OK(simpler_host_unregister(w, hx), w);
	CHECK_OK(simpler_host_unregister(w, hy), w);
	CHECK_OK(simpler_host_unregister(w, hz), w);
	simpler_worker_destroy(w);
	free(r.x);
	free(r.y);
	free(r.z);
}

TEST(vadd_one_chip)
{
	vadd_case(1, 1, 0);
}

TEST(vadd_four_chips)
{
	vadd_case(4, 1, 0);
}

TEST(vadd_blocks_on_core_pool)
{
	vadd_case(2, 7, 0);
}

TEST(vadd_staging_copies_in_and_out)
{
	vadd_case(2, 3, SIMPLER_WORKER_STAGING);
}

TEST_MAIN()
