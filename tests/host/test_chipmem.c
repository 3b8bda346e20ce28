// SPDX-License-Identifier: MIT
/*
 * Chip memory through platform/sim: allocation, copies, and provenance —
 * unknown, double, interior and foreign frees and overrunning copies are
 * refused with EINVAL/EFAULT and a message; child_memory tensors reach the
 * kernel untouched; staging gives kernels chip copies of host tensors.
 */
#include "test_util.h"

static struct simpler_worker *W;

TEST(malloc_copy_roundtrip)
{
	uint8_t in[1000], out[1000];
	uint64_t a;
	int i;

	W = make_worker(2, 0, 0, 0);
	for (i = 0; i < 1000; i++)
		in[i] = (uint8_t)(i * 7);
	CHECK_OK(simpler_malloc(W, 1, 1000, &a), W);
	CHECK_OK(simpler_copy_to(W, 1, a, in, 1000), W);
	memset(out, 0, sizeof(out));
	CHECK_OK(simpler_copy_from(W, 1, out, a, 1000), W);
	CHECK(!memcmp(in, out, 1000));
	/* a window inside the allocation is fine */
	CHECK_OK(simpler_copy_from(W, 1, out, a + 500, 500), W);
	CHECK(!memcmp(in + 500, out, 500));
	CHECK_OK(simpler_free(W, 1, a), W);
	simpler_worker_destroy(W);
}

TEST(bad_frees_are_refused)
{
	uint64_t a, b;

	W = make_worker(2, 0, 0, 0);
	CHECK_OK(simpler_malloc(W, 0, 4096, &a), W);
	CHECK_OK(simpler_malloc(W, 1, 4096, &b), W);

	CHECK_EQ(simpler_free(W, 0, 0x1234), -EINVAL);
	CHECK(strstr(simpler_worker_errmsg(W), "was not allocated on this chip"));
	CHECK_EQ(simpler_free(W, 0, a + 64), -EINVAL);
	CHECK(strstr(simpler_worker_errmsg(W), "not its start"));
	CHECK_EQ(simpler_free(W, 0, b), -EINVAL);
	CHECK(strstr(simpler_worker_errmsg(W), "belongs to chip 1"));
	CHECK_OK(simpler_free(W, 0, a), W);
	CHECK_EQ(simpler_free(W, 0, a), -EINVAL);
	CHECK(strstr(simpler_worker_errmsg(W), "already freed"));
	CHECK_EQ(simpler_free(W, 5, b), -EINVAL);
	CHECK(strstr(simpler_worker_errmsg(W), "chip 5 does not exist"));
	/* the refused frees left chip 1's allocation alone */
	CHECK_OK(simpler_free(W, 1, b), W);
	simpler_worker_destroy(W);
}

TEST(overrunning_copies_are_refused)
{
	char buf[8192];
	uint64_t a;

	W = make_worker(1, 0, 0, 0);
	CHECK_OK(simpler_malloc(W, 0, 4096, &a), W);
	CHECK_EQ(simpler_copy_to(W, 0, a, buf, 4097), -EFAULT);
	CHECK(strstr(simpler_worker_errmsg(W), "overrun"));
	CHECK_EQ(simpler_copy_from(W, 0, buf, a + 4000, 97), -EFAULT);
	CHECK_EQ(simpler_copy_to(W, 0, 0x10, buf, 1), -EFAULT);
	CHECK(strstr(simpler_worker_errmsg(W), "not inside a live allocation"));
	CHECK_EQ(simpler_copy_to(W, 0, a, NULL, 4), -EFAULT);
	CHECK_OK(simpler_free(W, 0, a), W);
	CHECK_EQ(simpler_copy_to(W, 0, a, buf, 1), -EFAULT);	/* freed */
	simpler_worker_destroy(W);
}

TEST(malloc_limits)
{
	struct simpler_worker *w = NULL;
	TEST_OPTS(o, .flags = test_mode_flags(),
		     .chip_mem_size = 1 << 20);
	uint64_t a;

	CHECK_EQ(simpler_worker_create(&o, &w), 0);
	CHECK_EQ(simpler_malloc(w, 0, 0, &a), -EINVAL);
	CHECK_EQ(simpler_malloc(w, 0, 2 << 20, &a), -ENOMEM);
	CHECK(strstr(simpler_worker_errmsg(w), "out of chip memory"));
	CHECK_OK(simpler_malloc(w, 0, 1 << 20, &a), w);	/* exactly all of it */
	CHECK_OK(simpler_free(w, 0, a), w);
	simpler_worker_destroy(w);
}

SHARED_ARRAY(uint64_t, seen_addr, 4)

static int k_incr(const struct simpler_kernel_args *a)
{
	uint32_t *p = (uint32_t *)(uintptr_t)a->tensors[0].addr, i;

	seen_addr[0] = a->tensors[0].addr;
	for (i = 0; i < a->tensors[0].shape[0]; i++)
		p[i] += 1;
	return 0;
}

static uint64_t dev;

static int orch_incr(struct simpler_orch *o, void *arg)
{
	struct simpler_args *a = simpler_args_new();
	SIMPLER_OPTS(simpler_submit_opts, so, .worker = 1);
	struct simpler_tensor t = t1d((void *)(uintptr_t)dev, 256, SIMPLER_U32);
	int r, i;

	t.child_memory = 1;
	simpler_args_add_tensor(a, &t, SIMPLER_INOUT);
	for (i = 0, r = 0; i < 5 && r >= 0; i++)
		r = simpler_submit(o, 0, a, &so);
	simpler_args_free(a);
	return r < 0 ? r : 0;
}

static void child_memory_case(unsigned flags)
{
	uint32_t v[256];
	struct simpler_stats s = { .sz = sizeof(s) };
	int i;

	W = make_worker(2, 0, flags, 0);
	simpler_register(W, "incr", k_incr);
	CHECK_OK(simpler_malloc(W, 1, sizeof(v), &dev), W);
	for (i = 0; i < 256; i++)
		v[i] = (uint32_t)i;
	CHECK_OK(simpler_copy_to(W, 1, dev, v, sizeof(v)), W);
	CHECK_OK(simpler_run(W, orch_incr, NULL), W);
	CHECK_EQ(seen_addr[0], dev);	/* passed through untouched */
	CHECK_OK(simpler_copy_from(W, 1, v, dev, sizeof(v)), W);
	for (i = 0; i < 256; i++)
		CHECK_EQ(v[i], i + 5);
	simpler_worker_stats(W, &s);
	CHECK_EQ(s.bytes_staged, 0);	/* chip memory is never staged */
	simpler_worker_destroy(W);
}

TEST(child_memory_passes_through_untouched)
{
	child_memory_case(0);
}

TEST(child_memory_passes_through_in_staging_mode)
{
	child_memory_case(SIMPLER_WORKER_STAGING);
}

static int orch_bad_child(struct simpler_orch *o, void *arg)
{
	struct simpler_args *a = simpler_args_new();
	SIMPLER_OPTS(simpler_submit_opts, so, .worker = 0);
	struct simpler_tensor t = t1d((void *)(uintptr_t)dev, 4096, SIMPLER_U32);
	int r;

	/* 16 KiB of a 4 KiB allocation */
	t.child_memory = 1;
	simpler_args_add_tensor(a, &t, SIMPLER_INOUT);
	r = simpler_submit(o, 0, a, &so);
	simpler_args_free(a);
	return r < 0 ? r : 0;
}

TEST(child_tensor_overrunning_its_allocation_fails_the_task)
{
	W = make_worker(1, 0, 0, 0);
	simpler_register(W, "incr", k_incr);
	CHECK_OK(simpler_malloc(W, 0, 4096, &dev), W);
	CHECK_EQ(simpler_run(W, orch_bad_child, NULL), -EFAULT);
	CHECK(strstr(simpler_worker_errmsg(W), "was not launched"));
	CHECK(strstr(simpler_worker_errmsg(W), "overrun"));
	simpler_worker_destroy(W);
}

SHARED_ARRAY(uint32_t, hostbuf, 256)

static int orch_host_incr(struct simpler_orch *o, void *arg)
{
	struct simpler_args *a = simpler_args_new();
	struct simpler_tensor t = t1d(hostbuf, 256, SIMPLER_U32);
	int r;

	simpler_args_add_tensor(a, &t, SIMPLER_INOUT);
	r = simpler_submit(o, 0, a, NULL);
	simpler_args_free(a);
	return r < 0 ? r : 0;
}

TEST(staging_gives_the_kernel_a_chip_copy)
{
	struct simpler_stats s = { .sz = sizeof(s) };
	int i;

	W = make_worker(1, 0, SIMPLER_WORKER_STAGING, 0);
	simpler_register(W, "incr", k_incr);
	for (i = 0; i < 256; i++)
		hostbuf[i] = (uint32_t)i;
	CHECK_OK(simpler_run(W, orch_host_incr, NULL), W);
	CHECK(seen_addr[0] != (uintptr_t)hostbuf);	/* the kernel saw chip memory */
	for (i = 0; i < 256; i++)
		CHECK_EQ(hostbuf[i], i + 1);		/* and the result came back */
	simpler_worker_stats(W, &s);
	CHECK_EQ(s.bytes_staged, 2 * 256 * sizeof(*hostbuf));
	simpler_worker_destroy(W);
}

TEST_MAIN()
