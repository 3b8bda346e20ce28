// SPDX-License-Identifier: MIT
/*
 * Losing a node: run as mpirun --enable-recovery -np 3.  Rank 2 (node 1)
 * SIGKILLs itself in the middle of a node fn.  The run returns -EHOSTDOWN
 * within the heartbeat timeout plus a second, naming node, rank, host and
 * pid; what depended on the lost task never ran; independent work on node
 * 0 finished; the next run works on node 0 and refuses node 1 at once.
 *
 * SIMPLER_LOSS_NO_RECOVERY=1: the same death without --enable-recovery,
 * where Open MPI ends the whole job (tests/mpi/run.sh checks that mpirun
 * fails, and in bounded time); this program then only starts the run.
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mpitest.h"

#define TIMEOUT_MS 1500

static int id_die, id_nap;

static void setup(struct simpler_worker *w)
{
	id_die = simpler_register_node_fn(w, "die", nf_die);
	id_nap = simpler_register_node_fn(w, "nap", nf_nap);
}

static int task(struct simpler_orch *o, int id, int node, uint64_t *p, uint64_t ms)
{
	struct simpler_args *x = simpler_args_new();
	struct simpler_submit_opts so = { .sz = sizeof(so), .worker = node };
	struct simpler_tensor t = simpler_tensor_1d(p, 1, SIMPLER_U64);
	int r;

	simpler_args_add_tensor(x, &t, SIMPLER_INOUT);
	simpler_args_add_scalar(x, ms);
	r = simpler_submit(o, id, x, &so);
	simpler_args_free(x);
	return r;
}

static uint64_t lost_out, after, indep;

static int orch_lose(struct simpler_orch *o, void *arg)
{
	task(o, id_die, 1, &lost_out, 0);		/* node 1 dies running this */
	task(o, id_nap, 0, &lost_out, 0);		/* depends on it: never runs */
	task(o, id_nap, 0, &indep, 300);		/* independent: finishes */
	return 0;
}

static int submit_ret, submit_ret0;
static double submit_secs;

static int orch_after(struct simpler_orch *o, void *arg)
{
	double t0 = mt_now();

	submit_ret = task(o, id_nap, 1, &after, 0);
	submit_secs = mt_now() - t0;
	submit_ret0 = task(o, id_nap, 0, &after, 0);
	return 0;
}

MT_TEST(a_lost_node_fails_its_task_within_the_timeout_and_the_rest_goes_on)
{
	struct simpler_node_info i = { .sz = sizeof(i) };
	struct simpler_stats s = { .sz = sizeof(s) };
	char want[64];
	const char *m;
	double t0, secs;
	int r, pid1;

	pid1 = simpler_node_pid(w, 1);
	CHECK(pid1 > 0);
	lost_out = 1;
	indep = 1;
	t0 = mt_now();
	r = simpler_run(w, orch_lose, NULL);
	secs = mt_now() - t0;
	m = simpler_worker_errmsg(w);
	printf("# the run returned %d after %.2f s (timeout %d ms): %s\n", r, secs, TIMEOUT_MS, m);
	CHECK_EQ(r, -EHOSTDOWN);
	/* the death comes 0.1 s in; silence is noticed after the timeout, then a second at most */
	CHECK(secs <= TIMEOUT_MS / 1000.0 + 0.1 + 1.0);
	snprintf(want, sizeof(want), "pid %d) stopped responding", pid1);
	CHECK_MSG(strstr(m, "node 1 (rank 2 on ") && strstr(m, want), "%s", m);
	CHECK_MSG(strstr(m, "node fn 'die' (task #0)") && strstr(m, "no heartbeat for"), "%s", m);
	CHECK_EQ(lost_out, 1);		/* the dependent never ran */
	CHECK_EQ(indep, 2);		/* the independent one did */
	CHECK_OK(simpler_node_info(w, 1, &i), w);
	CHECK_EQ(i.lost, 1);
	CHECK_EQ(i.fault_isolated, 1);
	CHECK_OK(simpler_worker_stats(w, &s), w);
	CHECK_EQ(s.nodes_lost, 1);
	CHECK_EQ(simpler_node_pid(w, 1), -EHOSTDOWN);

	/* the next run: node 1 refuses at once, node 0 works */
	after = 5;
	CHECK_OK(simpler_run(w, orch_after, NULL), w);
	printf("# a submit to the lost node returned %d in %.6f s\n", submit_ret, submit_secs);
	CHECK_EQ(submit_ret, -EHOSTDOWN);
	CHECK(submit_secs < 1.0);	/* at once: only a hang is caught, a busy host passes */
	CHECK(submit_ret0 >= 0);
	CHECK_EQ(after, 6);
}

int main(void)
{
	SIMPLER_OPTS(simpler_worker_opts, l3, .nr_chips = 1);
	SIMPLER_OPTS(simpler_worker_opts, o, .level = 4, .flags = SIMPLER_WORKER_MPI,
		     .node_timeout_ms = TIMEOUT_MS, .remote_opts = &l3);
	const char *nr = getenv("SIMPLER_LOSS_NO_RECOVERY");
	struct simpler_worker *w;
	int r;

	if (!nr || strcmp(nr, "1"))
		return mt_main(&o, setup);
	/* without recovery Open MPI ends the job when rank 2 dies: start the run, nothing more */
	r = simpler_worker_create(&o, &w);
	if (r)
		return r == 1 ? 0 : 1;
	setup(w);
	r = simpler_run(w, orch_lose, NULL);
	printf("# the run returned %d: %s\n", r, simpler_worker_errmsg(w));
	simpler_worker_destroy(w);
	return 0;
}
