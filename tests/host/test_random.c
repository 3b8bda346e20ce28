// SPDX-License-Identifier: MIT
/*
 * Randomized sequential consistency: thousands of random programs (random
 * tasks over a few small buffers, random overlapping ranges, random access
 * tags, random chips) run on 4 chips must leave every byte exactly as running
 * the same tasks one by one in submission order does.  The kernel reads all
 * its inputs, hashes them with its task id, then writes its outputs from the
 * hash, so any missing edge changes the bytes.  A failure prints the seed;
 * SIMPLER_SEED=<seed> replays one program.
 */
#include <inttypes.h>

#include "test_util.h"

#define NBUF 3
#define BUFLEN 384
#define MAXARGS 4

typedef uint8_t buf_row[BUFLEN];
SHARED_ARRAY(buf_row, bufs, NBUF)	/* what the runtime computes */
static uint8_t ref[NBUF][BUFLEN];	/* the sequential reference */

struct rtask {
	int nargs;
	struct {
		int buf, mode;
		uint32_t off, len;
	} arg[MAXARGS];
	int chip;
};

struct program {
	uint64_t seed;
	int ntasks;
	struct rtask t[64];
	int cid;
	uint32_t ring;
};

static uint64_t mix(uint64_t h, uint64_t v)
{
	h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
	return h * 0xff51afd7ed558ccdULL;
}

/* the deterministic function: inputs (in argument order) and task id -> outputs */
static void compute(uint64_t id, uint32_t n, uint8_t *const *ptr, const uint32_t *len,
		    const uint8_t *mode)
{
	uint64_t h = mix(0, id);
	uint32_t i, j;

	for (i = 0; i < n; i++)
		if (mode[i] == SIMPLER_IN || mode[i] == SIMPLER_INOUT)
			for (j = 0; j < len[i]; j++)
				h = mix(h, ptr[i][j]);
	for (i = 0; i < n; i++)
		if (mode[i] != SIMPLER_IN)
			for (j = 0; j < len[i]; j++)
				ptr[i][j] = (uint8_t)(mix(h, (uint64_t)i << 32 | j) >> 56);
}

static int k_mix(const struct simpler_kernel_args *a)
{
	uint8_t *ptr[MAXARGS];
	uint32_t len[MAXARGS], i;
	uint8_t mode[MAXARGS];
	volatile unsigned spin;

	for (i = 0; i < a->nr_tensors; i++) {
		ptr[i] = (uint8_t *)(uintptr_t)a->tensors[i].addr;
		len[i] = a->tensors[i].shape[0];
		mode[i] = (uint8_t)a->scalars[1 + i];
	}
	/* perturb the timing a little, differently per task */
	for (spin = 0; spin < (a->scalars[0] * 7919) % 3000; spin++)
		;
	compute(a->scalars[0], a->nr_tensors, ptr, len, mode);
	return 0;
}

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void make_program(struct program *p, uint64_t seed)
{
	static const int modes[] = { SIMPLER_IN, SIMPLER_IN, SIMPLER_OUT, SIMPLER_INOUT,
				     SIMPLER_OUT_EXISTING };
	uint64_t s = seed * 2654435761ULL + 1;
	int i, j, k;

	p->seed = seed;
	p->ntasks = 8 + (int)(rnd(&s) % 56);
	for (i = 0; i < p->ntasks; i++) {
		struct rtask *t = &p->t[i];

		t->nargs = 1 + (int)(rnd(&s) % MAXARGS);
		t->chip = (int)(rnd(&s) % 6) - 1;	/* -1: any, else 0..3, 4 -> any */
		if (t->chip > 3)
			t->chip = -1;
		for (j = 0; j < t->nargs; j++) {
			t->arg[j].buf = (int)(rnd(&s) % NBUF);
			/* ranges cluster so that partial overlaps are common */
			t->arg[j].off = (uint32_t)(rnd(&s) % 8) * 40 + (uint32_t)(rnd(&s) % 9);
			t->arg[j].len = 1 + (uint32_t)(rnd(&s) % 64);
			if (t->arg[j].off + t->arg[j].len > BUFLEN)
				t->arg[j].len = BUFLEN - t->arg[j].off;
			t->arg[j].mode = modes[rnd(&s) % 5];
			/* two arguments of one task never write the same byte (submit refuses it) */
			for (k = 0; k < j && t->arg[j].mode != SIMPLER_IN; k++)
				if (t->arg[k].mode != SIMPLER_IN && t->arg[k].buf == t->arg[j].buf &&
				    t->arg[k].off < t->arg[j].off + t->arg[j].len &&
				    t->arg[j].off < t->arg[k].off + t->arg[k].len)
					t->arg[j].mode = SIMPLER_IN;
		}
	}
}

static void init_bufs(uint64_t seed)
{
	uint64_t s = seed + 77;
	int b, j;

	for (b = 0; b < NBUF; b++)
		for (j = 0; j < BUFLEN; j++)
			bufs[b][j] = ref[b][j] = (uint8_t)rnd(&s);
}

static void run_reference(const struct program *p)
{
	uint8_t *ptr[MAXARGS], mode[MAXARGS];
	uint32_t len[MAXARGS];
	int i, j;

	for (i = 0; i < p->ntasks; i++) {
		for (j = 0; j < p->t[i].nargs; j++) {
			ptr[j] = &ref[p->t[i].arg[j].buf][p->t[i].arg[j].off];
			len[j] = p->t[i].arg[j].len;
			mode[j] = (uint8_t)p->t[i].arg[j].mode;
		}
		compute((uint64_t)i, (uint32_t)p->t[i].nargs, ptr, len, mode);
	}
}

static int orch_program(struct simpler_orch *o, void *arg)
{
	const struct program *p = arg;
	struct simpler_args *a = simpler_args_new();
	int i, j, r = 0;

	for (i = 0; i < p->ntasks && r >= 0; i++) {
		SIMPLER_OPTS(simpler_submit_opts, so, .worker = p->t[i].chip);

		simpler_args_reset(a);
		simpler_args_add_scalar(a, (uint64_t)i);
		for (j = 0; j < p->t[i].nargs; j++) {
			struct simpler_tensor t = tbytes(bufs[p->t[i].arg[j].buf],
							 p->t[i].arg[j].off, p->t[i].arg[j].len);

			simpler_args_add_tensor(a, &t, (enum simpler_access)p->t[i].arg[j].mode);
			simpler_args_add_scalar(a, (uint64_t)p->t[i].arg[j].mode);
		}
		r = simpler_submit(o, p->cid, a, &so);
	}
	simpler_args_free(a);
	return r < 0 ? r : 0;
}

static void run_programs(uint64_t first, uint64_t count, uint32_t ring)
{
	struct simpler_worker *w = make_worker(4, 0, 0, ring);
	struct program *p = malloc(sizeof(*p));
	const char *only = getenv("SIMPLER_SEED");
	uint64_t seed;
	int b;

	p->cid = simpler_register(w, "mix", k_mix);
	if (only) {
		first = strtoull(only, NULL, 0);
		count = 1;
	}
	for (seed = first; seed < first + count; seed++) {
		make_program(p, seed);
		init_bufs(seed);
		CHECK_MSG(simpler_run(w, orch_program, p) == 0, "seed %" PRIu64 ": %s", seed,
			  simpler_worker_errmsg(w));
		run_reference(p);
		for (b = 0; b < NBUF; b++)
			CHECK_MSG(!memcmp(bufs[b], ref[b], BUFLEN),
				  "seed %" PRIu64 " (ring %u): buffer %d differs from the sequential "
				  "run; replay with SIMPLER_SEED=%" PRIu64, seed, ring, b, seed);
	}
	free(p);
	simpler_worker_destroy(w);
}

TEST_TIMEOUT(random_programs_match_sequential_order, 600)
{
	run_programs(1, 3000, 0);
}

TEST_TIMEOUT(random_programs_with_a_tiny_ring, 600)
{
	/* 4 slots: submit blocks constantly and slots recycle mid-run */
	run_programs(100001, 1500, 4);
}

TEST_MAIN()
