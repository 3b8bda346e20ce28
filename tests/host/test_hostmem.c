// SPDX-License-Identifier: MIT
/*
 * Host memory the chip processes can use (DESIGN §3.6), on the backend
 * SIMPLER_TEST_HOSTMEM names (shm on the host, kmod in the VM): inherited
 * shared memory is visible, anything created later is refused at submit
 * with a message naming the tensor, its address and both remedies until it
 * is registered; views inside a registered buffer work, views past its end
 * are refused; data written by one task is read by a later one in the same
 * run and by the host after it; the kmod backend copies nothing.
 */
#include <stdbool.h>
#include <linux/capability.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>

#include "test_util.h"

SHARED_ARRAY(uint64_t, seen, 16)	/* k_seen: the address a kernel got, its first word */
SHARED_ARRAY(char, inherited, 1 << 16)

static int k_fill(const struct simpler_kernel_args *a)
{
	uint32_t *p = (uint32_t *)(uintptr_t)a->tensors[0].addr;
	uint32_t i, n = a->tensors[0].shape[0];

	for (i = 0; i < n; i++)
		p[i] = (uint32_t)a->scalars[0] + i;
	return 0;
}

/* b = 2 * a */
static int k_double(const struct simpler_kernel_args *a)
{
	const uint32_t *x = (const uint32_t *)(uintptr_t)a->tensors[0].addr;
	uint32_t *y = (uint32_t *)(uintptr_t)a->tensors[1].addr;
	uint32_t i, n = a->tensors[0].shape[0];

	for (i = 0; i < n; i++)
		y[i] = 2 * x[i];
	return 0;
}

/* b += a, over b's length */
static int k_addto(const struct simpler_kernel_args *a)
{
	const uint32_t *x = (const uint32_t *)(uintptr_t)a->tensors[0].addr;
	uint32_t *y = (uint32_t *)(uintptr_t)a->tensors[1].addr;
	uint32_t i, n = a->tensors[1].shape[0];

	for (i = 0; i < n; i++)
		y[i] += x[i];
	return 0;
}

/* every element of a 2-D view = scalar + its index, walking the strides */
static int k_fill_view(const struct simpler_kernel_args *a)
{
	uint32_t *p = (uint32_t *)(uintptr_t)a->tensors[0].addr;
	uint64_t ld = simpler_kernel_stride(a, 0, 0), step = simpler_kernel_stride(a, 0, 1);
	uint32_t r, c, cols = a->tensors[0].shape[1];

	for (r = 0; r < a->tensors[0].shape[0]; r++)
		for (c = 0; c < cols; c++)
			p[r * ld + c * step] = (uint32_t)a->scalars[0] + r * cols + c;
	return 0;
}

static int orch_fill_view(struct simpler_orch *o, void *arg)
{
	struct simpler_view *v = arg;
	struct simpler_args *a = simpler_args_new();
	SIMPLER_OPTS(simpler_submit_opts, so, .worker = 1);
	int r;

	simpler_args_add_view(a, v, SIMPLER_OUT);
	simpler_args_add_scalar(a, 1000);
	r = simpler_submit(o, simpler_callable(simpler_orch_worker(o), "fill_view"), a, &so);
	simpler_args_free(a);
	return r < 0 ? r : 0;
}

static int k_seen(const struct simpler_kernel_args *a)
{
	seen[0] = a->tensors[0].addr;
	seen[1] = *(const uint64_t *)(uintptr_t)a->tensors[0].addr;
	return 0;
}

static bool is_threads(struct simpler_worker *w)
{
	return !strcmp(simpler_worker_hostmem(w), "threads");
}

/* chips as processes with the suite's backend, unless threads is asked for */
static struct simpler_worker *hm_worker(unsigned flags)
{
	struct simpler_worker *w = NULL;
	TEST_OPTS(o, .nr_chips = 2, .nr_subs = 1, .flags = flags);

	if (simpler_worker_create(&o, &w))
		FAILF("simpler_worker_create: %s", simpler_last_errmsg());
	simpler_register(w, "fill", k_fill);
	simpler_register(w, "double", k_double);
	simpler_register(w, "addto", k_addto);
	simpler_register(w, "seen", k_seen);
	simpler_register(w, "fill_view", k_fill_view);
	printf("# backend: %s\n", simpler_worker_hostmem(w));
	return w;
}

static uint64_t copied(struct simpler_worker *w)
{
	struct simpler_stats s = { .sz = sizeof(s) };

	simpler_worker_stats(w, &s);
	return s.host_bytes_copied;
}

/* ---- one task, from a test ---- */

struct one {
	const char *kernel;
	int chip;		/* -1: the sub */
	int n;
	const void *p[3];
	uint32_t len[3];	/* u32 elements */
	int acc[3];
	uint64_t scalar;
};

static int submit_one(struct simpler_orch *o, const struct one *t)
{
	struct simpler_worker *w = simpler_orch_worker(o);
	struct simpler_args *a = simpler_args_new();
	SIMPLER_OPTS(simpler_submit_opts, so, .worker = t->chip < 0 ? 0 : t->chip,
		     .flags = t->chip < 0 ? SIMPLER_SUBMIT_SUB : 0);
	struct simpler_tensor x;
	int i, r;

	for (i = 0; i < t->n; i++) {
		x = t1d(t->p[i], t->len[i], SIMPLER_U32);
		simpler_args_add_tensor(a, &x, (enum simpler_access)t->acc[i]);
	}
	simpler_args_add_scalar(a, t->scalar);
	r = simpler_submit(o, simpler_callable(w, t->kernel), a, &so);
	simpler_args_free(a);
	return r;
}

static int orch_list(struct simpler_orch *o, void *arg)
{
	const struct one *t = arg;
	int r = 0;

	for (; t->kernel && r >= 0; t++)
		r = submit_one(o, t);
	return r < 0 ? r : 0;
}

static int run_one(struct simpler_worker *w, struct one t)
{
	struct one list[2] = { t, { 0 } };

	return simpler_run(w, orch_list, list);
}

/* ---- visibility ---- */

static void expect_refused(struct simpler_worker *w, const void *p, size_t len, const char *why)
{
	CHECK_EQ(simpler_host_check(w, p, len), -EFAULT);
	CHECK_MSG(strstr(simpler_worker_errmsg(w), why), "%s", simpler_worker_errmsg(w));
	CHECK(strstr(simpler_worker_errmsg(w), "simpler_host_register()"));
	CHECK(strstr(simpler_worker_errmsg(w), "MAP_SHARED"));
}

/*
 * A mapping made after the fork: new to the children, or, where the kernel
 * reused an address this process unmapped since (as ThreadSanitizer's
 * allocator did once in process mode), over what the children still have
 * there.  Either verdict is right; nothing else is.
 */
static void expect_refused_late(struct simpler_worker *w, const void *p, size_t len)
{
	const char *m;

	CHECK_EQ(simpler_host_check(w, p, len), -EFAULT);
	m = simpler_worker_errmsg(w);
	CHECK_MSG(strstr(m, "allocated after the chip processes started") ||
		  strstr(m, "mapped to another object than the chip processes have"), "%s", m);
	CHECK(strstr(m, "simpler_host_register()"));
	CHECK(strstr(m, "MAP_SHARED"));
}

TEST(inherited_shared_memory_is_visible_private_and_late_memory_is_not)
{
	void *priv = mmap(NULL, 1 << 16, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct simpler_worker *w = hm_worker(0);
	void *late = mmap(NULL, 1 << 16, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	CHECK_OK(simpler_host_check(w, inherited, 1 << 16), w);
	CHECK_OK(simpler_host_check(w, inherited + 100, 10), w);
	expect_refused(w, priv, 4096, "private memory");
	expect_refused_late(w, late, 4096);
	/* straddling the end of an inherited mapping into nothing */
	expect_refused_late(w, late, (1 << 16) + 1);
	CHECK_EQ(simpler_host_check(w, NULL, 4), -EINVAL);
	CHECK_EQ(simpler_host_check(w, inherited, 0), -EINVAL);
	simpler_worker_destroy(w);
	munmap(priv, 1 << 16);
	munmap(late, 1 << 16);
}

TEST(late_buffer_is_refused_at_submit_until_registered)
{
	struct simpler_worker *w = hm_worker(0);
	size_t n = 1 << 18;	/* 1 MiB of u32: its own mapping, made after the fork */
	uint32_t *buf = malloc(n * 4);
	uint64_t h, i;
	char want[160];

	CHECK(buf);
	memset(buf, 0, n * 4);
	expect_refused_late(w, buf, n * 4);
	CHECK_EQ(run_one(w, (struct one){ "fill", 0, 1, { buf }, { (uint32_t)n }, { SIMPLER_OUT },
					  7 }), -EFAULT);
	/* the message names the tensor, its address and both remedies */
	snprintf(want, sizeof(want), "tensor 0 at %p (%zu bytes)", (void *)buf, n * 4);
	CHECK_MSG(strstr(simpler_worker_errmsg(w), want), "%s", simpler_worker_errmsg(w));
	CHECK(strstr(simpler_worker_errmsg(w), "call simpler_host_register() on it, or allocate it "
		     "before simpler_worker_create() in shared memory"));
	CHECK_EQ(buf[5], 0);	/* nothing ran */

	CHECK_OK(simpler_host_register(w, buf, n * 4, 0, &h), w);
	CHECK_OK(simpler_host_check(w, buf, n * 4), w);
	CHECK_OK(run_one(w, (struct one){ "fill", 1, 1, { buf }, { (uint32_t)n }, { SIMPLER_OUT },
					  7 }), w);
	for (i = 0; i < n; i++)
		CHECK_MSG(buf[i] == 7 + i, "buf[%lu] = %u", (unsigned long)i, buf[i]);
	CHECK_OK(simpler_host_unregister(w, h), w);
	expect_refused_late(w, buf, n * 4);
	CHECK_EQ(simpler_host_unregister(w, h), -ENOENT);
	simpler_worker_destroy(w);
	free(buf);
}

TEST(views_inside_a_registered_buffer_resolve_and_views_past_its_end_do_not)
{
	struct simpler_worker *w = hm_worker(0);
	uint32_t *buf = malloc(10000 * 4);
	uint64_t h;
	int i;

	CHECK(buf);
	memset(buf, 0, 10000 * 4);
	CHECK_OK(simpler_host_register(w, buf, 10000 * 4, 0, &h), w);
	CHECK_OK(simpler_host_check(w, buf + 5000, 5000 * 4), w);
	CHECK_EQ(simpler_host_check(w, buf + 5000, 5000 * 4 + 1), -EFAULT);
	CHECK_MSG(strstr(simpler_worker_errmsg(w), "runs past the end of the registered buffer"),
		  "%s", simpler_worker_errmsg(w));
	/* the middle of it, on the sub */
	CHECK_OK(run_one(w, (struct one){ "fill", -1, 1, { buf + 5000 }, { 100 }, { SIMPLER_OUT },
					  1 }), w);
	for (i = 0; i < 100; i++)
		CHECK_EQ(buf[5000 + i], 1 + i);
	CHECK_EQ(buf[4999], 0);
	CHECK_EQ(buf[5100], 0);
	/* one element past the end */
	CHECK_EQ(run_one(w, (struct one){ "fill", 0, 1, { buf + 9990 }, { 11 }, { SIMPLER_OUT },
					  1 }), -EFAULT);
	CHECK_MSG(strstr(simpler_worker_errmsg(w), "runs 4 bytes past the end of the registered "
		     "buffer"), "%s", simpler_worker_errmsg(w));
	CHECK_EQ(buf[9990], 0);
	CHECK_OK(simpler_host_unregister(w, h), w);
	simpler_worker_destroy(w);
	free(buf);
}

/*
 * A strided OUT view of a registered buffer: its elements change, the bytes
 * between its runs keep what the application put there (the shm backend's
 * mirror must not copy back what it never copied in), and a view whose span
 * passes the buffer's end is refused although its first element is inside.
 */
TEST(strided_views_of_a_registered_buffer_write_only_their_elements)
{
	struct simpler_worker *w = hm_worker(0);
	uint32_t *buf = malloc(10000 * 4), i, r, c;
	/* 10 rows of 30 elements, every other element, rows 200 apart, from element 150 */
	struct simpler_view v = simpler_view_2d(buf, 200, 0, 150, 10, 30, SIMPLER_U32);
	uint64_t h;

	CHECK(buf);
	v.strides[1] = 2;
	for (i = 0; i < 10000; i++)
		buf[i] = 0xa0000000 + i;
	CHECK_OK(simpler_host_register(w, buf, 10000 * 4, 0, &h), w);
	CHECK_OK(simpler_run(w, orch_fill_view, &v), w);
	for (i = 0; i < 10000; i++) {
		uint32_t want = 0xa0000000 + i;

		r = (i - 150) / 200;
		c = (i - 150) % 200;
		if (i >= 150 && r < 10 && c < 60 && c % 2 == 0)
			want = 1000 + r * 30 + c / 2;
		CHECK_MSG(buf[i] == want, "element %u is %#x, want %#x", i, buf[i], want);
	}
	/* the last row starts inside the buffer and runs past its end */
	v = simpler_view_2d(buf, 200, 49, 150, 2, 60, SIMPLER_U32);
	CHECK_EQ(simpler_run(w, orch_fill_view, &v), -EFAULT);
	CHECK_MSG(strstr(simpler_worker_errmsg(w), "past the end of the registered buffer") ||
		  is_threads(w), "%s", simpler_worker_errmsg(w));
	CHECK_EQ(buf[9950], 0xa0000000 + 9950);
	CHECK_OK(simpler_host_unregister(w, h), w);
	simpler_worker_destroy(w);
	free(buf);
}

TEST(registration_errors)
{
	struct simpler_worker *w = hm_worker(0);
	char *buf = malloc(8192);
	uint64_t h, h2;

	CHECK(buf);
	CHECK_EQ(simpler_host_register(w, NULL, 10, 0, &h), -EINVAL);
	CHECK_EQ(simpler_host_register(w, buf, 0, 0, &h), -EINVAL);
	CHECK_EQ(simpler_host_register(w, buf, 10, 0x80, &h), -EINVAL);
	CHECK(strstr(simpler_worker_errmsg(w), "unknown flags"));
	CHECK_OK(simpler_host_register(w, buf + 100, 1000, 0, &h), w);
	CHECK_EQ(simpler_host_register(w, buf + 1000, 1000, 0, &h2), -EEXIST);
	CHECK_MSG(strstr(simpler_worker_errmsg(w), "overlaps the buffer"), "%s",
		  simpler_worker_errmsg(w));
	CHECK_EQ(simpler_host_register(w, buf, 101, 0, &h2), -EEXIST);
	/* adjacent is fine, even on the same page */
	CHECK_OK(simpler_host_register(w, buf + 1100, 1000, 0, &h2), w);
	CHECK(h2 != h);
	CHECK_EQ(simpler_host_unregister(w, 424242), -ENOENT);
	CHECK_OK(simpler_host_unregister(w, h), w);
	CHECK_OK(simpler_host_unregister(w, h2), w);
	simpler_worker_destroy(w);
	free(buf);
}

/* ---- data ---- */

/*
 * In one run: chip 0 fills a (registered), chip 1 doubles it into b
 * (registered), the sub adds b into c (inherited), chip 0 adds c into a
 * second view of a.  Every edge is inferred; every byte is checked.
 */
TEST(written_then_read_in_one_run_on_every_backend)
{
	struct simpler_worker *w = hm_worker(0);
	const uint32_t n = 1 << 16;
	uint32_t *a = malloc(2 * n * 4), *b = malloc(n * 4), *c = (uint32_t *)inherited, i;
	uint64_t ha, hb, before = copied(w), want;
	struct one list[] = {
		{ "fill", 0, 1, { a }, { n }, { SIMPLER_OUT }, 1000 },
		{ "double", 1, 2, { a, b }, { n, n }, { SIMPLER_IN, SIMPLER_OUT }, 0 },
		{ "addto", -1, 2, { b, c }, { n, 4096 }, { SIMPLER_IN, SIMPLER_INOUT }, 0 },
		{ "addto", 0, 2, { c, a + n }, { 4096, 4096 }, { SIMPLER_IN, SIMPLER_INOUT }, 0 },
		{ 0 },
	};

	CHECK(a && b);
	/* c: 4096 u32 of inherited shared memory; the second half of a starts at 5 */
	for (i = 0; i < 4096; i++)
		c[i] = 3;
	for (i = 0; i < n; i++)
		a[n + i] = 5;
	CHECK_OK(simpler_host_register(w, a, 2 * n * 4, 0, &ha), w);
	CHECK_OK(simpler_host_register(w, b, n * 4, 0, &hb), w);
	CHECK_OK(simpler_run(w, orch_list, list), w);
	for (i = 0; i < n; i++) {
		CHECK_MSG(a[i] == 1000 + i, "a[%u] = %u", i, a[i]);
		CHECK_MSG(b[i] == 2 * (1000 + i), "b[%u] = %u", i, b[i]);
	}
	for (i = 0; i < 4096; i++) {
		CHECK_MSG(c[i] == 3 + 2 * (1000 + i), "c[%u] = %u", i, c[i]);
		CHECK_MSG(a[n + i] == 5 + c[i], "a[n + %u] = %u", i, a[n + i]);
	}
	/*
	 * shm copies in only what a task reads that no earlier task of the run
	 * wrote: the 4096 words of a's second half the last task adds to ("fill"
	 * wrote the first half, "double" all of b), and back what tasks wrote:
	 * a's first half and those 4096 words, and b.  kmod: nothing.
	 */
	want = !strcmp(simpler_worker_hostmem(w), "shm") ?
	       4096 * 4 + (n + 4096ULL) * 4 + n * 4ULL : 0;
	CHECK_EQ(copied(w) - before, want);
	printf("# %s backend copied %llu bytes\n", simpler_worker_hostmem(w),
	       (unsigned long long)(copied(w) - before));

	/* the host changes a between runs: the next run sees the change */
	for (i = 0; i < n; i++)
		a[i] = 1;
	CHECK_OK(run_one(w, (struct one){ "double", 1, 2, { a, b }, { n, n },
					  { SIMPLER_IN, SIMPLER_OUT }, 0 }), w);
	for (i = 0; i < n; i++)
		CHECK_MSG(b[i] == 2, "b[%u] = %u", i, b[i]);
	CHECK_OK(simpler_host_unregister(w, ha), w);
	CHECK_OK(simpler_host_unregister(w, hb), w);
	simpler_worker_destroy(w);
	free(a);
	free(b);
}

/*
 * A task reads a range an earlier task of the same run wrote half of: it
 * sees the earlier task's half and the application's other half (upstream's
 * memcpy backend refused this: "per-byte copy-in is not modelled").
 */
TEST(read_partly_overlapping_an_earlier_write_sees_both)
{
	struct simpler_worker *w = hm_worker(0);
	uint32_t *buf = malloc(200 * 4), *out = malloc(100 * 4), i;
	uint64_t h1, h2;
	struct one list[] = {
		{ "fill", 0, 1, { buf }, { 100 }, { SIMPLER_OUT }, 1000 },
		{ "double", 1, 2, { buf + 50, out }, { 100, 100 }, { SIMPLER_IN, SIMPLER_OUT }, 0 },
		{ 0 },
	};

	CHECK(buf && out);
	for (i = 0; i < 200; i++)
		buf[i] = 7;
	CHECK_OK(simpler_host_register(w, buf, 200 * 4, 0, &h1), w);
	CHECK_OK(simpler_host_register(w, out, 100 * 4, 0, &h2), w);
	CHECK_OK(simpler_run(w, orch_list, list), w);
	for (i = 0; i < 50; i++)
		CHECK_MSG(out[i] == 2 * (1000 + 50 + i), "out[%u] = %u", i, out[i]);
	for (i = 50; i < 100; i++)
		CHECK_MSG(out[i] == 14, "out[%u] = %u", i, out[i]);
	CHECK_EQ(buf[99], 1099);
	CHECK_EQ(buf[100], 7);
	CHECK_OK(simpler_host_unregister(w, h1), w);
	CHECK_OK(simpler_host_unregister(w, h2), w);
	simpler_worker_destroy(w);
	free(buf);
	free(out);
}

/* two small buffers on one page, registered apart: both work, and apart */
TEST(buffers_sharing_a_page)
{
	struct simpler_worker *w = hm_worker(0);
	uint32_t *page = aligned_alloc(4096, 4096), i;
	uint64_t h1, h2;

	CHECK(page);
	memset(page, 0, 4096);
	CHECK_OK(simpler_host_register(w, page, 256, 0, &h1), w);
	CHECK_OK(simpler_host_register(w, page + 512, 256, 0, &h2), w);
	CHECK_OK(run_one(w, (struct one){ "fill", 0, 1, { page }, { 64 }, { SIMPLER_OUT }, 10 }), w);
	CHECK_OK(simpler_host_unregister(w, h1), w);
	CHECK_OK(run_one(w, (struct one){ "fill", 1, 1, { page + 512 }, { 64 }, { SIMPLER_OUT },
					  20 }), w);
	for (i = 0; i < 64; i++) {
		CHECK_EQ(page[i], 10 + i);
		CHECK_EQ(page[512 + i], 20 + i);
	}
	CHECK_EQ(page[64], 0);
	expect_refused(w, page, 256, "");
	CHECK_OK(simpler_host_unregister(w, h2), w);
	simpler_worker_destroy(w);
	free(page);
}

/*
 * Buffers whose pages overlap without one holding the other: the kmod
 * backend replaces their registrations by the union (never while the run
 * in progress uses them); every buffer keeps working.
 */
static int orch_register_busy(struct simpler_orch *o, void *arg)
{
	char **p = arg;
	struct simpler_worker *w = simpler_orch_worker(o);
	struct one t = { "fill", 0, 1, { p[0] }, { 16 }, { SIMPLER_OUT }, 5 };
	uint64_t h;
	int r = submit_one(o, &t), busy;

	if (r < 0)
		return r;
	/* straddles pages of the buffer the run uses */
	busy = simpler_host_register(w, p[1], 2 * 4096, 0, &h);
	if (strcmp(simpler_worker_hostmem(w), "kmod"))	/* mirrors share no pages */
		return busy ? -EPROTO : simpler_host_unregister(w, h);
	return busy == -EBUSY && strstr(simpler_worker_errmsg(w), "run in progress") ? 0 : -EPROTO;
}

TEST(buffers_straddling_each_others_pages)
{
	struct simpler_worker *w = hm_worker(0);
	char *pages = aligned_alloc(4096, 4 * 4096), *p[2];
	uint32_t *a = (uint32_t *)(pages + 100), *b = (uint32_t *)(pages + 4096 + 200), i;
	uint64_t ha, hb, hc;

	CHECK(pages);
	memset(pages, 0, 4 * 4096);
	/* a: pages 0-1; b: pages 1-2 */
	CHECK_OK(simpler_host_register(w, a, 4096, 0, &ha), w);
	CHECK_OK(simpler_host_register(w, b, 4096, 0, &hb), w);
	/* between them, inside what is registered now */
	CHECK_OK(simpler_host_register(w, pages + 4200, 50, 0, &hc), w);
	CHECK_OK(run_one(w, (struct one){ "fill", 0, 1, { a }, { 1000 }, { SIMPLER_OUT }, 1 }), w);
	CHECK_OK(run_one(w, (struct one){ "fill", 1, 1, { b }, { 1000 }, { SIMPLER_OUT }, 2 }), w);
	for (i = 0; i < 1000; i++) {
		CHECK_EQ(a[i], 1 + i);
		CHECK_EQ(b[i], 2 + i);
	}
	CHECK_OK(simpler_host_unregister(w, ha), w);
	CHECK_OK(simpler_host_unregister(w, hc), w);
	CHECK_OK(run_one(w, (struct one){ "fill", 0, 1, { b }, { 1000 }, { SIMPLER_OUT }, 3 }), w);
	CHECK_EQ(b[999], 3 + 999);
	/* not while a run uses the pages it would take over */
	p[0] = (char *)b;
	p[1] = pages + 3 * 4096 - 100;
	CHECK_OK(simpler_run(w, orch_register_busy, p), w);
	CHECK_OK(simpler_host_unregister(w, hb), w);
	simpler_worker_destroy(w);
	free(pages);
}

/* drop CAP_IPC_LOCK from this thread, so RLIMIT_MEMLOCK holds for it even as root */
static int drop_ipc_lock(void)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];

	if (syscall(SYS_capget, &hdr, d))
		return -errno;
	d[CAP_IPC_LOCK / 32].effective &= ~(1U << (CAP_IPC_LOCK % 32));
	return syscall(SYS_capset, &hdr, d) ? -errno : 0;
}

/*
 * kmod: a buffer straddling another's pages replaces that registration by
 * the union; when simpler.ko refuses the union (here RLIMIT_MEMLOCK: two
 * pages fit, three do not), the registration it replaced comes back and
 * the buffer that used it keeps working.
 */
TEST(a_refused_union_leaves_the_straddled_buffer_working)
{
	struct simpler_worker *w = hm_worker(0);
	char *pages = aligned_alloc(4096, 4 * 4096);
	uint32_t *a = (uint32_t *)(pages + 100), i;
	struct rlimit rl = { 2 * 4096, 2 * 4096 };
	uint64_t ha, hb;

	CHECK(pages);
	if (strcmp(simpler_worker_hostmem(w), "kmod")) {
		simpler_worker_destroy(w);
		free(pages);
		SKIP("needs the kmod backend (runs in the VM)");
	}
	memset(pages, 0, 4 * 4096);
	CHECK_OK(simpler_host_register(w, a, 4096, 0, &ha), w);	/* pages 0-1 */
	CHECK_EQ(drop_ipc_lock(), 0);
	CHECK_EQ(setrlimit(RLIMIT_MEMLOCK, &rl), 0);
	CHECK_EQ(simpler_host_register(w, pages + 4096 + 200, 4096, 0, &hb), -ENOMEM);
	CHECK_MSG(strstr(simpler_worker_errmsg(w), "RLIMIT_MEMLOCK"), "%s",
		  simpler_worker_errmsg(w));
	CHECK_OK(run_one(w, (struct one){ "fill", 1, 1, { a }, { 1000 }, { SIMPLER_OUT }, 4 }), w);
	for (i = 0; i < 1000; i++)
		CHECK_EQ(a[i], 4 + i);
	CHECK_OK(simpler_host_unregister(w, ha), w);
	simpler_worker_destroy(w);
	free(pages);
}

static int orch_unregister_busy(struct simpler_orch *o, void *arg)
{
	uint64_t *h = arg;
	struct simpler_worker *w = simpler_orch_worker(o);
	struct one t = { "fill", 0, 1, { (void *)(uintptr_t)h[1] }, { 16 }, { SIMPLER_OUT }, 1 };
	int r = submit_one(o, &t);

	if (r < 0)
		return r;
	/* the run uses it: refused, and the run goes on */
	return simpler_host_unregister(w, h[0]) == -EBUSY ? 0 : -EPROTO;
}

TEST(unregister_during_a_run_that_uses_it_is_refused)
{
	struct simpler_worker *w = hm_worker(0);
	uint32_t *buf = malloc(64);
	uint64_t h[2];

	CHECK(buf);
	CHECK_OK(simpler_host_register(w, buf, 64, 0, &h[0]), w);
	h[1] = (uintptr_t)buf;
	CHECK_OK(simpler_run(w, orch_unregister_busy, h), w);
	CHECK_EQ(buf[3], 4);
	CHECK_OK(simpler_host_unregister(w, h[0]), w);
	simpler_worker_destroy(w);
	free(buf);
}

/*
 * A buffer at an address the chip process already uses (chip 0's memory
 * lives there): it cannot be mapped at the same address there, so the
 * kernel gets another address for the same bytes.
 */
TEST(buffer_at_an_address_taken_in_the_chip_is_translated)
{
	struct simpler_worker *w = hm_worker(0);
	uint64_t dev, h;
	uint64_t *p;

	if (is_threads(w))
		SKIP("chip memory and host memory are one address space in thread mode");
	CHECK_OK(simpler_malloc(w, 0, 4096, &dev), w);
	p = mmap((void *)(uintptr_t)dev, 4096, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	CHECK_MSG(p == (void *)(uintptr_t)dev, "cannot map host memory at 0x%llx: %s",
		  (unsigned long long)dev, strerror(errno));
	p[0] = 0x1234567890abcdefULL;
	CHECK_OK(simpler_host_register(w, p, 4096, 0, &h), w);
	CHECK_OK(run_one(w, (struct one){ "seen", 0, 1, { p }, { 2 }, { SIMPLER_IN }, 0 }), w);
	CHECK_EQ(seen[1], 0x1234567890abcdefULL);
	CHECK(seen[0] != (uintptr_t)p);
	printf("# host %p, chip 0 saw 0x%llx\n", (void *)p, (unsigned long long)seen[0]);
	CHECK_OK(simpler_host_unregister(w, h), w);
	munmap(p, 4096);
	simpler_worker_destroy(w);
}

/*
 * kmod: the chip maps the parent's pages at the parent's address when that
 * is free there.  The buffer sits where nothing of a chip process lives
 * (its own heap, stacks and chip memory could take a malloc()'s address).
 */
TEST(kmod_maps_at_the_same_address_and_copies_nothing)
{
	struct simpler_worker *w = hm_worker(0);
	uint64_t *p, h;

	if (strcmp(simpler_worker_hostmem(w), "kmod"))
		SKIP("the %s backend is in use: /dev/simpler is not loaded here (the VM runs "
		     "this with it)", simpler_worker_hostmem(w));
	p = mmap((void *)0x300000000000ULL, 1 << 20, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	CHECK_MSG(p == (void *)0x300000000000ULL, "mmap at 0x300000000000: %s", strerror(errno));
	p[0] = 42;
	CHECK_OK(simpler_host_register(w, p, 1 << 20, 0, &h), w);
	CHECK_OK(run_one(w, (struct one){ "seen", 0, 1, { p }, { 2 }, { SIMPLER_IN }, 0 }), w);
	CHECK_EQ(seen[0], (uintptr_t)p);
	CHECK_EQ(seen[1], 42);
	/* the chip's writes land in the application's pages, during the run */
	CHECK_OK(run_one(w, (struct one){ "fill", 1, 1, { p }, { 1024 }, { SIMPLER_OUT }, 9 }), w);
	CHECK_EQ(((uint32_t *)p)[1023], 9 + 1023);
	CHECK_EQ(copied(w), 0);
	CHECK_OK(simpler_host_unregister(w, h), w);
	simpler_worker_destroy(w);
	munmap(p, 1 << 20);
}

TEST(thread_mode_sees_everything)
{
	struct simpler_worker *w = hm_worker(SIMPLER_WORKER_THREADS);
	char *late = malloc(100);
	uint64_t h;

	CHECK(late);
	CHECK(is_threads(w));
	CHECK_OK(simpler_host_check(w, late, 100), w);
	CHECK_OK(simpler_host_register(w, late, 100, 0, &h), w);
	CHECK_EQ(simpler_host_register(w, late + 50, 100, 0, &h), -EEXIST);
	CHECK_OK(simpler_host_unregister(w, h), w);
	simpler_worker_destroy(w);
	free(late);
}

TEST_MAIN()
