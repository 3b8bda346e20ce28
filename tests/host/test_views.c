// SPDX-License-Identifier: MIT
/*
 * Strided views: what simpler_args_add_view() refuses and how it says so;
 * what a kernel sees (the first element's address, the shape, the strides
 * in elements, row-major ones for a plain tensor); dependencies that follow
 * the bytes a view's elements cover, not its span, so tiles of the same rows
 * run together while tiles sharing a column are ordered, and views order
 * against plain tensors over the same bytes; interleaved written views of one
 * task are fine, overlapping ones refused; views of chip memory.  The core is
 * random programs of views (tiles, panels, transposes, every other row or
 * column, 3-D blocks, other dtypes over the same bytes, plain tensors
 * between them) that must leave every byte as running them one by one in
 * submission order does.  Kernels address elements only through addr and
 * the strides they are given, never assuming contiguity.  A random failure
 * prints its seed; SIMPLER_SEED=<seed> replays one program.
 */
#include <inttypes.h>

#include "test_util.h"

/* ---- walking a view ---- */

/* one argument as a kernel or the reference walks it */
struct walk {
	uint8_t *first;
	uint32_t ndims, size;
	uint32_t shape[SIMPLER_MAX_DIMS];
	uint64_t strides[SIMPLER_MAX_DIMS];
};

static uint64_t walk_count(const struct walk *w)
{
	uint64_t n = 1;
	uint32_t d;

	for (d = 0; d < w->ndims; d++)
		n *= w->shape[d];
	return n;
}

/* element e, counting in row-major order over the shape, wherever the strides put it */
static uint8_t *walk_elem(const struct walk *w, uint64_t e)
{
	uint64_t off = 0;
	int d;

	for (d = (int)w->ndims - 1; d >= 0; d--) {
		off += e % w->shape[d] * w->strides[d];
		e /= w->shape[d];
	}
	return w->first + off * w->size;
}

/* a library without the strides field would leave it NULL: fail loudly, not segfault */
static int no_strides(const struct simpler_kernel_args *a)
{
	if (a->strides)
		return 0;
	simpler_kernel_errmsg(a, "simpler_kernel_args.strides is NULL: the runtime did not "
			      "pass strides");
	return 1;
}

/* tensor i as the runtime handed it to the kernel: nothing but addr, shape, dtype, strides */
static struct walk kernel_walk(const struct simpler_kernel_args *a, uint32_t i)
{
	const struct simpler_tensor *t = &a->tensors[i];
	struct walk w = { .first = (uint8_t *)(uintptr_t)t->addr, .ndims = t->ndims,
			  .size = simpler_dtype_size(t->dtype) };
	uint32_t d;

	for (d = 0; d < t->ndims && d < SIMPLER_MAX_DIMS; d++) {
		w.shape[d] = t->shape[d];
		w.strides[d] = simpler_kernel_stride(a, i, d);
	}
	return w;
}

static struct simpler_view mkview(const void *base, uint64_t offset, uint8_t dtype, uint32_t ndims,
				  const uint32_t *shape, const uint64_t *strides)
{
	struct simpler_view v;
	uint32_t d;

	memset(&v, 0, sizeof(v));
	v.t.addr = (uintptr_t)base;
	v.t.ndims = ndims;
	v.t.dtype = dtype;
	v.offset = offset;
	for (d = 0; d < ndims && d < SIMPLER_MAX_DIMS; d++) {
		v.t.shape[d] = shape[d];
		v.strides[d] = strides[d];
	}
	return v;
}

#define SHAPE(...) ((const uint32_t[]){ __VA_ARGS__ })
#define STRIDES(...) ((const uint64_t[]){ __VA_ARGS__ })

/* the transpose of the rows x cols tile at (row0, col0): shape {cols, rows}, strides {1, ld} */
static struct simpler_view view_t(const void *base, uint64_t ld, uint64_t row0, uint64_t col0,
				  uint32_t rows, uint32_t cols, uint8_t dtype)
{
	return mkview(base, row0 * ld + col0, dtype, 2, SHAPE(cols, rows), STRIDES(1, ld));
}

static int add_view(struct simpler_args *a, struct simpler_view v, enum simpler_access acc)
{
	return simpler_args_add_view(a, &v, acc);
}

static int add_tensor(struct simpler_args *a, struct simpler_tensor t, enum simpler_access acc)
{
	return simpler_args_add_tensor(a, &t, acc);
}

static int submit_on(struct simpler_orch *o, int cid, struct simpler_args *a, int chip)
{
	SIMPLER_OPTS(simpler_submit_opts, so, .worker = chip);

	return simpler_submit(o, cid, a, &so);
}

/* does msg contain one of the '|'-separated words? */
static int names(const char *msg, const char *words)
{
	char buf[128], *w, *save = NULL;

	snprintf(buf, sizeof(buf), "%s", words);
	for (w = strtok_r(buf, "|", &save); w; w = strtok_r(NULL, "|", &save))
		if (strstr(msg, w))
			return 1;
	return 0;
}

static uint64_t edges(struct simpler_worker *w)
{
	struct simpler_stats s = { .sz = sizeof(s) };

	simpler_worker_stats(w, &s);
	return s.edges;
}

/* ---- 1: validation ---- */

SHARED_ARRAY(float, vmem, 12 * 10)
SHARED_ARRAY(_Atomic int, count_runs_, 1)
#define count_runs (*count_runs_)

static int k_count(const struct simpler_kernel_args *a)
{
	atomic_fetch_add_explicit(&count_runs, 1, memory_order_relaxed);
	return 0;
}

/* add_view(v) must fail with err, leave the args as they were and name the problem */
static void refused(struct simpler_args *a, const char *what, struct simpler_view v,
		    enum simpler_access acc, int err, const char *words)
{
	int n = simpler_args_nr_tensors(a), r = simpler_args_add_view(a, &v, acc);
	const char *msg = simpler_last_errmsg();

	CHECK_MSG(r == err, "%s: simpler_args_add_view returned %d, expected %d (message: %s)",
		  what, r, err, msg);
	CHECK_MSG(strstr(msg, "simpler_args_add_view"), "%s: the message does not name the call: "
		  "'%s'", what, msg);
	CHECK_MSG(names(msg, words), "%s: the message does not say '%s': '%s'", what, words, msg);
	CHECK_MSG(simpler_args_nr_tensors(a) == n, "%s: a refused view was added", what);
}

struct poison {
	int bad, twice, again, reset, big, big_submit;
	char msg[512], big_msg[512];
};

static int orch_poison(struct simpler_orch *o, void *arg)
{
	struct poison *p = arg;
	struct simpler_worker *w = simpler_orch_worker(o);
	struct simpler_args *a = simpler_args_new();
	struct simpler_view good = simpler_view_2d(vmem, 10, 2, 3, 4, 5, SIMPLER_F32), bad = good;
	int i, cid = simpler_callable(w, "count");

	bad.strides[1] = 0;
	add_tensor(a, t1d(vmem, 8, SIMPLER_F32), SIMPLER_IN);
	p->bad = add_view(a, bad, SIMPLER_INOUT);
	simpler_args_add_scalar(a, 1);
	p->twice = simpler_submit(o, cid, a, NULL);
	snprintf(p->msg, sizeof(p->msg), "%s", simpler_worker_errmsg(w));
	/* later good adds do not clear it */
	add_view(a, good, SIMPLER_IN);
	p->again = simpler_submit(o, cid, a, NULL);
	simpler_args_reset(a);
	add_view(a, good, SIMPLER_INOUT);
	p->reset = simpler_submit(o, cid, a, NULL);

	/* the 257th argument, a view, is refused and remembered the same way */
	simpler_args_reset(a);
	for (i = 0; i < SIMPLER_MAX_TENSORS; i++)
		add_view(a, simpler_view_2d(vmem, 10, 0, (uint64_t)i % 10, 1, 1, SIMPLER_F32),
			 SIMPLER_IN);
	p->big = add_view(a, good, SIMPLER_IN);
	p->big_submit = simpler_submit(o, cid, a, NULL);
	snprintf(p->big_msg, sizeof(p->big_msg), "%s", simpler_worker_errmsg(w));
	simpler_args_free(a);
	return 0;
}

TEST(views_are_validated_with_a_message)
{
	struct simpler_args *a = simpler_args_new();
	/* validation never touches the memory: any address will do */
	void *base = (void *)(uintptr_t)0x100000;
	struct simpler_view good = simpler_view_2d(base, 10, 2, 3, 4, 5, SIMPLER_F32), v;
	struct simpler_tensor t = t1d(base, 4, SIMPLER_F32);
	struct simpler_worker *w;
	struct poison p;
	int i;

	/* what simpler_view_2d() builds: the tile's first element is at (2 * 10 + 3) * 4 */
	CHECK_EQ(good.t.addr + good.offset * 4, (uintptr_t)base + (2 * 10 + 3) * 4);
	CHECK_EQ(good.t.ndims, 2);
	CHECK_EQ(good.t.shape[0], 4);
	CHECK_EQ(good.t.shape[1], 5);
	CHECK_EQ(good.t.shape[2] | good.t.shape[3] | good.t.shape[4], 0);
	CHECK_EQ(good.strides[0], 10);
	CHECK_EQ(good.strides[1], 1);
	CHECK_EQ(good.strides[2] | good.strides[3] | good.strides[4], 0);
	CHECK_EQ(good.t.dtype, SIMPLER_F32);
	CHECK_EQ(good.t.child_memory, 0);
	for (i = 0; i < 6; i++)
		CHECK_EQ(good.t.reserved[i], 0);

	/* spans: from the first element to the end of the last */
	CHECK_EQ(simpler_view_span(&good), ((4 - 1) * 10 + 5) * 4);
	v = view_t(base, 10, 2, 3, 4, 5, SIMPLER_F32);
	CHECK_EQ(simpler_view_span(&v), ((5 - 1) * 1 + (4 - 1) * 10 + 1) * 4);
	v = simpler_view_2d(base, 10, 7, 9, 1, 1, SIMPLER_F64);
	CHECK_EQ(simpler_view_span(&v), 8);
	v = mkview(base, 41, SIMPLER_U16, 3, SHAPE(2, 3, 4), STRIDES(30, 5, 1));
	CHECK_EQ(simpler_view_span(&v), (1 * 30 + 2 * 5 + 3 + 1) * 2);
	/* every other column */
	v = mkview(base, 0, SIMPLER_U8, 2, SHAPE(3, 4), STRIDES(40, 2));
	CHECK_EQ(simpler_view_span(&v), 2 * 40 + 3 * 2 + 1);
	v = good;
	v.t.ndims = 0;
	CHECK_EQ(simpler_view_span(&v), 0);
	v = good;
	v.strides[0] = 0;
	CHECK_EQ(simpler_view_span(&v), 0);
	v = good;
	v.t.dtype = 99;
	CHECK_EQ(simpler_view_span(&v), 0);
	v = good;
	v.t.shape[0] = v.t.shape[1] = 0xffffffffu;
	v.strides[0] = 1ULL << 40;
	CHECK_EQ(simpler_view_span(&v), 0);

	CHECK_EQ(simpler_args_add_view(a, &good, SIMPLER_IN), 0);

	v = good;
	v.t.ndims = 0;
	v.t.shape[0] = v.t.shape[1] = 0;
	v.strides[0] = v.strides[1] = 0;
	refused(a, "ndims 0", v, SIMPLER_IN, -EINVAL, "ndims");
	v = good;
	v.t.ndims = 6;
	refused(a, "ndims 6", v, SIMPLER_IN, -EINVAL, "ndims");
	v = good;
	v.t.shape[1] = 0;
	refused(a, "a zero shape in a used dim", v, SIMPLER_IN, -EINVAL, "shape");
	v = good;
	v.strides[0] = 0;
	refused(a, "a zero stride in a used dim", v, SIMPLER_OUT, -EINVAL, "stride");
	v = good;
	v.strides[3] = 1;
	refused(a, "a stride past ndims", v, SIMPLER_IN, -EINVAL, "stride");
	v = good;
	v.t.shape[2] = 2;
	refused(a, "a shape past ndims", v, SIMPLER_IN, -EINVAL, "shape");
	v = good;
	v.t.dtype = 99;
	refused(a, "an unknown dtype", v, SIMPLER_IN, -EINVAL, "dtype");
	v = good;
	v.t.reserved[5] = 1;
	refused(a, "reserved bytes", v, SIMPLER_IN, -EINVAL, "reserved");
	v = good;
	v.t.child_memory = 2;
	refused(a, "child_memory 2", v, SIMPLER_IN, -EINVAL, "child_memory");
	refused(a, "an unknown access", good, (enum simpler_access)5, -EINVAL, "access");
	v = good;
	v.t.shape[0] = v.t.shape[1] = 0xffffffffu;
	v.strides[0] = 1ULL << 40;	/* (2^32 - 1) * 2^40 elements */
	refused(a, "an extent overflowing in elements", v, SIMPLER_IN, -EINVAL, "overflow|wrap");
	v = mkview(base, 0, SIMPLER_F64, 1, SHAPE(2), STRIDES(1ULL << 62));
	refused(a, "an extent overflowing in bytes", v, SIMPLER_IN, -EINVAL, "overflow|wrap");
	v = mkview((void *)(uintptr_t)(~0ULL - 4095), 0, SIMPLER_F32, 2, SHAPE(2, 1000),
		   STRIDES(1000, 1));
	refused(a, "an address that wraps", v, SIMPLER_IN, -EINVAL, "overflow|wrap");
	/* offset * 4 is 2^64: wrapped, the first element would land back on base */
	v = mkview(base, 1ULL << 62, SIMPLER_F32, 1, SHAPE(4), STRIDES(1));
	refused(a, "an offset that wraps", v, SIMPLER_IN, -EINVAL, "overflow|wrap");
	CHECK_EQ(simpler_args_add_view(a, NULL, SIMPLER_IN), -EINVAL);
	CHECK_EQ(simpler_args_add_view(NULL, &good, SIMPLER_IN), -EINVAL);
	CHECK_EQ(simpler_args_nr_tensors(a), 1);

	/* 256 tensors and views together, then neither */
	simpler_args_reset(a);
	for (i = 0; i < SIMPLER_MAX_TENSORS; i++)
		CHECK_EQ(i % 2 ? simpler_args_add_view(a, &good, SIMPLER_IN)
			       : simpler_args_add_tensor(a, &t, SIMPLER_IN), i);
	CHECK_EQ(simpler_args_add_view(a, &good, SIMPLER_IN), -E2BIG);
	CHECK_MSG(strstr(simpler_last_errmsg(), "simpler_args_add_view") &&
		  strstr(simpler_last_errmsg(), "256"), "%s", simpler_last_errmsg());
	CHECK_EQ(simpler_args_add_tensor(a, &t, SIMPLER_IN), -E2BIG);
	CHECK_EQ(simpler_args_nr_tensors(a), SIMPLER_MAX_TENSORS);
	simpler_args_free(a);

	/* a refused view fails the submit until a reset, like a refused tensor */
	w = make_worker(1, 0, 0, 0);
	CHECK(simpler_register(w, "count", k_count) >= 0);
	memset(&p, 0, sizeof(p));
	CHECK_OK(simpler_run(w, orch_poison, &p), w);
	CHECK_EQ(p.bad, -EINVAL);
	CHECK_EQ(p.twice, -EINVAL);
	CHECK_MSG(strstr(p.msg, "refused") && strstr(p.msg, "simpler_args_add_view") &&
		  strstr(p.msg, "stride"), "%s", p.msg);
	CHECK_EQ(p.again, -EINVAL);
	CHECK_MSG(p.reset >= 0, "the submit after simpler_args_reset(): %d", p.reset);
	CHECK_EQ(p.big, -E2BIG);
	CHECK_MSG(p.big_submit < 0 && strstr(p.big_msg, "refused"),
		  "submit after a 257th view: %d: %s", p.big_submit, p.big_msg);
	CHECK_EQ(atomic_load(&count_runs), 1);	/* only the submit after the reset ran */
	simpler_worker_destroy(w);
}

/* ---- 2: what a kernel sees ---- */

#define REC_MAX 11

struct rec {
	uint64_t addr, ndims, dtype, shape[SIMPLER_MAX_DIMS], strides[SIMPLER_MAX_DIMS];
};

SHARED_ARRAY(struct rec, recs, REC_MAX)
SHARED_ARRAY(uint64_t, rec_n, 1)
SHARED_ARRAY(float, mat, 12 * 10)
SHARED_ARRAY(double, cube, 4 * 6 * 5)

static int k_record(const struct simpler_kernel_args *a)
{
	uint32_t i, d;

	if (no_strides(a))
		return -ENOSYS;
	rec_n[0] = a->nr_tensors;
	for (i = 0; i < a->nr_tensors && i < REC_MAX; i++) {
		recs[i].addr = a->tensors[i].addr;
		recs[i].ndims = a->tensors[i].ndims;
		recs[i].dtype = a->tensors[i].dtype;
		for (d = 0; d < SIMPLER_MAX_DIMS; d++) {
			recs[i].shape[d] = a->tensors[i].shape[d];
			recs[i].strides[d] = simpler_kernel_stride(a, i, d);
		}
	}
	return 0;
}

static void expect_rec(int i, uint64_t addr, uint8_t dtype, uint32_t ndims, const uint32_t *shape,
		       const uint64_t *strides)
{
	const struct rec *r = &recs[i];
	uint32_t d;

	CHECK_MSG(r->addr == addr, "tensor %d: addr 0x%" PRIx64 ", expected 0x%" PRIx64
		  " (%+" PRId64 " bytes)", i, r->addr, addr, (int64_t)(r->addr - addr));
	CHECK_MSG(r->ndims == ndims, "tensor %d: ndims %" PRIu64 ", expected %u", i, r->ndims,
		  ndims);
	CHECK_MSG(r->dtype == dtype, "tensor %d: dtype %" PRIu64 ", expected %u", i, r->dtype,
		  dtype);
	for (d = 0; d < SIMPLER_MAX_DIMS; d++) {
		uint64_t sh = d < ndims ? shape[d] : 0, st = d < ndims ? strides[d] : 0;

		CHECK_MSG(r->shape[d] == sh, "tensor %d: shape[%u] %" PRIu64 ", expected %" PRIu64,
			  i, d, r->shape[d], sh);
		CHECK_MSG(r->strides[d] == st, "tensor %d: stride %u is %" PRIu64 ", expected %"
			  PRIu64, i, d, r->strides[d], st);
	}
}

static int orch_record(struct simpler_orch *o, void *arg)
{
	struct simpler_args *a = simpler_args_new();
	struct simpler_tensor t;
	struct simpler_view v;
	int r, cid = simpler_callable(simpler_orch_worker(o), "record");

	t = t1d(mat, 42, SIMPLER_F32);
	t.ndims = 2;
	t.shape[0] = 6;
	t.shape[1] = 7;
	add_tensor(a, t, SIMPLER_IN);				/* 0: plain 2-D */
	t = t1d(cube, 4, SIMPLER_F64);
	t.ndims = 3;
	t.shape[0] = 4;
	t.shape[1] = 6;
	t.shape[2] = 5;
	add_tensor(a, t, SIMPLER_IN);				/* 1: plain 3-D */
	add_tensor(a, t1d(&mat[50], 9, SIMPLER_F32), SIMPLER_IN);	/* 2: plain 1-D */
	/* 3: a tile; 4: its transpose */
	add_view(a, simpler_view_2d(mat, 10, 2, 3, 4, 5, SIMPLER_F32), SIMPLER_IN);
	add_view(a, view_t(mat, 10, 2, 3, 4, 5, SIMPLER_F32), SIMPLER_IN);
	add_view(a, mkview(cube, 1 * 30 + 2 * 5 + 1, SIMPLER_F64, 3, SHAPE(2, 3, 4),
			   STRIDES(30, 5, 1)), SIMPLER_IN);	/* 5: a 3-D block */
	/* 6: t.addr is not the array's start, and the dims are permuted */
	add_view(a, mkview(&cube[3], 7, SIMPLER_F64, 3, SHAPE(5, 2, 3), STRIDES(1, 5, 30)),
		 SIMPLER_IN);
	/* 7: 1x1, one contiguous row-major block: a plain tensor, row-major strides */
	add_view(a, simpler_view_2d(mat, 10, 11, 9, 1, 1, SIMPLER_F32), SIMPLER_IN);
	/* 8: every other row from byte 8, as bytes */
	v = mkview(mat, 8, SIMPLER_U8, 2, SHAPE(6, 40), STRIDES(80, 1));
	add_view(a, v, SIMPLER_IN);
	/* 9: one column of a 5-D view, strides not in any order */
	add_view(a, mkview(cube, 2, SIMPLER_F64, 5, SHAPE(2, 1, 3, 1, 2), STRIDES(60, 7, 5, 1, 30)),
		 SIMPLER_IN);
	/* 10: one row of a tile: contiguous too */
	add_view(a, simpler_view_2d(mat, 10, 4, 2, 1, 6, SIMPLER_F32), SIMPLER_IN);
	r = submit_on(o, cid, a, 0);
	simpler_args_free(a);
	return r < 0 ? r : 0;
}

TEST(kernels_see_first_element_shape_and_strides)
{
	struct simpler_worker *w = make_worker(1, 0, 0, 0);
	uint64_t m = (uintptr_t)mat, c = (uintptr_t)cube;

	CHECK(simpler_register(w, "record", k_record) >= 0);
	CHECK_OK(simpler_run(w, orch_record, NULL), w);
	CHECK_EQ(rec_n[0], 11);
	expect_rec(0, m, SIMPLER_F32, 2, SHAPE(6, 7), STRIDES(7, 1));
	expect_rec(1, c, SIMPLER_F64, 3, SHAPE(4, 6, 5), STRIDES(30, 5, 1));
	expect_rec(2, m + 50 * 4, SIMPLER_F32, 1, SHAPE(9), STRIDES(1));
	expect_rec(3, m + (2 * 10 + 3) * 4, SIMPLER_F32, 2, SHAPE(4, 5), STRIDES(10, 1));
	expect_rec(4, m + (2 * 10 + 3) * 4, SIMPLER_F32, 2, SHAPE(5, 4), STRIDES(1, 10));
	expect_rec(5, c + 41 * 8, SIMPLER_F64, 3, SHAPE(2, 3, 4), STRIDES(30, 5, 1));
	expect_rec(6, c + 10 * 8, SIMPLER_F64, 3, SHAPE(5, 2, 3), STRIDES(1, 5, 30));
	expect_rec(7, m + (11 * 10 + 9) * 4, SIMPLER_F32, 2, SHAPE(1, 1), STRIDES(1, 1));
	expect_rec(8, m + 8, SIMPLER_U8, 2, SHAPE(6, 40), STRIDES(80, 1));
	expect_rec(9, c + 2 * 8, SIMPLER_F64, 5, SHAPE(2, 1, 3, 1, 2), STRIDES(60, 7, 5, 1, 30));
	expect_rec(10, m + (4 * 10 + 2) * 4, SIMPLER_F32, 2, SHAPE(1, 6), STRIDES(6, 1));
	simpler_worker_destroy(w);
}

/* ---- 3, 8, 9: tile sweeps ---- */

/* noinline: the kernel and the reference round the same operations the same way */
static __attribute__((noinline)) float axpb(float x, float a, float b)
{
	return x * a + b;
}

static __attribute__((noinline)) float combine(float c, float x, float y)
{
	return c * 0.5f + x - 0.25f * y;
}

static float f_of(uint64_t bits)
{
	uint32_t u = (uint32_t)bits;
	float f;

	memcpy(&f, &u, sizeof(f));
	return f;
}

static uint64_t bits_of(float f)
{
	uint32_t u;

	memcpy(&u, &f, sizeof(u));
	return u;
}

static int bad_shape(const struct simpler_kernel_args *a, uint32_t i, uint64_t n)
{
	if (a->tensors[i].dtype == SIMPLER_F32 && a->tensors[i].ndims == 2 &&
	    (uint64_t)a->tensors[i].shape[0] * a->tensors[i].shape[1] == n)
		return 0;
	simpler_kernel_errmsg(a, "tensor %u: not the %" PRIu64 "-element F32 tile expected", i, n);
	return 1;
}

/* tensor 0 (INOUT): x = x * a + b elementwise; scalars: a, b as float bits */
static int k_axpb(const struct simpler_kernel_args *a)
{
	struct walk w;
	uint64_t e, n;
	float x;

	if (no_strides(a))
		return -ENOSYS;
	w = kernel_walk(a, 0);
	n = walk_count(&w);
	for (e = 0; e < n; e++) {
		uint8_t *p = walk_elem(&w, e);

		memcpy(&x, p, sizeof(x));
		x = axpb(x, f_of(a->scalars[0]), f_of(a->scalars[1]));
		memcpy(p, &x, sizeof(x));
	}
	return 0;
}

/* tensor 2 (INOUT) = combine(tensor 2, tensor 0, tensor 1) elementwise */
static int k_combine(const struct simpler_kernel_args *a)
{
	struct walk x, y, c;
	uint64_t e, n;
	float fx, fy, fc;

	if (no_strides(a))
		return -ENOSYS;
	x = kernel_walk(a, 0);
	y = kernel_walk(a, 1);
	c = kernel_walk(a, 2);
	n = walk_count(&c);
	if (bad_shape(a, 0, n) || bad_shape(a, 1, n) || bad_shape(a, 2, n))
		return -EINVAL;
	for (e = 0; e < n; e++) {
		memcpy(&fx, walk_elem(&x, e), 4);
		memcpy(&fy, walk_elem(&y, e), 4);
		memcpy(&fc, walk_elem(&c, e), 4);
		fc = combine(fc, fx, fy);
		memcpy(walk_elem(&c, e), &fc, 4);
	}
	return 0;
}

struct sweep {
	uint64_t m, m2;		/* n x n row-major F32: host pointers, or chip addresses */
	uint32_t n, tile, rounds;
	int child, chip;	/* child_memory views on chip; else chips chosen per task */
	int nchips;
	int tasks;
};

static float sweep_a(uint32_t round)
{
	return 0.75f + 0.125f * (float)round;
}

static float sweep_b(uint32_t round, uint32_t i, uint32_t j)
{
	return 0.25f * ((float)i - (float)j) + (float)round;
}

/*
 * Each round: every tile of m goes through axpb; then tile (i, j) of m2
 * combines with tile (i, j) of m and the transpose of tile (j, i) of m.
 * The next round's axpb on a tile must wait for both readers of it.
 */
static int orch_sweep(struct simpler_orch *o, void *arg)
{
	struct sweep *s = arg;
	struct simpler_worker *w = simpler_orch_worker(o);
	struct simpler_args *a = simpler_args_new();
	int kx = simpler_callable(w, "axpb"), kc = simpler_callable(w, "combine");
	const void *m = (const void *)(uintptr_t)s->m, *m2 = (const void *)(uintptr_t)s->m2;
	uint32_t r, i, j, nt = s->n / s->tile, T = s->tile, any = (uint32_t)s->nchips + 1;
	struct simpler_view v;
	int ret = 0, chip;

	for (r = 0; r < s->rounds && ret >= 0; r++) {
		for (i = 0; i < nt && ret >= 0; i++) {
			for (j = 0; j < nt && ret >= 0; j++) {
				chip = s->child ? s->chip : (int)((i * nt + j + r) % any) - 1;
				simpler_args_reset(a);
				v = simpler_view_2d(m, s->n, i * T, j * T, T, T, SIMPLER_F32);
				v.t.child_memory = (uint8_t)s->child;
				add_view(a, v, SIMPLER_INOUT);
				simpler_args_add_scalar(a, bits_of(sweep_a(r)));
				simpler_args_add_scalar(a, bits_of(sweep_b(r, i, j)));
				ret = submit_on(o, kx, a, chip);
				s->tasks++;
			}
		}
		for (i = 0; i < nt && ret >= 0; i++) {
			for (j = 0; j < nt && ret >= 0; j++) {
				chip = s->child ? s->chip : (int)((i + 3 * j + r) % any) - 1;
				simpler_args_reset(a);
				v = simpler_view_2d(m, s->n, i * T, j * T, T, T, SIMPLER_F32);
				v.t.child_memory = (uint8_t)s->child;
				add_view(a, v, SIMPLER_IN);
				v = view_t(m, s->n, j * T, i * T, T, T, SIMPLER_F32);
				v.t.child_memory = (uint8_t)s->child;
				add_view(a, v, SIMPLER_IN);
				v = simpler_view_2d(m2, s->n, i * T, j * T, T, T, SIMPLER_F32);
				v.t.child_memory = (uint8_t)s->child;
				add_view(a, v, SIMPLER_INOUT);
				ret = submit_on(o, kc, a, chip);
				s->tasks++;
			}
		}
	}
	simpler_args_free(a);
	return ret < 0 ? ret : 0;
}

/* the same, one tile at a time, with plain row-major indexing (no strides) */
static void sweep_reference(float *m, float *m2, uint32_t n, uint32_t T, uint32_t rounds)
{
	uint32_t r, i, j, y, x, nt = n / T;

	for (r = 0; r < rounds; r++) {
		for (i = 0; i < nt; i++)
			for (j = 0; j < nt; j++)
				for (y = 0; y < T; y++)
					for (x = 0; x < T; x++) {
						float *p = &m[(i * T + y) * n + j * T + x];

						*p = axpb(*p, sweep_a(r), sweep_b(r, i, j));
					}
		for (i = 0; i < nt; i++)
			for (j = 0; j < nt; j++)
				for (y = 0; y < T; y++)
					for (x = 0; x < T; x++) {
						float *c = &m2[(i * T + y) * n + j * T + x];

						/* element (y, x) of the transpose of tile (j, i) */
						*c = combine(*c, m[(i * T + y) * n + j * T + x],
							     m[(j * T + x) * n + i * T + y]);
					}
	}
}

static void sweep_init(float *m, float *m2, uint32_t n)
{
	uint32_t k;

	for (k = 0; k < n * n; k++) {
		m[k] = (float)((k * 37) % 101) * 0.125f;
		m2[k] = (float)(k % 13) * 0.5f;
	}
}

static void sweep_compare(const char *what, const float *got, const float *want, uint32_t n)
{
	uint32_t k;

	for (k = 0; k < n * n; k++)
		CHECK_MSG(!memcmp(&got[k], &want[k], 4), "%s: element (%u, %u) is %a, the "
			  "sequential run gives %a", what, k / n, k % n, (double)got[k],
			  (double)want[k]);
}

SHARED_ARRAY(float, big, 96 * 96)
SHARED_ARRAY(float, big2, 96 * 96)

static void host_sweep(unsigned flags)
{
	static float ref[96 * 96], ref2[96 * 96];
	struct simpler_worker *w = make_worker(4, 0, flags, 0);
	struct sweep s = { .m = (uintptr_t)big, .m2 = (uintptr_t)big2, .n = 96, .tile = 16,
			   .rounds = 4, .nchips = 4 };

	CHECK(simpler_register(w, "axpb", k_axpb) >= 0);
	CHECK(simpler_register(w, "combine", k_combine) >= 0);
	sweep_init(big, big2, 96);
	sweep_init(ref, ref2, 96);
	CHECK_OK(simpler_run(w, orch_sweep, &s), w);
	sweep_reference(ref, ref2, 96, 16, 4);
	sweep_compare("matrix", big, ref, 96);
	sweep_compare("second matrix", big2, ref2, 96);
	printf("# %d tile tasks, %" PRIu64 " edges\n", s.tasks, edges(w));
	simpler_worker_destroy(w);
}

TEST(tile_views_of_one_matrix_compute_like_sequential)
{
	host_sweep(0);
}

/*
 * Staged, a written view must come back element by element: copying its
 * span back would overwrite the tiles beside it that other chips wrote.
 */
TEST(tile_views_compute_like_sequential_in_staging_mode)
{
	host_sweep(SIMPLER_WORKER_STAGING);
}

/* ---- 4: random programs of views ---- */

#define NREG 3
#define MAXT 48
#define MAXA 4
#define PRIVB 64
#define PRIV_OFF 3392
#define ARENA (PRIV_OFF + MAXT * PRIVB)
/* the sanitizers make a program some ten times slower: fewer of them, of the same kinds */
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
#define NPROG 100
#else
#define NPROG 300
#endif

/* three matrices back to back, then each task's private bytes (its NO_DEP arguments) */
static const struct {
	uint32_t off, bytes;
} regions[NREG] = { { 0, 480 }, { 480, 1920 }, { 2400, 960 } };

/* ways to see each matrix: the first is its own, the others reinterpret the bytes */
static const struct interp {
	uint8_t dtype;
	uint32_t rows, ld;
} interps[NREG + 1][4] = {
	{ { SIMPLER_U8, 24, 20 }, { SIMPLER_F32, 24, 5 }, { SIMPLER_F64, 12, 5 },
	  { SIMPLER_U16, 24, 10 } },
	{ { SIMPLER_F32, 24, 20 }, { SIMPLER_U8, 24, 80 }, { SIMPLER_F64, 24, 10 },
	  { SIMPLER_U16, 48, 20 } },
	{ { SIMPLER_F64, 12, 10 }, { SIMPLER_U8, 24, 40 }, { SIMPLER_F32, 24, 10 },
	  { SIMPLER_U32, 12, 20 } },
	{ { SIMPLER_U8, 8, 8 } },	/* private bytes */
};

SHARED_ARRAY(uint8_t, arena, ARENA)	/* what the runtime computes */
SHARED_ARRAY(_Atomic int, mix_ran, MAXT)
static uint8_t ref_arena[ARENA];	/* the sequential reference */

struct rarg {
	int region;		/* 0..NREG-1, or NREG: the task's private bytes */
	int mode;
	int tensor;		/* passed as a plain tensor, not a view */
	int kind;
	int aliases;		/* two of its elements share a byte: only ever read */
	uint8_t dtype;
	uint32_t ndims, shape[SIMPLER_MAX_DIMS];
	uint64_t strides[SIMPLER_MAX_DIMS];
	uint64_t offset;	/* elements from the region's start to the first element */
	uint64_t split;		/* t.addr's share of offset, the view's the rest */
};

struct rtask {
	int nargs, chip, bad;
	struct rarg arg[MAXA];
};

struct program {
	uint64_t seed;
	int ntasks, cid;
	struct rtask t[MAXT];
	int got[MAXT];		/* what submit returned */
	char msg[MAXT][160];	/* and said, for the refused ones */
};

static uint64_t mix(uint64_t h, uint64_t v)
{
	h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
	return h * 0xff51afd7ed558ccdULL;
}

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static int reads(int mode)
{
	return mode == SIMPLER_IN || mode == SIMPLER_INOUT || mode == SIMPLER_NO_DEP;
}

static int writes(int mode)
{
	return mode != SIMPLER_IN;
}

/*
 * The deterministic function: every byte of every element read (arguments
 * in order, elements in row-major order over the shape) and the task id
 * hash into h, then every element written gets bytes from h and its place.
 * A missing edge, a wrong stride or a byte written outside a view changes
 * the result.
 */
static void compute(uint64_t id, uint32_t n, const struct walk *w, const uint8_t *mode)
{
	uint64_t h = mix(0, id), e, cnt;
	uint32_t i, k;
	uint8_t *p;

	for (i = 0; i < n; i++) {
		if (!reads(mode[i]))
			continue;
		cnt = walk_count(&w[i]);
		for (e = 0; e < cnt; e++)
			for (p = walk_elem(&w[i], e), k = 0; k < w[i].size; k++)
				h = mix(h, p[k]);
	}
	for (i = 0; i < n; i++) {
		if (!writes(mode[i]))
			continue;
		cnt = walk_count(&w[i]);
		for (e = 0; e < cnt; e++)
			for (p = walk_elem(&w[i], e), k = 0; k < w[i].size; k++)
				p[k] = (uint8_t)(mix(h, (uint64_t)i << 48 | e << 4 | k) >> 56);
	}
}

static int k_mixv(const struct simpler_kernel_args *a)
{
	struct walk w[MAXA];
	uint8_t mode[MAXA];
	volatile unsigned spin;
	uint32_t i;

	if (no_strides(a))
		return -ENOSYS;
	if (a->nr_tensors > MAXA || a->nr_scalars != 1 + a->nr_tensors) {
		simpler_kernel_errmsg(a, "%u tensors and %u scalars", a->nr_tensors, a->nr_scalars);
		return -EINVAL;
	}
	for (i = 0; i < a->nr_tensors; i++) {
		w[i] = kernel_walk(a, i);
		mode[i] = (uint8_t)a->scalars[1 + i];
	}
	/* perturb the timing a little, differently per task */
	for (spin = 0; spin < (a->scalars[0] * 7919) % 3000; spin++)
		;
	compute(a->scalars[0], a->nr_tensors, w, mode);
	if (a->scalars[0] < MAXT)
		atomic_store_explicit(&mix_ran[a->scalars[0]], 1, memory_order_relaxed);
	return 0;
}

static uint32_t region_off(int region, int task)
{
	return region < NREG ? regions[region].off : PRIV_OFF + (uint32_t)task * PRIVB;
}

static uint32_t region_bytes(int region)
{
	return region < NREG ? regions[region].bytes : PRIVB;
}

static struct walk rarg_walk(const struct rarg *r, uint8_t *mem, int task)
{
	struct walk w = { .ndims = r->ndims, .size = simpler_dtype_size(r->dtype) };
	uint32_t d;

	w.first = mem + region_off(r->region, task) + r->offset * w.size;
	for (d = 0; d < r->ndims; d++) {
		w.shape[d] = r->shape[d];
		w.strides[d] = r->strides[d];
	}
	return w;
}

/* where element e of r is, in bytes from its region's start */
static uint64_t rarg_byte(const struct rarg *r, const struct walk *w, uint64_t e)
{
	return (uint64_t)(walk_elem(w, e) - (ref_arena + region_off(r->region, 0)));
}

/* the bytes of its region an argument's elements cover; does it cover one twice? */
static int cover(const struct rarg *r, uint8_t *map)
{
	struct walk w = rarg_walk(r, ref_arena, 0);
	uint64_t e, b, n = walk_count(&w);
	int twice = 0;

	memset(map, 0, regions[1].bytes);
	for (e = 0; e < n; e++) {
		for (b = rarg_byte(r, &w, e); b < rarg_byte(r, &w, e) + w.size; b++) {
			twice |= map[b];
			map[b] = 1;
		}
	}
	return twice;
}

static int maps_meet(const uint8_t *x, const uint8_t *y)
{
	uint32_t b;

	for (b = 0; b < regions[1].bytes; b++)
		if (x[b] && y[b])
			return 1;
	return 0;
}

static const char *const kind_names[] = {
	"tile", "row panel", "column panel", "transposed tile", "every other row",
	"every other column", "column vector", "3-D blocks", "1-D tensor", "2-D tensor",
	"any strides", "overlapping bytes", "the same view again",
};

/* a random argument over one way of seeing region */
static void gen_arg(uint64_t *s, struct rarg *r, int region, const struct interp *in)
{
	uint32_t R = in->rows, C = in->ld, r0, c0, h, w, k, gap, nb, d;
	uint64_t ext;

	memset(r, 0, sizeof(*r));
	r->region = region;
	r->dtype = in->dtype;
	r->kind = (int)(rnd(s) % 11);
	r0 = (uint32_t)(rnd(s) % R);
	c0 = (uint32_t)(rnd(s) % C);
	h = 1 + (uint32_t)(rnd(s) % (R - r0));
	w = 1 + (uint32_t)(rnd(s) % (C - c0));
	r->ndims = 2;
	r->strides[0] = C;
	r->strides[1] = 1;
	switch (r->kind) {
	case 0:		/* tile */
		break;
	case 1:		/* row panel: contiguous, a plain tensor in disguise */
		c0 = 0;
		w = C;
		break;
	case 2:		/* column panel */
		r0 = 0;
		h = R;
		break;
	case 3:		/* transposed tile */
		r->strides[0] = 1;
		r->strides[1] = C;
		k = h;
		h = w;
		w = k;
		break;
	case 4:		/* every other row */
		h = 1 + (uint32_t)(rnd(s) % ((R - r0 + 1) / 2));
		r->strides[0] = 2 * (uint64_t)C;
		break;
	case 5:		/* every other column */
		w = 1 + (uint32_t)(rnd(s) % ((C - c0 + 1) / 2));
		r->strides[1] = 2;
		break;
	case 6:		/* one column */
		r->ndims = 1;
		r->strides[1] = 0;
		break;
	case 7:		/* 3-D: blocks of k columns, gap columns apart, on h rows */
		k = 1 + (uint32_t)(rnd(s) % w);
		gap = (uint32_t)(rnd(s) % 3);
		nb = 1 + (w - k) / (k + gap);
		r->ndims = 3;
		r->shape[0] = h;
		r->shape[1] = nb;
		r->shape[2] = k;
		r->strides[1] = k + gap;
		r->strides[2] = 1;
		break;
	case 8:		/* a plain 1-D tensor over a range of the same memory */
		r->tensor = 1;
		r->ndims = 1;
		r->offset = rnd(s) % ((uint64_t)R * C);
		r->shape[0] = 1 + (uint32_t)(rnd(s) % (R * C - r->offset < 96 ? R * C - r->offset
										    : 96));
		r->strides[0] = 1;
		r->strides[1] = 0;
		return;
	case 9:		/* a plain 2-D tensor over whole rows */
		r->tensor = 1;
		c0 = 0;
		w = C;
		break;
	case 10:	/* any strides: dims in any order, interleaved, even aliasing */
		r->ndims = 1 + (uint32_t)(rnd(s) % 3);
		for (ext = 0, d = 0; d < SIMPLER_MAX_DIMS; d++) {
			r->shape[d] = d < r->ndims ? 1 + (uint32_t)(rnd(s) % 4) : 0;
			r->strides[d] = d < r->ndims ? 1 + rnd(s) % (2 * C) : 0;
			ext += d < r->ndims ? (r->shape[d] - 1) * r->strides[d] : 0;
		}
		if (ext >= (uint64_t)R * C) {	/* too big for the matrix: one element */
			r->ndims = 1;
			memset(r->shape, 0, sizeof(r->shape));
			memset(r->strides, 0, sizeof(r->strides));
			r->shape[0] = 1;
			r->strides[0] = 1 + rnd(s) % 3;
			ext = 0;
		}
		r->offset = rnd(s) % ((uint64_t)R * C - ext);
		if (rnd(s) % 2)
			r->split = rnd(s) % (r->offset + 1);
		return;
	}
	r->offset = (uint64_t)r0 * C + c0;
	if (r->ndims == 2) {
		r->shape[0] = h;
		r->shape[1] = w;
	} else if (r->ndims == 1) {
		r->shape[0] = h;
	}
	/* t.addr anywhere from the region's start to the first element */
	if (!r->tensor && rnd(s) % 2)
		r->split = rnd(s) % (r->offset + 1);
}

/* an argument sharing at least one byte with arg, over the same region */
static void gen_overlap(uint64_t *s, struct rarg *r, const struct rarg *arg)
{
	static const int wmodes[] = { SIMPLER_OUT, SIMPLER_INOUT, SIMPLER_OUT_EXISTING };
	struct walk w = rarg_walk(arg, ref_arena, 0);
	uint64_t b, len, bytes = region_bytes(arg->region);

	b = rarg_byte(arg, &w, rnd(s) % walk_count(&w));
	b += rnd(s) % w.size;
	if (rnd(s) % 3 == 0) {
		*r = *arg;
		r->kind = 12;
	} else {
		memset(r, 0, sizeof(*r));
		r->region = arg->region;
		r->dtype = SIMPLER_U8;
		r->tensor = (int)(rnd(s) % 2);
		r->kind = 11;
		r->ndims = 1;
		r->strides[0] = 1;
		/* a few bytes around b, b included */
		r->offset = b - rnd(s) % 3;
		if (r->offset > b)	/* wrapped below the region's start */
			r->offset = 0;
		len = b - r->offset + 1 + rnd(s) % 3;
		r->shape[0] = (uint32_t)(r->offset + len > bytes ? bytes - r->offset : len);
	}
	r->mode = wmodes[rnd(s) % 3];
}

static void make_program(struct program *p, uint64_t seed)
{
	static const int modes[] = { SIMPLER_IN, SIMPLER_IN, SIMPLER_OUT, SIMPLER_INOUT,
				     SIMPLER_OUT_EXISTING };
	static uint8_t map[MAXA][1920];
	uint64_t s = seed * 2654435761ULL + 1;
	int i, j, k, region, nodep, wr, in;

	p->seed = seed;
	p->ntasks = 8 + (int)(rnd(&s) % (MAXT - 8 + 1));
	for (i = 0; i < p->ntasks; i++) {
		struct rtask *t = &p->t[i];

		t->bad = rnd(&s) % 12 == 0;
		t->nargs = 1 + (int)(rnd(&s) % (t->bad ? MAXA - 1 : MAXA));
		t->chip = (int)(rnd(&s) % 6) - 1;	/* -1: any, else 0..3, 4 -> any */
		if (t->chip > 3)
			t->chip = -1;
		nodep = 0;
		for (j = 0; j < t->nargs; j++) {
			struct rarg *r = &t->arg[j];

			if (!nodep && j > 0 && rnd(&s) % 10 == 0) {
				/* NO_DEP only on bytes no other task touches */
				gen_arg(&s, r, NREG, &interps[NREG][0]);
				r->mode = SIMPLER_NO_DEP;
				nodep = 1;
				/* which of two writes to a byte lands is the kernel's choice */
				r->aliases = cover(r, map[j]);
				if (r->aliases)
					r->mode = SIMPLER_IN;
				continue;
			}
			region = (int)(rnd(&s) % NREG);
			/* mostly the matrix's own dtype, else its bytes seen as another */
			in = rnd(&s) % 10 < 6 ? 0 : 1 + (int)(rnd(&s) % 3);
			gen_arg(&s, r, region, &interps[region][in]);
			r->mode = modes[rnd(&s) % 5];
			r->aliases = cover(r, map[j]);
			if (r->aliases)
				r->mode = SIMPLER_IN;
			/* two written arguments of a task never share a byte (submit refuses it) */
			for (k = 0; k < j && writes(r->mode); k++)
				if (writes(t->arg[k].mode) && t->arg[k].mode != SIMPLER_NO_DEP &&
				    t->arg[k].region == region && maps_meet(map[k], map[j]))
					r->mode = SIMPLER_IN;
		}
		if (!t->bad)
			continue;
		/* ...except on purpose: then one written argument gets a second writer */
		for (wr = 0; wr < t->nargs; wr++)
			if (writes(t->arg[wr].mode) && t->arg[wr].mode != SIMPLER_NO_DEP)
				break;
		if (wr == t->nargs && t->arg[0].aliases) {
			t->bad = 0;
			continue;
		}
		if (wr == t->nargs) {
			wr = 0;		/* arg 0 is never NO_DEP, and nothing else writes */
			t->arg[0].mode = SIMPLER_OUT;
		}
		gen_overlap(&s, &t->arg[t->nargs++], &t->arg[wr]);
	}
}

static void dump_arg(const struct rarg *r, int j)
{
	uint32_t d;

	fprintf(stderr, "#     arg %d: %s region %d, %s%s, dtype %u, mode %d, offset %" PRIu64
		" (t.addr +%" PRIu64 "), shape {", j, r->tensor ? "tensor" : "view", r->region,
		kind_names[r->kind], r->aliases ? " (aliasing)" : "", r->dtype, r->mode, r->offset,
		r->split);
	for (d = 0; d < r->ndims; d++)
		fprintf(stderr, "%s%u", d ? ", " : "", r->shape[d]);
	fprintf(stderr, "} strides {");
	for (d = 0; d < r->ndims; d++)
		fprintf(stderr, "%s%" PRIu64, d ? ", " : "", r->strides[d]);
	fprintf(stderr, "}\n");
}

static void dump_program(const struct program *p)
{
	int i, j;

	fprintf(stderr, "#   program %" PRIu64 ": %d tasks\n", p->seed, p->ntasks);
	for (i = 0; i < p->ntasks; i++) {
		fprintf(stderr, "#   task %d on chip %d%s\n", i, p->t[i].chip,
			p->t[i].bad ? " (overlapping writes: refused)" : "");
		for (j = 0; j < p->t[i].nargs; j++)
			dump_arg(&p->t[i].arg[j], j);
	}
}

static void init_arena(uint64_t seed)
{
	uint64_t s = seed + 77;
	int b;

	for (b = 0; b < ARENA; b++)
		arena[b] = ref_arena[b] = (uint8_t)rnd(&s);
	for (b = 0; b < MAXT; b++)
		atomic_store(&mix_ran[b], 0);
}

static void run_reference(const struct program *p)
{
	struct walk w[MAXA];
	uint8_t mode[MAXA];
	int i, j;

	for (i = 0; i < p->ntasks; i++) {
		if (p->t[i].bad)
			continue;
		for (j = 0; j < p->t[i].nargs; j++) {
			w[j] = rarg_walk(&p->t[i].arg[j], ref_arena, i);
			mode[j] = (uint8_t)p->t[i].arg[j].mode;
		}
		compute((uint64_t)i, (uint32_t)p->t[i].nargs, w, mode);
	}
}

static int orch_views(struct simpler_orch *o, void *arg)
{
	struct program *p = arg;
	struct simpler_worker *w = simpler_orch_worker(o);
	struct simpler_args *a = simpler_args_new();
	int i, j, r = 0;

	for (i = 0; i < p->ntasks && r >= 0; i++) {
		simpler_args_reset(a);
		simpler_args_add_scalar(a, (uint64_t)i);
		for (j = 0; j < p->t[i].nargs; j++) {
			const struct rarg *x = &p->t[i].arg[j];
			uint32_t size = simpler_dtype_size(x->dtype);
			uint8_t *base = arena + region_off(x->region, i);

			if (x->tensor)
				add_tensor(a, mkview(base + x->offset * size, 0, x->dtype, x->ndims,
						     x->shape, x->strides).t,
					   (enum simpler_access)x->mode);
			else
				add_view(a, mkview(base + x->split * size, x->offset - x->split,
						   x->dtype, x->ndims, x->shape, x->strides),
					 (enum simpler_access)x->mode);
			simpler_args_add_scalar(a, (uint64_t)x->mode);
		}
		r = p->got[i] = submit_on(o, p->cid, a, p->t[i].chip);
		if (p->t[i].bad || r < 0)
			snprintf(p->msg[i], sizeof(p->msg[i]), "%s", simpler_worker_errmsg(w));
		if (p->t[i].bad)
			r = 0;	/* a refused submit does not end the run */
	}
	simpler_args_free(a);
	return r < 0 ? r : 0;
}

static void check_program(struct simpler_worker *w, struct program *p)
{
	int i, b, r;

	memset(p->got, 0, sizeof(p->got));
	r = simpler_run(w, orch_views, p);
	if (r)
		dump_program(p);
	CHECK_MSG(r == 0, "seed %" PRIu64 ": simpler_run: %d: %s; replay with SIMPLER_SEED=%"
		  PRIu64, p->seed, r, simpler_worker_errmsg(w), p->seed);
	for (i = 0; i < p->ntasks; i++) {
		if (p->t[i].bad && (p->got[i] != -EINVAL || !strstr(p->msg[i], "overlapping")))
			dump_program(p);
		CHECK_MSG(!p->t[i].bad || (p->got[i] == -EINVAL &&
					   strstr(p->msg[i], "overlapping")),
			  "seed %" PRIu64 ": task %d writes one byte through two arguments: submit "
			  "returned %d, expected -EINVAL and 'overlapping' in '%s'; replay with "
			  "SIMPLER_SEED=%" PRIu64, p->seed, i, p->got[i], p->msg[i], p->seed);
		CHECK_MSG(atomic_load(&mix_ran[i]) == !p->t[i].bad, "seed %" PRIu64 ": task %d %s",
			  p->seed, i, p->t[i].bad ? "was refused but ran" : "never ran");
	}
	run_reference(p);
	for (b = 0; b < ARENA; b++) {
		if (arena[b] == ref_arena[b])
			continue;
		dump_program(p);
		for (r = 0; r < NREG && b >= (int)(regions[r].off + regions[r].bytes); r++)
			;
		FAILF("seed %" PRIu64 ": byte %d (%s %d, byte %d) is 0x%02x, the sequential run "
		      "gives 0x%02x; replay with SIMPLER_SEED=%" PRIu64, p->seed, b,
		      r < NREG ? "region" : "private bytes of task",
		      r < NREG ? r : (b - PRIV_OFF) / PRIVB,
		      r < NREG ? b - (int)regions[r].off : (b - PRIV_OFF) % PRIVB, arena[b],
		      ref_arena[b], p->seed);
	}
}

static void run_view_programs(unsigned flags, uint64_t first, uint64_t count)
{
	struct simpler_worker *w = make_worker(4, 0, flags, 0);
	struct program *p = calloc(1, sizeof(*p));
	const char *only = getenv("SIMPLER_SEED");
	int i, j, tasks = 0, views = 0, refused = 0;
	uint64_t seed;

	p->cid = simpler_register(w, "mixv", k_mixv);
	CHECK(p->cid >= 0);
	if (only) {
		first = strtoull(only, NULL, 0);
		count = 1;
	}
	for (seed = first; seed < first + count; seed++) {
		make_program(p, seed);
		init_arena(seed);
		check_program(w, p);
		for (i = 0; i < p->ntasks; i++) {
			tasks++;
			refused += p->t[i].bad;
			for (j = 0; j < p->t[i].nargs; j++)
				views += !p->t[i].arg[j].tensor;
		}
	}
	printf("# %" PRIu64 " programs, %d tasks, %d view arguments, %d tasks refused for "
	       "overlapping writes, %" PRIu64 " edges\n", count, tasks, views, refused, edges(w));
	free(p);
	simpler_worker_destroy(w);
}

TEST_TIMEOUT(random_view_programs_match_sequential_order, 300)
{
	run_view_programs(0, 1, NPROG);
}

/* staged, every argument is copied run by run: bytes between a view's runs stay the host's */
TEST_TIMEOUT(random_view_programs_in_staging_mode, 300)
{
	run_view_programs(SIMPLER_WORKER_STAGING, 100001, NPROG / 2);
}

/* ---- 5: concurrency of disjoint tiles, order of overlapping ones ---- */

#define LN 16
#define LLD 32

SHARED_ARRAY(uint32_t, lm, LN * LLD)
SHARED_ARRAY(_Atomic int, lat_started, 2)
SHARED_ARRAY(_Atomic int, lat_ended, 2)
SHARED_ARRAY(_Atomic int, lat_bad, 2)	/* what a kernel saw that it must not have */

enum { L_MEET, L_FIRST, L_SECOND };

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, ms % 1000 * 1000000 };

	nanosleep(&ts, NULL);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* tensor i, U32: x = x * mul + add through the strides */
static void affine_u32(const struct simpler_kernel_args *a, uint32_t i, uint32_t mul, uint32_t add)
{
	struct walk w = kernel_walk(a, i);
	uint64_t e, n = walk_count(&w);
	uint32_t x;

	for (e = 0; e < n; e++) {
		memcpy(&x, walk_elem(&w, e), 4);
		x = x * mul + add;
		memcpy(walk_elem(&w, e), &x, 4);
	}
}

/*
 * scalars: [0] which (0 or 1), [1] L_*, [2] mul, [3] add.  L_MEET: announce,
 * then wait for the other to announce too (only concurrency lets both get
 * there).  L_FIRST: after writing, give the other a chance to start
 * wrongly and note it if it did.  L_SECOND: note if the first is not done.
 */
static int k_latch(const struct simpler_kernel_args *a)
{
	int me = (int)a->scalars[0], other = 1 - me, how = (int)a->scalars[1];
	double deadline = now_s() + 30;

	if (no_strides(a))
		return -ENOSYS;
	/* release: pairs with the other kernel's acquire loads below */
	atomic_store_explicit(&lat_started[me], 1, memory_order_release);
	if (how == L_MEET) {
		/* bounded, so that serialised tasks fail with a message instead of hanging */
		while (!atomic_load_explicit(&lat_started[other], memory_order_acquire) &&
		       now_s() < deadline)
			sleep_ms(1);
		if (!atomic_load_explicit(&lat_started[other], memory_order_acquire)) {
			simpler_kernel_errmsg(a, "tile %d's task waited 30 s for tile %d's, which "
					      "shares no byte with it: the runtime serialised them",
					      me, other);
			return -ETIMEDOUT;
		}
	}
	if (how == L_SECOND && !atomic_load_explicit(&lat_ended[other], memory_order_acquire))
		atomic_store(&lat_bad[me], 1);
	affine_u32(a, 0, (uint32_t)a->scalars[2], (uint32_t)a->scalars[3]);
	if (how == L_FIRST) {
		sleep_ms(50);
		if (atomic_load_explicit(&lat_started[other], memory_order_acquire))
			atomic_store(&lat_bad[me], 1);
	}
	/* release: the writes above happen before L_SECOND's acquire sees this */
	atomic_store_explicit(&lat_ended[me], 1, memory_order_release);
	return 0;
}

struct latch_pair {
	struct simpler_view v[2];
	int how[2];
};

static int orch_latch(struct simpler_orch *o, void *arg)
{
	struct latch_pair *lp = arg;
	struct simpler_args *a = simpler_args_new();
	int i, r = 0, cid = simpler_callable(simpler_orch_worker(o), "latch");

	for (i = 0; i < 2 && r >= 0; i++) {
		simpler_args_reset(a);
		add_view(a, lp->v[i], SIMPLER_INOUT);
		simpler_args_add_scalar(a, (uint64_t)i);
		simpler_args_add_scalar(a, (uint64_t)lp->how[i]);
		simpler_args_add_scalar(a, i ? 3 : 2);
		simpler_args_add_scalar(a, i ? 2 : 1);
		/* task i on chip i: only an edge could order them */
		r = submit_on(o, cid, a, i);
	}
	simpler_args_free(a);
	return r < 0 ? r : 0;
}

static int in_tile(const struct simpler_view *v, uint32_t row, uint32_t col)
{
	uint64_t k = (uint64_t)row * LLD + col, first = v->offset, cs = v->strides[1];

	if (k < first)
		return 0;
	k -= first;
	return k / LLD < v->t.shape[0] && k % LLD % cs == 0 && k % LLD / cs < v->t.shape[1];
}

static void run_latch_pair(struct simpler_worker *w, struct latch_pair *lp)
{
	uint32_t r, c, x, want;
	int ret;

	for (r = 0; r < LN * LLD; r++)
		lm[r] = r;
	for (r = 0; r < 2; r++) {
		atomic_store(&lat_started[r], 0);
		atomic_store(&lat_ended[r], 0);
		atomic_store(&lat_bad[r], 0);
	}
	ret = simpler_run(w, orch_latch, lp);
	CHECK_MSG(ret == 0, "simpler_run: %d: %s", ret, simpler_worker_errmsg(w));
	for (r = 0; r < LN; r++) {
		for (c = 0; c < LLD; c++) {
			x = r * LLD + c;
			want = x;
			if (in_tile(&lp->v[0], r, c))
				want = want * 2 + 1;
			if (in_tile(&lp->v[1], r, c))
				want = want * 3 + 2;
			CHECK_MSG(lm[x] == want, "element (%u, %u) is %u, expected %u", r, c, lm[x],
				  want);
		}
	}
}

TEST(disjoint_tiles_of_the_same_rows_run_concurrently)
{
	struct simpler_worker *w = make_worker(2, 0, 0, 0);
	struct latch_pair lp = { .how = { L_MEET, L_MEET } };

	CHECK(simpler_register(w, "latch", k_latch) >= 0);
	/* side by side on rows 2..9: every row of one lies between two rows of the other */
	lp.v[0] = simpler_view_2d(lm, LLD, 2, 0, 8, 16, SIMPLER_U32);
	lp.v[1] = simpler_view_2d(lm, LLD, 2, 16, 8, 16, SIMPLER_U32);
	run_latch_pair(w, &lp);
	/* even and odd columns of the same rows: the spans are nearly the same bytes */
	lp.v[0] = mkview(lm, 3 * LLD, SIMPLER_U32, 2, SHAPE(5, LLD / 2), STRIDES(LLD, 2));
	lp.v[1] = mkview(lm, 3 * LLD + 1, SIMPLER_U32, 2, SHAPE(5, LLD / 2), STRIDES(LLD, 2));
	run_latch_pair(w, &lp);
	CHECK_EQ(edges(w), 0);

	/* tiles sharing column 16: the second starts after the first ended and sees its writes */
	lp.how[0] = L_FIRST;
	lp.how[1] = L_SECOND;
	lp.v[0] = simpler_view_2d(lm, LLD, 2, 0, 8, 17, SIMPLER_U32);
	lp.v[1] = simpler_view_2d(lm, LLD, 2, 16, 8, 16, SIMPLER_U32);
	run_latch_pair(w, &lp);
	CHECK_MSG(!atomic_load(&lat_bad[0]), "the second tile's task started while the first "
		  "was still running");
	CHECK_MSG(!atomic_load(&lat_bad[1]), "the second tile's task started before the first "
		  "ended");
	/* one element in common: a corner of each */
	lp.v[0] = simpler_view_2d(lm, LLD, 4, 4, 4, 4, SIMPLER_U32);
	lp.v[1] = simpler_view_2d(lm, LLD, 7, 7, 4, 4, SIMPLER_U32);
	run_latch_pair(w, &lp);
	CHECK(!atomic_load(&lat_bad[0]) && !atomic_load(&lat_bad[1]));
	simpler_worker_destroy(w);
}

/* ---- 6: views and plain tensors over the same bytes ---- */

#define ON 8
#define OLD 16

SHARED_ARRAY(uint32_t, om, ON * OLD)
SHARED_ARRAY(uint32_t, out, 64)
SHARED_ARRAY(_Atomic uint64_t, ev_clock, 1)
SHARED_ARRAY(_Atomic uint64_t, ev_start, 2)
SHARED_ARRAY(_Atomic uint64_t, ev_end, 2)

enum { X_COPY, X_AFFINE };

/*
 * scalars: [0] id, [1] op, [2] milliseconds to sleep first (so that a
 * missing edge lets the other task in), [3] mul, [4] add.  X_COPY: tensor 1
 * gets tensor 0's elements, both walked through their strides.  X_AFFINE:
 * tensor 0 (U32) = x * mul + add.
 */
static int k_xform(const struct simpler_kernel_args *a)
{
	uint64_t id = a->scalars[0], e, n;
	struct walk src, dst;

	if (no_strides(a))
		return -ENOSYS;
	atomic_store(&ev_start[id], atomic_fetch_add(ev_clock, 1) + 1);
	sleep_ms((long)a->scalars[2]);
	if (a->scalars[1] == X_AFFINE) {
		affine_u32(a, 0, (uint32_t)a->scalars[3], (uint32_t)a->scalars[4]);
	} else {
		src = kernel_walk(a, 0);
		dst = kernel_walk(a, 1);
		n = walk_count(&src);
		if (n != walk_count(&dst) || src.size != dst.size) {
			simpler_kernel_errmsg(a, "copy: %" PRIu64 " elements into %" PRIu64, n,
					      walk_count(&dst));
			return -EINVAL;
		}
		for (e = 0; e < n; e++)
			memcpy(walk_elem(&dst, e), walk_elem(&src, e), src.size);
	}
	atomic_store(&ev_end[id], atomic_fetch_add(ev_clock, 1) + 1);
	return 0;
}

struct xarg {
	struct simpler_view v;
	int tensor, acc;
};

struct xtask {
	int op, sleep, mul, add, n;
	struct xarg arg[2];
};

static struct xarg XV(struct simpler_view v, int acc)
{
	return (struct xarg){ v, 0, acc };
}

static struct xarg XT(struct simpler_tensor t, int acc)
{
	struct xarg x = { .tensor = 1, .acc = acc };

	x.v.t = t;
	return x;
}

static int orch_xform(struct simpler_orch *o, void *arg)
{
	const struct xtask *xt = arg;
	struct simpler_args *a = simpler_args_new();
	int i, j, r = 0, cid = simpler_callable(simpler_orch_worker(o), "xform");

	for (i = 0; i < 2 && r >= 0; i++) {
		simpler_args_reset(a);
		for (j = 0; j < xt[i].n; j++) {
			const struct xarg *x = &xt[i].arg[j];

			if (x->tensor)
				add_tensor(a, x->v.t, (enum simpler_access)x->acc);
			else
				add_view(a, x->v, (enum simpler_access)x->acc);
		}
		simpler_args_add_scalar(a, (uint64_t)i);
		simpler_args_add_scalar(a, (uint64_t)xt[i].op);
		simpler_args_add_scalar(a, (uint64_t)xt[i].sleep);
		simpler_args_add_scalar(a, (uint64_t)xt[i].mul);
		simpler_args_add_scalar(a, (uint64_t)xt[i].add);
		r = submit_on(o, cid, a, i);	/* task i on chip i */
	}
	simpler_args_free(a);
	return r < 0 ? r : 0;
}

/* run the pair (the first sleeps 30 ms) on fresh memory; the second must start after the first */
static void run_xform(struct simpler_worker *w, const char *what, struct xtask *xt)
{
	int i;

	for (i = 0; i < ON * OLD; i++)
		om[i] = (uint32_t)(i / OLD * 100 + i % OLD);
	memset(out, 0xff, 64 * sizeof(*out));
	atomic_store(ev_clock, 0);
	for (i = 0; i < 2; i++) {
		atomic_store(&ev_start[i], 0);
		atomic_store(&ev_end[i], 0);
	}
	CHECK_OK(simpler_run(w, orch_xform, xt), w);
	CHECK_MSG(atomic_load(&ev_end[0]) && atomic_load(&ev_start[1]) > atomic_load(&ev_end[0]),
		  "%s: the second task started at %" PRIu64 ", before the first ended at %" PRIu64,
		  what, (uint64_t)atomic_load(&ev_start[1]), (uint64_t)atomic_load(&ev_end[0]));
}

TEST(a_view_and_a_plain_tensor_over_the_same_bytes_are_ordered)
{
	struct simpler_worker *w = make_worker(2, 0, 0, 0);
	struct xtask xt[2];
	uint32_t r, c;

	CHECK(simpler_register(w, "xform", k_xform) >= 0);

	/* RAW: a tile of rows 2..3 written, row 3 read as a plain tensor */
	memset(xt, 0, sizeof(xt));
	xt[0] = (struct xtask){ X_AFFINE, 30, 3, 7, 1,
				{ XV(simpler_view_2d(om, OLD, 2, 4, 2, 8, SIMPLER_U32),
				     SIMPLER_INOUT) } };
	xt[1] = (struct xtask){ X_COPY, 0, 0, 0, 2,
				{ XT(t1d(&om[3 * OLD], OLD, SIMPLER_U32), SIMPLER_IN),
				  XT(t1d(out, OLD, SIMPLER_U32), SIMPLER_OUT) } };
	run_xform(w, "view writer, tensor reader", xt);
	for (c = 0; c < OLD; c++)
		CHECK_EQ(out[c], c >= 4 && c < 12 ? (300 + c) * 3 + 7 : 300 + c);

	/* RAW: row 5 written as a plain tensor, columns 2..3 read as a view */
	xt[0] = (struct xtask){ X_AFFINE, 30, 5, 1, 1,
				{ XT(t1d(&om[5 * OLD], OLD, SIMPLER_U32), SIMPLER_INOUT) } };
	xt[1] = (struct xtask){ X_COPY, 0, 0, 0, 2,
				{ XV(simpler_view_2d(om, OLD, 0, 2, ON, 2, SIMPLER_U32),
				     SIMPLER_IN),
				  XT(t1d(out, 2 * ON, SIMPLER_U32), SIMPLER_OUT) } };
	run_xform(w, "tensor writer, view reader", xt);
	for (r = 0; r < ON; r++)
		for (c = 0; c < 2; c++)
			CHECK_EQ(out[r * 2 + c], r == 5 ? (502 + c) * 5 + 1 : r * 100 + 2 + c);

	/* WAR: a transposed view read (slowly), then row 1 overwritten as a plain tensor */
	xt[0] = (struct xtask){ X_COPY, 30, 0, 0, 2,
				{ XV(view_t(om, OLD, 0, 0, 2, 3, SIMPLER_U32), SIMPLER_IN),
				  XT(t1d(out, 6, SIMPLER_U32), SIMPLER_OUT) } };
	xt[1] = (struct xtask){ X_AFFINE, 0, 3, 7, 1,
				{ XT(t1d(&om[1 * OLD], OLD, SIMPLER_U32), SIMPLER_INOUT) } };
	run_xform(w, "view reader, tensor writer", xt);
	for (c = 0; c < 3; c++)
		for (r = 0; r < 2; r++)
			CHECK_EQ(out[c * 2 + r], r * 100 + c);	/* the old values */
	for (c = 0; c < OLD; c++)
		CHECK_EQ(om[OLD + c], (100 + c) * 3 + 7);

	/* WAW: every other row written as a view, then rows 4..5 as a plain 2-D tensor */
	xt[0] = (struct xtask){ X_AFFINE, 30, 3, 7, 1,
				{ XV(mkview(om, 0, SIMPLER_U32, 2, SHAPE(ON / 2, OLD),
					    STRIDES(2 * OLD, 1)), SIMPLER_INOUT) } };
	xt[1].op = X_AFFINE;
	xt[1].sleep = 0;
	xt[1].mul = 5;
	xt[1].add = 1;
	xt[1].n = 1;
	xt[1].arg[0] = XT(t1d(&om[4 * OLD], 2 * OLD, SIMPLER_U32), SIMPLER_INOUT);
	xt[1].arg[0].v.t.ndims = 2;
	xt[1].arg[0].v.t.shape[0] = 2;
	xt[1].arg[0].v.t.shape[1] = OLD;
	run_xform(w, "view writer, tensor writer", xt);
	for (r = 0; r < ON; r++) {
		for (c = 0; c < OLD; c++) {
			uint32_t x = r * 100 + c;

			if (r % 2 == 0)
				x = x * 3 + 7;
			if (r == 4 || r == 5)
				x = x * 5 + 1;
			CHECK_MSG(om[r * OLD + c] == x, "(%u, %u) is %u, expected %u", r, c,
				  om[r * OLD + c], x);
		}
	}
	simpler_worker_destroy(w);
}

/* ---- 7: written views of one task ---- */

SHARED_ARRAY(uint16_t, im, 6 * 10)
SHARED_ARRAY(uint16_t, im2, 6 * 10)
SHARED_ARRAY(uint16_t, im3, 6 * 10)

/* every written tensor i (scalar i: its access) gets (i + 1) * 0x1000 + e, cut to the dtype */
static int k_fill(const struct simpler_kernel_args *a)
{
	struct walk w;
	uint64_t e, n, v;
	uint32_t i;

	if (no_strides(a))
		return -ENOSYS;
	atomic_fetch_add(&count_runs, 1);
	for (i = 0; i < a->nr_tensors; i++) {
		if (a->scalars[i] == SIMPLER_IN)
			continue;
		w = kernel_walk(a, i);
		n = walk_count(&w);
		for (e = 0; e < n; e++) {
			v = (i + 1) * 0x1000 + e;
			/* little-endian: the low bytes */
			memcpy(walk_elem(&w, e), &v, w.size);
		}
	}
	return 0;
}

struct fill_res {
	int interleaved, shared, shared_ok, bytes_ok, bytes_bad, bytes_ok_msg, mixed, read_write;
};

static int fill_submit(struct simpler_orch *o, struct simpler_view v0, int acc0,
		       struct simpler_view v1, int acc1)
{
	struct simpler_args *a = simpler_args_new();
	int r;

	add_view(a, v0, (enum simpler_access)acc0);
	add_view(a, v1, (enum simpler_access)acc1);
	simpler_args_add_scalar(a, (uint64_t)acc0);
	simpler_args_add_scalar(a, (uint64_t)acc1);
	r = submit_on(o, simpler_callable(simpler_orch_worker(o), "fill"), a, -1);
	simpler_args_free(a);
	return r;
}

static int overlap_named(struct simpler_orch *o)
{
	const char *msg = simpler_worker_errmsg(simpler_orch_worker(o));

	if (strstr(msg, "tensors 0 and 1 write overlapping bytes"))
		return 1;
	fprintf(stderr, "#   message: %s\n", msg);
	return 0;
}

static int orch_fill(struct simpler_orch *o, void *arg)
{
	struct fill_res *res = arg;

	/* even and odd columns of rows 1..4: interleaved, no byte in common */
	res->interleaved = fill_submit(o, mkview(im, 10, SIMPLER_U16, 2, SHAPE(4, 5),
						 STRIDES(10, 2)), SIMPLER_OUT,
				       mkview(im, 11, SIMPLER_U16, 2, SHAPE(4, 5),
					      STRIDES(10, 2)), SIMPLER_OUT);
	/* two tiles sharing element (2, 3) */
	res->shared = fill_submit(o, simpler_view_2d(im, 10, 0, 0, 3, 4, SIMPLER_U16), SIMPLER_OUT,
				  simpler_view_2d(im, 10, 2, 3, 3, 4, SIMPLER_U16), SIMPLER_OUT);
	res->shared_ok = overlap_named(o);
	/* bytes, not elements: the low bytes of the odd U16 columns are free... */
	res->bytes_ok = fill_submit(o, mkview(im2, 0, SIMPLER_U16, 2, SHAPE(2, 5), STRIDES(10, 2)),
				    SIMPLER_OUT,
				    mkview(im2, 2, SIMPLER_U8, 2, SHAPE(2, 5), STRIDES(20, 4)),
				    SIMPLER_OUT_EXISTING);
	/* ...the high bytes of the even ones are not */
	res->bytes_bad = fill_submit(o, mkview(im2, 0, SIMPLER_U16, 2, SHAPE(2, 5), STRIDES(10, 2)),
				     SIMPLER_OUT,
				     mkview(im2, 1, SIMPLER_U8, 2, SHAPE(2, 5), STRIDES(20, 4)),
				     SIMPLER_OUT);
	res->bytes_ok_msg = overlap_named(o);
	/* INOUT and OUT_EXISTING over a tile and a transposed tile sharing a corner */
	res->mixed = fill_submit(o, simpler_view_2d(im3, 10, 3, 0, 2, 2, SIMPLER_U16),
				 SIMPLER_INOUT, view_t(im3, 10, 4, 1, 2, 3, SIMPLER_U16),
				 SIMPLER_OUT_EXISTING);
	/* a read overlapping a write is fine */
	res->read_write = fill_submit(o, simpler_view_2d(im3, 10, 0, 0, 2, 4, SIMPLER_U16),
				      SIMPLER_IN, simpler_view_2d(im3, 10, 1, 2, 2, 4, SIMPLER_U16),
				      SIMPLER_OUT);
	return 0;
}

TEST(written_views_of_one_task_may_interleave_but_not_overlap)
{
	struct simpler_worker *w = make_worker(2, 0, 0, 0);
	struct fill_res res;
	uint32_t r, c, want;

	CHECK(simpler_register(w, "fill", k_fill) >= 0);
	memset(&res, 0, sizeof(res));
	CHECK_OK(simpler_run(w, orch_fill, &res), w);
	CHECK_MSG(res.interleaved >= 0, "even and odd columns refused: %d", res.interleaved);
	CHECK_EQ(res.shared, -EINVAL);
	CHECK(res.shared_ok);
	CHECK_MSG(res.bytes_ok >= 0, "U16 even columns beside U8 low bytes of the odd ones: %d",
		  res.bytes_ok);
	CHECK_EQ(res.bytes_bad, -EINVAL);
	CHECK(res.bytes_ok_msg);
	CHECK_EQ(res.mixed, -EINVAL);
	CHECK_MSG(res.read_write >= 0, "a read overlapping a write refused: %d", res.read_write);
	CHECK_EQ(atomic_load(&count_runs), 3);	/* the refused ones never ran */

	for (r = 0; r < 6; r++) {
		for (c = 0; c < 10; c++) {
			want = r < 1 || r > 4 ? 0 : (c % 2 ? 0x2000 : 0x1000) + (r - 1) * 5 + c / 2;
			CHECK_MSG(im[r * 10 + c] == want, "im (%u, %u) is 0x%x, expected 0x%x",
				  r, c, im[r * 10 + c], want);
			want = r > 1 ? 0 : c % 2 ? r * 5 + c / 2 : 0x1000 + r * 5 + c / 2;
			CHECK_MSG(im2[r * 10 + c] == want, "im2 (%u, %u) is 0x%x, expected 0x%x",
				  r, c, im2[r * 10 + c], want);
			want = r >= 1 && r < 3 && c >= 2 && c < 6 ? 0x2000 + (r - 1) * 4 + c - 2
								  : 0;
			CHECK_MSG(im3[r * 10 + c] == want, "im3 (%u, %u) is 0x%x, expected 0x%x",
				  r, c, im3[r * 10 + c], want);
		}
	}
	simpler_worker_destroy(w);
}

/* ---- 8: views of chip memory ---- */

static int orch_record_child(struct simpler_orch *o, void *arg)
{
	const uint64_t *dev = arg;
	struct simpler_args *a = simpler_args_new();
	struct simpler_view v = simpler_view_2d((void *)(uintptr_t)*dev, 32, 1, 2, 3, 4,
						 SIMPLER_F32);
	int r;

	v.t.child_memory = 1;
	add_view(a, v, SIMPLER_IN);
	v = view_t((void *)(uintptr_t)*dev, 32, 5, 6, 2, 7, SIMPLER_F32);
	v.t.child_memory = 1;
	add_view(a, v, SIMPLER_IN);
	r = submit_on(o, simpler_callable(simpler_orch_worker(o), "record"), a, 0);
	simpler_args_free(a);
	return r < 0 ? r : 0;
}

TEST(views_in_chip_memory)
{
	static float m[32 * 32], m2[32 * 32], ref[32 * 32], ref2[32 * 32];
	struct simpler_worker *w = make_worker(2, 0, 0, 0);
	struct sweep s = { .n = 32, .tile = 8, .rounds = 3, .child = 1, .chip = 0 };
	uint64_t dev, dev2;

	CHECK(simpler_register(w, "axpb", k_axpb) >= 0);
	CHECK(simpler_register(w, "combine", k_combine) >= 0);
	CHECK(simpler_register(w, "record", k_record) >= 0);
	CHECK_OK(simpler_malloc(w, 0, sizeof(m), &dev), w);
	CHECK_OK(simpler_malloc(w, 0, sizeof(m2), &dev2), w);

	/* the kernel gets the chip address of the first element, and the strides */
	CHECK_OK(simpler_run(w, orch_record_child, &dev), w);
	CHECK_EQ(rec_n[0], 2);
	expect_rec(0, dev + (1 * 32 + 2) * 4, SIMPLER_F32, 2, SHAPE(3, 4), STRIDES(32, 1));
	expect_rec(1, dev + (5 * 32 + 6) * 4, SIMPLER_F32, 2, SHAPE(7, 2), STRIDES(1, 32));

	sweep_init(m, m2, 32);
	sweep_init(ref, ref2, 32);
	CHECK_OK(simpler_copy_to(w, 0, dev, m, sizeof(m)), w);
	CHECK_OK(simpler_copy_to(w, 0, dev2, m2, sizeof(m2)), w);
	s.m = dev;
	s.m2 = dev2;
	CHECK_OK(simpler_run(w, orch_sweep, &s), w);
	memset(m, 0, sizeof(m));
	memset(m2, 0, sizeof(m2));
	CHECK_OK(simpler_copy_from(w, 0, m, dev, sizeof(m)), w);
	CHECK_OK(simpler_copy_from(w, 0, m2, dev2, sizeof(m2)), w);
	sweep_reference(ref, ref2, 32, 8, 3);
	sweep_compare("chip matrix", m, ref, 32);
	sweep_compare("second chip matrix", m2, ref2, 32);
	CHECK_OK(simpler_free(w, 0, dev), w);
	CHECK_OK(simpler_free(w, 0, dev2), w);
	simpler_worker_destroy(w);
}

TEST_MAIN()
