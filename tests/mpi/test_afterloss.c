// SPDX-License-Identifier: MIT
/*
 * After a node is lost, the healthy one stays healthy: run as mpirun
 * --enable-recovery -np 3.  Node 1 (rank 2) SIGKILLs itself 0.1 s into a
 * node fn; 0.4 s in (node 1 dead, not yet noticed) node 0 runs a task that
 * reads node 1's memory (a transfer that never comes), and node 1 is told
 * to read 256 MiB of node 0's memory (a transfer nobody will receive).
 * Those tasks fail; every later task on node 0 runs, whatever stage range
 * it gets, and one writing the memory the orphan send reads runs at once:
 * rank 0 cancels that send when it finds node 1 lost, and node 0 keeps
 * its heartbeats going while it waits.
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
#define ZN (256ULL << 20)	/* a send that outlives the timeout by 4 s (1 s per 64 MiB) */

static int id_die, id_nap, id_rd, id_fill, id_poke;
static uint64_t Y, Z, hd, hc, hr, hr1, hout[YN];

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

/* tensor 0's first u64 = 7 */
static int nf_poke(struct simpler_orch *o, const struct simpler_kernel_args *a)
{
	*(uint64_t *)(uintptr_t)a->tensors[0].addr = 7;
	return 0;
}

static void setup(struct simpler_worker *w)
{
	id_die = simpler_register_node_fn(w, "die", nf_die);
	id_nap = simpler_register_node_fn(w, "nap", nf_nap);
	id_rd = simpler_register_node_fn(w, "rd", nf_rd);
	id_fill = simpler_register_node_fn(w, "fill", nf_fill);
	id_poke = simpler_register_node_fn(w, "poke", nf_poke);
}

static struct simpler_tensor z_tensor(void)
{
	struct simpler_tensor t = simpler_tensor_1d(NULL, ZN, SIMPLER_U8);

	t.addr = Z;
	t.child_memory = 1;
	return t;
}

static struct simpler_stats stats(struct simpler_worker *w)
{
	struct simpler_stats s = { .sz = sizeof(s) };

	simpler_worker_stats(w, &s);
	return s;
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
	/* and node 0's Z on node 1: node 0 sends to a dead rank */
	sub(o, id_rd, 1, 3, (struct simpler_tensor[]){ z_tensor(), simpler_tensor_1d(&hr1, 1,
	    SIMPLER_U64), tc }, rd, 0);
	return 0;
}

static int orch_fill(struct simpler_orch *o, void *arg)
{
	struct simpler_tensor t = simpler_tensor_1d(hout, YN, SIMPLER_U64);
	enum simpler_access acc = SIMPLER_OUT;
	int r = sub(o, id_fill, 0, 1, &t, &acc, 0);

	return r < 0 ? r : 0;
}

static int orch_poke(struct simpler_orch *o, void *arg)
{
	struct simpler_tensor t = z_tensor();
	enum simpler_access acc = SIMPLER_INOUT;
	int r = sub(o, id_poke, 0, 1, &t, &acc, 0);

	return r < 0 ? r : 0;
}

MT_TEST(a_transfer_lost_with_its_source_fails_only_its_own_task)
{
	struct simpler_node_info i = { .sz = sizeof(i) };
	double t0;
	int r, k;

	CHECK_OK(simpler_malloc(w, 1, YN * 8, &Y), w);
	CHECK_OK(simpler_malloc(w, 0, ZN, &Z), w);
	hr = hr1 = 77;
	t0 = mt_now();
	r = simpler_run(w, orch_lose, NULL);
	printf("# the run returned %d after %.2f s: %s\n", r, mt_now() - t0,
	       simpler_worker_errmsg(w));
	CHECK_EQ(r, -EHOSTDOWN);
	CHECK_EQ(hr, 77);		/* the readers never ran */
	CHECK_EQ(hr1, 77);
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

MT_TEST(a_send_to_a_lost_node_is_cancelled_and_loses_no_other)
{
	struct simpler_node_info i = { .sz = sizeof(i) };
	uint64_t v = 0;
	double t0, secs;

	/* Z is what the orphan send read: node 0 writes it now */
	t0 = mt_now();
	CHECK_OK(simpler_run(w, orch_poke, NULL), w);
	secs = mt_now() - t0;
	printf("# node 0 wrote the memory a cancelled send read in %.3f s\n", secs);
	CHECK_OK(simpler_copy_from(w, 0, &v, Z, sizeof(v)), w);
	CHECK_EQ(v, 7);
	CHECK_OK(simpler_node_info(w, 0, &i), w);
	CHECK_EQ(i.lost, 0);
	CHECK_EQ(stats(w).nodes_lost, 1);
	/* only a hang is caught: the send's own deadline is the timeout + 4 s */
	CHECK(secs < TIMEOUT_MS / 1000.0 + 4.0);
}

int main(void)
{
	SIMPLER_OPTS(simpler_worker_opts, l3, .nr_chips = 1);
	SIMPLER_OPTS(simpler_worker_opts, o, .level = 4, .flags = SIMPLER_WORKER_MPI,
		     .node_timeout_ms = TIMEOUT_MS, .remote_opts = &l3);

	return mt_main(&o, setup);
}
