// SPDX-License-Identifier: MIT
/*
 * Failures: a failed task poisons everything that depends on it (those never
 * run and carry its message) while independent tasks keep running;
 * submission after a failure fails fast; the first error wins; the orch fn's
 * own error is returned; the worker stays usable for the next run.
 */
#include <stdbool.h>

#include "probe.h"

SHARED_ARRAY(char, X, 4096)
SHARED_ARRAY(char, Y, 4096)
static int cid, fail_cid;
static struct simpler_worker *W;

/* fails with scalar[1] after sleeping scalar[2] us */
static int k_fail(const struct simpler_kernel_args *a)
{
	struct timespec ts = { 0, (long)a->scalars[2] * 1000 };

	atomic_store(&probe_start[a->scalars[0]], atomic_fetch_add(&probe_clock, 1) + 1);
	if (a->scalars[2])
		nanosleep(&ts, NULL);
	simpler_kernel_errmsg(a, "the kernel says: bad input %lu", (unsigned long)a->scalars[0]);
	atomic_store(&probe_end[a->scalars[0]], atomic_fetch_add(&probe_clock, 1) + 1);
	return (int)(int64_t)a->scalars[1];
}

static int submit_fail(struct simpler_orch *o, int id, int chip, int err, int sleep_us,
		       const void *out)
{
	struct simpler_args *a = simpler_args_new();
	SIMPLER_OPTS(simpler_submit_opts, so, .worker = chip);
	struct simpler_tensor t = tbytes(out, 0, 64);
	int r;

	simpler_args_add_tensor(a, &t, SIMPLER_OUT);
	simpler_args_add_scalar(a, (uint64_t)id);
	simpler_args_add_scalar(a, (uint64_t)(int64_t)err);
	simpler_args_add_scalar(a, (uint64_t)sleep_us);
	r = simpler_submit(o, fail_cid, a, &so);
	simpler_args_free(a);
	return r;
}

static void setup(int chips)
{
	probe_reset();
	W = make_worker(chips, 0, 0, 0);
	cid = simpler_register(W, "probe", k_probe);
	fail_cid = simpler_register(W, "fail", k_fail);
}

static uint64_t failed(void)
{
	struct simpler_stats s = { .sz = sizeof(s) };

	simpler_worker_stats(W, &s);
	return s.tasks_failed;
}

static int orch_poison(struct simpler_orch *o, void *arg)
{
	int r;

	/* 0 fails; 1 reads its output; 2 reads 1's; 3 is independent; 4 writes what 0 read */
	r = submit_fail(o, 0, 0, -EIO, 20000, X);
	if (r >= 0)
		r = probe_submit(o, cid, 1, 1, P_NONE, 0, 0, 2, ACC(X, 0, 64, SIMPLER_IN),
				 ACC(Y, 0, 64, SIMPLER_OUT));
	if (r >= 0)
		r = probe_submit(o, cid, 2, 1, P_NONE, 0, 0, 1, ACC(Y, 0, 64, SIMPLER_INOUT));
	if (r >= 0)
		r = probe_submit(o, cid, 3, 1, P_NONE, 0, 0, 1, ACC(Y, 1024, 64, SIMPLER_INOUT));
	return r < 0 ? r : 0;
}

TEST(failed_task_poisons_dependents_only)
{
	char where[64];

	setup(2);
	CHECK_EQ(simpler_run(W, orch_poison, NULL), -EIO);

	/* where it happened: the chip, and its pid when it is a process */
	if (test_threads())
		snprintf(where, sizeof(where), "chip 0: ");
	else
		snprintf(where, sizeof(where), "chip 0 (pid %d): ", simpler_chip_pid(W, 0));
	CHECK_MSG(strstr(simpler_worker_errmsg(W), where), "%s", simpler_worker_errmsg(W));
	CHECK(strstr(simpler_worker_errmsg(W), "kernel 'fail' (task #0, block 0 of 1) "
		     "returned -5"));
	CHECK(strstr(simpler_worker_errmsg(W), "the kernel says: bad input 0"));
	CHECK(!ran(1) && !ran(2));	/* poisoned: never ran */
	CHECK(ran(3));			/* independent: ran */
	CHECK_EQ(failed(), 3);
	simpler_worker_destroy(W);
}

static int orch_fail_fast(struct simpler_orch *o, void *arg)
{
	struct timespec ts = { 0, 100 * 1000 * 1000 };
	int r = submit_fail(o, 0, 0, -ENOSPC, 0, X);

	if (r < 0)
		return r;
	nanosleep(&ts, NULL);	/* task 0 has failed by now */
	r = probe_submit(o, cid, 1, 1, P_NONE, 0, 0, 1, ACC(Y, 0, 64, SIMPLER_OUT));
	*(int *)arg = r;
	return 0;
}

TEST(submit_after_failure_fails_fast)
{
	int r = 0;

	setup(2);
	CHECK_EQ(simpler_run(W, orch_fail_fast, &r), -ENOSPC);
	CHECK_EQ(r, -ENOSPC);
	CHECK(!ran(1));
	simpler_worker_destroy(W);
}

static int orch_first_wins(struct simpler_orch *o, void *arg)
{
	int r = submit_fail(o, 0, 0, -EINVAL, 100000, X);	/* fails second */

	return r < 0 ? r : submit_fail(o, 1, 1, -ENOMEM, 0, Y) < 0 ? -1 : 0;	/* fails first */
}

TEST(first_error_wins)
{
	setup(2);
	CHECK_EQ(simpler_run(W, orch_first_wins, NULL), -ENOMEM);
	CHECK(strstr(simpler_worker_errmsg(W), "task #1"));
	CHECK(ran(0));		/* the later failure still ran */
	simpler_worker_destroy(W);
}

static int orch_ok(struct simpler_orch *o, void *arg)
{
	int r = probe_submit(o, cid, 10, 0, P_NONE, 0, 0, 1, ACC(X, 0, 64, SIMPLER_OUT));

	return r < 0 ? r : probe_submit(o, cid, 11, 1, P_NONE, 0, 0, 1, ACC(X, 0, 64, SIMPLER_IN));
}

TEST(worker_usable_after_failed_run)
{
	setup(2);
	CHECK_EQ(simpler_run(W, orch_poison, NULL), -EIO);
	CHECK_OK(simpler_run(W, orch_ok, NULL), W);
	CHECK(waited(11, 10));
	CHECK_EQ(simpler_worker_errmsg(W)[0], 0);
	simpler_worker_destroy(W);
}

static int orch_returns_error(struct simpler_orch *o, void *arg)
{
	int r = probe_submit(o, cid, 0, 0, P_NONE, 0, 20000, 1, ACC(X, 0, 64, SIMPLER_OUT));

	return r < 0 ? r : -ENOTSUP;
}

TEST(orch_fn_error_is_returned_after_its_tasks_finish)
{
	setup(1);
	CHECK_EQ(simpler_run(W, orch_returns_error, NULL), -ENOTSUP);
	CHECK(ran(0));	/* what it submitted still ran to completion */
	CHECK(strstr(simpler_worker_errmsg(W), "orchestration function returned"));
	simpler_worker_destroy(W);
}

static int orch_both_fail(struct simpler_orch *o, void *arg)
{
	submit_fail(o, 0, 0, -EIO, 0, X);
	return -EPERM;
}

TEST(orch_fn_error_beats_task_error)
{
	setup(1);
	CHECK_EQ(simpler_run(W, orch_both_fail, NULL), -EPERM);
	simpler_worker_destroy(W);
}

static int orch_bad_submits(struct simpler_orch *o, void *arg)
{
	struct simpler_worker *w = simpler_orch_worker(o);
	struct simpler_args *a = simpler_args_new();
	SIMPLER_OPTS(simpler_submit_opts, so, .worker = 7);
	int r;

	r = simpler_submit(o, 99, a, NULL);
	CHECK_EQ(r, -EINVAL);
	CHECK(strstr(simpler_worker_errmsg(w), "callable 99 is not registered"));
	r = simpler_submit(o, cid, a, &so);
	CHECK_EQ(r, -EINVAL);
	CHECK(strstr(simpler_worker_errmsg(w), "chip 7 does not exist"));
	so.worker = -1;
	so.flags = SIMPLER_SUBMIT_SUB;
	CHECK_EQ(simpler_submit(o, cid, a, &so), -EINVAL);
	CHECK(strstr(simpler_worker_errmsg(w), "no sub workers"));
	so.flags = 0x80;
	CHECK_EQ(simpler_submit(o, cid, a, &so), -EINVAL);
	simpler_args_free(a);
	/* refused submits do not fail the run */
	return 0;
}

TEST(bad_submits_are_refused_with_a_message)
{
	setup(2);
	CHECK_OK(simpler_run(W, orch_bad_submits, NULL), W);
	simpler_worker_destroy(W);
}

static int orch_nested_run(struct simpler_orch *o, void *arg)
{
	return simpler_run(simpler_orch_worker(o), orch_ok, NULL);
}

TEST(nested_run_is_busy)
{
	setup(1);
	CHECK_EQ(simpler_run(W, orch_nested_run, NULL), -EBUSY);
	simpler_worker_destroy(W);
}

static int orch_keep(struct simpler_orch *o, void *arg)
{
	*(struct simpler_orch **)arg = o;
	return 0;
}

/* misuse is refused with a message that says what to do, never a bare -EINVAL */
TEST(misuse_leaves_a_message)
{
	struct simpler_orch *kept = NULL;
	struct simpler_stats st;

	setup(1);
	/* a NULL worker: the thread's message says so, not an older create error */
	CHECK_EQ(simpler_worker_create(NULL, NULL), -EINVAL);
	CHECK_EQ(simpler_run(NULL, orch_ok, NULL), -EINVAL);
	CHECK_MSG(!strcmp(simpler_worker_errmsg(NULL), "simpler_run: NULL worker"), "%s",
		  simpler_worker_errmsg(NULL));
	CHECK_EQ(simpler_worker_nr_chips(NULL), -EINVAL);
	CHECK(strstr(simpler_last_errmsg(), "NULL worker"));
	errno = 0;
	CHECK(simpler_worker_hostmem(NULL) == NULL);
	CHECK_EQ(errno, EINVAL);
	CHECK(strstr(simpler_last_errmsg(), "worker_hostmem: NULL worker"));
	CHECK(simpler_orch_worker(NULL) == NULL);
	CHECK(strstr(simpler_last_errmsg(), "orch_worker: NULL orch"));
	CHECK_EQ(simpler_args_nr_tensors(NULL), -EINVAL);
	CHECK(strstr(simpler_last_errmsg(), "args_nr_tensors: NULL args"));
	/* an orch kept past its run */
	CHECK_OK(simpler_run(W, orch_keep, &kept), W);
	CHECK_EQ(simpler_submit(kept, cid, NULL, NULL), -EINVAL);
	CHECK(strstr(simpler_worker_errmsg(W), "submit: this orch's run is over"));
	CHECK_EQ(simpler_scope_end(kept), -EINVAL);
	CHECK(strstr(simpler_worker_errmsg(W), "scope_end: this orch's run is over"));
	CHECK_EQ(simpler_scope_begin(NULL), -EINVAL);
	CHECK(strstr(simpler_last_errmsg(), "scope_begin: NULL orch"));
	/* stats with sz 0 */
	memset(&st, 0, sizeof(st));
	CHECK_EQ(simpler_worker_stats(W, &st), -EINVAL);
	CHECK(strstr(simpler_worker_errmsg(W), "simpler_stats.sz is 0"));
	simpler_worker_destroy(W);
}

static int k_none(const struct simpler_kernel_args *a)
{
	return 0;
}

/* args over X: (offset, bytes, access) triples */
static struct simpler_args *xargs(int n, const int *spec)
{
	struct simpler_args *a = simpler_args_new();
	int i;

	for (i = 0; i < n; i++) {
		struct simpler_tensor t = tbytes(X, (uint64_t)spec[3 * i], (uint32_t)spec[3 * i + 1]);

		simpler_args_add_tensor(a, &t, (enum simpler_access)spec[3 * i + 2]);
	}
	return a;
}

static int orch_write_twice(struct simpler_orch *o, void *arg)
{
	static const int twice[] = { 0, 64, SIMPLER_IN, 0, 64, SIMPLER_OUT, 32, 64, SIMPLER_INOUT };
	static const int fine[] = { 0, 64, SIMPLER_INOUT, 0, 128, SIMPLER_IN, 32, 64, SIMPLER_NO_DEP,
				    64, 64, SIMPLER_OUT };
	struct simpler_worker *w = simpler_orch_worker(o);
	struct simpler_args *a = xargs(3, twice), *g[2];
	int *res = arg, chips[2] = { 0, 1 }, none = simpler_callable(w, "none");

	res[0] = simpler_submit(o, none, a, NULL);
	res[1] = !!strstr(simpler_worker_errmsg(w), "submit: tensors 1 and 2 write overlapping "
			  "bytes of host memory");
	simpler_args_free(a);
	/* reads, NO_DEP and a disjoint write beside one writer: fine */
	a = xargs(4, fine);
	res[2] = simpler_submit(o, none, a, NULL);
	/* group members are not compared with each other, only within one */
	g[0] = a;
	g[1] = a;
	res[3] = simpler_submit_group(o, none, g, 2, chips);
	g[1] = xargs(3, twice);
	res[4] = simpler_submit_group(o, none, g, 2, chips);
	res[5] = !!strstr(simpler_worker_errmsg(w), "submit_group: member 1: tensors 1 and 2 "
			  "write overlapping bytes");
	simpler_args_free(a);
	simpler_args_free(g[1]);
	return 0;
}

/* two arguments of one task writing overlapping bytes are refused at submit, both named */
TEST(overlapping_writes_of_one_task_are_refused)
{
	int res[6] = { 1, 0, -1, -1, 1, 0 };

	setup(2);
	CHECK(simpler_register(W, "none", k_none) >= 0);
	CHECK_OK(simpler_run(W, orch_write_twice, res), W);
	CHECK_EQ(res[0], -EINVAL);
	CHECK_EQ(res[1], 1);
	CHECK(res[2] >= 0);
	CHECK(res[3] >= 0);
	CHECK_EQ(res[4], -EINVAL);
	CHECK_EQ(res[5], 1);
	simpler_worker_destroy(W);
}

struct ro_case {
	uint8_t *anon, *file, *prot;	/* read-only: anonymous shared, a file, mprotect()ed */
	int res[8];
};

static int k_fill(const struct simpler_kernel_args *a)
{
	memset((void *)(uintptr_t)a->tensors[0].addr, 0x5a, simpler_tensor_nbytes(&a->tensors[0]));
	return 0;
}

static int submit_one(struct simpler_orch *o, const void *p, enum simpler_access acc, bool view)
{
	struct simpler_worker *w = simpler_orch_worker(o);
	struct simpler_args *a = simpler_args_new();
	struct simpler_tensor t = t1d(p, 64, SIMPLER_U8);
	struct simpler_view v = simpler_view_2d(p, 32, 0, 0, 2, 8, SIMPLER_U8);
	int ret;

	if (view)
		simpler_args_add_view(a, &v, acc);
	else
		simpler_args_add_tensor(a, &t, acc);
	ret = simpler_submit(o, simpler_callable(w, acc == SIMPLER_IN ? "none" : "fill"), a, NULL);
	simpler_args_free(a);
	return ret;
}

static int orch_read_only(struct simpler_orch *o, void *arg)
{
	struct ro_case *c = arg;
	const char *msg = simpler_worker_errmsg(simpler_orch_worker(o));

	c->res[0] = submit_one(o, c->anon, SIMPLER_OUT, false);
	c->res[1] = !!strstr(msg, "submit: tensor 0 at ") &&
		    !!strstr(msg, "is OUT but not all of it is mapped writable");
	c->res[2] = submit_one(o, c->file, SIMPLER_INOUT, false);
	c->res[3] = submit_one(o, c->prot, SIMPLER_OUT_EXISTING, true);
	c->res[4] = submit_one(o, c->anon, SIMPLER_IN, false);
	c->res[5] = submit_one(o, c->anon + 4096, SIMPLER_OUT, false);	/* past the mapping */
	return 0;
}

static int orch_write_prot(struct simpler_orch *o, void *arg)
{
	struct ro_case *c = arg;

	c->res[6] = submit_one(o, c->prot, SIMPLER_OUT, false);
	return 0;
}

/* a written argument in memory mapped read-only is refused at submit, not a SIGSEGV */
TEST(written_arguments_in_read_only_memory_are_refused)
{
	char path[] = "/tmp/simpler-ro-XXXXXX";
	struct ro_case c;
	int fd = mkstemp(path), i;

	CHECK(fd >= 0);
	unlink(path);
	CHECK_EQ(ftruncate(fd, 4096), 0);
	/* mapped before the worker: chip processes inherit them */
	c.anon = mmap(NULL, 4096, PROT_READ, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	c.file = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);
	c.prot = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	close(fd);
	CHECK(c.anon != MAP_FAILED && c.file != MAP_FAILED && c.prot != MAP_FAILED);
	setup(2);
	CHECK(simpler_register(W, "none", k_none) >= 0);
	CHECK(simpler_register(W, "fill", k_fill) >= 0);
	CHECK_EQ(mprotect(c.prot, 4096, PROT_READ), 0);
	memset(c.res, 0x7f, sizeof(c.res));
	CHECK_OK(simpler_run(W, orch_read_only, &c), W);
	CHECK_EQ(c.res[0], -EFAULT);
	CHECK_MSG(c.res[1], "message: %s", simpler_worker_errmsg(W));
	CHECK_EQ(c.res[2], -EFAULT);
	CHECK_EQ(c.res[3], -EFAULT);
	CHECK(c.res[4] >= 0);		/* reading it is fine */
	CHECK(c.res[5] == -EFAULT || c.res[5] >= 0);	/* whatever lies beyond: not ours */
	/* writable again: the next run sees it afresh and the kernel writes it */
	CHECK_EQ(mprotect(c.prot, 4096, PROT_READ | PROT_WRITE), 0);
	CHECK_OK(simpler_run(W, orch_write_prot, &c), W);
	CHECK(c.res[6] >= 0);
	for (i = 0; i < 64; i++)
		CHECK_EQ(c.prot[i], 0x5a);
	simpler_worker_destroy(W);
	munmap(c.anon, 4096);
	munmap(c.file, 4096);
	munmap(c.prot, 4096);
}

TEST_MAIN()
