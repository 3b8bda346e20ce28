// SPDX-License-Identifier: MIT
/*
 * Ranks built from different programs: run as
 *   mpirun -np 1 test_proto : -np 1 test_proto_b : -np 1 test_proto
 * (test_proto_b is this file built with SIMPLER_OTHER_BUILD: another
 * build-id).  Every rank's simpler_worker_create() fails with -EPROTO, and
 * every rank's message names rank 1.  Rank 0 prints the TAP lines; the
 * others exit 0 when they saw what they should.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "simpler.h"

#ifdef SIMPLER_OTHER_BUILD
const char build_note[] = "the other build";
#else
const char build_note[] = "the first build";
#endif

int main(void)
{
	SIMPLER_OPTS(simpler_worker_opts, o, .level = 4, .flags = SIMPLER_WORKER_MPI,
		     .node_timeout_ms = 2000);
	const char *rank = getenv("OMPI_COMM_WORLD_RANK");
	struct simpler_worker *w = NULL;
	const char *m;
	int r, good;

	r = simpler_worker_create(&o, &w);
	m = simpler_last_errmsg();
	good = r == -EPROTO && !w && strstr(m, "rank 1 ") && strstr(m, "another build");
	if (rank && strcmp(rank, "0")) {
		fprintf(stderr, "# rank %s (%s): %d: %s\n", rank, build_note, r, m);
		return good ? 0 : 1;
	}
	printf("1..1\n# rank 0: %d: %s\n", r, m);
	if (w)
		simpler_worker_destroy(w);
	printf("%sok 1 every_rank_fails_create_with_eproto_naming_the_odd_rank\n",
	       good ? "" : "not ");
	printf("%d passed, %d failed, 0 skipped\n", good, !good);
	return good ? 0 : 1;
}
