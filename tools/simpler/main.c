// SPDX-License-Identifier: MIT
/*
 * The simpler command: its commands, what each does, and the run function
 * that reads its options (cli.c) and does it.
 */
#include "cli.h"
#include "tool.h"

static const struct cli_sub benches[] = {
	{ "dispatch", "the cost of dispatching empty tasks in four graph shapes",
	  "Shapes indep, chain, diamond, stencil4; chips as processes, 1 and 4 chips: the fixed\n"
	  "cost of a run and the marginal cost of a task, beside the inter-process round trip\n"
	  "and the same runs with chips as threads.  --threads: one chip as threads, per task.",
	  bench_dispatch, NULL },
	{ "tensormap", "the TensorMap alone, nanoseconds per tensor argument",
	  "Exact repeats, sliding overlapping windows, tile views of one matrix, row against\n"
	  "column panels; edges per argument and the share of the exact-range fast path.",
	  bench_tensormap, NULL },
	{ "work", "real work: sequential, threads, processes and StarPU, idle and busy",
	  "GEMM tiles then gelu, Jacobi sweeps and independent tiles, tasks of about 20 us,\n"
	  "200 us and 2 ms, beside 0, 1 and usable-CPUs busy processes: wall time, speedup\n"
	  "over the sequential run and CPU per task, every run checked; then the targets.",
	  bench_work, NULL },
	{ "allreduce", "an allreduce across 2 and 4 chips' windows against memcpy",
	  "Each rank of one comm domain sums every rank's window, read through its peers'\n"
	  "addresses, into its own buffer: run time, algorithm and read bandwidth.",
	  bench_allreduce, NULL },
	{ "cluster", "an L4 over MPI: dispatch to remote nodes and transfers against MPI",
	  "Starts mpirun -np 3 with itself (rank 0 the L4, ranks 1 and 2 remote nodes) over\n"
	  "shared memory and over TCP on loopback: MPI's round trip and bandwidth as floors,\n"
	  "empty node fns (one, chains, independent, alternating nodes, local), 16 MiB\n"
	  "inferred transfers, and StarPU-MPI's alternating chain beside them.",
	  bench_cluster, NULL },
	{ "hostbuf", "the per-run cost of a registered host buffer, kmod against shm",
	  "A buffer malloc()ed after the chips started, 1 to 256 MiB, registered, one INOUT\n"
	  "task a run; kmod (when /dev/simpler opens) copies nothing, shm copies it each run.",
	  bench_hostbuf, NULL },
	{ "check", "visibility checks per second, QUERY against /proc/self/maps",
	  "simpler_host_check() on inherited shared memory between runs: simpler.ko's QUERY\n"
	  "(kmod) against reading /proc/self/maps (shm), as is and with 1000 more mappings.",
	  bench_check, NULL },
	{ NULL, NULL, NULL, NULL, NULL },
};

static const struct cli_sub commands[] = {
	{ "demo", "a tiled matmul, then a serving loop, on simulated chips",
	  "C = A x B over tiles, then E = gelu(C * s + b), on simulated chips (processes by\n"
	  "default) and a sub worker, every dependency inferred from the tiles' views, checked\n"
	  "bit for bit; then requests with dynamic shapes.  Its last line is 'verified: all'.",
	  cmd_demo, NULL },
	{ "info", "the version, platforms, module and CPUs",
	  "Whether /dev/simpler opens (the kmod backend) or why not (shm), and the CPUs online\n"
	  "and usable by this process.",
	  cmd_info, NULL },
	{ "version", "print the version (as simpler --version)", NULL, cmd_version, NULL },
	{ "bench", "the benchmarks: a table each, or one JSON object with --json", NULL, NULL,
	  benches },
	{ NULL, NULL, NULL, NULL, NULL },
};

int main(int argc, char **argv)
{
	static const struct cli_cmd simpler = {
		"simpler", "the demo and benchmarks of libsimpler on simulated chips, and what it finds",
		NULL, commands,
	};
	int version = 0, rc;
	const struct cli_opt opts[] = {
		{ "version", 'V', NULL, "print the version and exit", CLI_FLAG, &version, 0, 0, NULL,
		  NULL },
		CLI_END,
	};

	rc = cli_parse(&simpler, opts, argc, argv);
	if (rc != CLI_RUN)
		return rc;
	if (version)
		return cmd_version(&simpler, 0, NULL);
	return cli_run_sub(&simpler, argc - optind, argv + optind);
}
