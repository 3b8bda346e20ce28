// SPDX-License-Identifier: MIT
/*
 * A program that initialises MPI itself before simpler_worker_create()
 * with SIMPLER_WORKER_MPI (built with mpicc; run under mpirun -np 2):
 * create refuses with -EINVAL and says to call it before MPI_Init, on
 * every rank, and nothing was forked (no child process of ours appeared).
 */
#include <dirent.h>
#include <errno.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "simpler.h"

/* processes whose parent is this one (a refused create forks none) */
static int children(void)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	char path[300], buf[512], *p;
	int n = 0, ppid;
	FILE *f;

	while (d && (e = readdir(d))) {
		if (e->d_name[0] < '1' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		p = fgets(buf, sizeof(buf), f) ? strrchr(buf, ')') : NULL;
		fclose(f);
		if (p && sscanf(p + 2, "%*c %d", &ppid) == 1 && ppid == getpid())
			n++;
	}
	if (d)
		closedir(d);
	return n;
}

int main(int argc, char **argv)
{
	SIMPLER_OPTS(simpler_worker_opts, o, .level = 4, .flags = SIMPLER_WORKER_MPI);
	struct simpler_worker *w = NULL;
	int rank = 0, r, good, before, after;

	MPI_Init(&argc, &argv);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	before = children();
	r = simpler_worker_create(&o, &w);
	after = children();
	good = r == -EINVAL && !w && strstr(simpler_last_errmsg(), "before MPI_Init()") &&
	       after == before;
	if (!rank)
		printf("1..1\n# %d: %s\n# child processes: %d before create, %d after\n%sok 1 "
		       "create_after_mpi_init_is_refused_and_forks_nothing\n%d passed, %d failed, "
		       "0 skipped\n", r, simpler_last_errmsg(), before, after, good ? "" : "not ",
		       good, !good);
	MPI_Finalize();
	return good ? 0 : 1;
}
