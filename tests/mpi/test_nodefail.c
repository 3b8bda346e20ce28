// SPDX-License-Identifier: MIT
/*
 * A node rank that fails before MPI starts (its arena cannot be reserved:
 * run as mpirun --enable-recovery -np 2, the node rank under an address
 * space limit smaller than stage_size) still starts MPI and says why in its
 * HELLO: every rank's create fails with -ENOMEM, rank 0's naming the node
 * rank and what to do, instead of rank 0 waiting in MPI_Init for ever.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "simpler.h"
#include "mpitest.h"

#define STAGE (64ULL << 30)

int main(void)
{
	SIMPLER_OPTS(simpler_worker_opts, l3, .nr_chips = 1);
	SIMPLER_OPTS(simpler_worker_opts, o, .level = 4, .flags = SIMPLER_WORKER_MPI,
		     .stage_size = STAGE, .remote_opts = &l3, .start_timeout_ms = 20000);
	const char *rank = getenv("OMPI_COMM_WORLD_RANK");
	struct rlimit rl = { 16ULL << 30, 16ULL << 30 };
	struct simpler_worker *w = NULL;
	double t0, secs;
	int r, good;

	if (!rank)
		return 1;
	/* the node rank: room for MPI and its L3, not for a 64 GiB arena */
	if (strcmp(rank, "0") && setrlimit(RLIMIT_AS, &rl))
		return 1;
	t0 = mt_now();
	r = simpler_worker_create(&o, &w);
	secs = mt_now() - t0;
	good = r == -ENOMEM && !w && strstr(simpler_last_errmsg(), "rank 1") &&
	       strstr(simpler_last_errmsg(), "cannot reserve its arena");
	if (!strcmp(rank, "0"))
		printf("1..1\n# create returned %d after %.2f s: %s\n%sok 1 "
		       "a_node_rank_failing_before_mpi_fails_every_create\n%d passed, %d failed, "
		       "0 skipped\n", r, secs, simpler_last_errmsg(), good ? "" : "not ", good,
		       !good);
	return r == -ENOMEM ? 0 : 1;
}
