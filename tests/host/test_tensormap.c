// SPDX-License-Identifier: MIT
/*
 * The TensorMap on its own, against a brute-force oracle: random accesses
 * over random ranges, modes and address spaces.  Every conflicting earlier
 * access (overlapping bytes, same space, one of them writing) must be
 * reachable through the reported edges — never missed — and every reported
 * edge must itself be a real conflict — overlap is exact.  Finished tasks get
 * no edges, the exact-range path is O(1) when nothing overlaps, and dropping
 * every registration empties the map.
 */
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
			for (j = 0; j < i; j++) {
				if (dep[i][j])
					CHECK_MSG(conflict(&acc[i], &acc[j]),
						  "seed %lu: edge %d -> %d without a conflict",
						  (unsigned long)seed, i, j);
				if (conflict(&acc[i], &acc[j])) {
					memset(seen, 0, N);
					CHECK_MSG(reaches(i, j, seen),
						  "seed %lu: %d must wait for %d but cannot reach it",
						  (unsigned long)seed, i, j);
				}
			}
		}
		for (i = 0; i < N; i++)
			sx_tm_release(tm, &refs[i]);
		CHECK_EQ(sx_tm_records(tm), 0);
		sx_tm_free(tm);
	}
	CHECK(fast > 0);
	free(seen);
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
