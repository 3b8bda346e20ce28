// SPDX-License-Identifier: MIT
/*
 * After a node is lost, the healthy one stays healthy: run as mpirun
 * --enable-recovery -np 3.  Node 1 (rank 2) SIGKILLs itself 0.1 s into a
 * node fn; 0.4 s in (node 1 dead, not yet noticed) node 0 runs a task that
 * reads node 1's memory (a transfer that never comes).  That task fails;
 * every later task on node 0 runs, whatever stage range it gets.
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "mpitest.h"

#define TIMEOUT_MS 1500
#define YN 4096

static int id_die, id_nap, id_rd, id_fill;
static uint64_t Y, hd, hc, hr, hout[YN];

/* the whole rank dies (its runner thread is this one's) after a short while */
static int nf_die(struct simpler_orch *o, const struct simpler_kernel_args *a)
{
	usleep(100 * 1000);
	kill(getpid(), SIGKILL);
	pause();
	return 0;
}

/* tensor 0 (u64) += 1 after scalar 0 ms */
static int nf_nap(struct simpler_orch *o, const struct simpler_kernel_args *a)
{
	usleep((useconds_t)a->scalars[0] * 1000);
	(*(uint64_t *)(uintptr_t)a->tensors[0].addr)++;
	return 0;
}

/* tensor 1 (u64) = tensor 0's first u64 */
static int nf_rd(struct simpler_orch *o, const struct simpler_kernel_args *a)
{
	memcpy((void *)(uintptr_t)a->tensors[1].addr, (void *)(uintptr_t)a->tensors[0].addr, 8);
	return 0;
}

/* tensor 0 (u64, OUT) = 0, 1, 2, ... */
static int nf_fill(struct simpler_orch *o, const struct simpler_kernel_args *a)
{
	uint64_t *p = (uint64_t *)(uintptr_t)a->tensors[0].addr;
	uint32_t i;

	for (i = 0; i < a->tensors[0].shape[0]; i++)
		p[i] = i;
	return 0;
}

static void setup(struct simpler_worker *w)
{
	id_die = simpler_register_node_fn(w, "die", nf_die);
	id_nap = simpler_register_node_fn(w, "nap", nf_nap);
	id_rd = simpler_register_node_fn(w, "rd", nf_rd);
	id_fill = simpler_register_node_fn(w, "fill", nf_fill);
}

static int sub(struct simpler_orch *o, int id, int node, int n, const struct simpler_tensor *t,
	       const enum simpler_access *acc, uint64_t s)
{
	struct simpler_args *x = simpler_args_new();
	struct simpler_submit_opts so = { .sz = sizeof(so), .worker = node };
	int i, r;

	for (i = 0; i < n; i++)
		simpler_args_add_tensor(x, &t[i], acc[i]);
	simpler_args_add_scalar(x, s);
	r = simpler_submit(o, id, x, &so);
	simpler_args_free(x);
	return r;
}

static int orch_lose(struct simpler_orch *o, void *arg)
{
	struct simpler_tensor td = simpler_tensor_1d(&hd, 1, SIMPLER_U64);
	struct simpler_tensor tc = simpler_tensor_1d(&hc, 1, SIMPLER_U64);
	struct simpler_tensor ty = simpler_tensor_1d(NULL, YN, SIMPLER_U64);
	struct simpler_tensor tr = simpler_tensor_1d(&hr, 1, SIMPLER_U64);
	enum simpler_access io = SIMPLER_INOUT, rd[3] = { SIMPLER_IN, SIMPLER_OUT, SIMPLER_IN };

	ty.addr = Y;
	ty.child_memory = 1;
	sub(o, id_die, 1, 1, &td, &io, 0);		/* node 1 dies 0.1 s in */
	sub(o, id_nap, 0, 1, &tc, &io, 400);		/* node 0 naps 0.4 s, writes hc */
	/* after the nap (it reads hc): node 1's Y on node 0, a transfer that never comes */
	sub(o, id_rd, 0, 3, (struct simpler_tensor[]){ ty, tr, tc }, rd, 0);
	return 0;
}

static int orch_fill(struct simpler_orch *o, void *arg)
{
	struct simpler_tensor t = simpler_tensor_1d(hout, YN, SIMPLER_U64);
	enum simpler_access acc = SIMPLER_OUT;
	int r = sub(o, id_fill, 0, 1, &t, &acc, 0);

	return r < 0 ? r : 0;
}

MT_TEST(a_transfer_lost_with_its_source_fails_only_its_own_task)
{
	struct simpler_node_info i = { .sz = sizeof(i) };
	double t0;
	int r, k;

	CHECK_OK(simpler_malloc(w, 1, YN * 8, &Y), w);
	hr = 77;
	t0 = mt_now();
	r = simpler_run(w, orch_lose, NULL);
	printf("# the run returned %d after %.2f s: %s\n", r, mt_now() - t0,
	       simpler_worker_errmsg(w));
	CHECK_EQ(r, -EHOSTDOWN);
	CHECK_EQ(hr, 77);		/* the reader never ran */
	CHECK_EQ(hc, 1);		/* the nap did */
	CHECK_OK(simpler_node_info(w, 1, &i), w);
	CHECK_EQ(i.lost, 1);
	/* node 0 goes on: OUT-only staged tensors, wherever the stage puts them */
	for (k = 0; k < 4; k++) {
		memset(hout, 0xff, sizeof(hout));
		CHECK_OK(simpler_run(w, orch_fill, NULL), w);
		CHECK_EQ(hout[5], 5);
		CHECK_EQ(hout[YN - 1], YN - 1);
	}
	CHECK_OK(simpler_node_info(w, 0, &i), w);
	CHECK_EQ(i.lost, 0);
}

int main(void)
{
	SIMPLER_OPTS(simpler_worker_opts, l3, .nr_chips = 1);
	SIMPLER_OPTS(simpler_worker_opts, o, .level = 4, .flags = SIMPLER_WORKER_MPI,
		     .node_timeout_ms = TIMEOUT_MS, .remote_opts = &l3);

	return mt_main(&o, setup);
}
