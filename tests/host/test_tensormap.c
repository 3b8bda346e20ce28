// SPDX-License-Identifier: MIT
/*
 * The TensorMap on its own, against a brute-force oracle: random accesses
 * over random ranges, modes and address spaces.  Every conflicting earlier
 * access (overlapping bytes, same space, one of them writing) must be
 * reachable through the reported edges — never missed — and every reported
 * edge must itself be a real conflict — overlap is exact.  The same over
 * strided views (tiles, panels, transposed and strided views of matrices of
 * several layouts and dtypes over one buffer, and plain ranges), with the
 * conflict decided byte by byte.  The same while tasks finish behind the
 * newest and their registrations are dropped, and over windows sliding
 * along a buffer: the map stays bounded by the live registrations.
 * Finished tasks get no edges, the exact-range path is O(1) when nothing
 * overlaps, and dropping every registration empties the map.
 */
#include "base/tensor.h"
#include "task.h"
#include "tensormap.h"
#include "test_util.h"

#define N 600

struct access {
	uint32_t space;
	uint64_t s, e;
	unsigned mode;
};

static struct task tasks[N];
static struct tm_ref refs[N];
static struct access acc[N];
static uint8_t dep[N][N];	/* dep[c][p]: the map reported c waits for p */

static void record(struct task *c, struct task *p, void *arg)
{
	dep[c - tasks][p - tasks] = 1;
}

static int conflict(const struct access *a, const struct access *b)
{
	return a->space == b->space && a->s < b->e && b->s < a->e &&
	       (a->mode != SIMPLER_IN || b->mode != SIMPLER_IN);
}

/* is p reachable from c through reported edges? */
static int reaches(int c, int p, uint8_t *seen)
{
	int k;

	if (dep[c][p])
		return 1;
	for (k = p + 1; k < c; k++)
		if (dep[c][k] && !seen[k]) {
			seen[k] = 1;
			if (reaches(k, p, seen))
				return 1;
		}
	return 0;
}

/*
 * A reported edge i -> j needs a conflict c; a conflict needs a path of
 * edges.  Tasks before done have finished: no edge may go to them.
 */
static void check_pair(int i, int j, int c, int done, uint64_t seed, uint8_t *seen)
{
	if (j < done) {
		CHECK_MSG(!dep[i][j], "seed %lu: edge %d -> %d, which finished", (unsigned long)seed,
			  i, j);
		return;
	}
	if (dep[i][j])
		CHECK_MSG(c, "seed %lu: edge %d -> %d without a conflict", (unsigned long)seed, i, j);
	if (c) {
		memset(seen, 0, N);
		CHECK_MSG(reaches(i, j, seen), "seed %lu: %d must wait for %d but cannot reach it",
			  (unsigned long)seed, i, j);
	}
}

/*
 * The oldest live task finishes and its slot is recycled.  In submission
 * order: a task finishes after all it waits for, so this order is always
 * possible.
 */
static void finish_oldest(struct tensormap *tm, int *done)
{
	atomic_store(&tasks[*done].state, TS_DONE);
	sx_tm_release(tm, &refs[(*done)++]);
}

/* drop every registration of an oracle round: the map must be empty */
static void release_all(struct tensormap *tm)
{
	int i;

	for (i = 0; i < N; i++)
		sx_tm_release(tm, &refs[i]);
	CHECK_EQ(sx_tm_records(tm), 0);
	sx_tm_free(tm);
}

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

TEST(oracle_never_misses_and_never_invents_an_edge)
{
	static const unsigned modes[] = { SIMPLER_IN, SIMPLER_OUT, SIMPLER_INOUT,
					  SIMPLER_OUT_EXISTING };
	uint8_t *seen = malloc(N);
	uint64_t seed, s;
	int i, j, fast = 0;

	for (seed = 1; seed <= 40; seed++) {
		struct tensormap *tm = sx_tm_new(3);

		s = seed * 0x9e3779b97f4a7c15ULL;
		memset(dep, 0, sizeof(dep));
		memset(tasks, 0, sizeof(tasks));
		for (i = 0; i < N; i++) {
			atomic_store(&tasks[i].state, TS_PENDING);
			acc[i].space = (uint32_t)(rnd(&s) % 3);
			/* a few hot ranges repeat exactly; others are random */
			if (rnd(&s) % 3 == 0) {
				acc[i].s = (rnd(&s) % 4) * 1000;
				acc[i].e = acc[i].s + 100;
			} else {
				acc[i].s = rnd(&s) % 4000;
				acc[i].e = acc[i].s + 1 + rnd(&s) % 300;
			}
			acc[i].mode = modes[rnd(&s) % 4];
			fast += sx_tm_access(tm, &tasks[i], &refs[i], acc[i].space, acc[i].s, acc[i].e,
					  acc[i].mode, record, NULL) == 1;
			for (j = 0; j < i; j++)
				check_pair(i, j, conflict(&acc[i], &acc[j]), 0, seed, seen);
		}
		release_all(tm);
	}
	CHECK(fast > 0);
	free(seen);
}

/*
 * Windows sliding over a buffer, as a stencil or a pipeline makes them:
 * widths and steps vary, modes are random or alternate as in the bench,
 * and tasks finish LIVE accesses behind the newest.  The oracle holds for
 * the tasks not finished, and the map stays bounded by the live
 * registrations.
 */
#define LIVE 48

TEST(sliding_windows_against_the_oracle_stay_bounded)
{
	static const unsigned modes[] = { SIMPLER_IN, SIMPLER_OUT, SIMPLER_INOUT,
					  SIMPLER_OUT_EXISTING };
	static const struct { uint64_t width, step; } shapes[] = {
		{ 1024, 16 }, { 128, 32 }, { 64, 64 }, { 256, 8 }, { 100, 37 },
	};
	uint8_t *seen = malloc(N);
	uint64_t seed, s, most = 0, pos;
	int i, j, done;

	for (seed = 1; seed <= 20; seed++) {
		struct tensormap *tm = sx_tm_new(1);
		unsigned k = seed % 5;

		s = seed * 0x9e3779b97f4a7c15ULL;
		memset(dep, 0, sizeof(dep));
		memset(tasks, 0, sizeof(tasks));
		pos = 1 << 16;	/* room for steps back */
		done = 0;
		for (i = 0; i < N; i++) {
			atomic_store(&tasks[i].state, TS_PENDING);
			/* now and then a step back or a wider window, so windows nest too */
			pos += shapes[k].step;
			acc[i].space = 0;
			acc[i].s = rnd(&s) % 8 ? pos : pos - rnd(&s) % (2 * shapes[k].width);
			acc[i].e = acc[i].s + shapes[k].width * (rnd(&s) % 8 ? 1 : 3);
			acc[i].mode = seed <= 10 && i % 2 ? SIMPLER_IN : modes[rnd(&s) % 4];
			sx_tm_access(tm, &tasks[i], &refs[i], 0, acc[i].s, acc[i].e, acc[i].mode,
				     record, NULL);
			for (j = 0; j < i; j++)
				check_pair(i, j, conflict(&acc[i], &acc[j]), done, seed, seen);
			if (i - done >= LIVE)
				finish_oldest(tm, &done);
			CHECK(sx_tm_records(tm) <= 4 * LIVE);
			most = sx_tm_records(tm) > most ? sx_tm_records(tm) : most;
		}
		release_all(tm);
	}
	printf("# at most %lu records for %d live registrations\n", (unsigned long)most, LIVE);
	free(seen);
}

/* ---- views ---- */

#define VBYTES 4096
/* a sanitizer makes the oracle's own checks 40x slower: fewer programs there */
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
#define VIEW_SEEDS 6
#else
#define VIEW_SEEDS 30
#endif

struct vaccess {
	struct simpler_tensor t;	/* addr: the first element */
	uint64_t strides[SIMPLER_MAX_DIMS];	/* all 0: a plain range */
	unsigned mode;
	uint64_t span;
	uint64_t bytes[VBYTES / 64];	/* the bytes it covers, found element by element */
};

static struct vaccess vacc[N];

/* a random view of one of a few matrices laid over the same 4 KiB, or a plain range */
static void random_view(uint64_t *s, struct vaccess *a)
{
	/* ld (elements), rows, dtype: F32 64x16, U8 100x40, F64 24x20, F32 48x20 */
	static const struct { uint32_t ld, rows; uint8_t dtype; } mats[] = {
		{ 64, 16, SIMPLER_F32 }, { 100, 40, SIMPLER_U8 }, { 24, 20, SIMPLER_F64 },
		{ 48, 20, SIMPLER_F32 },
	};
	unsigned k = rnd(s) % 4, kind = rnd(s) % 6;
	uint32_t ld = mats[k].ld, rows = mats[k].rows, es = simpler_dtype_size(mats[k].dtype);
	uint32_t r0 = rnd(s) % rows, c0 = rnd(s) % ld;
	/* mostly a few rows: views of one matrix then often share rows but not bytes */
	uint32_t h = 1 + rnd(s) % (rows - r0), w = 1 + rnd(s) % (ld - c0);
	uint64_t off = (uint64_t)r0 * ld + c0;

	if (rnd(s) % 4 && h > 6)
		h = 6;
	memset(a, 0, sizeof(*a));
	a->t.dtype = mats[k].dtype;
	a->t.ndims = 2;
	switch (kind) {
	case 0:		/* a plain range */
		a->t.ndims = 1;
		a->t.shape[0] = 1 + rnd(s) % 600;
		a->t.dtype = SIMPLER_U8;
		off = rnd(s) % (VBYTES - a->t.shape[0]);
		es = 1;
		break;
	case 1:		/* a row panel or a column panel */
		if (rnd(s) & 1) {
			a->t.shape[0] = h;
			a->t.shape[1] = ld;
			off = (uint64_t)r0 * ld;
		} else {
			a->t.shape[0] = rows;
			a->t.shape[1] = w;
			off = c0;
		}
		a->strides[0] = ld;
		a->strides[1] = 1;
		break;
	case 2:		/* the transposed tile: element (j, i) is (i, j) of the matrix */
		a->t.shape[0] = w;
		a->t.shape[1] = h;
		a->strides[0] = 1;
		a->strides[1] = ld;
		break;
	case 3:		/* every other row, every third column */
		a->t.shape[0] = (h + 1) / 2;
		a->t.shape[1] = (w + 2) / 3;
		a->strides[0] = 2 * ld;
		a->strides[1] = 3;
		break;
	case 4:		/* a 3-D view: blocks of rows of a tile */
		a->t.ndims = 3;
		a->t.shape[0] = h > 1 ? h / 2 : 1;
		a->t.shape[1] = h > 1 ? 2 : 1;
		a->t.shape[2] = w;
		a->strides[0] = 2 * ld;
		a->strides[1] = ld;
		a->strides[2] = 1;
		break;
	default:	/* a tile */
		a->t.shape[0] = h;
		a->t.shape[1] = w;
		a->strides[0] = ld;
		a->strides[1] = 1;
		break;
	}
	a->t.addr = off * es;
}

/* mark the bytes of every element, walking the index space (not the layout code) */
static void view_bytes(struct vaccess *a)
{
	uint32_t es = simpler_dtype_size(a->t.dtype), i[3], d;
	uint32_t n[3] = { a->t.shape[0], 1, 1 };
	uint64_t st[3] = { a->strides[0], 0, 0 }, e, b;

	if (!a->strides[0]) {
		for (b = a->t.addr; b < a->t.addr + simpler_tensor_nbytes(&a->t); b++)
			a->bytes[b / 64] |= 1ULL << (b % 64);
		return;
	}
	for (d = 1; d < a->t.ndims; d++) {
		n[d] = a->t.shape[d];
		st[d] = a->strides[d];
	}
	for (i[0] = 0; i[0] < n[0]; i[0]++)
		for (i[1] = 0; i[1] < n[1]; i[1]++)
			for (i[2] = 0; i[2] < n[2]; i[2]++) {
				e = i[0] * st[0] + i[1] * st[1] + i[2] * st[2];
				CHECK(a->t.addr + (e + 1) * es <= VBYTES);
				for (b = a->t.addr + e * es; b < a->t.addr + (e + 1) * es; b++)
					a->bytes[b / 64] |= 1ULL << (b % 64);
			}
}

static int vconflict(const struct vaccess *a, const struct vaccess *b)
{
	int i;

	if (a->mode == SIMPLER_IN && b->mode == SIMPLER_IN)
		return 0;
	for (i = 0; i < VBYTES / 64; i++)
		if (a->bytes[i] & b->bytes[i])
			return 1;
	return 0;
}

TEST(oracle_over_views_never_misses_and_never_invents_an_edge)
{
	static const unsigned modes[] = { SIMPLER_IN, SIMPLER_OUT, SIMPLER_INOUT,
					  SIMPLER_OUT_EXISTING };
	uint8_t *seen = malloc(N);
	int i, j, fast = 0, edges = 0, conflicts = 0, interleaved = 0;
	uint64_t seed, s;

	for (seed = 1; seed <= VIEW_SEEDS; seed++) {
		struct tensormap *tm = sx_tm_new(1);
		int done = 0;

		s = seed * 0x2545f4914f6cdd1dULL;
		memset(dep, 0, sizeof(dep));
		memset(tasks, 0, sizeof(tasks));
		for (i = 0; i < N; i++) {
			struct vaccess *a = &vacc[i];
			struct sx_layout lay;

			atomic_store(&tasks[i].state, TS_PENDING);
			/* some accesses repeat an earlier one exactly: the fast path */
			if (i > 0 && rnd(&s) % 4 == 0)
				*a = vacc[rnd(&s) % i];
			else {
				random_view(&s, a);
				view_bytes(a);
			}
			a->mode = modes[rnd(&s) % 4];
			sx_layout_of(&a->t, a->strides[0] ? a->strides : NULL, &lay);
			a->span = sx_layout_span(&lay);
			fast += sx_tm_access_layout(tm, &tasks[i], &refs[i], 0, a->t.addr,
						    a->t.addr + a->span, lay.nd ? &lay : NULL,
						    a->mode, record, NULL) == 1;
			for (j = 0; j < i; j++) {
				const struct vaccess *b = &vacc[j];
				int c = vconflict(a, b);

				conflicts += c;
				edges += dep[i][j];
				/* spans that overlap without a shared byte: what exactness is for */
				interleaved += !c && a->t.addr < b->t.addr + b->span &&
					       b->t.addr < a->t.addr + a->span;
				check_pair(i, j, c, done, seed, seen);
			}
			/* odd seeds: tasks finish behind the newest, views and ranges alike */
			if (seed % 2 && i - done >= LIVE) {
				finish_oldest(tm, &done);
				CHECK(sx_tm_records(tm) <= 8 * LIVE);
			}
		}
		release_all(tm);
	}
	printf("# %d conflicts, %d direct edges, %d pairs with overlapping spans and no shared "
	       "byte, %d fast-path accesses\n", conflicts, edges, interleaved, fast);
	CHECK(fast > 0);
	CHECK(edges > 0);
	CHECK(interleaved > 0);
	free(seen);
}

/* the example: tiles in different columns of the same rows are independent */
TEST(disjoint_tiles_of_one_matrix_do_not_wait_for_each_other)
{
	struct tensormap *tm = sx_tm_new(1);
	struct simpler_tensor t = { .ndims = 2, .dtype = SIMPLER_F32, .shape = { 64, 64 } };
	uint64_t st[SIMPLER_MAX_DIMS] = { 768, 1 };
	struct sx_layout lay;
	uint64_t span;
	int i;

	memset(tasks, 0, sizeof(tasks));
	memset(dep, 0, sizeof(dep));
	sx_layout_of(&t, st, &lay);
	span = sx_layout_span(&lay);
	CHECK_EQ(lay.nd, 1);
	CHECK_EQ(lay.run, 256);
	CHECK_EQ(span, 63 * 3072 + 256);
	/* a row of 12 tiles written, then written again: each waits only for itself */
	for (i = 0; i < 24; i++) {
		uint64_t a = (uint64_t)(i % 12) * 256;

		atomic_store(&tasks[i].state, TS_PENDING);
		CHECK_EQ(sx_tm_access_layout(tm, &tasks[i], &refs[i], 0, a, a + span, &lay,
					     SIMPLER_INOUT, record, NULL), i >= 12);
	}
	for (i = 0; i < 24; i++) {
		int j, n = 0;

		for (j = 0; j < 24; j++)
			n += dep[i][j];
		CHECK_EQ(n, i >= 12);
		if (i >= 12)
			CHECK_EQ(dep[i][i - 12], 1);
	}
	/* a plain range over one row of the matrix meets every tile of the row */
	atomic_store(&tasks[24].state, TS_PENDING);
	sx_tm_access(tm, &tasks[24], &refs[24], 0, 5 * 3072, 6 * 3072, SIMPLER_IN, record, NULL);
	for (i = 12; i < 24; i++)
		CHECK_EQ(dep[24][i], 1);
	for (i = 0; i <= 24; i++)
		sx_tm_release(tm, &refs[i]);
	CHECK_EQ(sx_tm_records(tm), 0);
	sx_tm_free(tm);
}

TEST(finished_tasks_get_no_edges)
{
	struct tensormap *tm = sx_tm_new(1);

	memset(dep, 0, sizeof(dep));
	memset(tasks, 0, sizeof(tasks));
	sx_tm_access(tm, &tasks[0], &refs[0], 0, 0, 100, SIMPLER_OUT, record, NULL);
	sx_tm_access(tm, &tasks[1], &refs[1], 0, 50, 60, SIMPLER_IN, record, NULL);
	atomic_store(&tasks[0].state, TS_DONE);
	atomic_store(&tasks[1].state, TS_FAILED);
	sx_tm_access(tm, &tasks[2], &refs[2], 0, 0, 100, SIMPLER_OUT, record, NULL);
	CHECK_EQ(dep[2][0], 0);
	CHECK_EQ(dep[2][1], 0);
	CHECK_EQ(dep[1][0], 1);
	sx_tm_release(tm, &refs[0]);
	sx_tm_release(tm, &refs[1]);
	sx_tm_release(tm, &refs[2]);
	CHECK_EQ(sx_tm_records(tm), 0);
	sx_tm_free(tm);
}

TEST(exact_range_again_takes_the_fast_path)
{
	struct tensormap *tm = sx_tm_new(1);
	int i, fast = 0;

	memset(tasks, 0, sizeof(tasks));
	memset(dep, 0, sizeof(dep));
	/* a chain on one range next to a neighbour that touches but does not overlap */
	sx_tm_access(tm, &tasks[N - 1], &refs[N - 1], 0, 100, 200, SIMPLER_OUT, record, NULL);
	for (i = 0; i < 100; i++)
		fast += sx_tm_access(tm, &tasks[i], &refs[i], 0, 0, 100, SIMPLER_INOUT, record, NULL);
	CHECK_EQ(fast, 99);	/* the first access creates the record */
	for (i = 1; i < 100; i++)
		CHECK_EQ(dep[i][i - 1], 1);
	/* an overlapping access makes both slow, and still finds the chain's end */
	CHECK_EQ(sx_tm_access(tm, &tasks[100], &refs[100], 0, 50, 150, SIMPLER_IN, record, NULL), 0);
	CHECK_EQ(dep[100][99], 1);
	CHECK_EQ(dep[100][N - 1], 1);
	for (i = 0; i <= 100; i++)
		sx_tm_release(tm, &refs[i]);
	sx_tm_release(tm, &refs[N - 1]);
	CHECK_EQ(sx_tm_records(tm), 0);
	sx_tm_free(tm);
}

TEST(spaces_do_not_see_each_other)
{
	struct tensormap *tm = sx_tm_new(3);

	memset(tasks, 0, sizeof(tasks));
	memset(dep, 0, sizeof(dep));
	sx_tm_access(tm, &tasks[0], &refs[0], 1, 0, 64, SIMPLER_OUT, record, NULL);
	sx_tm_access(tm, &tasks[1], &refs[1], 2, 0, 64, SIMPLER_OUT, record, NULL);
	sx_tm_access(tm, &tasks[2], &refs[2], 0, 0, 64, SIMPLER_OUT, record, NULL);
	sx_tm_access(tm, &tasks[3], &refs[3], 1, 32, 33, SIMPLER_IN, record, NULL);
	CHECK_EQ(dep[1][0], 0);
	CHECK_EQ(dep[2][0] + dep[2][1], 0);
	CHECK_EQ(dep[3][0], 1);
	CHECK_EQ(dep[3][1] + dep[3][2], 0);
	sx_tm_free(tm);
}

TEST_MAIN()
