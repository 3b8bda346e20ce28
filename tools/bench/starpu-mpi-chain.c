// SPDX-License-Identifier: MIT
/*
 * The StarPU-MPI side of `simpler bench cluster`: the same cross-rank
 * dependent chain, on Debian's libstarpumpi.  Run under mpirun -np 2: one
 * 8-byte variable, owned by rank 0, and N tasks that read and write it,
 * task i executing on rank i % 2, so every task waits for the previous one
 * on the other rank and the variable hops with it (StarPU-MPI's
 * owner-computes model, transfers inferred).  Rank 0 prints one JSON
 * object: microseconds per task, and the value checked.
 *
 *   mpirun -np 2 starpu-mpi-chain [N] [reps]
 */
#include <starpu.h>
#include <starpu_mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static void bump(void *buffers[], void *arg)
{
	(*(uint64_t *)STARPU_VARIABLE_GET_PTR(buffers[0]))++;
}

static struct starpu_codelet cl = {
	.cpu_funcs = { bump },
	.nbuffers = 1,
	.modes = { STARPU_RW },
	.name = "bump",
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* n tasks alternating ranks; the seconds they took, all ranks agreeing on the end */
static double chain(starpu_data_handle_t h, int n, int size)
{
	double t0;
	int i;

	starpu_mpi_barrier(MPI_COMM_WORLD);
	t0 = now();
	for (i = 0; i < n; i++)
		starpu_mpi_task_insert(MPI_COMM_WORLD, &cl, STARPU_RW, h, STARPU_EXECUTE_ON_NODE,
				       i % size, 0);
	starpu_task_wait_for_all();
	starpu_mpi_barrier(MPI_COMM_WORLD);
	return now() - t0;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 1000, reps = argc > 2 ? atoi(argv[2]) : 3;
	starpu_data_handle_t h;
	uint64_t v = 0;
	double t[16], med;
	int rank, size, r;

	if (n < 2 || reps < 1 || reps > 16)
		return 2;
	if (starpu_mpi_init_conf(&argc, &argv, 1, MPI_COMM_WORLD, NULL)) {
		fprintf(stderr, "starpu-mpi-chain: starpu_mpi_init_conf failed\n");
		return 1;
	}
	starpu_mpi_comm_rank(MPI_COMM_WORLD, &rank);
	starpu_mpi_comm_size(MPI_COMM_WORLD, &size);
	if (rank == 0)
		starpu_variable_data_register(&h, STARPU_MAIN_RAM, (uintptr_t)&v, sizeof(v));
	else
		starpu_variable_data_register(&h, -1, (uintptr_t)NULL, sizeof(v));
	starpu_mpi_data_register(h, 42, 0);
	chain(h, 10, size);		/* warm-up */
	for (r = 0; r < reps; r++)
		t[r] = chain(h, n, size);
	starpu_mpi_get_data_on_node(MPI_COMM_WORLD, h, 0);
	starpu_data_unregister(h);
	qsort(t, (size_t)reps, sizeof(t[0]), cmp);
	med = reps % 2 ? t[reps / 2] : (t[reps / 2 - 1] + t[reps / 2]) / 2;
	if (rank == 0)
		printf("{\"starpu_mpi_chain_us\":%.2f,\"tasks\":%d,\"ranks\":%d,\"value_ok\":%d}\n",
		       med / n * 1e6, n, size, v == (uint64_t)(10 + reps * n));
	starpu_mpi_shutdown();
	return 0;
}
