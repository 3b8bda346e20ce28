// SPDX-License-Identifier: MIT
/*
 * A program that initialises MPI itself before simpler_worker_create()
 * with SIMPLER_WORKER_MPI (built with mpicc; run under mpirun -np 2):
 * create refuses with -EINVAL and says to call it before MPI_Init, on
 * every rank, and nothing was forked.
 */
#include <errno.h>
#include <mpi.h>
#include <stdio.h>
#include <string.h>

#include "simpler.h"

int main(int argc, char **argv)
{
	SIMPLER_OPTS(simpler_worker_opts, o, .level = 4, .flags = SIMPLER_WORKER_MPI);
	struct simpler_worker *w = NULL;
	int rank = 0, r, good;

	MPI_Init(&argc, &argv);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	r = simpler_worker_create(&o, &w);
	good = r == -EINVAL && !w && strstr(simpler_last_errmsg(), "before MPI_Init()");
	if (!rank)
		printf("1..1\n# %d: %s\n%sok 1 create_after_mpi_init_is_refused\n%d passed, %d "
		       "failed, 0 skipped\n", r, simpler_last_errmsg(), good ? "" : "not ", good,
		       !good);
	MPI_Finalize();
	return good ? 0 : 1;
}
