// SPDX-License-Identifier: MIT
/*
 * Arguments: tensor descriptors and byte counts, validation, the 256-tensor
 * and 128-scalar limits, and a full argument list reaching the kernel intact.
 */
#include "test_util.h"

TEST(tensor_nbytes_per_dtype)
{
	struct simpler_tensor t;

	memset(&t, 0, sizeof(t));
	t.ndims = 3;
	t.shape[0] = 2;
	t.shape[1] = 3;
	t.shape[2] = 5;
	t.dtype = SIMPLER_F32;
	CHECK_EQ(simpler_tensor_nbytes(&t), 120);
	t.dtype = SIMPLER_BF16;
	CHECK_EQ(simpler_tensor_nbytes(&t), 60);
	t.dtype = SIMPLER_I64;
	CHECK_EQ(simpler_tensor_nbytes(&t), 240);
	t.dtype = 200;
	CHECK_EQ(simpler_tensor_nbytes(&t), 0);
	t.dtype = SIMPLER_U8;
	t.ndims = 6;
	CHECK_EQ(simpler_tensor_nbytes(&t), 0);
	/* overflow is 0, not a wrapped count */
	t.ndims = 5;
	t.shape[0] = t.shape[1] = t.shape[2] = t.shape[3] = t.shape[4] = 0xffffffffu;
	CHECK_EQ(simpler_tensor_nbytes(&t), 0);
	CHECK_EQ(sizeof(struct simpler_tensor), 40);
}

TEST(args_limits_and_validation)
{
	struct simpler_args *a = simpler_args_new();
	struct simpler_tensor t = simpler_tensor_1d((void *)0x1000, 4, SIMPLER_F32), bad;
	int i;

	for (i = 0; i < SIMPLER_MAX_TENSORS; i++)
		CHECK_EQ(simpler_args_add_tensor(a, &t, SIMPLER_IN), i);
	CHECK_EQ(simpler_args_add_tensor(a, &t, SIMPLER_IN), -E2BIG);
	CHECK_MSG(!strcmp(simpler_last_errmsg(), "simpler_args_add_tensor: more than 256 tensors and views"),
		  "%s", simpler_last_errmsg());
	for (i = 0; i < SIMPLER_MAX_SCALARS; i++)
		CHECK_EQ(simpler_args_add_scalar(a, (uint64_t)i), i);
	CHECK_EQ(simpler_args_add_scalar(a, 1), -E2BIG);
	CHECK_MSG(!strcmp(simpler_last_errmsg(), "simpler_args_add_scalar: more than 128 scalars"),
		  "%s", simpler_last_errmsg());
	simpler_args_reset(a);
	CHECK_EQ(simpler_args_nr_tensors(a), 0);

#define REFUSED(tensor, acc, msg)                                                       \
	do {                                                                            \
		CHECK_EQ(simpler_args_add_tensor(a, tensor, acc), -EINVAL);             \
		CHECK_MSG(!strcmp(simpler_last_errmsg(), "simpler_args_add_tensor: " msg), \
			  "%s", simpler_last_errmsg());                                 \
	} while (0)
	REFUSED(&t, (enum simpler_access)5,
		"tensor 0: access 5 is unknown (SIMPLER_IN..SIMPLER_NO_DEP)");
	REFUSED(NULL, SIMPLER_IN, "tensor 0 is NULL");
	bad = t;
	bad.ndims = 0;
	REFUSED(&bad, SIMPLER_IN, "tensor 0: ndims is 0, must be 1..5");
	bad = t;
	bad.shape[3] = 2;	/* beyond ndims */
	REFUSED(&bad, SIMPLER_IN, "tensor 0: shape[3] is 2 but ndims is 1: unused dims must be 0");
	bad = t;
	bad.reserved[2] = 1;
	REFUSED(&bad, SIMPLER_IN, "tensor 0: reserved bytes must be zero");
	bad = t;
	bad.dtype = 99;
	REFUSED(&bad, SIMPLER_IN, "tensor 0: dtype 99 is unknown");
	bad = t;
	bad.addr = ~0ULL - 4;	/* wraps */
	REFUSED(&bad, SIMPLER_IN,
		"tensor 0: 0xfffffffffffffffb + 16 bytes wraps around the address space");
#undef REFUSED
	CHECK_EQ(simpler_args_nr_tensors(a), 0);	/* nothing bad got in */
	CHECK_EQ(simpler_args_add_tensor(NULL, &t, SIMPLER_IN), -EINVAL);
	CHECK_EQ(simpler_args_add_scalar(NULL, 1), -EINVAL);
	simpler_args_free(a);
}

SHARED_ARRAY(uint32_t, refused_mem, 16)
SHARED_ARRAY(_Atomic int, refused_ran_, 1)
#define refused_ran (*refused_ran_)

static int k_count(const struct simpler_kernel_args *a)
{
	(void)a;
	atomic_fetch_add(&refused_ran, 1);
	return 0;
}

/*
 * A tensor refused by simpler_args_add_tensor() (whose return value the
 * orchestration function ignores) fails the submit; nothing runs.  After a
 * reset the same args submit fine.  arg: how many group members (0: a
 * plain submit).
 */
static int orch_refused(struct simpler_orch *o, void *arg)
{
	int members = (int)(intptr_t)arg;
	struct simpler_worker *w = simpler_orch_worker(o);
	struct simpler_args *a = simpler_args_new(), *g[2];
	struct simpler_tensor t = simpler_tensor_1d(refused_mem, 16, SIMPLER_U32), bad = t;
	int r;

	bad.dtype = 99;
	simpler_args_add_tensor(a, &t, SIMPLER_OUT);
	simpler_args_add_tensor(a, &bad, SIMPLER_IN);	/* refused */
	simpler_args_add_scalar(a, 7);
	g[0] = g[1] = a;
	r = members ? simpler_submit_group(o, 0, g, members, NULL) : simpler_submit(o, 0, a, NULL);
	CHECK_EQ(r, -EINVAL);
	CHECK_MSG(strstr(simpler_worker_errmsg(w),
			 members ? "submit_group: member 0: an argument was refused when it was "
				   "added, so the task would run without it: simpler_args_add_tensor: "
				   "tensor 1: dtype 99 is unknown (simpler_args_reset() the args and "
				   "add valid ones)"
				 : "submit: an argument was refused when it was added, so the task "
				   "would run without it: simpler_args_add_tensor: tensor 1: dtype 99 "
				   "is unknown (simpler_args_reset() the args and add valid ones)"),
		  "%s", simpler_worker_errmsg(w));
	/* the refusal stays until a reset, even past later good adds */
	simpler_args_add_scalar(a, 8);
	r = members ? simpler_submit_group(o, 0, g, members, NULL) : simpler_submit(o, 0, a, NULL);
	CHECK_EQ(r, -EINVAL);
	simpler_args_reset(a);
	simpler_args_add_tensor(a, &t, SIMPLER_INOUT);
	r = members ? simpler_submit_group(o, 0, g, members, NULL) : simpler_submit(o, 0, a, NULL);
	simpler_args_free(a);
	return r < 0 ? r : 0;
}

TEST(a_refused_argument_fails_the_submit)
{
	struct simpler_worker *w = make_worker(2, 0, 0, 0);

	simpler_register(w, "count", k_count);
	CHECK_OK(simpler_run(w, orch_refused, (void *)(intptr_t)0), w);
	CHECK_EQ(refused_ran, 1);	/* only the submit after the reset ran */
	refused_ran = 0;
	CHECK_OK(simpler_run(w, orch_refused, (void *)(intptr_t)2), w);
	CHECK_EQ(refused_ran, 2);	/* both members of the group after the reset */
	simpler_worker_destroy(w);
}

SHARED_ARRAY(_Atomic int, seen_ok_, 1)
#define seen_ok (*seen_ok_)

SHARED_ARRAY(char, args_mem, 65 * SIMPLER_MAX_TENSORS)

static int k_check_all(const struct simpler_kernel_args *a)
{
	uint32_t i;

	if (a->nr_tensors != SIMPLER_MAX_TENSORS || a->nr_scalars != SIMPLER_MAX_SCALARS)
		return -EINVAL;
	for (i = 0; i < a->nr_tensors; i++)
		if (a->tensors[i].addr != (uintptr_t)args_mem + 64ULL * i || a->tensors[i].shape[0] != i + 1)
			return -EINVAL;
	for (i = 0; i < a->nr_scalars; i++)
		if (a->scalars[i] != 1000ULL + i)
			return -EINVAL;
	atomic_store(&seen_ok, 1);
	return 0;
}

static int orch_full(struct simpler_orch *o, void *arg)
{
	struct simpler_args *a = simpler_args_new();
	struct simpler_tensor t;
	int i, r;

	for (i = 0; i < SIMPLER_MAX_TENSORS; i++) {
		t = simpler_tensor_1d(args_mem + 64 * i, (uint32_t)i + 1, SIMPLER_U8);
		simpler_args_add_tensor(a, &t, SIMPLER_NO_DEP);
	}
	for (i = 0; i < SIMPLER_MAX_SCALARS; i++)
		simpler_args_add_scalar(a, 1000ULL + (uint64_t)i);
	r = simpler_submit(o, 0, a, NULL);
	simpler_args_free(a);
	return r < 0 ? r : 0;
}

TEST(full_argument_list_reaches_the_kernel)
{
	struct simpler_worker *w = make_worker(1, 1, 0, 0);

	simpler_register(w, "check", k_check_all);
	CHECK_OK(simpler_run(w, orch_full, NULL), w);
	CHECK_EQ(seen_ok, 1);
	simpler_worker_destroy(w);
}

TEST(opts_struct_size_rules)
{
	struct {
		struct simpler_worker_opts o;
		uint64_t future;
	} big;
	struct simpler_worker *w = NULL;

	memset(&big, 0, sizeof(big));
	big.o.sz = sizeof(big);
	big.o.flags = test_mode_flags();
	CHECK_EQ(simpler_worker_create(&big.o, &w), 0);	/* unknown tail is zero: fine */
	simpler_worker_destroy(w);
	big.future = 1;
	CHECK_EQ(simpler_worker_create(&big.o, &w), -E2BIG);
	big.o.sz = 4;
	CHECK_EQ(simpler_worker_create(&big.o, &w), -EINVAL);
	/* NULL options: one chip process on sim */
	CHECK_EQ(simpler_worker_create(NULL, &w), 0);
	CHECK_EQ(simpler_worker_nr_chips(w), 1);
	CHECK(simpler_chip_pid(w, 0) > 0);
	simpler_worker_destroy(w);
}

static int k_nop(const struct simpler_kernel_args *a)
{
	return 0;
}

/* submit opts: a longer struct with a zero tail is fine, a set unknown byte is -E2BIG */
static int orch_big_opts(struct simpler_orch *o, void *arg)
{
	struct {
		struct simpler_submit_opts o;
		uint64_t future;
	} big;
	int *res = arg;

	memset(&big, 0, sizeof(big));
	big.o.sz = sizeof(big);
	big.o.worker = -1;
	res[0] = simpler_submit(o, 0, NULL, &big.o);
	big.future = 7;
	res[1] = simpler_submit(o, 0, NULL, &big.o);
	res[2] = !!strstr(simpler_worker_errmsg(simpler_orch_worker(o)), "does not know");
	big.o.sz = 2;
	res[3] = simpler_submit(o, 0, NULL, &big.o);
	return 0;
}

TEST(submit_opts_and_stats_follow_the_size_rules)
{
	struct simpler_worker *w = make_worker(1, 0, 0, 0);
	struct {
		struct simpler_stats s;
		uint64_t future[4];
	} big;
	struct simpler_stats small;
	int res[4] = { 1, 1, 0, 1 };

	CHECK_EQ(simpler_register(w, "nop", k_nop), 0);
	CHECK_EQ(simpler_run(w, orch_big_opts, res), 0);
	CHECK_EQ(res[0], 0);
	CHECK_EQ(res[1], -E2BIG);
	CHECK_EQ(res[2], 1);
	CHECK_EQ(res[3], -EINVAL);
	/* stats into a longer struct: the known fields filled, the rest zeroed, sz kept */
	memset(&big, 0xff, sizeof(big));
	big.s.sz = sizeof(big);
	CHECK_EQ(simpler_worker_stats(w, &big.s), 0);
	CHECK_EQ(big.s.sz, sizeof(big));
	CHECK_EQ(big.s.tasks_submitted, 1);
	CHECK_EQ(big.s.tasks_completed, 1);
	CHECK_EQ(big.future[0], 0);
	CHECK_EQ(big.future[3], 0);
	/* a shorter one gets its own bytes only */
	memset(&small, 0xff, sizeof(small));
	small.sz = offsetof(struct simpler_stats, tasks_completed);
	CHECK_EQ(simpler_worker_stats(w, &small), 0);
	CHECK_EQ(small.tasks_submitted, 1);
	CHECK_EQ(small.tasks_completed, UINT64_MAX);
	small.sz = 3;
	CHECK_EQ(simpler_worker_stats(w, &small), -EINVAL);
	CHECK(strstr(simpler_worker_errmsg(w), "simpler_stats.sz is 3"));
	simpler_worker_destroy(w);
}

TEST(runtime_version_matches_the_header)
{
	CHECK_EQ(simpler_version(), SIMPLER_VERSION);
	CHECK_EQ(SIMPLER_VERSION, (SIMPLER_VERSION_MAJOR << 16) | (SIMPLER_VERSION_MINOR << 8) |
		 SIMPLER_VERSION_PATCH);
	CHECK(!strcmp(simpler_version_string(), SIMPLER_VERSION_STRING));
}

TEST_MAIN()
