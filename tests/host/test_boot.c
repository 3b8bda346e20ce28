// SPDX-License-Identifier: MIT
/*
 * Chip bootstrap and comm domains (DESIGN 3.7), in the suite's mode: every
 * validation rule fails create with "chip N bootstrap failed: ..." before
 * any process or domain exists; 2- and 4-rank contexts field by field;
 * store_to_host never shows partial output (a slow copy-out injected in the
 * sim) and never runs after a failed kernel; a failed store fails the task
 * naming the buffer; an allreduce across 2 and 4 chips through peers'
 * windows, ordered by the TensorMap; the sim's barrier and domains.
 */
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/mman.h>

#include "test_util.h"

#include "../../platform/platform.h"

extern _Atomic unsigned long sx_forks;
extern _Atomic unsigned long sx_sim_comm_created, sx_sim_comm_destroyed;

#define WIN 100000		/* asked for; the sim rounds windows up to 64 KiB */
#define WIN_ACTUAL 131072
#define NX 1024			/* floats per rank in the allreduce */

SHARED_ARRAY(float, sums, 4 * NX)	/* store_to of each rank's "sum" */
SHARED_ARRAY(uint8_t, small_out, 4096)

static float xin[4][NX];		/* load_from: private memory is fine for loads */


/* n chips in domain "d", each with buffers x (loaded) and sum (stored) */
static void allreduce_cfg(struct simpler_bootstrap_config *c, struct simpler_buffer_config (*b)[2],
			  int n)
{
	int r, i;

	for (r = 0; r < n; r++) {
		for (i = 0; i < NX; i++)
			xin[r][i] = (float)(r * 1000 + i);
		b[r][0] = (struct simpler_buffer_config){ .name = "x", .nbytes = NX * 4,
			.flags = SIMPLER_LOAD_FROM_HOST, .load_from = xin[r], .load_size = NX * 4 };
		b[r][1] = (struct simpler_buffer_config){ .name = "sum", .nbytes = NX * 4,
			.flags = SIMPLER_STORE_TO_HOST, .store_to = &sums[r * NX],
			.store_size = NX * 4 };
		c[r] = (struct simpler_bootstrap_config){
			.comm = { .domain = "d", .rank = r, .nranks = n, .window_size = WIN },
			.buffers = b[r], .nr_buffers = 2 };
	}
}

static struct simpler_worker *boot_worker(int chips, const struct simpler_bootstrap_config *c)
{
	struct simpler_worker *w = NULL;
	TEST_OPTS(o, .nr_chips = chips, .flags = test_mode_flags(), .bootstrap = c);
	int ret = simpler_worker_create(&o, &w);

	if (ret)
		FAILF("simpler_worker_create: %d: %s", ret, simpler_last_errmsg());
	return w;
}

/* create must fail with err and a message holding want, touching nothing */
static void refused(int chips, const struct simpler_bootstrap_config *c, int err, const char *want)
{
	struct simpler_worker *w = (void *)1;
	unsigned long forks = sx_forks, made = sx_sim_comm_created;
	TEST_OPTS(o, .nr_chips = chips, .flags = test_mode_flags(), .bootstrap = c);

	CHECK_EQ(simpler_worker_create(&o, &w), err);
	CHECK(w == NULL);
	CHECK_MSG(strstr(simpler_last_errmsg(), want), "message: %s", simpler_last_errmsg());
	CHECK_EQ(sx_forks, forks);		/* no chip process was started */
	CHECK_EQ(sx_sim_comm_created, made);	/* no domain was created */
	printf("# %s\n", simpler_last_errmsg());
}

/* two chips of domain "d" with valid buffers; tests break one thing */
static void base_cfg(struct simpler_bootstrap_config *c, struct simpler_buffer_config (*b)[2])
{
	allreduce_cfg(c, b, 2);
}

#define RULE(name, chips, fix, err, want)                                   \
	TEST(name)                                                          \
	{                                                                   \
		struct simpler_bootstrap_config c[4];                       \
		struct simpler_buffer_config b[4][2];                       \
		base_cfg(c, b);                                             \
		fix;                                                        \
		refused(chips, c, err, want);                               \
	}

RULE(load_without_a_source_is_refused, 2, b[1][0].load_from = NULL, -EINVAL,
     "chip 1 bootstrap failed: buffer 'x' has SIMPLER_LOAD_FROM_HOST but no load_from")
RULE(store_without_a_destination_is_refused, 2, b[0][1].store_to = NULL, -EINVAL,
     "chip 0 bootstrap failed: buffer 'sum' has SIMPLER_STORE_TO_HOST but no store_to")
RULE(source_without_load_flag_is_refused, 2, b[0][1].load_from = xin[0], -EINVAL,
     "chip 0 bootstrap failed: buffer 'sum' has a load_from but not SIMPLER_LOAD_FROM_HOST")
RULE(destination_without_store_flag_is_refused, 2, b[1][0].store_to = sums, -EINVAL,
     "chip 1 bootstrap failed: buffer 'x' has a store_to but not SIMPLER_STORE_TO_HOST")
RULE(load_size_that_differs_is_refused, 2, b[0][0].load_size = 100, -EINVAL,
     "chip 0 bootstrap failed: buffer 'x': load_size 100 differs from nbytes 4096")
RULE(store_size_that_differs_is_refused, 2, b[1][1].store_size = NX * 8, -EINVAL,
     "chip 1 bootstrap failed: buffer 'sum': store_size 8192 differs from nbytes 4096")
RULE(buffers_overflowing_the_actual_window_are_refused, 2,
     (b[1][1] = (struct simpler_buffer_config){ .name = "sum",
						.nbytes = WIN_ACTUAL - NX * 4 + 1 }), -EINVAL,
     "chip 1 bootstrap failed: buffer 'sum' (nbytes=126977) at offset 4096 overflows the "
     "window of domain 'd' (131072 bytes; window_size 100000 rounded up)")
RULE(duplicate_names_are_refused, 2, b[0][1].name = "x", -EINVAL,
     "chip 0 bootstrap failed: buffer 'x' is declared twice (buffers 0 and 1)")
RULE(rank_out_of_range_is_refused, 2, c[1].comm.rank = 2, -EINVAL,
     "chip 1 bootstrap failed: comm domain 'd': rank 2 is out of range (0..1 for 2 ranks)")
RULE(negative_rank_is_refused, 2, c[0].comm.rank = -1, -EINVAL,
     "chip 0 bootstrap failed: comm domain 'd': rank -1 is out of range")
RULE(a_rank_taken_twice_is_refused, 2, c[1].comm.rank = 0, -EINVAL,
     "chip 1 bootstrap failed: comm domain 'd': rank 0 is chip 0's already")
RULE(a_missing_rank_is_refused, 2, (c[0].comm.nranks = c[1].comm.nranks = 3), -EINVAL,
     "chip 0 bootstrap failed: comm domain 'd' has no rank 2")
RULE(ranks_disagreeing_on_nranks_are_refused, 2, c[1].comm.nranks = 4, -EINVAL,
     "chip 1 bootstrap failed: comm domain 'd': nranks 4, but chip 0 said 2")
RULE(ranks_disagreeing_on_the_window_are_refused, 2, c[1].comm.window_size = 1 << 20, -EINVAL,
     "chip 1 bootstrap failed: comm domain 'd': window_size 1048576, but chip 0 said 100000")
RULE(an_impossible_window_is_refused, 2, (c[0].comm.window_size = c[1].comm.window_size = 0),
     -EINVAL, "chip 0 bootstrap failed: comm domain 'd': platform 'sim' cannot give windows of 0")
RULE(buffers_without_a_domain_are_refused, 2, c[1].comm.domain = NULL, -EINVAL,
     "chip 1 bootstrap failed: buffers are carved from a comm window, but comm.domain is not set")
RULE(a_nameless_buffer_is_refused, 2, b[0][0].name = "", -EINVAL,
     "chip 0 bootstrap failed: buffer 0: a name of 1..31 bytes is needed")
RULE(an_unmapped_source_is_refused, 2, b[1][0].load_from = (void *)16, -EFAULT,
     "chip 1 bootstrap failed: buffer 'x': load_from 0x10 (4096 bytes) is not mapped memory")

TEST(private_store_destination_is_refused_in_process_mode)
{
	struct simpler_bootstrap_config c[2];
	struct simpler_buffer_config b[2][2];
	static float priv[NX];

	if (test_threads()) {
		/* a thread writes anywhere: the same config boots */
		base_cfg(c, b);
		b[0][1].store_to = priv;
		simpler_worker_destroy(boot_worker(2, c));
		return;
	}
	base_cfg(c, b);
	b[0][1].store_to = priv;
	refused(2, c, -EFAULT, "chip 0 bootstrap failed: buffer 'sum': store_to");
	CHECK_MSG(strstr(simpler_last_errmsg(), "is not shared memory mapped before create"), "%s",
		  simpler_last_errmsg());
}

/* every field of every chip's context */
static void check_contexts(int n)
{
	struct simpler_bootstrap_config c[4];
	struct simpler_buffer_config b[4][2];
	struct simpler_worker *w;
	uint64_t base[4], a, peer;
	float back[NX];
	int r, i;

	allreduce_cfg(c, b, n);
	w = boot_worker(n, c);
	for (r = 0; r < n; r++) {
		struct simpler_chip_context x = { .sz = sizeof(x) };

		CHECK_OK(simpler_chip_context(w, r, &x), w);
		CHECK(!strcmp(x.domain, "d"));
		CHECK_EQ(x.rank, r);
		CHECK_EQ(x.nranks, n);
		CHECK_EQ(x.window_size, WIN_ACTUAL);
		CHECK(x.window_base != 0);
		base[r] = x.window_base;
		CHECK_EQ(x.nr_buffers, 2);
		CHECK(!strcmp(x.buffers[0].name, "x") && !strcmp(x.buffers[1].name, "sum"));
		/* carved back to back from the window, in order */
		CHECK_EQ(x.buffers[0].addr, x.window_base);
		CHECK_EQ(x.buffers[1].addr, x.window_base + NX * 4);
		CHECK_EQ(x.buffers[0].nbytes, NX * 4);
		CHECK_EQ(x.buffers[0].flags, SIMPLER_LOAD_FROM_HOST);
		CHECK_EQ(x.buffers[1].flags, SIMPLER_STORE_TO_HOST);
		CHECK_OK(simpler_chip_buffer(w, r, "sum", &a), w);
		CHECK_EQ(a, x.buffers[1].addr);
		/* loaded at bootstrap; the rest of the window zeroed */
		CHECK_OK(simpler_copy_from(w, r, back, x.buffers[0].addr, NX * 4), w);
		CHECK(!memcmp(back, xin[r], NX * 4));
		CHECK_OK(simpler_copy_from(w, r, back, x.buffers[1].addr, NX * 4), w);
		for (i = 0; i < NX; i++)
			CHECK(back[i] == 0);
	}
	for (r = 0; r < n; r++) {
		for (i = 0; i < n; i++) {
			CHECK_OK(simpler_chip_peer_window(w, r, i, &peer), w);
			CHECK_EQ(peer, base[i]);
		}
		if (r)	/* windows do not overlap */
			CHECK(base[r] >= base[r - 1] + WIN_ACTUAL);
	}
	CHECK_EQ(simpler_chip_buffer(w, 0, "nope", &a), -ENOENT);
	CHECK(strstr(simpler_worker_errmsg(w), "chip 0 has no buffer 'nope'"));
	CHECK_EQ(simpler_chip_peer_window(w, 0, n, &peer), -EINVAL);
	simpler_worker_destroy(w);
}

TEST(two_rank_bootstrap_context)
{
	check_contexts(2);
}

TEST(four_rank_bootstrap_context)
{
	check_contexts(4);
}

TEST(a_chip_without_bootstrap_has_an_empty_context)
{
	struct simpler_worker *w = make_worker(2, 0, 0, 0);
	struct simpler_chip_context x = { .sz = sizeof(x) };

	CHECK_OK(simpler_chip_context(w, 1, &x), w);
	CHECK(!strcmp(x.domain, "") && x.rank == 0 && x.nranks == 1 && x.window_base == 0 &&
	      x.nr_buffers == 0);
	CHECK_EQ(simpler_chip_context(w, 2, &x), -EINVAL);
	simpler_worker_destroy(w);
}

/* ---- store_to_host ---- */

/* fill tensor 0 with byte scalar 0; fail with scalar 1 != 0 */
static int k_fill(const struct simpler_kernel_args *a)
{
	const struct simpler_tensor *t = &a->tensors[0];

	memset((void *)(uintptr_t)t->addr, (int)a->scalars[0], simpler_tensor_nbytes(t));
	return a->scalars[1] ? -EIO : 0;
}

struct fill_plan {
	uint64_t addr, n;
	int chip;
	uint8_t byte;
	bool fail;
};

static int orch_fill(struct simpler_orch *o, void *arg)
{
	struct fill_plan *p = arg;
	struct simpler_worker *w = simpler_orch_worker(o);
	struct simpler_args *a = simpler_args_new();
	struct simpler_tensor t = simpler_tensor_1d((void *)(uintptr_t)p->addr, (uint32_t)p->n,
						    SIMPLER_U8);
	SIMPLER_OPTS(simpler_submit_opts, so, .worker = p->chip);
	int r;

	t.child_memory = 1;
	simpler_args_add_tensor(a, &t, SIMPLER_OUT);
	simpler_args_add_scalar(a, p->byte);
	simpler_args_add_scalar(a, p->fail);
	r = simpler_submit(o, simpler_callable(w, "fill"), a, &so);
	simpler_args_free(a);
	return r < 0 ? r : 0;
}

/* one chip, domain of one, one stored buffer of n bytes into out */
static struct simpler_worker *store_worker(void *out, uint64_t n, uint64_t *addr)
{
	static struct simpler_buffer_config b;
	static struct simpler_bootstrap_config c;
	struct simpler_worker *w;

	b = (struct simpler_buffer_config){ .name = "out", .nbytes = n,
		.flags = SIMPLER_STORE_TO_HOST, .store_to = out, .store_size = n };
	c = (struct simpler_bootstrap_config){
		.comm = { .domain = "solo", .rank = 0, .nranks = 1, .window_size = n },
		.buffers = &b, .nr_buffers = 1 };
	w = boot_worker(1, &c);
	simpler_register(w, "fill", k_fill);
	CHECK_OK(simpler_chip_buffer(w, 0, "out", addr), w);
	return w;
}

/*
 * The copy out crawls (a MiB, then 2 ms): were completion published before
 * it finished, simpler_run() would return with part of the old contents.
 */
TEST(no_partial_output_after_run_returns)
{
	const uint64_t n = 64 << 20;
	uint8_t *out = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	struct fill_plan p = { .n = n };
	struct simpler_worker *w;
	uint64_t i, bad;
	int g;

	CHECK(out != MAP_FAILED);
	setenv("SIMPLER_SIM_COPY_DELAY_US", "2000", 1);
	w = store_worker(out, n, &p.addr);
	for (g = 1; g <= 3; g++) {
		p.byte = (uint8_t)(0x10 * g);
		CHECK_OK(simpler_run(w, orch_fill, &p), w);
		for (i = 0, bad = 0; i < n; i += 512)
			bad += out[i] != p.byte || out[i + 511] != p.byte;
		CHECK_MSG(bad == 0, "generation %d: %" PRIu64 " stale spots after the run", g, bad);
	}
	simpler_worker_destroy(w);
	munmap(out, n);
}

TEST(a_failed_kernel_leaves_the_host_output_untouched)
{
	const uint64_t n = 4096;
	struct fill_plan p = { .n = n, .byte = 0x55, .fail = true };
	struct simpler_worker *w = store_worker(small_out, n, &p.addr);
	uint64_t i;

	memset(small_out, 0xAA, n);
	CHECK_EQ(simpler_run(w, orch_fill, &p), -EIO);
	CHECK(!strstr(simpler_worker_errmsg(w), "store_to_host"));
	for (i = 0; i < n; i++)
		CHECK(small_out[i] == 0xAA);
	/* the next successful task stores */
	p.fail = false;
	CHECK_OK(simpler_run(w, orch_fill, &p), w);
	for (i = 0; i < n; i++)
		CHECK(small_out[i] == 0x55);
	simpler_worker_destroy(w);
}

TEST(a_failed_store_fails_the_task_naming_the_buffer)
{
	struct fill_plan p = { .n = 4096, .byte = 1 };
	struct simpler_worker *w;

	setenv("SIMPLER_SIM_FAIL_COPY", "from", 1);
	w = store_worker(small_out, 4096, &p.addr);
	CHECK_EQ(simpler_run(w, orch_fill, &p), -EIO);
	CHECK_MSG(strstr(simpler_worker_errmsg(w), "kernel 'fill' (task #0) ran, but "
			 "store_to_host='out': copy from the chip failed"), "%s",
		  simpler_worker_errmsg(w));
	printf("# %s\n", simpler_worker_errmsg(w));
	simpler_worker_destroy(w);
}

TEST(a_failed_load_fails_create_and_leaves_nothing)
{
	struct simpler_bootstrap_config c[4];
	struct simpler_buffer_config b[4][2];
	struct simpler_worker *w = NULL;
	unsigned long made = sx_sim_comm_created, gone = sx_sim_comm_destroyed;
	char line[512];
	FILE *f;

	setenv("SIMPLER_SIM_FAIL_COPY", "to", 1);
	base_cfg(c, b);
	{
		TEST_OPTS(o, .nr_chips = 2, .flags = test_mode_flags(), .bootstrap = c);

		CHECK_EQ(simpler_worker_create(&o, &w), -EIO);
	}
	CHECK(w == NULL);
	CHECK_MSG(strstr(simpler_last_errmsg(), "bootstrap failed: load_from_host='x': copy to "
			 "the chip failed"), "%s", simpler_last_errmsg());
	printf("# %s\n", simpler_last_errmsg());
	/* the domain was made, and released once */
	CHECK_EQ(sx_sim_comm_created - made, 1);
	CHECK_EQ(sx_sim_comm_destroyed - gone, 1);
	f = fopen("/proc/self/maps", "r");
	CHECK(f != NULL);
	while (fgets(line, sizeof(line), f))
		CHECK_MSG(!strstr(line, "simpler-comm"), "left mapped: %s", line);
	fclose(f);
}

/* ---- allreduce ---- */

/* x *= (rank + 1), in place, slowly: a reader not ordered after it would see x unscaled */
static int k_scale(const struct simpler_kernel_args *a)
{
	float *x = (float *)(uintptr_t)a->tensors[0].addr;
	struct timespec ts = { 0, 20 * 1000 * 1000 };
	int i;
	uint64_t st = simpler_kernel_stride(a, 0, 0);	/* 2 for the views of every other */

	nanosleep(&ts, NULL);
	for (i = 0; i < (int)a->tensors[0].shape[0]; i++)
		x[i * st] *= (float)(a->scalars[0] + 1);
	return 0;
}

/* tensor 0: my sum (out); tensors 1..n: every rank's x, read from its window */
static int k_allreduce(const struct simpler_kernel_args *a)
{
	float *sum = (float *)(uintptr_t)a->tensors[0].addr;
	uint32_t r;
	int i;

	for (i = 0; i < NX; i++)
		sum[i] = 0;
	for (r = 1; r < a->nr_tensors; r++) {
		const float *x = (const float *)(uintptr_t)a->tensors[r].addr;

		for (i = 0; i < NX; i++)
			sum[i] += x[i];
	}
	return 0;
}

struct ar_plan {
	int n;
	bool views;		/* scale the even and the odd elements of x as two views */
	uint64_t x[4], sum[4];
};

static struct simpler_tensor chip_t(uint64_t addr)
{
	struct simpler_tensor t = simpler_tensor_1d((void *)(uintptr_t)addr, NX, SIMPLER_F32);

	t.child_memory = 1;
	return t;
}

/* scale every x on its own chip, then each rank sums every x through the windows */
static int orch_allreduce(struct simpler_orch *o, void *arg)
{
	struct ar_plan *p = arg;
	struct simpler_worker *w = simpler_orch_worker(o);
	struct simpler_args *a = simpler_args_new();
	struct simpler_tensor t;
	int r, k, ret = 0;

	for (r = 0; r < p->n && ret >= 0; r++) {
		SIMPLER_OPTS(simpler_submit_opts, so, .worker = r);
		struct simpler_view v = { .t = chip_t(p->x[r]), .strides = { 2 } };

		for (k = 0; k < (p->views ? 2 : 1) && ret >= 0; k++) {
			simpler_args_reset(a);
			t = chip_t(p->x[r]);
			v.t.shape[0] = NX / 2;
			v.offset = (uint64_t)k;
			if (p->views)
				simpler_args_add_view(a, &v, SIMPLER_INOUT);
			else
				simpler_args_add_tensor(a, &t, SIMPLER_INOUT);
			simpler_args_add_scalar(a, (uint64_t)r);
			ret = simpler_submit(o, simpler_callable(w, "scale"), a, &so);
		}
	}
	for (r = 0; r < p->n && ret >= 0; r++) {
		SIMPLER_OPTS(simpler_submit_opts, so, .worker = r);

		simpler_args_reset(a);
		t = chip_t(p->sum[r]);
		simpler_args_add_tensor(a, &t, SIMPLER_OUT);
		for (k = 0; k < p->n; k++) {
			t = chip_t(p->x[k]);	/* a peer's window: ordered after its scale */
			simpler_args_add_tensor(a, &t, SIMPLER_IN);
		}
		ret = simpler_submit(o, simpler_callable(w, "allreduce"), a, &so);
	}
	simpler_args_free(a);
	return ret < 0 ? ret : 0;
}

static void allreduce_case(int n, bool views)
{
	struct simpler_bootstrap_config c[4];
	struct simpler_buffer_config b[4][2];
	struct simpler_stats st = { .sz = sizeof(st) };
	struct simpler_worker *w;
	struct ar_plan p = { .n = n, .views = views };
	int r, k, i, rep, bad = 0;

	allreduce_cfg(c, b, n);
	w = boot_worker(n, c);
	simpler_register(w, "scale", k_scale);
	simpler_register(w, "allreduce", k_allreduce);
	for (r = 0; r < n; r++) {
		CHECK_OK(simpler_chip_buffer(w, r, "x", &p.x[r]), w);
		CHECK_OK(simpler_chip_buffer(w, r, "sum", &p.sum[r]), w);
	}
	/* twice: the second run scales the already scaled windows again */
	for (rep = 1; rep <= 2; rep++) {
		CHECK_OK(simpler_run(w, orch_allreduce, &p), w);
		for (r = 0; r < n; r++)
			for (i = 0; i < NX; i++) {
				float want = 0;

				for (k = 0; k < n; k++) {
					float f = (float)(k + 1);

					want += xin[k][i] * (rep == 1 ? f : f * f);
				}
				bad += sums[r * NX + i] != want;
			}
		CHECK_MSG(bad == 0, "run %d: %d wrong sums", rep, bad);
	}
	/* the edges were real: every allreduce waited for the (slow) scales */
	CHECK_OK(simpler_worker_stats(w, &st), w);
	CHECK(st.edges >= (uint64_t)n * (views ? 2 : 1));
	simpler_worker_destroy(w);
}

TEST(allreduce_on_two_chips)
{
	allreduce_case(2, false);
}

/* every allreduce reads the windows, plain, after both strided views of each were scaled */
TEST(views_of_comm_windows_are_ordered_across_chips)
{
	allreduce_case(2, true);
}

TEST(allreduce_on_four_chips)
{
	allreduce_case(4, false);
}

/* a restarted rank re-attaches: its window keeps what its predecessor left */
TEST(a_restarted_rank_keeps_its_window)
{
	struct simpler_bootstrap_config c[4];
	struct simpler_buffer_config b[4][2];
	struct simpler_worker *w;
	struct ar_plan p = { .n = 2 };
	float back[NX];
	int pid, r, i, bad = 0;

	if (test_threads())
		SKIP("chips are threads: nothing to kill");
	allreduce_cfg(c, b, 2);
	w = boot_worker(2, c);
	simpler_register(w, "scale", k_scale);
	simpler_register(w, "allreduce", k_allreduce);
	for (r = 0; r < 2; r++) {
		CHECK_OK(simpler_chip_buffer(w, r, "x", &p.x[r]), w);
		CHECK_OK(simpler_chip_buffer(w, r, "sum", &p.sum[r]), w);
	}
	CHECK_OK(simpler_run(w, orch_allreduce, &p), w);	/* x[1] is now 2 * xin[1] */
	pid = simpler_chip_pid(w, 1);
	CHECK(pid > 0);
	kill(pid, SIGKILL);
	for (i = 0; i < 2000 && simpler_chip_pid(w, 1) > 0; i++)
		usleep(1000);
	CHECK_EQ(simpler_chip_pid(w, 1), -ECHILD);
	/* the next run restarts it; the window was not zeroed or reloaded */
	CHECK_OK(simpler_run(w, orch_allreduce, &p), w);
	CHECK(simpler_chip_pid(w, 1) > 0 && simpler_chip_pid(w, 1) != pid);
	CHECK_OK(simpler_copy_from(w, 1, back, p.x[1], NX * 4), w);
	for (i = 0; i < NX; i++)
		bad += back[i] != xin[1][i] * 4;
	for (i = 0; i < NX; i++)
		bad += sums[NX + i] != xin[0][i] * 1 + xin[1][i] * 4;
	CHECK_MSG(bad == 0, "%d wrong values after the restart", bad);
	simpler_worker_destroy(w);
}

TEST(domains_are_destroyed_exactly_once)
{
	struct simpler_bootstrap_config c[4];
	struct simpler_buffer_config b[4][2];
	unsigned long made = sx_sim_comm_created, gone = sx_sim_comm_destroyed;

	allreduce_cfg(c, b, 4);
	c[2].comm.domain = c[3].comm.domain = "e";
	c[2].comm.rank = 0;
	c[3].comm.rank = 1;
	c[0].comm.nranks = c[1].comm.nranks = c[2].comm.nranks = c[3].comm.nranks = 2;
	simpler_worker_destroy(boot_worker(4, c));
	CHECK_EQ(sx_sim_comm_created - made, 2);
	CHECK_EQ(sx_sim_comm_destroyed - gone, 2);
}

/* ---- the sim's comm, directly ---- */

struct bar_arg {
	struct simpler_comm *m;
	uint32_t ms;
	int ret;
};

static void *bar_thread(void *p)
{
	struct bar_arg *b = p;
	char err[256];

	b->ret = sx_platform_sim.comm_barrier(b->m, b->ms, err, sizeof(err));
	return NULL;
}

TEST(sim_comm_barrier_meets_and_times_out)
{
	const struct simpler_platform_ops *s = &sx_platform_sim;
	struct simpler_comm *m = NULL;
	struct bar_arg a[4];
	pthread_t t[4];
	char err[256];
	int i, round;

	CHECK_EQ(s->comm_create("bar", 4, 4096, &m, err, sizeof(err)), 0);
	CHECK_EQ(s->comm_window_size(4096), 65536);
	CHECK_EQ(s->comm_window(m, 1) - s->comm_window(m, 0), 65536);
	CHECK_EQ(s->comm_window(m, 4), 0);
	for (round = 0; round < 3; round++) {	/* reusable */
		for (i = 0; i < 4; i++) {
			a[i] = (struct bar_arg){ m, 5000, -1 };
			CHECK_EQ(pthread_create(&t[i], NULL, bar_thread, &a[i]), 0);
		}
		for (i = 0; i < 4; i++) {
			pthread_join(t[i], NULL);
			CHECK_EQ(a[i].ret, 0);
		}
	}
	/* three of four: the barrier gives up, saying how many came */
	for (i = 0; i < 3; i++)
		a[i] = (struct bar_arg){ m, 100, -1 };
	for (i = 0; i < 3; i++)
		CHECK_EQ(pthread_create(&t[i], NULL, bar_thread, &a[i]), 0);
	for (i = 0; i < 3; i++)
		pthread_join(t[i], NULL);
	for (i = 0; i < 3; i++)
		CHECK_EQ(a[i].ret, -ETIMEDOUT);
	CHECK_EQ(s->comm_barrier(m, 10, err, sizeof(err)), 0);	/* the 4th opens the last round */
	s->comm_destroy(&m);
	CHECK(m == NULL);
	s->comm_destroy(&m);	/* idempotent */
	CHECK(m == NULL);
}

TEST(sim_comm_barrier_timeout_message)
{
	const struct simpler_platform_ops *s = &sx_platform_sim;
	struct simpler_comm *m = NULL;
	char err[256];

	CHECK_EQ(s->comm_create("late", 2, 1, &m, err, sizeof(err)), 0);
	CHECK_EQ(s->comm_barrier(m, 50, err, sizeof(err)), -ETIMEDOUT);
	CHECK_MSG(strstr(err, "barrier of comm domain 'late' timed out after 50 ms (1 of 2 ranks "
			 "arrived)"), "%s", err);
	s->comm_destroy(&m);
}

TEST_MAIN()
